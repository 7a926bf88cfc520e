"""The blocking side of :class:`~fapilog.audit.AuditExporter`: segments on disk.

Everything here runs on the exporter's private I/O thread, one call at a time.
"""

from __future__ import annotations

import errno
import hashlib
import os
from typing import TYPE_CHECKING, Any

import orjson

from fapilog._diagnostics import reporter
from fapilog._fsutil import CLOEXEC, fsync_dir
from fapilog.audit._format import (
    CHECKPOINT_NAME,
    FORMAT,
    FORMAT_V1,
    GENESIS,
    SEGMENT_RE,
    canonical,
    content_hash,
    now_rfc3339,
    record_body,
    record_hash,
    segment_name,
    signed_part,
)
from fapilog.exporters._secret import refuse_pickle

if TYPE_CHECKING:
    from pathlib import Path

    from fapilog.audit._keys import RecordCipher, Signer
    from fapilog.audit._lock import DirectoryLock

__all__ = ["AppendError", "AuditLogError", "SegmentWriter"]


class AuditLogError(Exception):
    """The existing log cannot be continued safely by this writer.

    It was tampered with, sealed with another key, left open by a format 1 writer, or
    this process does not hold the directory's writer lock.
    """


class AppendError(Exception):
    """Writing failed after ``written`` records of the call were durably appended."""

    def __init__(self, error: OSError, written: int) -> None:
        super().__init__(error)
        self.error = error
        self.written = written


class SegmentWriter:
    """Appends records to the active segment; seals, rotates, prunes and resumes.

    Writes only while ``lock`` (the directory's writer lock) is held by this process.
    """

    def __init__(
        self,
        directory: Path,
        signer: Signer,
        cipher: RecordCipher | None,
        lock: DirectoryLock,
        *,
        fsync: bool,
        max_records: int,
        max_bytes: int,
        retention: int | None,
    ) -> None:
        self.directory = directory
        self._signer = signer
        self._cipher = cipher
        self._lock = lock
        self._fsync = fsync
        self._max_records = max_records
        self._max_bytes = max_bytes
        self._retention = retention
        self._fd: int | None = None
        self._index = 0
        self._records = 0
        self._size = 0
        self._first_seq = 1
        self._next_seq = 1
        self._last_hash = GENESIS
        self._header_hash = ""
        self._sigs = hashlib.sha256()  # the seal's sigs_hash: the records' signatures

    def __repr__(self) -> str:
        return f"SegmentWriter({str(self.directory)!r}, segment={self._index})"

    def __reduce_ex__(self, protocol: Any) -> Any:
        refuse_pickle(self)

    # -- public (runner thread) ---------------------------------------------------------

    def append(self, contents: list[dict[str, Any]]) -> int:
        """Append one record per content, in order; returns how many were written.

        Raises:
            AppendError: an I/O error after some records (maybe none) were written.
            AuditLogError: the directory holds a log this writer must not extend.
        """
        if not self._lock.held:
            raise AuditLogError(
                f"this process does not hold the writer lock of {self.directory} "
                "(a forked child, or an exporter already shut down)"
            )
        written = 0
        try:
            if self._fd is None:
                self._resume()
            for content in contents:
                self._append_one(content)
                written += 1
        except OSError as exc:
            raise AppendError(exc, written) from exc
        return written

    def close(self) -> None:
        """Seal the active segment and close it (the next append starts a new one)."""
        if self._fd is None or not self._lock.held:
            return
        try:
            self._seal()
        finally:
            self._close_fd()

    # -- records ------------------------------------------------------------------------

    def _append_one(self, content: dict[str, Any]) -> None:
        seq = self._next_seq
        body: dict[str, Any] = {"seq": seq, "prev_hash": self._last_hash}
        if self._cipher is not None:
            body["enc"] = self._cipher.encrypt(seq, canonical(content))
        else:
            body["event"] = content
        digest = record_hash(body)
        # The record's own MAC/signature: an open segment is authenticated record by
        # record, not only once its seal is written.
        sig = self._signer.sign_record(digest)
        line = canonical({**body, "hash": digest, "sig": sig}) + b"\n"
        if self._records >= self._max_records or (
            self._records > 0 and self._size + len(line) > self._max_bytes
        ):
            self._rotate()
        self._write(line)
        self._records += 1
        self._next_seq = seq + 1
        self._last_hash = digest
        self._sigs.update(sig.encode("ascii") + b"\n")

    def _write(self, data: bytes) -> None:
        """Append ``data`` whole and (optionally) fsync it, or leave the file as it was."""
        fd = self._fd
        assert fd is not None
        done = 0
        try:
            while done < len(data):
                done += os.write(fd, data[done:])
            if self._fsync:
                os.fsync(fd)
        except OSError:
            try:
                os.ftruncate(fd, self._size)  # no torn line may stay behind
            except OSError:
                self._close_fd()  # the next append resumes, repairing the tail
            raise
        self._size += len(data)

    # -- segments -----------------------------------------------------------------------

    def _rotate(self) -> None:
        self._seal()
        self._close_fd()
        self._start(self._index + 1, self._next_seq, self._last_hash)
        self._prune()

    def _seal(self, *, recovered: bool = False) -> None:
        seal: dict[str, Any] = {
            "type": "seal",
            "segment": self._index,
            "header_hash": self._header_hash,
            "first_seq": self._first_seq,
            "last_seq": self._next_seq - 1,
            "records": self._records,
            "final_hash": self._last_hash,
            "sigs_hash": self._sigs.hexdigest(),
            "alg": self._signer.alg,
            "key_id": self._signer.key_id,
            "sealed": now_rfc3339(),
        }
        if recovered:
            seal["recovered"] = True
        seal["sig"] = self._signer.sign(signed_part(seal))
        self._write(canonical(seal) + b"\n")

    def _start(self, index: int, first_seq: int, prev_hash: str) -> None:
        """Create segment ``index`` atomically with its header already in it."""
        header = {
            "type": "header",
            "format": FORMAT,
            "segment": index,
            "first_seq": first_seq,
            "prev_hash": prev_hash,
            "alg": self._signer.alg,
            "key_id": self._signer.key_id,
            "encrypted": self._cipher is not None,
            "created": now_rfc3339(),
        }
        header["sig"] = self._signer.sign(signed_part(header))
        line = canonical(header) + b"\n"
        path = self.directory / segment_name(index)
        _write_atomic(path, line)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | CLOEXEC)
        self._index = index
        self._records = 0
        self._sigs = hashlib.sha256()
        self._size = len(line)
        self._first_seq = first_seq
        self._next_seq = first_seq
        self._last_hash = prev_hash
        self._header_hash = content_hash(header)

    def _close_fd(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass

    def _segments(self) -> list[int]:
        return sorted(
            int(m.group(1))
            for name in os.listdir(self.directory)
            if (m := SEGMENT_RE.fullmatch(name))
        )

    # -- resume -------------------------------------------------------------------------

    def _resume(self) -> None:
        """Continue the chain found in the directory (or start a new log)."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        indices = self._segments()
        if not indices:
            if (self.directory / CHECKPOINT_NAME).exists():
                raise AuditLogError(
                    f"{self.directory} has a retention checkpoint but no segments; "
                    "run 'fapilog audit verify' on it"
                )
            self._start(1, 1, GENESIS)
            return
        index = indices[-1]
        path = self.directory / segment_name(index)
        data = path.read_bytes()
        header, records, seal, torn_at = _parse_tail(data, index)
        if seal is not None:
            if not self._signer.checker().check(
                str(seal.get("alg")), signed_part(seal), str(seal.get("sig"))
            ):
                raise AuditLogError(
                    f"the seal of {path.name} does not verify with this exporter's key"
                )
            self._start(index + 1, int(seal["last_seq"]) + 1, str(seal["final_hash"]))
            return
        # An unsealed tail: the previous process crashed. Repair a torn last line,
        # check the chain, seal the segment as recovered, and start a new one.
        if torn_at is not None:
            os.truncate(path, torn_at)
            reporter.report(
                f"audit_recover:{self.directory}",
                f"audit log {path.name}: removed a partly written last line (crash)",
            )
        expected_seq, expected_prev = self._check_open_tail(path, header, records)
        self._sigs = hashlib.sha256()
        for _, rec in records:
            self._sigs.update(str(rec.get("sig", "")).encode("ascii") + b"\n")
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | CLOEXEC)
        self._index = index
        self._records = len(records)
        self._size = os.fstat(self._fd).st_size
        self._first_seq = int(header["first_seq"])
        self._next_seq = expected_seq
        self._last_hash = expected_prev
        self._header_hash = content_hash(header)
        self._seal(recovered=True)
        self._rotate_after_recovery()

    def _check_open_tail(
        self, path: Path, header: dict[str, Any], records: list[tuple[int, dict[str, Any]]]
    ) -> tuple[int, str]:
        """Check every record of an unsealed segment before sealing it as recovered.

        Returns the next seq and the last hash. Only records this key signed are ever
        sealed: a record added without the key (or a format 1 segment, whose records
        carry no signature) stops the exporter instead.

        Raises:
            AuditLogError: the segment cannot be authenticated or its chain is broken.
        """
        signed = header.get("format") != FORMAT_V1
        checker = self._signer.checker()
        alg = str(header.get("alg"))
        if not signed and records:
            raise AuditLogError(
                f"{path.name} was left unsealed by a fapilog-audit/1 writer (a crash before "
                "upgrading): its records carry no signatures, so they cannot be authenticated "
                "and this exporter will not seal them. Run 'fapilog audit verify' on the "
                "directory, keep it as evidence and start a new one"
            )
        if signed and not checker.check(alg, signed_part(header), str(header.get("sig"))):
            raise AuditLogError(
                f"the header of {path.name} is not signed with this exporter's key; "
                "run 'fapilog audit verify' before writing to this log"
            )
        expected_seq, expected_prev = int(header["first_seq"]), str(header["prev_hash"])
        for line_no, rec in records:
            if (
                rec.get("seq") != expected_seq
                or rec.get("prev_hash") != expected_prev
                or record_hash(record_body(rec, signed=True)) != rec.get("hash")
            ):
                raise AuditLogError(
                    f"{path.name} line {line_no} breaks the hash chain; "
                    "run 'fapilog audit verify' before writing to this log"
                )
            if not checker.check_record(alg, rec.get("hash"), rec.get("sig")):
                raise AuditLogError(
                    f"{path.name} line {line_no} (seq {expected_seq}) is not authenticated: "
                    "its signature does not verify with this exporter's key (added without "
                    "the key); run 'fapilog audit verify' before writing to this log"
                )
            expected_seq += 1
            expected_prev = str(rec["hash"])
        return expected_seq, expected_prev

    def _rotate_after_recovery(self) -> None:
        self._close_fd()
        self._start(self._index + 1, self._next_seq, self._last_hash)
        self._prune()

    # -- retention ----------------------------------------------------------------------

    def _prune(self) -> None:
        """Keep the newest ``retention`` segments, after writing a signed checkpoint."""
        if self._retention is None:
            return
        indices = self._segments()
        if len(indices) <= self._retention:
            return
        doomed = indices[: len(indices) - self._retention]
        first = indices[len(indices) - self._retention]
        try:
            head = (self.directory / segment_name(first)).read_bytes().split(b"\n", 1)[0]
            header = orjson.loads(head)
            checkpoint: dict[str, Any] = {
                "type": "checkpoint",
                "format": FORMAT,
                "first_segment": first,
                "first_seq": header["first_seq"],
                "prev_hash": header["prev_hash"],
                "header_hash": content_hash(header),
                "alg": self._signer.alg,
                "key_id": self._signer.key_id,
                "created": now_rfc3339(),
            }
            checkpoint["sig"] = self._signer.sign(signed_part(checkpoint))
            _write_atomic(self.directory / CHECKPOINT_NAME, canonical(checkpoint) + b"\n")
        except (OSError, ValueError, KeyError) as exc:
            reporter.report(
                f"audit_retention:{self.directory}",
                f"audit retention skipped: cannot write the checkpoint ({type(exc).__name__})",
            )
            return
        for index in doomed:
            try:
                os.unlink(self.directory / segment_name(index))
            except FileNotFoundError:
                pass
            except OSError as exc:
                reporter.report(
                    f"audit_retention:{self.directory}",
                    f"cannot delete audit segment {index}: [{errno.errorcode.get(exc.errno or 0)}]",
                )


def _parse_tail(
    data: bytes, index: int
) -> tuple[dict[str, Any], list[tuple[int, dict[str, Any]]], dict[str, Any] | None, int | None]:
    """Header, records, seal and torn-line offset of the last segment (for resuming).

    Raises:
        AuditLogError: the segment is not a well-formed audit segment.
    """
    name = segment_name(index)
    end = data.rfind(b"\n") + 1
    torn_at = end if end < len(data) else None
    lines = data[:end].split(b"\n")[:-1]
    parsed: list[dict[str, Any]] = []
    for number, raw in enumerate(lines, 1):
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise AuditLogError(f"{name} line {number} is not JSON") from None
        if not isinstance(obj, dict):
            raise AuditLogError(f"{name} line {number} is not a JSON object")
        parsed.append(obj)
    if not parsed or parsed[0].get("type") != "header" or parsed[0].get("segment") != index:
        raise AuditLogError(f"{name} has no valid header")
    header = parsed[0]
    seal = parsed[-1] if len(parsed) > 1 and parsed[-1].get("type") == "seal" else None
    body = parsed[1:-1] if seal is not None else parsed[1:]
    return header, [(n + 2, r) for n, r in enumerate(body)], seal, torn_at


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | CLOEXEC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)
