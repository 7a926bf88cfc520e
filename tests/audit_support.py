"""Helpers shared by the audit tests: write a log directory without a pipeline."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from fapilog import LogEvent
from fapilog.audit import AuditExporter

KEY = "test-hmac-key-0123456789abcdef"
AES_KEY = bytes(range(32))


def audit_event(i: int, **attrs: Any) -> LogEvent:
    return LogEvent(
        timestamp=1_700_000_000_000_000_000 + i,
        severity_text="INFO",
        severity_number=9,
        body="user.update",
        attributes={
            "audit.action": "user.update",
            "audit.actor": f"admin-{i}",
            "audit.target": f"user-{i}",
            "audit.outcome": "success",
            "fapilog.audit": True,
            **attrs,
        },
        event_name="audit",
    )


def plain_event(i: int) -> LogEvent:
    return LogEvent(timestamp=i, severity_text="INFO", severity_number=9, body=f"plain {i}")


async def _write(exporter: AuditExporter, events: list[LogEvent], close: bool) -> None:
    result = await exporter.export(events)
    assert result.ok, result
    if close:
        await exporter.shutdown()


def die(exporter: AuditExporter) -> None:
    """What the death of the writing process does: files closed, nothing sealed, lock gone."""
    exporter._writer._close_fd()
    exporter._lock.release()
    exporter._runner.close()


def write_log(
    directory: Path, count: int, *, start: int = 0, close: bool = True, **options: Any
) -> AuditExporter:
    """Write ``count`` audit events through a fresh exporter, then shut it down.

    With ``close=False`` the writer "dies" instead (see :func:`die`): the last segment
    stays open, as after a crash, and the directory is free for the next writer.
    """
    options.setdefault("key", KEY)
    options.setdefault("fsync", False)
    exporter = AuditExporter(directory, **options)
    events = [audit_event(i) for i in range(start, start + count)]
    asyncio.run(_write(exporter, events, close))
    if not close:
        die(exporter)
    return exporter


def segment(directory: Path, index: int) -> Path:
    return directory / f"audit-{index:08d}.jsonl"


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)
