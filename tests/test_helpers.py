"""fapilog.catch (log an exception once) and Logger.timed (duration and outcome)."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import fapilog
from fapilog import Pipeline
from fapilog import _helpers as helpers
from support import RecordingExporter

FILE = __file__


def _here() -> int:
    return sys._getframe(1).f_lineno


@pytest.fixture
def rec() -> Iterator[tuple[Pipeline, RecordingExporter]]:
    exporter = RecordingExporter()
    pipeline = Pipeline(exporters=[exporter], schedule_delay_ms=5, callsite="on", level="trace")
    yield pipeline, exporter
    pipeline.shutdown(timeout=5)


def _events(pipeline: Pipeline, exporter: RecordingExporter) -> list[fapilog.LogEvent]:
    assert pipeline.flush(timeout=5)
    return exporter.events


# -- catch ----------------------------------------------------------------------------------


def test_catch_logs_the_exception_with_its_stack_and_reraises(rec) -> None:
    pipeline, exporter = rec
    log = pipeline.get_logger("jobs")

    @fapilog.catch(logger=log)
    def divide(a: int, b: int) -> float:
        return a / b  # the line the event points at

    line = divide.__wrapped__.__code__.co_firstlineno + 2  # type: ignore[attr-defined]
    assert divide(6, 3) == 2
    with pytest.raises(ZeroDivisionError):
        divide(1, 0)
    (event,) = _events(pipeline, exporter)
    assert event.severity_text == "ERROR"
    assert event.body == (
        "exception caught in "
        "test_catch_logs_the_exception_with_its_stack_and_reraises.<locals>.divide"
    )
    assert event.attributes["exception.type"] == "ZeroDivisionError"
    assert "return a / b" in event.attributes["exception.stacktrace"]
    assert event.attributes["code.file.path"] == FILE
    assert event.attributes["code.line.number"] == line
    assert event.scope_name == "jobs"


def test_nested_catches_log_an_exception_once(rec) -> None:
    """The innermost catch logs; outer decorators and blocks re-raise without logging."""
    pipeline, exporter = rec
    log = pipeline.get_logger("x")

    @fapilog.catch(logger=log)
    def inner() -> None:
        raise ValueError("bad")

    @fapilog.catch(logger=log)
    def outer() -> None:
        inner()

    with pytest.raises(ValueError), fapilog.catch(logger=log):
        outer()
    (event,) = _events(pipeline, exporter)
    assert event.attributes["exception.message"] == "bad"
    assert event.body.endswith("inner")


def test_catch_without_reraise_returns_the_default_or_swallows(rec) -> None:
    pipeline, exporter = rec
    log = pipeline.get_logger("x")

    @fapilog.catch(logger=log, reraise=False, default=-1)
    def parse(text: str) -> int:
        return int(text)

    assert parse("7") == 7
    assert parse("seven") == -1
    line = _here() + 2
    with log.catch(reraise=False, message="cleanup failed", level="warning"):
        raise OSError("disk")
    parsed, cleanup = _events(pipeline, exporter)
    assert parsed.attributes["exception.type"] == "ValueError"
    assert (cleanup.body, cleanup.severity_text) == ("cleanup failed", "WARN")
    assert cleanup.attributes["exception.type"] == "OSError"
    assert cleanup.attributes["code.line.number"] == line
    assert cleanup.attributes["code.function.name"] == (
        "test_catch_without_reraise_returns_the_default_or_swallows"
    )


async def test_catch_decorates_coroutine_functions_and_async_blocks(rec) -> None:
    pipeline, exporter = rec
    log = pipeline.get_logger("x")

    @fapilog.catch(logger=log, reraise=False, default="none")
    async def fetch(key: str) -> str:
        raise KeyError(key)

    assert await fetch("k") == "none"
    with pytest.raises(RuntimeError):
        async with fapilog.catch(logger=log):
            raise RuntimeError("async block")
    first, second = _events(pipeline, exporter)
    assert first.attributes["exception.type"] == "KeyError"
    assert second.attributes["exception.message"] == "async block"


def test_catch_only_what_it_is_told_and_never_base_exceptions(rec) -> None:
    """``exception=`` filters; KeyboardInterrupt and other BaseExceptions pass unlogged."""
    pipeline, exporter = rec
    log = pipeline.get_logger("x")

    @fapilog.catch(logger=log, exception=ValueError, reraise=False)
    def picky(exc: BaseException) -> None:
        raise exc

    with pytest.raises(KeyError):
        picky(KeyError("k"))
    with pytest.raises(KeyboardInterrupt), fapilog.catch(logger=log, reraise=False):
        raise KeyboardInterrupt
    picky(ValueError("v"))
    assert [e.attributes["exception.type"] for e in _events(pipeline, exporter)] == ["ValueError"]


def test_bare_catch_logs_to_the_functions_module_on_the_default_pipeline() -> None:
    fapilog.configure(exporters=["memory"], callsite="off")

    @fapilog.catch
    def fail() -> None:
        raise LookupError("missing")

    with pytest.raises(LookupError):
        fail()
    pipeline = fapilog.default_pipeline()
    assert pipeline.flush(5)
    (event,) = pipeline.exporters[0].events  # type: ignore[attr-defined]
    assert event.scope_name == __name__
    assert "code.line.number" not in event.attributes  # callsite off
    assert event.attributes["exception.type"] == "LookupError"


# -- timed ----------------------------------------------------------------------------------


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """perf_counter_ns for the helpers: each timing starts at 0 and ends at 12.5 ms."""
    ticks = [0, 12_500_000] * 10

    monkeypatch.setattr(helpers, "perf_counter_ns", lambda: ticks.pop(0))
    return ticks


def test_timed_block_logs_duration_outcome_and_fields(rec, clock) -> None:
    pipeline, exporter = rec
    log = pipeline.get_logger("db")
    line = _here() + 1
    with log.timed("db.query", table="orders"):
        pass
    with pytest.raises(TimeoutError), log.timed("db.query", level="debug", table="orders"):
        raise TimeoutError
    ok, failed = _events(pipeline, exporter)
    assert (ok.body, ok.severity_text) == ("db.query", "INFO")
    assert {k: ok.attributes[k] for k in ("duration_ms", "outcome", "table")} == {
        "duration_ms": 12.5,
        "outcome": "ok",
        "table": "orders",
    }
    assert ok.attributes["code.line.number"] == line
    assert failed.severity_text == "ERROR"  # an error is logged at ERROR whatever level=
    assert failed.attributes["outcome"] == "error"
    assert failed.attributes["error.type"] == "TimeoutError"
    assert "exception.stacktrace" not in failed.attributes  # catch() logs stacks, not timed


async def test_timed_decorates_sync_and_async_functions(rec, clock) -> None:
    pipeline, exporter = rec
    log = pipeline.get_logger("x")

    class Boom(Exception):
        pass

    @log.timed("sync", kind="s")
    def work(n: int) -> int:
        return n * 2

    @log.timed("async")
    async def awork(fail: bool) -> str:
        if fail:
            raise Boom
        return "done"

    assert work(2) == 4
    assert await awork(False) == "done"
    with pytest.raises(Boom):
        await awork(True)
    events = _events(pipeline, exporter)
    assert [(e.body, e.attributes["outcome"], e.attributes["duration_ms"]) for e in events] == [
        ("sync", "ok", 12.5),
        ("async", "ok", 12.5),
        ("async", "error", 12.5),
    ]
    assert events[2].attributes["error.type"] == (
        "test_helpers.test_timed_decorates_sync_and_async_functions.<locals>.Boom"
    )
    assert events[0].attributes["code.function.name"].endswith("<locals>.work")
    assert events[0].attributes["code.line.number"] == work.__wrapped__.__code__.co_firstlineno  # type: ignore[attr-defined]


def test_timed_event_belongs_to_the_active_span(rec) -> None:
    pipeline, exporter = rec
    tracer = TracerProvider().get_tracer("t")
    with tracer.start_as_current_span("request") as span, pipeline.get_logger("x").timed("step"):
        pass
    (event,) = _events(pipeline, exporter)
    assert event.span_id == span.get_span_context().span_id


def test_timed_with_a_tracer_opens_a_span_around_the_block(rec) -> None:
    pipeline, exporter = rec
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    log = pipeline.get_logger("x")
    with log.timed("charge", span=provider.get_tracer("t"), order_id=7):
        pass
    with pytest.raises(ValueError), log.timed("charge", span=provider.get_tracer("t")):
        raise ValueError("declined")
    ok, failed = _events(pipeline, exporter)
    first, second = spans.get_finished_spans()
    assert (first.name, first.attributes["order_id"]) == ("charge", 7)
    assert ok.span_id == first.context.span_id  # logged inside its own span
    assert failed.span_id == second.context.span_id
    assert second.status.status_code is StatusCode.ERROR


def test_timed_span_true_without_a_tracer_provider_still_logs(rec) -> None:
    """span=True uses the global provider: without one, a no-op span and the event as usual."""
    pipeline, exporter = rec
    with pipeline.get_logger("x").timed("step", span=True):
        pass
    (event,) = _events(pipeline, exporter)
    assert event.attributes["outcome"] == "ok"


def test_helpers_respect_the_level(rec) -> None:
    exporter = RecordingExporter()
    pipeline = Pipeline(exporters=[exporter], schedule_delay_ms=5, level="warning")
    log = pipeline.get_logger("x")
    with log.timed("quiet"):
        pass
    with log.catch(reraise=False, level="info"):
        raise ValueError
    with log.timed("loud"), log.catch(reraise=False):
        raise ValueError
    assert pipeline.flush(5)
    assert [e.body for e in exporter.events] == [
        "exception caught in test_helpers_respect_the_level"
    ]
    pipeline.shutdown()
