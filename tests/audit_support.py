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


def forge(seq: int, prev_hash: str, actor: str = "attacker") -> bytes:
    """A record made without the key: self-consistent and chained with plain SHA-256."""
    from fapilog.audit._format import canonical, record_hash

    body = {
        "seq": seq,
        "prev_hash": prev_hash,
        "event": {"body": "user.grant_admin", "attributes": {"audit.actor": actor}},
    }
    return canonical({**body, "hash": record_hash(body)}) + b"\n"


def write_v1_log(
    directory: Path, count: int, *, per_segment: int = 4, seal_last: bool = True
) -> None:
    """A log in format 1 (before record signatures), exactly as that writer laid it out.

    Headers and records carry no ``sig``; each record's hash covers everything but
    ``hash``; segments are sealed with HMAC-SHA256 under :data:`KEY`.
    """
    from fapilog.audit._format import (
        GENESIS,
        canonical,
        content_hash,
        now_rfc3339,
        record_hash,
        segment_name,
        signed_part,
    )
    from fapilog.audit._keys import Signer

    signer = Signer(key=KEY, signing="hmac", private_key=None)
    directory.mkdir(parents=True, exist_ok=True)
    prev, seq, index = GENESIS, 1, 1
    remaining = count
    while True:
        n = min(per_segment, remaining)
        header = {
            "type": "header", "format": "fapilog-audit/1", "segment": index,
            "first_seq": seq, "prev_hash": prev, "alg": signer.alg,
            "key_id": signer.key_id, "encrypted": False, "created": now_rfc3339(),
        }  # fmt: skip
        out = [canonical(header) + b"\n"]
        first = seq
        for _ in range(n):
            body = {"seq": seq, "prev_hash": prev, "event": {"attributes": {"i": seq}}}
            prev = record_hash(body)
            out.append(canonical({**body, "hash": prev}) + b"\n")
            seq += 1
        remaining -= n
        last = remaining == 0
        if seal_last or not last:
            seal = {
                "type": "seal", "segment": index, "header_hash": content_hash(header),
                "first_seq": first, "last_seq": seq - 1, "records": n, "final_hash": prev,
                "alg": signer.alg, "key_id": signer.key_id, "sealed": now_rfc3339(),
            }  # fmt: skip
            seal["sig"] = signer.sign(signed_part(seal))
            out.append(canonical(seal) + b"\n")
        (directory / segment_name(index)).write_bytes(b"".join(out))
        if last:
            return
        index += 1
