"""FapilogLoggerProvider: the OTel Logs API writing into a fapilog pipeline, once per call."""

from __future__ import annotations

import logging
import threading
import warnings
from typing import TYPE_CHECKING

import pytest
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.sdk._logs import LoggingHandler
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import TraceFlags

import fapilog
from fapilog.exporters.memory import InMemoryExporter
from fapilog.otel import FapilogLoggerProvider
from fapilog.otel._provider import DedupFapilogHandler

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def pipeline() -> Iterator[tuple[fapilog.Pipeline, InMemoryExporter]]:
    exporter = InMemoryExporter()
    pipe = fapilog.Pipeline(exporters=[exporter], schedule_delay_ms=5, level="INFO")
    yield pipe, exporter
    pipe.shutdown(timeout=5)


def test_an_api_record_becomes_one_event_with_every_field(pipeline) -> None:
    pipe, memory = pipeline
    provider = FapilogLoggerProvider(pipe)
    logger = provider.get_logger("lib.db", "2.0", "https://schema", {"component": "db"})
    tracer = TracerProvider().get_tracer("t")
    error = ValueError("bad row")
    with tracer.start_as_current_span("query") as span:
        logger.emit(
            timestamp=1_700_000_000_000_000_001,
            severity_number=SeverityNumber.WARN,
            severity_text="WARNING",
            body={"sql": "select 1"},
            attributes={"rows": 3, "tags": ("a", "b")},
            event_name="db.query",
            exception=error,
        )
    assert pipe.flush(5)
    [event] = memory.events
    ctx = span.get_span_context()
    expected = (ctx.trace_id, ctx.span_id, int(ctx.trace_flags))
    assert (event.trace_id, event.span_id, event.trace_flags) == expected
    assert event.timestamp == 1_700_000_000_000_000_001
    assert (event.severity_number, event.severity_text) == (13, "WARNING")
    assert event.body == {"sql": "select 1"}
    assert event.attributes["rows"] == 3 and event.attributes["tags"] == ["a", "b"]
    assert event.attributes["exception.type"] == "ValueError"
    assert event.event_name == "db.query"
    scope = event.instrumentation_scope
    assert (scope.name, scope.version, scope.schema_url) == ("lib.db", "2.0", "https://schema")
    assert scope.attributes == {"component": "db"}
    assert event.resource is pipe.resource


def test_a_record_object_with_ids_but_no_span_keeps_its_ids(pipeline) -> None:
    pipe, memory = pipeline
    record = LogRecord(body="from elsewhere", severity_number=SeverityNumber.INFO)
    record.trace_id, record.span_id = 0x1234, 0x56
    record.trace_flags = TraceFlags(1)
    FapilogLoggerProvider(pipe).get_logger("x").emit(record)
    assert pipe.flush(5)
    [event] = memory.events
    assert (event.trace_id, event.span_id, event.trace_flags) == (0x1234, 0x56, 1)
    assert event.severity_text == "INFO", "a missing severity text derives from the number"


def test_records_below_the_pipeline_level_are_skipped_but_unspecified_severity_passes(
    pipeline,
) -> None:
    pipe, memory = pipeline
    logger = FapilogLoggerProvider(pipe).get_logger("x")
    assert not logger.enabled(severity_number=SeverityNumber.DEBUG)
    assert logger.enabled(severity_number=SeverityNumber.ERROR)
    assert logger.enabled()
    logger.emit(body="debug", severity_number=SeverityNumber.DEBUG)
    logger.emit(body="event without severity", event_name="user.signup")
    assert pipe.flush(5)
    assert [e.body for e in memory.events] == ["event without severity"]
    assert memory.events[0].severity_number == 0


def test_the_same_arguments_give_the_same_logger(pipeline) -> None:
    provider = FapilogLoggerProvider(pipeline[0])
    assert provider.get_logger("a", "1") is provider.get_logger("a", "1")
    assert provider.get_logger("a", "1") is not provider.get_logger("a", "2")


def test_without_a_pipeline_it_follows_the_default_one() -> None:
    memory = InMemoryExporter()
    provider = FapilogLoggerProvider()
    logger = provider.get_logger("lib")
    fapilog.configure(exporters=[memory], schedule_delay_ms=5)
    logger.emit(body="to the default", severity_number=SeverityNumber.INFO)
    assert provider.force_flush(5000)
    assert [e.body for e in memory.events] == ["to the default"]
    assert provider.resource is fapilog.default_pipeline().resource


def test_records_emitted_on_a_fapilog_thread_are_dropped_and_counted(pipeline) -> None:
    pipe, memory = pipeline
    logger = FapilogLoggerProvider(pipe).get_logger("x")

    def on_worker() -> None:
        from fapilog.pipeline._pipeline import _worker_local

        _worker_local.active = True
        logger.emit(body="loop", severity_number=SeverityNumber.INFO)

    t = threading.Thread(target=on_worker)
    t.start()
    t.join()
    assert pipe.flush(5)
    assert memory.events == []
    assert pipe.stats().dropped.get("recursion") == 1


def otel_handler(provider: FapilogLoggerProvider) -> logging.Handler:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return LoggingHandler(logger_provider=provider)


@pytest.mark.parametrize("otel_first", [False, True])
def test_stdlib_records_arrive_once_with_an_otel_bridge_also_installed(
    pipeline, otel_first: bool
) -> None:
    pipe, memory = pipeline
    logger = logging.getLogger(f"test.otel.dedup.{otel_first}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    ours = DedupFapilogHandler(pipeline=pipe)
    theirs = otel_handler(FapilogLoggerProvider(pipe))
    handlers = [theirs, ours] if otel_first else [ours, theirs]
    for handler in handlers:
        logger.addHandler(handler)
    try:
        logger.info("same text")
        logger.info("same text")
        logger.warning("other %s", 1)
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
    assert pipe.flush(5)
    assert [e.body for e in memory.events] == ["same text", "same text", "other 1"]
    assert {e.scope_name for e in memory.events} == {logger.name}


def test_without_a_second_bridge_every_stdlib_record_is_kept(pipeline) -> None:
    pipe, memory = pipeline
    logger = logging.getLogger("test.otel.single")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = DedupFapilogHandler(pipeline=pipe)
    logger.addHandler(handler)
    try:
        for i in range(50):
            logger.info("tick %d", i)
    finally:
        logger.removeHandler(handler)
    assert pipe.flush(5)
    assert len(memory.events) == 50


def test_scope_attributes_with_list_values_are_accepted(pipeline) -> None:
    pipe, memory = pipeline
    logger = FapilogLoggerProvider(pipe).get_logger("x", attributes={"tags": ["a", "b"]})
    logger.emit(body="tagged scope", severity_number=SeverityNumber.INFO)
    assert pipe.flush(5)
    assert memory.events[0].instrumentation_scope.attributes["tags"] == ("a", "b")


def test_per_logger_levels_apply_to_otel_api_loggers(pipeline) -> None:
    """fapilog.set_level reaches libraries logging through the OTel Logs API too."""
    from fapilog import _levels

    pipe, memory = pipeline
    provider = FapilogLoggerProvider(pipe)
    chatty, other = provider.get_logger("lib.chatty"), provider.get_logger("lib.other")
    fapilog.set_level("lib.chatty", "ERROR")
    try:
        assert not chatty.enabled(severity_number=SeverityNumber.WARN)
        assert other.enabled(severity_number=SeverityNumber.WARN)
        chatty.emit(severity_number=SeverityNumber.WARN, body="left out")
        chatty.emit(severity_number=SeverityNumber.ERROR, body="kept")
        other.emit(severity_number=SeverityNumber.WARN, body="other kept")
        assert pipe.flush(5)
        assert sorted(e.body for e in memory.events) == ["kept", "other kept"]
    finally:
        _levels.clear()
