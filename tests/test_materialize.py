"""The worker's batch materialisation builds exactly what the one-at-a-time path builds."""

from __future__ import annotations

import time
from typing import Any

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

import fapilog
from fapilog import LogEvent, Pipeline, Processor
from fapilog._logger import _get_context
from fapilog.pipeline._batch import estimate_size
from fapilog.pipeline._materialize import materialize, materialize_batch
from fapilog.processors._builtin import BoundContextProcessor, SpanContextProcessor
from support import RecordingExporter

RESOURCE = Resource({"service.name": "materialize-test"})


@pytest.fixture
def pipeline() -> Any:
    # The records here are built by hand: load what a logger's first capture loads
    # (its OTel scope among them), as a real log call would have.
    from fapilog._logger import _bind_capture

    assert _bind_capture()
    p = Pipeline(exporters=[], redaction=False, resource=RESOURCE)
    yield p
    p.shutdown(timeout=5)


def _rec(logger: Any, msg: Any, args: tuple[Any, ...] = (), **fields: Any) -> tuple[Any, ...]:
    return (time.time_ns(), 9, msg, args, fields, logger, _get_context(), None)


def _slow(rec: tuple[Any, ...]) -> LogEvent:
    """The reference: materialize() then the two built-in enrichers as processors."""
    event = materialize(rec, RESOURCE)
    SpanContextProcessor().on_emit(event)
    BoundContextProcessor().on_emit(event)
    return event


def _records(pipeline: Any) -> list[tuple[Any, ...]]:
    log = pipeline.get_logger("m")
    bound = log.bind(tenant="t-1", status="bound-loses")
    try:
        raise ValueError("boom")
    except ValueError as exc:
        error = exc
    recs = [
        _rec(log, "plain", method="GET", status=200, ms=1.5, ok=True, none=None),
        _rec(log, "no fields"),
        _rec(log, "%s of %d", ("3", 4), k="v"),
        _rec(log, "%d bad", ("x",)),
        _rec(log, {"structured": [1, 2]}, k=1),
        _rec(bound, "bound", status=201),
        _rec(log, "big int", n=2**70, neg=-(2**64)),
        _rec(log, "non-primitive", when=time.gmtime(0), data=b"\x00\x01", items=[1, {"a": 2}]),
        _rec(log, "reserved", event_name="order.paid", exc_info=None, k="v"),
        _rec(log, "empty key", **{"": "x", "k": "v"}),
        (time.time_ns(), 17, "with exc", (), {"exc_info": True}, log, _get_context(), error),
        # The stdlib bridge's nine-slot record (its own severity text).
        (time.time_ns(), 13, "bridged", (), {"k": "v"}, log, _get_context(), None, "WARNING"),
    ]
    tracer = TracerProvider().get_tracer("t")
    with tracer.start_as_current_span("s"), fapilog.bind_context(request_id="r-9", k="ctx-loses"):
        recs.append(_rec(log, "in span", k="v"))
        recs.append(_rec(bound, "in span, bound logger"))
    token = otel_context.attach(
        trace.set_span_in_context(trace.NonRecordingSpan(trace.INVALID_SPAN_CONTEXT))
    )
    try:
        recs.append(_rec(log, "invalid span"))
    finally:
        otel_context.detach(token)
    return recs


def test_batch_builds_the_same_events_as_materialize_plus_enrichers(pipeline: Any) -> None:
    recs = _records(pipeline)
    # Both paths pop reserved keys from the call's own dict: give each its own copy.
    expected = [_slow((*r[:4], dict(r[4]), *r[5:])) for r in recs]
    sizes: list[int] = []
    built, failed, error = materialize_batch(
        [(*r[:4], dict(r[4]), *r[5:]) for r in recs], RESOURCE, True, sizes
    )
    assert (failed, error) == (0, None)
    assert built == expected
    # The sizes summed while checking the fields are estimate_size's, whatever the path.
    assert sizes == [estimate_size(e) for e in built]
    by_body = {e.body: e for e in built if isinstance(e.body, str)}
    assert by_body["in span"].trace_id != 0
    assert by_body["in span"].attributes == {"k": "v", "request_id": "r-9"}
    assert by_body["in span, bound logger"].attributes["tenant"] == "t-1"
    assert by_body["bound"].attributes["status"] == 201
    assert by_body["big int"].attributes == {"n": str(2**70), "neg": str(-(2**64))}
    assert by_body["reserved"].event_name == "order.paid"
    assert "exc_info" not in by_body["reserved"].attributes
    assert by_body["with exc"].attributes["exception.type"] == "ValueError"
    assert by_body["bridged"].severity_text == "WARNING"
    assert by_body["3 of 4"].body == "3 of 4"
    assert by_body["invalid span"].trace_id == 0


def test_every_slot_is_set_on_the_fast_path(pipeline: Any) -> None:
    (event,), _, _ = materialize_batch([_rec(pipeline.get_logger("m"), "x")], RESOURCE, False, [])
    for name in LogEvent.__slots__:
        getattr(event, name)  # AttributeError if the fast path forgot a slot


def test_without_enrich_the_context_is_left_to_the_processors(pipeline: Any) -> None:
    log = pipeline.get_logger("m")
    with fapilog.bind_context(request_id="r-1"):
        rec = _rec(log, "x")
    sizes: list[int] = []
    (event,), _, _ = materialize_batch([rec], RESOURCE, False, sizes)
    assert "request_id" not in event.attributes
    (event,), _, _ = materialize_batch([rec], RESOURCE, True, sizes)
    assert event.attributes["request_id"] == "r-1"
    assert sizes[1] == estimate_size(event) > sizes[0]


def test_a_record_that_cannot_be_built_is_counted_and_the_rest_go_on(pipeline: Any) -> None:
    log = pipeline.get_logger("m")
    bad = (time.time_ns(), 99, "severity out of range", (), {}, log, _get_context(), None)
    sizes: list[int] = []
    built, failed, error = materialize_batch(
        [_rec(log, "a"), bad, _rec(log, "b")], RESOURCE, True, sizes
    )
    assert [e.body for e in built] == ["a", "b"]
    assert len(sizes) == 2
    assert failed == 1
    assert isinstance(error, KeyError)


def test_a_calls_own_fields_become_the_attributes_only_when_nothing_changes(
    pipeline: Any,
) -> None:
    """Already-normal fields are used as they are; anything else is normalised anew."""
    log = pipeline.get_logger("m")
    fields: dict[Any, Any] = {"s": "x", "i": 2**63 - 1, "f": 1.5, "b": False, "n": None}
    rec = (time.time_ns(), 9, "m", (), fields, log, _get_context(), None)
    (event,), _, _ = materialize_batch([rec], RESOURCE, True, [])
    assert event.attributes is fields
    odd_fields: list[dict[Any, Any]] = [
        {"i": 2**63},
        {"": 1},
        {1: "x"},
        {"t": (1, 2)},
        {"e": b"x"},
    ]
    for odd in odd_fields:
        rec = (time.time_ns(), 9, "m", (), odd, log, _get_context(), None)
        sizes: list[int] = []
        (event,), _, _ = materialize_batch([rec], RESOURCE, True, sizes)
        assert event.attributes is not odd
        assert all(type(k) is str and k for k in event.attributes)
        assert sizes == [estimate_size(event)]
    rec = (time.time_ns(), 9, "m", (), {"i": 2**63}, log, _get_context(), None)
    assert materialize_batch([rec], RESOURCE, True, [])[0][0].attributes == {"i": str(2**63)}


class _Tag(Processor):
    def __init__(self) -> None:
        self.saw_trace: list[int] = []

    def on_emit(self, event: LogEvent) -> None:
        self.saw_trace.append(event.trace_id)


def test_a_changed_processor_list_is_honoured_by_the_pipeline() -> None:
    """Enrichers removed or reordered by the user are not silently re-applied."""
    rec = RecordingExporter()
    p = Pipeline(exporters=[rec], redaction=False, resource=RESOURCE)
    tag = _Tag()
    p.processors[:] = [tag, p.processors[0]]  # observe before the span processor; no bound
    log = p.get_logger("m")
    tracer = TracerProvider().get_tracer("t")
    with tracer.start_as_current_span("s"), fapilog.bind_context(request_id="r-1"):
        log.info("x")
    assert p.shutdown(timeout=5)
    (event,) = rec.events
    assert tag.saw_trace == [0]  # the tag ran before any enrichment
    assert event.trace_id != 0
    assert "request_id" not in event.attributes


def test_a_snapshot_builds_the_same_event_as_the_values_it_was_taken_from(pipeline) -> None:
    """snapshot_call only changes when values are read: the built event is identical."""
    import dataclasses
    import datetime as dt
    import decimal
    import enum

    from fapilog.pipeline._materialize import snapshot_call

    @dataclasses.dataclass
    class Point:
        x: int
        tags: list[str]

    class Colour(enum.Enum):
        RED = "red"
        LIST = [1]  # a mutable value: rendered by name

    class Obj:
        def __repr__(self) -> str:
            return "Obj()"

    log = pipeline.get_logger("m")

    def values() -> dict[str, Any]:
        return {
            "flat_list": ["a", 1, 2.5, None, True, b"x"],
            "flat_dict": {"a": 1, 2: "two"},
            "flat_set": {3, 1, 2},
            "nested": {"lines": [{"sku": "a", "qty": (1, [2])}], "empty": {}},
            "tuple": (1, ("x", None)),
            "frozen": frozenset({"b", "a"}),
            "raw": bytearray(b"ab"),
            "point": Point(1, ["t"]),
            "colours": [Colour.RED, Colour.LIST],
            "obj": Obj(),
            "when": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            "amount": decimal.Decimal("1.50"),
            "big": [2**80],
        }

    cases: list[tuple[Any, tuple[Any, ...]]] = [
        ("fields", ()),
        ({"body": [1, {"a": (2,)}]}, ()),
        ("%s and %r", ([1, 2], Obj())),
        ("%s", ((1, 2),)),
        ("%d bad", ([1],)),
    ]
    for msg, args in cases:
        fields = values()
        original = _rec(log, msg, args, **values())
        snap_msg, snap_args = snapshot_call(msg, args, fields)
        snapped = _rec(log, snap_msg, snap_args, **fields)
        a, b = materialize(original, RESOURCE), materialize(snapped, RESOURCE)
        assert a.body == b.body, msg
        assert a.attributes == b.attributes, msg
