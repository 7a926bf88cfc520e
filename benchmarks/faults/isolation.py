"""Fault isolation figures: a black-holed OTLP endpoint next to a file, and a burst.

Two scenarios, each in a fresh interpreter, printed as one JSON line each:

* ``blackhole``: OTLP/HTTP to a loopback server that accepts TCP and never answers,
  next to a healthy file exporter; the application logs in a tight loop for
  ``--seconds``. Reports the calls made, their mean cost, the lines the file received
  and the drops counted on the stuck exporter. ``file_only`` is the same loop with the
  file exporter alone: the normal cost of a call, for comparison.
* ``burst``: ``--events`` log calls as fast as possible under ``overflow=drop_newest``
  into a file exporter. Reports what was delivered, dropped at the intake
  (``queue_full``, never processed) and dropped after processing (``export_backlog``),
  and how many events the processors saw.

Usage::

    python benchmarks/faults/isolation.py [--seconds 10] [--events 200000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap

BLACKHOLE = """
import json, socket, threading, time, fapilog
from fapilog.exporters.otlp import OTLPExporter
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(64)
held = []
def accept():
    while True:
        conn, _ = server.accept()
        held.append(conn)  # accepted, never read or answered
threading.Thread(target=accept, daemon=True).start()
port = server.getsockname()[1]
path = {path!r}
exporters = [] if {file_only} else [
    OTLPExporter(endpoint=f"http://127.0.0.1:{{port}}", protocol="http/protobuf")
]
pipeline = fapilog.Pipeline(exporters=[*exporters, "file"], file_path=path)
log = pipeline.get_logger("bench")
calls = 0
started = time.perf_counter()
end = started + {seconds}
while time.perf_counter() < end:
    for _ in range(100):
        log.info("event", i=calls)
        calls += 1
elapsed = time.perf_counter() - started
deadline = time.monotonic() + 120  # let the file lane finish
while time.monotonic() < deadline:
    stats = pipeline.stats()
    if stats.queued == 0 and stats.exporters["file"].in_flight == 0:
        break
    time.sleep(0.05)
with open(path, encoding="utf-8") as f:
    lines = sum(1 for _ in f)
otlp = stats.exporters.get("otlp")
print(json.dumps({{
    "scenario": "file_only" if {file_only} else "blackhole",
    "seconds": round(elapsed, 2), "calls": calls,
    "mean_call_ns": round(elapsed / calls * 1e9),
    "file_lines": lines,
    "otlp": otlp and {{"shedding": otlp.shedding, "dropped": dict(otlp.dropped),
                       "circuit": otlp.circuit}},
    "intake_dropped": {{k: v for k, v in stats.dropped.items() if k == "queue_full"}},
}}))
import os
os._exit(0)  # the stuck lane's events are lost by design; skip the shutdown wait
"""

BURST = """
import json, time, fapilog
from fapilog.processors import Processor
class Count(Processor):
    seen = 0
    def on_emit(self, event):
        Count.seen += 1
path = {path!r}
pipeline = fapilog.Pipeline(exporters=["file"], file_path=path, overflow="drop_newest",
                            processors=[Count()])
log = pipeline.get_logger("bench")
started = time.perf_counter()
for i in range({events}):
    log.info("event", i=i)
elapsed = time.perf_counter() - started
pipeline.flush(timeout=60)
stats = pipeline.stats()
pipeline.shutdown()
print(json.dumps({{
    "scenario": "burst", "events": {events}, "seconds": round(elapsed, 3),
    "delivered": stats.exported,
    "dropped_at_intake": stats.dropped.get("queue_full", 0),
    "dropped_after_processing": stats.dropped.get("export_backlog", 0),
    "processed": Count.seen,
}}))
"""


def run(code: str) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if proc.returncode:
        raise SystemExit(proc.stderr)
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for file_only in (True, False):
            code = BLACKHOLE.format(
                path=f"{tmp}/a{file_only}.jsonl", seconds=args.seconds, file_only=file_only
            )
            print(json.dumps(run(code)))
        print(json.dumps(run(BURST.format(path=f"{tmp}/b.jsonl", events=args.events))))


if __name__ == "__main__":
    main()
