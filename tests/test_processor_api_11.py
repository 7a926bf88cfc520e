"""Plugin API 1.1: ``Processor.drop_reason`` and ``Processor.poll`` on the pipeline worker."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import pytest

from fapilog import LogEvent, Pipeline, Settings, plugin
from fapilog._diagnostics import reporter
from fapilog.pipeline._stats import loss_line
from fapilog.pipeline._worker import drop_reason, polls
from fapilog.testing import InMemoryExporter

if TYPE_CHECKING:
    from collections.abc import Sequence


class Dropper(plugin.Processor):
    """Drops events whose body is in ``bodies``."""

    drop_reason = "vetoed"

    def __init__(self, *bodies: str) -> None:
        self.bodies = set(bodies)

    def on_emit(self, event: LogEvent) -> bool:
        return event.body not in self.bodies


class Recorder(plugin.Processor):
    def __init__(self) -> None:
        self.seen: list[object] = []

    def on_emit(self, event: LogEvent) -> None:
        self.seen.append(event.body)


class Emitter(plugin.Processor):
    """Emits the bodies queued by the test from ``poll``; counts its polls."""

    api_version = "1.1"

    def __init__(self) -> None:
        self.queued: list[str] = []
        self.lock = threading.Lock()
        self.polls = 0
        self.flushed = 0
        self.seen: list[object] = []

    def on_emit(self, event: LogEvent) -> None:
        self.seen.append(event.body)

    def poll(self, now_ns: int) -> Sequence[LogEvent]:
        self.polls += 1
        with self.lock:
            bodies, self.queued = self.queued, []
        return [LogEvent(timestamp=now_ns, severity_number=9, body=b) for b in bodies]

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        self.flushed += 1
        return True


def settings(**overrides: object) -> Settings:
    return Settings.defaults(redaction=False, schedule_delay_ms=20, **overrides)


def test_the_defaults_keep_1_0_processors_working() -> None:
    assert plugin.API_VERSION == "1.1"
    assert plugin.check_api_version("1.0")[0]
    assert plugin.check_api_version("1.1")[0]
    assert plugin.Processor.drop_reason == "filtered"
    assert Recorder().poll(0) == ()
    assert drop_reason(Recorder()) == "filtered"
    assert not polls(Recorder())
    assert polls(Emitter())


def test_a_bad_drop_reason_counts_as_filtered() -> None:
    class Odd(Recorder):
        drop_reason = ""

    class Odder(Recorder):
        drop_reason = 3  # type: ignore[assignment]

    assert drop_reason(Odd()) == "filtered"
    assert drop_reason(Odder()) == "filtered"


def test_false_verdicts_are_counted_under_the_processors_drop_reason() -> None:
    class Filter(Dropper):
        drop_reason = "filtered"

    memory = InMemoryExporter()
    pipeline = Pipeline(settings(), exporters=[memory], processors=[Dropper("a"), Filter("b")])
    log = pipeline.get_logger("t")
    try:
        for body in ("a", "b", "c", "a"):
            log.info(body)
        assert pipeline.flush(10)
        stats = pipeline.stats()
    finally:
        pipeline.shutdown(5)
    assert [e.body for e in memory.events] == ["c"]
    assert stats.dropped == {"vetoed": 2, "filtered": 1}
    assert stats.emitted == 4 == stats.exported + stats.dropped_total
    line = loss_line("pipeline", stats, {}, {})  # a reason outside NOT_LOSS is a loss
    assert line is not None
    assert "2 of 4" in line


def test_polled_events_pass_only_the_later_processors_and_count_as_emitted() -> None:
    before, emitter, after = Recorder(), Emitter(), Recorder()
    memory = InMemoryExporter()
    pipeline = Pipeline(
        settings(), exporters=[memory], processors=[before, emitter, after, Dropper("drop me")]
    )
    log = pipeline.get_logger("t")
    try:
        log.info("logged")
        with emitter.lock:
            emitter.queued += ["summary", "drop me"]
        assert pipeline.flush(10)
        stats = pipeline.stats()
    finally:
        pipeline.shutdown(5)
    assert before.seen == ["logged"]
    assert emitter.seen == ["logged"]
    assert after.seen == ["logged", "summary", "drop me"]
    assert sorted(e.body for e in memory.events) == ["logged", "summary"]  # type: ignore[type-var]
    assert stats.emitted == 3
    assert stats.exported == 2
    assert stats.dropped == {"vetoed": 1}
    assert stats.in_flight == 0
    assert emitter.flushed >= 1  # flush calls force_flush() before the final poll


def test_poll_runs_while_idle_within_the_schedule_delay() -> None:
    emitter = Emitter()
    memory = InMemoryExporter()
    pipeline = Pipeline(settings(), exporters=[memory], processors=[emitter])
    try:
        pipeline.get_logger("t").info("wake")
        assert memory.wait_for(1, timeout=5)
        with emitter.lock:
            emitter.queued.append("late")
        # No log call and no flush: only the idle loop's poll can deliver it.
        assert memory.wait_for(2, timeout=5)
        assert [e.body for e in memory.events] == ["wake", "late"]
        stats = pipeline.stats()
        assert stats.emitted == 2 == stats.exported + stats.in_flight
    finally:
        pipeline.shutdown(5)


def test_a_poll_that_raises_or_returns_garbage_is_contained_and_told_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    told: list[str] = []
    monkeypatch.setattr(reporter, "report", lambda key, message: told.append(message))

    class Raising(Recorder):
        def poll(self, now_ns: int) -> Sequence[LogEvent]:
            raise RuntimeError("boom")

    class Garbage(Recorder):
        def poll(self, now_ns: int) -> Sequence[LogEvent]:
            return ["not an event", LogEvent(timestamp=now_ns, body="ok")]  # type: ignore[list-item]

    memory = InMemoryExporter()
    pipeline = Pipeline(settings(), exporters=[memory], processors=[Raising(), Garbage()])
    try:
        for _ in range(3):
            pipeline.get_logger("t").info("x")
            assert pipeline.flush(10)
        stats = pipeline.stats()
    finally:
        pipeline.shutdown(5)
    assert [e.body for e in memory.events].count("x") == 3
    assert stats.emitted == stats.exported + stats.dropped_total + stats.in_flight
    assert stats.dropped_total == 0
    assert sum("Raising.poll raised RuntimeError" in m for m in told) == 1
    assert sum("Garbage.poll returned something that is not a LogEvent" in m for m in told) == 1
