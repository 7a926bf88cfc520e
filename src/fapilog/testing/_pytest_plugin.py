"""pytest plugin (``pytest11`` entry point): fixtures and per-test reports for fapilog.

Fixtures: ``fapilog_logs``, ``fapilog_pipeline`` and ``fapilog_collector``.

Every test's *call* phase is also observed (see docs/testing.md):

* each live pipeline gets an observing processor, appended last (so it sees events
  as they would be exported: after redaction and filters) for the duration of the
  call, and pipelines created during the call get it as they are built;
* at the end of the call every live pipeline is flushed, synchronously and bounded
  by ``fapilog_flush_timeout``, while pytest still captures the test's output, so a
  console exporter's lines land in that test's "Captured stderr call";
* the events seen are attached to the test's report as a "Captured fapilog call"
  section (shown, like pytest's own captured output, for failing tests);
* a test that requests ``caplog`` gets its events as :class:`logging.LogRecord`
  objects in ``caplog.records`` as soon as each logging call returns: its own
  context's events are captured synchronously (like ``capture_logs()``: processed,
  not exported); events of other threads arrive when their pipeline processes them,
  at the latest at the end of the call.

Kept import-light: fapilog itself is imported only when a fixture is used, or at a
test's call phase once the test session has imported it.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterator

    from fapilog._event import LogEvent
    from fapilog.pipeline._pipeline import Pipeline
    from fapilog.processors._base import Processor

_SECTION = "fapilog"
_DEFAULT_FLUSH_TIMEOUT = 5.0

# OTel severity number ranges (1-4 TRACE, 5-8 DEBUG, ... 21-24 FATAL) to stdlib levels.
_STDLIB_LEVELS = (5, logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "fapilog_report",
        type="bool",
        default=True,
        help="fapilog: flush pipelines at the end of each test's call phase and attach "
        "its events to the report as 'Captured fapilog call' (default: true)",
    )
    parser.addini(
        "fapilog_caplog",
        type="bool",
        default=True,
        help="fapilog: put fapilog events into caplog.records when a test requests "
        "caplog; the test's own events are then captured, not exported (default: true)",
    )
    parser.addini(
        "fapilog_flush_timeout",
        type="string",
        default=str(_DEFAULT_FLUSH_TIMEOUT),
        help="fapilog: seconds the end-of-call flush may take in total (default: 5)",
    )


# -- fixtures ---------------------------------------------------------------------------


@pytest.fixture
def fapilog_logs() -> Iterator[Any]:
    """Events logged during the test (see :func:`fapilog.testing.capture_logs`)."""
    from fapilog.testing import capture_logs

    with capture_logs() as logs:
        yield logs


@pytest.fixture
def fapilog_pipeline() -> Iterator[Any]:
    """A private pipeline exporting to an in-memory exporter, shut down after the test.

    ``fapilog_pipeline.exporters[0]`` is the :class:`~fapilog.testing.InMemoryExporter`.
    """
    from fapilog import Pipeline
    from fapilog.testing import InMemoryExporter

    pipeline = Pipeline(exporters=[InMemoryExporter()], schedule_delay_ms=10)
    try:
        yield pipeline
    finally:
        pipeline.shutdown(timeout=5)


@pytest.fixture
def fapilog_collector() -> Iterator[Any]:
    """A real OpenTelemetry collector on 127.0.0.1, printing every record it receives.

    A started :class:`~fapilog.testing.RotelCollector` (the ``rotel-agent`` binary of
    the ``rotel`` package), stopped after the test. Point an OTLP exporter at
    ``fapilog_collector.grpc_endpoint`` or ``.http_logs_endpoint`` and read back
    ``fapilog_collector.records()``. Skips the test when ``rotel`` is not installed.
    """
    pytest.importorskip("rotel", reason="the fapilog_collector fixture needs: pip install rotel")
    from fapilog.testing import RotelCollector

    with RotelCollector() as collector:
        yield collector


# -- the call phase -----------------------------------------------------------------------


class _Collector:
    """The events one test's call phase produced, in the order they were processed."""

    def __init__(self, handler: logging.Handler | None) -> None:
        self.events: list[LogEvent] = []
        self._seen: set[int] = set()
        self._lock = threading.Lock()
        self._handler = handler

    def add(self, event: LogEvent) -> None:
        with self._lock:
            if id(event) in self._seen:  # a captured event passes the observer, then the sink
                return
            self._seen.add(id(event))
            self.events.append(event)
        handler = self._handler
        if handler is not None:
            record = to_log_record(event)
            if record.levelno >= handler.level:
                handler.handle(record)

    def close(self) -> None:
        self._handler = None


class _Observer:
    """Holds the processor class (built lazily: it subclasses fapilog's Processor)."""

    processor: Processor | None = None
    collector: _Collector | None = None


def _observer() -> Processor:
    if _Observer.processor is None:
        from fapilog.processors._base import Processor

        class _PytestObserver(Processor):
            """Hands every event to the running test's collector; changes nothing."""

            keeps_size = True

            def on_emit(self, event: LogEvent) -> None:
                collector = _Observer.collector
                if collector is not None:
                    collector.add(event)

            def __repr__(self) -> str:
                return "<fapilog pytest observer>"

        _Observer.processor = _PytestObserver()
    return _Observer.processor


def _attach(pipeline: Pipeline) -> None:
    observer = _observer()
    if not any(p is observer for p in pipeline.processors):
        # A new list, swapped in one assignment: the worker reads it once per chunk.
        pipeline.processors = [*pipeline.processors, observer]


def _detach(pipeline: Pipeline) -> None:
    observer = _observer()
    if any(p is observer for p in pipeline.processors):
        pipeline.processors = [p for p in pipeline.processors if p is not observer]


class _CallState:
    """What :func:`_begin` set up for one call phase, undone by :func:`_end`."""

    def __init__(self, collector: _Collector) -> None:
        self.collector = collector
        self.undo: list[Callable[[], None]] = []
        #: Each pipeline's ``emitted`` count when the call began (0 for one created
        #: during the call): only pipelines the test logged to are flushed at its end,
        #: so a pipeline an earlier test left behind (perhaps stuck by design) never
        #: costs later tests the flush timeout.
        self.emitted_before: dict[int, int] = {}

    def watch(self, pipeline: Pipeline, emitted: int) -> None:
        self.emitted_before[id(pipeline)] = emitted

    def logged_to(self, pipeline: Pipeline) -> bool:
        return pipeline.stats().emitted > self.emitted_before.get(id(pipeline), 0)


def _fapilog_loaded() -> bool:
    # fapilog's API, not only its pipeline: ``import fapilog`` loads the pipeline with
    # the first event (docs/architecture.md, "Import cost"), which may be this test's.
    return "fapilog._api" in sys.modules


def _begin(item: pytest.Item) -> _CallState | None:
    config = item.config
    report = bool(config.getini("fapilog_report"))
    caplog = None
    if bool(config.getini("fapilog_caplog")) and "caplog" in getattr(item, "fixturenames", ()):
        caplog = getattr(item, "funcargs", {}).get("caplog")
    if not report and caplog is None:
        return None
    if not _fapilog_loaded():
        return None  # the session has not imported fapilog: nothing to observe
    from fapilog.pipeline import _capture, _lifecycle

    state = _CallState(_Collector(caplog.handler if caplog is not None else None))
    _Observer.collector = state.collector
    for pipeline in _lifecycle.live_pipelines():
        state.watch(pipeline, pipeline.stats().emitted)
        _attach(pipeline)

    # Pipelines built during the call (the lazily created default pipeline, one a
    # test builds) are observed from their first event.
    def created(pipeline: Pipeline) -> None:
        state.watch(pipeline, 0)
        _attach(pipeline)

    state.undo.append(_lifecycle.on_register(created))

    if caplog is not None:
        sink = _CaplogSink(state.collector, _capture._SINK.get())
        token = _capture.push_capture(sink)
        state.undo.append(lambda: _capture.pop_capture(token))
    return state


class _CaplogSink(list["LogEvent"]):
    """The capture sink of a test that requested ``caplog``.

    Forwards each event to the test's collector (and so to caplog) and to the sink
    of an enclosing capture, e.g. the ``fapilog_logs`` fixture's.
    """

    def __init__(self, collector: _Collector, outer: list[LogEvent] | None) -> None:
        super().__init__()
        self._collector = collector
        self._outer = outer

    def append(self, event: LogEvent) -> None:
        self._collector.add(event)
        if self._outer is not None:
            self._outer.append(event)


def _end(item: pytest.Item, state: _CallState) -> None:
    from fapilog.pipeline import _lifecycle

    note = ""
    try:
        # Undo the caplog capture first: from here on the test's events are ordinary.
        for undo in reversed(state.undo):
            undo()
        if item.config.getini("fapilog_report"):
            timeout = _flush_timeout(item.config)
            deadline = time.monotonic() + timeout
            for pipeline in _lifecycle.live_pipelines():
                if not state.logged_to(pipeline):
                    continue
                remaining = max(0.0, deadline - time.monotonic())
                if not pipeline.flush(timeout=remaining):
                    note = (
                        f"(fapilog: flushing {pipeline!r} did not finish within "
                        f"fapilog_flush_timeout={timeout:g}s; later events are missing)"
                    )
    finally:
        _Observer.collector = None
        state.collector.close()
        for pipeline in _lifecycle.live_pipelines():
            _detach(pipeline)
    if item.config.getini("fapilog_report") and (state.collector.events or note):
        lines = [format_event(event) for event in state.collector.events]
        if note:
            lines.append(note)
        item.add_report_section("call", _SECTION, "\n".join(lines))


def _flush_timeout(config: pytest.Config) -> float:
    raw = config.getini("fapilog_flush_timeout")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise pytest.UsageError(
            f"fapilog_flush_timeout = {raw!r} is not a number of seconds; e.g. 5"
        ) from None
    if value < 0:
        raise pytest.UsageError(f"fapilog_flush_timeout = {raw!r} must be 0 or more")
    return value


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    # trylast: the innermost wrapper, so the flush runs while pytest's output capture
    # and caplog's handler for the call phase are still in place.
    state = _begin(item)
    if state is None:
        return (yield)
    try:
        return (yield)
    finally:
        _end(item, state)


# -- conversions ----------------------------------------------------------------------------


def stdlib_level(severity_number: int) -> int:
    """The :mod:`logging` level for an OTel severity number (TRACE maps to 5)."""
    if severity_number <= 0:
        return logging.NOTSET
    return _STDLIB_LEVELS[min((severity_number - 1) // 4, 5)]


def to_log_record(event: LogEvent) -> logging.LogRecord:
    """``event`` as a :class:`logging.LogRecord`, as ``caplog.records`` holds it.

    ``name`` is the logger name, ``levelno``/``levelname`` the stdlib level,
    ``getMessage()`` the body (``str()`` of a non-string body), ``created`` the
    event's time. ``record.attributes`` holds every attribute; each is also set as an
    attribute of the record unless that name is already taken (``name``, ``msg``...).
    ``record.severity_text``, ``record.severity_number``, ``record.trace_id`` and
    ``record.span_id`` carry the OTel fields, ``record.fapilog_event`` the event. An
    exception's stack trace (``exception.stacktrace``) is the record's ``exc_text``.
    """
    body = event.body
    message = body if isinstance(body, str) else str(body)
    level = stdlib_level(event.severity_number)
    record = logging.LogRecord(event.scope_name or "root", level, "", 0, message, None, None)
    if level == 5:
        record.levelname = "TRACE"
    record.created = event.timestamp / 1e9
    record.msecs = (event.timestamp // 1_000_000) % 1000
    attributes = dict(event.attributes)
    fields = vars(record)
    taken = {*fields, "message", "asctime"}
    fields.update((key, value) for key, value in attributes.items() if key not in taken)
    fields.update(
        attributes=attributes,
        severity_text=event.severity_text,
        severity_number=event.severity_number,
        trace_id=event.trace_id,
        span_id=event.span_id,
        fapilog_event=event,
    )
    stacktrace = attributes.get("exception.stacktrace")
    if isinstance(stacktrace, str):
        record.exc_text = stacktrace
    return record


def format_event(event: LogEvent) -> str:
    """One line per event (plus its stack trace) for the report section."""
    body = event.body if isinstance(event.body, str) else repr(event.body)
    parts = [f"{event.severity_text or '-':<5} {event.scope_name or 'root'}: {body}"]
    stacktrace = None
    for key, value in event.attributes.items():
        if key == "exception.stacktrace" and isinstance(value, str):
            stacktrace = value
            continue
        parts.append(f"{key}={value!r}" if isinstance(value, str) else f"{key}={value}")
    if event.trace_id:
        parts.append(f"trace_id={event.trace_id:032x}")
    line = " ".join(parts)
    return f"{line}\n{stacktrace.rstrip()}" if stacktrace else line
