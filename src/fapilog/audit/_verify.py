"""Verify an audit log directory and say exactly what was changed, if anything."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from fapilog.audit._format import (
    CHECKPOINT_NAME,
    FORMAT,
    FORMAT_V1,
    GENESIS,
    SEGMENT_RE,
    content_hash,
    segment_name,
    signed_part,
)
from fapilog.audit._keys import RecordCipher, SealChecker
from fapilog.audit._open import OpenSegment
from fapilog.audit._report import Problem, VerifyReport
from fapilog.audit._walk import Entry, SegmentWalk, State, as_int, parse_segment, self_valid

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from pydantic import SecretStr

__all__ = ["verify"]


def verify(
    path: str | os.PathLike[str],
    *,
    key: SecretStr | str | bytes | None = None,
    public_key: Ed25519PublicKey | bytes | str | None = None,
    decrypt_key: SecretStr | str | bytes | None = None,
    allow_open: bool = False,
) -> VerifyReport:
    """Check an audit log directory written by :class:`~fapilog.audit.AuditExporter`.

    Every record's hash and link, every segment's header and seal, the links between
    segments and the retention checkpoint are checked; each departure is reported
    with its kind, segment, sequence number and line. An unsealed last segment is
    checked record by record against the signature each record got when it was
    written: it is accepted (with ``allow_open``) up to its last signed record, and
    every line that is not signed is reported as ``unauthenticated``.

    Args:
        path: the log directory.
        key: the HMAC secret, for logs sealed with ``signing="hmac"``.
        public_key: the Ed25519 public key (PEM, raw or hex), for ``signing="ed25519"``.
        decrypt_key: the AES-256 key of an encrypted log; with it every record is
            also decrypted and authenticated. Without it only the chain is checked.
        allow_open: accept a last segment without a seal (a log still being
            written, or after a crash) when its header and every record in it carry
            a valid signature; by default a missing seal counts as truncation.

    Returns:
        The report; ``report.ok`` tells whether the log is intact.

    Raises:
        NotADirectoryError: ``path`` is not a directory.
        AuditKeyError: a key is malformed.
        ImportError: Ed25519 or decryption needs ``cryptography`` (``fapilog[audit]``).
    """
    directory = Path(path)
    if not directory.is_dir():
        raise NotADirectoryError(f"not an audit log directory: {directory}")
    state = State(
        checker=SealChecker(key=key, public_key=public_key),
        cipher=RecordCipher(decrypt_key) if decrypt_key is not None else None,
    )
    indices = sorted(
        int(m.group(1)) for name in os.listdir(directory) if (m := SEGMENT_RE.fullmatch(name))
    )
    if not indices:
        state.add("deleted", f"no audit segments in {directory}")
        return _report(state, 0, 0, GENESIS)
    checkpoint = _load_checkpoint(directory, state)
    first = indices[0]
    expected_seq: int | None = 1
    expected_prev: str | None = GENESIS
    if first > 1:
        expected_seq = expected_prev = None
        if checkpoint is None:
            state.add(
                "deleted",
                f"segments 1 to {first - 1} are missing and there is no retention checkpoint",
                segment=1,
            )
        elif int(checkpoint.get("first_segment", 0)) < first:
            cp_first = int(checkpoint.get("first_segment", 0))
            state.add(
                "deleted",
                f"segments {cp_first} to {first - 1} are missing: the retention checkpoint "
                f"keeps the log from segment {cp_first}",
                segment=cp_first,
            )
        else:
            state.notes.append(f"segments before {first} were pruned by retention")
    present = set(indices)
    last_hash = GENESIS
    last_seq = 0
    for index in range(first, indices[-1] + 1):
        if index not in present:
            state.add(
                "deleted", f"segment {index} ({segment_name(index)}) is missing", segment=index
            )
            expected_seq = expected_prev = None
            continue
        if checkpoint is not None and int(checkpoint.get("first_segment", 0)) == index:
            expected_seq = as_int(checkpoint.get("first_seq"))
            expected_prev = checkpoint.get("prev_hash")
            cp_header = str(checkpoint.get("header_hash"))
        else:
            cp_header = None
        expected_seq, expected_prev = _verify_segment(
            directory,
            index,
            state,
            expected_seq,
            expected_prev,
            last=index == indices[-1],
            allow_open=allow_open,
            checkpoint_header=cp_header,
        )
        if expected_prev is not None:
            last_hash = expected_prev
        if expected_seq is not None:
            last_seq = expected_seq - 1
    if state.seal_failures:
        missing = [p for p in state.seal_failures if "verifying needs" in p.message]
        wrong = all(p.kind == "wrong_key" for p in state.seal_failures)
        if state.seals_ok == 0 and (missing or wrong):
            # Nothing verified with the key given: unsigned-looking lines are the key's
            # fault, not findings of their own.
            state.problems = [p for p in state.problems if p.kind != "unauthenticated"]
        if state.seals_ok == 0 and missing:
            state.problems.insert(0, missing[0])
        elif state.seals_ok == 0 and wrong:
            state.problems.insert(
                0,
                Problem(
                    "wrong_key",
                    "wrong key: this log was sealed with another key (no seal verifies)",
                ),
            )
        elif state.seals_ok == 0:
            state.problems.insert(
                0,
                Problem(
                    "wrong_key",
                    "no seal verifies with the key given: wrong key, or every seal was forged",
                ),
            )
        else:
            state.problems[:0] = [
                Problem("modified", p.message, segment=p.segment, line=p.line)
                for p in state.seal_failures
            ]
    return _report(state, len(indices), last_seq, last_hash)


def _report(state: State, segments: int, last_seq: int, last_hash: str) -> VerifyReport:
    return VerifyReport(
        records=state.records,
        segments=segments,
        problems=tuple(state.problems),
        notes=tuple(state.notes),
        last_seq=last_seq,
        last_hash=last_hash,
        decrypted=state.decrypted,
        seals=state.seals_verified,
        signed_records=state.signed_records,
        sealed_signatures=state.sealed_signatures,
        algs=tuple(sorted(state.checker.key_ids)),
    )


def _check_signed(obj: dict[str, Any], state: State, what: str, segment: int | None) -> bool:
    """Check a seal or checkpoint signature; failures are sorted out at the end."""
    alg = str(obj.get("alg"))
    if not state.checker.has_key(alg):
        hint = "the HMAC key" if alg.startswith("hmac") else "the Ed25519 public key"
        state.seal_failures.append(
            Problem("wrong_key", f"{what} is signed with {alg}: verifying needs {hint}", segment)
        )
        return False
    if state.checker.check(alg, signed_part(obj), str(obj.get("sig"))):
        state.seals_ok += 1
        return True
    if obj.get("key_id") != state.checker.key_ids[alg]:
        state.seal_failures.append(
            Problem("wrong_key", f"{what} was signed with another key than the one given", segment)
        )
    else:
        state.seal_failures.append(
            Problem("modified", f"{what} has an invalid signature (forged or altered)", segment)
        )
    return False


def _check_record_signatures(
    state: State, index: int, alg: str, records: list[Entry], seal: dict[str, Any]
) -> None:
    """In a sealed format 2 segment: the records' signatures must be the sealed ones.

    The seal already authenticates the records' content, and its ``sigs_hash`` the
    signatures as written: one SHA-256 pass instead of a signature check per record
    (80 µs each with Ed25519). Only when they differ is each signature checked, to
    name the altered one.
    """
    digest = hashlib.sha256()
    for entry in records:
        sig = entry.obj.get("sig") if entry.obj is not None else None
        digest.update(f"{sig}\n".encode() if isinstance(sig, str) else b"\x00")
    if digest.hexdigest() == seal.get("sigs_hash"):
        state.sealed_signatures += len(records)
        return
    before = len(state.problems)
    for entry in records:
        obj = entry.obj
        if obj is not None and state.checker.check_record(alg, entry.hash, obj.get("sig")):
            state.signed_records += 1
            continue
        state.add(
            "modified",
            f"segment {index}: the signature of record seq {entry.seq} (line {entry.line}) "
            "was altered: it does not verify",
            segment=index,
            seq=entry.seq,
            line=entry.line,
        )
    if len(state.problems) == before:
        state.add(
            "modified",
            f"segment {index}: its record signatures differ from what was sealed",
            segment=index,
        )


def _load_checkpoint(directory: Path, state: State) -> dict[str, Any] | None:
    path = directory / CHECKPOINT_NAME
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        obj = None
    if not isinstance(obj, dict) or obj.get("type") != "checkpoint":
        state.add("modified", "the retention checkpoint is not a valid checkpoint")
        return None
    if not _check_signed(obj, state, "the retention checkpoint", None):
        return None
    return obj


def _verify_segment(
    directory: Path,
    index: int,
    state: State,
    expected_seq: int | None,
    expected_prev: str | None,
    *,
    last: bool,
    allow_open: bool,
    checkpoint_header: str | None,
) -> tuple[int | None, str | None]:
    """Check one segment; returns the seq and hash the next segment must continue from."""
    name = segment_name(index)
    entries = parse_segment((directory / name).read_bytes())
    header = entries[0].obj if entries and not entries[0].torn else None
    if header is None or header.get("type") != "header":
        state.add(
            "modified", f"segment {index}: the header (line 1) is damaged", segment=index, line=1
        )
        header = {}
        body = entries[1:]
    else:
        body = entries[1:]
        if header.get("segment") != index:
            state.add(
                "replaced",
                f"segment {index}: the header says segment {header.get('segment')} "
                "(file renamed or header altered)",
                segment=index,
                line=1,
            )
        elif checkpoint_header is not None and content_hash(header) != checkpoint_header:
            state.add(
                "replaced",
                f"segment {index} is not the segment the retention checkpoint names",
                segment=index,
                line=1,
            )
        elif expected_prev is not None and header.get("prev_hash") != expected_prev:
            state.add(
                "replaced",
                f"segment {index} does not continue segment {index - 1} "
                "(replaced, or taken from another log)",
                segment=index,
                line=1,
            )
        elif expected_seq is not None and header.get("first_seq") != expected_seq:
            state.add(
                "modified",
                f"segment {index}: the header's first seq {header.get('first_seq')} "
                f"should be {expected_seq}",
                segment=index,
                line=1,
            )
        elif header.get("format") not in (FORMAT, FORMAT_V1):
            state.add(
                "modified",
                f"segment {index}: the header names format {header.get('format')!r}, which "
                "this version of fapilog does not verify (a newer writer, or altered)",
                segment=index,
                line=1,
            )
    seal_pos = next(
        (
            i
            for i, e in enumerate(body)
            if e.obj is not None and e.obj.get("type") == "seal" and "seq" not in e.obj
        ),
        None,
    )
    seal = body[seal_pos].obj if seal_pos is not None else None
    records = body[:seal_pos] if seal_pos is not None else body
    for extra in body[seal_pos + 1 :] if seal_pos is not None else ():
        state.add(
            "inserted",
            f"segment {index} line {extra.line}: a line was added after the seal",
            segment=index,
            line=extra.line,
        )
    signed = header.get("format") != FORMAT_V1
    for entry in records:
        entry.valid = self_valid(entry, signed=signed)
    seal_ok = seal is not None and _check_signed(seal, state, f"the seal of segment {index}", index)
    if seal_ok:
        state.seals_verified += 1
    opened: OpenSegment | None = None
    if seal is None and last:
        opened = OpenSegment(state, index, header, records, _check_signed)
        records = opened.walk_records

    seq = as_int(header.get("first_seq"))
    prev = header.get("prev_hash") if isinstance(header.get("prev_hash"), str) else None
    if seq is None:
        fallback = as_int(records[0].seq) if records else None
        seq = expected_seq or fallback or 1
    before = len(state.problems)
    walk = SegmentWalk(state, index, records, seq, prev, seal if seal_ok else None)
    walk.run()
    seq, prev = walk.seq, walk.prev
    where = {"segment": index}

    if seal is not None and seal_ok:
        if seal.get("segment") != index:
            state.add(
                "replaced",
                f"segment {index} carries the seal of segment {seal.get('segment')}",
                **where,
            )
        elif seal.get("header_hash") != content_hash(header):
            state.add(
                "modified", f"segment {index}: the header (line 1) was altered", line=1, **where
            )
        elif len(state.problems) == before:
            sealed_last = as_int(seal.get("last_seq"))
            if sealed_last is not None and sealed_last > seq - 1:
                state.add(
                    "deleted",
                    f"segment {index}: records {seq} to {sealed_last} were deleted from the "
                    "end of the segment",
                    seq=seq,
                    **where,
                )
            elif sealed_last is not None and sealed_last < seq - 1:
                extra_line = walk.line_of.get(sealed_last + 1)
                state.add(
                    "inserted",
                    f"segment {index}: record seq {sealed_last + 1} (line {extra_line}) was "
                    "added after the segment was sealed",
                    seq=sealed_last + 1,
                    line=extra_line,
                    **where,
                )
            elif seal.get("final_hash") != prev or seal.get("records") != walk.accepted:
                state.add(
                    "modified",
                    f"segment {index}: its records differ from what was sealed "
                    "(rewritten and re-hashed)",
                    **where,
                )
            elif signed:
                _check_record_signatures(state, index, str(header.get("alg")), records, seal)
        # The signed seal is authoritative for what the next segment must continue.
        sealed_seq = as_int(seal.get("last_seq"))
        return (sealed_seq + 1 if sealed_seq is not None else seq), str(seal.get("final_hash"))
    if opened is not None:
        opened.report(walk, allow_open=allow_open)
    elif seal is None and not walk.torn:
        state.add(
            "truncated",
            f"segment {index} has no seal: the log was truncated after record seq {seq - 1}",
            seq=seq - 1,
            **where,
        )
    return seq, prev
