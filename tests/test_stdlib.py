"""The stdlib logging bridge."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider

from fapilog import FapilogHandler, Pipeline, capture_stdlib
from support import RecordingExporter


@pytest.fixture
def bridged() -> Iterator[tuple[Pipeline, RecordingExporter, logging.Logger]]:
    exporter = RecordingExporter()
    pipeline = Pipeline(exporters=[exporter], level="debug")
    logger = logging.getLogger("tests.lib")
    logger.propagate = False
    handler = FapilogHandler(pipeline=pipeline)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield pipeline, exporter, logger
    logger.removeHandler(handler)
    logger.propagate = True
    pipeline.shutdown(timeout=5)


def test_records_become_events_with_extra_and_code_attributes(bridged) -> None:
    """Message, severity, extra= fields and code.* attributes are carried over."""
    pipeline, exporter, logger = bridged
    logger.warning("disk %s at %d%%", "/var", 91, extra={"mount": "/var", "free_mb": 12})
    assert pipeline.flush(5)
    (event,) = exporter.events
    assert event.body == "disk /var at 91%"
    assert event.severity_text == "WARN" and event.severity_number == 13
    assert event.scope_name == "tests.lib"
    assert event.attributes["mount"] == "/var" and event.attributes["free_mb"] == 12
    assert event.attributes["code.function.name"] == (
        "test_records_become_events_with_extra_and_code_attributes"
    )
    assert event.attributes["code.file.path"].endswith("test_stdlib.py")
    assert isinstance(event.attributes["code.line.number"], int)


def test_uvicorns_ansi_colour_copy_of_the_message_is_not_an_attribute(bridged) -> None:
    """uvicorn passes extra={"color_message": ...}: terminal markup, not data."""
    pipeline, exporter, logger = bridged
    logger.info("Started server process [%d]", 7, extra={"color_message": "\x1b[36m%d\x1b[0m"})
    assert pipeline.flush(5)
    (event,) = exporter.events
    assert event.body == "Started server process [7]"
    assert "color_message" not in event.attributes


def test_exc_info_becomes_exception_attributes(bridged) -> None:
    """logger.exception() yields exception.type/message/stacktrace."""
    pipeline, exporter, logger = bridged
    try:
        raise OSError("no space")
    except OSError:
        logger.exception("write failed")
    assert pipeline.flush(5)
    (event,) = exporter.events
    assert event.attributes["exception.type"] == "OSError"
    assert "no space" in event.attributes["exception.stacktrace"]


def test_records_inside_a_span_are_correlated(bridged) -> None:
    """A stdlib record logged in a span carries the span's ids."""
    pipeline, exporter, logger = bridged
    tracer = TracerProvider().get_tracer("t")
    with tracer.start_as_current_span("op") as span:
        logger.info("inside")
    assert pipeline.flush(5)
    assert exporter.events[0].trace_id == span.get_span_context().trace_id


def test_unformattable_records_never_raise(bridged) -> None:
    """A record whose args do not match its format is kept with its raw parts."""
    pipeline, exporter, logger = bridged
    record = logger.makeRecord("tests.lib", logging.INFO, __file__, 1, "%d items", ("many",), None)
    FapilogHandler(pipeline=pipeline).emit(record)
    assert pipeline.flush(5)
    assert "%d items" in exporter.events[0].body and "many" in exporter.events[0].body


def test_custom_and_trace_levels_are_mapped(bridged) -> None:
    """Level 5 maps to TRACE; level 25 stays in the INFO range."""
    pipeline, exporter, logger = bridged
    pipeline.shutdown()
    pipeline = Pipeline(exporters=[exporter], level="trace")
    handler = FapilogHandler(pipeline=pipeline)
    for levelno, body in ((5, "trace"), (25, "between")):
        handler.emit(logger.makeRecord("tests.lib", levelno, __file__, 1, body, (), None))
    assert pipeline.flush(5)
    assert [(e.body, e.severity_number) for e in exporter.events] == [("trace", 1), ("between", 12)]
    pipeline.shutdown()


def test_capture_stdlib_installs_and_shutdown_restores() -> None:
    """capture_stdlib adds a root handler and lowers the level; shutdown undoes both."""
    exporter = RecordingExporter()
    pipeline = Pipeline(exporters=[exporter])
    root = logging.getLogger()
    before_level, before_handlers = root.level, list(root.handlers)
    capture_stdlib("INFO", pipeline=pipeline)
    logging.getLogger("some.library").info("from library")
    assert pipeline.flush(5)
    assert [e.body for e in exporter.events] == ["from library"]
    pipeline.shutdown(timeout=5)
    assert root.level == before_level
    assert root.handlers == before_handlers


def test_logging_from_the_worker_thread_does_not_recurse() -> None:
    """stdlib records emitted by an exporter on the worker are counted, not re-fed."""
    from collections.abc import Sequence

    from fapilog import Exporter, ExportResult, LogEvent

    class Chatty(Exporter):
        name = "chatty"

        def __init__(self) -> None:
            self.bodies: list[str] = []

        async def export(self, batch: Sequence[LogEvent]) -> ExportResult:
            logging.getLogger("chatty.client").warning("sending %d", len(batch))
            self.bodies.extend(str(e.body) for e in batch)
            return ExportResult.success()

    exporter = Chatty()
    pipeline = Pipeline(exporters=[exporter])
    handle = capture_stdlib("INFO", pipeline=pipeline)
    try:
        logging.getLogger("app").info("hello")
        assert pipeline.flush(5)
        assert pipeline.flush(5)
        assert exporter.bodies == ["hello"]
        stats = pipeline.stats()
        assert stats.dropped.get("recursion", 0) >= 1
        assert stats.emitted == stats.exported + stats.dropped_total + stats.in_flight
    finally:
        handle.uninstall()
        pipeline.shutdown(timeout=5)


def test_capture_stdlib_twice_captures_each_record_once() -> None:
    """A second capture into the same pipeline reuses the handler; undoing it keeps the first."""
    exporter = RecordingExporter()
    pipeline = Pipeline(exporters=[exporter], level="debug")
    root = logging.getLogger()
    before_level, before_handlers = root.level, list(root.handlers)
    first = capture_stdlib("INFO", pipeline=pipeline)
    second = capture_stdlib("DEBUG", pipeline=pipeline)
    try:
        assert second.handler is first.handler
        assert [h for h in root.handlers if isinstance(h, FapilogHandler)] == [first.handler]
        logging.getLogger("some.library").debug("debug now captured")
        second.uninstall()  # undoes only what the second call changed
        logging.getLogger("some.library").debug("debug no longer captured")
        logging.getLogger("some.library").info("still captured")
        assert pipeline.flush(5)
        assert [e.body for e in exporter.events] == ["debug now captured", "still captured"]
        assert first.handler in root.handlers and root.level == logging.INFO
    finally:
        first.uninstall()
        pipeline.shutdown(timeout=5)
    assert root.level == before_level
    assert root.handlers == before_handlers


def test_capture_stdlib_into_another_pipeline_adds_its_own_handler() -> None:
    """Reuse is per target: a handler of a different pipeline is not taken over."""
    one, two = Pipeline(exporters=[RecordingExporter()]), Pipeline(exporters=[RecordingExporter()])
    first = capture_stdlib(pipeline=one)
    second = capture_stdlib(pipeline=two)
    try:
        assert first.handler is not second.handler
        assert first.handler.pipeline is one and second.handler.pipeline is two
    finally:
        second.uninstall()
        first.uninstall()
        one.shutdown(timeout=5)
        two.shutdown(timeout=5)


def test_capture_stdlib_survives_configure_and_ends_with_shutdown() -> None:
    """capture_stdlib() then configure(): records reach the new default; shutdown removes it."""
    import fapilog
    from fapilog.exporters.memory import InMemoryExporter

    root = logging.getLogger()
    before_level, before_handlers = root.level, list(root.handlers)
    handle = capture_stdlib("INFO")
    try:
        first, second = InMemoryExporter(), InMemoryExporter()
        fapilog.configure(exporters=[first])
        logging.getLogger("some.library").warning("to the first")
        fapilog.configure(exporters=[second])
        logging.getLogger("some.library").warning("to the second")
        assert fapilog.flush(5)
        assert [e.body for e in first.events] == ["to the first"]
        assert [e.body for e in second.events] == ["to the second"]
        assert handle.handler in root.handlers
        fapilog.shutdown(timeout=5)
        assert handle.handler not in root.handlers
        assert root.level == before_level and root.handlers == before_handlers
    finally:
        handle.uninstall()


def test_an_uninstalled_capture_stays_uninstalled_across_configure() -> None:
    """uninstall() is final: a later configure() or shutdown does not bring it back."""
    import fapilog

    root = logging.getLogger()
    handle = capture_stdlib("INFO")
    handle.uninstall()
    fapilog.configure(exporters=[])
    assert handle.handler not in root.handlers
    fapilog.shutdown(timeout=5)
    assert handle.handler not in root.handlers


@pytest.mark.parametrize(
    ("level", "number"),
    [("TRACE", 5), ("warn", logging.WARNING), ("Fatal", logging.CRITICAL), ("15", 15), (25, 25)],
)
def test_capture_stdlib_takes_fapilogs_level_names_too(level: str | int, number: int) -> None:
    """The names fapilog's level setting accepts work here as well."""
    pipeline = Pipeline(exporters=[RecordingExporter()])
    handle = capture_stdlib(level, pipeline=pipeline, logger="tests.levels")
    try:
        assert handle.handler.level == number
    finally:
        handle.uninstall()
        pipeline.shutdown(timeout=5)


def test_capture_stdlib_rejects_an_unknown_level_name() -> None:
    """Not a KeyError: a ValueError listing the names."""
    with pytest.raises(ValueError, match=r"unknown level 'LOUD'; use one of .*TRACE"):
        capture_stdlib("LOUD", logger="tests.levels")
