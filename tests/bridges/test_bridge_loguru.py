"""FapilogLoguruSink: loguru records become fapilog LogEvents.

Unit tests add the sink to loguru's global logger for one test each (and remove it
again); the end-to-end test sends loguru records through fapilog's OTLP exporter
into a real collector (rotel) and checks what arrived.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import baggage, context
from opentelemetry.sdk.trace import TracerProvider

import fapilog
from fapilog import LogEvent, Pipeline
from fapilog._diagnostics import reporter
from fapilog.bridges import FapilogLoguruSink, loguru_context_patcher
from fapilog.testing import InMemoryExporter

loguru = pytest.importorskip("loguru")
logger = loguru.logger

TRACER = TracerProvider().get_tracer("test_bridge_loguru")


@pytest.fixture
def pipeline() -> Iterator[tuple[Pipeline, InMemoryExporter]]:
    exporter = InMemoryExporter()
    pipe = Pipeline(
        exporters=[exporter], schedule_delay_ms=5, level="trace", baggage_keys=["tenant.id"]
    )
    yield pipe, exporter
    pipe.shutdown(timeout=5)


@pytest.fixture
def sink_for() -> Iterator[Any]:
    """Adds a FapilogLoguruSink to loguru's logger; removes every sink it added."""
    ids: list[int] = []

    def add(target: Any, **options: Any) -> None:
        ids.append(logger.add(FapilogLoguruSink(target), level=0, **options))

    yield add
    for handler_id in ids:
        logger.remove(handler_id)


def events_of(pipe: Pipeline, exporter: InMemoryExporter) -> list[LogEvent]:
    logger.complete()  # drains enqueue=True handlers
    assert pipe.flush(5)
    return exporter.events


def test_record_maps_to_body_severity_scope_code_extra_and_span(pipeline, sink_for) -> None:
    """message → body, level → severity, name → scope, extra → attributes, span ids."""
    pipe, exporter = pipeline
    sink_for(pipe)
    with TRACER.start_as_current_span("checkout") as span:
        logger.bind(order_id=7, tags=("a", 1)).warning("paid {} in {}", 12.5, "EUR")
    line = _line_of("paid {} in {}")
    (event,) = events_of(pipe, exporter)
    assert event.body == "paid 12.5 in EUR"
    assert (event.severity_number, event.severity_text) == (13, "WARN")
    assert event.scope_name == __name__
    assert event.attributes == {
        "order_id": 7,
        "tags": ["a", 1],
        "code.file.path": __file__,
        "code.function.name": "test_record_maps_to_body_severity_scope_code_extra_and_span",
        "code.line.number": line,
        "thread.name": "MainThread",
    }
    ctx = span.get_span_context()
    assert (event.trace_id, event.span_id, event.trace_flags) == (
        ctx.trace_id,
        ctx.span_id,
        int(ctx.trace_flags),
    )


def _line_of(text: str) -> int:
    """The line of this file where ``text`` is logged (for code.line.number)."""
    with open(__file__, encoding="utf-8") as source:
        for number, line in enumerate(source, 1):
            if f'("{text}"' in line and "_line_of" not in line:
                return number
    raise AssertionError(text)


def test_timestamp_is_the_records_time(pipeline, sink_for) -> None:
    """The LogEvent timestamp is loguru's record time, to the microsecond."""
    pipe, exporter = pipeline
    sink_for(pipe)
    seen: list[dt.datetime] = []
    handler = logger.add(lambda m: seen.append(m.record["time"]), level=0)
    try:
        logger.info("tick")
    finally:
        logger.remove(handler)
    (event,) = events_of(pipe, exporter)
    assert event.timestamp == int(seen[0].timestamp() * 1_000_000) * 1000


def test_levels_map_to_otel_severities(pipeline, sink_for) -> None:
    """loguru's levels take the OTel numbers of their logging twins; others keep their name."""
    pipe, exporter = pipeline
    sink_for(pipe)
    try:
        logger.level("NOTICE", no=33)
    except ValueError:
        pass  # already defined by an earlier run in this process
    for name in ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL", "NOTICE"):
        logger.log(name, name.lower())
    got = [(e.body, e.severity_number, e.severity_text) for e in events_of(pipe, exporter)]
    assert got == [
        ("trace", 1, "TRACE"),
        ("debug", 5, "DEBUG"),
        ("info", 9, "INFO"),
        ("success", 12, "SUCCESS"),
        ("warning", 13, "WARN"),
        ("error", 17, "ERROR"),
        ("critical", 21, "FATAL"),
        ("notice", 16, "NOTICE"),
    ]


def test_exception_becomes_exception_attributes(pipeline, sink_for) -> None:
    """logger.exception inside except: exception.type/message/stacktrace."""
    pipe, exporter = pipeline
    sink_for(pipe)
    try:
        raise ValueError("bad total")
    except ValueError:
        logger.exception("charge failed")
    (event,) = events_of(pipe, exporter)
    assert event.severity_text == "ERROR"
    assert event.attributes["exception.type"] == "ValueError"
    assert event.attributes["exception.message"] == "bad total"
    assert 'raise ValueError("bad total")' in event.attributes["exception.stacktrace"]


def test_bridged_fields_are_redacted_before_export(pipeline, sink_for) -> None:
    """extra fields go through the pipeline's redaction like any fapilog field."""
    pipe, exporter = pipeline
    sink_for(pipe)
    logger.bind(password="hunter2").info("login")
    (event,) = events_of(pipe, exporter)
    assert event.attributes["password"] == "[REDACTED]"


def test_baggage_bound_context_and_logger_target(pipeline, sink_for) -> None:
    """Allow-listed baggage, bind_context fields and a Logger target's bound fields apply."""
    pipe, exporter = pipeline
    sink_for(pipe.get_logger("billing").bind(region="eu"))
    token = context.attach(baggage.set_baggage("tenant.id", "acme"))
    try:
        with fapilog.bind_context(request_id="r-1"):
            logger.info("hi")
    finally:
        context.detach(token)
    (event,) = events_of(pipe, exporter)
    assert event.attributes["tenant.id"] == "acme"
    assert event.attributes["request_id"] == "r-1"
    assert event.attributes["region"] == "eu"


def test_enqueue_with_patcher_keeps_span_baggage_bound_fields_and_traceback(
    pipeline, sink_for
) -> None:
    """enqueue=True runs the sink on loguru's thread; the patcher carries the context over."""
    pipe, exporter = pipeline
    sink_for(pipe, enqueue=True)
    patched = logger.patch(loguru_context_patcher)
    token = context.attach(baggage.set_baggage("tenant.id", "acme"))
    try:
        with fapilog.bind_context(request_id="r-2"), TRACER.start_as_current_span("q") as span:
            try:
                raise KeyError("sku")
            except KeyError:
                patched.exception("queued")
    finally:
        context.detach(token)
    (event,) = events_of(pipe, exporter)
    ctx = span.get_span_context()
    assert (event.trace_id, event.span_id) == (ctx.trace_id, ctx.span_id)
    assert event.attributes["tenant.id"] == "acme"
    assert event.attributes["request_id"] == "r-2"
    assert event.attributes["thread.name"] == "MainThread"
    assert event.attributes["exception.type"] == "KeyError"
    assert 'raise KeyError("sku")' in event.attributes["exception.stacktrace"]
    assert "fapilog.otel_context" not in event.attributes


def test_enqueue_without_patcher_loses_the_span_and_says_so(
    pipeline, sink_for, capfd: pytest.CaptureFixture[str]
) -> None:
    """Without the patcher, enqueued records carry no trace ids and one diagnostic explains."""
    pipe, exporter = pipeline
    reporter.reset()
    sink_for(pipe, enqueue=True)
    with TRACER.start_as_current_span("lost"):
        logger.info("one")
        logger.info("two")
    events = events_of(pipe, exporter)
    assert [(e.body, e.trace_id) for e in events] == [("one", 0), ("two", 0)]
    assert reporter.flush(5)
    err = capfd.readouterr().err
    assert err.count("loguru_context_patcher") == 1


class UnpicklableError(Exception):
    """An exception loguru cannot pickle across its queue."""

    def __reduce__(self) -> Any:
        raise TypeError("not picklable")


def test_enqueue_without_patcher_keeps_what_survived_of_the_exception(pipeline, sink_for) -> None:
    """Without the patcher an enqueued exception keeps its type and message (no traceback);
    an unpicklable one keeps its qualified type name."""
    pipe, exporter = pipeline
    reporter.reset()
    sink_for(pipe, enqueue=True)
    for exc in (ValueError("bad"), UnpicklableError("x")):
        try:
            raise exc
        except Exception:
            logger.exception("failed")
    first, second = events_of(pipe, exporter)
    assert first.attributes["exception.type"] == "ValueError"
    assert first.attributes["exception.message"] == "bad"
    assert second.attributes["exception.type"] == f"{__name__}.UnpicklableError"
    assert "exception.message" not in second.attributes


def test_failures_are_counted_never_raised(pipeline) -> None:
    """A record the sink cannot read is counted as bridge_error; the caller sees nothing."""
    pipe, exporter = pipeline

    class Broken(str):
        record: dict[str, Any] = {"level": None}

    FapilogLoguruSink(pipe)(Broken("x"))  # type: ignore[arg-type]
    assert events_of(pipe, exporter) == []
    assert pipe.stats().dropped == {"bridge_error": 1}


def test_default_pipeline_is_used_without_a_target(sink_for) -> None:
    """target=None follows fapilog.configure()."""
    exporter = InMemoryExporter()
    pipe = fapilog.configure(exporters=[exporter], schedule_delay_ms=5)
    sink_for(None)
    logger.info("to default")
    assert [e.body for e in events_of(pipe, exporter)] == ["to default"]


# -- end to end ------------------------------------------------------------------------


@pytest.mark.e2e
def test_e2e_loguru_records_reach_the_collector_correlated_exactly_once(
    rotel_collector, sink_for, monkeypatch: pytest.MonkeyPatch
) -> None:
    """loguru → fapilog → OTLP/HTTP → rotel: each record once, with its span's ids."""
    for name in list(os.environ):
        if name.startswith(("OTEL_", "FAPILOG_")):
            monkeypatch.delenv(name)
    from fapilog.exporters.otlp import OTLPExporter

    pipe = Pipeline(
        exporters=[
            OTLPExporter(endpoint=rotel_collector.http_logs_endpoint, protocol="http/protobuf")
        ],
        schedule_delay_ms=5,
        service_name="bridge-loguru",
    )
    sink_for(pipe)
    spans = {}
    try:
        for i in range(20):
            with TRACER.start_as_current_span(f"op-{i}") as span:
                logger.bind(seq=i).info("step {}", i)
                spans[i] = span.get_span_context()
        assert pipe.shutdown(timeout=10)
    finally:
        pipe.shutdown(timeout=5)
    assert rotel_collector.wait_for(20, timeout=10) == 20
    rotel_collector.stop()
    records = rotel_collector.records()
    assert sorted(r.attributes["seq"] for r in records) == list(range(20))
    for record in records:
        seq = record.attributes["seq"]
        ctx = spans[seq]
        assert record.trace_id == f"{ctx.trace_id:032x}"
        assert record.span_id == f"{ctx.span_id:016x}"
        assert (record.body, record.severity_text, record.scope_name) == (
            f"step {seq}",
            "INFO",
            __name__,
        )
        assert record.attributes["code.function.name"] == (
            "test_e2e_loguru_records_reach_the_collector_correlated_exactly_once"
        )
        assert record.resource_attributes["service.name"] == "bridge-loguru"
    assert pipe.stats().exported == 20
