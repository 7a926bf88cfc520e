"""Property tests: every format round-trips through a strict parser written from its spec.

Arbitrary Unicode (control characters, line breaks, ``|``, ``=``, ``\\``, ``]``,
quotes) in the message, attribute keys and values, the logger name and the service
name must come out of the parser as they went in (keys as their sanitised, unique
names), and the message must be valid by the parser's strict reading.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from fapilog import LogEvent
from fapilog_exporter_siem import SyslogOptions
from fapilog_exporter_siem._encode import MessageEncoder, frame
from siem_parsers import parse_cef, parse_frames, parse_leef, parse_rfc5424

TRICKY = '|=\\]"[\n\r\t @~ \x00\x7f\u2028é€𝄞'
text = st.text(alphabet=st.one_of(st.characters(), st.sampled_from(TRICKY)), max_size=40)
keys = st.text(
    alphabet=st.one_of(st.characters(), st.sampled_from(TRICKY)), min_size=1, max_size=40
)


@st.composite
def events(draw: st.DrawFn) -> LogEvent:
    service = draw(text)
    return LogEvent(
        timestamp=draw(st.integers(0, 253402300799 * 10**9)),
        severity_number=draw(st.integers(0, 24)),
        severity_text=draw(st.sampled_from([None, "INFO", "ERROR", "x|y\\z"])),
        body=draw(text),
        attributes=draw(st.dictionaries(keys, text, max_size=6)),
        trace_id=draw(st.sampled_from([0, 0x4BF92F3577B34DA6A3CE929D0E0E4736])),
        span_id=draw(st.sampled_from([0, 0x00F067AA0BA902B7])),
        resource=Resource({"service.name": service}) if service else Resource.get_empty(),
        instrumentation_scope=InstrumentationScope(draw(text)),
        event_name=draw(st.sampled_from([None, "order.paid", "weird name é"])),
    )


def utf8(value: str) -> str:
    """What a string becomes on the wire: lone surrogates are written as escapes."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def values(event: LogEvent) -> list[str]:
    return [utf8(v) for v in event.attributes.values()]


def options(fmt: str, **kw: object) -> SyslogOptions:
    return SyslogOptions(
        host="127.0.0.1", transport="tcp", format=fmt, max_message_bytes=10**6, **kw
    )


def encode(fmt: str, event: LogEvent, **kw: object) -> bytes:
    encoded = MessageEncoder(options(fmt, **kw)).encode(event)
    assert not encoded.truncated
    (message,) = parse_frames(frame(encoded.data))  # framing round-trips too
    return message


def check_keys(original: list[str], written: list[str], valid: str, max_len: int) -> None:
    assert len(written) == len(set(written)), "keys must be unique"
    for before, after in zip(original, written, strict=True):
        assert re.fullmatch(f"[{valid}]{{1,{max_len}}}", after)
        if re.fullmatch(f"[{valid}]{{1,{max_len}}}", before) and before == after:
            continue
        assert after != before  # rewritten keys are recognisable: they carry a hash


@settings(max_examples=150, deadline=None)
@given(events())
def test_rfc5424_round_trips(event: LogEvent) -> None:
    parsed = parse_rfc5424(encode("rfc5424", event))
    assert (parsed.msg or "") == utf8(event.body)
    assert not parsed.bom
    params = parsed.sd("fapilog.attrs@32473")
    assert [v for _, v in params] == values(event)
    check_keys(
        list(event.attributes), [k for k, _ in params], r"\x21\x23-\x3c\x3e-\x5c\x5e-\x7e", 32
    )
    meta = dict(parsed.sd("fapilog@32473"))
    if event.scope_name:
        assert meta["logger"] == utf8(event.scope_name)
    service = event.resource.attributes.get("service.name")
    if service:
        assert meta["service.name"] == utf8(service)
    if event.trace_id:
        assert meta["trace_id"] == f"{event.trace_id:032x}"
    assert parsed.facility == 1


@settings(max_examples=150, deadline=None)
@given(events())
def test_cef_round_trips(event: LogEvent) -> None:
    syslog = parse_rfc5424(encode("cef", event))
    assert syslog.structured_data == []
    assert syslog.msg is not None
    cef = parse_cef(syslog.msg)
    assert cef.get("msg") == (utf8(event.body) or None)
    assert cef.name == re.sub(
        "[\r\n]", " ", utf8(event.body)[:512] or event.event_name or utf8(event.scope_name) or "log"
    )
    assert cef.signature_id == re.sub(
        "[\r\n]", " ", event.event_name or utf8(event.scope_name) or "log"
    )
    assert 0 <= int(cef.severity) <= 10
    attrs = cef.extension[-len(event.attributes) :] if event.attributes else []
    assert [v for _, v in attrs] == values(event)
    all_keys = [k for k, _ in cef.extension]
    assert len(all_keys) == len(set(all_keys))
    if event.scope_name:
        assert cef.get("logger") == utf8(event.scope_name)


@settings(max_examples=150, deadline=None)
@given(events(), st.sampled_from(["\t", "^", "|", "x7C", " "]))
def test_leef_round_trips(event: LogEvent, delimiter: str) -> None:
    syslog = parse_rfc5424(encode("leef", event, leef_delimiter=delimiter))
    assert syslog.msg is not None
    leef = parse_leef(syslog.msg)
    assert leef.delimiter == ("|" if delimiter == "x7C" else delimiter)
    assert leef.get("msg") == (utf8(event.body) or None)
    assert leef.event_id == re.sub(
        "[\r\n\t]", " ", event.event_name or utf8(event.scope_name) or "log"
    )
    assert 1 <= int(leef.get("sev") or 0) <= 10
    attrs = leef.attributes[-len(event.attributes) :] if event.attributes else []
    assert [v for _, v in attrs] == values(event)
    all_keys = [k for k, _ in leef.attributes]
    assert len(all_keys) == len(set(all_keys))


@settings(max_examples=60, deadline=None)
@given(events(), st.sampled_from(["rfc5424", "cef", "leef"]), st.integers(480, 1500))
def test_shortened_messages_still_parse(event: LogEvent, fmt: str, limit: int) -> None:
    """A message over the limit is shortened to fit and stays valid, never cut mid-escape."""
    big = LogEvent(
        timestamp=event.timestamp,
        body=event.body + "\\]|=\n" * 200,
        attributes={**event.attributes, "stack": 'x"]\\' * 300},
        resource=event.resource,
        instrumentation_scope=event.instrumentation_scope,
    )
    opts = SyslogOptions(host="h", transport="tcp", format=fmt, max_message_bytes=limit)
    encoded = MessageEncoder(opts).encode(big)
    assert encoded.truncated
    assert len(encoded.data) <= limit
    parsed = parse_rfc5424(encoded.data)
    assert parsed.msg is not None
    if fmt == "cef":
        parse_cef(parsed.msg)
    elif fmt == "leef":
        parse_leef(parsed.msg)


@pytest.mark.parametrize("fmt", ["rfc5424", "cef", "leef"])
def test_header_fields_are_printable_ascii_within_limits(fmt: str) -> None:
    event = LogEvent(
        timestamp=1_700_000_000_123_456_789,
        severity_number=17,
        body="x",
        resource=Resource({"service.name": "shop é" + "a" * 100, "host.name": "h ost\n"}),
        event_name="e" * 40,
    )
    parsed = parse_rfc5424(encode(fmt, event))
    assert parsed.app_name == "shop__" + "a" * 42
    assert parsed.hostname == "h_ost_"
    assert parsed.msgid == "e" * 32
    assert parsed.timestamp == "2023-11-14T22:13:20.123456Z"
    assert parsed.severity == 3
