"""Caller-side rate limits: token buckets per logger and template, summaries, counts."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from fapilog import Pipeline, Settings, _ratelimit
from fapilog.config import ConfigError
from fapilog.stdlib import capture_stdlib
from support import RecordingExporter

SECOND = 1_000_000_000


class Clock:
    """A fake monotonic clock in ns, moved by the test."""

    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def limited() -> Iterator[tuple[Pipeline, RecordingExporter, Clock]]:
    exporter = RecordingExporter()
    pipeline = Pipeline(
        exporters=[exporter],
        rate_limit=10,
        max_queue_size=100_000,
        overflow="drop_newest",
        schedule_delay_ms=5,
    )
    clock = Clock()
    assert pipeline.intake.limits is not None
    pipeline.intake.limits.set_clock(clock)
    yield pipeline, exporter, clock
    pipeline.shutdown(timeout=5)


def _summaries(exporter: RecordingExporter) -> list[Any]:
    return [e for e in exporter.events if "fapilog.suppressed_count" in e.attributes]


def _exact(pipeline: Pipeline) -> None:
    stats = pipeline.stats()
    assert stats.emitted == stats.exported + stats.dropped_total + stats.in_flight


def _flood(pipeline: Pipeline, clock: Clock, events: int, seconds: int) -> None:
    """``events`` identical calls spread evenly over ``seconds`` of the fake clock.

    1,000,000 real calls take well under 3 s (the limited ones are dropped on the
    caller), so the issue's figure runs on every interpreter.
    """
    log = pipeline.get_logger("hot.loop")
    step = seconds * SECOND // events
    for i in range(events):
        clock.now = i * step
        log.info("order %s failed", i)


def _check_flood(pipeline: Pipeline, exporter: RecordingExporter, events: int) -> None:
    assert pipeline.shutdown(timeout=10) or True  # the pending summary is enqueued first
    stats = pipeline.stats()
    summaries = _summaries(exporter)
    kept = [e for e in exporter.events if e.body != summaries[0].body and e not in summaries]
    # 10/s over 100 s, plus the burst (one second's worth): 1,000 +- 5 %.
    assert 950 <= len(kept) <= 1050, len(kept)
    limited = stats.dropped["rate_limited"]
    assert limited == events - len(kept)
    # Every suppressed event is in exactly one summary; one about every 10 s.
    assert sum(e.attributes["fapilog.suppressed_count"] for e in summaries) == limited
    assert 9 <= len(summaries) <= 11
    assert {e.instrumentation_scope.name for e in summaries} == {"hot.loop"}
    assert {e.severity_text for e in summaries} == {"INFO"}
    first = summaries[0]
    # The window closes with the first event admitted 10 s or more after it opened.
    seconds = first.attributes["fapilog.suppressed_seconds"]
    assert 10 <= seconds <= 10.2
    count = first.attributes["fapilog.suppressed_count"]
    assert first.body == f"suppressed {count:,} similar events in {seconds:.1f} s".replace(
        ".0 s", " s"
    )
    assert first.attributes["fapilog.suppressed_template"] == "order %s failed"
    assert stats.emitted == stats.exported + stats.dropped_total + stats.in_flight
    assert stats.exported == len(exporter.events)


def test_a_1000000_event_flood_at_10_per_second_keeps_the_limit_and_counts_exactly(
    limited,
) -> None:
    pipeline, exporter, clock = limited
    _flood(pipeline, clock, 1_000_000, 100)
    _check_flood(pipeline, exporter, 1_000_000)


def test_the_limit_lifts_with_one_summary_before_the_next_event(limited) -> None:
    pipeline, exporter, clock = limited
    log = pipeline.get_logger("burst")
    for _ in range(25):  # the burst of 10 passes, 15 are suppressed
        log.warning("disk %s full", "/var")
    clock.now = 3 * SECOND  # quiet long enough for the bucket to refill
    log.warning("disk %s full", "/tmp")
    assert pipeline.flush(5)
    bodies = [e.body for e in exporter.events]
    assert bodies == ["disk /var full"] * 10 + [
        "suppressed 15 similar events in 3 s",
        "disk /tmp full",
    ]
    summary = exporter.events[10]
    assert summary.severity_text == "WARN"
    assert summary.attributes["fapilog.suppressed_count"] == 15
    assert summary.attributes["fapilog.suppressed_seconds"] == 3.0
    assert pipeline.stats().dropped["rate_limited"] == 15
    assert pipeline.stats().protection["rate_limit.summaries"] == 1
    _exact(pipeline)


def test_templates_and_loggers_have_buckets_of_their_own(limited) -> None:
    pipeline, exporter, _ = limited
    a, b = pipeline.get_logger("a"), pipeline.get_logger("b")
    for i in range(20):
        a.info("one %d", i)
        a.info("two %d", i)
        b.info("one %d", i)
        a.bind(k=i).info("one %d", i)  # a bound logger shares its name's buckets
    assert pipeline.flush(5)
    counted = {(e.instrumentation_scope.name, str(e.body).split()[0]): 0 for e in exporter.events}
    for e in exporter.events:
        counted[(e.instrumentation_scope.name, str(e.body).split()[0])] += 1
    assert counted == {("a", "one"): 10, ("a", "two"): 10, ("b", "one"): 10}
    assert pipeline.stats().dropped["rate_limited"] == 50
    _exact(pipeline)


def test_the_suppressed_level_is_the_highest_one(limited) -> None:
    pipeline, exporter, clock = limited
    log = pipeline.get_logger("mixed")
    for _ in range(10):
        log.info("same")
    log.info("same")
    log.error("same")
    log.warning("same")
    clock.now = 5 * SECOND
    log.info("same")
    assert pipeline.flush(5)
    (summary,) = _summaries(exporter)
    assert (summary.severity_text, summary.attributes["fapilog.suppressed_count"]) == ("ERROR", 3)


def test_levels_are_checked_before_the_limit(limited) -> None:
    pipeline, _, _ = limited
    log = pipeline.get_logger("quiet")
    for _ in range(50):
        log.debug("below the level")
    assert "rate_limited" not in pipeline.stats().dropped


def test_per_logger_rates_and_off(monkeypatch) -> None:
    monkeypatch.setenv("FAPILOG_RATE_LIMITS", "chatty=off, noisy.lib=2")
    exporter = RecordingExporter()
    pipeline = Pipeline(exporters=[exporter], rate_limit=5, rate_limit_burst=1)
    try:
        assert Settings.load().rate_limits == {"chatty": None, "noisy.lib": 2.0}
        chatty, noisy, other = (
            pipeline.get_logger(name) for name in ("chatty.x", "noisy.lib.y", "other")
        )
        assert chatty._limit is None  # no limit: the plain one-comparison level check
        assert noisy._limit is not None and noisy._limit.interval == SECOND // 2
        assert other._limit is not None and other._limit.interval == SECOND // 5
        for _ in range(5):
            chatty.info("c")
            noisy.info("n")
        assert pipeline.flush(5)
        assert [e.body for e in exporter.events].count("c") == 5
        assert [e.body for e in exporter.events].count("n") == 1  # burst 1
    finally:
        pipeline.shutdown(timeout=5)
    monkeypatch.setenv("FAPILOG_RATE_LIMITS", "noisy=0")
    with pytest.raises(ConfigError, match="FAPILOG_RATE_LIMITS"):
        Settings.load()
    monkeypatch.delenv("FAPILOG_RATE_LIMITS")
    monkeypatch.setenv("FAPILOG_RATE_LIMIT", "-1")
    with pytest.raises(ConfigError, match="FAPILOG_RATE_LIMIT"):
        Settings.load()


def test_templates_per_logger_are_bounded_and_evictions_counted(limited, monkeypatch) -> None:
    monkeypatch.setattr(_ratelimit, "MAX_TEMPLATES", 50)
    pipeline, exporter, _ = limited
    log = pipeline.get_logger("fstrings")
    for n in range(60):
        for _ in range(12):  # 10 pass, 2 suppressed per template
            log.info(f"user {n} logged in")
    limiter = log._limit
    assert len(limiter) <= 50
    stats = pipeline.stats()
    assert stats.protection["rate_limit.evicted"] == 50
    assert pipeline.shutdown(timeout=5)
    # Eviction and shutdown enqueued the pending summaries: every drop is in one.
    total = sum(e.attributes["fapilog.suppressed_count"] for e in _summaries(exporter))
    assert total == pipeline.stats().dropped["rate_limited"] == 120
    _exact(pipeline)


def test_messages_that_are_not_str_are_limited_by_type_without_raising(limited) -> None:
    pipeline, exporter, _ = limited
    log = pipeline.get_logger("objects")
    for i in range(15):
        log.info({"n": i})  # unhashable
        log.info(i)  # hashable, not a template
    assert pipeline.flush(5)
    assert len(exporter.events) == 20
    assert pipeline.stats().dropped["rate_limited"] == 10


def test_the_stdlib_handler_is_limited_by_the_unformatted_message(limited) -> None:
    pipeline, exporter, _ = limited
    stdlib_logger = logging.getLogger("rate_test_stdlib")
    capture = capture_stdlib("INFO", pipeline=pipeline, logger=stdlib_logger)
    try:
        for i in range(30):
            stdlib_logger.info("retrying %s", i)
    finally:
        capture.uninstall()
    assert pipeline.flush(5)
    assert len(exporter.events) == 10
    assert pipeline.stats().dropped["rate_limited"] == 20
    _exact(pipeline)


def test_without_a_rate_limit_no_logger_has_a_limiter() -> None:
    pipeline = Pipeline(exporters=[RecordingExporter()])
    try:
        assert pipeline.intake.limits is None
        assert pipeline.get_logger("x")._limit is None
        assert "rate_limit.loggers" not in pipeline.stats().protection
    finally:
        pipeline.shutdown(timeout=5)
