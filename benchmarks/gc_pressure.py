"""Garbage-collector pressure and event-loop lag under a logging burst (issue 20).

Two measurements, each run in a fresh process per round (rounds alternate when
several styles are asked for), medians printed:

* ``burst``: 200,000 ``log.info(MESSAGE, **5 fields)`` from one thread into a
  :class:`fapilog.Pipeline` with its defaults (redaction on; ``overflow="block"``
  with a long ``block_timeout_ms`` so nothing is dropped) writing JSON lines to a null
  stream; the W1 shape of ``benchmarks/peers``. Reports every garbage collection by
  generation and by thread (``gc.callbacks``: count and milliseconds), the caller's
  wall and thread ns/call, and the total wall time until ``shutdown()`` returned.
  ``--peers-config`` uses the peer suite's like-for-like configuration instead
  (redaction off, batch 512).
* ``w3``: W3 of ``benchmarks/peers``: ``--tasks`` x ``--per-task`` events in one
  asyncio loop, ``await asyncio.sleep(0)`` between events, a 1 ms ticker measuring loop
  lag; ``--style`` ``ainfo`` (``await log.ainfo(...)``, what the suite runs), ``info``
  (``log.info(...)``) or ``control`` (no logging). The pipeline is the suite's
  (lossless, redaction off, batch 512). Reports loop-lag p99/max, total time, events
  delivered and the collections as above.

Usage::

    python benchmarks/gc_pressure.py burst [--events N] [--rounds R] [--json PATH]
    python benchmarks/gc_pressure.py w3 [--style ainfo,info,control] [--tasks 100]
        [--per-task 1000] [--rounds R] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from typing import Any

# The peer suite's event and its counting /dev/null stream (benchmarks/peers/_common.py).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers"))
from _common import FIELDS, MESSAGE
from _common import TextCounter as NullText

M, P, S, D, U = FIELDS.values()


class GcMeter:
    """Counts collections and the time spent in them, per generation and thread."""

    def __init__(self) -> None:
        self.count = [0, 0, 0]
        self.ms = [0.0, 0.0, 0.0]
        self.collected = [0, 0, 0]
        self.by_thread: dict[str, float] = {}
        self._start = 0.0
        self.on = False

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if not self.on:
            return
        if phase == "start":
            self._start = time.perf_counter()
            return
        gen = info["generation"]
        spent = (time.perf_counter() - self._start) * 1000
        self.count[gen] += 1
        self.ms[gen] += spent
        self.collected[gen] += info.get("collected", 0)
        name = threading.current_thread().name.split("-")[0]
        self.by_thread[name] = self.by_thread.get(name, 0.0) + spent

    def result(self) -> dict[str, Any]:
        return {
            "gc_count": self.count,
            "gc_ms": [round(x, 2) for x in self.ms],
            "gc_ms_total": round(sum(self.ms), 2),
            "gc_collected": self.collected,
            "gc_ms_by_thread": {k: round(v, 2) for k, v in self.by_thread.items()},
        }


def _pipeline(peers_config: bool, total: int) -> tuple[Any, NullText]:
    import fapilog
    from fapilog.exporters.console import ConsoleExporter

    out = NullText()
    exporter = ConsoleExporter(out, format="json")  # type: ignore[arg-type]
    settings: dict[str, Any] = {"overflow": "block", "block_timeout_ms": 600_000}
    if peers_config:
        from opentelemetry.sdk.resources import Resource

        settings.update(
            max_export_batch_size=512,
            schedule_delay_ms=200,
            resource=Resource({"service.name": "peers-bench"}),
            redaction=False,
        )
    return fapilog.Pipeline(exporters=[exporter], **settings), out


def one_burst(events: int, peers_config: bool) -> dict[str, Any]:
    pipeline, out = _pipeline(peers_config, events)
    log = pipeline.get_logger("bench")
    info = log.info
    warmup = max(100, events // 100)
    for _ in range(warmup):
        info(MESSAGE, method=M, path=P, status=S, duration_ms=D, user_id=U)
    pipeline.flush(timeout=30)
    gc.collect()
    meter = GcMeter()
    gc.callbacks.append(meter)
    meter.on = True
    t0, w0 = time.thread_time_ns(), time.perf_counter_ns()
    for _ in range(events):
        info(MESSAGE, method=M, path=P, status=S, duration_ms=D, user_id=U)
    t1, w1 = time.thread_time_ns(), time.perf_counter_ns()
    clean = pipeline.shutdown(timeout=600)
    w2 = time.perf_counter_ns()
    meter.on = False
    stats = pipeline.stats()
    return {
        "caller_thread_ns": (t1 - t0) / events,
        "caller_wall_ns": (w1 - w0) / events,
        "total_ms": (w2 - w0) / 1e6,
        "emitted": stats.emitted,
        "exported": stats.exported,
        "lines": out.lines,
        "clean": clean,
        **meter.result(),
    }


async def _w3(style: str, tasks: int, per_task: int) -> dict[str, Any]:
    total = tasks * per_task
    pipeline = out = None
    if style != "control":
        pipeline, out = _pipeline(True, total)
    log = pipeline.get_logger("bench") if pipeline is not None else None
    lags: list[float] = []
    running = True

    async def ticker() -> None:
        while running:
            t = time.perf_counter()
            await asyncio.sleep(0.001)
            lags.append((time.perf_counter() - t - 0.001) * 1000)

    async def task_ainfo() -> None:
        assert log is not None
        ainfo = log.ainfo
        for _ in range(per_task):
            await ainfo(MESSAGE, method=M, path=P, status=S, duration_ms=D, user_id=U)
            await asyncio.sleep(0)

    async def task_info() -> None:
        assert log is not None
        info = log.info
        for _ in range(per_task):
            info(MESSAGE, method=M, path=P, status=S, duration_ms=D, user_id=U)
            await asyncio.sleep(0)

    async def task_control() -> None:
        for _ in range(per_task):
            (lambda: None)()
            await asyncio.sleep(0)

    task = {"ainfo": task_ainfo, "info": task_info, "control": task_control}[style]
    gc.collect()
    meter = GcMeter()
    gc.callbacks.append(meter)
    meter.on = True
    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0.002)
    started = time.perf_counter()
    await asyncio.gather(*(task() for _ in range(tasks)))
    logged = time.perf_counter()
    res: dict[str, Any] = {}
    if pipeline is not None:
        clean = await pipeline.ashutdown(timeout=600)
        stats = pipeline.stats()
        res = {
            "clean": clean,
            "emitted": stats.emitted,
            "exported": stats.exported,
            "dropped": stats.dropped_total,
            "lines": out.lines if out is not None else 0,
        }
    done = time.perf_counter()
    running = False
    await tick
    meter.on = False
    lags.sort()
    return {
        "total_s": done - started,
        "logging_phase_s": logged - started,
        "lag_p99_ms": lags[min(len(lags) - 1, int(len(lags) * 0.99))],
        "lag_max_ms": lags[-1],
        "lag_top_ms": [round(x, 2) for x in lags[-8:][::-1]],
        "ticks": len(lags),
        **res,
        **meter.result(),
    }


def _child(argv: list[str]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, *argv, "--one"], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"round failed: {proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in runs[0].items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            if isinstance(value, list) and all(isinstance(v, int | float) for v in value):
                out[key] = [statistics.median(r[key][i] for r in runs) for i in range(len(value))]
            continue
        out[key] = statistics.median(r[key] for r in runs)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("burst", "w3"))
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--peers-config", action="store_true")
    parser.add_argument("--style", default="ainfo,info,control")
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--per-task", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        if args.what == "burst":
            result = one_burst(args.events, args.peers_config)
        else:
            result = asyncio.run(_w3(args.style, args.tasks, args.per_task))
        print(json.dumps(result))
        return 0
    report: dict[str, Any] = {"python": sys.version.split()[0], "cpus": os.cpu_count()}
    if args.what == "burst":
        base = ["burst", "--events", str(args.events)]
        if args.peers_config:
            base.append("--peers-config")
        runs = [_child(base) for _ in range(args.rounds)]
        report["burst"] = {"median": _medians(runs), "runs": runs}
    else:
        styles = args.style.split(",")
        runs_by: dict[str, list[dict[str, Any]]] = {s: [] for s in styles}
        for _ in range(args.rounds):
            for style in styles:
                runs_by[style].append(
                    _child(
                        [
                            "w3",
                            "--style",
                            style,
                            "--tasks",
                            str(args.tasks),
                            "--per-task",
                            str(args.per_task),
                        ]
                    )
                )
        report["w3"] = {s: {"median": _medians(r), "runs": r} for s, r in runs_by.items()}
    text = json.dumps(report, indent=1)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            fh.write(text)
    summary = {k: v["median"] for k, v in report.get("w3", {}).items()}
    if "burst" in report:
        summary = report["burst"]["median"]
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
