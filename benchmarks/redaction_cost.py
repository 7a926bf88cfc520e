"""Throughput cost of redaction: events/s through a pipeline, default rules vs off.

Two pipelines, identical but for ``redaction``, each with a null exporter. Rounds
alternate off / on so machine noise hits both alike; each round logs ``--events``
events and waits for them to be delivered, so the figure is end-to-end (caller plus
worker). Paths and user ids vary per event, as they do in a service, so the
processor's cache of known-clean strings only helps with what really repeats
(messages, methods). A second measurement times ``RedactionProcessor.on_emit`` alone on a
common event (no secrets), on one carrying secrets, and on one whose long message (an
access-log line, different every time) holds no secret but many of the characters the
detectors' gates look for (``-``, ``_``, ``.``, ``:``, ``=``, digits).

The script uses only the public API, so the same file measures an older checkout too
(``PYTHONPATH=<old checkout>/src python benchmarks/redaction_cost.py``).

Usage: ``python benchmarks/redaction_cost.py [--events N] [--rounds R] [--json PATH]``
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import sys
import time
from typing import Any

from _shared import NullExporter

from fapilog import LogEvent, Pipeline
from fapilog.redaction import RedactionProcessor


def _round(pipeline: Pipeline, exporter: NullExporter, events: int) -> float:
    """Log ``events`` common events and wait for delivery; return events/s."""
    log = pipeline.get_logger("bench")
    target = exporter.count + events
    gc.collect()
    start = time.perf_counter()
    for i in range(events):
        log.info(
            "request handled",
            method="GET",
            path=f"/api/orders/{i}",  # distinct per event: no cache helps here
            status=200,
            duration_ms=12.5,
            user_id=f"u-{i % 1000}",
            order_id=i,
        )
    assert pipeline.flush(120)
    elapsed = time.perf_counter() - start
    assert exporter.count == target, (exporter.count, target)
    return events / elapsed


def _processor_ns(event_factory: Any, n: int) -> float:
    """Median ns per on_emit of the default RedactionProcessor over 5 runs."""
    processor = RedactionProcessor()
    runs = []
    for _ in range(5):
        batch = [event_factory() for _ in range(n)]
        start = time.perf_counter_ns()
        for event in batch:
            processor.on_emit(event)
        runs.append((time.perf_counter_ns() - start) / n)
    return statistics.median(runs)


_serial = iter(range(1 << 62))


def _common() -> LogEvent:
    i = next(_serial)
    return LogEvent(
        timestamp=1,
        body="request handled",
        attributes={
            "method": "GET",
            "path": f"/api/orders/{i}",
            "status": 200,
            "duration_ms": 12.5,
            "user_id": "u-123",
            "order_id": 42,
        },
    )


def _with_secrets() -> LogEvent:
    return LogEvent(
        timestamp=1,
        body="payment by 4111 1111 1111 1111 for jane@example.com",
        attributes={
            "password": "hunter2",
            "headers": {"Authorization": "Bearer abcdef0123456789", "accept": "json"},
            "note": "ssn 123-45-6789",
            "order_id": 42,
        },
    )


def _long_message() -> LogEvent:
    i = next(_serial)
    return LogEvent(
        timestamp=1,
        body=(
            f"GET /api/v1/orders/{i}/items?include=sku_details&page=2 from 10.0.{i % 250}.12 "
            f"request_id=9f1c2e4a-{i % 10000:04d}-4b7d-a1e3-5c6d7e8f9a0b status=200 "
            f"duration_ms=12.{i % 10} user_agent=Mozilla/5.0 (X11; Linux x86_64) "
            f"upstream=inventory-service.internal:8443 cache=miss"
        ),
        attributes={"method": "GET", "status": 200},
    )


def run(events: int, rounds: int) -> dict[str, Any]:
    exporters = {"off": NullExporter(), "on": NullExporter()}
    pipelines = {
        name: Pipeline(
            exporters=[exporters[name]],
            redaction=(name == "on"),
            max_queue_size=events + 1,
            overflow="block",
        )
        for name in ("off", "on")
    }
    rates: dict[str, list[float]] = {"off": [], "on": []}
    try:
        for name in ("off", "on"):  # warm-up
            _round(pipelines[name], exporters[name], events // 4)
        for _ in range(rounds):
            for name in ("off", "on"):
                rates[name].append(_round(pipelines[name], exporters[name], events))
        dropped = {name: p.stats().dropped_total for name, p in pipelines.items()}
    finally:
        for p in pipelines.values():
            p.shutdown()
    off, on = statistics.median(rates["off"]), statistics.median(rates["on"])
    return {
        "python": sys.version.split()[0],
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "events_per_round": events,
        "rounds": rounds,
        "events_per_s": {
            "redaction_off": {"median": off, "min": min(rates["off"]), "max": max(rates["off"])},
            "redaction_on": {"median": on, "min": min(rates["on"]), "max": max(rates["on"])},
        },
        "ratio_on_over_off": on / off,
        "dropped": dropped,
        "processor_ns_per_event": processor_figures(),
    }


def processor_figures() -> dict[str, float]:
    """Median ns per ``RedactionProcessor.on_emit`` for the three event shapes."""
    return {
        "common_event": _processor_ns(_common, 20_000),
        "event_with_secrets": _processor_ns(_with_secrets, 5_000),
        "long_message": _processor_ns(_long_message, 5_000),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument(
        "--processor-only",
        action="store_true",
        help="only time RedactionProcessor.on_emit (skip the pipeline rounds)",
    )
    args = parser.parse_args(argv)
    if args.processor_only:
        proc = processor_figures()
        print(
            f"RedactionProcessor.on_emit: {proc['common_event']:,.0f} ns (common event), "
            f"{proc['event_with_secrets']:,.0f} ns (event with secrets), "
            f"{proc['long_message']:,.0f} ns (long access-log message)"
        )
        if args.json:
            with open(args.json, "w") as fh:
                json.dump({"processor_ns_per_event": proc}, fh, indent=2)
        return 0
    res = run(args.events, args.rounds)
    eps = res["events_per_s"]
    proc = res["processor_ns_per_event"]
    print(
        f"python {res['python']} on {res['machine']}; "
        f"{res['rounds']} rounds x {res['events_per_round']} events"
    )
    print(f"  redaction off: {eps['redaction_off']['median']:>10,.0f} events/s (median)")
    print(f"  redaction on:  {eps['redaction_on']['median']:>10,.0f} events/s (median)")
    print(f"  ratio on/off:  {res['ratio_on_over_off']:.2f}")
    print(
        f"  RedactionProcessor.on_emit: {proc['common_event']:,.0f} ns (common event), "
        f"{proc['event_with_secrets']:,.0f} ns (event with secrets), "
        f"{proc['long_message']:,.0f} ns (long access-log message)"
    )
    print(f"  dropped: {res['dropped']}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
