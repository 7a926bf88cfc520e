"""Encoding: the HEC envelope field by field, raw lines, the time format, request splitting."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from fapilog import LogEvent
from fapilog_exporter_splunk import SplunkHECOptions
from fapilog_exporter_splunk._encode import (
    encode_envelope,
    encode_raw_line,
    format_hec_time,
    split_requests,
)

TOKEN = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
TS = 1_795_635_600_123_456_789  # 2026-11-25T19:40:00.123456789Z


def options(**kwargs: object) -> SplunkHECOptions:
    return SplunkHECOptions.resolve(url="http://127.0.0.1:8088", token=TOKEN, **kwargs)


def sample(**kwargs: object) -> LogEvent:
    values: dict[str, object] = {
        "timestamp": TS,
        "severity_text": "ERROR",
        "severity_number": 17,
        "body": "charge failed",
        "attributes": {
            "order_id": 7,
            "tenant": "acme",
            "exception.type": "PaymentError",
            "exception.message": "card declined",
        },
        "trace_id": 0x4BF92F3577B34DA6A3CE929D0E0E4736,
        "span_id": 0x00F067AA0BA902B7,
        "trace_flags": 1,
        "resource": Resource.create({"service.name": "shop", "host.name": "web-1"}),
        "instrumentation_scope": InstrumentationScope("shop.orders"),
    }
    values.update(kwargs)
    return LogEvent(**values)  # type: ignore[arg-type]


def test_the_envelope_carries_every_field_in_its_place() -> None:
    raw = encode_envelope(
        sample(),
        options(index="main", source="shop-api", sourcetype="_json", indexed_attributes="tenant"),
    )
    assert raw.startswith(b'{"time":1795635600.123456,')
    envelope = json.loads(raw)
    assert list(envelope) == ["time", "host", "source", "sourcetype", "index", "event", "fields"]
    assert envelope["host"] == "web-1"  # from the resource's host.name
    assert (envelope["source"], envelope["sourcetype"], envelope["index"]) == (
        "shop-api", "_json", "main",
    )  # fmt: skip
    event = envelope["event"]
    assert event["timestamp"] == "2026-11-25T19:40:00.123456789Z"
    assert (event["severity_text"], event["severity_number"]) == ("ERROR", 17)
    assert event["logger"] == "shop.orders"
    assert event["body"] == "charge failed"
    assert event["attributes"] == {
        "order_id": 7,
        "tenant": "acme",
        "exception.type": "PaymentError",
        "exception.message": "card declined",
    }
    assert event["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert event["span_id"] == "00f067aa0ba902b7"
    assert event["trace_flags"] == 1
    assert event["service.name"] == "shop"
    assert envelope["fields"] == {
        "severity": "ERROR",
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "span_id": "00f067aa0ba902b7",
        "service.name": "shop",
        "tenant": "acme",
    }


def test_unset_metadata_and_ids_are_omitted() -> None:
    event = sample(trace_id=0, span_id=0, resource=Resource.get_empty())
    envelope = json.loads(encode_envelope(event, options()))
    assert list(envelope) == ["time", "event", "fields"]
    assert envelope["fields"] == {"severity": "ERROR"}
    assert "trace_id" not in envelope["event"] and "span_id" not in envelope["event"]


def test_the_host_option_wins_over_the_resource() -> None:
    envelope = json.loads(encode_envelope(sample(), options(host="edge-9")))
    assert envelope["host"] == "edge-9"


def test_indexed_field_values_are_strings_or_string_lists() -> None:
    """HEC refuses object values in fields (code 15), so every value is made text."""
    event = sample(attributes={"n": 3, "ok": True, "tags": ["a", 2], "m": {"k": 1}, "x": 1.5})
    opts = options(indexed_attributes="n,ok,tags,m,x,absent")
    fields = json.loads(encode_envelope(event, opts))["fields"]
    assert fields["n"] == "3"
    assert fields["ok"] == "true"
    assert fields["tags"] == ["a", "2"]
    assert fields["m"] == '{"k":1}'
    assert fields["x"] == "1.5"
    assert "absent" not in fields


def test_include_resource_adds_every_resource_attribute() -> None:
    envelope = json.loads(encode_envelope(sample(), options(include_resource=True)))
    assert envelope["event"]["resource"]["host.name"] == "web-1"
    assert envelope["event"]["resource"]["service.name"] == "shop"


def test_the_raw_line_is_fapilogs_json_line_without_a_newline() -> None:
    line = encode_raw_line(sample(body="two\nlines"), options())
    assert b"\n" not in line
    assert json.loads(line)["body"] == "two\nlines"


def test_an_event_that_cannot_be_converted_still_yields_an_envelope() -> None:
    class Broken(LogEvent):
        __slots__ = ()

        @property  # type: ignore[override]
        def scope_name(self) -> str:
            raise RuntimeError("boom")

    envelope = json.loads(encode_envelope(Broken(timestamp=TS), options()))
    assert "could not encode" in envelope["event"]["body"]


def test_odd_values_still_make_valid_json() -> None:
    event = sample(
        body="\u2028 \ud800 \x00",
        attributes={"nan": float("nan"), "big": 2**80, "raw": b"\x00\xff", "nested": {"a": [1]}},
    )
    envelope = json.loads(encode_envelope(event, options()))
    assert envelope["event"]["attributes"]["nan"] == "NaN"
    assert envelope["event"]["attributes"]["big"] == str(2**80)


@given(st.integers(min_value=0, max_value=2**63 - 1))
@settings(max_examples=200)
def test_time_keeps_microseconds_exactly(ns: int) -> None:
    text = format_hec_time(ns)
    seconds, _, fraction = text.partition(".")
    assert len(fraction) == 6
    assert int(seconds) * 1_000_000 + int(fraction) == ns // 1000


def test_time_falls_back_to_now_for_a_nonsense_timestamp() -> None:
    assert float(format_hec_time(-5)) > 1_700_000_000


@given(
    st.lists(
        st.binary(min_size=1, max_size=300).map(lambda b: b.replace(b"\n", b" ")), max_size=60
    ),
    st.integers(min_value=50, max_value=1000),
)
@settings(max_examples=100)
def test_splitting_keeps_order_respects_the_limit_and_drops_only_the_oversized(
    items: list[bytes], limit: int
) -> None:
    result = split_requests(items, limit)
    assert all(len(r.payload) <= limit for r in result.requests)
    fitting = [item for item in items if len(item) <= limit]
    rejoined = [line for r in result.requests for line in r.payload.split(b"\n")]
    assert rejoined == fitting
    assert [r.records for r in result.requests] == [
        len(r.payload.split(b"\n")) for r in result.requests
    ]
    assert result.dropped == len(items) - len(fitting)
    # Greedy: no two neighbouring requests could have been one.
    for a, b in zip(result.requests, result.requests[1:], strict=False):
        first = b.payload.split(b"\n")[0]
        assert len(a.payload) + 1 + len(first) > limit


@given(
    st.text(max_size=200),
    st.dictionaries(
        st.text(min_size=1, max_size=20),
        st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=50)),
        max_size=8,
    ),
)
@settings(max_examples=100)
def test_every_envelope_is_one_json_object_hec_accepts(
    body: str, attributes: dict[str, object]
) -> None:
    raw = encode_envelope(
        sample(body=body, attributes=attributes), options(indexed_attributes=tuple(attributes))
    )
    envelope = json.loads(raw)
    assert isinstance(envelope["event"], dict)
    assert all(isinstance(v, (str, list)) for v in envelope["fields"].values())
