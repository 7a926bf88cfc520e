"""The worker path's CPU per event, compiled (mypyc) against pure Python, side by side.

Usage: ``python benchmarks/worker_path.py [--events N] [--rounds R]``

Each implementation runs in a fresh interpreter of its own (the pure one with
``FAPILOG_PURE_PYTHON=1``), one after the other, round after round. Each stage of the
worker path is timed in thread CPU time over the same ``--events`` captured calls
(``log.info(MESSAGE, **5 fields)``, fapilog's defaults: redaction on):

* ``materialize``: ``materialize_batch`` (captured call -> LogEvent, enrichment);
* ``redaction``: the default ``RedactionProcessor.on_emit`` on each event;
* ``otlp wire``: ``split_wire`` over 512-event batches (what the OTLP exporter sends);
* ``json lines``: ``encode_json_lines`` over 512-event batches (console/file exporters).

Prints ns/event per stage (the minimum over rounds: CPU time only grows with
interference) and the ratio pure / compiled. docs/compiled.md quotes a run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

CHILD = r"""
import json, sys, time
import fapilog, fapilog._native as native
from fapilog.pipeline._materialize import materialize_batch
from fapilog.exporters.otlp._wire import split_wire
from fapilog.exporters._jsonl import encode_json_lines
from fapilog.redaction import RedactionProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

N = int(sys.argv[1])
resource = Resource({"service.name": "bench"})


class Logger:  # what a captured call carries: its scope and bound fields
    _scope = InstrumentationScope("bench")
    _fields: dict = {}


def captured():
    now = time.time_ns()
    return [
        (now + i, 9, "request handled", (),
         {"method": "GET", "path": "/api/v1/items", "status": 200, "duration_ms": 12.5,
          "user_id": "u-123"}, Logger, None, None, None)
        for i in range(N)
    ]


redaction = RedactionProcessor()
cpu = time.thread_time_ns
out = {"materialize": 0, "redaction": 0, "otlp wire": 0, "json lines": 0}
records = captured()
t = cpu()
events, failed, _ = materialize_batch(records, resource, True, [])
out["materialize"] = cpu() - t
assert not failed
t = cpu()
for event in events:
    redaction.on_emit(event)
out["redaction"] = cpu() - t
t = cpu()
for i in range(0, N, 512):
    split_wire(events[i : i + 512], 4_000_000)
out["otlp wire"] = cpu() - t
t = cpu()
for i in range(0, N, 512):
    encode_json_lines(events[i : i + 512])
out["json lines"] = cpu() - t
print(json.dumps({"implementation": native.status().implementation,
                  "ns": {k: v / N for k, v in out.items()}}))
"""


def measure(pure: bool, events: int) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAPILOG_", "OTEL_"))}
    if pure:
        env["FAPILOG_PURE_PYTHON"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(events)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    want = "pure" if pure else "compiled"
    if result["implementation"] != want:
        raise SystemExit(f"expected the {want} path, got {result['implementation']}")
    ns: dict[str, float] = result["ns"]
    return ns


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    best: dict[str, dict[str, float]] = {"compiled": {}, "pure": {}}
    started = time.monotonic()
    for _ in range(args.rounds):
        for name in ("compiled", "pure"):
            for stage, ns in measure(name == "pure", args.events).items():
                best[name][stage] = min(ns, best[name].get(stage, ns))
    print(f"worker path, ns/event (min of {args.rounds} rounds x {args.events:,} events)")
    print("| stage | pure | compiled | pure / compiled |\n| --- | ---: | ---: | ---: |")
    for stage in best["pure"]:
        p, c = best["pure"][stage], best["compiled"][stage]
        print(f"| {stage} | {p:,.0f} | {c:,.0f} | {p / c:.2f}x |")
    p, c = sum(best["pure"].values()), sum(best["compiled"].values())
    print(f"| total | {p:,.0f} | {c:,.0f} | {p / c:.2f}x |")
    print(f"({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
