"""Caller cost of ``log.info`` against the bare-call floor, measured in one run.

The floor is a plain Python function taking the same arguments that appends a
tuple to a deque: the least any in-process logger that defers work can cost.
Rounds alternate floor / fapilog so machine noise hits both alike. Two clocks:

* ``thread``: CPU time of the calling thread (``time.thread_time_ns``): the cost
  the application's thread pays; excludes time the worker holds the GIL.
* ``wall``: elapsed time on the caller, worker competing for the GIL included.

Two events: the peers' event (five scalar fields, the figure ``thread``/``wall`` in
the JSON) and the same event with a small list and a small dict added
(``containers`` in the JSON), which fapilog copies on the caller so the event
records the values at the call (the floor passes them by reference).

Calls that log nothing (``filtered`` in the JSON), each against the first: a call
below the pipeline's level (``global``), a call below a per-logger level set with
``fapilog.set_level`` (``per_logger``), and a call dropped by a rate limit
(``rate_limited``: a logger whose ``rate_limits`` rule admits 1 event/s, past its
burst), all with the peers' event.

Usage: ``python benchmarks/caller_cost.py [--calls N] [--rounds R] [--json PATH]``
"""

from __future__ import annotations

import argparse
import collections
import gc
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from _shared import NullExporter

import fapilog


def _measure(fn: Callable[[], None], calls: int, after: Callable[[], None]) -> tuple[float, float]:
    """Run ``fn`` ``calls`` times in chunks; return (thread ns/call, wall ns/call)."""
    chunk = 1000
    thread_total = wall_total = 0
    for _ in range(calls // chunk):
        t0, w0 = time.thread_time_ns(), time.perf_counter_ns()
        for _ in range(chunk):
            fn()
        thread_total += time.thread_time_ns() - t0
        wall_total += time.perf_counter_ns() - w0
        after()
    n = (calls // chunk) * chunk
    return thread_total / n, wall_total / n


def run(calls: int, rounds: int) -> dict[str, Any]:
    exporter = NullExporter()
    pipeline = fapilog.configure(
        exporters=[exporter],
        max_queue_size=200_000,
        # Only this logger is limited (the others have no limiter: they pay nothing).
        rate_limits={"bench.limited": 1.0},
    )
    log = fapilog.get_logger("bench")
    fapilog.set_level("bench.quiet", "WARN")
    quiet = fapilog.get_logger("bench.quiet")
    limited = fapilog.get_logger("bench.limited")
    floor: collections.deque[tuple[Any, ...]] = collections.deque()

    def bare(msg: str, **fields: Any) -> None:
        floor.append((msg, fields))

    def call_floor() -> None:
        bare(
            "request handled",
            method="GET",
            path="/api/orders",
            status=200,
            duration_ms=12.5,
            user_id="u-123",
        )

    def call_fapilog() -> None:
        log.info(
            "request handled",
            method="GET",
            path="/api/orders",
            status=200,
            duration_ms=12.5,
            user_id="u-123",
        )

    def call_floor_containers() -> None:
        bare(
            "request handled",
            method="GET",
            path="/api/orders",
            status=200,
            duration_ms=12.5,
            user_id="u-123",
            items=["sku-1", "sku-2", "sku-3"],
            meta={"region": "eu", "retry": 0},
        )

    def call_fapilog_containers() -> None:
        log.info(
            "request handled",
            method="GET",
            path="/api/orders",
            status=200,
            duration_ms=12.5,
            user_id="u-123",
            items=["sku-1", "sku-2", "sku-3"],
            meta={"region": "eu", "retry": 0},
        )

    def call_global_filtered() -> None:
        log.debug(
            "request handled",
            method="GET",
            path="/api/orders",
            status=200,
            duration_ms=12.5,
            user_id="u-123",
        )

    def call_level_filtered() -> None:
        quiet.info(
            "request handled",
            method="GET",
            path="/api/orders",
            status=200,
            duration_ms=12.5,
            user_id="u-123",
        )

    def call_rate_limited() -> None:
        limited.info(
            "request handled",
            method="GET",
            path="/api/orders",
            status=200,
            duration_ms=12.5,
            user_id="u-123",
        )

    def settle() -> None:
        floor.clear()

    def drain() -> None:
        # Keep the ring small, like a steadily draining service (outside the timing).
        while pipeline.stats().queued > 5000:
            time.sleep(0.001)

    results: dict[str, list[tuple[float, float]]] = {}
    # One phase per event, each with its own warm-up and alternating floor/fapilog
    # rounds; the pipeline is flushed in between, so the scalar phase runs exactly as
    # it did before the second event was added (a backlog of the other event's calls
    # in the worker would be charged to it: the GIL and the collector are shared).
    for suffix, floor_fn, fapilog_fn in (
        ("", call_floor, call_fapilog),
        ("_containers", call_floor_containers, call_fapilog_containers),
    ):
        assert pipeline.flush(60)
        _measure(floor_fn, calls // 4, settle)  # warm-up
        _measure(fapilog_fn, calls // 4, drain)
        floor_runs = results["floor" + suffix] = []
        fapilog_runs = results["fapilog" + suffix] = []
        for _ in range(rounds):
            gc.collect()
            floor_runs.append(_measure(floor_fn, calls, settle))
            gc.collect()
            fapilog_runs.append(_measure(fapilog_fn, calls, drain))
    # Calls that log nothing: rounds alternate between the three.
    filtered = {
        "global": call_global_filtered,
        "per_logger": call_level_filtered,
        "rate_limited": call_rate_limited,
    }
    assert pipeline.flush(60)
    for name, fn in filtered.items():
        _measure(fn, calls // 4, settle)  # warm-up (the limited one spends its burst)
        results["filtered_" + name] = []
    for _ in range(rounds):
        for name, fn in filtered.items():
            gc.collect()
            results["filtered_" + name].append(_measure(fn, calls, settle))
    assert pipeline.flush(60)
    stats = pipeline.stats()
    pipeline.shutdown()
    fapilog.set_level("bench.quiet", None)

    def summary(name: str, idx: int) -> dict[str, float]:
        values = [r[idx] for r in results[name]]
        return {"median": statistics.median(values), "min": min(values), "max": max(values)}

    out: dict[str, Any] = {
        "python": sys.version.split()[0],
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "calls_per_round": calls,
        "rounds": rounds,
        "emitted": stats.emitted,
        "exported": stats.exported,
        "dropped": stats.dropped_total,
        "delivered_to_exporter": exporter.count,
    }
    out["rate_limited"] = stats.dropped.get("rate_limited", 0)
    out["filtered"] = {}
    for clock, idx in (("thread", 0), ("wall", 1)):
        base = summary("filtered_global", idx)["median"]
        out["filtered"][clock] = {
            name: {**summary("filtered_" + name, idx), "ratio": 0.0}
            for name in ("global", "per_logger", "rate_limited")
        }
        for entry in out["filtered"][clock].values():
            entry["ratio"] = entry["median"] / base
    out["containers"] = {}
    for clock, idx in (("thread", 0), ("wall", 1)):
        for target, suffix in ((out, ""), (out["containers"], "_containers")):
            floor_s, fap_s = summary("floor" + suffix, idx), summary("fapilog" + suffix, idx)
            target[clock] = {
                "floor_ns": floor_s,
                "fapilog_ns": fap_s,
                "ratio": fap_s["median"] / floor_s["median"],
            }
    return out


def _table(res: dict[str, Any]) -> None:
    print("clock   floor ns/call (min-max)      fapilog ns/call (min-max)    ratio")
    for clock in ("thread", "wall"):
        f, g = res[clock]["floor_ns"], res[clock]["fapilog_ns"]
        print(
            f"{clock:6}  {f['median']:7.0f} ({f['min']:.0f}-{f['max']:.0f})"
            f"{'':8}{g['median']:7.0f} ({g['min']:.0f}-{g['max']:.0f})"
            f"{'':8}{res[clock]['ratio']:.2f}x"
        )


def _filtered_table(res: dict[str, Any]) -> None:
    print("clock   call logging nothing       ns/call (min-max)      ratio to global")
    for clock in ("thread", "wall"):
        for name, label in (
            ("global", "below the global level"),
            ("per_logger", "below a per-logger level"),
            ("rate_limited", "over a rate limit"),
        ):
            g = res["filtered"][clock][name]
            print(
                f"{clock:6}  {label:26} {g['median']:7.0f} ({g['min']:.0f}-{g['max']:.0f})"
                f"{'':8}{g['ratio']:.2f}x"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    res = run(args.calls, args.rounds)
    print(
        f"python {res['python']} on {res['machine']}; {res['rounds']} rounds x {res['calls_per_round']} calls"
    )
    print("five scalar fields (the peers' event):")
    _table(res)
    print("the same plus items=[3 str] and meta={2 keys} (fapilog copies them at the call):")
    _table(res["containers"])
    print("calls that log nothing (the peers' event):")
    _filtered_table(res)
    print(
        f"accounting: emitted={res['emitted']} exported={res['exported']} dropped={res['dropped']}"
        f" (rate_limited={res['rate_limited']})"
    )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
