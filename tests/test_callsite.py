"""Call sites: code.file.path / code.line.number / code.function.name on fapilog's own calls."""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
import subprocess
import sys
import threading
import weakref
from collections.abc import Iterator

import pytest

import fapilog
from fapilog import Pipeline
from fapilog._callsite import callsite_enabled, resolve
from fapilog._logger import Logger, PipelineRef, _async_method, _sync_method
from fapilog._severity import INFO
from fapilog.exporters.console import ConsoleExporter
from support import RecordingExporter

FILE = __file__


def _here() -> int:
    """The line number of the line that calls this."""
    frame = sys._getframe(1)
    return frame.f_lineno


@pytest.fixture
def on() -> Iterator[tuple[Pipeline, RecordingExporter]]:
    exporter = RecordingExporter()
    pipeline = Pipeline(exporters=[exporter], schedule_delay_ms=5, callsite="on", level="trace")
    yield pipeline, exporter
    pipeline.shutdown(timeout=5)


def _sites(pipeline: Pipeline, exporter: RecordingExporter) -> list[tuple[object, ...]]:
    assert pipeline.flush(timeout=5)
    return [
        (
            e.attributes.get("code.file.path"),
            e.attributes.get("code.line.number"),
            e.attributes.get("code.function.name"),
        )
        for e in exporter.events
    ]


def test_every_level_method_records_the_line_that_called_it(on) -> None:
    """trace..critical, exception and log() each point at the application's line."""
    pipeline, exporter = on
    log = pipeline.get_logger("x")
    lines = []
    for method in (log.trace, log.debug, log.info, log.warning, log.error, log.critical):
        lines.append(_here() + 1)
        method("m", k=1)
    lines.append(_here() + 1)
    log.exception("no exception active")
    lines.append(_here() + 1)
    log.log("warning", "through log()")
    lines.append(_here() + 1)
    log.log("LOUD", "unknown level")
    name = "test_every_level_method_records_the_line_that_called_it"
    assert _sites(pipeline, exporter) == [(FILE, line, name) for line in lines]
    assert exporter.events[0].attributes["k"] == 1  # the call's own fields stay


class Checkout:
    def pay(self, log: fapilog.Logger) -> int:
        line = _here() + 1
        log.bind(order=7).info("paid")
        return line


def test_function_name_is_the_qualified_name_and_bound_loggers_record_their_caller(on) -> None:
    pipeline, exporter = on
    line = Checkout().pay(pipeline.get_logger("x"))
    ((path, number, function),) = _sites(pipeline, exporter)
    assert (path, number, function) == (FILE, line, "Checkout.pay")
    assert exporter.events[0].attributes["order"] == 7


async def test_async_twins_record_the_awaiting_line(on) -> None:
    pipeline, exporter = on
    log = pipeline.get_logger("x")
    first = _here() + 1
    await log.ainfo("a")
    second = _here() + 1
    await log.alog("error", "b")
    third = _here() + 1
    await log.atrace("c")
    name = "test_async_twins_record_the_awaiting_line"
    assert _sites(pipeline, exporter) == [(FILE, n, name) for n in (first, second, third)]


def test_with_stacklevel_records_the_caller_of_a_wrapper(on) -> None:
    """A helper that logs for its caller uses with_stacklevel(2), like logging's stacklevel."""
    pipeline, exporter = on
    wrapped = pipeline.get_logger("x").with_stacklevel(2)

    def audit_step(step: str) -> None:
        wrapped.bind(kind="step").info("step", step=step)  # a bound copy keeps the level

    line = _here() + 1
    audit_step("one")
    ((path, number, function),) = _sites(pipeline, exporter)
    assert (path, number) == (FILE, line)
    assert function == "test_with_stacklevel_records_the_caller_of_a_wrapper"
    with pytest.raises(ValueError, match="at least 1"):
        wrapped.with_stacklevel(0)


def test_a_stacklevel_deeper_than_the_stack_never_raises(on) -> None:
    """with_stacklevel(n) beyond the stack records the outermost frame, on a thread whose
    stack is short, for every entry that captures a call site (found in the final read:
    sys._getframe raised ValueError into the log call)."""
    pipeline, exporter = on
    deep = pipeline.get_logger("x").with_stacklevel(10_000)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            deep.info("sync")
            deep.log("warning", "by name")
            asyncio.run(deep.ainfo("async"))
            with deep.timed("block"):
                pass
        except BaseException as exc:  # pragma: no cover - the failure being tested
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert errors == []
    sites = _sites(pipeline, exporter)
    assert len(sites) == 4
    assert all(path is not None and isinstance(number, int) for path, number, _ in sites)


def test_audit_records_its_call_site(on) -> None:
    pipeline, exporter = on
    line = _here() + 1
    pipeline.get_logger("x").audit("user.delete", actor="a", target="t", outcome="success")
    assert _sites(pipeline, exporter) == [(FILE, line, "test_audit_records_its_call_site")]


def test_off_records_nothing_and_keeps_fields_as_given() -> None:
    exporter = RecordingExporter()
    pipeline = Pipeline(exporters=[exporter], schedule_delay_ms=5, callsite="off")
    pipeline.get_logger("x").info("m", k=1)
    assert pipeline.flush(5)
    assert exporter.events[0].attributes == {"k": 1}
    pipeline.shutdown()


class _Intake:
    """Stands in for an intake whose worker never drains: captured calls stay in ``ring``."""

    level = 0
    capacity = 1000

    def __init__(self) -> None:
        self.ring: list[tuple[object, ...]] = []


class _Ring:
    """Stands in for a pipeline on the hot path (only its ``intake`` is read)."""

    def __init__(self) -> None:
        self.intake = _Intake()


def test_no_frame_outlives_the_call() -> None:
    """The captured call holds the code object's names and the line, never the frame."""
    target = _Ring()
    ref = PipelineRef(target)
    ref.callsite = True
    log = Logger("x", ref)

    class Local:
        pass

    def work() -> weakref.ref[Local]:
        local = Local()
        log.info("inside")
        return weakref.ref(local)

    alive = work()
    gc.collect()
    assert alive() is None  # the frame (and its locals) died with the call
    ((*_, fields, _logger, _ctx, _exc, _text),) = target.intake.ring
    # The caller keeps the code object and the instruction offset: cheaper than
    # f_lineno, and a code object leaves the kwargs dict untracked by the collector.
    assert fields["code.file.path"] is work.__code__
    assert not gc.is_tracked(fields)
    resolve(fields)  # what the worker does
    assert fields == {
        "code.file.path": FILE,
        "code.line.number": work.__code__.co_firstlineno + 2,
        "code.function.name": "test_no_frame_outlives_the_call.<locals>.work",
    }


def test_auto_is_on_for_a_pretty_console_only() -> None:
    """callsite=auto (the default): on when a console renders pretty lines."""
    built = []
    for options, expected in (
        ({"exporters": [ConsoleExporter(format="pretty")]}, True),
        ({"exporters": [ConsoleExporter(format="json")]}, False),
        ({"exporters": ["console"], "console_format": "pretty"}, True),
        ({"exporters": [RecordingExporter()]}, False),
        ({"exporters": [ConsoleExporter(format="json")], "callsite": "on"}, True),
        ({"exporters": [ConsoleExporter(format="pretty")], "callsite": "off"}, False),
    ):
        pipeline = Pipeline(**options)  # type: ignore[arg-type]
        built.append(pipeline)
        assert callsite_enabled(pipeline) is expected, options
        assert pipeline.get_logger("x")._ref.callsite is expected
    for pipeline in built:
        pipeline.shutdown()


def test_auto_follows_whether_the_console_stream_is_a_terminal() -> None:
    class Tty:
        def isatty(self) -> bool:
            return True

        def write(self, text: str) -> int:
            return len(text)

        def flush(self) -> None:
            pass

    pipeline = Pipeline(exporters=[ConsoleExporter(stream=Tty())])  # type: ignore[arg-type]
    assert pipeline.get_logger("x")._ref.callsite
    pipeline.shutdown()


@pytest.mark.parametrize("setting", ["on", "off"])
def test_the_default_pipeline_follows_its_setting_from_the_first_event(
    monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    """The lazily built default records the first event's call site only if it should."""
    monkeypatch.setenv("FAPILOG_CALLSITE", setting)
    monkeypatch.setenv("FAPILOG_EXPORTERS", "memory")
    log = fapilog.get_logger("lazy")
    line = _here() + 1
    log.info("first", k=1)
    log.info("second")
    pipeline = fapilog.default_pipeline()
    assert pipeline.flush(5)
    first, second = pipeline.exporters[0].events  # type: ignore[attr-defined]
    if setting == "on":
        assert first.attributes["code.line.number"] == line
        assert second.attributes["code.line.number"] == line + 1
    else:
        assert first.attributes == {"k": 1}
        assert second.attributes == {}


def test_configure_switches_the_default_loggers(monkeypatch: pytest.MonkeyPatch) -> None:
    log = fapilog.get_logger("x")
    fapilog.configure(exporters=["memory"], callsite="off")
    assert not log._ref.callsite
    fapilog.configure(exporters=["memory"], callsite="on")
    assert log._ref.callsite


def test_the_stdlib_bridge_maps_the_record_call_site(on) -> None:
    """logging records carry their own pathname/lineno/funcName: mapped whatever the setting."""
    pipeline, exporter = on
    std = logging.getLogger("test_callsite.bridge")
    std.propagate = False
    handler = fapilog.FapilogHandler(pipeline=pipeline)
    std.addHandler(handler)
    try:
        line = inspect.currentframe().f_lineno + 1  # type: ignore[union-attr]
        std.warning("from logging")
    finally:
        std.removeHandler(handler)
    assert _sites(pipeline, exporter) == [
        (FILE, line, "test_the_stdlib_bridge_maps_the_record_call_site")
    ]


def test_the_checking_methods_are_installed_by_the_first_pipeline_that_records() -> None:
    """Until a pipeline records call sites, Logger's methods do not even read the flag."""
    code = """
import fapilog
from fapilog._logger import Logger, _BY_NUMBER
plain = (Logger.info, Logger.ainfo, Logger.exception, _BY_NUMBER[9])
off = fapilog.Pipeline(exporters=["memory"], callsite="off")
off.get_logger("x").info("m")
assert (Logger.info, Logger.ainfo, Logger.exception, _BY_NUMBER[9]) == plain
assert "callsite" not in Logger.info.__code__.co_names
on = fapilog.Pipeline(exporters=["memory"], callsite="on")
assert Logger.info is plain[0]  # no logger of it yet
on.get_logger("x")
assert Logger.info is not plain[0] and Logger.ainfo is not plain[1]
assert Logger.exception is not plain[2] and _BY_NUMBER[9] is not plain[3]
assert "callsite" in Logger.info.__code__.co_names
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "ok", done.stderr


@pytest.mark.parametrize("is_async", [False, True])
@pytest.mark.parametrize("default_exc", [False, True])
def test_plain_and_checking_methods_capture_the_same_call(
    is_async: bool, default_exc: bool
) -> None:
    """With the flag off, the checking variant captures exactly what the plain one does."""
    make = _async_method if is_async else _sync_method
    captured = []
    error = ValueError("e")
    target = _Ring()
    log = Logger("x", PipelineRef(target))
    for checking in (False, True):
        make(INFO, default_exc, 0, checking)(log, "m %s", "a", k=[1], exc_info=error)
        ((_ts, *rest),) = target.intake.ring
        target.intake.ring.clear()
        captured.append(rest)
    assert captured[0] == captured[1]
    assert captured[0][3] == {"k": (1,), "exc_info": error}
    assert captured[0][-2] is error  # the exception slot; then the severity text
    assert captured[0][-1] is None


def test_making_a_logger_imports_nothing() -> None:
    """``callsite_enabled`` runs whenever a logger is made, on any thread: it looks the
    console exporter's module up instead of importing it (an import under way in one
    thread when another forks leaves the child a module lock nobody holds; the fork
    storm of tests/test_grpc_fork.py hung children that way)."""
    code = (
        "import sys, fapilog\n"
        "p = fapilog.Pipeline(exporters=['memory'])\n"
        "p.get_logger('x').info('hi')\n"
        "print('fapilog.exporters.console' in sys.modules)\n"
        "p.shutdown()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split() == ["False"]
