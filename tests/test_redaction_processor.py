"""RedactionProcessor: keys at any depth, JSON in strings, exceptions, actions, fail-closed."""

from __future__ import annotations

import inspect
import json
import time

import pytest
from pydantic import SecretStr

from fapilog import LogEvent
from fapilog.redaction import (
    DEFAULT_RULES,
    MASK,
    REDACTED_ATTRIBUTE,
    TRUNCATED,
    KeyRule,
    PatternRule,
    RedactionProcessor,
    normalize_key,
)


def event(body: object = "msg", **attributes: object) -> LogEvent:
    return LogEvent(timestamp=1, body=body, attributes=dict(attributes))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "PASSWORD",
        "db_password",
        "passwd",
        "pwd",
        "secret",
        "client_secret",
        "token",
        "access_token",
        "refreshToken",
        "api_key",
        "API-Key",
        "apiKey",
        "x_api_key",
        "ApiKey",
        "APIKey",
        "Authorization",
        "http.request.header.authorization",
        "cookie",
        "Set-Cookie",
        "session",
        "private_key",
        "privateKey",
        "credentials",
        "ssn",
        "credit_card",
        "creditCard",
        "card_number",
        "cvv",
    ],
)
def test_secret_named_keys_are_masked_whatever_their_spelling(key: str) -> None:
    """Key rules ignore case, separators and camelCase."""
    e = event(**{key: "s3cr3t-value"})
    RedactionProcessor().on_emit(e)
    assert e.attributes[key] == MASK
    assert e.attributes[REDACTED_ATTRIBUTE] == ["secret_key"]


@pytest.mark.parametrize("key", ["classname", "prompt_tokens", "user", "order_id", "passage"])
def test_keys_that_merely_contain_the_letters_are_not_masked(key: str) -> None:
    """Terms match whole words: ``ssn`` is not in ``classname``, ``token`` not ``tokens``."""
    e = event(**{key: "value"})
    RedactionProcessor().on_emit(e)
    assert e.attributes == {key: "value"}


def test_normalize_key_frames_words() -> None:
    """normalize_key splits camelCase and separators into lower-case words."""
    assert normalize_key("x-API_Key") == "_x_api_key_"
    assert normalize_key("apiKey") == "_api_key_"
    assert normalize_key("HTTPHeaderAuthorization") == "_http_header_authorization_"


def test_nested_maps_and_lists_are_redacted_at_any_depth() -> None:
    """Secret keys and secret values deep inside maps and lists are redacted."""
    e = event(
        request={"headers": {"Authorization": "Basic dXNlcjpwYXNz", "accept": "json"}},
        users=[{"name": "a", "password": "p1"}, {"name": "b", "email": "b@example.com"}],
        tags=["ok", "ssn 123-45-6789"],
    )
    original_request = e.attributes["request"]
    RedactionProcessor().on_emit(e)
    assert e.attributes["request"] == {"headers": {"Authorization": MASK, "accept": "json"}}
    assert e.attributes["users"] == [{"name": "a", "password": MASK}, {"name": "b", "email": MASK}]
    assert e.attributes["tags"] == ["ok", f"ssn {MASK}"]
    assert set(e.attributes[REDACTED_ATTRIBUTE]) == {"secret_key", "email", "ssn"}
    # The caller's objects are never mutated: the processor copies what it changes.
    assert original_request["headers"]["Authorization"] == "Basic dXNlcjpwYXNz"


def test_json_inside_a_string_is_parsed_and_redacted_by_key() -> None:
    """A string holding a JSON object has its secret keys redacted and stays JSON."""
    payload = json.dumps({"user": "bob", "auth": {"apiKey": "k-123"}, "n": [1, 2]})
    e = event(payload=payload, body=payload)
    RedactionProcessor().on_emit(e)
    assert json.loads(e.attributes["payload"]) == {
        "user": "bob",
        "auth": {"apiKey": MASK},
        "n": [1, 2],
    }
    assert "k-123" not in str(e.body)


def test_exception_message_and_stacktrace_are_scanned() -> None:
    """Secrets in exception.message and exception.stacktrace are redacted."""
    e = event(
        **{
            "exception.type": "ValueError",
            "exception.message": "bad token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
            "exception.stacktrace": 'Traceback...\nValueError: password="hunter2" rejected',
        }
    )
    RedactionProcessor().on_emit(e)
    assert "eyJzdWIiOiIxIn0" not in e.attributes["exception.message"]
    assert "hunter2" not in e.attributes["exception.stacktrace"]
    assert e.attributes["exception.type"] == "ValueError"


def test_events_without_secrets_are_left_alone() -> None:
    """No rule fires: attributes unchanged and no fapilog.redacted note."""
    e = event("user logged in", user="u1", order_id=42, ok=True, ratio=0.5)
    RedactionProcessor().on_emit(e)
    assert e.body == "user logged in"
    assert e.attributes == {"user": "u1", "order_id": 42, "ok": True, "ratio": 0.5}


def test_hash_action_is_a_keyed_hmac() -> None:
    """``hash`` gives hmac:<16 hex>, stable per key and different across keys."""
    rules = (KeyRule("user_email", ("email",), action="hash"), *DEFAULT_RULES)
    a = RedactionProcessor(rules, hmac_key=SecretStr("k1"))
    b = RedactionProcessor(rules, hmac_key=SecretStr("k2"))
    e1, e2, e3 = event(email="x@y.io"), event(email="x@y.io"), event(email="x@y.io")
    a.on_emit(e1)
    a.on_emit(e2)
    b.on_emit(e3)
    value = e1.attributes["email"]
    assert value.startswith("hmac:") and len(value) == len("hmac:") + 16
    assert value == e2.attributes["email"] != e3.attributes["email"]


def test_hash_without_a_key_masks() -> None:
    """Without an HMAC key a hash rule masks rather than emit an unkeyed hash."""
    p = RedactionProcessor((KeyRule("e", ("email",), action="hash"),))
    e = event(email="x@y.io")
    p.on_emit(e)
    assert e.attributes["email"] == MASK


def test_drop_action_removes_the_field() -> None:
    """A ``drop`` key rule removes the field; a ``drop`` pattern removes the value."""
    rules = (
        KeyRule("cvv", ("cvv",), action="drop"),
        PatternRule("ssn", r"\d{3}-\d{2}-\d{4}", action="drop"),
    )
    e = event(
        "ssn 123-45-6789", cvv="123", note="ssn 123-45-6789", keep="x", items=["a", "123-45-6789"]
    )
    RedactionProcessor(rules).on_emit(e)
    assert e.body == MASK
    assert e.attributes == {"keep": "x", "items": ["a"], REDACTED_ATTRIBUTE: ["cvv", "ssn"]}


def test_partial_action_on_a_key() -> None:
    """``partial`` on a key rule keeps the last characters."""
    p = RedactionProcessor((KeyRule("acct", ("account_number",), action="partial"),))
    e = event(account_number="12345678901234")
    p.on_emit(e)
    assert e.attributes["account_number"] == "**********1234"


def test_allow_list_mode_keeps_only_declared_keys() -> None:
    """Only allow-listed keys (and exception.*/fapilog.*) pass; the drop is noted."""
    p = RedactionProcessor(allow_keys=["user", "http.*"])
    e = event(
        user="u1",
        **{"http.method": "GET", "email": "a@b.co", "exception.type": "E", "debug_blob": "x"},
    )
    p.on_emit(e)
    assert e.attributes == {
        "user": "u1",
        "http.method": "GET",
        "exception.type": "E",
        REDACTED_ATTRIBUTE: ["allow_list"],
    }


def test_strings_beyond_the_scan_limit_are_cut_fail_closed() -> None:
    """A string longer than max_scan_bytes is cut (mid-token text dropped) and marked."""
    p = RedactionProcessor(max_scan_bytes=64)
    secret_tail = "4111111111111111" * 10
    e = event("a " * 28 + secret_tail)
    p.on_emit(e)
    body = str(e.body)
    assert body.endswith(TRUNCATED)
    assert "4111" not in body
    assert p.truncated == 1
    assert "truncated" in e.attributes[REDACTED_ATTRIBUTE]


def test_a_failing_rule_drops_the_value_and_is_counted() -> None:
    """A validator that raises: the value is dropped (never passed through), failures counted."""

    def boom(_: str) -> bool:
        raise RuntimeError("bug")

    p = RedactionProcessor((PatternRule("bad", r"\d+", validate=boom),))
    e = event("ok", number_text="id 12345", fine="abc")
    p.on_emit(e)
    assert e.attributes == {"fine": "abc", REDACTED_ATTRIBUTE: ["redaction_error"]}
    assert p.failures == 1


def test_counters_record_what_fired() -> None:
    """events_redacted and fired count per rule; values are never stored."""
    p = RedactionProcessor()
    for _ in range(3):
        p.on_emit(event(password="x"))
    p.on_emit(event("clean"))
    assert p.events_redacted == 3
    assert p.fired["secret_key"] == 3
    assert "x" not in repr(p.fired)


@pytest.mark.parametrize(
    "text",
    [
        "a" * 65536,
        "1" * 65536,
        "1 " * 32768,
        "@" * 65536,
        "a@" * 32768,
        "a" * 65535 + "@",
        ("a." * 32768),
        "eyJ" * 21845,
        "eyJaaaa." * 8192,
        "-----BEGIN PRIVATE KEY-----" + "A" * 65000,
        "http://" + ":" * 65000,
        "password=" * 7281,
        "Bearer " * 9362,
        "A" * 65536,
        "AKIA" * 16384,
        "GB82" * 16384,
        "123-45-" * 9362,
        "+1 " * 21845,
        "{" * 32768 + "}" * 32768,
        "[" * 32768 + "]" * 32768,
    ],
)
def test_pathological_inputs_finish_quickly(text: str) -> None:
    """64 KiB of adversarial input completes well within a generous bound (no ReDoS)."""
    p = RedactionProcessor()
    start = time.perf_counter()
    p.on_emit(event(text, field=text))
    assert time.perf_counter() - start < 10.0


def test_deep_nesting_is_masked_beyond_the_depth_limit() -> None:
    """Values nested deeper than the walk goes are masked, not passed through."""
    value: object = "4111 1111 1111 1111"
    for _ in range(40):
        value = {"k": value}
    e = event(deep=value)
    RedactionProcessor().on_emit(e)
    assert "4111 1111" not in json.dumps(e.attributes)
    assert "max_depth" in e.attributes[REDACTED_ATTRIBUTE]


def test_public_names_are_documented() -> None:
    """Every public class and function of fapilog.redaction and fapilog.compliance has a docstring."""
    import fapilog.compliance
    import fapilog.redaction

    for module in (fapilog.redaction, fapilog.compliance):
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                assert obj.__doc__, name
