"""Fault isolation between exporters: a stuck or failing exporter delays only itself.

* A full lane that delivers nothing sheds (counted for that exporter) instead of
  holding up the worker, the other exporters and the application.
* A slow lane that still delivers applies back-pressure: the intake's overflow policy
  drops, before any processing.
* A circuit breaker per exporter opens after repeated lost batches and closes after
  a delivered probe, without losing the probe's batch.
* Retries make their last attempt at the export deadline.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import TYPE_CHECKING

import pytest

from fapilog import Exporter, ExportResult, Pipeline
from fapilog.processors import Processor
from fapilog.testing import InMemoryExporter
from support import run_python

if TYPE_CHECKING:
    from collections.abc import Sequence

    from fapilog import LogEvent


class BlackHole(Exporter):
    """Accepts a batch and never answers (a server that accepts TCP and hangs)."""

    name = "blackhole"

    def __init__(self) -> None:
        self.calls = 0

    async def export(self, batch: Sequence[LogEvent]) -> ExportResult:
        self.calls += 1
        await asyncio.sleep(3600)
        return ExportResult.success()


class Slow(Exporter):
    """Delivers, but takes ``delay`` seconds per batch."""

    name = "slow"

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.events = 0

    async def export(self, batch: Sequence[LogEvent]) -> ExportResult:
        await asyncio.sleep(self.delay)
        self.events += len(batch)
        return ExportResult.success()


class Switch(Exporter):
    """Fails (retryable) while ``down`` is set, delivers otherwise."""

    name = "switch"

    def __init__(self) -> None:
        self.down = threading.Event()
        self.down.set()
        self.calls = 0
        self.delivered: list[object] = []

    async def export(self, batch: Sequence[LogEvent]) -> ExportResult:
        self.calls += 1
        if self.down.is_set():
            return ExportResult.retryable("connection refused")
        self.delivered.extend(e.attributes.get("i") for e in batch)
        return ExportResult.success()


class Counting(Processor):
    """Counts the events that reach the processors (i.e. were processed)."""

    def __init__(self) -> None:
        self.seen = 0

    def on_emit(self, event: LogEvent) -> None:
        self.seen += 1


def test_a_black_holed_exporter_does_not_stall_a_healthy_one() -> None:
    """The issue's case: next to a stuck exporter the healthy one gets every event, the
    log calls keep their normal cost, and the stuck lane's drops are counted."""
    n = 60_000
    healthy = InMemoryExporter()
    hole = BlackHole()
    # The lane wait is half of block_timeout_ms: a caller blocked while the worker waits
    # for the stuck lane gets room before its own timeout. 1 s (lane wait 0.5 s) leaves
    # a margin no scheduler delay on a loaded machine eats; 100 ms usually does too.
    pipeline = Pipeline(
        exporters=[hole, healthy], schedule_delay_ms=5, redaction=False, block_timeout_ms=1000
    )
    log = pipeline.get_logger("iso")
    started = time.perf_counter()
    for i in range(n):
        log.info("e", i=i)
    elapsed = time.perf_counter() - started
    deadline = time.monotonic() + 20
    while len(healthy.events) < n and time.monotonic() < deadline:
        time.sleep(0.02)
    stats = pipeline.stats()
    assert len(healthy.events) == n, stats.as_dict()
    assert stats.exporters["memory"].dropped_total == 0
    lane = stats.exporters["blackhole"]
    assert lane.shedding
    assert lane.received == n
    assert lane.dropped.get("backlog", 0) > 0
    # Before lanes failed alone every call past the first 20,000 waited 100 ms (hours
    # for this loop); now at most one lane wait is spent, plus the calls themselves.
    assert elapsed < 5, f"{n} calls took {elapsed:.1f}s"
    assert not pipeline.shutdown(timeout=1)  # the stuck lane's events are lost
    assert "queue_full" not in pipeline.stats().dropped


def test_a_slow_exporter_back_pressures_the_intake_and_drops_are_never_processed() -> None:
    """A lane that delivers (slowly) is waited for: under drop_newest the events that
    do not fit are dropped at the intake, before any processing, not by the lane."""
    counting = Counting()
    slow = Slow(delay=0.02)
    pipeline = Pipeline(
        exporters=[slow],
        processors=[counting],
        overflow="drop_newest",
        max_queue_size=1_000,
        max_export_batch_size=100,
        schedule_delay_ms=5,
        # A lane wait of 1 s (block_timeout_ms / 2): on a loaded machine a 20 ms export
        # can take longer than the default 50 ms, and this lane is meant to deliver.
        block_timeout_ms=2_000,
        redaction=False,
    )
    log = pipeline.get_logger("burst")
    for i in range(20_000):
        log.info("e", i=i)
    assert pipeline.flush(timeout=30)
    stats = pipeline.stats()
    pipeline.shutdown()
    assert stats.dropped.get("queue_full", 0) > 0
    assert "export_backlog" not in stats.dropped
    assert not stats.exporters["slow"].shedding
    # Every event that was processed was exported: nothing was dropped after work.
    assert counting.seen == stats.exported == slow.events
    assert stats.exported + stats.dropped_total == 20_000


@pytest.mark.parametrize("policy", ["block", "drop_newest", "drop_oldest"])
def test_a_burst_the_bounds_can_hold_is_not_dropped(policy: str) -> None:
    """A burst that the intake can hold is delivered whole, whatever the overflow
    policy, into an exporter much slower than the burst: the worker waits for the
    lane (it delivers), so nothing is dropped after processing either."""
    slow = Slow(delay=0.01)
    pipeline = Pipeline(
        exporters=[slow],
        overflow=policy,
        max_queue_size=2_000,
        max_export_batch_size=100,
        schedule_delay_ms=5,
        block_timeout_ms=2_000,  # a lane wait of 1 s, as above
        redaction=False,
    )
    log = pipeline.get_logger("burst")
    for i in range(2_000):
        log.info("e", i=i)
    assert pipeline.flush(timeout=30)
    stats = pipeline.stats()
    pipeline.shutdown()
    assert (stats.exported, stats.dropped_total) == (2_000, 0), stats.as_dict()


def test_the_circuit_opens_after_lost_batches_and_a_probe_closes_it() -> None:
    switch = Switch()
    pipeline = Pipeline(
        exporters=[switch],
        schedule_delay_ms=5,
        export_timeout_ms=150,
        max_export_batch_size=1,
        redaction=False,
    )
    log = pipeline.get_logger("cb")
    for i in range(3):
        log.info("lost", i=i)
    deadline = time.monotonic() + 10
    while pipeline.stats().exporters["switch"].circuit == "closed":
        assert time.monotonic() < deadline, pipeline.stats().as_dict()
        time.sleep(0.02)
    stats = pipeline.stats().exporters["switch"]
    assert stats.circuit in ("open", "half_open")
    assert stats.circuit_opened >= 1
    assert stats.shedding
    assert stats.dropped == {"retry_exhausted": 3}
    # While open: no export call except the probes (at most one per cool-down).
    calls = switch.calls
    log.info("kept", i=3)
    time.sleep(0.5)
    assert switch.calls - calls <= 1
    switch.down.clear()  # the destination is back: the next probe delivers
    assert pipeline.flush(timeout=15)
    stats = pipeline.stats().exporters["switch"]
    assert stats.circuit == "closed"
    assert not stats.shedding
    assert switch.delivered == [3]  # the probe's batch was kept, not lost
    log.info("after", i=4)
    assert pipeline.flush(timeout=5)
    assert switch.delivered == [3, 4]
    pipeline.shutdown()


def test_the_last_retry_is_made_at_the_deadline() -> None:
    """A destination back shortly before the export deadline still gets the batch."""
    switch = Switch()
    pipeline = Pipeline(exporters=[switch], schedule_delay_ms=5, export_timeout_ms=1_500)
    pipeline.get_logger("r").info("m", i=0)
    time.sleep(1.2)  # retries run meanwhile (at most 1 s apart)
    switch.down.clear()
    assert pipeline.flush(timeout=5)
    stats = pipeline.stats()
    pipeline.shutdown()
    assert (stats.exported, stats.dropped_total) == (1, 0), stats.as_dict()
    assert switch.delivered == [0]


def test_an_exporter_blocking_an_executor_thread_does_not_hang_exit() -> None:
    """run_in_executor(None)/to_thread get daemon threads: exit waits only for the
    shutdown bound, not for a call that never returns (asyncio's own pool is joined)."""
    started = time.monotonic()
    proc = run_python(
        """
        import asyncio, time, fapilog
        from fapilog import Exporter, ExportResult

        class Stuck(Exporter):
            name = "stuck"
            async def export(self, batch):
                await asyncio.to_thread(time.sleep, 3600)
                return ExportResult.success()

        fapilog.configure(exporters=[Stuck()], schedule_delay_ms=5, shutdown_timeout_ms=500)
        fapilog.get_logger("x").info("never delivered")
        time.sleep(0.2)
        print("done", flush=True)
        """,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "done"
    assert time.monotonic() - started < 15
    assert "1 of 1 event(s) not delivered" in proc.stderr
