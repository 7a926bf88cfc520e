"""The pipeline: batching, fan-out, retries, timeouts, overflow and exact accounting."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence

import pytest

import fapilog
from fapilog import Exporter, ExportResult, LogEvent, Pipeline, Processor
from support import GatedExporter, HangingExporter, RecordingExporter, identity_holds


def test_batches_respect_max_export_batch_size() -> None:
    """No export call carries more than max_export_batch_size events."""
    exporter = RecordingExporter()
    pipeline = Pipeline(exporters=[exporter], max_export_batch_size=50, schedule_delay_ms=5)
    log = pipeline.get_logger("x")
    for i in range(1234):
        log.info("e", i=i)
    assert pipeline.flush(timeout=10)
    assert max(exporter.batch_sizes) <= 50
    assert [e.attributes["i"] for e in exporter.events] == list(range(1234))
    pipeline.shutdown()


def test_partial_batches_go_out_after_the_schedule_delay() -> None:
    """A lone event is exported without flush once the schedule delay has passed."""
    exporter = RecordingExporter()
    pipeline = Pipeline(exporters=[exporter], schedule_delay_ms=20)
    pipeline.get_logger("x").info("lonely")
    deadline = time.monotonic() + 5
    while not exporter.events and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [e.body for e in exporter.events] == ["lonely"]
    pipeline.shutdown()


def _wait_for(exporter: RecordingExporter, n: int, timeout: float) -> float:
    """Seconds until ``exporter`` holds ``n`` events (inf if it never does in time)."""
    started = time.monotonic()
    while len(exporter.events) < n:
        if time.monotonic() - started > timeout:
            return float("inf")
        time.sleep(0.002)
    return time.monotonic() - started


def test_a_bursts_tail_leaves_without_waiting_out_the_schedule_delay() -> None:
    """After a full batch, the partial one goes once the buffer is quiet, not after 10 s."""
    exporter = RecordingExporter()
    pipeline = Pipeline(exporters=[exporter], max_export_batch_size=10, schedule_delay_ms=10_000)
    log = pipeline.get_logger("x")
    for burst in range(3):
        for i in range(25):  # two full batches and a tail of 5
            log.info("e", i=i)
        assert _wait_for(exporter, 25 * (burst + 1), timeout=5) < 5
        time.sleep(0.05)
    # At most one partial export per full one (normally [10, 10, 5] per burst; a
    # caller descheduled mid-burst may see its tail split once more).
    partial = [n for n in exporter.batch_sizes if n < 10]
    assert len(partial) <= exporter.batch_sizes.count(10)
    assert sum(exporter.batch_sizes) == 75
    pipeline.shutdown()


def test_a_trickle_that_never_fills_a_batch_still_waits_for_the_schedule_delay() -> None:
    """Without a full batch before it, a partial batch waits for schedule_delay_ms."""
    exporter = RecordingExporter()
    pipeline = Pipeline(exporters=[exporter], max_export_batch_size=10, schedule_delay_ms=400)
    log = pipeline.get_logger("x")
    started = time.monotonic()
    for i in range(3):
        log.info("e", i=i)
        time.sleep(0.01)
    time.sleep(0.15)
    assert exporter.events == []  # quiet for well over a poll, but no batch filled
    assert _wait_for(exporter, 3, timeout=5) < 5
    assert time.monotonic() - started >= 0.39
    assert exporter.batch_sizes == [3]
    pipeline.shutdown()


def test_every_exporter_receives_every_event() -> None:
    """Fan-out: each exporter gets all events, and stats are kept per exporter."""
    a, b = RecordingExporter(name="a"), RecordingExporter(name="b")
    pipeline = Pipeline(exporters=[a, b], schedule_delay_ms=5)
    log = pipeline.get_logger("x")
    for i in range(100):
        log.info("e", i=i)
    assert pipeline.flush(timeout=5)
    assert len(a.events) == len(b.events) == 100
    stats = pipeline.stats()
    assert stats.exported == 100
    assert stats.exporters["a"].exported == stats.exporters["b"].exported == 100
    pipeline.shutdown()


def test_a_hung_exporter_does_not_hold_up_the_others() -> None:
    """While one exporter hangs, the other keeps receiving events promptly."""
    fast, hung = RecordingExporter(name="fast"), HangingExporter()
    pipeline = Pipeline(exporters=[hung, fast], schedule_delay_ms=5, overflow="drop_oldest")
    log = pipeline.get_logger("x")
    log.info("first")
    assert hung.started.wait(5)
    for i in range(50):
        log.info("e", i=i)
    deadline = time.monotonic() + 5
    while len(fast.events) < 51 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(fast.events) == 51
    pipeline.shutdown(timeout=0.5)


def test_retryable_results_are_retried_until_success() -> None:
    """Two retryable results then success: delivered once, two retries counted."""
    exporter = RecordingExporter(
        script=[ExportResult.retryable("busy"), ExportResult.retryable("busy", retry_after=0.01)]
    )
    pipeline = Pipeline(exporters=[exporter], schedule_delay_ms=5)
    pipeline.get_logger("x").info("m")
    assert pipeline.flush(timeout=5)
    stats = pipeline.stats()
    assert exporter.calls == 3 and len(exporter.events) == 1
    assert stats.exported == 1 and stats.exporters["recording"].retries == 2
    pipeline.shutdown()


def test_retry_after_beyond_the_export_timeout_gives_up_and_counts() -> None:
    """A retry-after longer than the export timeout ends in a counted drop."""
    exporter = RecordingExporter(script=[ExportResult.retryable("slow down", retry_after=60)])
    pipeline = Pipeline(exporters=[exporter], schedule_delay_ms=5, export_timeout_ms=200)
    pipeline.get_logger("x").info("m")
    started = time.monotonic()
    assert pipeline.flush(timeout=5)
    assert time.monotonic() - started < 2
    stats = pipeline.stats()
    assert stats.dropped == {"export_retry_exhausted": 1}
    assert stats.exporters["recording"].dropped == {"retry_exhausted": 1}
    assert identity_holds(stats)
    pipeline.shutdown()


def test_permanent_failure_and_partial_rejections_are_counted() -> None:
    """failure drops the batch; partial drops only the rejected records."""
    exporter = RecordingExporter(
        script=[ExportResult.failure("bad request"), ExportResult.partial(2, "schema")]
    )
    pipeline = Pipeline(exporters=[exporter], schedule_delay_ms=5, max_export_batch_size=3)
    log = pipeline.get_logger("x")
    for i in range(3):
        log.info("first", i=i)
    assert pipeline.flush(timeout=5)
    for i in range(3):
        log.info("second", i=i)
    assert pipeline.flush(timeout=5)
    stats = pipeline.stats()
    assert stats.exported == 1
    assert stats.dropped == {"export_failed": 3, "export_rejected": 2}
    assert identity_holds(stats)
    pipeline.shutdown()


def test_exporter_exceptions_are_contained_and_retried() -> None:
    """An exporter that raises is treated as retryable and never crashes the pipeline."""

    class Flaky(Exporter):
        name = "flaky"

        def __init__(self) -> None:
            self.calls = 0

        async def export(self, batch: Sequence[LogEvent]) -> ExportResult:
            self.calls += 1
            if self.calls == 1:
                raise ConnectionError("boom")
            return ExportResult.success()

    exporter = Flaky()
    pipeline = Pipeline(exporters=[exporter], schedule_delay_ms=5)
    pipeline.get_logger("x").info("m")
    assert pipeline.flush(timeout=5)
    assert pipeline.stats().exported == 1 and exporter.calls == 2
    pipeline.shutdown()


def test_export_timeout_is_enforced() -> None:
    """A hanging export is cut off at the export timeout and its events counted."""
    pipeline = Pipeline(exporters=[HangingExporter()], schedule_delay_ms=5, export_timeout_ms=100)
    pipeline.get_logger("x").info("m")
    started = time.monotonic()
    assert pipeline.flush(timeout=5)
    assert time.monotonic() - started < 2
    assert pipeline.stats().dropped == {"export_timeout": 1}
    pipeline.shutdown(timeout=0.5)


def test_shutdown_with_a_hung_exporter_returns_in_time_and_counts_undelivered() -> None:
    """shutdown(timeout=2) with an exporter that hangs forever returns within 2.2 s."""
    hung = HangingExporter()
    pipeline = Pipeline(exporters=[hung], schedule_delay_ms=5)
    log = pipeline.get_logger("x")
    for i in range(100):
        log.info("e", i=i)
    assert hung.started.wait(5)
    started = time.monotonic()
    assert pipeline.shutdown(timeout=2) is False
    elapsed = time.monotonic() - started
    assert elapsed < 2.2, elapsed
    stats = pipeline.stats()
    assert stats.emitted == 100
    assert stats.exported == 0
    assert stats.dropped == {"shutdown": 100}
    assert stats.in_flight == 0


def test_logging_after_shutdown_is_counted_not_lost() -> None:
    """Calls on a shut-down pipeline are counted as dropped (after_shutdown)."""
    exporter = RecordingExporter()
    pipeline = Pipeline(exporters=[exporter])
    log = pipeline.get_logger("x")
    log.info("before")
    assert pipeline.shutdown(timeout=5)
    log.info("after")
    stats = pipeline.stats()
    assert [e.body for e in exporter.events] == ["before"]
    assert stats.dropped == {"after_shutdown": 1}
    assert identity_holds(stats)
    assert exporter.shutdown_called


def test_shutdown_is_idempotent() -> None:
    """A second shutdown returns the first result at once."""
    pipeline = Pipeline(exporters=[RecordingExporter()])
    assert pipeline.shutdown(timeout=5) is True
    assert pipeline.shutdown(timeout=5) is True


async def test_ashutdown_flushes_without_blocking_the_loop() -> None:
    """ashutdown delivers everything while the calling loop keeps running."""
    exporter = RecordingExporter()
    pipeline = Pipeline(exporters=[exporter], schedule_delay_ms=1000)
    pipeline.get_logger("x").info("m")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.001)

    task = asyncio.create_task(ticker())
    assert await pipeline.ashutdown(timeout=5)
    task.cancel()
    assert [e.body for e in exporter.events] == ["m"]
    assert ticks >= 1


@pytest.mark.parametrize("policy", ["drop_newest", "drop_oldest", "block"])
def test_overflow_with_a_slow_exporter_keeps_exact_accounting(policy: str) -> None:
    """With a slow exporter and a small buffer, drops happen, are counted, and add up."""
    gated = GatedExporter()
    pipeline = Pipeline(
        exporters=[gated],
        max_queue_size=50,
        max_export_batch_size=10,
        schedule_delay_ms=1,
        overflow=policy,
        block_timeout_ms=1,
    )
    log = pipeline.get_logger("x")
    for i in range(2000):
        log.info("e", i=i)
        if i % 100 == 0:
            mid = pipeline.stats()
            assert identity_holds(mid), mid
    gated.gate.set()
    assert pipeline.flush(timeout=10)
    stats = pipeline.stats()
    assert stats.emitted == 2000
    assert stats.in_flight == 0
    assert stats.dropped_total > 0
    assert stats.exported == len(gated.events)
    assert stats.exported + stats.dropped_total == 2000
    assert set(stats.dropped) <= {"queue_full", "export_backlog"}
    pipeline.shutdown()


def test_block_policy_with_room_to_wait_loses_nothing() -> None:
    """Under block with a generous timeout, a burst larger than the buffer is not dropped."""
    exporter = RecordingExporter()
    pipeline = Pipeline(
        exporters=[exporter], max_queue_size=100, overflow="block", block_timeout_ms=5000
    )
    log = pipeline.get_logger("x")
    for i in range(5000):
        log.info("e", i=i)
    assert pipeline.flush(timeout=10)
    stats = pipeline.stats()
    assert stats.dropped_total == 0 and stats.exported == 5000


async def test_block_policy_never_blocks_an_event_loop_thread() -> None:
    """On an event-loop thread, a full buffer under block drops instead of waiting."""
    gated = GatedExporter()
    pipeline = Pipeline(
        exporters=[gated], max_queue_size=5, overflow="block", block_timeout_ms=10_000
    )
    log = pipeline.get_logger("x")
    started = time.monotonic()
    for i in range(500):
        log.info("e", i=i)
    assert time.monotonic() - started < 1.0
    gated.gate.set()
    assert await pipeline.aflush(timeout=10)
    stats = pipeline.stats()
    assert stats.dropped.get("queue_full", 0) > 0
    assert identity_holds(stats)
    await pipeline.ashutdown()


def test_drops_are_reported_on_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    """A drop produces a diagnostic line on stderr naming the reason."""
    from fapilog._diagnostics import reporter

    reporter.reset()
    gated = GatedExporter()
    pipeline = Pipeline(exporters=[gated], max_queue_size=2, overflow="drop_newest")
    log = pipeline.get_logger("x")
    for i in range(200):
        log.info("e", i=i)
    gated.gate.set()
    pipeline.shutdown(timeout=5)
    assert reporter.flush(5)
    err = capfd.readouterr().err
    assert "fapilog: buffer full" in err


def test_processors_can_filter_and_failures_are_counted() -> None:
    """A processor returning False filters; one that raises drops with processor_error."""

    class DropOdd(fapilog.Processor):
        def on_emit(self, event: LogEvent) -> bool:
            return event.attributes["i"] % 2 == 0

    class Explode(fapilog.Processor):
        def on_emit(self, event: LogEvent) -> None:
            if event.attributes["i"] == 4:
                raise RuntimeError("bug")

    exporter = RecordingExporter()
    pipeline = Pipeline(exporters=[exporter], processors=[DropOdd(), Explode()])
    log = pipeline.get_logger("x")
    for i in range(10):
        log.info("e", i=i)
    assert pipeline.flush(timeout=5)
    stats = pipeline.stats()
    assert [e.attributes["i"] for e in exporter.events] == [0, 2, 6, 8]
    assert stats.dropped == {"filtered": 5, "processor_error": 1}
    assert identity_holds(stats)
    pipeline.shutdown()


def test_pipelines_are_independent() -> None:
    """Two pipelines in one process keep separate exporters, levels and stats."""
    a, b = RecordingExporter(), RecordingExporter()
    pa = Pipeline(exporters=[a], level="debug")
    pb = Pipeline(exporters=[b], level="error")
    pa.get_logger("x").debug("to-a")
    pb.get_logger("x").debug("not-to-b")
    pb.get_logger("x").error("to-b")
    assert pa.flush(5) and pb.flush(5)
    assert [e.body for e in a.events] == ["to-a"]
    assert [e.body for e in b.events] == ["to-b"]
    assert pa.stats().emitted == 1 and pb.stats().emitted == 1
    pa.shutdown()
    assert pb.get_logger("y").is_enabled_for("error")
    pb.shutdown()


def test_configure_replaces_the_default_and_shutdown_restores_it() -> None:
    """configure() makes a default for existing loggers; shutdown() undoes it."""
    log = fapilog.get_logger("early")
    first = RecordingExporter()
    pipeline = fapilog.configure(exporters=[first])
    log.info("one")
    second = RecordingExporter()
    fapilog.configure(exporters=[second])
    log.info("two")
    assert fapilog.flush(5)
    assert [e.body for e in first.events] == ["one"]
    assert [e.body for e in second.events] == ["two"]
    assert fapilog.stats().emitted == 1
    assert pipeline.stats().dropped_total == 0
    assert fapilog.shutdown(5)
    assert fapilog.stats().emitted == 0  # back to the lazy zero-config default


def test_flush_from_many_threads_is_safe() -> None:
    """Concurrent loggers and flushes from several threads deliver everything exactly once."""
    exporter = RecordingExporter()
    pipeline = Pipeline(exporters=[exporter], schedule_delay_ms=2)
    log = pipeline.get_logger("x")

    def work(t: int) -> None:
        for i in range(500):
            log.info("e", t=t, i=i)
        pipeline.flush(5)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert pipeline.flush(5)
    keys = sorted((e.attributes["t"], e.attributes["i"]) for e in exporter.events)
    assert keys == sorted((t, i) for t in range(4) for i in range(500))
    pipeline.shutdown()


def test_otel_sdk_exporters_plug_in_through_the_adapter() -> None:
    """An OTel LogRecordExporter receives ReadableLogRecords with our fields."""
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter

    otel_exporter = InMemoryLogRecordExporter()
    pipeline = Pipeline(exporters=[otel_exporter])
    pipeline.get_logger("svc").warning("m", k="v")
    assert pipeline.flush(5)
    (record,) = otel_exporter.get_finished_logs()
    assert record.log_record.body == "m"
    assert dict(record.log_record.attributes or {}) == {"k": "v"}
    assert record.instrumentation_scope is not None
    assert record.instrumentation_scope.name == "svc"
    pipeline.shutdown()


def test_non_exporters_are_rejected_with_a_clear_error() -> None:
    """Passing something that is not an exporter fails at configuration time."""
    with pytest.raises(TypeError, match="not an exporter"):
        Pipeline(exporters=[object()])


def test_flush_from_the_worker_thread_is_refused() -> None:
    """Calling flush() from inside an exporter would deadlock, so it raises instead."""
    errors: list[BaseException] = []
    holder: list[Pipeline] = []

    class Reentrant(Exporter):
        async def export(self, batch: Sequence[LogEvent]) -> ExportResult:
            try:
                holder[0].flush(0.1)
            except RuntimeError as exc:
                errors.append(exc)
            return ExportResult.success()

    pipeline = Pipeline(exporters=[Reentrant()])
    holder.append(pipeline)
    pipeline.get_logger("x").info("m")
    assert pipeline.flush(5)
    assert errors and "worker" in str(errors[0])
    pipeline.shutdown()


class _OverlappingExporter(Exporter):
    """Counts how many export() calls overlap; the first calls wait to be released."""

    name = "overlapping"

    def __init__(self, max_concurrent_exports: int, hold: int) -> None:
        self.max_concurrent_exports = max_concurrent_exports
        self.hold = hold  # how many calls wait for the gate
        self.active = 0
        self.peak = 0
        self.calls = 0
        self.events: list[LogEvent] = []
        self.gate: asyncio.Event | None = None
        self.holding = threading.Event()

    async def export(self, batch: Sequence[LogEvent]) -> ExportResult:
        self.gate = self.gate or asyncio.Event()
        self.calls += 1
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            if self.calls <= self.hold:
                if self.calls == self.hold:
                    self.holding.set()
                await self.gate.wait()
            self.events.extend(batch)
            return ExportResult.success()
        finally:
            self.active -= 1


@pytest.mark.parametrize("limit", [1, 3])
def test_an_exporter_gets_at_most_its_max_concurrent_exports_calls_at_once(limit: int) -> None:
    """Batches overlap up to the exporter's limit (1 by default), and all are counted."""
    exporter = _OverlappingExporter(max_concurrent_exports=limit, hold=limit)
    pipeline = Pipeline(exporters=[exporter], max_export_batch_size=10, schedule_delay_ms=5)
    log = pipeline.get_logger("t")
    for i in range(100):
        log.info("e", i=i)
    assert exporter.holding.wait(10), "the first calls never started"
    time.sleep(0.2)  # give the lane every chance to start more calls than allowed
    assert exporter.active == limit
    loop = pipeline._loop
    assert loop is not None
    loop.call_soon_threadsafe(lambda: exporter.gate.set() if exporter.gate else None)
    assert pipeline.flush(10)
    assert exporter.peak == limit
    assert sorted(e.attributes["i"] for e in exporter.events) == list(range(100))
    stats = pipeline.stats()
    assert (stats.emitted, stats.exported, stats.dropped_total, stats.in_flight) == (100, 100, 0, 0)
    pipeline.shutdown(timeout=5)


class _Inflate(Processor):
    """Adds a 100 KB attribute: the byte bound must see it."""

    def on_emit(self, event: LogEvent) -> None:
        event.attributes["blob"] = "x" * 100_000


@pytest.mark.parametrize("inflate", [True, False])
def test_the_backlog_byte_bound_counts_what_processors_add(inflate: bool) -> None:
    """Sizes are estimated after processors that may grow events (not only at build)."""
    gated = GatedExporter()
    pipeline = Pipeline(
        exporters=[gated],
        processors=[_Inflate()] if inflate else [],
        redaction=False,
        overflow="drop_newest",
        max_queue_bytes=2_000_000,  # the lanes get half (docs/memory.md)
        max_export_batch_size=1,
        schedule_delay_ms=1,
    )
    log = pipeline.get_logger("x")
    for i in range(30):
        log.info("e", i=i)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        stats = pipeline.stats()
        if (
            stats.queued == 0
            and stats.exporters["gated"].in_flight + sum(stats.dropped.values()) == 30
        ):
            break
        time.sleep(0.01)
    gated.gate.set()
    assert pipeline.flush(timeout=10)
    stats = pipeline.stats()
    assert stats.exported + stats.dropped_total == 30
    if inflate:  # ~10 inflated events fill 1 MB; the rest are dropped and counted
        assert 5 <= stats.dropped["export_backlog"] <= 25
        assert len(gated.events) == stats.exported
    else:
        assert stats.dropped_total == 0
    pipeline.shutdown()


def test_an_otel_exporter_without_force_flush_flushes_cleanly() -> None:
    """force_flush is optional on older SDKs' LogRecordExporters: nothing to flush."""
    from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult

    class Minimal(LogRecordExporter):
        def __init__(self) -> None:
            self.records: list[object] = []

        def export(self, batch: Sequence[object]) -> LogRecordExportResult:  # type: ignore[override]
            self.records.extend(batch)
            return LogRecordExportResult.SUCCESS

        def shutdown(self) -> None:
            pass

        def force_flush(self, timeout_millis: int = 30_000) -> bool:
            raise AssertionError("hidden below: must not be called")

    minimal = Minimal()
    # SDK 1.45 makes force_flush abstract; older exporters may lack it: hide it.
    minimal.force_flush = None  # type: ignore[assignment,method-assign]
    pipeline = Pipeline(exporters=[minimal])
    pipeline.get_logger("svc").info("m")
    assert pipeline.flush(5)
    assert len(minimal.records) == 1
    assert pipeline.shutdown(timeout=5)
