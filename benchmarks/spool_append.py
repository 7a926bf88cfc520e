"""Spool append throughput (events/s) per durability policy, batches of 512.

    .venv/bin/python benchmarks/spool_append.py [--events N] [--dir PATH]

Writes N events (default 100,000; a typical event: message, 4 attributes, a resource
and a scope) into a fresh spool per policy in a temporary directory on the file system
of ``--dir`` (default: the system temp dir), and reports events/s for append alone and
for append + read + commit (one exporter, as the pipeline does).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from fapilog._event import LogEvent
from fapilog.spool import Spool

BATCH = 512
RESOURCE = Resource({"service.name": "checkout", "service.version": "1.4.2", "host.name": "web-1"})
SCOPE = InstrumentationScope("app.checkout")


def _batch(start: int) -> list[LogEvent]:
    return [
        LogEvent(
            timestamp=1_780_000_000_000_000_000 + i,
            trace_id=0x5B8EFFF798038103D269B633813FC60C,
            span_id=0xEEE19B7EC3C1B174,
            trace_flags=1,
            severity_text="INFO",
            severity_number=9,
            body="order placed",
            attributes={"order_id": f"o-{i}", "amount": 12.5, "items": 3, "user": "u-42"},
            resource=RESOURCE,
            instrumentation_scope=SCOPE,
        )
        for i in range(start, start + BATCH)
    ]


def run(policy: str, events: int, base: Path, deliver: bool) -> float:
    directory = Path(tempfile.mkdtemp(prefix=f"spool-{policy}-", dir=base))
    batches = [_batch(i * BATCH) for i in range(events // BATCH)]
    spool = Spool.open(directory, fsync=policy, max_bytes=4 << 30)  # type: ignore[arg-type]
    spool.register("otlp")
    try:
        t0 = time.perf_counter()
        for batch in batches:
            spool.append(batch)
            if deliver:
                got = spool.read("otlp", BATCH)
                spool.commit("otlp", got[-1][0] + 1)
        elapsed = time.perf_counter() - t0
    finally:
        spool.close()
        shutil.rmtree(directory, ignore_errors=True)
    return len(batches) * BATCH / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()
    print(f"{args.events} events, batches of {BATCH}, on {args.dir}")
    print(f"{'fsync':<10}{'append ev/s':>14}{'+read+commit ev/s':>20}")
    for policy in ("batch", "interval", "never"):
        append = run(policy, args.events, args.dir, deliver=False)
        full = run(policy, args.events, args.dir, deliver=True)
        print(f"{policy:<10}{append:>14,.0f}{full:>20,.0f}")


if __name__ == "__main__":
    main()
