"""AuditExporter: what it writes, rotation, retention, encryption, restart and secrecy."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import orjson
import pytest

from audit_support import AES_KEY, KEY, audit_event, lines, plain_event, segment, write_log
from fapilog import ExportStatus
from fapilog.audit import AuditExporter, AuditKeyError, iter_records, verify


def _all_bytes(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.iterdir()))


def test_records_form_a_chain_with_header_and_seal(tmp_path: Path) -> None:
    """Each record links to the previous hash; a header opens and a seal closes the segment."""
    write_log(tmp_path, 3)
    content = [orjson.loads(line) for line in lines(segment(tmp_path, 1))]
    header, records, seal = content[0], content[1:-1], content[-1]
    assert header["type"] == "header" and header["segment"] == 1 and header["first_seq"] == 1
    assert [r["seq"] for r in records] == [1, 2, 3]
    assert records[0]["prev_hash"] == header["prev_hash"] == "0" * 64
    assert [r["prev_hash"] for r in records[1:]] == [r["hash"] for r in records[:-1]]
    assert seal["type"] == "seal" and seal["final_hash"] == records[-1]["hash"]
    assert (seal["records"], seal["first_seq"], seal["last_seq"]) == (3, 1, 3)
    assert records[1]["event"]["attributes"]["audit.actor"] == "admin-1"


def test_non_audit_events_are_delivered_and_ignored(tmp_path: Path) -> None:
    """Other events succeed without being written; a batch of only those starts no segment."""

    async def run() -> None:
        exporter = AuditExporter(tmp_path / "a", key=KEY, fsync=False)
        assert (await exporter.export([plain_event(1), plain_event(2)])).ok
        assert not list((tmp_path / "a").glob("audit-*"))
        assert (await exporter.export([plain_event(3), audit_event(1), plain_event(4)])).ok
        await exporter.shutdown()

    asyncio.run(run())
    assert [r["seq"] for r in iter_records(tmp_path / "a")] == [1]
    assert b"plain" not in _all_bytes(tmp_path / "a")


def test_rotation_by_records_and_bytes(tmp_path: Path) -> None:
    """Segments rotate after max records, and before exceeding max bytes; chains continue."""
    write_log(tmp_path / "r", 7, segment_max_records=3)
    assert len(list((tmp_path / "r").glob("audit-*.jsonl"))) == 3
    write_log(tmp_path / "b", 6, segment_max_bytes=1500)
    segments = sorted((tmp_path / "b").glob("audit-*.jsonl"))
    assert len(segments) > 1
    for path in segments[:-1]:
        assert path.stat().st_size <= 1500 + 600  # the seal line comes on top
    assert verify(tmp_path / "b", key=KEY).ok
    assert verify(tmp_path / "r", key=KEY).records == 7


def test_restart_resumes_the_chain(tmp_path: Path) -> None:
    """A new exporter on the same directory continues seq and hash chain in a new segment."""
    write_log(tmp_path, 3)
    write_log(tmp_path, 2, start=3)
    report = verify(tmp_path, key=KEY)
    assert report.ok, report.summary()
    assert (report.records, report.segments) == (5, 2)
    assert [r["seq"] for r in iter_records(tmp_path)] == [1, 2, 3, 4, 5]


def test_restart_after_a_crash_seals_the_open_segment(tmp_path: Path) -> None:
    """An unsealed segment (crash) is checked, sealed as recovered, and the chain goes on."""
    write_log(tmp_path, 3, close=False)
    with segment(tmp_path, 1).open("ab") as f:
        f.write(b'{"event":{"half a rec')  # a write torn by the crash
    write_log(tmp_path, 2, start=3)
    report = verify(tmp_path, key=KEY)
    assert report.ok, report.summary()
    assert report.records == 5
    assert orjson.loads(lines(segment(tmp_path, 1))[-1])["recovered"] is True


def test_a_tampered_tail_is_never_extended(tmp_path: Path) -> None:
    """On restart, an open segment whose chain is broken makes exports fail, not continue."""
    write_log(tmp_path, 3, close=False)
    path = segment(tmp_path, 1)
    path.write_bytes(path.read_bytes().replace(b"admin-1", b"admin-9"))

    async def run() -> None:
        exporter = AuditExporter(tmp_path, key=KEY, fsync=False)
        result = await exporter.export([audit_event(9)])
        assert result.status is ExportStatus.FAILURE
        assert "line 3" in result.reason
        await exporter.shutdown()

    asyncio.run(run())


def test_a_log_sealed_with_another_key_is_not_extended(tmp_path: Path) -> None:
    """Resuming with a different key fails, and the reason does not contain either key."""
    write_log(tmp_path, 2)
    other = "other-key-0123456789abcdef"

    async def run() -> None:
        exporter = AuditExporter(tmp_path, key=other, fsync=False)
        result = await exporter.export([audit_event(9)])
        assert result.status is ExportStatus.FAILURE
        assert other not in result.reason and KEY not in result.reason
        await exporter.shutdown()

    asyncio.run(run())


def test_retention_prunes_with_a_signed_checkpoint(tmp_path: Path) -> None:
    """Old segments are deleted after a checkpoint; the rest verifies, a later deletion does not."""
    write_log(tmp_path, 10, segment_max_records=2, retention_segments=3)
    remaining = sorted(p.name for p in tmp_path.glob("audit-*.jsonl"))
    assert remaining == ["audit-00000003.jsonl", "audit-00000004.jsonl", "audit-00000005.jsonl"]
    assert (tmp_path / "checkpoint.json").exists()
    report = verify(tmp_path, key=KEY)
    assert report.ok, report.summary()
    assert report.records == 6 and report.last_seq == 10
    assert any("pruned" in note for note in report.notes)

    os.unlink(segment(tmp_path, 4))  # a middle segment: not covered by the checkpoint
    report = verify(tmp_path, key=KEY)
    assert [(p.kind, p.segment) for p in report.problems][:1] == [("deleted", 4)]


def test_retention_beyond_the_checkpoint_is_detected(tmp_path: Path) -> None:
    """Deleting the first kept segment, or the checkpoint, is not legitimate pruning."""
    write_log(tmp_path, 10, segment_max_records=2, retention_segments=3)
    os.unlink(segment(tmp_path, 3))
    report = verify(tmp_path, key=KEY)
    assert [(p.kind, p.segment) for p in report.problems] == [("deleted", 3)]
    os.unlink(tmp_path / "checkpoint.json")
    report = verify(tmp_path, key=KEY)
    assert report.problems[0].kind == "deleted"


def test_a_forged_checkpoint_is_detected(tmp_path: Path) -> None:
    """A checkpoint altered to excuse deleted segments fails its signature."""
    write_log(tmp_path, 10, segment_max_records=2, retention_segments=3)
    cp_path = tmp_path / "checkpoint.json"
    cp = orjson.loads(cp_path.read_bytes())
    cp["first_segment"] = 4
    cp_path.write_bytes(orjson.dumps(cp))
    os.unlink(segment(tmp_path, 3))
    report = verify(tmp_path, key=KEY)
    assert not report.ok
    assert {p.kind for p in report.problems} >= {"modified", "deleted"}


def test_encrypted_records_hide_plaintext_and_decrypt_only_with_the_key(tmp_path: Path) -> None:
    """With encrypt_key the files hold no plaintext; the chain verifies; only the key decrypts."""
    write_log(tmp_path, 5, encrypt_key=AES_KEY, segment_max_records=2)
    data = _all_bytes(tmp_path)
    for plain in (b"admin-", b"user-1", b"user.update", b"audit.actor"):
        assert plain not in data
    assert verify(tmp_path, key=KEY).ok  # chain and seals need no decryption
    report = verify(tmp_path, key=KEY, decrypt_key=AES_KEY)
    assert report.ok and report.decrypted == 5
    wrong = verify(tmp_path, key=KEY, decrypt_key=bytes(32))
    assert [p.kind for p in wrong.problems] == ["wrong_key"]
    events = [r["event"] for r in iter_records(tmp_path, decrypt_key=AES_KEY.hex())]
    assert [e["attributes"]["audit.actor"] for e in events] == [f"admin-{i}" for i in range(5)]
    with pytest.raises(ValueError, match="does not decrypt"):
        list(iter_records(tmp_path, decrypt_key=bytes(32)))


def test_encrypted_records_bind_the_seq(tmp_path: Path) -> None:
    """Ciphertexts are not interchangeable: AAD is the seq, so a moved one fails to decrypt."""
    write_log(tmp_path, 2, encrypt_key=AES_KEY)
    path = segment(tmp_path, 1)
    content = lines(path)
    one, two = orjson.loads(content[1]), orjson.loads(content[2])
    assert one["enc"]["nonce"] != two["enc"]["nonce"]
    from fapilog.audit._keys import RecordCipher

    cipher = RecordCipher(AES_KEY)
    assert cipher.decrypt(1, one["enc"]) is not None
    assert cipher.decrypt(2, one["enc"]) is None


def test_ed25519_seals_verify_with_the_public_key_only(tmp_path: Path) -> None:
    """Ed25519: seals verify with the public key; the HMAC key or another public key fail."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.generate()
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    write_log(tmp_path, 5, signing="ed25519", private_key=private, key=None, segment_max_records=2)
    report = verify(tmp_path, public_key=pem)
    assert report.ok, report.summary()
    assert [p.kind for p in verify(tmp_path, key=KEY).problems] == ["wrong_key"]
    other = Ed25519PrivateKey.generate().public_key()
    assert [p.kind for p in verify(tmp_path, public_key=other).problems] == ["wrong_key"]
    write_log(tmp_path, 1, start=5, signing="ed25519", private_key=private, key=None)
    assert verify(tmp_path, public_key=pem).records == 6


def test_the_key_never_appears_in_files_repr_or_errors(tmp_path: Path) -> None:
    """The HMAC and AES keys are not in any file, repr, or error message."""
    exporter = write_log(tmp_path, 4, encrypt_key=AES_KEY, segment_max_records=2)
    data = _all_bytes(tmp_path)
    assert KEY.encode() not in data and AES_KEY not in data and AES_KEY.hex().encode() not in data
    assert KEY not in repr(exporter) and KEY not in repr(vars(exporter))
    assert KEY not in repr(exporter._writer.__dict__)
    short = "tooshort"
    with pytest.raises(AuditKeyError) as info:
        AuditExporter(tmp_path, key=short)
    assert short not in str(info.value)
    with pytest.raises(AuditKeyError) as info:
        AuditExporter(tmp_path, key=KEY, encrypt_key="not-a-valid-aes-key")
    assert "not-a-valid-aes-key" not in str(info.value)


def test_secret_str_keys_are_accepted(tmp_path: Path) -> None:
    """Keys may be pydantic SecretStr; the log verifies with the plain value."""
    from pydantic import SecretStr

    write_log(tmp_path, 2, key=SecretStr(KEY))
    assert verify(tmp_path, key=KEY).ok


def test_missing_cryptography_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without cryptography, encryption and Ed25519 fail with the pip command to fix it."""
    monkeypatch.setitem(sys.modules, "cryptography.hazmat.primitives.asymmetric.ed25519", None)
    with pytest.raises(ImportError, match=r"pip install 'fapilog\[audit\]'"):
        AuditExporter(tmp_path, key=KEY, encrypt_key=AES_KEY)
    with pytest.raises(ImportError, match=r"fapilog\[audit\]"):
        AuditExporter(tmp_path, signing="ed25519", private_key=bytes(32))
    AuditExporter(tmp_path, key=KEY)  # HMAC needs only the standard library


def test_fsync_is_on_by_default_and_per_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """By default every record is fsynced before the export succeeds."""
    calls: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd))[1])
    write_log(tmp_path, 3, fsync=True)
    assert len(calls) >= 3 + 1  # three records and the seal (plus header and directory)


def test_invalid_options_are_rejected(tmp_path: Path) -> None:
    """Bad limits, a missing key, or an unknown signing scheme raise at construction."""
    with pytest.raises(ValueError, match="positive"):
        AuditExporter(tmp_path, key=KEY, segment_max_records=0)
    with pytest.raises(ValueError, match="retention_segments"):
        AuditExporter(tmp_path, key=KEY, retention_segments=0)
    with pytest.raises(AuditKeyError, match="needs key"):
        AuditExporter(tmp_path)
    with pytest.raises(AuditKeyError, match="signing"):
        AuditExporter(tmp_path, key=KEY, signing="rsa")


def test_a_failed_write_leaves_no_torn_line_and_reports_partial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An I/O error on the third record: two are kept, the rest rejected, the log verifies."""
    import errno

    from fapilog.audit import _writer

    real_write = os.write
    calls = {"n": 0}

    def flaky_write(fd: int, data: bytes) -> int:
        if data.startswith(b'{"event"'):
            calls["n"] += 1
            if calls["n"] == 3:
                real_write(fd, data[:10])  # a torn write, then the error
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    async def run() -> None:
        exporter = AuditExporter(tmp_path, key=KEY, fsync=False)
        monkeypatch.setattr(_writer.os, "write", flaky_write)
        result = await exporter.export([audit_event(i) for i in range(5)])
        assert result.status is ExportStatus.PARTIAL and result.rejected == 3
        assert "ENOSPC" in result.reason
        monkeypatch.setattr(_writer.os, "write", real_write)
        assert (await exporter.export([audit_event(9)])).ok
        await exporter.shutdown()

    asyncio.run(run())
    report = verify(tmp_path, key=KEY)
    assert report.ok, report.summary()
    assert report.records == 3


def test_a_forked_child_does_not_write_to_the_parents_chain(tmp_path: Path) -> None:
    """After fork, the child's exports of audit events fail and leave the files alone."""

    async def run() -> None:
        exporter = AuditExporter(tmp_path, key=KEY, fsync=False)
        assert (await exporter.export([audit_event(1)])).ok
        before = _all_bytes(tmp_path)
        exporter.after_fork()  # what the pipeline calls in a forked child
        result = await exporter.export([audit_event(2)])
        assert result.status is ExportStatus.FAILURE and "forked" in result.reason
        assert (await exporter.export([plain_event(3)])).ok
        await exporter.shutdown()
        assert _all_bytes(tmp_path) == before

    asyncio.run(run())
