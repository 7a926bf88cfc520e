"""Names are scanned too: attribute and map keys, logger names, event names; key context."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

import fapilog
from fapilog import LogEvent
from fapilog.redaction import MASK, REDACTED_ATTRIBUTE, KeyRule, RedactionProcessor
from fapilog.testing import capture_logs

GHP = "ghp_R8mZ2kQv7Lx1Nw4Tb9Yc3Hd6Fj0Gs5Pa2Ue8"
GHO = "gho_R8mZ2kQv7Lx1Nw4Tb9Yc3Hd6Fj0Gs5Pa2Ue8"
STRIPE = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"


def event(body: object = "msg", **attributes: object) -> LogEvent:
    return LogEvent(timestamp=1, body=body, attributes=dict(attributes))  # type: ignore[arg-type]


def test_a_key_holding_a_secret_is_masked_and_its_value_kept() -> None:
    """The key is replaced by its redacted text; the value is redacted as any other."""
    e = event(**{GHP: "v1", f"repo:{GHO}": "v2", "user": "u1"})
    RedactionProcessor().on_emit(e)
    assert e.attributes == {
        "user": "u1",
        MASK: "v1",
        f"repo:{MASK}": "v2",
        REDACTED_ATTRIBUTE: ["github_token"],
    }


def test_masked_keys_that_collide_stay_distinct() -> None:
    """Two secret keys (and a key already named [REDACTED]) keep three distinct entries."""
    e = event(**{MASK: "logged as is", GHP: 1, GHO: 2})
    RedactionProcessor().on_emit(e)
    assert {k: v for k, v in e.attributes.items() if k != REDACTED_ATTRIBUTE} == {
        MASK: "logged as is",
        f"{MASK}#2": 1,
        f"{MASK}#3": 2,
    }


def test_keys_are_scanned_at_any_depth() -> None:
    """Keys of nested maps, maps in lists and maps in JSON strings are scanned."""
    e = event(
        data={"inner": {GHP: "x"}},
        items=[{STRIPE: "y"}],
        payload=f'{{"{GHP}": 1}}',
    )
    RedactionProcessor().on_emit(e)
    assert e.attributes["data"] == {"inner": {MASK: "x"}}
    assert e.attributes["items"] == [{MASK: "y"}]
    assert GHP not in e.attributes["payload"]
    assert set(e.attributes[REDACTED_ATTRIBUTE]) == {"github_token", "stripe_key"}


def test_a_secret_value_under_a_secret_key_is_masked_too() -> None:
    """A key rule still applies to the value of a key whose text held a secret."""
    e = event(**{f"token {GHP}": "hunter2"})
    RedactionProcessor().on_emit(e)
    assert e.attributes[f"token {MASK}"] == MASK


def test_the_processor_keeps_no_secret_it_saw() -> None:
    """Secret-bearing keys and strings are not cached: nothing in the processor holds one."""
    p = RedactionProcessor()
    for _ in range(3):
        p.on_emit(event(f"pushed with {GHP}", **{GHO: f"note {STRIPE}"}))
    state = repr(vars(p))
    for secret in (GHP, GHO, STRIPE):
        assert secret not in state


def test_the_logger_name_is_scanned() -> None:
    """A token in a logger name does not reach the scope; the rest of the scope is kept."""
    scope = InstrumentationScope(f"worker.{GHP}", "1.2", "https://schema", {"a": 1})
    e = event()
    e.instrumentation_scope = scope
    RedactionProcessor().on_emit(e)
    assert e.instrumentation_scope is not None
    assert e.scope_name == f"worker.{MASK}"
    assert e.instrumentation_scope.version == "1.2"
    assert e.instrumentation_scope.schema_url == "https://schema"
    assert dict(e.instrumentation_scope.attributes or {}) == {"a": 1}
    assert e.attributes[REDACTED_ATTRIBUTE] == ["github_token"]


def test_a_clean_logger_name_keeps_its_scope_object() -> None:
    """Ordinary logger names cost a lookup and leave the scope as it was."""
    scope = InstrumentationScope("payments.stripe.webhooks")
    e = event()
    e.instrumentation_scope = scope
    RedactionProcessor().on_emit(e)
    assert e.instrumentation_scope is scope
    assert REDACTED_ATTRIBUTE not in e.attributes


def test_the_event_name_is_scanned() -> None:
    """A token in an event name is masked; an ordinary event name is kept."""
    p = RedactionProcessor()
    e = event()
    e.event_name = f"login.{GHP}"
    p.on_emit(e)
    assert e.event_name == f"login.{MASK}"
    ok = event()
    ok.event_name = "user.login"
    p.on_emit(ok)
    assert ok.event_name == "user.login"


def test_names_are_scanned_through_the_public_api() -> None:
    """Logger name, event name and keys, as an application would log them."""
    with capture_logs() as logs:
        fapilog.get_logger(f"svc.{GHP}").info("started", event_name=f"ev.{GHO}", **{STRIPE: 1})
    (e,) = logs
    assert (e.scope_name, e.event_name) == (f"svc.{MASK}", f"ev.{MASK}")
    assert e.attributes[MASK] == 1
    assert GHP not in repr(e) and GHO not in repr(e) and STRIPE not in repr(e)


# -- context-aware key rules -------------------------------------------------------------


@pytest.mark.parametrize(
    "attributes",
    [
        {"stripe": {"key": "abc123"}},
        {"stripe": {"live": {"key": "abc123"}}},  # any depth under the context
        {"stripe": [{"key": "abc123"}]},
        {"stripe_key": "abc123"},
        {"awsKey": "abc123"},
        {"aws": {"keys": ["abc123"]}},
        {"payment": {"pin": "abc123"}},
        {"oauth": {"sig": "abc123"}},
        {"github.keys": "abc123"},
        {"api": {"key": "abc123"}},
    ],
)
def test_generic_names_under_a_credential_context_are_masked(
    attributes: dict[str, object],
) -> None:
    """``key``, ``pin``, ``sig``... are secret under stripe, aws, payment, oauth, api..."""
    e = event(**attributes)
    RedactionProcessor().on_emit(e)
    assert "abc123" not in repr(e.attributes)
    assert "credential_key" in e.attributes[REDACTED_ATTRIBUTE]


@pytest.mark.parametrize(
    "attributes",
    [
        {"s3": {"key": "photos/1.jpg"}},
        {"cache": {"key": "user:42"}},
        {"key": "ArrowUp"},
        {"stripe": {"customer_id": "cus_123"}},  # ids identify, they are not secret
        {"aws": {"id": "i-0abc", "region": "eu-west-1"}},
        {"auth": {"method": "oauth", "user": "bob"}},  # a context, not a secret itself
        {"keyboard": "us"},
    ],
)
def test_generic_names_elsewhere_are_kept(attributes: dict[str, object]) -> None:
    """Outside a credential context, ``key`` and friends are ordinary names."""
    e = event(**attributes)
    RedactionProcessor().on_emit(e)
    assert e.attributes == attributes


def test_custom_context_aware_key_rules() -> None:
    """A KeyRule with contexts applies only under (or in) a key holding a context word."""
    rule = KeyRule("acme_code", ("code",), contexts=("acme",))
    p = RedactionProcessor((rule,))
    e = event(acme={"code": "x1"}, http={"code": 200}, acme_code="x2")
    p.on_emit(e)
    assert e.attributes == {
        "acme": {"code": MASK},
        "http": {"code": 200},
        "acme_code": MASK,
        REDACTED_ATTRIBUTE: ["acme_code"],
    }
