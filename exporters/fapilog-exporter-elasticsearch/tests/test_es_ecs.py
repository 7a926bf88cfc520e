"""LogEvent → ECS document: which field goes where, and that no value breaks the encoding."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from es_bulk_server import EsBulkServer
from fapilog import ExportStatus, LogEvent
from fapilog_exporter_elasticsearch import ElasticsearchExporter
from fapilog_exporter_elasticsearch._ecs import encode_document, encode_event, to_ecs

T0 = 1_764_480_000_123_456_789
STREAM = ("logs", "generic", "default")


def ecs(event: LogEvent, stream: tuple[str, str, str] | None = STREAM) -> dict[str, Any]:
    line = encode_event(event, stream)
    assert b"\n" not in line
    parsed: dict[str, Any] = json.loads(line)
    return parsed


def test_timestamp_keeps_nanoseconds_and_comes_first() -> None:
    doc = ecs(LogEvent(timestamp=T0, body="x"))
    assert next(iter(doc)) == "@timestamp"
    assert doc["@timestamp"] == "2025-11-30T05:20:00.123456789Z"


def test_exception_attributes_become_ecs_error_fields() -> None:
    event = LogEvent(
        timestamp=T0,
        body="failed",
        attributes={
            "exception.type": "ValueError",
            "exception.message": "bad value",
            "exception.stacktrace": "Traceback (most recent call last):\n  ...",
            "order_id": 7,
        },
    )
    doc = ecs(event)
    assert doc["error"] == {
        "type": "ValueError",
        "message": "bad value",
        "stack_trace": "Traceback (most recent call last):\n  ...",
    }
    assert doc["attributes"] == {"order_id": 7}
    assert event.attributes["exception.type"] == "ValueError"  # the event is not changed


def test_a_non_string_exception_attribute_stays_an_attribute() -> None:
    doc = ecs(LogEvent(timestamp=T0, attributes={"exception.type": 3}))
    assert "error" not in doc
    assert doc["attributes"] == {"exception.type": 3}


def test_resource_attributes_map_to_service_host_and_process() -> None:
    resource = Resource(
        {
            "service.name": "shop",
            "service.version": "1.4.2",
            "service.instance.id": "pod-7",
            "deployment.environment": "old",
            "deployment.environment.name": "prod",
            "host.name": "web-1",
            "host.arch": "amd64",
            "os.name": "Linux",
            "process.pid": 4242,
            "telemetry.sdk.name": "opentelemetry",
        }
    )
    doc = ecs(LogEvent(timestamp=T0, resource=resource))
    assert doc["service"] == {
        "name": "shop",
        "version": "1.4.2",
        "node": {"name": "pod-7"},
        "environment": "prod",
    }
    assert doc["host"] == {"name": "web-1", "architecture": "amd64", "os": {"name": "Linux"}}
    assert doc["process"] == {"pid": 4242}
    assert doc["resource"] == {"attributes": {"telemetry.sdk.name": "opentelemetry"}}


def test_log_event_and_trace_fields() -> None:
    event = LogEvent(
        timestamp=T0,
        observed_timestamp=T0 + 5_000,
        severity_text="ERROR",
        severity_number=17,
        body="boom",
        event_name="payment.failed",
        trace_id=1,
        span_id=2,
        instrumentation_scope=InstrumentationScope("shop.pay"),
    )
    doc = ecs(event)
    assert doc["log"] == {"level": "ERROR", "logger": "shop.pay"}
    assert doc["event"] == {
        "severity": 17,
        "action": "payment.failed",
        "created": "2025-11-30T05:20:00.123461789Z",
        "dataset": "generic",
    }
    assert doc["trace"] == {"id": "00000000000000000000000000000001"}
    assert doc["span"] == {"id": "0000000000000002"}
    assert doc["ecs"] == {"version": "8.11.0"}


def test_zero_ids_and_empty_fields_are_left_out() -> None:
    doc = ecs(LogEvent(timestamp=T0), stream=None)
    assert doc == {"@timestamp": "2025-11-30T05:20:00.123456789Z", "ecs": {"version": "8.11.0"}}


def test_a_structured_body_becomes_json_text() -> None:
    doc = ecs(LogEvent(timestamp=T0, body={"a": [1, 2]}))
    assert json.loads(doc["message"]) == {"a": [1, 2]}


def test_attributes_named_like_ecs_fields_cannot_collide() -> None:
    doc = ecs(
        LogEvent(
            timestamp=T0,
            body="real message",
            attributes={"message": "fake", "@timestamp": 1, "host": "h", "log.level": "X"},
        )
    )
    assert doc["message"] == "real message"
    assert doc["@timestamp"].startswith("2025")
    assert "host" not in doc and "level" not in doc.get("log", {})
    assert doc["attributes"] == {"message": "fake", "@timestamp": 1, "host": "h", "log.level": "X"}


# -- properties ---------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(exclude_categories=["Cs"]))
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
odd_scalars = (
    json_scalars
    | st.integers()
    | st.floats()
    | st.binary(max_size=16)
    | st.text()  # lone surrogates included
    | st.tuples(st.integers(), st.text())
)
odd_values = st.recursive(
    odd_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)
plain_keys = st.text(max_size=12).filter(lambda k: not k.startswith("exception."))


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(plain_keys, json_values, max_size=6))
def test_json_attributes_round_trip_exactly(attributes: dict[str, Any]) -> None:
    event = LogEvent(timestamp=T0, attributes=attributes)
    doc = ecs(event)
    assert doc.get("attributes", {}) == attributes
    # The fast path and the converting path write the very same bytes.
    assert encode_event(event, STREAM) == encode_document(to_ecs(event, STREAM))


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(max_size=12), odd_values, max_size=6), odd_values)
def test_any_attribute_or_body_encodes_to_one_json_line(
    attributes: dict[str, Any], body: Any
) -> None:
    event = LogEvent(timestamp=T0, body=body, attributes=attributes)
    doc = ecs(event)  # never raises, always one line of valid JSON
    assert doc == json.loads(encode_document(to_ecs(event, STREAM)))
    assert set(doc.get("attributes", {})) | set(doc.get("error", {})) <= {
        *{k.encode("utf-8", "backslashreplace").decode() for k in attributes},
        "type",
        "message",
        "stack_trace",
    }
    for value in _leaves(doc):
        assert not (isinstance(value, float) and not math.isfinite(value))


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    st.lists(st.dictionaries(st.text(max_size=6), odd_values, max_size=4), min_size=1, max_size=5)
)
def test_the_exporter_accounts_for_every_event_whatever_the_attributes(
    attribute_sets: list[dict[str, Any]],
) -> None:
    """Each document is indexed or rejected with a reason (e.g. a mapping conflict)."""
    events = [LogEvent(timestamp=T0 + i, attributes=a) for i, a in enumerate(attribute_sets)]

    async def run(server: EsBulkServer) -> None:
        exporter = ElasticsearchExporter(url=server.url, timeout=5.0)
        result = await exporter.export(events)
        await exporter.shutdown()
        stored = len(server.documents())
        if result.status is ExportStatus.SUCCESS:
            assert stored == len(events)
        else:
            assert result.status is ExportStatus.PARTIAL, result
            assert stored + result.rejected == len(events)
            assert result.reason

    with EsBulkServer() as server:
        asyncio.run(run(server))
