"""A collector that comes back is used again within a second, over gRPC as over HTTP."""

from __future__ import annotations

import threading
import time

import pytest

import fapilog
from fapilog.exporters.otlp import OTLPExporter

rotel = pytest.importorskip("rotel", reason="needs the rotel collector")

from fapilog.testing import RotelCollector  # noqa: E402


@pytest.mark.once
@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_delivery_resumes_promptly_after_a_collector_outage(protocol: str) -> None:
    """Collector stopped for ~3 s while events are logged, a new one started on the same
    ports: its first record arrives within 1.5 s, and every event logged during the
    outage or after is delivered."""
    first = RotelCollector(verbosity="basic")
    first.start()
    grpc_port = int(first.grpc_endpoint.rsplit(":", 1)[1])
    http_port = int(first.http_endpoint.rsplit(":", 1)[1])
    endpoint = first.grpc_endpoint if protocol == "grpc" else first.http_logs_endpoint
    pipeline = fapilog.Pipeline(
        exporters=[OTLPExporter(endpoint=endpoint, protocol=protocol)], schedule_delay_ms=5
    )
    log = pipeline.get_logger("outage")
    second = RotelCollector(verbosity="basic", grpc_port=grpc_port, http_port=http_port)
    stop = threading.Event()
    logged = {"outage": 0}

    def keep_logging() -> None:
        while not stop.wait(0.05):
            log.info("tick")
            logged["outage"] += 1

    try:
        log.info("before")
        assert first.wait_for(1, timeout=10) == 1
        first.stop()
        logger = threading.Thread(target=keep_logging)
        logger.start()
        time.sleep(3)
        second.start()
        back = time.monotonic()
        assert second.wait_for(1, timeout=10) >= 1
        resumed = time.monotonic() - back
        stop.set()
        logger.join()
        assert pipeline.flush(10)
        assert second.wait_for(logged["outage"], timeout=10) == logged["outage"]
    finally:
        stop.set()
        pipeline.shutdown(timeout=5)
        second.stop()
        first.stop()
    assert resumed < 1.5, f"first delivery {resumed:.2f} s after the collector returned"
    assert dict(pipeline.stats().dropped) == {}
