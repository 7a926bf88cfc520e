"""Process lifecycle: zero-config default, flush at interpreter exit and on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fapilog import Pipeline
from fapilog.pipeline import _lifecycle
from support import run_python

ROOT = Path(__file__).resolve().parents[1]


def _run(
    code: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return run_python(code, env, timeout)


def test_script_that_never_calls_shutdown_leaves_every_line(tmp_path: Path) -> None:
    """50,000 events to the file exporter and a plain exit: all 50,000 lines are there.

    The loop outruns the file exporter, so the default queue fills; callers wait for
    space (``block``) with a bound long enough that no event is dropped for overflow
    on a loaded machine. What is tested is the flush at exit, not overflow.
    """
    out = tmp_path / "app.jsonl"
    proc = _run(
        f"""
        import fapilog
        fapilog.configure(exporters=["file"], file_path={str(out)!r}, block_timeout_ms=30_000)
        log = fapilog.get_logger("exit-test")
        for i in range(50_000):
            log.info("event", i=i)
        """
    )
    assert proc.returncode == 0, proc.stderr
    lines = out.read_text().splitlines()
    assert len(lines) == 50_000
    seen = sorted(json.loads(line)["attributes"]["i"] for line in lines)
    assert seen == list(range(50_000))


def test_exit_flush_still_works_when_the_app_exits_via_sys_exit(tmp_path: Path) -> None:
    """sys.exit() from the main thread with events buffered still flushes them."""
    out = tmp_path / "app.jsonl"
    proc = _run(
        f"""
        import sys, fapilog
        fapilog.configure(exporters=["file"], file_path={str(out)!r}, schedule_delay_ms=60000)
        fapilog.get_logger("x").error("last words")
        sys.exit(3)
        """
    )
    assert proc.returncode == 3, proc.stderr
    assert json.loads(out.read_text())["body"] == "last words"


def test_sigterm_with_the_default_disposition_flushes_then_dies_of_sigterm(
    tmp_path: Path,
) -> None:
    """SIGTERM would kill the process without exit hooks; the buffered event still lands."""
    out = tmp_path / "app.jsonl"
    proc = _run(
        f"""
        import os, signal, time, fapilog
        fapilog.configure(exporters=["file"], file_path={str(out)!r}, schedule_delay_ms=60000)
        fapilog.get_logger("x").warning("terminated")
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)
        print("not reached")
        """
    )
    assert proc.returncode == -15, proc.stderr
    assert "not reached" not in proc.stdout
    assert json.loads(out.read_text())["body"] == "terminated"


def test_sigterm_handler_of_the_application_is_chained_and_later_events_flushed(
    tmp_path: Path,
) -> None:
    """An application that handles SIGTERM itself keeps its handler (called by fapilog's
    hook); once the signal was seen, each event is written before the logging call returns."""
    out = tmp_path / "app.jsonl"
    proc = _run(
        f"""
        import os, signal, sys, fapilog
        def app_handler(signum, frame):
            print("app handler", signum == signal.SIGTERM)
        signal.signal(signal.SIGTERM, app_handler)
        fapilog.configure(exporters=["file"], file_path={str(out)!r}, schedule_delay_ms=60000)
        hook = signal.getsignal(signal.SIGTERM)
        print("chained", hook.previous is app_handler)
        os.kill(os.getpid(), signal.SIGTERM)
        fapilog.get_logger("x").info("after the signal")
        print("alive")
        sys.stdout.flush()
        os._exit(0)  # no exit flush: the line must already be written
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["chained True", "app handler True", "alive"]
    assert json.loads(out.read_text())["body"] == "after the signal"


def test_sigterm_ignored_stays_ignored(tmp_path: Path) -> None:
    """SIG_IGN is never replaced: the signal stays ignored, the process carries on."""
    proc = _run(
        """
        import os, signal, fapilog
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        fapilog.configure(exporters=["none"])
        os.kill(os.getpid(), signal.SIGTERM)
        print(signal.getsignal(signal.SIGTERM) is signal.SIG_IGN)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True"]


def test_hooks_are_installed_from_the_main_thread_only() -> None:
    """A pipeline built on another thread leaves SIGTERM alone; the main thread installs."""
    proc = _run(
        """
        import signal, threading, fapilog
        from fapilog.pipeline import _lifecycle
        t = threading.Thread(target=lambda: fapilog.configure(exporters=["none"]))
        t.start(); t.join()
        print(signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)
        _lifecycle.install_process_hooks()
        print(type(signal.getsignal(signal.SIGTERM)).__name__)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "SigtermHook"]


def test_server_handler_installed_before_fapilog_then_restored_and_reraised(
    tmp_path: Path,
) -> None:
    """Plain ``uvicorn app:app``: the server's handler is in place when the app (and
    fapilog) is imported; after graceful shutdown it logs its last line, restores the
    default disposition and re-raises. The last line is written; the process dies of it."""
    out = tmp_path / "app.jsonl"
    proc = _run(
        f"""
        import os, signal, fapilog
        caught = []
        original = signal.signal(signal.SIGTERM, lambda sig, _: caught.append(sig))
        # "import the app": fapilog is configured while the server's handler is in place
        fapilog.configure(exporters=["file"], file_path={str(out)!r}, schedule_delay_ms=60000)
        log = fapilog.get_logger("server")
        os.kill(os.getpid(), signal.SIGTERM)  # "serving": the server notes the signal
        log.info("Finished server process")
        signal.signal(signal.SIGTERM, original)  # SIG_DFL, which fapilog never saw
        signal.raise_signal(caught[0])
        print("not reached")
        """
    )
    assert proc.returncode == -15, proc.stderr
    assert "not reached" not in proc.stdout
    assert json.loads(out.read_text())["body"] == "Finished server process"


def test_server_that_restores_and_reraises_sigterm_gets_the_flush(tmp_path: Path) -> None:
    """uvicorn's pattern: own handler during serving, then restore and re-raise."""
    out = tmp_path / "app.jsonl"
    proc = _run(
        f"""
        import os, signal, fapilog
        fapilog.configure(exporters=["file"], file_path={str(out)!r}, schedule_delay_ms=60000)
        log = fapilog.get_logger("server")
        caught = []
        original = signal.signal(signal.SIGTERM, lambda sig, _: caught.append(sig))
        os.kill(os.getpid(), signal.SIGTERM)  # "serving": the server notes the signal
        log.info("graceful shutdown complete")
        signal.signal(signal.SIGTERM, original)
        signal.raise_signal(caught[0])
        print("not reached")
        """
    )
    assert proc.returncode == -15, proc.stderr
    assert "not reached" not in proc.stdout
    assert json.loads(out.read_text())["body"] == "graceful shutdown complete"


def test_zero_config_writes_json_lines_to_stderr_when_not_a_tty() -> None:
    """get_logger().info("hi", user="u1") with no setup prints one JSON line on stderr."""
    proc = _run(
        """
        from fapilog import get_logger
        log = get_logger()
        log.info("hi", user="u1")
        """
    )
    assert proc.returncode == 0
    (line,) = proc.stderr.strip().splitlines()
    record = json.loads(line)
    assert record["body"] == "hi"
    assert record["attributes"] == {"user": "u1"}
    assert record["severity_text"] == "INFO"


def test_console_output_is_one_line_per_record_for_hostile_text() -> None:
    """CR, LF and ESC in message and fields never split or colour console output."""
    proc = _run(
        r"""
        from fapilog import get_logger
        log = get_logger("x")
        log.info("line1\nline2\r\x1b[31mred", field="a\nb\x1b[0m", **{"k\ney": "v\u2028w"})
        log.info("second")
        """,
        env={"FAPILOG_CONSOLE_FORMAT": "pretty"},
    )
    assert proc.returncode == 0
    lines = proc.stderr.splitlines()
    assert len(lines) == 2, lines
    assert "\x1b" not in proc.stderr and "\r" not in proc.stderr and "\u2028" not in proc.stderr
    assert "line1\\nline2" in lines[0]


# -- the SIGTERM hook, in process ---------------------------------------------------------


@pytest.fixture
def sigterm_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """SIGTERM's disposition and the lifecycle's termination state, restored afterwards."""
    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(_lifecycle, "_terminating", False)
    monkeypatch.setattr(_lifecycle, "_budget_spent", 0.0)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def test_foreign_handler_is_wrapped_once_and_called(sigterm_state: None) -> None:
    """A handler found in place is wrapped (not replaced): the hook calls it with the
    signal and frame; installing again does not wrap the hook itself."""
    calls: list[int] = []

    def server_handler(signum: int, frame: object) -> None:
        calls.append(signum)

    signal.signal(signal.SIGTERM, server_handler)
    _lifecycle.install_process_hooks()
    hook = signal.getsignal(signal.SIGTERM)
    assert isinstance(hook, _lifecycle.SigtermHook) and hook.previous is server_handler
    _lifecycle.install_process_hooks()
    assert signal.getsignal(signal.SIGTERM) is hook
    assert not _lifecycle.terminating()
    hook(signal.SIGTERM, None)
    assert calls == [signal.SIGTERM]
    assert _lifecycle.terminating()


def test_default_disposition_gets_a_terminal_hook(sigterm_state: None) -> None:
    """With SIG_DFL in place the hook chains to SIG_DFL (flush, then die of the signal)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _lifecycle.install_process_hooks()
    hook = signal.getsignal(signal.SIGTERM)
    assert isinstance(hook, _lifecycle.SigtermHook) and hook.previous == signal.SIG_DFL


def test_after_the_signal_each_event_is_exported_before_the_call_returns(
    sigterm_state: None,
) -> None:
    """Flush on write covers fapilog loggers, async logging and pipelines created later."""
    from support import RecordingExporter

    early = RecordingExporter()
    pipeline = Pipeline(exporters=[early], schedule_delay_ms=60_000)
    log = pipeline.get_logger("x")
    log.info("before")
    _lifecycle.begin_termination()
    log.info("after")
    assert [e.body for e in early.events] == ["before", "after"]

    async def log_async() -> None:
        await log.ainfo("async after")

    asyncio.run(log_async())
    assert [e.body for e in early.events][-1] == "async after"
    late_exporter = RecordingExporter()
    late = Pipeline(exporters=[late_exporter], schedule_delay_ms=60_000)
    late.get_logger("y").info("late")
    assert [e.body for e in late_exporter.events] == ["late"]
    late.shutdown(timeout=5)
    pipeline.shutdown(timeout=5)


def test_flush_on_write_is_bounded_in_total(
    sigterm_state: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a hanging exporter, flushing after the signal takes the budget once; later
    calls no longer wait."""
    from support import HangingExporter

    monkeypatch.setattr(_lifecycle, "SIGTERM_FLUSH_TIMEOUT", 0.3)
    pipeline = Pipeline(exporters=[HangingExporter()], schedule_delay_ms=60_000)
    log = pipeline.get_logger("x")
    _lifecycle.begin_termination()
    start = time.monotonic()
    log.info("first")
    first = time.monotonic() - start
    start = time.monotonic()
    log.info("second")
    second = time.monotonic() - start
    assert 0.25 <= first < 5
    assert second < 0.25
    pipeline.shutdown(timeout=0.5)


def test_a_child_forked_after_the_signal_starts_with_buffering_again() -> None:
    """Termination is the parent's: a forked child neither counts as terminating nor
    flushes on write."""
    proc = _run(
        """
        import os, warnings
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads running
        import fapilog
        from fapilog.pipeline import _lifecycle
        pipeline = fapilog.configure(exporters=["none"])
        _lifecycle.begin_termination()
        print("parent", _lifecycle.terminating(), pipeline.intake.flush_on_write)
        pid = os.fork()
        if pid == 0:
            print("child", _lifecycle.terminating(), pipeline.intake.flush_on_write,
                  pipeline.intake.capacity > 0, flush=True)
            os._exit(0)
        os.waitpid(pid, 0)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["parent True True", "child False False True"]


def test_second_shutdown_waits_for_the_one_in_progress() -> None:
    """shutdown() while another thread's shutdown is still flushing waits for it (within
    that shutdown's bound) and returns its result, instead of True at once."""
    import threading

    from support import GatedExporter

    exporter = GatedExporter()
    pipeline = Pipeline(exporters=[exporter], schedule_delay_ms=1)
    pipeline.get_logger("x").info("slow to deliver")
    assert exporter.entered.wait(5)
    results: list[bool] = []
    first = threading.Thread(target=lambda: results.append(pipeline.shutdown(timeout=10)))
    first.start()
    while pipeline._shutdown_fut is None:  # the first shutdown handed over to the worker
        time.sleep(0.001)
    threading.Timer(0.2, exporter.gate.set).start()
    second = pipeline.shutdown(timeout=0)
    assert [e.body for e in exporter.events] == ["slow to deliver"]
    first.join(5)
    assert second is True and results == [True]
