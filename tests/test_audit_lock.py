"""One writer per audit directory: a second writer fails at construction, nothing is lost."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from audit_support import KEY, audit_event, die
from fapilog import ExportStatus
from fapilog.audit import AuditExporter, AuditKeyError, AuditLockError, iter_records, verify
from fapilog.config import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX locking and fork")

# A process that takes the directory, says so, waits for "go", then logs `count` audit
# events through a real Pipeline and reports what the pipeline acknowledged.
WRITER = """
import json, os, sys
from fapilog import Pipeline
from fapilog.audit import AuditExporter, AuditLockError

name, directory, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
try:
    audit = AuditExporter(directory, key=os.environ["FAPILOG_AUDIT_KEY"], fsync=False)
except AuditLockError as exc:
    print(json.dumps({"locked": str(exc)}), flush=True)
    sys.exit(3)
print(json.dumps({"ready": os.getpid()}), flush=True)
sys.stdin.readline()
pipeline = Pipeline(exporters=[audit], schedule_delay_ms=5)
log = pipeline.get_logger(name)
for i in range(count):
    log.audit("user.update", actor=f"{name}-{i}", target="t", outcome="success")
ok = pipeline.shutdown(timeout=30)
stats = pipeline.stats()
print(json.dumps({"shutdown": ok, "exported": stats.exporters["audit"].exported,
                  "dropped": dict(stats.dropped)}), flush=True)
"""


@pytest.fixture
def spawn() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start Python processes talking over pipes; all are reaped and closed at the end."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-c", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "FAPILOG_AUDIT_KEY": KEY},
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=60)
        for pipe in (proc.stdin, proc.stdout):
            assert pipe is not None
            if not pipe.closed:
                pipe.close()


def _start(spawn: Callable[..., subprocess.Popen[str]], name: str, directory: Path) -> Any:
    return spawn(WRITER, name, str(directory), "500")


def _message(proc: subprocess.Popen[str]) -> dict[str, object]:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, f"writer exited with {proc.wait()} without a word"
    return dict(json.loads(line))


def _run_to_end(proc: subprocess.Popen[str]) -> dict[str, object]:
    assert proc.stdin is not None
    proc.stdin.write("go\n")
    proc.stdin.flush()
    done = _message(proc)
    assert proc.wait(timeout=60) == 0
    return done


def test_a_second_writer_process_fails_clearly_and_no_acknowledged_record_is_lost(
    tmp_path: Path, spawn: Callable[..., subprocess.Popen[str]]
) -> None:
    """Two processes race for one directory: one writes, the other fails at construction
    naming the directory, the holder's pid and the fix; once the first has shut down the
    second writes too, and every acknowledged record of both is in a log that verifies."""
    directory = tmp_path / "audit"
    procs = {name: _start(spawn, name, directory) for name in ("a", "b")}
    first = {name: _message(proc) for name, proc in procs.items()}
    winners = [name for name, msg in first.items() if "ready" in msg]
    losers = [name for name, msg in first.items() if "locked" in msg]
    assert len(winners) == 1 and len(losers) == 1, first
    winner, loser = winners[0], losers[0]
    assert procs[loser].wait(timeout=60) == 3
    message = str(first[loser]["locked"])
    assert str(directory) in message
    assert f"held by pid {first[winner]['ready']}" in message
    assert "One directory has one writer: shut that exporter down first" in message

    done = _run_to_end(procs[winner])
    assert done == {"shutdown": True, "exported": 500, "dropped": {}}
    retry = _start(spawn, loser, directory)
    assert "ready" in _message(retry)
    assert _run_to_end(retry) == {"shutdown": True, "exported": 500, "dropped": {}}

    report = verify(directory, key=KEY)
    assert report.ok, report.summary()
    assert report.records == 1000
    actors = [r["event"]["attributes"]["audit.actor"] for r in iter_records(directory)]
    assert actors == [f"{winner}-{i}" for i in range(500)] + [f"{loser}-{i}" for i in range(500)]


def test_a_second_exporter_in_the_same_process_fails_until_the_first_is_shut_down(
    tmp_path: Path,
) -> None:
    """The lock is per directory, not per process; shutdown releases it."""

    async def run() -> None:
        first = AuditExporter(tmp_path, key=KEY, fsync=False)
        with pytest.raises(AuditLockError) as info:
            AuditExporter(tmp_path, key=KEY, fsync=False)
        assert isinstance(info.value, ConfigError)
        assert f"pid {os.getpid()}" in str(info.value) and str(tmp_path) in str(info.value)
        assert (await first.export([audit_event(1)])).ok
        await first.shutdown()
        after = await first.export([audit_event(2)])
        assert after.status is ExportStatus.FAILURE and "shut down" in after.reason
        second = AuditExporter(tmp_path, key=KEY, fsync=False)
        assert (await second.export([audit_event(3)])).ok
        await second.shutdown()

    asyncio.run(run())
    report = verify(tmp_path, key=KEY)
    assert report.ok and report.records == 2


def test_a_rejected_configuration_does_not_leave_the_directory_locked(tmp_path: Path) -> None:
    """A bad key fails before the lock is taken: the next, valid exporter gets it."""
    with pytest.raises(AuditKeyError):
        AuditExporter(tmp_path, key="short")
    die(AuditExporter(tmp_path, key=KEY))


def test_an_unwritable_directory_fails_at_construction(tmp_path: Path) -> None:
    """The lock is taken when the exporter is created, so a bad path fails right there."""
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(AuditLockError, match="writer lock"):
        AuditExporter(blocker / "audit", key=KEY)


# The writer forks a child that outlives it. The child must not be a second writer
# (its inherited exporter refuses, a new exporter of its own fails on the lock), and
# must not keep the directory locked once the writer is gone.
FORKING_WRITER = """
import asyncio, json, os, sys
sys.path.insert(0, sys.argv[2])
from audit_support import audit_event
from fapilog.audit import AuditExporter, AuditLockError

directory = sys.argv[1]
exporter = AuditExporter(directory, key=os.environ["FAPILOG_AUDIT_KEY"], fsync=False)
assert asyncio.run(exporter.export([audit_event(1)])).ok
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(r)
    report = {"pid": os.getpid()}
    report["inherited"] = asyncio.run(exporter.export([audit_event(2)])).reason
    try:
        AuditExporter(directory, key=os.environ["FAPILOG_AUDIT_KEY"])
    except AuditLockError as exc:
        report["own"] = str(exc)
    os.write(w, json.dumps(report).encode())
    os.close(w)
    sys.stdin.readline()  # lives on after the writer is killed
    os._exit(0)
os.close(w)
with os.fdopen(r, "rb") as f:
    child = json.loads(f.read())
print(json.dumps({"writer": os.getpid(), "child": child}), flush=True)
sys.stdin.readline()
"""


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fork() with threads warns on 3.12+
def test_a_forked_child_is_not_a_second_writer_and_does_not_keep_the_lock(
    tmp_path: Path, spawn: Callable[..., subprocess.Popen[str]]
) -> None:
    """In the child the inherited exporter writes nothing and a new one fails on the lock;
    after the writer is SIGKILLed the surviving child does not hold the directory."""
    directory = tmp_path / "audit"
    proc = spawn(FORKING_WRITER, str(directory), str(Path(__file__).parent))
    message = _message(proc)
    writer, child = int(str(message["writer"])), dict(message["child"])  # type: ignore[call-overload]
    assert "forked" in str(child["inherited"])
    assert f"pid {writer}" in str(child["own"])
    os.kill(writer, signal.SIGKILL)
    proc.wait(timeout=60)
    os.kill(int(child["pid"]), 0)  # still running, with the writer's descriptors inherited
    successor = AuditExporter(directory, key=KEY, fsync=False)
    assert asyncio.run(successor.export([audit_event(3)])).ok
    asyncio.run(successor.shutdown())
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.close()  # the child reads EOF and exits...
    assert proc.stdout.read() == ""  # ...closing its copy of the pipe
    report = verify(directory, key=KEY)
    assert report.ok, report.summary()
    assert [r["event"]["attributes"]["audit.actor"] for r in iter_records(directory)] == [
        "admin-1",
        "admin-3",
    ]
