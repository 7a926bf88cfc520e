"""Compliance profiles: required audit fields, forbidden fields, flag vs drop, config."""

from __future__ import annotations

import pytest

from fapilog import ConfigError, LogEvent, Pipeline, Settings
from fapilog.compliance import (
    PROFILES,
    VIOLATIONS_ATTRIBUTE,
    ComplianceProcessor,
    get_profile,
    is_audit_event,
)
from fapilog.redaction import MASK, REDACTED_ATTRIBUTE
from support import RecordingExporter


def audit(**attributes: object) -> LogEvent:
    return LogEvent(timestamp=1, body="audit", event_name="audit", attributes=dict(attributes))


def plain(**attributes: object) -> LogEvent:
    return LogEvent(timestamp=1, body="m", attributes=dict(attributes))


COMPLETE = {"actor": "u1", "action": "approve", "outcome": "success", "target": "invoice/7"}


def test_every_documented_profile_exists() -> None:
    """The five profiles are registered under their documented names."""
    assert sorted(PROFILES) == ["gdpr", "hipaa", "pci-dss", "soc2", "sox"]
    for profile in PROFILES.values():
        assert profile.references and profile.retention


@pytest.mark.parametrize(
    ("name", "required"),
    [
        ("sox", ("actor", "action", "outcome", "target")),
        ("pci-dss", ("actor", "action", "outcome", "target")),
        ("hipaa", ("actor", "action", "outcome", "target")),
        ("soc2", ("actor", "action", "outcome")),
        ("gdpr", ("actor", "action", "outcome")),
    ],
)
def test_audit_events_must_carry_each_profiles_required_fields(
    name: str, required: tuple[str, ...]
) -> None:
    """A missing required field is a violation named profile:missing_<field>."""
    processor = ComplianceProcessor([get_profile(name)])
    assert processor.check(audit(**COMPLETE)) == []
    for field in required:
        partial = {k: v for k, v in COMPLETE.items() if k != field}
        assert processor.check(audit(**partial)) == [f"{name}:missing_{field}"]


def test_audit_prefixed_fields_and_the_audit_flag_count() -> None:
    """audit.actor satisfies actor; fapilog.audit=True marks an audit event."""
    processor = ComplianceProcessor([get_profile("sox")])
    event = plain(**{"fapilog.audit": True, "audit.actor": "u1", "action": "a", "outcome": "ok"})
    assert is_audit_event(event)
    assert processor.check(event) == ["sox:missing_target"]
    assert processor.check(plain(actor="")) == []  # not an audit event: nothing required


def test_empty_required_values_count_as_missing() -> None:
    """An empty string does not satisfy a required field."""
    processor = ComplianceProcessor([get_profile("soc2")])
    assert processor.check(audit(actor="", action="a", outcome="ok")) == ["soc2:missing_actor"]


@pytest.mark.parametrize(
    ("name", "key", "rule"),
    [
        ("pci-dss", "cvv", "pci-dss:forbidden_cvv"),
        ("pci-dss", "Track2", "pci-dss:forbidden_track2"),
        ("pci-dss", "pinBlock", "pci-dss:forbidden_pin_block"),
        ("gdpr", "religion", "gdpr:forbidden_religion"),
        ("gdpr", "sexual_orientation", "gdpr:forbidden_sexual_orientation"),
        ("hipaa", "fingerprint", "hipaa:forbidden_fingerprint"),
    ],
)
def test_forbidden_fields_are_violations_at_any_depth(name: str, key: str, rule: str) -> None:
    """A forbidden field is found top-level and nested in maps and lists."""
    processor = ComplianceProcessor([get_profile(name)])
    assert rule in processor.check(plain(**{key: "x"}))
    assert rule in processor.check(plain(payload={"items": [{key: "x"}]}))
    assert processor.check(plain(other="x")) == []


def test_flag_mode_notes_violations_and_keeps_the_event() -> None:
    """flag: the event passes with fapilog.compliance.violations; counters go up."""
    processor = ComplianceProcessor([get_profile("sox"), get_profile("pci-dss")])
    event = audit(actor="u1", action="pay", cvv="123")
    assert processor.on_emit(event) is True
    assert event.attributes[VIOLATIONS_ATTRIBUTE] == [
        "sox:missing_outcome",
        "sox:missing_target",
        "pci-dss:missing_outcome",
        "pci-dss:missing_target",
        "pci-dss:forbidden_cvv",
    ]
    assert processor.violations["sox:missing_target"] == 1
    assert processor.audit_trail_required


def test_drop_mode_drops_violating_events() -> None:
    """drop: on_emit returns False (the pipeline counts it as filtered)."""
    processor = ComplianceProcessor([get_profile("sox")], mode="drop")
    assert processor.on_emit(audit(actor="u1")) is False
    assert processor.on_emit(audit(**COMPLETE)) is True
    assert processor.dropped == 1


def test_gdpr_is_not_an_audit_trail_profile() -> None:
    """GDPR alone does not require an audit trail; SOX does."""
    assert not ComplianceProcessor([get_profile("gdpr")]).audit_trail_required
    assert ComplianceProcessor([get_profile("sox")]).audit_trail_required


def test_profiles_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """FAPILOG_COMPLIANCE is a comma list, case-insensitive; mode from FAPILOG_COMPLIANCE_MODE."""
    monkeypatch.setenv("FAPILOG_COMPLIANCE", "PCI-DSS, hipaa")
    monkeypatch.setenv("FAPILOG_COMPLIANCE_MODE", "drop")
    s = Settings.load()
    assert s.compliance == ["pci-dss", "hipaa"]
    assert s.compliance_mode == "drop"


def test_unknown_profile_names_the_valid_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unknown profile is a ConfigError naming the variable and the valid profiles."""
    monkeypatch.setenv("FAPILOG_COMPLIANCE", "pci-dss,iso27001")
    with pytest.raises(ConfigError) as info:
        Settings.load()
    text = str(info.value)
    assert "FAPILOG_COMPLIANCE" in text and "iso27001" in text
    for name in PROFILES:
        assert name in text
    with pytest.raises(ConfigError, match="soc2"):
        get_profile("nope")


def test_pipeline_applies_profile_rules_then_checks() -> None:
    """In a pipeline, PCI drops CVV before export and flags an incomplete audit event."""
    exporter = RecordingExporter()
    pipeline = Pipeline(exporters=[exporter], compliance=["pci-dss"], schedule_delay_ms=5)
    log = pipeline.get_logger("pay")
    log.info("charge", cvv="123", pan="4111111111111111", order_id="o-1")
    log.info("audit", event_name="audit", actor="u1", action="refund")
    assert pipeline.flush(5)
    pipeline.shutdown(5)
    charge, audit_event = exporter.events
    assert "cvv" not in charge.attributes
    assert charge.attributes["pan"] == "************1111"
    assert charge.attributes["order_id"] == "o-1"
    assert set(charge.attributes[REDACTED_ATTRIBUTE]) == {"pci_sensitive_auth_data", "pci_pan"}
    assert VIOLATIONS_ATTRIBUTE not in charge.attributes
    assert audit_event.attributes[VIOLATIONS_ATTRIBUTE] == [
        "pci-dss:missing_outcome",
        "pci-dss:missing_target",
    ]


def test_pipeline_drop_mode_counts_dropped_events_as_filtered() -> None:
    """compliance_mode=drop: violating events never reach exporters and are counted."""
    exporter = RecordingExporter()
    pipeline = Pipeline(
        exporters=[exporter],
        compliance=["gdpr"],
        compliance_mode="drop",
        redaction=False,
        schedule_delay_ms=5,
    )
    log = pipeline.get_logger("x")
    log.info("profile", religion="x")
    log.info("fine", user="u1")
    assert pipeline.flush(5)
    stats = pipeline.stats()
    pipeline.shutdown(5)
    assert [e.body for e in exporter.events] == ["fine"]
    assert stats.dropped["filtered"] == 1


def test_gdpr_pseudonymises_email_with_the_configured_key() -> None:
    """GDPR hashes email/IP under the HMAC key from settings and masks names."""
    exporter = RecordingExporter()
    pipeline = Pipeline(
        exporters=[exporter],
        compliance=["gdpr"],
        redaction_hmac_key="k",
        schedule_delay_ms=5,
    )
    pipeline.get_logger("x").info("signup", email="a@b.co", first_name="Ann", plan="pro")
    assert pipeline.flush(5)
    pipeline.shutdown(5)
    attrs = exporter.events[0].attributes
    assert attrs["email"].startswith("hmac:")
    assert attrs["first_name"] == MASK
    assert attrs["plan"] == "pro"


def test_profiles_requiring_an_audit_trail_warn_when_none_is_configured(
    tmp_path, capfd: pytest.CaptureFixture[str]
) -> None:
    from fapilog._diagnostics import reporter
    from fapilog.audit import AuditExporter

    reporter.reset()
    Pipeline(exporters=[RecordingExporter()], compliance=["sox"]).shutdown(timeout=5)
    assert reporter.flush(5)
    assert "sox expect a tamper-evident audit trail" in capfd.readouterr().err

    reporter.reset()
    audit = AuditExporter(tmp_path, key="k" * 32)
    Pipeline(exporters=[audit], compliance=["sox"]).shutdown(timeout=5)
    Pipeline(exporters=[RecordingExporter()], compliance=["gdpr"]).shutdown(timeout=5)
    assert reporter.flush(5)
    assert "audit trail" not in capfd.readouterr().err
    reporter.reset()


def test_stats_report_redaction_and_compliance_counters() -> None:
    exporter = RecordingExporter()
    pipeline = Pipeline(exporters=[exporter], compliance=["sox"], schedule_delay_ms=5)
    log = pipeline.get_logger("app")
    log.info("charged", card="4111 1111 1111 1111", order_id=7)
    log.info("plain", order_id=8)
    assert pipeline.flush(timeout=5)
    stats = pipeline.stats()
    assert stats.protection["redaction.events"] == 1
    assert stats.protection["redaction.rule.credit_card"] == 1
    assert stats.protection["redaction.failures"] == 0
    assert stats.protection["compliance.dropped"] == 0
    assert stats.exported == 2  # redacted events are still delivered
    assert stats.as_dict()["protection"]["redaction.events"] == 1
    pipeline.shutdown(timeout=5)


def test_stats_without_protection_processors_have_no_counters() -> None:
    pipeline = Pipeline(exporters=[RecordingExporter()], redaction=False)
    assert dict(pipeline.stats().protection) == {}
    pipeline.shutdown(timeout=5)
