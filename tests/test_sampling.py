"""Sampling: the ratio, trace consistency (as the OTel SDK decides), what is always kept,
per-logger rules, and how sampled-out events are counted."""

from __future__ import annotations

import random

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.sampling import Decision, TraceIdRatioBased
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from fapilog import ConfigError, LogEvent, Pipeline, Settings
from fapilog.pipeline._assembly import assemble
from fapilog.pipeline._stats import NOT_LOSS, loss_line
from fapilog.processors import DedupProcessor, SamplingProcessor
from fapilog.processors._sampling import trace_bound, trace_sampled
from fapilog.testing import InMemoryExporter

INFO, WARN, ERROR, DEBUG = 9, 13, 17, 5


def event(
    logger: str = "shop",
    severity: int = INFO,
    trace_id: int = 0,
    flags: int = 0,
    **attributes: object,
) -> LogEvent:
    return LogEvent(
        timestamp=1,
        severity_number=severity,
        body="hello",
        trace_id=trace_id,
        trace_flags=flags,
        attributes=dict(attributes),
        instrumentation_scope=InstrumentationScope(logger),
    )


def sdk_samples(sampler: TraceIdRatioBased, trace_id: int) -> bool:
    result = sampler.should_sample(None, trace_id, "span")
    return result.decision is Decision.RECORD_AND_SAMPLE


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_ratio_keeps_ten_percent_of_100_000_untraced_events_within_one_percent(
    seed: int,
) -> None:
    sampler = SamplingProcessor(0.1, seed=seed)
    e = event()
    kept = sum(1 for _ in range(100_000) if sampler.on_emit(e))
    assert 9_900 <= kept <= 10_100
    assert abs(kept - 10_000) <= 2  # the counter is exact to within two events
    assert sampler.counts() == {"sampling.kept": kept, "sampling.sampled": 100_000 - kept}


def test_untraced_keeps_are_not_at_a_fixed_stride() -> None:
    # An alternating pattern (A, B, A, B...) at ratio 0.5 must not keep only A's.
    sampler = SamplingProcessor(0.5, seed=7)
    kept = {"a": 0, "b": 0}
    for i in range(20_000):
        name = "a" if i % 2 == 0 else "b"
        if sampler.on_emit(event(name)):
            kept[name] += 1
    assert 4_000 < kept["a"] < 6_000
    assert 4_000 < kept["b"] < 6_000


def test_traced_decisions_agree_with_the_sdk_sampler_for_10_000_trace_ids() -> None:
    rng = random.Random(18)
    for ratio in (0.0, 0.001, 0.1, 0.25, 0.5, 0.999, 1.0):
        ours = SamplingProcessor(ratio, keep_level="off")
        sdk = TraceIdRatioBased(ratio)
        assert trace_bound(ratio) == TraceIdRatioBased.get_bound_for_rate(ratio)
        for _ in range(10_000 if ratio in (0.1, 0.5) else 1_000):
            trace_id = rng.getrandbits(128) or 1
            want = sdk_samples(sdk, trace_id)
            assert ours.keep(event(trace_id=trace_id)) is want, (ratio, hex(trace_id))
            assert trace_sampled(trace_id, ratio) is want


def test_every_record_of_a_trace_gets_the_same_decision_whatever_else_differs() -> None:
    sampler = SamplingProcessor(0.3, seed=1)
    rng = random.Random(5)
    for _ in range(500):
        trace_id = rng.getrandbits(128) or 1
        decisions = {
            sampler.on_emit(event(logger=name, trace_id=trace_id, flags=flags))
            for name in ("shop", "shop.api", "other")
            for flags in (0, 1)
        }
        assert len(decisions) == 1


def test_warn_and_above_and_audit_records_are_always_kept() -> None:
    sampler = SamplingProcessor(0.0, seed=1)
    rng = random.Random(3)
    for severity in range(13, 25):
        assert sampler.on_emit(event(severity=severity))
        assert sampler.on_emit(event(severity=severity, trace_id=rng.getrandbits(128) or 1))
    audit = event(severity=INFO)
    audit.attributes["fapilog.audit"] = True
    assert sampler.on_emit(audit)
    named = event()
    named.event_name = "audit"
    assert sampler.on_emit(named)
    assert not sampler.on_emit(event(severity=INFO))
    assert not sampler.on_emit(event(severity=DEBUG, trace_id=rng.getrandbits(128) or 1))


def test_keep_level_can_be_raised_or_turned_off() -> None:
    assert not SamplingProcessor(0.0, keep_level="error").on_emit(event(severity=WARN))
    assert SamplingProcessor(0.0, keep_level="error").on_emit(event(severity=ERROR))
    assert not SamplingProcessor(0.0, keep_level="off").on_emit(event(severity=ERROR))
    assert SamplingProcessor(0.0, keep_level="info").on_emit(event(severity=INFO))


def test_keep_sampled_traces_keeps_what_the_tracer_kept_and_ratio_decides_the_rest() -> None:
    sampler = SamplingProcessor(0.0, keep_sampled_traces=True, keep_level="off")
    rng = random.Random(9)
    trace_id = rng.getrandbits(128) or 1
    assert sampler.on_emit(event(trace_id=trace_id, flags=1))
    assert not sampler.on_emit(event(trace_id=trace_id, flags=0))
    # Without the option the flag is not read: the ratio by trace id decides.
    plain = SamplingProcessor(0.0, keep_level="off")
    assert not plain.on_emit(event(trace_id=trace_id, flags=1))


def test_per_logger_rules_use_the_longest_dotted_prefix() -> None:
    sampler = SamplingProcessor(
        1.0, rules={"shop": 0.5, "shop.db": 0.0, "shop.db.audit": 1.0, "urllib3": 0}, seed=2
    )
    n = 4_000

    def kept(name: str) -> int:
        return sum(1 for _ in range(n) if sampler.on_emit(event(name)))

    assert kept("shop.db") == 0
    assert kept("shop.db.pool") == 0
    assert kept("shop.db.audit") == n
    assert kept("shop.dbx") == pytest.approx(n / 2, abs=2)  # not under shop.db
    assert kept("shop") == pytest.approx(n / 2, abs=2)
    assert kept("urllib3.connectionpool") == 0
    assert kept("other") == n  # the default ratio
    root = SamplingProcessor(1.0, rules={"": 0.0, "keep": 1.0})
    assert not root.on_emit(event("anything"))
    assert root.on_emit(event("keep.me"))


def test_rules_parse_from_text_and_bad_values_say_what_is_wrong() -> None:
    assert SamplingProcessor(rules="shop.db=0.01, urllib3=0").rules == {
        "shop.db": 0.01,
        "urllib3": 0.0,
    }
    with pytest.raises(ConfigError, match="has no '='"):
        SamplingProcessor(rules="shop.db")
    with pytest.raises(ConfigError, match="given twice"):
        SamplingProcessor(rules="a=0.1,a=0.2")
    with pytest.raises(ConfigError, match=r"'shop' \(2\.0\) is outside 0\.\.1"):
        SamplingProcessor(rules={"shop": 2.0})
    with pytest.raises(ConfigError, match="not a dotted logger name"):
        SamplingProcessor(rules={"shop.": 0.5})
    with pytest.raises(ConfigError, match=r"outside 0\.\.1"):
        SamplingProcessor(1.5)
    with pytest.raises(ConfigError, match="not bool"):
        SamplingProcessor(True)
    with pytest.raises(ConfigError, match="keep level 'loud' is unknown"):
        SamplingProcessor(0.5, keep_level="loud")


def test_settings_validate_and_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAPILOG_SAMPLING_RATIO", "0.1")
    monkeypatch.setenv("FAPILOG_SAMPLING_RULES", "shop.db=0.01,urllib3=0")
    monkeypatch.setenv("FAPILOG_DEDUP_WINDOW_MS", "250")
    settings = Settings.load()
    assert settings.sampling_ratio == 0.1
    assert settings.sampling_rules == {"shop.db": 0.01, "urllib3": 0.0}
    parts = assemble(settings, exporters=[], processors=[], resource=None)
    volume = [p for p in parts.processors if isinstance(p, SamplingProcessor | DedupProcessor)]
    assert [type(p) for p in volume] == [SamplingProcessor, DedupProcessor]
    sampler = volume[0]
    assert isinstance(sampler, SamplingProcessor)
    assert sampler.ratio == 0.1
    assert sampler.rules == {"shop.db": 0.01, "urllib3": 0.0}
    monkeypatch.setenv("FAPILOG_SAMPLING_RULES", "shop.db=lots")
    with pytest.raises(ConfigError, match=r"FAPILOG_SAMPLING_RULES: .*'lots'.* not a number"):
        Settings.load()
    with pytest.raises(ConfigError, match="sampling_ratio"):
        Settings.defaults(sampling_ratio=2)
    with pytest.raises(ConfigError, match="sampling_keep_level"):
        Settings.defaults(sampling_keep_level="sometimes")
    with pytest.raises(ConfigError, match="dedup_window_ms"):
        Settings.defaults(dedup_window_ms=0)


def test_assembly_places_sampling_after_protection_and_before_user_processors() -> None:
    from fapilog.redaction import RedactionProcessor

    class Mine(DedupProcessor):
        pass

    settings = Settings.defaults(sampling_ratio=0.5, dedup_window_ms=100)
    user = Mine(50)
    parts = assemble(settings, exporters=[], processors=[user], resource=None)
    names = [type(p).__name__ for p in parts.processors]
    assert names.index("RedactionProcessor") < names.index("SamplingProcessor")
    assert names.index("SamplingProcessor") < names.index("DedupProcessor") < names.index("Mine")
    assert isinstance(parts.processors[names.index("RedactionProcessor")], RedactionProcessor)
    # Nothing asked for: nothing added. A sampler given by the application is not doubled.
    plain = assemble(Settings.defaults(), exporters=[], processors=[], resource=None)
    assert not any(isinstance(p, SamplingProcessor) for p in plain.processors)
    own = SamplingProcessor(0.2)
    given = assemble(settings, exporters=[], processors=[own], resource=None)
    assert [p for p in given.processors if isinstance(p, SamplingProcessor)] == [own]


def test_sampled_out_events_are_counted_as_sampled_and_are_no_loss() -> None:
    memory = InMemoryExporter()
    pipeline = Pipeline(Settings.defaults(sampling_ratio=0.1, redaction=False), exporters=[memory])
    log = pipeline.get_logger("shop")
    try:
        for i in range(2_000):
            log.info("tick", i=i)
        for _ in range(10):
            log.warning("careful")
        assert pipeline.flush(10)
        stats = pipeline.stats()
    finally:
        pipeline.shutdown(5)
    kept_info = sum(1 for e in memory.events if e.body == "tick")
    assert 198 <= kept_info <= 202
    assert sum(1 for e in memory.events if e.body == "careful") == 10
    assert stats.dropped == {"sampled": 2_000 - kept_info}
    assert stats.emitted == stats.exported + stats.dropped_total + stats.in_flight
    assert stats.exported == kept_info + 10
    assert stats.protection["sampling.sampled"] == 2_000 - kept_info
    assert "sampled" in NOT_LOSS
    assert loss_line("pipeline #1", stats, {}, {}) is None


def test_two_services_sharing_traces_decide_alike_and_as_the_sdk_does() -> None:
    ratio = 0.25
    rng = random.Random(2026)
    trace_ids = [rng.getrandbits(128) or 1 for _ in range(120)]
    services = []
    for name in ("checkout", "payments"):
        memory = InMemoryExporter()
        pipeline = Pipeline(
            Settings.defaults(sampling_ratio=ratio, service_name=name, redaction=False),
            exporters=[memory],
        )
        log = pipeline.get_logger(name)
        for n, trace_id in enumerate(trace_ids):
            span = NonRecordingSpan(
                SpanContext(trace_id, n + 1, is_remote=True, trace_flags=TraceFlags(1))
            )
            with trace.use_span(span):
                for step in range(5):
                    log.info("step", step=step)
        assert pipeline.flush(10)
        stats = pipeline.stats()
        pipeline.shutdown(5)
        assert stats.emitted == stats.exported + stats.dropped_total
        services.append(memory.events)
    sdk = TraceIdRatioBased(ratio)
    per_service = []
    for events in services:
        counts: dict[int, int] = {}
        for e in events:
            counts[e.trace_id] = counts.get(e.trace_id, 0) + 1
        assert set(counts.values()) <= {5}  # a trace's records: all kept or all dropped
        per_service.append(set(counts))
    assert per_service[0] == per_service[1]
    assert per_service[0] == {t for t in trace_ids if sdk_samples(sdk, t)}
    assert 0 < len(per_service[0]) < len(trace_ids)


def test_both_build_by_name_from_settings_with_options_winning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from importlib.metadata import EntryPoint

    from fapilog.exporters import _registry

    group = "fapilog.processors"
    entries = {  # the lines core's pyproject.toml registers
        "sampling": EntryPoint("sampling", "fapilog.processors:SamplingProcessor", group),
        "dedup": EntryPoint("dedup", "fapilog.processors:DedupProcessor", group),
    }
    monkeypatch.setattr(_registry, "_entry_points", lambda g: entries if g == group else {})
    settings = Settings.defaults(sampling_ratio=0.3, sampling_rules="a=0.5", dedup_window_ms=70)
    sampler, dedup = _registry.resolve_processors(
        {"sampling": {"keep_level": "error"}, "dedup": {}}, settings
    )
    assert isinstance(sampler, SamplingProcessor)
    assert (sampler.ratio, sampler.rules, sampler.keep_level) == (0.3, {"a": 0.5}, ERROR)
    assert isinstance(dedup, DedupProcessor)
    assert dedup.window_ms == 70
    with pytest.raises(ConfigError, match="ratoi"):
        _registry.resolve_processors({"sampling": {"ratoi": 0.1}}, settings)
    with pytest.raises(ConfigError, match="outside 0"):
        _registry.resolve_processors({"sampling": {"ratio": 7}}, settings)
    # Named among the application's processors, the settings' sampler is not doubled.
    parts = assemble(settings, exporters=[], processors=["sampling"], resource=None)
    assert sum(isinstance(p, SamplingProcessor) for p in parts.processors) == 1


def test_rate_limit_summaries_are_always_kept() -> None:
    """A summary stands for every event the limiter left out: never sampled away."""
    sampler = SamplingProcessor(0.0)
    summary = event(**{"fapilog.suppressed_count": 12})
    assert sampler.on_emit(summary) is True
    assert sampler.on_emit(event()) is False
