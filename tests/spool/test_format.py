"""The spool's record format and payload codec."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from fapilog._event import EMPTY_RESOURCE, LogEvent
from fapilog.spool import decode_event, encode_event
from fapilog.spool._format import (
    HEADER_SIZE,
    MARK,
    REC_HEADER,
    cursor_file_name,
    exporter_from_file_name,
    frame,
    pack_header,
    scan,
    unpack_header,
)

# Text including NUL, lone surrogates and astral characters.
odd_text = st.one_of(
    st.text(
        alphabet=st.one_of(
            st.characters(), st.sampled_from(["\x00", "\ud800", "\udfff", "\U0001f600", '"'])
        ),
        max_size=12,
    ),
    st.sampled_from(["\\u0000", "\x00b", "\x00d"]),
)
odd_int = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.sampled_from([2**64, -(2**63) - 1, 2**127]),
)
scalar = st.one_of(
    st.none(),
    st.booleans(),
    odd_int,
    st.floats(allow_nan=True, allow_infinity=True),
    odd_text,
    st.binary(max_size=16),
)
any_value = st.recursive(
    scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(odd_text, inner, max_size=4),
    ),
    max_leaves=12,
)
attributes = st.dictionaries(odd_text, any_value, max_size=6)
prim_seq = st.one_of(
    st.lists(st.text(max_size=5), max_size=3), st.lists(st.integers(-5, 5), max_size=3)
)
resource_attr = st.dictionaries(
    st.text(max_size=8),
    st.one_of(st.text(max_size=8), st.integers(-(2**63), 2**63 - 1), st.booleans(), prim_seq),
    max_size=4,
)
resources = st.one_of(
    st.just(EMPTY_RESOURCE),
    st.builds(Resource, resource_attr, st.one_of(st.none(), st.text(max_size=10))),
)
scopes = st.one_of(
    st.none(),
    st.builds(
        InstrumentationScope,
        odd_text,
        st.one_of(st.none(), st.text(max_size=5)),
        st.one_of(st.none(), st.text(max_size=10)),
        st.one_of(st.none(), resource_attr),
    ),
)
events = st.builds(
    LogEvent,
    timestamp=st.integers(0, 2**64 - 1),
    observed_timestamp=st.integers(0, 2**64 - 1),
    trace_id=st.integers(0, 2**128 - 1),
    span_id=st.integers(0, 2**64 - 1),
    trace_flags=st.integers(0, 255),
    severity_text=st.one_of(st.none(), odd_text),
    severity_number=st.integers(0, 24),
    body=any_value,
    attributes=attributes,
    event_name=st.one_of(st.none(), odd_text),
    resource=resources,
    instrumentation_scope=scopes,
)


def _same(a: object, b: object) -> bool:
    """Equality that treats NaN as equal to NaN and keeps types (1 is not True)."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and str(a) == str(b))
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)  # type: ignore[attr-defined]
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))  # type: ignore[arg-type]
    return a == b


@settings(max_examples=300, deadline=None)
@given(events)
def test_codec_round_trip_keeps_every_field_and_type(event: LogEvent) -> None:
    payload = encode_event(event)
    assert b"\xfe" not in payload and b"\xff" not in payload  # cannot fake a frame mark
    back = decode_event(payload)
    for name in LogEvent.__slots__:
        if name in ("context", "exception", "resource", "instrumentation_scope"):
            continue
        assert _same(getattr(event, name), getattr(back, name)), name
    assert back.resource == event.resource
    assert back.instrumentation_scope == event.instrumentation_scope
    if not any(isinstance(v, float) and math.isnan(v) for v in _leaves(event)):
        assert back == event


def _leaves(event: LogEvent) -> list[object]:
    out: list[object] = []

    def walk(v: object) -> None:
        if isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
        else:
            out.append(v)

    walk(event.body)
    walk(event.attributes)
    return out


def test_codec_tags_what_json_cannot_carry() -> None:
    event = LogEvent(
        timestamp=1,
        body=b"\x00\xff",
        attributes={
            "nan": float("nan"),
            "inf": float("-inf"),
            "big": 2**100,
            "sur": "a\ud800b",
            "\x00d": {"\x00b": "not a tag"},
            "neg0": -0.0,
        },
    )
    back = decode_event(encode_event(event))
    assert back.body == b"\x00\xff"
    assert math.isnan(back.attributes["nan"])
    assert back.attributes["inf"] == float("-inf")
    assert back.attributes["big"] == 2**100
    assert back.attributes["sur"] == "a\ud800b"
    assert back.attributes["\x00d"] == {"\x00b": "not a tag"}
    assert math.copysign(1, back.attributes["neg0"]) == -1


def test_decode_rejects_garbage() -> None:
    import pytest

    with pytest.raises(ValueError, match="spool payload"):
        decode_event(b"[1]\nnull\n[1,2]")


def test_header_round_trip_and_damage() -> None:
    data = pack_header(123, 456, b"w" * 8)
    assert len(data) == HEADER_SIZE
    header = unpack_header(data)
    assert header is not None
    assert (header.version, header.created_ns, header.first_seq, header.writer) == (
        1,
        123,
        456,
        b"w" * 8,
    )
    flipped = bytearray(data)
    flipped[20] ^= 1
    assert unpack_header(bytes(flipped)) is None
    assert unpack_header(data[:-1]) is None


def test_scan_finds_records_and_resyncs_after_damage() -> None:
    frames = [frame(10 + i, f'"payload {i}"'.encode()) for i in range(5)]
    data = bytearray(b"".join(frames))
    # Flip a byte in the payload of record 1 and the length of record 3.
    off1 = len(frames[0]) + REC_HEADER + 2
    data[off1] ^= 0x20
    off3 = sum(len(f) for f in frames[:3]) + 4
    data[off3] ^= 0x01
    regions = list(scan(bytes(data), 0, len(data)))
    assert [r.seq for r in regions] == [10, -1, 12, -1, 14]
    # A torn tail: the last record cut short.
    torn = b"".join(frames)[:-3]
    assert [r.seq for r in scan(torn, 0, len(torn))] == [10, 11, 12, 13, -1]
    # Garbage that contains the mark does not produce a record.
    junk = MARK + b"\x00" * 40 + frames[0]
    assert [r.seq for r in scan(junk, 0, len(junk))] == [-1, 10]


@given(st.text(min_size=1, max_size=20))
def test_cursor_file_names_round_trip(name: str) -> None:
    file_name = cursor_file_name(name)
    assert "/" not in file_name and not file_name.startswith(".")
    assert exporter_from_file_name(file_name) == name
