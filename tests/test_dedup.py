"""De-duplication: identical events in a window collapse into the first plus one summary."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from fapilog import ConfigError, LogEvent, Pipeline, Settings
from fapilog.pipeline._stats import NOT_LOSS, loss_line
from fapilog.processors import DedupProcessor
from fapilog.processors._dedup import REPEAT_COUNT
from fapilog.testing import InMemoryExporter

MS = 1_000_000  # ns
T0 = 1_700_000_000_000 * MS


def event(
    ts: int,
    body: object = "db timeout",
    logger: str = "shop.db",
    severity: int = 17,
    **attributes: object,
) -> LogEvent:
    return LogEvent(
        timestamp=ts,
        severity_number=severity,
        severity_text="ERROR" if severity == 17 else "INFO",
        body=body,  # type: ignore[arg-type]
        attributes=dict(attributes),
        instrumentation_scope=InstrumentationScope(logger),
    )


def test_repeats_in_the_window_collapse_into_one_summary_with_the_count() -> None:
    dedup = DedupProcessor(10_000)
    verdicts = [dedup.on_emit(event(T0 + i * MS, host="a")) for i in range(1_235)]
    assert verdicts[0] is True
    assert not any(verdicts[1:])
    assert dedup.poll(T0 + 9_999 * MS) == ()  # the window is still open
    (summary,) = dedup.poll(T0 + 10_000 * MS)
    assert summary.body == 'collapsed 1,234 repeats of "db timeout" in 10 s'
    assert summary.attributes[REPEAT_COUNT] == 1_234
    assert summary.attributes["host"] == "a"
    assert summary.scope_name == "shop.db"
    assert (summary.severity_number, summary.severity_text) == (17, "ERROR")
    assert summary.timestamp == T0 + 1_234 * MS  # the last repeat
    assert dedup.poll(T0 + 20_000 * MS) == ()  # reported once
    assert dedup.counts() == {"dedup.collapsed": 1_234, "dedup.summaries": 1}
    # After the window the next one passes again and opens a new window.
    assert dedup.on_emit(event(T0 + 10_001 * MS, host="a"))


def test_a_window_without_repeats_closes_silently() -> None:
    dedup = DedupProcessor(100)
    assert dedup.on_emit(event(T0))
    assert dedup.poll(T0 + 200 * MS) == ()


def test_identical_means_same_logger_level_event_name_body_and_attributes() -> None:
    dedup = DedupProcessor(1_000)
    assert dedup.on_emit(event(T0, a=1, b=[1, 2]))
    assert not dedup.on_emit(event(T0 + 1, b=[1, 2], a=1))  # attribute order is ignored
    for different in (
        event(T0 + 2, a=2, b=[1, 2]),
        event(T0 + 2, a=1, b=[1, 3]),
        event(T0 + 2, a=1),
        event(T0 + 2, body="other", a=1, b=[1, 2]),
        event(T0 + 2, logger="shop.api", a=1, b=[1, 2]),
        event(T0 + 2, severity=9, a=1, b=[1, 2]),
    ):
        assert dedup.on_emit(different), different
    named = event(T0 + 3, a=1, b=[1, 2])
    named.event_name = "order.failed"
    assert dedup.on_emit(named)
    # Unhashable bodies and nested values are compared by value.
    assert dedup.on_emit(event(T0, body={"k": [1]}, x={"y": 1}))
    assert not dedup.on_emit(event(T0 + 5, body={"k": [1]}, x={"y": 1}))
    # Trace and span ids do not make events different.
    traced = event(T0 + 6, a=1, b=[1, 2])
    traced.trace_id, traced.span_id = 7, 8
    assert not dedup.on_emit(traced)


def test_audit_events_are_never_collapsed() -> None:
    dedup = DedupProcessor(1_000)
    for i in range(3):
        audit = event(T0 + i)
        audit.attributes["fapilog.audit"] = True
        assert dedup.on_emit(audit)


def test_memory_is_bounded_and_an_evicted_window_still_reports_its_count() -> None:
    dedup = DedupProcessor(60_000, max_keys=3)
    for key in "abc":
        assert dedup.on_emit(event(T0, body=key))
    assert not dedup.on_emit(event(T0 + 1, body="a"))
    assert not dedup.on_emit(event(T0 + 2, body="a"))
    assert dedup.on_emit(event(T0 + 3, body="d"))  # evicts "a", the oldest
    assert len(dedup._windows) == 3
    (summary,) = dedup.poll(T0 + 4)  # long before the window's end
    assert summary.attributes[REPEAT_COUNT] == 2
    assert dedup.on_emit(event(T0 + 5, body="a"))  # "a" is new again


def test_a_flush_reports_the_counts_so_far_and_keeps_the_window_open() -> None:
    dedup = DedupProcessor(60_000)
    dedup.on_emit(event(T0))
    for i in range(4):
        dedup.on_emit(event(T0 + i + 1))
    dedup.force_flush()
    (summary,) = dedup.poll(T0 + 10)
    assert summary.attributes[REPEAT_COUNT] == 4
    assert not dedup.on_emit(event(T0 + 20))  # still a repeat within the window
    (later,) = dedup.poll(T0 + 60_000 * MS)
    assert later.attributes[REPEAT_COUNT] == 1


def test_options_are_checked() -> None:
    for bad in (0, -5, 1.5, True, "100"):
        with pytest.raises(ConfigError, match="positive integer"):
            DedupProcessor(bad)  # type: ignore[arg-type]
    assert DedupProcessor.from_settings(Settings.defaults(dedup_window_ms=250)).window_ms == 250
    assert DedupProcessor.from_settings(Settings.defaults(), window_ms=40).window_ms == 40


def test_accounting_is_exact_through_a_real_pipeline() -> None:
    memory = InMemoryExporter()
    pipeline = Pipeline(
        Settings.defaults(dedup_window_ms=60_000, redaction=False), exporters=[memory]
    )
    log = pipeline.get_logger("shop.db")
    try:
        for _ in range(1_500):
            log.error("db timeout", host="a")
        for i in range(100):
            log.info("distinct", i=i)
        assert pipeline.flush(10)
        stats = pipeline.stats()
    finally:
        pipeline.shutdown(5)
    bodies = [e.body for e in memory.events]
    assert bodies.count("db timeout") == 1
    assert bodies.count("distinct") == 100
    summaries = [e for e in memory.events if REPEAT_COUNT in e.attributes]
    assert [e.attributes[REPEAT_COUNT] for e in summaries] == [1_499]
    assert summaries[0].body == 'collapsed 1,499 repeats of "db timeout" in 1 min'
    # 1,600 log calls plus one summary record, each accounted for exactly once.
    assert stats.emitted == 1_601
    assert stats.exported == 102
    assert stats.dropped == {"deduplicated": 1_499}
    assert stats.in_flight == 0
    assert stats.emitted == stats.exported + stats.dropped_total + stats.in_flight
    assert "deduplicated" in NOT_LOSS
    assert loss_line("pipeline", stats, {}, {}) is None


def test_the_summary_arrives_when_the_window_closes_without_a_flush() -> None:
    memory = InMemoryExporter()
    pipeline = Pipeline(
        Settings.defaults(dedup_window_ms=30, schedule_delay_ms=10, redaction=False),
        exporters=[memory],
    )
    log = pipeline.get_logger("shop.db")
    try:
        for _ in range(50):
            log.error("db timeout")
        assert memory.wait_for(2, timeout=5)  # the first, then the idle poll's summary
        first, summary = memory.events[:2]
        assert first.body == "db timeout"
        assert summary.attributes[REPEAT_COUNT] == 49
        assert summary.body == 'collapsed 49 repeats of "db timeout" in 30 ms'
    finally:
        pipeline.shutdown(5)
