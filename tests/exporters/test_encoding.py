"""JSON lines and pretty console lines: shape, hostile values, one line per record."""

from __future__ import annotations

import base64
import calendar
import json
import math
import re
import time
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from fapilog import LogEvent
from fapilog.exporters import _jsonl
from fapilog.exporters._escape import escape_control
from fapilog.exporters._jsonl import encode_json_line, encode_json_lines, event_to_dict
from fapilog.exporters._pretty import format_pretty
from fapilog.exporters._timefmt import format_rfc3339

TS = calendar.timegm((2026, 11, 23, 19, 40, 0)) * 1_000_000_000 + 123_456_789
TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
SPAN_ID = 0x00F067AA0BA902B7

# Every character a console line must never carry raw.
UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
HOSTILE_TEXTS = [
    "line\nbreak",
    "carriage\rreturn",
    "crlf\r\nforged 2026-11-23 19:40:00.000 INFO  fake  injected",
    "tab\there",
    "esc \x1b[31mred\x1b[0m \x1b]0;title\x07",
    "nul\x00byte",
    "del\x7fchar",
    "c1 \x85 nel \x9b csi",
    "unicode\u2028line\u2029para",
    "bidi \u202eevil\u202c \u2066x\u2069",
    "vt\x0bff\x0cfs\x1cgs\x1drs\x1e",
]
SGR = re.compile("\x1b\\[[0-9;]*m")


def make_event(
    body: Any = "order paid", attributes: dict[str, Any] | None = None, **fields: Any
) -> LogEvent:
    fields.setdefault("instrumentation_scope", InstrumentationScope("shop.orders"))
    fields.setdefault("severity_text", "INFO")
    fields.setdefault("severity_number", 9)
    return LogEvent(timestamp=TS, body=body, attributes=attributes or {}, **fields)


def json_expected(value: Any) -> Any:
    """What a normalised value must read back as after a JSON round trip."""
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, float) and math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, list):
        return [json_expected(v) for v in value]
    if isinstance(value, dict):
        return {k: json_expected(v) for k, v in value.items()}
    return value


def assert_one_line(line: bytes) -> None:
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    assert len(line.decode("utf-8").splitlines()) == 1


normalised_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
    | st.binary(max_size=64)
)
normalised_values = st.recursive(
    normalised_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=16,
)


# -- JSON shape ---------------------------------------------------------------------------


def test_json_line_has_the_documented_shape() -> None:
    """A full event encodes to exactly the documented keys and values."""
    event = make_event(
        attributes={"order_id": 7, "ok": True},
        trace_id=TRACE_ID,
        span_id=SPAN_ID,
        trace_flags=1,
        event_name="order.paid",
        resource=Resource.create({"service.name": "shop", "host.name": "h1"}),
    )
    assert orjson.loads(encode_json_line(event)) == {
        "timestamp": "2026-11-23T19:40:00.123456789Z",
        "severity_text": "INFO",
        "severity_number": 9,
        "logger": "shop.orders",
        "body": "order paid",
        "attributes": {"order_id": 7, "ok": True},
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "span_id": "00f067aa0ba902b7",
        "trace_flags": 1,
        "event_name": "order.paid",
        "service.name": "shop",
    }


def test_json_keys_come_in_the_documented_order() -> None:
    """Keys appear in a stable, documented order, timestamp first."""
    event = make_event(trace_id=TRACE_ID, span_id=SPAN_ID, event_name="e")
    keys = list(orjson.loads(encode_json_line(event)))
    assert keys == [
        "timestamp",
        "severity_text",
        "severity_number",
        "logger",
        "body",
        "attributes",
        "trace_id",
        "span_id",
        "trace_flags",
        "event_name",
    ]


def test_optional_keys_are_omitted_without_trace_event_name_or_service() -> None:
    """trace_id, span_id, trace_flags, event_name and service.name are absent when unset."""
    decoded = orjson.loads(encode_json_line(make_event()))
    for key in ("trace_id", "span_id", "trace_flags", "event_name", "service.name", "resource"):
        assert key not in decoded


def test_ids_are_zero_padded_hex() -> None:
    """Small trace and span ids are written as full-width lowercase hex."""
    decoded = orjson.loads(encode_json_line(make_event(trace_id=1, span_id=2, trace_flags=0)))
    assert decoded["trace_id"] == "0" * 31 + "1"
    assert decoded["span_id"] == "0" * 15 + "2"
    assert decoded["trace_flags"] == 0


def test_include_resource_writes_every_resource_attribute() -> None:
    """With include_resource, all resource attributes appear under "resource"."""
    resource = Resource({"service.name": "shop", "deployment.environment": "prod"})
    decoded = event_to_dict(make_event(resource=resource), include_resource=True)
    assert decoded["resource"] == {"service.name": "shop", "deployment.environment": "prod"}
    line = orjson.loads(encode_json_line(make_event(resource=resource), include_resource=True))
    assert line["resource"] == decoded["resource"]


def test_logger_is_empty_without_a_scope() -> None:
    """An event without instrumentation scope has logger ""."""
    assert event_to_dict(make_event(instrumentation_scope=None))["logger"] == ""


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        (0, "1970-01-01T00:00:00.000000000Z"),
        (TS, "2026-11-23T19:40:00.123456789Z"),
        (1, "1970-01-01T00:00:00.000000001Z"),
        (
            calendar.timegm((2000, 2, 29, 23, 59, 59)) * 10**9 + 999_999_999,
            "2000-02-29T23:59:59.999999999Z",
        ),
    ],
)
def test_timestamps_are_rfc3339_utc_with_nanoseconds(timestamp: int, expected: str) -> None:
    """Timestamps keep all nine fractional digits and end in Z."""
    assert format_rfc3339(timestamp) == expected


def test_an_unformattable_timestamp_does_not_raise() -> None:
    """A timestamp beyond what the platform can format is written as its number."""
    huge = 10**30
    assert format_rfc3339(huge) == str(huge)
    assert orjson.loads(encode_json_line(LogEvent(timestamp=huge)))["timestamp"] == str(huge)


def test_encode_json_lines_concatenates_one_line_per_event() -> None:
    """encode_json_lines writes the events' lines in order."""
    events = [make_event(body=f"m{i}") for i in range(3)]
    data = encode_json_lines(events)
    assert data == b"".join(encode_json_line(e) for e in events)
    assert [orjson.loads(x)["body"] for x in data.splitlines()] == ["m0", "m1", "m2"]
    assert encode_json_lines([]) == b""


# -- JSON hostile values ------------------------------------------------------------------


def test_a_one_megabyte_string_round_trips() -> None:
    """A 1 MB attribute and body survive encoding unchanged, on one line."""
    big = "x" * 1_000_000 + "é" * 1000
    line = encode_json_line(make_event(body=big, attributes={"big": big}))
    assert_one_line(line)
    decoded = orjson.loads(line)
    assert decoded["body"] == big
    assert decoded["attributes"]["big"] == big


def test_non_finite_floats_become_strings_at_any_depth() -> None:
    """NaN and the infinities are written as "NaN", "Infinity", "-Infinity", even nested."""
    attrs = {
        "nan": math.nan,
        "inf": math.inf,
        "ninf": -math.inf,
        "nested": {"list": [1.5, math.nan, {"deep": [-math.inf]}]},
        "fine": 2.5,
    }
    decoded = orjson.loads(encode_json_line(make_event(body=math.nan, attributes=attrs)))
    assert decoded["body"] == "NaN"
    assert decoded["attributes"] == {
        "nan": "NaN",
        "inf": "Infinity",
        "ninf": "-Infinity",
        "nested": {"list": [1.5, "NaN", {"deep": ["-Infinity"]}]},
        "fine": 2.5,
    }


def test_bytes_become_base64_at_any_depth() -> None:
    """bytes values are written as base64 strings, in containers too."""
    raw = bytes(range(256))
    decoded = orjson.loads(
        encode_json_line(make_event(body=raw, attributes={"b": [raw, {"c": b""}]}))
    )
    assert base64.b64decode(decoded["body"]) == raw
    assert base64.b64decode(decoded["attributes"]["b"][0]) == raw
    assert decoded["attributes"]["b"][1] == {"c": ""}


def test_none_values_stay_null_next_to_non_finite_floats() -> None:
    """A genuine None is still null when the slow path converts a NaN in the same event."""
    decoded = orjson.loads(
        encode_json_line(make_event(body=None, attributes={"n": None, "x": math.nan}))
    )
    assert decoded["body"] is None
    assert decoded["attributes"] == {"n": None, "x": "NaN"}


def test_text_that_looks_like_null_is_kept() -> None:
    """Strings containing ":null" or ",null" round-trip unchanged."""
    attrs = {"a": 'x":null', "b": "[null,null]", "c": None}
    assert orjson.loads(encode_json_line(make_event(attributes=attrs)))["attributes"] == attrs


@pytest.mark.parametrize("text", HOSTILE_TEXTS)
def test_control_characters_round_trip_on_one_line(text: str) -> None:
    """Control and separator characters in body, keys and values stay on one JSON line."""
    line = encode_json_line(make_event(body=text, attributes={text: text, "k": [text]}))
    assert_one_line(line)
    decoded = orjson.loads(line)
    assert decoded["body"] == text
    assert decoded["attributes"] == {text: text, "k": [text]}


def test_json_lines_carry_no_raw_del_c1_or_line_separators() -> None:
    """DEL, C1 controls and U+2028/U+2029 are written as \\u escapes, not raw."""
    text = "".join(chr(c) for c in range(0x7F, 0xA0)) + "\u2028\u2029"
    line = encode_json_line(make_event(body=text))
    raw = line.decode("utf-8")
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]", raw)
    assert "\\u2028" in raw and "\\u0085" in raw and "\\u007f" in raw
    assert orjson.loads(line)["body"] == text


def test_unicode_round_trips_exactly() -> None:
    """Non-ASCII text (accents, CJK, emoji, RTL scripts) is preserved byte for byte."""
    text = "café 日本語 🎉 עברית — “quoted”"
    decoded = orjson.loads(encode_json_line(make_event(body=text, attributes={text: text})))
    assert decoded["body"] == text
    assert decoded["attributes"] == {text: text}


def test_lone_surrogates_do_not_raise() -> None:
    """Strings that are not valid Unicode are written with their surrogates escaped."""
    line = encode_json_line(make_event(body="bad\udcffname", attributes={"k\ud800": "v\udfff"}))
    assert_one_line(line)
    decoded = orjson.loads(line)
    assert decoded["body"] == "bad\\udcffname"
    assert decoded["attributes"] == {"k\\ud800": "v\\udfff"}


def test_values_beyond_the_normalised_set_do_not_raise() -> None:
    """Oversized ints, tuples, sets, non-str keys and arbitrary objects still encode."""

    class Odd:
        def __repr__(self) -> str:
            return "<odd>"

    attrs: dict[str, Any] = {
        "huge": 2**100,
        "tuple": (1, 2),
        "set": {3},
        "keys": {1: "a", None: "b"},
        "obj": Odd(),
    }
    line = encode_json_line(make_event(attributes=attrs))
    assert_one_line(line)
    decoded = orjson.loads(line)["attributes"]
    assert decoded["huge"] == str(2**100)
    assert decoded["tuple"] == [1, 2]
    assert decoded["set"] == [3]
    assert decoded["obj"] == "<odd>"


def test_an_object_whose_repr_raises_does_not_raise() -> None:
    """Even a value whose repr raises yields a line."""

    class Hostile:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    line = encode_json_line(make_event(attributes={"x": Hostile()}))
    assert_one_line(line)
    assert "Hostile" in orjson.loads(line)["attributes"]["x"]


def test_a_broken_event_still_yields_a_line() -> None:
    """An event whose fields cannot be read becomes a line saying it could not be encoded."""
    event = make_event()
    event.attributes = None  # type: ignore[assignment]  # simulate a buggy processor
    object.__setattr__(event, "instrumentation_scope", object())
    line = encode_json_line(event)
    assert_one_line(line)
    assert "could not encode" in orjson.loads(line)["body"]


def test_event_to_dict_is_json_safe_and_matches_the_line() -> None:
    """event_to_dict serialises with a strict JSON encoder and equals the decoded line."""
    attrs = {"nan": math.nan, "b": b"\x00", "nested": [{"x": math.inf}], "s": "a\nb"}
    event = make_event(attributes=attrs, trace_id=TRACE_ID, span_id=SPAN_ID)
    as_dict = event_to_dict(event)
    json.dumps(as_dict, allow_nan=False)
    assert as_dict == orjson.loads(encode_json_line(event))


def test_encoding_does_not_modify_the_event() -> None:
    """Encoding leaves the event's attributes exactly as they were."""
    attrs: dict[str, Any] = {"nan": math.nan, "b": b"\x01", "nested": {"l": [math.inf]}}
    event = make_event(attributes=attrs)
    encode_json_line(event)
    event_to_dict(event)
    format_pretty(event, colors=True)
    assert event.attributes is attrs
    assert isinstance(attrs["b"], bytes) and math.isnan(attrs["nan"])
    assert attrs["nested"] == {"l": [math.inf]}


@settings(max_examples=100, deadline=None)
@given(body=normalised_values, attrs=st.dictionaries(st.text(), normalised_values, max_size=5))
def test_any_normalised_value_round_trips_on_one_line(body: Any, attrs: dict[str, Any]) -> None:
    """For any normalised body and attributes, the line decodes to the expected values."""
    line = encode_json_line(make_event(body=body, attributes=attrs))
    assert_one_line(line)
    decoded = orjson.loads(line)
    assert decoded["body"] == json_expected(body)
    assert decoded["attributes"] == json_expected(attrs)


# -- batch encoding -----------------------------------------------------------------------


class _Odd:
    def __repr__(self) -> str:
        return "<odd>"


EMPTY = Resource.get_empty()


def _event(timestamp: int = TS, **fields: Any) -> LogEvent:
    event = make_event(**fields)
    event.timestamp = timestamp
    return event


def _mixed_events() -> list[LogEvent]:
    """Events of every shape the batch path treats specially, in one list."""
    shop = Resource({"service.name": "shop"})
    other = Resource({"service.name": "other", "host.name": "h1"})
    api = InstrumentationScope("api")
    second = calendar.timegm((2026, 11, 23, 19, 40, 0)) * 1_000_000_000
    shapes: list[dict[str, Any]] = [
        {},
        {"attributes": {"order_id": 7, "ratio": 0.5, "ok": True}},
        {"attributes": {"n": None}},  # a genuine null: kept as it is
        {"attributes": {"nan": math.nan, "n": None, "deep": [{"x": -math.inf}]}},
        {"body": math.inf},
        {"attributes": {"sep": "a\u2028b\u2029c", "nel": "x\x85y", "del": "\x7f"}},
        {"body": "café 日本語 — “quoted” °C"},
        {"body": "bad\udcffname", "attributes": {"k\ud800": "v"}},  # lone surrogates
        {"attributes": {"huge": 2**100, "u64": 2**63, "n": None}},
        {"attributes": {"keys": {1: "a", None: "b"}, "n": None}},
        {"attributes": {"b": b"\x00\x01", "set": {3}, "tuple": (1, None), "obj": _Odd()}},
        {"attributes": {"text": 'x":null,[null'}},
        {"trace_id": TRACE_ID, "span_id": SPAN_ID, "trace_flags": 1},
        {"trace_id": TRACE_ID, "span_id": 0},
        {"trace_id": 0, "span_id": 2},
        {"event_name": "order.paid", "resource": other},
        {"instrumentation_scope": None, "severity_text": None, "body": None},
        {"instrumentation_scope": api, "resource": EMPTY},
    ]
    events = []
    for i in range(150):  # more than two chunks
        fields = dict(shapes[i % len(shapes)])
        fields.setdefault("resource", shop)
        # 0.9 s apart, so the events cross several second boundaries, and now and then
        # one steps back into an earlier second.
        fields["timestamp"] = second + (i - 40 * (i % 7 == 3)) * 900_000_000 + i
        events.append(_event(**fields))
    return events


def _per_event(events: list[LogEvent], include_resource: bool = False) -> bytes:
    return b"".join(encode_json_line(e, include_resource=include_resource) for e in events)


@pytest.mark.parametrize("include_resource", [False, True])
def test_encode_json_lines_equals_the_per_event_lines(include_resource: bool) -> None:
    """For mixed events across second boundaries, the batch bytes are the per-event bytes."""
    events = _mixed_events()
    expected = _per_event(events, include_resource)
    assert encode_json_lines(events, include_resource=include_resource) == expected
    assert encode_json_lines(iter(events), include_resource=include_resource) == expected
    for size in (1, 2, 63, 64, 65, 129):  # around the chunk size
        part = events[:size]
        assert encode_json_lines(part, include_resource=include_resource) == _per_event(
            part, include_resource
        )
    decoded = [orjson.loads(line) for line in expected.splitlines()]
    assert len(decoded) == len(events)
    assert decoded[2]["attributes"] == {"n": None}
    assert decoded[3]["attributes"] == {"nan": "NaN", "n": None, "deep": [{"x": "-Infinity"}]}


def test_encode_json_lines_keeps_broken_events_from_costing_the_batch() -> None:
    """A broken event among good ones becomes its own "could not encode" line."""
    events = [make_event(body=f"m{i}") for i in range(100)]
    events[70].attributes = None  # type: ignore[assignment]  # simulate a buggy processor
    object.__setattr__(events[70], "instrumentation_scope", object())
    lines = encode_json_lines(events).splitlines()
    assert len(lines) == 100
    assert "could not encode" in orjson.loads(lines[70])["body"]
    assert [orjson.loads(x)["body"] for x in lines[:70]] == [f"m{i}" for i in range(70)]


@pytest.mark.pure_python
def test_encode_json_lines_does_not_fall_back_to_per_event_for_ordinary_events(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ordinary events, NaN, None and separators included, take the one-call path."""
    events = [
        e
        for e in _mixed_events()
        if "\udcff" not in str(e.body) and not {"huge", "keys", "k\ud800"} & set(e.attributes)
    ]
    expected = _per_event(events)

    def unexpected(*args: Any, **kwargs: Any) -> bytes:
        raise AssertionError("encode_json_line called")

    monkeypatch.setattr(_jsonl, "encode_json_line", unexpected)
    assert encode_json_lines(events) == expected


@pytest.mark.parametrize("depth", [29, 30, 31, 32])
@pytest.mark.parametrize("wrap", [dict, list])
def test_a_null_next_to_deep_nesting_is_written_as_event_to_dict_has_it(
    depth: int, wrap: type
) -> None:
    """With a null in the line, containers beyond the depth limit are cut as always."""
    nested: Any = {"leaf": 1}
    for _ in range(depth):
        nested = {"d": nested} if wrap is dict else [nested]
    event = make_event(attributes={"n": None, "nested": nested})
    expected = event_to_dict(event)["attributes"]
    assert orjson.loads(encode_json_line(event))["attributes"] == expected
    assert orjson.loads(encode_json_lines([event, event]).splitlines()[1])["attributes"] == (
        expected
    )


def test_a_log_event_subclass_keeps_its_own_scope_name() -> None:
    """A subclass overriding scope_name is encoded through it, alone or in a batch."""

    class Renamed(LogEvent):
        __slots__ = ()

        @property
        def scope_name(self) -> str:
            return "renamed"

    events = [make_event(), Renamed(timestamp=TS, instrumentation_scope=InstrumentationScope("a"))]
    assert [orjson.loads(line)["logger"] for line in encode_json_lines(events).splitlines()] == [
        "shop.orders",
        "renamed",
    ]
    assert encode_json_lines(events) == _per_event(events)


def test_a_value_that_forges_the_record_separator_changes_nothing() -> None:
    """orjson.Fragment values (written verbatim) cannot confuse the record boundaries."""
    forged = orjson.Fragment(b"[1," + b"\n" * 16 + b",2]")
    events = [
        make_event(body=f"m{i}", attributes={"f": forged} if i == 5 else {"n": None})
        for i in range(10)
    ]
    assert encode_json_lines(events) == _per_event(events)
    events[3].attributes = {"raw": orjson.Fragment(b'"a"\n'), "n": None}
    assert encode_json_lines(events) == _per_event(events)
    # A raw newline before a NaN must not shift which event a line belongs to.
    events = [
        make_event(attributes={"raw": orjson.Fragment(b'"a"\n')}),
        make_event(attributes={"x": math.nan}),
        make_event(),
        make_event(),
    ]
    assert encode_json_lines(events) == _per_event(events)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(
            normalised_values,
            st.dictionaries(st.text(max_size=8), normalised_values, max_size=4),
            st.integers(min_value=0, max_value=3 * 10**9),
        ),
        max_size=80,
    )
)
def test_any_normalised_events_encode_in_a_batch_as_one_by_one(
    specs: list[tuple[Any, dict[str, Any], int]],
) -> None:
    """For any normalised bodies, attributes and times, batch bytes equal per-event bytes."""
    events = [
        _event(body=body, attributes=attrs, timestamp=TS + offset) for body, attrs, offset in specs
    ]
    assert encode_json_lines(events) == _per_event(events)


def test_rfc3339_formatting_is_right_in_any_order() -> None:
    """The cached current second never leaks into a timestamp from another second."""
    second = calendar.timegm((2026, 11, 23, 19, 40, 0)) * 1_000_000_000
    stamps = [
        second,
        second + 999_999_999,
        second + 1_000_000_000,
        second - 1,
        second + 5,
        0,
        -1,
        second + 10**9 * 86_400 * 366,
        second + 42,
    ]
    for stamp in stamps * 2:
        seconds, nanos = divmod(stamp, 1_000_000_000)
        expected = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}Z"
        assert format_rfc3339(stamp) == expected
    assert format_rfc3339(second + 0.5) == str(second + 0.5)  # type: ignore[arg-type]


# -- escaping -----------------------------------------------------------------------------


def test_escape_control_returns_printable_text_unchanged() -> None:
    """Plain printable text (ASCII or not) comes back as the same object."""
    for text in ("hello world", "café 日本語 🎉", ""):
        assert escape_control(text) is text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a\nb", "a\\nb"),
        ("a\rb", "a\\rb"),
        ("a\tb", "a\\tb"),
        ("\x1b[31m", "\\x1b[31m"),
        ("\x00", "\\x00"),
        ("\x7f", "\\x7f"),
        ("é\x85\x9b", "é\\x85\\x9b"),
        ("é\u2028\u2029", "é\\u2028\\u2029"),
        ("\u202eevil", "\\u202eevil"),
        ("bad\udcff", "bad\\udcff"),
        ("nbsp\u00a0kept", "nbsp\u00a0kept"),
    ],
)
def test_escape_control_escapes_every_unsafe_character(text: str, expected: str) -> None:
    """Controls, separators, bidi overrides and surrogates become visible escapes."""
    assert escape_control(text) == expected


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec=None, exclude_categories=())))
def test_escape_control_output_is_always_safe(text: str) -> None:
    """Whatever the input, the escaped text holds no unsafe character."""
    assert not UNSAFE.search(escape_control(text))


# -- pretty lines -------------------------------------------------------------------------


def test_pretty_line_layout() -> None:
    """The pretty line is time, padded level, logger, message, then key=value pairs."""
    event = make_event(
        attributes={"order_id": 7, "note": "two words", "ok": True, "ratio": 0.5},
        trace_id=TRACE_ID,
        span_id=SPAN_ID,
    )
    assert format_pretty(event, colors=False) == (
        "2026-11-23 19:40:00.123 INFO  shop.orders  order paid  "
        'order_id=7 note="two words" ok=true ratio=0.5 '
        "trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7"
    )


def test_pretty_line_aligns_five_letter_levels() -> None:
    """Every standard level occupies five columns, so loggers line up."""
    info = format_pretty(make_event(), colors=False)
    error = format_pretty(make_event(severity_text="ERROR", severity_number=17), colors=False)
    assert info.index("shop.orders") == error.index("shop.orders")


def test_pretty_line_without_logger_or_attributes() -> None:
    """Missing parts leave no stray separators."""
    event = make_event(instrumentation_scope=None)
    assert format_pretty(event, colors=False) == "2026-11-23 19:40:00.123 INFO  order paid"
    assert format_pretty(make_event(body=None, instrumentation_scope=None), colors=False) == (
        "2026-11-23 19:40:00.123 INFO "
    )


@pytest.mark.parametrize(
    ("value", "rendered"),
    [
        ("plain", "plain"),
        ("two words", '"two words"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("a=b", '"a=b"'),
        ("C:\\dir", '"C:\\\\dir"'),
        ("", '""'),
        ("multi\nline", '"multi\\nline"'),
        (None, "null"),
        (False, "false"),
        (-3, "-3"),
        (math.nan, "NaN"),
        (-math.inf, "-Infinity"),
        (b"\x00\x01", '"AAE="'),
        ([1, "a b", {"k": None}], '[1,"a b",{"k":null}]'),
        (["x\ny"], '["x\\ny"]'),
        (["\u2028"], '["\\u2028"]'),
    ],
)
def test_pretty_values_are_quoted_and_escaped(value: Any, rendered: str) -> None:
    """Values are bare when safe, else quoted; containers are compact JSON."""
    line = format_pretty(make_event(attributes={"k": value}), colors=False)
    assert line.endswith(f"  k={rendered}")


def test_pretty_keys_are_quoted_when_needed() -> None:
    """A key with spaces, = or control characters is quoted and escaped."""
    line = format_pretty(make_event(attributes={"a key": 1, "x=y": 2, "n\nl": 3}), colors=False)
    assert line.endswith('  "a key"=1 "x=y"=2 "n\\nl"=3')


def test_pretty_renders_the_stacktrace_last_on_the_same_line() -> None:
    """exception.stacktrace comes after all other pairs, escaped onto the one line."""
    stack = 'Traceback (most recent call last):\n  File "app.py", line 1\nValueError: boom\n'
    event = make_event(
        attributes={
            "exception.type": "ValueError",
            "exception.stacktrace": stack,
            "exception.message": "boom",
        },
        trace_id=TRACE_ID,
    )
    line = format_pretty(event, colors=False)
    assert "\n" not in line
    assert line.endswith(
        'exception.stacktrace="Traceback (most recent call last):\\n  File \\"app.py\\", '
        'line 1\\nValueError: boom\\n"'
    )
    assert line.index("exception.type=ValueError") < line.index("trace_id=")
    assert line.index("exception.message=boom") < line.index("exception.stacktrace=")


def test_pretty_shows_event_name_first() -> None:
    """The event name is the first pair."""
    line = format_pretty(make_event(event_name="order.paid", attributes={"a": 1}), colors=False)
    assert line.endswith("  event_name=order.paid a=1")


def test_pretty_renders_non_string_bodies_as_json() -> None:
    """A structured body is shown as compact JSON."""
    line = format_pretty(make_event(body={"k": [1, 2]}), colors=False)
    assert line.endswith('  {"k":[1,2]}')


@pytest.mark.parametrize("text", HOSTILE_TEXTS)
def test_pretty_escapes_hostile_text_everywhere(text: str) -> None:
    """Hostile text in body, logger, level, keys, values and stack trace stays escaped."""
    event = make_event(
        body=text,
        severity_text=text,
        attributes={text: text, "list": [text], "exception.stacktrace": text},
        instrumentation_scope=InstrumentationScope(text),
    )
    for colors in (False, True):
        line = SGR.sub("", format_pretty(event, colors=colors))
        assert not UNSAFE.search(line)
        assert len(line.splitlines()) == 1


@settings(max_examples=100, deadline=None)
@given(body=normalised_values, attrs=st.dictionaries(st.text(), normalised_values, max_size=5))
def test_any_event_renders_as_one_safe_pretty_line(body: Any, attrs: dict[str, Any]) -> None:
    """For any normalised body and attributes, the pretty line is one line with no raw controls."""
    line = format_pretty(make_event(body=body, attributes=attrs), colors=False)
    assert not UNSAFE.search(line)
    assert len(line.splitlines()) == 1


def test_colors_off_emits_no_escape_sequences() -> None:
    """Without colors the line contains no ESC at all."""
    event = make_event(severity_text="ERROR", severity_number=17, attributes={"a": 1})
    assert "\x1b" not in format_pretty(event, colors=False)


@pytest.mark.parametrize(
    ("severity_text", "severity_number", "style"),
    [
        ("TRACE", 1, "\x1b[2m"),
        ("DEBUG", 5, "\x1b[34m"),
        ("INFO", 9, "\x1b[32m"),
        ("WARN", 13, "\x1b[33m"),
        ("ERROR", 17, "\x1b[1;31m"),
        ("FATAL", 21, "\x1b[1;41;97m"),
    ],
)
def test_colors_style_the_level_by_severity(
    severity_text: str, severity_number: int, style: str
) -> None:
    """With colors, the level carries the style of its severity range."""
    event = make_event(severity_text=severity_text, severity_number=severity_number)
    assert f"{style}{severity_text.ljust(5)}\x1b[0m" in format_pretty(event, colors=True)


def test_colors_keep_user_escape_sequences_escaped() -> None:
    """With colors on, an ESC from user data is still shown as \\x1b, never emitted."""
    line = format_pretty(
        make_event(body="\x1b[2J\x1b[31mfake", attributes={"k": "\x1b]8;;x\x07"}), colors=True
    )
    assert "\\x1b[2J\\x1b[31mfake" in line
    assert "\x1b" not in SGR.sub("", line)


def test_colored_and_plain_lines_carry_the_same_text() -> None:
    """Stripping the SGR codes from a colored line gives the plain line."""
    event = make_event(attributes={"a": "b c", "n": 1}, trace_id=TRACE_ID, event_name="e")
    assert SGR.sub("", format_pretty(event, colors=True)) == format_pretty(event, colors=False)


def test_pretty_never_raises_for_a_broken_event() -> None:
    """A broken event renders as a placeholder line instead of raising."""
    event = make_event()
    event.attributes = None  # type: ignore[assignment]  # simulate a buggy processor
    assert "could not format" in format_pretty(event, colors=True)
