"""fapilog's own diagnostics never block the caller, never hang exit, never drop silently."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from fapilog import _diagnostics
from fapilog._diagnostics import EXIT_FLUSH_TIMEOUT, Reporter, reporter

posix_only = pytest.mark.skipif(os.name != "posix", reason="needs POSIX pipes and fcntl")


def _fill(fd: int) -> None:
    """Fill the pipe behind ``fd`` so that the next write to it blocks."""
    import fcntl

    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)
    try:
        for chunk in (b"x" * 65536, b"x"):
            try:
                while True:
                    os.write(fd, chunk)
            except BlockingIOError:
                pass
    finally:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags)


class _Pipe:
    """An OS pipe: a text stream on its write end for a Reporter, the read end for the test."""

    def __init__(self) -> None:
        self.read_fd, write_fd = os.pipe()
        self.stream: IO[str] = os.fdopen(write_fd, "w", encoding="utf-8")
        self._chunks: list[bytes] = []
        self._reader: threading.Thread | None = None

    def drain(self) -> None:
        """Start reading everything (in a thread) until the write end is closed."""

        def run() -> None:
            while chunk := os.read(self.read_fd, 65536):
                self._chunks.append(chunk)

        self._reader = threading.Thread(target=run, daemon=True)
        self._reader.start()

    def lines(self) -> list[str]:
        """Close the write end and return the diagnostic lines that were read."""
        self.stream.close()
        assert self._reader is not None
        self._reader.join(10)
        os.close(self.read_fd)
        text = b"".join(self._chunks).decode().lstrip("x")
        return text.splitlines()


@pytest.fixture
def pipe() -> Iterator[_Pipe]:
    p = _Pipe()
    yield p
    for close in (p.stream.close, lambda: os.close(p.read_fd)):
        try:
            close()
        except OSError:
            pass


def test_lines_are_scrubbed_and_written_by_the_writer_thread(
    monkeypatch: pytest.MonkeyPatch, pipe: _Pipe
) -> None:
    """report() only queues; scrubbing and writing happen on the one writer thread."""
    threads: list[str] = []
    real_scrub = _diagnostics.scrub

    def recording_scrub(text: str, plain: str | None = None) -> str:
        threads.append(threading.current_thread().name)
        return real_scrub(text, plain)

    monkeypatch.setattr(_diagnostics, "scrub", recording_scrub)
    r = Reporter(stream=pipe.stream)
    pipe.drain()
    r.report("a", "first password=hunter2hunter2")
    r.report("b", "second")
    assert r.flush(5)
    assert threads == ["fapilog-diagnostics", "fapilog-diagnostics"]
    assert pipe.lines() == ["fapilog: first password=[REDACTED]", "fapilog: second"]


def test_no_line_is_lost_when_stderr_drains(pipe: _Pipe) -> None:
    """Every line reported (up to the queue's capacity at once) is written, in order."""
    r = Reporter(stream=pipe.stream)
    pipe.drain()
    for i in range(r.capacity):
        r.report(f"k{i}", f"line {i}")
    assert r.flush(10)
    assert r.dropped == 0
    assert pipe.lines() == [f"fapilog: line {i}" for i in range(r.capacity)]


def test_rate_limit_keeps_one_line_per_key_per_interval(pipe: _Pipe) -> None:
    """Repeats within the interval are counted and mentioned on the key's next line."""
    r = Reporter(interval=3600, stream=pipe.stream)
    pipe.drain()
    for _ in range(3):
        r.report("k", "export failed")
    r.report("other", "something else")
    r.interval = 0
    r.report("k", "export failed again")
    assert r.flush(5)
    assert r.dropped == 0
    assert pipe.lines() == [
        "fapilog: export failed",
        "fapilog: something else",
        "fapilog: export failed again (+2 similar suppressed)",
    ]


@posix_only
def test_a_stuck_stderr_blocks_only_the_writer_and_drops_are_reported_on_recovery(
    pipe: _Pipe,
) -> None:
    """With stderr full, report() returns at once; overflow is counted, then reported."""
    r = Reporter(capacity=10, stream=pipe.stream)
    _fill(pipe.stream.fileno())
    r.report("k0", "line 0")  # the writer takes it and blocks writing it
    assert not r.flush(0.3)

    started = time.monotonic()
    for i in range(1, 16):  # 10 fit in the queue, 5 do not
        r.report(f"k{i}", f"line {i}")
    assert time.monotonic() - started < 1
    assert r.dropped == 5

    pipe.drain()
    assert r.flush(10)
    assert r.dropped == 5
    assert pipe.lines() == [
        "fapilog: line 0",
        "fapilog: line 1 (5 diagnostic line(s) dropped: stderr not draining)",
        *(f"fapilog: line {i}" for i in range(2, 11)),
    ]


@posix_only
def test_drops_are_reported_on_their_own_when_no_line_follows(pipe: _Pipe) -> None:
    """Drops that no later line can carry are reported on a line of their own."""
    r = Reporter(capacity=2, stream=pipe.stream)
    _fill(pipe.stream.fileno())
    r.report("k0", "line 0")
    assert not r.flush(0.3)
    for i in range(1, 6):
        r.report(f"k{i}", f"line {i}")
    assert r.dropped == 3
    pipe.drain()
    assert r.flush(10)
    r.report("k9", "later")
    assert r.flush(10)
    assert pipe.lines() == [
        "fapilog: line 0",
        "fapilog: line 1 (3 diagnostic line(s) dropped: stderr not draining)",
        "fapilog: line 2",
        "fapilog: later",
    ]

    r2 = Reporter(capacity=1, stream=pipe.stream)
    assert r2.flush(0)  # nothing reported: no writer needed


@posix_only
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fork() with threads warns on 3.12+
def test_a_forked_child_gets_its_own_writer_and_not_the_parents_queue(pipe: _Pipe) -> None:
    """Lines queued in the parent at fork time are written once, by the parent."""
    r = Reporter(capacity=10, stream=pipe.stream)
    _fill(pipe.stream.fileno())
    r.report("k0", "parent 0")
    assert not r.flush(0.3)  # the parent's writer is stuck; the next lines wait in its queue
    r.report("k1", "parent 1")
    r.report("k2", "parent 2")
    parent_writer = r._writer
    child_read, child_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            r._stream = os.fdopen(child_write, "w", encoding="utf-8")
            fresh = r._writer is None and r.dropped == 0
            r.report("k3", "child 3")
            flushed = r.flush(5)
            mine = r._writer is not None and r._writer is not parent_writer
            r._stream.close()
            out = os.read(child_read, 65536).decode()
            code = 0 if fresh and flushed and mine and out == "fapilog: child 3\n" else 2
        finally:
            os._exit(code)
    os.close(child_write)
    os.close(child_read)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    pipe.drain()
    assert r.flush(10)
    assert pipe.lines() == ["fapilog: parent 0", "fapilog: parent 1", "fapilog: parent 2"]


def test_the_global_reporter_is_flushed_through_capfd(capfd: pytest.CaptureFixture[str]) -> None:
    """The default reporter writes to the process's stderr descriptor."""
    reporter.reset()
    reporter.report("test:capfd", "to fd 2")
    assert reporter.flush(5)
    assert "fapilog: to fd 2\n" in capfd.readouterr().err
    reporter.reset()


# -- a whole process whose stderr nobody reads ------------------------------------------

CHILD = textwrap.dedent(
    """
    import asyncio, fcntl, json, os, time

    if {stuck}:
        # stderr is a pipe the parent never reads: fill it, then make it blocking again.
        flags = fcntl.fcntl(2, fcntl.F_GETFL)
        fcntl.fcntl(2, fcntl.F_SETFL, flags | os.O_NONBLOCK)
        for chunk in (b"x" * 65536, b"x"):
            try:
                while True:
                    os.write(2, chunk)
            except BlockingIOError:
                pass
        fcntl.fcntl(2, fcntl.F_SETFL, flags)

    from fapilog import Exporter, ExportResult, Pipeline
    class Slow(Exporter):
        name = "slow"
        hang = False

        async def export(self, batch):
            # A slow backend, which stops answering once the burst is over.
            await asyncio.sleep(3600 if Slow.hang else 0.01)
            return ExportResult.success()

    pipeline = Pipeline(
        exporters=[Slow()], max_queue_size=1024, overflow={policy!r}, block_timeout_ms=1,
        shutdown_timeout_ms={shutdown_ms}, export_timeout_ms=60_000,
    )
    log = pipeline.get_logger("t")
    start = time.monotonic()
    for i in range(50_000):
        log.info("event %d", i, i=i)
    elapsed = time.monotonic() - start
    Slow.hang = True  # what is still queued at exit cannot be delivered
    stats = pipeline.stats()
    print(json.dumps({{"elapsed": elapsed, "dropped": dict(stats.dropped),
                      "emitted": stats.emitted}}), flush=True)
    from fapilog._diagnostics import reporter
    reporter.report("test:last", "reported just before exit")
    # Exit normally: fapilog's exit hook shuts the pipeline down (and reports the loss).
    """
)


@pytest.mark.once
@posix_only
@pytest.mark.parametrize("policy", ["block", "drop_newest", "drop_oldest"])
def test_log_calls_and_exit_never_wait_on_a_stderr_nobody_reads(
    policy: str, tmp_path: Path
) -> None:
    """50,000 calls return promptly and the process exits within its shutdown bound."""
    shutdown_s = 2.0
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(stuck=True, policy=policy, shutdown_ms=int(shutdown_s * 1000)))
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        # The child prints one line when its 50,000 calls have returned.
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        assert ready, "the log calls did not return within 30 s"
        line = proc.stdout.readline()
        logged_at = time.monotonic()
        assert line, "the child died before it finished logging"
        result = json.loads(line)
        code = proc.wait(timeout=60)
        exit_took = time.monotonic() - logged_at
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    assert code == 0
    assert result["emitted"] == 50_000
    assert result["dropped"].get("queue_full", 0) > 0  # it overflowed, and said so (on stderr)
    assert result["elapsed"] < 10
    assert exit_took < shutdown_s + EXIT_FLUSH_TIMEOUT + 2


@posix_only
def test_diagnostics_reported_at_exit_reach_a_healthy_stderr(tmp_path: Path) -> None:
    """Lines queued as the process ends are written before it is gone."""
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(stuck=False, policy="drop_newest", shutdown_ms=1000))
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("fapilog: ")]
    assert any(line.startswith("fapilog: buffer full") for line in lines)
    last_words = lines.index("fapilog: reported just before exit")
    # Then the pipeline's exit shutdown times out (the backend hangs) and reports its loss.
    assert len(lines) > last_words + 1
