"""LogEvent → OTLP protobuf encoding, grouping and size-limited splitting."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from fapilog._event import LogEvent
from fapilog.exporters.otlp._encode import DEFAULT_MAX_REQUEST_BYTES, encode, split

# -- decoding helpers --------------------------------------------------------------


def decode_value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [decode_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: decode_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind)


def canon(value: Any) -> Any:
    """A comparable form that keeps types apart (1 vs 1.0 vs True) and equates NaNs."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int):
        return ("int", value)
    if isinstance(value, float):
        return ("float", "nan" if math.isnan(value) else value)
    if isinstance(value, (list, tuple)):
        return ("array", tuple(canon(v) for v in value))
    if isinstance(value, dict) or hasattr(value, "items"):
        return ("kvlist", tuple((k, canon(v)) for k, v in value.items()))
    return (type(value).__name__, value)


def decode_attributes(attributes: Any) -> Any:
    return canon({kv.key: decode_value(kv.value) for kv in attributes})


def flat_records(request: ExportLogsServiceRequest) -> list[tuple[Any, Any, Any]]:
    """(resource key, scope key, record) in request order."""
    out: list[tuple[Any, Any, Any]] = []
    for rl in request.resource_logs:
        rkey = (decode_attributes(rl.resource.attributes), rl.schema_url)
        for sl in rl.scope_logs:
            skey = (
                sl.scope.name,
                sl.scope.version,
                decode_attributes(sl.scope.attributes),
                sl.schema_url,
            )
            out.extend((rkey, skey, record) for record in sl.log_records)
    return out


def resource_key(resource: Resource) -> Any:
    return (canon(dict(resource.attributes)), resource.schema_url)


def scope_key(scope: InstrumentationScope | None) -> Any:
    if scope is None:
        return ("", "", canon({}), "")
    attributes = dict(scope.attributes) if scope.attributes else {}
    return (scope.name, scope.version or "", canon(attributes), scope.schema_url or "")


def assert_record_matches(record: Any, event: LogEvent) -> None:
    assert record.time_unix_nano == event.timestamp
    assert record.observed_time_unix_nano == event.observed_timestamp
    assert record.severity_number == event.severity_number
    assert record.severity_text == (event.severity_text or "")
    assert record.HasField("body") == (event.body is not None)
    assert canon(decode_value(record.body)) == canon(event.body)
    assert decode_attributes(record.attributes) == canon(event.attributes)
    assert record.trace_id == (event.trace_id.to_bytes(16, "big") if event.trace_id else b"")
    assert record.span_id == (event.span_id.to_bytes(8, "big") if event.span_id else b"")
    assert record.flags == event.trace_flags
    assert record.event_name == (event.event_name or "")


def by_group(events: list[LogEvent]) -> dict[Any, list[LogEvent]]:
    """Events by (resource, scope), in the order the encoder emits groups."""
    nested: dict[Any, dict[Any, list[LogEvent]]] = {}
    for event in events:
        scopes = nested.setdefault(resource_key(event.resource), {})
        scopes.setdefault(scope_key(event.instrumentation_scope), []).append(event)
    return {(r, s): group for r, scopes in nested.items() for s, group in scopes.items()}


def assert_request_matches(request: ExportLogsServiceRequest, events: list[LogEvent]) -> None:
    """Every event is in the request once, in its group, in batch order within the group."""
    expected = by_group(events)
    actual: dict[Any, list[Any]] = {}
    for rkey, skey, record in flat_records(request):
        actual.setdefault((rkey, skey), []).append(record)
    assert list(actual) == list(expected)
    for key, records in actual.items():
        assert len(records) == len(expected[key])
        for record, event in zip(records, expected[key], strict=True):
            assert_record_matches(record, event)
    pairs = [
        (rl_i, sl_i)
        for rl_i, rl in enumerate(request.resource_logs)
        for sl_i in range(len(rl.scope_logs))
    ]
    assert len(pairs) == len(expected), "each resource/scope pair appears once"


# -- strategies --------------------------------------------------------------------

text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
scalars = st.one_of(
    text,
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.binary(max_size=8),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(st.one_of(inner, st.none()), max_size=3),
        st.dictionaries(text, inner, max_size=3),
    ),
    max_leaves=8,
)
attributes = st.dictionaries(text, values, max_size=5)
simple_attributes = st.dictionaries(
    st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=8),
    st.one_of(text, st.booleans(), st.integers(-(2**63), 2**63 - 1)),
    max_size=3,
)
resources = st.sampled_from(
    [
        Resource.get_empty(),
        Resource({"service.name": "a", "n": 1}),
        Resource(
            {"service.name": "b", "tags": ["x", "y"]},
            schema_url="https://opentelemetry.io/schemas/1.30.0",
        ),
    ]
) | st.builds(Resource, simple_attributes)
scopes = st.none() | st.builds(
    InstrumentationScope,
    st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=8),
    st.none() | text,
    st.none() | st.just("https://opentelemetry.io/schemas/1.30.0"),
    simple_attributes,
)
events = st.builds(
    LogEvent,
    timestamp=st.integers(0, 2**63),
    observed_timestamp=st.integers(0, 2**63),
    trace_id=st.integers(0, 2**128 - 1),
    span_id=st.integers(0, 2**64 - 1),
    trace_flags=st.integers(0, 255),
    severity_text=st.none() | st.sampled_from(["TRACE", "INFO", "ERROR", "custom"]) | text,
    severity_number=st.integers(0, 24),
    body=st.none() | values,
    attributes=attributes,
    event_name=st.none() | text,
    resource=resources,
    instrumentation_scope=scopes,
)
batches = st.lists(events, max_size=12)


class Custom:
    def __str__(self) -> str:
        return "custom!"


def event(body: Any = "hello", **kwargs: Any) -> LogEvent:
    return LogEvent(timestamp=1_700_000_000_000_000_000, body=body, **kwargs)


# -- encode ------------------------------------------------------------------------


class TestEncode:
    @settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(batches)
    def test_every_field_survives_serialise_and_parse(self, batch: list[LogEvent]) -> None:
        """Encoding, serialising and parsing a batch gives back every field of every event."""
        parsed = ExportLogsServiceRequest.FromString(encode(batch).SerializeToString())
        assert_request_matches(parsed, batch)

    def test_empty_batch_gives_an_empty_request(self) -> None:
        """No events, no ResourceLogs."""
        assert encode([]) == ExportLogsServiceRequest()

    def test_zero_ids_are_empty_bytes(self) -> None:
        """A record outside a span carries empty trace and span ids, as OTLP requires."""
        record = encode([event()]).resource_logs[0].scope_logs[0].log_records[0]
        assert record.trace_id == b""
        assert record.span_id == b""

    def test_ids_are_big_endian_bytes(self) -> None:
        """Trace ids are 16 bytes and span ids 8, most significant byte first."""
        record = (
            encode([event(trace_id=1, span_id=0xABCD)])
            .resource_logs[0]
            .scope_logs[0]
            .log_records[0]
        )
        assert record.trace_id == b"\x00" * 15 + b"\x01"
        assert record.span_id == b"\x00" * 6 + b"\xab\xcd"

    def test_events_are_grouped_by_resource_then_scope_in_first_seen_order(self) -> None:
        """One ResourceLogs per resource, one ScopeLogs per scope, records in batch order."""
        r1, r2 = Resource({"service.name": "a"}), Resource({"service.name": "b"})
        s1, s2 = InstrumentationScope("one", "1.0"), InstrumentationScope("two")
        batch = [
            event("1", resource=r1, instrumentation_scope=s1),
            event("2", resource=r2, instrumentation_scope=s1),
            event("3", resource=r1, instrumentation_scope=s2),
            event("4", resource=r1, instrumentation_scope=s1),
        ]
        request = encode(batch)
        layout = [
            (
                rl.resource.attributes[0].value.string_value,
                sl.scope.name,
                [r.body.string_value for r in sl.log_records],
            )
            for rl in request.resource_logs
            for sl in rl.scope_logs
        ]
        assert layout == [("a", "one", ["1", "4"]), ("a", "two", ["3"]), ("b", "one", ["2"])]

    def test_equal_resources_share_one_resource_logs(self) -> None:
        """Distinct but equal Resource and scope objects are merged, not repeated."""
        batch = [
            event(resource=Resource({"k": "v"}), instrumentation_scope=InstrumentationScope("s")),
            event(resource=Resource({"k": "v"}), instrumentation_scope=InstrumentationScope("s")),
        ]
        request = encode(batch)
        assert len(request.resource_logs) == 1
        assert len(request.resource_logs[0].scope_logs) == 1
        assert len(request.resource_logs[0].scope_logs[0].log_records) == 2

    def test_scope_and_resource_metadata_are_encoded(self) -> None:
        """Scope name, version, attributes and schema URLs of resource and scope are set."""
        resource = Resource({"service.name": "shop"}, schema_url="https://example.test/r")
        scope = InstrumentationScope(
            "shop.orders", "2.1", "https://example.test/s", {"team": "pay"}
        )
        rl = encode([event(resource=resource, instrumentation_scope=scope)]).resource_logs[0]
        assert rl.schema_url == "https://example.test/r"
        sl = rl.scope_logs[0]
        assert (sl.scope.name, sl.scope.version, sl.schema_url) == (
            "shop.orders",
            "2.1",
            "https://example.test/s",
        )
        assert decode_attributes(sl.scope.attributes) == canon({"team": "pay"})

    @pytest.mark.parametrize(
        ("body", "expected"),
        [
            ({}, {}),
            ([], []),
            (
                {"a": [1, 2.5, True, b"\x00", None, {"b": "c"}]},
                {"a": [1, 2.5, True, b"\x00", None, {"b": "c"}]},
            ),
            (2**70, str(2**70)),
            (-(2**64), str(-(2**64))),
            (("t", 1), ["t", 1]),
            (bytearray(b"ab"), b"ab"),
        ],
    )
    def test_body_values_map_to_any_value(self, body: Any, expected: Any) -> None:
        """Every AnyValue kind maps; empty maps and arrays stay maps and arrays; huge ints become strings."""
        record = encode([event(body)]).resource_logs[0].scope_logs[0].log_records[0]
        assert canon(decode_value(record.body)) == canon(expected)

    def test_odd_values_get_stand_ins_instead_of_raising(self) -> None:
        """A string that is not valid UTF-8 and an unknown type are encoded, not fatal."""
        batch = [event("bad \ud800 surrogate", attributes={"obj": Custom(), "\udcff": 1})]
        record = encode(batch).resource_logs[0].scope_logs[0].log_records[0]
        assert record.body.string_value == "bad ? surrogate"
        assert [kv.key for kv in record.attributes] == ["obj", "?"]
        assert record.attributes[0].value.string_value == "custom!"


# -- split -------------------------------------------------------------------------


class TestSplit:
    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(batches, st.integers(150, 3000))
    def test_requests_fit_the_limit_and_hold_every_record_once(
        self, batch: list[LogEvent], limit: int
    ) -> None:
        """Each request's real serialised size is within the limit; kept records keep their group order."""
        result = split(batch, limit)
        kept: list[tuple[Any, Any, Any]] = []
        for item in result.requests:
            assert item.size == item.request.ByteSize() == len(item.request.SerializeToString())
            assert item.size <= limit
            assert item.records == len(flat_records(item.request))
            kept.extend(flat_records(item.request))
        assert len(kept) + result.dropped == len(batch)
        # Every dropped record is one that cannot fit even alone.
        alone = [split([e], None).requests[0].size for e in batch]
        assert result.dropped == sum(size > limit for size in alone)
        fitting = [e for e, size in zip(batch, alone, strict=True) if size <= limit]
        expected = by_group(fitting)
        actual: dict[Any, list[Any]] = {}
        for rkey, skey, record in kept:
            actual.setdefault((rkey, skey), []).append(record)
        assert actual.keys() == expected.keys()
        for key, records in actual.items():
            for record, ev in zip(records, expected[key], strict=True):
                assert_record_matches(record, ev)

    def test_no_limit_gives_one_request(self) -> None:
        """Without a limit the batch is one request."""
        result = split([event(str(i)) for i in range(50)], None)
        assert len(result.requests) == 1
        assert result.requests[0].records == 50

    def test_batch_order_is_kept_across_requests(self) -> None:
        """Read one after another, the requests hold the records in batch order."""
        batch = [event(f"message {i:03d} " + "x" * 50) for i in range(40)]
        result = split(batch, 600)
        assert len(result.requests) > 3
        bodies = [
            r.body.string_value
            for item in result.requests
            for _, _, r in flat_records(item.request)
        ]
        assert bodies == [e.body for e in batch]

    def test_an_oversized_record_is_dropped_and_counted(self) -> None:
        """A record that alone exceeds the limit is left out and counted; its neighbours go."""
        batch = [event("small"), event("x" * 5000), event("small too")]
        result = split(batch, 1024)
        assert result.dropped == 1
        bodies = [
            r.body.string_value
            for item in result.requests
            for _, _, r in flat_records(item.request)
        ]
        assert bodies == ["small", "small too"]

    def test_default_limit_is_four_mebibytes(self) -> None:
        """The default matches the default gRPC maximum message size."""
        assert DEFAULT_MAX_REQUEST_BYTES == 4 * 1024 * 1024
