"""Fork storm: ``os.fork()`` over and over while a thread logs over OTLP, then count.

Every child logs a few events carrying its own marker attribute (``child``), shuts its
pipeline down and exits; the parent keeps logging from a thread the whole time and
times each of its flushes. At the end the collector is asked which events arrived.

Prints one JSON object (and a human summary on stderr): children that exited 0, died
of a signal (SIGSEGV, SIGABRT, ...) or hung (killed after ``--child-timeout``), the
children whose events all arrived, the parent's events emitted and delivered, and its
slowest flush.

Run (starts its own rotel collector)::

    .venv/bin/python benchmarks/faults/fork_storm.py --forks 200
    .venv/bin/python benchmarks/faults/fork_storm.py --forks 200 --protocol http/protobuf
    .venv/bin/python benchmarks/faults/fork_storm.py --mode pool --runs 20
    .venv/bin/python benchmarks/faults/fork_storm.py --mode process --runs 20

``--endpoint`` sends to a collector you run instead (the events are then not counted
here: the caller counts them, as tests/test_grpc_fork.py does).
"""

from __future__ import annotations

import argparse
import collections
import faulthandler
import json
import multiprocessing
import os
import signal
import sys
import threading
import time
import warnings
from typing import Any

warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads, 3.12+

import fapilog  # noqa: E402
from fapilog.exporters.otlp import OTLPExporter  # noqa: E402

CHILD_EVENTS = 5

_pipeline: fapilog.Pipeline | None = None


def _child_body(index: int, events: int, timeout: float) -> int:
    """Log ``events`` marked events, shut down; 0 when all were exported."""
    assert _pipeline is not None
    log = _pipeline.get_logger("storm.child")
    for i in range(events):
        log.info("child event", child=index, seq=i)
    ok = _pipeline.shutdown(timeout=timeout)
    stats = _pipeline.stats()
    if not ok or stats.exported != events:
        print(f"child {index}: shutdown={ok} {stats}", file=sys.stderr, flush=True)
        return 3
    return 0


def _pool_task(index: int) -> int:
    assert _pipeline is not None
    _pipeline.get_logger("storm.child").info("child event", child=index, seq=0)
    if not _pipeline.flush(10):
        raise RuntimeError(f"task {index}: flush failed")
    return index


def _process_target(index: int) -> None:
    assert _pipeline is not None
    _pipeline.get_logger("storm.child").info("child event", child=index, seq=0)
    # The multiprocessing child shuts the pipeline down at exit (docs/lifecycle.md).


class ParentLogger(threading.Thread):
    """Logs continuously; every ``flush_every`` events, times a flush."""

    def __init__(self, pipeline: fapilog.Pipeline, flush_every: int = 50) -> None:
        super().__init__(name="storm-parent-logger", daemon=True)
        self.pipeline = pipeline
        self.flush_every = flush_every
        self.stop = threading.Event()
        self.emitted = 0
        self.flush_times: list[float] = []
        self.flush_failures = 0

    def run(self) -> None:
        log = self.pipeline.get_logger("storm.parent")
        while not self.stop.is_set():
            log.info("parent event", parent_seq=self.emitted)
            self.emitted += 1
            if self.emitted % self.flush_every == 0:
                start = time.monotonic()
                if not self.pipeline.flush(30):
                    self.flush_failures += 1
                self.flush_times.append(time.monotonic() - start)
            time.sleep(0.0005)


def _dump_stacks(pid: int) -> None:
    """Have a hung child print its Python stacks (and, with FORK_STORM_GDB=1, native ones)."""
    print(f"child pid {pid} hung: its stacks follow", file=sys.stderr, flush=True)
    os.kill(pid, signal.SIGUSR1)
    time.sleep(0.5)
    if os.environ.get("FORK_STORM_GDB") == "1":
        import subprocess

        subprocess.run(
            ["gdb", "-p", str(pid), "-batch", "-ex", "thread apply all bt 25"],
            stdout=sys.stderr,
            stderr=subprocess.DEVNULL,
            timeout=60,
            check=False,
        )


def storm_raw(args: argparse.Namespace, pipeline: fapilog.Pipeline) -> dict[str, Any]:
    outcomes: collections.Counter[str] = collections.Counter()
    running: dict[int, tuple[int, float]] = {}
    fork_times: list[float] = []

    def reap(block: bool) -> None:
        while running:
            for pid, (_index, started) in list(running.items()):
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    del running[pid]
                    if os.WIFSIGNALED(status):
                        outcomes[signal.Signals(os.WTERMSIG(status)).name] += 1
                    else:
                        code = os.waitstatus_to_exitcode(status)
                        outcomes["exit 0" if code == 0 else f"exit {code}"] += 1
                elif time.monotonic() - started > args.child_timeout:
                    _dump_stacks(pid)
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    del running[pid]
                    outcomes["hung"] += 1
            if not block or len(running) < args.parallel:
                return
            time.sleep(0.005)

    for index in range(args.forks):
        reap(block=True)
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            code = 70
            try:
                code = _child_body(index, CHILD_EVENTS, args.child_timeout / 2)
            finally:
                os._exit(code)
        fork_times.append(time.monotonic() - started)
        running[pid] = (index, started)
    while running:
        reap(block=True)
        time.sleep(0.005)
    return {"outcomes": dict(outcomes), "max_fork_call_s": round(max(fork_times), 4)}


def storm_multiprocessing(args: argparse.Namespace, pipeline: fapilog.Pipeline) -> dict[str, Any]:
    ctx = multiprocessing.get_context("fork")
    outcomes: collections.Counter[str] = collections.Counter()
    durations = []
    for run in range(args.runs):
        started = time.monotonic()
        base = run * 100
        if args.mode == "pool":
            with ctx.Pool(2) as pool:
                result = pool.map_async(_pool_task, range(base, base + 8))
                try:
                    result.get(timeout=args.child_timeout)
                    outcomes["ok"] += 1
                except multiprocessing.TimeoutError:
                    outcomes["hung"] += 1
                    pool.terminate()
                except Exception as exc:  # a task failed
                    outcomes[f"error {type(exc).__name__}"] += 1
        else:
            procs = [ctx.Process(target=_process_target, args=(base + i,)) for i in range(4)]
            for proc in procs:
                proc.start()
            for proc in procs:
                proc.join(args.child_timeout)
                if proc.is_alive():
                    proc.kill()
                    proc.join()
                    outcomes["hung"] += 1
                else:
                    outcomes["exit 0" if proc.exitcode == 0 else f"exit {proc.exitcode}"] += 1
        durations.append(time.monotonic() - started)
    return {"outcomes": dict(outcomes), "max_run_s": round(max(durations), 3)}


def expected_children(args: argparse.Namespace) -> dict[int, int]:
    """Marker -> events each child sends."""
    if args.mode == "raw":
        return dict.fromkeys(range(args.forks), CHILD_EVENTS)
    per_run = 8 if args.mode == "pool" else 4
    return {run * 100 + i: 1 for run in range(args.runs) for i in range(per_run)}


def run(args: argparse.Namespace, endpoint: str) -> dict[str, Any]:
    global _pipeline
    exporter = OTLPExporter(endpoint=endpoint, protocol=args.protocol, timeout=10)
    pipeline = _pipeline = fapilog.Pipeline(
        exporters=[exporter], schedule_delay_ms=5, export_timeout_ms=30_000
    )
    parent = ParentLogger(pipeline)
    parent.start()
    started = time.monotonic()
    if args.mode == "raw":
        result = storm_raw(args, pipeline)
    else:
        result = storm_multiprocessing(args, pipeline)
    result["storm_s"] = round(time.monotonic() - started, 2)
    parent.stop.set()
    parent.join()
    flush_start = time.monotonic()
    shutdown_ok = pipeline.shutdown(timeout=30)
    stats = pipeline.stats()
    result.update(
        mode=args.mode,
        protocol=args.protocol,
        forks=args.forks if args.mode == "raw" else None,
        runs=args.runs if args.mode != "raw" else None,
        parent_emitted=parent.emitted,
        parent_exported=stats.exported,
        parent_flushes=len(parent.flush_times),
        parent_flush_failures=parent.flush_failures,
        parent_max_flush_s=round(max(parent.flush_times, default=0.0), 3),
        parent_final_shutdown_s=round(time.monotonic() - flush_start, 3),
        parent_shutdown_ok=shutdown_ok,
        grpc_env={k: os.environ.get(k) for k in ("GRPC_ENABLE_FORK_SUPPORT", "GRPC_POLL_STRATEGY")},
    )
    return result


def main() -> int:
    if hasattr(faulthandler, "register"):
        faulthandler.register(signal.SIGUSR1)  # dump the stacks of a hung run
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--forks", type=int, default=200)
    parser.add_argument("--mode", choices=["raw", "pool", "process"], default="raw")
    parser.add_argument("--runs", type=int, default=20, help="multiprocessing runs")
    parser.add_argument("--protocol", default="grpc", choices=["grpc", "http/protobuf"])
    parser.add_argument("--parallel", type=int, default=4, help="children alive at once")
    parser.add_argument("--child-timeout", type=float, default=30.0)
    parser.add_argument("--endpoint", help="send here instead of a collector started here")
    args = parser.parse_args()
    if args.endpoint:
        print(json.dumps(run(args, args.endpoint)), flush=True)
        return 0
    from fapilog.testing import RotelCollector

    with RotelCollector() as collector:
        endpoint = collector.grpc_endpoint
        if args.protocol != "grpc":
            endpoint = collector.http_logs_endpoint
        result = run(args, endpoint)
        expected = expected_children(args)
        total = sum(expected.values()) + result["parent_exported"]
        collector.wait_for(total, timeout=30)
        seen: collections.Counter[int] = collections.Counter()
        parent_seen = 0
        for record in collector.records():
            marker = record.attributes.get("child")
            if marker is not None:
                seen[int(marker)] += 1
            elif "parent_seq" in record.attributes:
                parent_seen += 1
        result["children_all_delivered"] = sum(
            1 for marker, n in expected.items() if seen.get(marker, 0) >= n
        )
        result["children_expected"] = len(expected)
        result["child_events_duplicated"] = sum(max(0, seen[m] - expected.get(m, 0)) for m in seen)
        result["parent_events_at_collector"] = parent_seen
    print(json.dumps(result), flush=True)
    print(
        f"{args.mode} {args.protocol}: outcomes={result['outcomes']} children delivered "
        f"{result['children_all_delivered']}/{result['children_expected']}; parent "
        f"{parent_seen}/{result['parent_emitted']} delivered, slowest flush "
        f"{result['parent_max_flush_s']} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
