"""Profile fapilog's W2 path (OTLP/gRPC into rotel) with pyinstrument: top frames.

Usage: ``python benchmarks/peers/profile_w2.py [--events N] [--defaults] [--html PATH]``

The pipeline's worker thread (processors, batching, encoding, the gRPC call; all on
its own asyncio loop) is profiled by starting a pyinstrument ``Profiler`` inside
that thread; the calling thread gets a profiler of its own. Prints, for each thread,
the functions with the most *self* time (summed over every call site) and the
share of the thread's sampled time they take. A benchmark tool only: it wraps
``Worker._thread_main`` (``fapilog.pipeline._worker``) for the length of the run.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from contenders import Options, fapilog_tuned, fapilog_v3
from pyinstrument import Profiler
from pyinstrument.frame import Frame
from workloads import LOOPS


def _self_times(frame: Frame | None, into: defaultdict[str, float]) -> None:
    if frame is None:
        return
    # pyinstrument's synthetic "[self]"/"[await]" children repeat their parent's time.
    if not frame.is_synthetic and frame.total_self_time:
        where = f"{frame.function} ({frame.file_path_short}:{frame.line_no})"
        into[where] += frame.total_self_time
    for child in frame.children:
        _self_times(child, into)


def top_frames(profiler: Profiler, limit: int) -> tuple[float, list[tuple[str, float]]]:
    """(sampled seconds, [(frame, seconds of self time)] most first)."""
    session = profiler.last_session
    if session is None:
        return 0.0, []
    times: defaultdict[str, float] = defaultdict(float)
    root = session.root_frame()
    _self_times(root, times)
    total = root.time if root is not None else 0.0
    return total, sorted(times.items(), key=lambda kv: kv[1], reverse=True)[:limit]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument(
        "--defaults",
        action="store_true",
        help="the headline `fapilog` (defaults) instead of `fapilog-tuned`",
    )
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--html", help="also write the worker thread's profile as HTML")
    args = parser.parse_args(argv)

    from fapilog.pipeline._worker import Worker
    from fapilog.testing import RotelCollector

    worker_profiler = Profiler(interval=0.0005)
    original = Worker._thread_main

    def profiled(self: Any) -> None:
        worker_profiler.start()
        try:
            original(self)
        finally:
            worker_profiler.stop()

    Worker._thread_main = profiled  # type: ignore[method-assign]
    with RotelCollector(verbosity="basic") as collector:
        make = fapilog_v3 if args.defaults else fapilog_tuned
        setup = make(
            Options(destination="otlp", total_events=args.events, endpoint=collector.grpc_endpoint)
        )
        caller_profiler = Profiler(interval=0.0005)
        started = time.perf_counter()
        caller_profiler.start()
        LOOPS[setup.style](setup.call, args.events)
        caller_profiler.stop()
        received = collector.wait_for(args.events, timeout=300)
        elapsed = time.perf_counter() - started
        setup.finish()
    Worker._thread_main = original  # type: ignore[method-assign]
    print(
        f"fapilog W2{' (defaults)' if args.defaults else ''}: {received:,} of {args.events:,}"
        f" records delivered in {elapsed:.2f}s ({received / elapsed:,.0f}/s)\n"
    )
    for title, prof in (("worker thread", worker_profiler), ("calling thread", caller_profiler)):
        total, rows = top_frames(prof, args.top)
        print(f"{title}: {total:.2f}s sampled; top frames by self time")
        print("| self s | share | frame |\n| --- | --- | --- |")
        for where, seconds in rows:
            share = seconds / total if total else 0.0
            print(f"| {seconds:.3f} | {share:.0%} | `{where}` |")
        print()
    if args.html:
        Path(args.html).write_text(worker_profiler.output_html(), encoding="utf-8")
    return 0 if received == args.events else 1


if __name__ == "__main__":
    sys.exit(main())
