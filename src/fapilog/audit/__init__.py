"""Tamper-evident audit trails: :class:`AuditExporter` writes, :func:`verify` checks.

Log audit events with :meth:`fapilog.Logger.audit`; they flow through the normal
pipeline (enrichment, redaction, every exporter) and an :class:`AuditExporter` in that
pipeline appends them to a hash-chained, signed, optionally encrypted log directory.
``fapilog audit verify DIR`` checks it. One directory has one writer: a second
:class:`AuditExporter` on it raises :class:`AuditLockError`. See ``docs/audit.md``.

Ed25519 signing and encryption need ``cryptography``: ``pip install 'fapilog[audit]'``.
"""

from __future__ import annotations

from fapilog.audit._exporter import AuditExporter, is_audit_event
from fapilog.audit._keys import AuditKeyError
from fapilog.audit._lock import AuditLockError
from fapilog.audit._reader import iter_records
from fapilog.audit._report import Problem, VerifyReport
from fapilog.audit._verify import verify
from fapilog.audit._writer import AuditLogError

__all__ = [
    "AuditExporter",
    "AuditKeyError",
    "AuditLockError",
    "AuditLogError",
    "Problem",
    "VerifyReport",
    "is_audit_event",
    "iter_records",
    "verify",
]
