"""Fork safety: the child gets a working pipeline and never re-exports the parent's buffer."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

import fapilog
from fapilog import Pipeline
from support import AppendFileExporter, GatedExporter

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fork() with threads warns on 3.12+
def test_forked_child_exports_its_own_events_and_parent_events_appear_once(tmp_path: Path) -> None:
    """Parent events buffered at fork time are exported once (by the parent); the child's too."""
    out = tmp_path / "out.log"
    pipeline = Pipeline(exporters=[AppendFileExporter(str(out))], schedule_delay_ms=1000)
    log = pipeline.get_logger("x")
    for i in range(100):
        log.info(f"parent-before-{i}")  # still buffered: schedule delay is long
    pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            for i in range(50):
                log.info(f"child-{i}")
            stats = pipeline.stats()
            ok = pipeline.shutdown(timeout=5)
            if not ok or stats.emitted != 50:
                code = 3
        except BaseException:
            code = 4
        finally:
            sys.stdout.flush()
            os._exit(code)
    for i in range(10):
        log.info(f"parent-after-{i}")
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert pipeline.shutdown(timeout=5)
    lines = out.read_text().splitlines()
    expected = (
        [f"parent-before-{i}" for i in range(100)]
        + [f"child-{i}" for i in range(50)]
        + [f"parent-after-{i}" for i in range(10)]
    )
    assert sorted(lines) == sorted(expected)  # each exactly once


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_fork_while_an_export_is_in_progress_leaves_a_working_child(tmp_path: Path) -> None:
    """Forking while the worker is mid-export still gives the child a live pipeline."""
    gated = GatedExporter()
    out = tmp_path / "child.log"
    pipeline = Pipeline(exporters=[gated, AppendFileExporter(str(out))], schedule_delay_ms=1)
    log = pipeline.get_logger("x")
    log.info("parent")
    assert gated.entered.wait(5)
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            gated.gate.set()
            log.info("child")
            if not pipeline.flush(5):
                code = 3
        except BaseException:
            code = 4
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    gated.gate.set()
    assert os.waitstatus_to_exitcode(status) == 0
    assert pipeline.shutdown(timeout=5)
    assert sorted(out.read_text().splitlines()) == ["child", "parent"]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_fork_while_another_thread_registers_a_logger_leaves_a_working_child() -> None:
    """The per-logger level registry's lock, held by another thread at the fork (a
    request handler binding a logger), must not be held for ever in the child."""
    from fapilog import _levels

    pipeline = Pipeline(exporters=["memory"])
    holding, release = threading.Event(), threading.Event()

    def handler() -> None:
        with _levels._lock:  # as inside Logger.bind() / get_logger()
            holding.set()
            release.wait(5)

    thread = threading.Thread(target=handler)
    thread.start()
    assert holding.wait(5)
    threading.Timer(0.2, release.set).start()  # the fork waits for the registry
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            child = pipeline.get_logger("child").bind(request="r1")
            child.info("bound in the child")
            fapilog.set_level("child", "DEBUG")
        except BaseException:
            code = 4
        finally:
            os._exit(code)
    thread.join(5)
    deadline = time.monotonic() + 10
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    if not done:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    pipeline.shutdown(timeout=5)
    assert done, "the child hung on the level registry's lock"
    assert os.waitstatus_to_exitcode(status) == 0
