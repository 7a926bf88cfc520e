"""Processors are contained: garbage verdicts, bad counts(), and a processor that blocks."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from fapilog import Exporter, ExportResult, LogEvent, Pipeline, Processor
from fapilog._diagnostics import reporter
from fapilog.pipeline import _worker
from fapilog.pipeline._worker import keeps_size
from support import RecordingExporter


class _Reports:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []
        self.changed = threading.Condition()

    def __call__(self, key: str, message: str) -> None:
        with self.changed:
            self.lines.append((key, message))
            self.changed.notify_all()

    def keyed(self, prefix: str) -> list[str]:
        return [m for k, m in self.lines if k.startswith(prefix)]

    def wait_for(self, prefix: str, timeout: float) -> list[str]:
        with self.changed:
            self.changed.wait_for(lambda: self.keyed(prefix), timeout)
        return self.keyed(prefix)


@pytest.fixture
def reports(monkeypatch: pytest.MonkeyPatch) -> _Reports:
    recorder = _Reports()
    monkeypatch.setattr(reporter, "report", recorder)
    return recorder


class _Garbage(Processor):
    def on_emit(self, event: LogEvent) -> Any:
        return "secret-value-7" if event.body == "bad" else None


def test_a_verdict_other_than_none_true_false_drops_the_event(reports: _Reports) -> None:
    """Counted as processor_error, reported once per class with the type, never the value."""
    exporter = RecordingExporter()
    pipeline = Pipeline(exporters=[exporter], processors=[_Garbage()])
    try:
        log = pipeline.get_logger("t")
        for body in ("ok", "bad", "bad", "ok"):
            log.info(body)
        assert pipeline.flush(5)
        assert [e.body for e in exporter.events] == ["ok", "ok"]
        assert dict(pipeline.stats().dropped) == {"processor_error": 2}
        (line,) = reports.keyed("processor_result:")
        assert "_Garbage.on_emit returned str" in line
        assert "secret-value-7" not in line
    finally:
        pipeline.shutdown(5)


class _Counting(Processor):
    def on_emit(self, event: LogEvent) -> None:
        return None

    def counts(self) -> Mapping[str, int]:
        return {"sampler.kept": 3, "shared": 1}


class _CountingToo(_Counting):
    def counts(self) -> Mapping[str, int]:
        return {"shared": 2}


class _RaisingCounts(_Counting):
    def counts(self) -> Mapping[str, int]:
        raise RuntimeError("nope")


class _GarbageCounts(_Counting):
    def counts(self) -> Any:
        return {"ok": "three"}


def test_counts_of_every_processor_are_merged_and_bad_ones_left_out(reports: _Reports) -> None:
    processors = [_Counting(), _CountingToo(), _RaisingCounts(), _GarbageCounts()]
    pipeline = Pipeline(exporters=[], processors=processors, redaction=False)
    try:
        for _ in range(3):
            protection = dict(pipeline.stats().protection)
        assert protection == {"sampler.kept": 3, "shared": 3}
        told = reports.keyed("processor_counts:")
        assert len(told) == 2  # once per class, not once per stats() call
        assert any("_RaisingCounts.counts() failed" in line for line in told)
        assert any("_GarbageCounts.counts() failed" in line for line in told)
    finally:
        pipeline.shutdown(5)


def test_keeps_size_is_read_from_the_class() -> None:
    class Public(_Counting):
        keeps_size = True

    class Inherits(Public):
        pass

    class Odd(_Counting):
        keeps_size = "yes"  # type: ignore[assignment]  # only True counts

    public = Public()
    public.keeps_size = False  # type: ignore[misc]  # the class says, not the instance
    assert keeps_size(public) and keeps_size(Inherits())
    assert not keeps_size(_Counting()) and not keeps_size(Odd())


class _Blocking(Processor):
    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()

    def on_emit(self, event: LogEvent) -> None:
        self.entered.set()
        self.release.wait(30)


def test_a_blocking_processor_is_reported_and_bounds_hold(
    reports: _Reports, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Callers never wait past block_timeout, the stall is named, shutdown keeps its bound."""
    monkeypatch.setattr(_worker, "STALL_SECONDS", 0.3)
    blocking = _Blocking()
    exporter = RecordingExporter()
    pipeline = Pipeline(
        exporters=[exporter],
        processors=[blocking],
        overflow="block",
        block_timeout_ms=50,
        max_queue_size=5,
        max_export_batch_size=5,
    )
    try:
        log = pipeline.get_logger("t")
        log.info("first")
        assert blocking.entered.wait(10)
        slowest = 0.0
        for i in range(15):
            start = time.monotonic()
            log.info("more", i=i)
            slowest = max(slowest, time.monotonic() - start)
        assert slowest < 0.05 + 0.5  # block_timeout_ms, plus scheduling slack
        assert pipeline.stats().dropped.get("queue_full", 0) > 0
        (line,) = reports.wait_for("processor_stalled:", 10)
        assert "_Blocking.on_emit has not returned" in line
        assert pipeline.stats().stalled == "_Blocking"
        start = time.monotonic()
        assert pipeline.shutdown(timeout=0.5) is False
        assert time.monotonic() - start < 0.5 + 0.5
        loss = reports.keyed("loss:")
        assert loss and "stuck in processor _Blocking.on_emit" in loss[0]
    finally:
        blocking.release.set()


class _SyncBlockingExporter(Exporter):
    """Blocks the worker's event loop with a synchronous wait inside async export()."""

    name = "sync-blocker"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()

    async def export(self, batch: Sequence[LogEvent]) -> ExportResult:
        self.entered.set()
        self.release.wait(30)  # a blocking call where an await belongs
        return ExportResult.success()


def test_an_exporter_blocking_the_event_loop_is_named_and_bounds_hold(
    reports: _Reports, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A synchronous call in export() stops the whole loop: it cannot be interrupted,
    but the watchdog names the exporter once, stats() shows it, callers stay bounded
    and the stall clears when the call returns."""
    monkeypatch.setattr(_worker, "STALL_SECONDS", 0.3)
    blocker = _SyncBlockingExporter()
    pipeline = Pipeline(
        exporters=[blocker],
        overflow="block",
        block_timeout_ms=50,
        max_queue_size=5,
        max_export_batch_size=5,
        schedule_delay_ms=5,
    )
    try:
        log = pipeline.get_logger("t")
        log.info("first")
        assert blocker.entered.wait(10)
        slowest = 0.0
        for i in range(15):
            start = time.monotonic()
            log.info("more", i=i)
            slowest = max(slowest, time.monotonic() - start)
        assert slowest < 0.05 + 0.5  # block_timeout_ms, plus scheduling slack
        (line,) = reports.wait_for("exporter_blocking:sync-blocker", 10)
        assert "'sync-blocker' has blocked pipeline" in line
        assert "_SyncBlockingExporter.export" in line and "asyncio.to_thread" in line
        assert pipeline.stats().stalled == "_SyncBlockingExporter"
        blocker.release.set()
        deadline = time.monotonic() + 10
        while pipeline.stats().stalled is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pipeline.stats().stalled is None  # the loop runs again
    finally:
        blocker.release.set()
        pipeline.shutdown(timeout=5)
    assert len(reports.keyed("exporter_blocking:")) == 1  # once per class
