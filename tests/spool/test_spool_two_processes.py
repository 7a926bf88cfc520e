"""Two processes pointed at one spool directory (docs/durability.md, "Two processes").

A *holder* process logs into the directory without pause (its exporter is down, so
every record stays on disk). While it does:

* ``fapilog.Pipeline(spool_dir=...)`` and ``fapilog.configure(spool=...)`` in a second
  process raise :class:`~fapilog.spool.SpoolLockedError` (a ``ConfigError``) naming
  the holder's pid and the fix, start no thread and leave the lock as it was;
* a third process that gets the directory from ``FAPILOG_SPOOL_DIR`` (the zero-config
  pipeline, built by its first log call) does not raise: it falls back to the console
  on stderr with one line naming the holder, and exits normally;
* the holder is undisturbed: afterwards the directory holds exactly the records it
  logged, none damaged, and a new process on the directory delivers every one of
  them, in order, once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from typing import TYPE_CHECKING

import pytest

import fapilog
from fapilog.config import ConfigError
from fapilog.spool import SpoolLockedError
from fapilog.spool import inspect as inspect_spool
from fapilog.testing import InMemoryExporter

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.once]

_HOLDER = """
import json, sys, threading
import fapilog
from fapilog.plugin import ExportResult
from fapilog.testing import InMemoryExporter

down = InMemoryExporter(fail_with=ExportResult.retryable("collector down"), name="down")
pipeline = fapilog.Pipeline(
    exporters=[down], spool_dir=sys.argv[1], schedule_delay_ms=5,
    export_timeout_ms=200, retry_initial_backoff_ms=20, retry_max_backoff_ms=50,
)
log = pipeline.get_logger("holder")
stop, logged, started = threading.Event(), [0], threading.Event()

def run():
    while not stop.is_set():
        for _ in range(10):
            log.info("holder event", seq=logged[0])
            logged[0] += 1
        started.set()
        stop.wait(0.001)

thread = threading.Thread(target=run)
thread.start()
started.wait()
print("ready", flush=True)
sys.stdin.readline()
stop.set()
thread.join()
stats = pipeline.stats()
ok = pipeline.shutdown(timeout=1)
print("done", json.dumps({
    "logged": logged[0], "emitted": stats.emitted, "dropped": dict(pipeline.stats().dropped),
    "degraded": pipeline.stats().spool.degraded,
}), flush=True)
"""

_THIRD = """
import fapilog
fapilog.get_logger("third").info("logged by the third process")
print("spool:", fapilog.stats().spool, flush=True)
fapilog.shutdown()
"""


def _environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "FAPILOG_"))}
    env.update(extra)
    return env


def test_a_second_process_is_refused_and_the_first_keeps_its_records_intact(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "spool"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(directory)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # the down exporter's diagnostics
        text=True,
        env=_environment(),
    )
    try:
        assert holder.stdin is not None and holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"

        threads = threading.active_count()
        with pytest.raises(SpoolLockedError) as refused:
            fapilog.Pipeline(exporters=[InMemoryExporter()], spool_dir=directory)
        message = str(refused.value)
        assert isinstance(refused.value, ConfigError)
        assert f"pid {holder.pid}" in message and str(directory) in message
        assert "its own" in message and f"fapilog spool drain {directory}" in message
        assert refused.value.fields == ("spool_dir",)
        with pytest.raises(SpoolLockedError, match=f"pid {holder.pid}"):
            fapilog.configure(spool=directory, exporters=[InMemoryExporter()])
        assert threading.active_count() == threads  # nothing started, nothing leaked

        third = subprocess.run(
            [sys.executable, "-c", _THIRD],
            capture_output=True,
            text=True,
            timeout=60,
            env=_environment(FAPILOG_SPOOL_DIR=str(directory)),
        )
        assert third.returncode == 0, third.stderr
        assert "spool: None" in third.stdout  # memory only
        diagnostics = [line for line in third.stderr.splitlines() if "spool" in line]
        assert len(diagnostics) == 1, third.stderr
        assert f"pid {holder.pid}" in diagnostics[0] and "console" in diagnostics[0]
        assert "logged by the third process" in third.stderr  # on the fallback console

        assert inspect_spool(directory)["lock"] == {"pid": holder.pid, "alive": True}
        holder.stdin.write("stop\n")
        holder.stdin.flush()
        word, _, data = holder.stdout.readline().partition(" ")
        assert word == "done" and holder.wait(30) == 0
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(10)
        for stream in (holder.stdin, holder.stdout):
            if stream is not None:
                stream.close()
    done = json.loads(data)
    logged = done["logged"]
    assert done["emitted"] == logged and not done["degraded"], done
    assert set(done["dropped"]) <= {"spooled"}, done  # on disk for the next process

    report = inspect_spool(directory)
    assert report["corrupt"] == 0
    assert not any(s["torn"] or not s["header_ok"] for s in report["segments"]), report
    assert (report["oldest_seq"], report["head_seq"], report["records"]) == (0, logged, logged)
    assert report["cursors"]["down"]["pending"] == logged
    assert report["lock"] is None or not report["lock"]["alive"]

    resumed = InMemoryExporter(name="down")  # takes over the holder's cursor
    pipeline = fapilog.Pipeline(exporters=[resumed], spool_dir=directory)
    try:
        assert pipeline.flush(timeout=30)
        spool = pipeline.stats().spool
        assert spool is not None and spool.replayed == logged
    finally:
        assert pipeline.shutdown(timeout=10)
    assert [e.attributes["seq"] for e in resumed.events] == list(range(logged))
    assert inspect_spool(directory)["cursors"]["down"]["pending"] == 0
