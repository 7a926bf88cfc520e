"""Logger.audit / aaudit: the audit event's shape and how it travels the pipeline."""

from __future__ import annotations

import fapilog
from fapilog import Pipeline
from fapilog.testing import capture_logs
from support import RecordingExporter


def _events(pipeline: Pipeline, exporter: RecordingExporter) -> list[fapilog.LogEvent]:
    assert pipeline.flush(timeout=5)
    return exporter.events


def test_audit_builds_an_info_event_with_audit_attributes(recording) -> None:
    """log.audit(...) is an INFO "audit" event with audit.* attributes, the marker and fields."""
    pipeline, exporter = recording
    pipeline.get_logger("svc").audit(
        "user.delete", actor="admin-7", target="user-42", outcome="success", reason="gdpr"
    )
    (event,) = _events(pipeline, exporter)
    assert (event.severity_text, event.severity_number) == ("INFO", 9)
    assert event.event_name == "audit"
    assert event.body == "user.delete"
    assert event.attributes == {
        "audit.action": "user.delete",
        "audit.actor": "admin-7",
        "audit.target": "user-42",
        "audit.outcome": "success",
        "fapilog.audit": True,
        "reason": "gdpr",
    }
    assert event.scope_name == "svc"


def test_audit_fields_cannot_override_the_audit_attributes(recording) -> None:
    """Bound fields and a caller's event_name do not change what makes an event an audit event."""
    pipeline, exporter = recording
    log = pipeline.get_logger("svc").bind(**{"fapilog.audit": False, "tenant": "t1"})
    log.audit("a", actor="u", target="t", outcome="ok", event_name="other")
    (event,) = _events(pipeline, exporter)
    assert event.event_name == "audit"
    assert event.attributes["fapilog.audit"] is True
    assert event.attributes["tenant"] == "t1"


def test_audit_is_recorded_whatever_the_level() -> None:
    """An audit trail does not depend on verbosity: level=error still records audit events."""
    exporter = RecordingExporter()
    pipeline = Pipeline(exporters=[exporter], level="error", schedule_delay_ms=5)
    log = pipeline.get_logger("x")
    log.info("dropped by level")
    log.audit("login", actor="u1", target="app", outcome="denied")
    assert [e.body for e in _events(pipeline, exporter)] == ["login"]
    pipeline.shutdown()


def test_audit_values_are_normalised_like_other_fields(recording) -> None:
    """Non-string actors and targets become OTel values, as any field would."""
    pipeline, exporter = recording
    pipeline.get_logger("x").audit("grant", actor=7, target={"role": "admin"}, outcome=True)
    (event,) = _events(pipeline, exporter)
    assert event.attributes["audit.actor"] == 7
    assert event.attributes["audit.target"] == {"role": "admin"}
    assert event.attributes["audit.outcome"] is True


async def test_aaudit_is_the_awaitable_twin(recording) -> None:
    """await log.aaudit(...) produces the same event as log.audit(...)."""
    pipeline, exporter = recording
    await pipeline.get_logger("x").aaudit("a", actor="u", target="t", outcome="ok", n=1)
    (event,) = _events(pipeline, exporter)
    assert event.event_name == "audit"
    assert event.attributes["n"] == 1 and event.attributes["fapilog.audit"] is True


def test_audit_events_are_captured_by_capture_logs() -> None:
    """The testing helper sees audit events like any other event."""
    log = Pipeline(exporters=[], schedule_delay_ms=5).get_logger("x")
    with capture_logs() as logs:
        log.audit("a", actor="u", target="t", outcome="ok")
    assert logs[0].attributes["audit.action"] == "a"
