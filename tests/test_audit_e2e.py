"""End to end: a pipeline with an AuditExporter next to a normal exporter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from audit_support import AES_KEY, KEY
from fapilog import Pipeline
from fapilog.audit import AuditExporter, iter_records, verify
from support import RecordingExporter


def test_pipeline_writes_audit_events_and_the_log_verifies(tmp_path: Path) -> None:
    """Audit events reach both exporters; only they reach the audit log, which verifies."""
    normal = RecordingExporter()
    audit = AuditExporter(tmp_path / "audit", key=KEY, segment_max_records=5)
    pipeline = Pipeline(exporters=[audit, normal], schedule_delay_ms=5)
    log = pipeline.get_logger("shop")
    for i in range(12):
        log.info("browsing", page=i)
        log.audit("order.refund", actor=f"clerk-{i}", target=f"order-{i}", outcome="success")
    assert pipeline.shutdown(timeout=10)
    assert len(normal.events) == 24
    stats = pipeline.stats()
    assert stats.exporters["audit"].exported == 24 and not stats.dropped

    report = verify(tmp_path / "audit", key=KEY)
    assert report.ok, report.summary()
    assert (report.records, report.segments) == (12, 3)
    events = [r["event"] for r in iter_records(tmp_path / "audit")]
    assert [e["attributes"]["audit.actor"] for e in events] == [f"clerk-{i}" for i in range(12)]
    assert events[0]["logger"] == "shop" and events[0]["event_name"] == "audit"

    out = subprocess.run(
        [sys.executable, "-m", "fapilog", "audit", "verify", str(tmp_path / "audit"), "--key", KEY],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.startswith("OK: 12 records in 3 segments")


def test_encrypted_pipeline_with_restart(tmp_path: Path) -> None:
    """Two pipeline runs over one encrypted directory make one chain that verifies."""
    for run in range(2):
        audit = AuditExporter(tmp_path, key=KEY, encrypt_key=AES_KEY)
        pipeline = Pipeline(exporters=[audit], schedule_delay_ms=5)
        for i in range(3):
            pipeline.get_logger("x").audit("a", actor=f"r{run}-{i}", target="t", outcome="ok")
        assert pipeline.shutdown(timeout=10)
    report = verify(tmp_path, key=KEY, decrypt_key=AES_KEY)
    assert report.ok, report.summary()
    assert (report.records, report.decrypted, report.segments) == (6, 6, 2)


def test_the_docs_example_runs(tmp_path: Path) -> None:
    """The first snippet of docs/audit.md runs and prints what the doc says."""
    doc = (Path(__file__).resolve().parents[1] / "docs" / "audit.md").read_text()
    snippet = doc.split("```python\n", 1)[1].split("```", 1)[0]
    script = tmp_path / "snippet.py"
    script.write_text(snippet)
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    assert "OK: 1 record in 1 segment" in out.stdout
    assert "a-long-random-secret" not in out.stdout + out.stderr
