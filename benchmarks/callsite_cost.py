"""What recording the call site (``callsite`` setting) costs a log call, in one run.

The peers' event of ``caller_cost.py`` (``log.info`` with five scalar fields), logged
by the three variants of the method, alternating rounds in one process on one
pipeline so machine noise hits all alike:

* ``plain``: the method installed while no pipeline records call sites;
* ``checking_off``: the method installed once one does, on a pipeline that does not
  (one flag read);
* ``checking_on``: the same method on a pipeline that records call sites.

Each also as ``log.trace`` below the level (a filtered call). Thread CPU time of the
caller, medians (min-max).

Usage: ``python benchmarks/callsite_cost.py [--calls N] [--rounds R] [--json PATH]``
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from _shared import NullExporter

import fapilog
from fapilog._logger import Logger, PipelineRef, _sync_method
from fapilog._severity import INFO, TRACE


def _measure(fn: Callable[[], None], calls: int, after: Callable[[], None]) -> float:
    chunk = 1000
    total = 0
    for _ in range(calls // chunk):
        t0 = time.thread_time_ns()
        for _ in range(chunk):
            fn()
        total += time.thread_time_ns() - t0
        after()
    return total / ((calls // chunk) * chunk)


class _Plain(Logger):
    """``log.info`` as installed while no pipeline records call sites."""

    __slots__ = ()
    info = _sync_method(INFO, False)
    trace = _sync_method(TRACE, False)


class _Checking(Logger):
    """``log.info`` as installed once a pipeline records call sites (reads the flag)."""

    __slots__ = ()
    info = _sync_method(INFO, False, 0, True)
    trace = _sync_method(TRACE, False, 0, True)


def run(calls: int, rounds: int) -> dict[str, Any]:
    pipeline = fapilog.configure(exporters=[NullExporter()], max_queue_size=200_000)
    off, on = PipelineRef(pipeline), PipelineRef(pipeline)
    on.callsite = True
    loggers = {
        "plain": _Plain("bench", off),
        "checking_off": _Checking("bench", off),
        "checking_on": _Checking("bench", on),
    }

    def event(log: Logger) -> Callable[[], None]:
        def call() -> None:
            log.info(
                "request handled",
                method="GET",
                path="/api/orders",
                status=200,
                duration_ms=12.5,
                user_id="u-123",
            )

        return call

    def filtered(log: Logger) -> Callable[[], None]:
        def call() -> None:
            log.trace("below the level", status=200)

        return call

    def drain() -> None:
        while pipeline.stats().queued > 5000:
            time.sleep(0.001)

    fns: dict[str, Callable[[], None]] = {}
    for name, log in loggers.items():
        fns[name] = event(log)
        fns[name + "_filtered"] = filtered(log)
    results: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():  # warm-up
        _measure(fn, calls // 4, drain)
    for index in range(rounds):
        order = list(fns) if index % 2 == 0 else list(fns)[::-1]
        for name in order:
            gc.collect()
            results[name].append(_measure(fns[name], calls, drain))
    assert pipeline.flush(60)
    stats = pipeline.stats()
    pipeline.shutdown()
    out: dict[str, Any] = {
        "python": sys.version.split()[0],
        "calls_per_round": calls,
        "rounds": rounds,
        "emitted": stats.emitted,
        "exported": stats.exported,
        "dropped": stats.dropped_total,
    }
    for name, values in results.items():
        out[name] = {"median": statistics.median(values), "min": min(values), "max": max(values)}
    out["check_ns"] = out["checking_off"]["median"] - out["plain"]["median"]
    out["capture_ns"] = out["checking_on"]["median"] - out["checking_off"]["median"]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    res = run(args.calls, args.rounds)
    print(f"python {res['python']}; {res['rounds']} rounds x {res['calls_per_round']} calls")
    print("thread ns/call, median (min-max)")
    for name in res:
        if isinstance(res[name], dict):
            r = res[name]
            print(f"  {name:22} {r['median']:6.0f} ({r['min']:.0f}-{r['max']:.0f})")
    print(f"the flag check (off) adds {res['check_ns']:.0f} ns per call")
    print(f"recording the call site adds {res['capture_ns']:.0f} ns per call")
    print(
        f"accounting: emitted={res['emitted']} exported={res['exported']} dropped={res['dropped']}"
    )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
