"""Awkward exits: late calls never raise, threads that outlive ``main`` are flushed, a
SIGTERM during a shutdown lets it finish, and every loss is told in one stderr line.

Exit behaviour is only real in a fresh interpreter, so each case runs a script in a
subprocess and checks what reached the configured file exporter, stderr and the exit code.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from support import run_python

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and exit")


def _run(
    code: str, env: dict[str, str] | None = None, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    return run_python(code, env, timeout)


def _fapilog_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("fapilog: ")]


def _loss_lines(stderr: str) -> list[str]:
    return [line for line in _fapilog_lines(stderr) if "not delivered" in line]


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- late calls never raise -----------------------------------------------------------------


def test_log_call_in_atexit_handler_registered_before_import_is_counted_not_raised(
    tmp_path: Path,
) -> None:
    """atexit runs handlers newest first, so one registered before ``import fapilog``
    runs after fapilog's exit shutdown. Its log call neither raises nor builds a fresh
    zero-config pipeline: it is dropped, counted as after_shutdown, and said on stderr."""
    out = tmp_path / "app.jsonl"
    proc = _run(
        f"""
        import atexit, sys
        def late():
            try:
                log.info("from atexit")
            except BaseException as exc:
                print("raised", type(exc).__name__, exc)
            print("after", fapilog.default_pipeline() is pipeline,
                  dict(pipeline.stats().dropped))
        atexit.register(late)
        import fapilog
        pipeline = fapilog.configure(exporters=["file"], file_path={str(out)!r})
        log = fapilog.get_logger("x")
        log.info("main")
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert "raised" not in proc.stdout
    assert proc.stdout.splitlines() == ["after True {'after_shutdown': 1}"]
    assert [json.loads(line)["body"] for line in out.read_text().splitlines()] == ["main"]
    assert any("after_shutdown" in line for line in _fapilog_lines(proc.stderr))
    assert "Traceback" not in proc.stderr


#: The start of a child script whose late atexit handler first says whether this
#: interpreter still starts threads then (3.12 does not).
_THREADS_PROBE = """
import threading
def print_whether_threads_start():
    try:
        t = threading.Thread(target=lambda: None)
        t.start()
        t.join()
        print("threads start")
    except RuntimeError:
        print("no threads")
"""


def test_first_log_call_ever_inside_a_late_atexit_handler_does_not_raise() -> None:
    """Zero config, nothing logged before: the first call comes from an atexit handler
    (the default executor already refuses work). It never raises. ``import fapilog``
    leaves the pipeline to the first event, and after threading's shutdown the
    pipeline's worker no longer imports (``concurrent.futures.thread`` registers an exit
    hook on import): the event is lost and one line on stderr says so
    (docs/architecture.md, "Import cost")."""
    proc = _run(
        _THREADS_PROBE
        + textwrap.dedent(
            """
        import atexit
        def late():
            print_whether_threads_start()
            try:
                fapilog.get_logger("x").warning("first and last")
            except BaseException as exc:
                print("raised", type(exc).__name__, exc)
            print("returned")
        atexit.register(late)
        import fapilog
        """
        )
    )
    assert proc.returncode == 0, proc.stderr
    threads, *rest = proc.stdout.splitlines()
    assert rest == ["returned"]
    assert "Traceback" not in proc.stderr
    assert threads in ("threads start", "no threads")
    records = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    assert records == []
    # One line says the event is lost. Where the redaction that scrubs diagnostics can
    # still load, it names the reason (the pipeline's exit hook cannot be registered
    # any more); where it cannot, the line says so in fixed words and withholds the
    # exception's text.
    [line] = _fapilog_lines(proc.stderr)
    if "diagnostic withheld" in line:
        assert "no pipeline could be started; events logged now are lost" in line, line
    else:
        assert line == (
            "fapilog: no pipeline could be started (RuntimeError: can't register atexit "
            "after shutdown); events logged now are lost"
        ), line


def test_first_log_call_ever_in_a_late_atexit_handler_is_delivered_once_a_pool_was_used() -> None:
    """The same late first call in a process that used a thread pool (so
    ``concurrent.futures.thread`` is loaded): where the interpreter still starts threads
    then, the pipeline starts and the event is written to the console; where it does
    not (CPython 3.12), the event is dropped, counted, and two lines say why
    (lifecycle.md). Either way the call returns."""
    proc = _run(
        _THREADS_PROBE
        + textwrap.dedent(
            """
        import atexit
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(1) as pool:
            pool.submit(int).result()
        def late():
            print_whether_threads_start()
            fapilog.get_logger("x").warning("first and last", user="u1")
            print("returned")
        atexit.register(late)
        import fapilog
        """
        )
    )
    assert proc.returncode == 0, proc.stderr
    threads, returned = proc.stdout.splitlines()
    assert returned == "returned"
    assert "Traceback" not in proc.stderr
    records = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    if threads == "threads start":
        assert [(r["body"], r["attributes"]) for r in records] == [
            ("first and last", {"user": "u1"})
        ]
        assert _fapilog_lines(proc.stderr) == []
    else:
        assert threads == "no threads"
        assert records == []
        assert _fapilog_lines(proc.stderr) == [
            "fapilog: pipeline not started: can't create new thread at interpreter shutdown",
            "fapilog: event logged after the pipeline was shut down (or at interpreter "
            "teardown); dropped and counted as after_shutdown",
        ]


def test_log_call_after_shutdown_and_during_teardown_never_raises(tmp_path: Path) -> None:
    """A call to a pipeline after its shutdown() and one from a finalizer run at
    interpreter teardown (no thread runs then) return at once, without raising: both
    are counted as after_shutdown drops and said on stderr."""
    out = tmp_path / "app.jsonl"
    proc = _run(
        f"""
        import sys, fapilog
        pipeline = fapilog.configure(exporters=["file"], file_path={str(out)!r})
        log = fapilog.get_logger("x")
        log.info("before")
        other = fapilog.Pipeline(exporters=["none"])
        other.shutdown()
        other.get_logger("y").info("after shutdown")
        print("after shutdown", dict(other.stats().dropped))

        class Late:
            def __del__(self):
                log.info("from __del__ at teardown")
                sys.__stdout__.write(f"finalizer returned {{sys.is_finalizing()}} "
                                     f"{{dict(pipeline.stats().dropped)}}\\n")

        keep = Late()  # a module global: collected while the interpreter tears down
        """,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "after shutdown {'after_shutdown': 1}",
        "finalizer returned True {'after_shutdown': 1}",
    ]
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr
    assert sum("after_shutdown" in line for line in _fapilog_lines(proc.stderr)) == 2
    assert [json.loads(line)["body"] for line in out.read_text().splitlines()] == ["before"]


# -- exit ordering: threads that outlive main -------------------------------------------------

_OUTLIVE = """
    import sys, threading, fapilog
    from concurrent.futures import ThreadPoolExecutor
    pipeline = fapilog.configure(
        exporters=["file"], file_path={out!r}, service_name="outlive",
        block_timeout_ms=60_000,
    )
    log = fapilog.get_logger("worker")
    main_done = threading.Event()
    # Set once the main thread is done, before non-daemon threads are joined.
    threading._register_atexit(main_done.set)

    def work(tag, n):
        main_done.wait()
        for i in range(n):
            log.info("event", tag=tag, i=i)

    {start}

    import atexit
    def report():  # registered after fapilog's hooks: runs before its exit shutdown
        s = pipeline.stats()
        sys.__stdout__.write(f"before final shutdown closed={{pipeline._closed}}\\n")
    atexit.register(report)
"""


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        ("threading.Thread(target=work, args=('t', 50_000)).start()", {"t": 50_000}),
        (
            "pool = ThreadPoolExecutor(2)\n"
            "    pool.submit(work, 'a', 25_000)\n"
            "    pool.submit(work, 'b', 25_000)  # never shut down",
            {"a": 25_000, "b": 25_000},
        ),
    ],
    ids=["non-daemon-thread", "unshut-thread-pool"],
)
def test_events_logged_by_threads_that_outlive_main_reach_the_configured_exporter(
    tmp_path: Path, start: str, expected: dict[str, int]
) -> None:
    """Every one of 50,000 events logged after ``main`` returned reaches the configured
    file (service.name of the configured pipeline, never a fresh console pipeline), and
    nothing is reported lost."""
    out = tmp_path / "app.jsonl"
    proc = _run(_OUTLIVE.format(out=str(out), start=start))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["before final shutdown closed=False"]
    assert _fapilog_lines(proc.stderr) == []
    assert "{" not in proc.stderr  # nothing fell back to the console
    counts: dict[str, set[int]] = {}
    for line in out.read_text().splitlines():
        record = json.loads(line)
        assert record["service.name"] == "outlive"
        counts.setdefault(record["attributes"]["tag"], set()).add(record["attributes"]["i"])
    assert {tag: len(seen) for tag, seen in counts.items()} == expected
    assert sum(expected.values()) == len(out.read_text().splitlines())  # no duplicates


def test_accounting_balances_after_threads_that_outlive_main(tmp_path: Path) -> None:
    """The configured pipeline's books at the very end: all emitted events exported."""
    out = tmp_path / "app.jsonl"
    proc = _run(
        f"""
        import atexit, sys, threading
        def final():  # registered before fapilog's hooks: runs after its exit shutdown
            s = pipeline.stats()
            print(s.emitted, s.exported, s.dropped_total, s.in_flight)
        atexit.register(final)
        import fapilog
        pipeline = fapilog.configure(exporters=["file"], file_path={str(out)!r},
                                     block_timeout_ms=60_000)
        log = fapilog.get_logger("x")
        main_done = threading.Event()
        threading._register_atexit(main_done.set)
        def work():
            main_done.wait()
            for i in range(20_000):
                log.info("e", i=i)
        threading.Thread(target=work).start()
        log.info("main")
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["20001", "20001", "0", "0"]
    assert len(out.read_text().splitlines()) == 20_001


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_multiprocessing_children_flush_at_their_exit(tmp_path: Path) -> None:
    """A forked multiprocessing child ends through threading's shutdown and os._exit,
    without atexit: its events still arrive (the early exit flush)."""
    out = tmp_path / "app.jsonl"
    proc = _run(
        f"""
        import multiprocessing, fapilog
        fapilog.configure(exporters=["file"], file_path={str(out)!r},
                          schedule_delay_ms=60_000)
        log = fapilog.get_logger("child")
        def child(n):
            for i in range(n):
                log.info("child event", i=i)
        if __name__ == "__main__":
            ctx = multiprocessing.get_context("fork")
            procs = [ctx.Process(target=child, args=(1000,)) for _ in range(3)]
            for p in procs: p.start()
            for p in procs: p.join()
            print([p.exitcode for p in procs])
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[0] == "[0, 0, 0]"
    assert len([line for line in out.read_text().splitlines() if line]) == 3000


# -- SIGTERM during a shutdown in progress ---------------------------------------------------

_SLOW_SHUTDOWN = """
    import asyncio, os, signal, sys, threading, time, fapilog
    from fapilog.exporters import FileExporter
    out = {out!r}

    class SlowFile(FileExporter):  # ~10 ms a batch: 60,000 events take about 1.2 s
        async def export(self, batch):
            await asyncio.sleep(0.01)
            return await super().export(batch)

    fapilog.configure(exporters=[SlowFile(out)], schedule_delay_ms=60_000,
                      max_queue_size=100_000, block_timeout_ms=60_000,
                      shutdown_timeout_ms=20_000)
    log = fapilog.get_logger("s")
    for i in range(60_000):
        log.info("e", i=i)

    def terminate_soon():
        time.sleep(0.3)
        with open(out) as f:
            sys.__stdout__.write(f"signal at {{sum(1 for _ in f)}}\\n")
            sys.__stdout__.flush()
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=terminate_soon, daemon=True).start()
    {then}
"""


@pytest.mark.parametrize(
    "then",
    ["fapilog.shutdown()\n    print('not reached')", "pass  # the exit flush"],
    ids=["explicit-shutdown", "exit-flush"],
)
def test_sigterm_during_a_shutdown_in_progress_lets_it_finish_then_dies_of_it(
    tmp_path: Path, then: str
) -> None:
    """SIGTERM 0.3 s into flushing 60,000 events to a slow file exporter: the flush goes
    on to the end (all 60,000 lines) within the bound, then the process dies of SIGTERM."""
    out = tmp_path / "app.jsonl"
    start = time.monotonic()
    proc = _run(_SLOW_SHUTDOWN.format(out=str(out), then=then))
    elapsed = time.monotonic() - start
    assert proc.returncode == -15, proc.stderr
    assert "not reached" not in proc.stdout
    (at_signal,) = re.findall(r"signal at (\d+)", proc.stdout)
    assert int(at_signal) < 60_000  # the signal came while events were still on their way
    assert len(out.read_text().splitlines()) == 60_000
    assert _loss_lines(proc.stderr) == []
    assert elapsed < 60


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_pool_workers_terminated_at_exit_still_deliver(tmp_path: Path) -> None:
    """``with multiprocessing.Pool()`` terminates its workers (SIGTERM) on the way out,
    often while they run their exit flush: every worker event still arrives."""
    out = tmp_path / "app.jsonl"
    proc = _run(
        f"""
        import multiprocessing, fapilog
        fapilog.configure(exporters=["file"], file_path={str(out)!r},
                          schedule_delay_ms=60_000, block_timeout_ms=60_000)
        log = fapilog.get_logger("pool")
        def task(k):
            for i in range(5000):
                log.info("e", k=k, i=i)
            return k
        if __name__ == "__main__":
            with multiprocessing.get_context("fork").Pool(4) as pool:
                print(sum(pool.map(task, range(8))))
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["28"]
    # Set of (task, i): several processes append to one file; the file exporter may
    # put an empty line before its first record when it opens the file while another
    # process is halfway through a write.
    records = [json.loads(line) for line in out.read_text().splitlines() if line]
    assert len(records) == 40_000
    assert len({(r["attributes"]["k"], r["attributes"]["i"]) for r in records}) == 40_000


# -- loss is always visible --------------------------------------------------------------------


def test_unreachable_collector_exit_is_bounded_by_shutdown_timeout_and_told_once() -> None:
    """A short script logging to a collector that is not there (a closed loopback
    port): the exit waits about shutdown_timeout_ms, one line tells the lost count, the
    endpoint and the fix, and the exit code is the script's own."""
    port = _closed_port()
    proc = _run(
        """
        import atexit, sys, time
        marks = {}
        atexit.register(lambda: print(f"{time.monotonic() - marks['end']:.2f}"))
        import fapilog
        fapilog.configure(exporters=["otlp"])
        fapilog.get_logger("x").info("hello")
        marks["end"] = time.monotonic()
        """,
        env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
            "FAPILOG_SHUTDOWN_TIMEOUT_MS": "700",
        },
    )
    assert proc.returncode == 0, proc.stderr
    waited = float(proc.stdout.strip())
    assert 0.6 <= waited < 2.0
    (line,) = _loss_lines(proc.stderr)
    assert "1 of 1 event(s) not delivered" in line
    assert "shutdown=1" in line
    assert f"collector unreachable at http://127.0.0.1:{port}" in line
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in line and "shutdown_timeout_ms (700)" in line


def test_loss_line_counts_what_stats_counts_with_a_hung_exporter() -> None:
    """With an exporter that never returns, shutdown() is False and the line's counts
    are exactly those of stats(), for the pipeline and for the exporter."""
    proc = _run(
        """
        import asyncio, fapilog
        from fapilog import Exporter

        class Hung(Exporter):
            name = "hung"
            async def export(self, batch):
                await asyncio.Event().wait()

        pipeline = fapilog.Pipeline(exporters=[Hung()], schedule_delay_ms=1)
        log = pipeline.get_logger("x")
        for i in range(1000):
            log.info("e", i=i)
        print(pipeline.shutdown(timeout=0.5))
        s = pipeline.stats()
        print(s.dropped_total, dict(s.dropped), dict(s.exporters["hung"].dropped))
        """
    )
    assert proc.returncode == 0, proc.stderr
    first, second = proc.stdout.splitlines()
    assert first == "False"
    assert second == "1000 {'shutdown': 1000} {'shutdown': 1000}"
    (line,) = _loss_lines(proc.stderr)
    assert "1,000 of 1,000 event(s) not delivered" in line
    assert "dropped shutdown=1,000" in line and "hung shutdown=1,000 of 1,000" in line


def test_loss_line_names_an_unwritable_file_path(tmp_path: Path) -> None:
    """A file exporter whose directory is not one (a regular file took its place; root
    ignores permission bits, so this fails for any user): every event lost, shutdown()
    False, and the line names the path."""
    (tmp_path / "logs").write_text("not a directory")
    target = tmp_path / "logs" / "app.jsonl"
    proc = _run(
        f"""
        import fapilog
        from fapilog.exporters import FileExporter
        pipeline = fapilog.Pipeline(exporters=[FileExporter({str(target)!r})])
        log = pipeline.get_logger("x")
        for i in range(100):
            log.info("e", i=i)
        print(pipeline.shutdown(timeout=0.5), pipeline.stats().dropped_total)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "100"]
    (line,) = _loss_lines(proc.stderr)
    assert "100 of 100 event(s) not delivered" in line
    assert f"file path not writable: {target}" in line


def test_backlog_drops_are_reported_when_they_happen_and_in_the_loss_line() -> None:
    """An exporter that stopped answering under overflow=drop_newest: once its lane
    sheds, export_backlog drops get a line as they happen and appear, counted as in
    stats(), in the loss line."""
    proc = _run(
        """
        import asyncio, fapilog
        from fapilog import Exporter, ExportResult

        class Slow(Exporter):
            name = "slow"
            async def export(self, batch):
                await asyncio.sleep(60)
                return ExportResult.success()

        pipeline = fapilog.Pipeline(exporters=[Slow()], overflow="drop_newest",
                                    max_queue_size=1000, max_export_batch_size=100)
        log = pipeline.get_logger("x")
        for i in range(20_000):
            log.info("e", i=i)
        pipeline.shutdown(timeout=2)
        s = pipeline.stats()
        print(s.dropped.get("export_backlog", 0), s.dropped.get("queue_full", 0),
              s.exporters["slow"].dropped.get("backlog", 0))
        """
    )
    assert proc.returncode == 0, proc.stderr
    backlog, queue_full, lane_backlog = (int(n) for n in proc.stdout.split())
    assert backlog > 0 and lane_backlog == backlog
    lines = _fapilog_lines(proc.stderr)
    assert any("dropped as export_backlog" in line for line in lines)
    (line,) = _loss_lines(proc.stderr)
    assert f"export_backlog={backlog:,}" in line
    assert f"slow backlog={backlog:,}" in line
    if queue_full:
        assert f"queue_full={queue_full:,}" in line
    assert "raise max_queue_size" in line


def test_no_loss_no_line_and_filtered_is_not_a_loss(tmp_path: Path) -> None:
    """A clean exit prints nothing from fapilog; events filtered out by a processor are
    counted in stats() but are no loss."""
    out = tmp_path / "app.jsonl"
    proc = _run(
        f"""
        import fapilog
        class DropDebug(fapilog.Processor):
            def on_emit(self, event):
                return event.body != "noise"
            def shutdown(self):
                pass
        pipeline = fapilog.configure(exporters=["file"], file_path={str(out)!r},
                                     processors=[DropDebug()])
        log = fapilog.get_logger("x")
        log.info("noise")
        log.info("signal")
        print(pipeline.shutdown(), dict(pipeline.stats().dropped))
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["True {'filtered': 1}"]
    assert _fapilog_lines(proc.stderr) == []
