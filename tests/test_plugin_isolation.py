"""A misbehaving plugin beside a healthy exporter: contained, bounded, counted.

One exporter raises on every call, another blocks forever (awaits nothing that ever
comes); the memory exporter beside them in the same pipeline must receive every
event, no logging call may block past the intake bound, every failure is counted in
``stats()`` for its exporter, and shutdown returns within its timeout.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import pytest

import fapilog
from fapilog._diagnostics import reporter
from fapilog.exporters import Exporter, ExportResult
from fapilog.testing import InMemoryExporter

N = 3000
BLOCK_TIMEOUT_MS = 100
#: Scheduler noise on a loaded 2-core CI machine, on top of the documented bound.
SLACK = 0.4


class Raising(Exporter):
    name = "raising"

    async def start(self) -> None:
        raise RuntimeError("start failed")

    async def export(self, batch: Sequence[fapilog.LogEvent]) -> ExportResult:
        raise RuntimeError("export failed")

    async def force_flush(self, timeout: float | None = None) -> bool:
        raise RuntimeError("flush failed")

    async def shutdown(self) -> None:
        raise RuntimeError("shutdown failed")


class Blocking(Exporter):
    name = "blocking"

    async def export(self, batch: Sequence[fapilog.LogEvent]) -> ExportResult:
        await asyncio.Event().wait()  # never set
        raise AssertionError("unreachable")

    async def force_flush(self, timeout: float | None = None) -> bool:
        await asyncio.Event().wait()
        return True

    async def shutdown(self) -> None:
        await asyncio.Event().wait()


def test_a_raising_and_a_blocking_exporter_do_not_harm_the_healthy_one(
    capfd: pytest.CaptureFixture[str],
) -> None:
    healthy = InMemoryExporter()
    reporter.reset()
    pipeline = fapilog.Pipeline(
        exporters=[healthy, Raising(), Blocking()],
        schedule_delay_ms=5,
        export_timeout_ms=300,
        block_timeout_ms=BLOCK_TIMEOUT_MS,
        shutdown_timeout_ms=1000,
    )
    log = pipeline.get_logger("isolation")
    slowest = 0.0
    for i in range(N):
        started = time.perf_counter()
        log.info("event %d", i, seq=i)
        slowest = max(slowest, time.perf_counter() - started)
    assert healthy.wait_for(N, timeout=20), len(healthy.events)
    started = time.monotonic()
    pipeline.shutdown(timeout=1.0)
    shutdown_took = time.monotonic() - started
    stats = pipeline.stats()

    assert slowest < BLOCK_TIMEOUT_MS / 1000 + SLACK, slowest
    assert shutdown_took < 1.0 + SLACK, shutdown_took
    assert sorted(e.attributes["seq"] for e in healthy.events) == list(range(N))
    lanes = stats.exporters
    assert (lanes["memory"].exported, dict(lanes["memory"].dropped)) == (N, {})
    for name in ("raising", "blocking"):
        lane = lanes[name]
        assert lane.exported == 0
        assert lane.received == sum(lane.dropped.values()) + lane.in_flight, (name, lane)
        assert sum(lane.dropped.values()) > 0, (name, lane)
    assert stats.emitted == stats.exported + stats.dropped_total + stats.in_flight
    # Reported on stderr, rate-limited: a few lines (one per kind of failure), not one
    # per batch or per retry.
    reporter.flush(2)
    lines = capfd.readouterr().err.splitlines()
    for name in ("raising", "blocking"):
        about = [line for line in lines if line.startswith(f"fapilog: exporter '{name}'")]
        assert 1 <= len(about) <= 8, lines
