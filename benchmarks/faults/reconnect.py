"""Collector outage: how soon after the collector returns does delivery resume?

For each outage length, a pipeline logging over OTLP (an event every 50 ms) loses its
collector (stopped), keeps logging through the outage, then a new collector starts
on the same ports. Measured: the time from the moment the new collector accepts
connections to the first record it receives, the events logged during the outage
that arrived, and what the pipeline counted as lost (``export_retry_exhausted``,
``export_timeout``, ...: with the default 30 s export timeout, events logged early in
a long outage may run out of time).

Run::

    .venv/bin/python benchmarks/faults/reconnect.py                       # 10, 20, 28 s, gRPC
    .venv/bin/python benchmarks/faults/reconnect.py --protocol http/protobuf
    .venv/bin/python benchmarks/faults/reconnect.py --outages 3 --runs 5
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from typing import Any

import fapilog
from fapilog.exporters.otlp import OTLPExporter
from fapilog.testing import RotelCollector

INTERVAL = 0.05


def endpoint_of(collector: RotelCollector, protocol: str) -> str:
    return collector.grpc_endpoint if protocol == "grpc" else collector.http_logs_endpoint


def one_outage(outage: float, protocol: str, after: float = 3.0) -> dict[str, Any]:
    """Run one outage of ``outage`` seconds; returns the figures."""
    first = RotelCollector(verbosity="basic")
    first.start()
    grpc_port = int(first.grpc_endpoint.rsplit(":", 1)[1])
    http_port = int(first.http_endpoint.rsplit(":", 1)[1])
    pipeline = fapilog.Pipeline(
        exporters=[OTLPExporter(endpoint=endpoint_of(first, protocol), protocol=protocol)],
        schedule_delay_ms=5,
    )
    log = pipeline.get_logger("outage")
    stop = threading.Event()
    phase = {"name": "before"}
    counts = {"before": 0, "outage": 0, "after": 0}

    def keep_logging() -> None:
        while not stop.is_set():
            name = phase["name"]
            log.info("tick", phase=name, seq=counts[name])
            counts[name] += 1
            time.sleep(INTERVAL)

    logger = threading.Thread(target=keep_logging, daemon=True)
    logger.start()
    second = RotelCollector(verbosity="basic", grpc_port=grpc_port, http_port=http_port)
    try:
        first.wait_for(5, timeout=10)
        first.stop()
        phase["name"] = "outage"
        time.sleep(outage)
        second.start()  # returns once it accepts connections
        back = time.monotonic()
        phase["name"] = "after"
        got = second.wait_for(1, timeout=outage + 30)
        resumed = time.monotonic() - back if got else None
        time.sleep(after)
    finally:
        stop.set()
        logger.join()
        pipeline.shutdown(timeout=10)
        stats = pipeline.stats()
        delivered = second.wait_for(counts["outage"] + counts["after"], timeout=10)
        second.stop()
        first.stop()
    return {
        "protocol": protocol,
        "outage_s": outage,
        "resume_latency_s": None if resumed is None else round(resumed, 3),
        "logged_during_outage": counts["outage"],
        "logged_after": counts["after"],
        "received_by_new_collector": delivered,
        "dropped": dict(stats.dropped),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outages", type=float, nargs="+", default=[10.0, 20.0, 28.0])
    parser.add_argument("--protocol", default="grpc", choices=["grpc", "http/protobuf"])
    parser.add_argument("--runs", type=int, default=1, help="runs per outage length")
    args = parser.parse_args()
    for outage in args.outages:
        for _ in range(args.runs):
            result = one_outage(outage, args.protocol)
            print(json.dumps(result), flush=True)
            print(
                f"{args.protocol} outage {outage:g}s: first delivery "
                f"{result['resume_latency_s']} s after the collector returned; "
                f"dropped {result['dropped'] or 'nothing'}",
                file=sys.stderr,
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
