"""Child process of ``test_spool_kill.py``: logs numbered events with the spool on.

Run as ``python kill_child.py SPOOL_DIR ENDPOINT MARK_FILE FIRST COUNT``. It builds a
pipeline with ``spool_dir=SPOOL_DIR`` (so it replays what an earlier, killed process
left there) and an OTLP/HTTP exporter to ``ENDPOINT``, prints one ``ready {json}``
line (the ``stats().spool`` replay figures), then logs the events ``seq = FIRST ...
FIRST + COUNT - 1`` in short bursts until it is killed or done.

The *mark file* says which events the durability guarantee covers: a thread rewrites
it every few milliseconds (in place, fdatasynced) with the highest ``seq`` whose log
call returned more than ``--guarantee-ms`` before the rewrite (and, for the record,
the highest ``seq`` logged so far). When the process is SIGKILLed, every event up to
the last mark written returned more than that long before the kill, so the guarantee
says it is delivered, now or by the next process on the directory. On a clean end it marks every event, flushes and shuts down, and
prints ``done {json}``.

The marks start ``--guarantee-ms`` after the exporter's first export returned: the
OTLP/HTTP exporter builds its HTTP client (imports, TLS context) inside its first
export, on the worker's event loop, which drains nothing for those ~80-220 ms, so
events logged then wait in the ring longer than the guarantee. ``--cold`` marks from
the start and shows it (see docs/durability.md).

``--measure FILE`` instead measures the bound: it wraps the pipeline's spool append
and writes, for every event, how long after its log call returned the append that
wrote it returned (the moment it is on disk under ``--fsync batch``, and in the
kernel's page cache, so safe from a process crash, under every policy), as JSON
statistics.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import sys
import threading
import time
from array import array
from typing import Any

import fapilog
from fapilog.exporters.otlp import OTLPExporter

_MARK_WIDTH = 24


class Marker:
    """Rewrites the mark file with the highest seq whose call returned long enough ago."""

    def __init__(self, path: str, first: int, guarantee_s: float) -> None:
        self.guarantee_s = guarantee_s
        self.times = array("d")  # monotonic return time of each call, in seq order
        self.first = first
        self.stop = threading.Event()
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        self.marked = first - 1
        self.write(first - 1)  # nothing covered yet

    def write(self, seq: int) -> None:
        """Mark ``seq`` (covered) and the highest seq logged so far, in one write."""
        logged = self.first + len(self.times) - 1
        line = f"{seq:>{_MARK_WIDTH}} {logged:>{_MARK_WIDTH}}\n"
        os.pwrite(self.fd, line.encode("ascii"), 0)
        os.fdatasync(self.fd)
        self.marked = seq

    def covered(self, now: float) -> int:
        """The highest seq whose call returned at or before ``now - guarantee``."""
        index = bisect.bisect_right(self.times, now - self.guarantee_s)
        return self.first + index - 1

    def run(self, warm: threading.Event | None) -> None:
        if warm is not None:  # the guarantee holds from the exporter's first export on
            while not warm.wait(0.003):
                if self.stop.is_set():
                    return
                self.write(self.marked)
            until = time.monotonic() + self.guarantee_s
            while time.monotonic() < until and not self.stop.wait(0.003):
                self.write(self.marked)
        while not self.stop.wait(0.003):
            self.write(max(self.marked, self.covered(time.monotonic())))


def _pipeline(args: argparse.Namespace, exported: threading.Event) -> fapilog.Pipeline:
    exporter = OTLPExporter(
        endpoint=args.endpoint,
        protocol="http/protobuf",
        timeout=2.0,
        max_concurrent_exports=1,
    )
    export = exporter.export

    async def first_noted(batch: Any) -> Any:
        try:
            return await export(batch)
        finally:
            exported.set()

    exporter.export = first_noted  # type: ignore[method-assign]
    return fapilog.Pipeline(
        exporters=[exporter],
        spool_dir=args.spool_dir,
        spool_fsync=args.fsync,
        max_export_batch_size=args.batch,
        schedule_delay_ms=5,
        export_timeout_ms=5_000,
        overflow="block",
        block_timeout_ms=10_000,
    )


def _spool_figures(pipeline: fapilog.Pipeline) -> dict[str, Any]:
    spool = pipeline.stats().spool
    assert spool is not None
    return {
        "pid": os.getpid(),
        "possible_duplicates": spool.possible_duplicates,
        "replay_pending": spool.replay_pending,
        "replayed": spool.replayed,
        "corrupt": spool.corrupt,
        "degraded": spool.degraded,
    }


def _say(word: str, data: dict[str, Any]) -> None:
    sys.stdout.write(f"{word} {json.dumps(data)}\n")
    sys.stdout.flush()


def _log(args: argparse.Namespace, pipeline: fapilog.Pipeline, times: array[float]) -> None:
    """Log the events in bursts of ``--burst`` with ``--gap-ms`` pauses (seeded gaps
    vary from 0 to twice that, so the worker is caught both busy and idle)."""
    import random

    rng = random.Random(args.first)
    log = pipeline.get_logger("chaos.kill")
    clock = time.monotonic
    note = times.append
    seq, end = args.first, args.first + args.count
    while seq < end:
        stop = min(seq + args.burst, end)
        while seq < stop:
            log.info("event", seq=seq)
            note(clock())
            seq += 1
        time.sleep(rng.uniform(0, 2 * args.gap_ms) / 1000)


def _measure(args: argparse.Namespace, pipeline: fapilog.Pipeline) -> None:
    link = pipeline.spool
    assert link is not None
    appended: list[tuple[float, int]] = []  # (append returned, highest seq it wrote)
    original = link.append

    spent: list[float] = []  # ms inside each append (write and, per policy, fdatasync)

    def append(events: list[Any]) -> tuple[int, int, int]:
        began = time.monotonic()
        result = original(events)
        spent.append((time.monotonic() - began) * 1000)
        first_seq, start, took = result
        if first_seq >= 0 and took:
            highest = max(int(e.attributes["seq"]) for e in events[start : start + took])
            appended.append((time.monotonic(), highest))
        return result

    link.append = append  # type: ignore[method-assign]
    times: array[float] = array("d")
    _log(args, pipeline, times)
    assert pipeline.flush(timeout=30)
    delays: list[float] = []
    done_at = [t for t, _ in appended]
    highs = [h for _, h in appended]
    # appends run on one thread in seq order: the first append whose highest seq
    # reaches an event is the one that wrote it
    running = -1
    firsts: list[tuple[int, float]] = []
    for t, h in zip(done_at, highs, strict=True):
        if h > running:
            firsts.append((h, t))
            running = h
    keys = [h for h, _ in firsts]
    for i, returned in enumerate(times):
        k = bisect.bisect_left(keys, args.first + i)
        delays.append((firsts[k][1] - returned) * 1000)
    worst = sorted(range(len(delays)), key=delays.__getitem__)[-3:]
    slowest = [(args.first + i, round(delays[i], 1)) for i in worst]
    warm = [d for d, t in zip(delays, times, strict=True) if t > times[0] + 1.0]
    delays.sort()
    n = len(delays)
    with open(args.measure, "w", encoding="utf-8") as out:
        json.dump(
            {
                "fsync": args.fsync,
                "events": n,
                "appends": len(appended),
                "p50_ms": delays[n // 2],
                "p99_ms": delays[int(n * 0.99)],
                "p999_ms": delays[int(n * 0.999)],
                "max_ms": delays[-1],
                "slowest": slowest,
                "max_after_first_second_ms": max(warm, default=0.0),
                "append_p50_ms": sorted(spent)[len(spent) // 2],
                "append_max_ms": max(spent),
            },
            out,
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("spool_dir")
    parser.add_argument("endpoint")
    parser.add_argument("mark_file")
    parser.add_argument("first", type=int)
    parser.add_argument("count", type=int)
    parser.add_argument("--guarantee-ms", type=float, default=100.0)
    parser.add_argument("--fsync", default="batch", choices=("batch", "interval", "never"))
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--burst", type=int, default=20)
    parser.add_argument("--gap-ms", type=float, default=4.0)
    parser.add_argument("--measure", default=None)
    parser.add_argument("--cold", action="store_true")
    args = parser.parse_args()

    exported = threading.Event()
    pipeline = _pipeline(args, exported)
    if args.measure:
        _measure(args, pipeline)
        assert pipeline.shutdown(timeout=10)
        return
    marker = Marker(args.mark_file, args.first, args.guarantee_ms / 1000)
    warm = None if args.cold else exported
    thread = threading.Thread(target=marker.run, args=(warm,), name="marker", daemon=True)
    _say("ready", _spool_figures(pipeline))
    thread.start()
    _log(args, pipeline, marker.times)
    ok = pipeline.flush(timeout=30)
    marker.stop.set()
    thread.join()
    if ok:  # delivered: the guarantee covers every event now
        marker.write(args.first + args.count - 1)
    figures = _spool_figures(pipeline)
    figures["flushed"] = ok
    figures["shutdown"] = pipeline.shutdown(timeout=10)
    _say("done", figures)


if __name__ == "__main__":
    main()
