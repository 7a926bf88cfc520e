"""Chaos against the real collector with the durable spool on (``spool_dir``).

* The collector is down for 30 s while 100,000 events are logged with a 5,000-event
  memory queue: once it is back, every event arrives exactly once (counted by its
  unique ``seq`` attribute) and the books show nothing dropped.
"""

from __future__ import annotations

import os
import socket
import time
from typing import TYPE_CHECKING

import pytest

import fapilog
from fapilog.exporters.otlp import OTLPExporter
from fapilog.testing import RotelCollector

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.e2e, pytest.mark.once]

pytest.importorskip("rotel", reason="end-to-end tests need the rotel collector")

_HOST = "127.0.0.1"


@pytest.fixture(autouse=True)
def _hermetic_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    proxies = {"http_proxy", "https_proxy", "all_proxy", "grpc_proxy", "no_proxy"}
    for name in list(os.environ):
        if name.startswith(("OTEL_", "FAPILOG_")) or name.lower() in proxies:
            monkeypatch.delenv(name)


def _free_ports() -> tuple[int, int]:
    with socket.socket() as a, socket.socket() as b:
        a.bind((_HOST, 0))
        b.bind((_HOST, 0))
        return a.getsockname()[1], b.getsockname()[1]


def test_a_30_s_outage_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    total, down_for = 100_000, 30.0
    grpc_port, http_port = _free_ports()
    exporter = OTLPExporter(
        endpoint=f"http://{_HOST}:{http_port}/v1/logs", protocol="http/protobuf", timeout=2.0
    )
    pipeline = fapilog.Pipeline(
        exporters=[exporter],
        spool_dir=tmp_path / "spool",
        max_queue_size=5_000,
        schedule_delay_ms=5,
        export_timeout_ms=3_000,
        overflow="block",
        block_timeout_ms=60_000,
    )
    try:
        started = time.monotonic()
        log = pipeline.get_logger("chaos.outage")
        for seq in range(total):
            log.info("logged while the collector is down", seq=seq)
        down = pipeline.stats()
        assert down.emitted == total and down.dropped_total == 0, down
        time.sleep(max(0.0, started + down_for - time.monotonic()))
        with RotelCollector(grpc_port=grpc_port, http_port=http_port) as collector:
            assert collector.wait_for(total, timeout=60) == total
            assert pipeline.flush(timeout=10)
            assert pipeline.shutdown(timeout=10)
            collector.stop()  # rotel flushes; a duplicate would show as a surplus
            received = sorted(r.attributes["seq"] for r in collector.records())
    finally:
        pipeline.shutdown(timeout=5)
    assert received == list(range(total))
    stats = pipeline.stats()
    assert (stats.emitted, stats.exported, stats.dropped_total, stats.in_flight) == (
        total,
        total,
        0,
        0,
    ), stats
