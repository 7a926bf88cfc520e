"""``AuditExporter``: a tamper-evident, append-only audit trail on local disk."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from fapilog._blocking import BlockingRunner
from fapilog._diagnostics import reporter
from fapilog.audit._keys import RecordCipher, Signer
from fapilog.audit._lock import DirectoryLock
from fapilog.audit._writer import AppendError, AuditLogError, SegmentWriter
from fapilog.exporters._base import Exporter, ExportResult
from fapilog.exporters._jsonl import event_to_dict
from fapilog.exporters._secret import refuse_pickle

if TYPE_CHECKING:
    from collections.abc import Sequence

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from pydantic import SecretStr

    from fapilog._event import LogEvent

__all__ = ["AuditExporter", "is_audit_event"]

_PERMANENT = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.EISDIR, errno.ENOTDIR})


def is_audit_event(event: LogEvent) -> bool:
    """Whether ``event`` came from :meth:`fapilog.Logger.audit` (``fapilog.audit`` is True)."""
    return event.attributes.get("fapilog.audit") is True


class AuditExporter(Exporter):
    """Writes audit events to a hash-chained, signed, append-only log directory.

    Only events made by :meth:`fapilog.Logger.audit` (attribute ``fapilog.audit`` set
    to True) are written. Every other event is **delivered and ignored**: the export
    reports success without writing it, so an audit exporter can sit next to normal
    exporters in one pipeline without counting drops.

    Each record carries ``seq``, ``prev_hash`` and ``hash`` (SHA-256 over the
    canonical JSON of seq, prev_hash and the record content), so the records form one
    chain across all segments, and ``sig``, a MAC (HMAC-SHA256 with ``key``) or Ed25519
    signature (``private_key``) of its hash made as it is written, so every record of a
    segment still being written is authenticated. A segment starts with a signed header
    line and, when rotated or at shutdown, ends with a seal signed over its final hash,
    counts and record signatures. With ``retention_segments``, the oldest segments are
    deleted after a signed ``checkpoint.json`` records where the remaining chain starts.
    ``fapilog audit verify`` (or :func:`fapilog.audit.verify`) checks all of it. The
    format and its guarantees are in ``docs/audit.md``.

    One directory has one writer: the exporter takes an exclusive lock on
    ``DIR/writer.lock`` when it is created and holds it until :meth:`shutdown`; a
    second exporter on the same directory (in any process) raises
    :class:`~fapilog.audit.AuditLockError`. A forked child does not inherit the lock
    and writes nothing.

    File I/O runs on a private thread. A record is written (and, with ``fsync``,
    flushed to disk) before the next one, and the export reports success only
    once every record of the batch is on disk. On restart the exporter checks the
    tail of the existing log and continues its chain; a log whose tail does not
    verify, or whose last seal was made with another key, is never extended (every
    export then fails, and a diagnostic says why).

    Args:
        directory: where segments live (created with mode ``0o700`` when missing,
            at construction, to take the writer lock).
        key: the HMAC secret (at least 16 bytes) for ``signing="hmac"``. Never shown
            in a repr, an error or a diagnostic, and never written to disk.
        signing: ``"hmac"`` (shared secret) or ``"ed25519"`` (``private_key`` signs,
            the public key verifies, so verifiers cannot forge seals).
        private_key: Ed25519 private key (object, 32 raw bytes or unencrypted PEM)
            for ``signing="ed25519"``.
        encrypt_key: AES-256 key (32 raw bytes, 64 hex digits or base64) to encrypt
            every record with AES-256-GCM (nonce per record, the seq as AAD).
            Hashes and seals cover the ciphertext, so the chain verifies without it.
        fsync: fsync after every record (and seal). Turning it off trades
            durability on power loss for speed; the chain stays verifiable.
        segment_max_records: seal and rotate after this many records.
        segment_max_bytes: seal and rotate before a record would make the segment
            larger than this (a single larger record gets a segment of its own).
        retention_segments: keep at most this many segments (the active one
            included), deleting the oldest; ``None`` keeps all.

    Raises:
        AuditKeyError: a key is missing or malformed for the chosen ``signing``.
        AuditLockError: another exporter writes to ``directory`` (the message names
            its pid), or the directory cannot be created or locked.
        ImportError: Ed25519 or encryption was asked for without ``cryptography``
            (``pip install 'fapilog[audit]'``).
        ValueError: a limit that is not positive.
    """

    api_version = "1.0"  # the fapilog.plugin API it is written for

    name = "audit"

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        key: SecretStr | str | bytes | None = None,
        signing: str = "hmac",
        private_key: Ed25519PrivateKey | SecretStr | str | bytes | None = None,
        encrypt_key: SecretStr | str | bytes | None = None,
        fsync: bool = True,
        segment_max_records: int = 100_000,
        segment_max_bytes: int = 64 * 1024 * 1024,
        retention_segments: int | None = None,
    ) -> None:
        if segment_max_records <= 0 or segment_max_bytes <= 0:
            raise ValueError("segment_max_records and segment_max_bytes must be positive")
        if retention_segments is not None and retention_segments < 1:
            raise ValueError("retention_segments must be >= 1 (or None to keep every segment)")
        self.directory = Path(os.path.abspath(directory))
        self.signing = signing
        self.encrypted = encrypt_key is not None
        signer = Signer(key=key, signing=signing, private_key=private_key)
        cipher = RecordCipher(encrypt_key) if encrypt_key is not None else None
        # Last: a bad key or option must not leave the directory locked.
        self._lock = DirectoryLock.acquire(self.directory)
        self._writer = SegmentWriter(
            self.directory,
            signer,
            cipher,
            self._lock,
            fsync=fsync,
            max_records=segment_max_records,
            max_bytes=segment_max_bytes,
            retention=retention_segments,
        )
        self._runner = BlockingRunner(f"audit:{self.directory.name}")
        self._forked = False
        self._pid = os.getpid()

    def __repr__(self) -> str:
        return (
            f"AuditExporter({str(self.directory)!r}, signing={self.signing!r}, "
            f"encrypted={self.encrypted})"
        )

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        refuse_pickle(self)

    async def export(self, batch: Sequence[LogEvent]) -> ExportResult:
        """Append the audit events of ``batch`` to the chain; ignore the others.

        Args:
            batch: events in emission order; not modified.

        Returns:
            Success once every audit event is on disk (or when there is none);
            partial when an I/O error struck after some were written; retryable
            for other transient I/O errors; failure for permanent ones and for a log
            that must not be extended.
        """
        contents = [event_to_dict(e, include_resource=True) for e in batch if is_audit_event(e)]
        if not contents:
            return ExportResult.success()
        if self._forked or not self._lock.held:
            forked = self._forked or os.getpid() != self._pid
            return ExportResult.failure(
                "audit log belongs to the parent process (forked)"
                if forked
                else "audit exporter is shut down: it no longer holds the directory lock"
            )
        try:
            await self._runner.run(self._writer.append, contents)
        except AppendError as exc:
            return self._error_result(exc.error, exc.written, len(contents))
        except AuditLogError as exc:
            reporter.report(f"audit_log:{self.directory}", str(exc))
            return ExportResult.failure(str(exc))
        except Exception as exc:  # a bug must not escape into the pipeline as a raise
            return ExportResult.retryable(f"audit export failed: {type(exc).__name__}")
        return ExportResult.success()

    async def force_flush(self, timeout: float | None = None) -> bool:
        """Nothing is buffered: every acknowledged record is already written. Returns True."""
        return True

    async def shutdown(self) -> None:
        """Seal the active segment, close it, release the directory and stop the thread."""
        if self._forked or os.getpid() != self._pid:
            return
        try:
            await self._runner.run(self._close)
        finally:
            self._runner.close()
            self._lock.release()

    def after_fork(self) -> None:
        """Stop writing in a forked child: one chain must have a single writer.

        Two processes appending to one chain would fork it, so in the child every
        export of an audit event fails (reason says why) and the parent's segment is
        left alone. The child never holds the directory lock (an at-fork hook closes
        its inherited copy). Give each process its own exporter and directory instead.
        """
        self._runner.after_fork()
        self._forked = True

    def _close(self) -> None:
        try:
            self._writer.close()
        except OSError as exc:
            reporter.report(f"audit_seal:{self.directory}", f"cannot seal audit segment: {exc}")

    def _error_result(self, exc: OSError, written: int, total: int) -> ExportResult:
        code = errno.errorcode.get(exc.errno or 0, "")
        reason = f"writing audit log in {self.directory.name} failed: [{code}]"
        if written:
            return ExportResult.partial(total - written, reason)
        if exc.errno in _PERMANENT:
            return ExportResult.failure(reason)
        return ExportResult.retryable(reason)
