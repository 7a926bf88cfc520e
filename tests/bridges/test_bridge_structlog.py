"""FapilogStructlogProcessor: structlog event dicts become fapilog LogEvents.

Unit tests run the processor against a pipeline with an in-memory exporter; the
end-to-end test sends structlog events through fapilog's OTLP exporter into a real
collector (rotel) and checks what arrived.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from opentelemetry import baggage, context
from opentelemetry.sdk.trace import TracerProvider

import fapilog
from fapilog import Exporter, ExportResult, LogEvent, Pipeline
from fapilog.bridges import FapilogStructlogProcessor
from fapilog.testing import InMemoryExporter

structlog = pytest.importorskip("structlog")

TRACER = TracerProvider().get_tracer("test_bridge_structlog")


@pytest.fixture
def pipeline() -> Iterator[tuple[Pipeline, InMemoryExporter]]:
    exporter = InMemoryExporter()
    pipe = Pipeline(
        exporters=[exporter], schedule_delay_ms=5, level="debug", baggage_keys=["tenant.id"]
    )
    yield pipe, exporter
    pipe.shutdown(timeout=5)


def bound(target: Any, *processors: Any, **kwargs: Any) -> Any:
    """A structlog logger (no global configuration) ending in the fapilog processor."""
    return structlog.wrap_logger(
        structlog.testing.CapturingLogger(),
        processors=[*processors, FapilogStructlogProcessor(target, **kwargs)],
        wrapper_class=structlog.make_filtering_bound_logger(0),
    )


def events_of(pipe: Pipeline, exporter: InMemoryExporter) -> list[LogEvent]:
    assert pipe.flush(5)
    return exporter.events


def test_event_dict_maps_to_body_severity_scope_attributes_and_span(pipeline) -> None:
    """event → body, level → severity, logger → scope, other keys → attributes, span ids."""
    pipe, exporter = pipeline
    log = bound(pipe, structlog.processors.add_log_level).bind(logger="shop", user="u1")
    with TRACER.start_as_current_span("checkout") as span:
        log.warning("paid", order_id=7, amount=12.5, tags=("a", "b"))
    (event,) = events_of(pipe, exporter)
    assert event.body == "paid"
    assert (event.severity_number, event.severity_text) == (13, "WARN")
    assert event.scope_name == "shop"
    assert event.attributes == {"user": "u1", "order_id": 7, "amount": 12.5, "tags": ["a", "b"]}
    ctx = span.get_span_context()
    assert (event.trace_id, event.span_id) == (ctx.trace_id, ctx.span_id)
    assert event.trace_flags == int(ctx.trace_flags)


def test_exception_becomes_exception_attributes(pipeline) -> None:
    """log.exception inside except: exception.type/message/stacktrace, severity ERROR."""
    pipe, exporter = pipeline
    log = bound(pipe, structlog.processors.add_log_level)
    try:
        raise ValueError("bad total")
    except ValueError:
        log.exception("charge failed", order_id=7)
    (event,) = events_of(pipe, exporter)
    assert event.severity_text == "ERROR"
    assert event.attributes["exception.type"] == "ValueError"
    assert event.attributes["exception.message"] == "bad total"
    assert 'raise ValueError("bad total")' in event.attributes["exception.stacktrace"]
    assert "exc_info" not in event.attributes


def test_preformatted_exception_text_is_kept_as_stacktrace(pipeline) -> None:
    """After format_exc_info, the rendered text lands in exception.stacktrace."""
    pipe, exporter = pipeline
    log = bound(pipe, structlog.processors.format_exc_info)
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        log.error("oops", exc_info=True)
    (event,) = events_of(pipe, exporter)
    assert "ZeroDivisionError" in event.attributes["exception.stacktrace"]
    assert "exception" not in event.attributes


def test_event_is_dropped_unless_passthrough(pipeline) -> None:
    """By default structlog does not output the event again; passthrough lets it continue."""
    pipe, exporter = pipeline
    dropped = bound(pipe)
    dropped.info("once")
    assert dropped._logger.calls == []
    passed = structlog.wrap_logger(
        structlog.testing.CapturingLogger(),
        processors=[
            FapilogStructlogProcessor(pipe, passthrough=True),
            structlog.processors.KeyValueRenderer(),
        ],
    )
    passed.info("twice", n=1)
    assert [c.args[0] for c in passed._logger.calls] == ["n=1 event='twice'"]
    assert [e.body for e in events_of(pipe, exporter)] == ["once", "twice"]


def test_method_name_sets_severity_when_no_level_key(pipeline) -> None:
    """Without add_log_level the method name decides; unknown names keep their text."""
    pipe, exporter = pipeline
    processor = FapilogStructlogProcessor(pipe, passthrough=True)
    for method in ("debug", "info", "warning", "error", "critical", "msg", "exception"):
        processor(None, method, {"event": method})
    processor(None, "info", {"event": "custom", "level": "notice"})
    got = [(e.body, e.severity_number, e.severity_text) for e in events_of(pipe, exporter)]
    assert got == [
        ("debug", 5, "DEBUG"),
        ("info", 9, "INFO"),
        ("warning", 13, "WARN"),
        ("error", 17, "ERROR"),
        ("critical", 21, "FATAL"),
        ("msg", 9, "INFO"),
        ("exception", 17, "ERROR"),
        ("custom", 9, "NOTICE"),
    ]


def test_scope_falls_back_to_the_wrapped_loggers_name_then_the_default(pipeline) -> None:
    """No ``logger`` key: the wrapped stdlib logger's name, else ``default_scope``."""
    pipe, exporter = pipeline
    processor = FapilogStructlogProcessor(pipe, passthrough=True, default_scope="app")
    processor(logging.getLogger("lib.client"), "info", {"event": "named"})
    processor(structlog.PrintLogger(), "info", {"event": "anonymous"})
    assert [e.scope_name for e in events_of(pipe, exporter)] == ["lib.client", "app"]


def test_pipeline_level_filters_bridged_events() -> None:
    """Events below the pipeline's level are not captured (and not counted)."""
    exporter = InMemoryExporter()
    pipe = Pipeline(exporters=[exporter], schedule_delay_ms=5, level="warning")
    try:
        log = bound(pipe, structlog.processors.add_log_level)
        log.info("quiet")
        log.error("loud")
        assert [e.body for e in events_of(pipe, exporter)] == ["loud"]
        assert pipe.stats().emitted == 1
    finally:
        pipe.shutdown(timeout=5)


def test_timestamps_positional_args_and_callsite_keys(pipeline) -> None:
    """Unambiguous timestamps become the record time; callsite keys get OTel names."""
    pipe, exporter = pipeline
    processor = FapilogStructlogProcessor(pipe, passthrough=True)
    when = dt.datetime(2024, 5, 1, 12, 0, 0, 250000, tzinfo=dt.UTC)
    processor(None, "info", {"event": "iso", "timestamp": when.isoformat()})
    processor(None, "info", {"event": "epoch", "timestamp": 1714564800.5})
    processor(None, "info", {"event": "naive", "timestamp": "2024-05-01 12:00:00"})
    processor(None, "info", {"event": "%s of %d", "positional_args": ("3", 4)})
    processor(None, "info", {"event": "%(n)d left", "positional_args": ({"n": 2},)})
    processor(
        None,
        "info",
        {
            "event": "site",
            "pathname": "/app/x.py",
            "func_name": "f",
            "lineno": 3,
            "thread_name": "T",
        },
    )
    iso, epoch, naive, formatted, named, site = events_of(pipe, exporter)
    assert iso.timestamp == 1714564800_250000000 and "timestamp" not in iso.attributes
    assert epoch.timestamp == 1714564800_500000000
    assert naive.attributes["timestamp"] == "2024-05-01 12:00:00"
    assert naive.timestamp > 1714564800_500000000  # the time of the call
    assert formatted.body == "3 of 4"
    assert named.body == "2 left"
    assert site.attributes == {
        "code.file.path": "/app/x.py",
        "code.function.name": "f",
        "code.line.number": 3,
        "thread.name": "T",
    }


def test_bridged_fields_are_redacted_before_export(pipeline) -> None:
    """Event dict keys go through the pipeline's redaction like any fapilog field."""
    pipe, exporter = pipeline
    bound(pipe).info("login", password="hunter2")
    (event,) = events_of(pipe, exporter)
    assert event.attributes["password"] == "[REDACTED]"


def test_baggage_and_bound_context_are_enriched(pipeline) -> None:
    """The caller's allow-listed baggage and bind_context fields reach the record."""
    pipe, exporter = pipeline
    log = bound(pipe)
    token = context.attach(
        baggage.set_baggage("secret", "x", baggage.set_baggage("tenant.id", "acme"))
    )
    try:
        with fapilog.bind_context(request_id="r-1"):
            log.info("hi")
    finally:
        context.detach(token)
    (event,) = events_of(pipe, exporter)
    assert event.attributes == {"tenant.id": "acme", "request_id": "r-1"}


def test_fapilog_logger_target_supplies_pipeline_bound_fields_and_scope(pipeline) -> None:
    """A Logger target: its pipeline, its bound fields, its name as the default scope."""
    pipe, exporter = pipeline
    log = bound(pipe.get_logger("billing").bind(region="eu"))
    log.info("charged", region="us-override")
    log.info("named", logger="billing.sub")
    first, second = events_of(pipe, exporter)
    assert (first.scope_name, first.attributes) == ("billing", {"region": "us-override"})
    assert (second.scope_name, second.attributes) == ("billing.sub", {"region": "eu"})


def test_default_pipeline_is_used_without_a_target() -> None:
    """target=None follows fapilog.configure()."""
    exporter = InMemoryExporter()
    pipe = fapilog.configure(exporters=[exporter], schedule_delay_ms=5)
    bound(None).info("to default")
    assert [e.body for e in events_of(pipe, exporter)] == ["to default"]


async def test_async_methods_keep_the_callers_span(pipeline) -> None:
    """structlog's ainfo runs processors in an executor; the copied Context keeps the span."""
    pipe, exporter = pipeline
    log = bound(pipe)
    with TRACER.start_as_current_span("async") as span:
        await log.ainfo("from task")
    (event,) = events_of(pipe, exporter)
    assert event.span_id == span.get_span_context().span_id


def test_failures_are_counted_never_raised(pipeline) -> None:
    """A record the bridge cannot capture is counted as bridge_error; the app sees nothing."""
    pipe, exporter = pipeline

    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no")

    processor = FapilogStructlogProcessor(pipe)
    with pytest.raises(structlog.DropEvent):
        processor(None, "info", {"event": "x", "level": Unprintable()})
    assert events_of(pipe, exporter) == []
    stats = pipe.stats()
    assert stats.dropped == {"bridge_error": 1}
    assert stats.emitted == stats.exported + stats.dropped_total + stats.in_flight


def test_structlog_inside_an_exporter_does_not_recurse() -> None:
    """structlog calls made on the worker (inside an exporter) are counted, not re-fed."""

    class Chatty(Exporter):
        name = "chatty"

        def __init__(self) -> None:
            self.bodies: list[Any] = []
            self.log: Any = None

        async def export(self, batch: Sequence[LogEvent]) -> ExportResult:
            self.log.info("sending", n=len(batch))
            self.bodies.extend(e.body for e in batch)
            return ExportResult.success()

    exporter = Chatty()
    pipe = Pipeline(exporters=[exporter], schedule_delay_ms=5)
    try:
        exporter.log = bound(pipe)
        exporter.log.info("hello")
        assert pipe.flush(5)
        assert exporter.bodies == ["hello"]
        assert pipe.stats().dropped.get("recursion", 0) == 1
    finally:
        pipe.shutdown(timeout=5)


def test_bridges_import_without_structlog_or_loguru() -> None:
    """fapilog.bridges imports without the optional libraries; using one names the extra."""
    code = (
        "import sys; sys.modules['structlog'] = None; sys.modules['loguru'] = None\n"
        "import fapilog.bridges as b\n"
        "for cls in (b.FapilogStructlogProcessor, b.FapilogLoguruSink):\n"
        "    try:\n"
        "        cls()\n"
        "    except ImportError as exc:\n"
        "        print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    lines = done.stdout.splitlines()
    assert "pip install 'fapilog[structlog]'" in lines[0]
    assert "pip install 'fapilog[loguru]'" in lines[1]


# -- end to end ------------------------------------------------------------------------


@pytest.mark.e2e
def test_e2e_structlog_records_reach_the_collector_correlated_exactly_once(
    rotel_collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """structlog → fapilog → OTLP/gRPC → rotel: each record once, with its span's ids."""
    for name in list(os.environ):
        if name.startswith(("OTEL_", "FAPILOG_")):
            monkeypatch.delenv(name)
    from fapilog.exporters.otlp import OTLPExporter

    pipe = Pipeline(
        exporters=[OTLPExporter(endpoint=rotel_collector.grpc_endpoint, protocol="grpc")],
        schedule_delay_ms=5,
        service_name="bridge-structlog",
    )
    log = bound(pipe, structlog.processors.add_log_level).bind(logger="e2e.structlog")
    spans = {}
    try:
        for i in range(20):
            with TRACER.start_as_current_span(f"op-{i}") as span:
                log.info("step", seq=i)
                spans[i] = span.get_span_context()
        assert pipe.shutdown(timeout=10)
    finally:
        pipe.shutdown(timeout=5)
    assert rotel_collector.wait_for(20, timeout=10) == 20
    rotel_collector.stop()
    records = rotel_collector.records()
    assert sorted(r.attributes["seq"] for r in records) == list(range(20))
    for record in records:
        ctx = spans[record.attributes["seq"]]
        assert record.trace_id == f"{ctx.trace_id:032x}"
        assert record.span_id == f"{ctx.span_id:016x}"
        assert (record.body, record.severity_text, record.scope_name) == (
            "step",
            "INFO",
            "e2e.structlog",
        )
        assert record.resource_attributes["service.name"] == "bridge-structlog"
    assert pipe.stats().exported == 20


def test_stdlib_logging_is_untouched(pipeline) -> None:
    """The processor never installs logging handlers (no global side effects)."""
    before = list(logging.getLogger().handlers)
    FapilogStructlogProcessor(pipeline[0])
    assert logging.getLogger().handlers == before
