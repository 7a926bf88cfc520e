"""Verification of audit logs: intact logs pass, each kind of tampering is named precisely."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from audit_support import KEY, lines, segment, write_log
from fapilog.audit import verify
from fapilog.audit._format import canonical, record_hash

# 10 records, 4 per segment: segment 1 = seq 1-4, 2 = seq 5-8, 3 = seq 9-10.
# In each segment line 1 is the header, lines 2-5 the records, line 6 the seal.


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "audit"
    write_log(directory, 10, segment_max_records=4)
    return directory


def _only(report, kind: str, segment_index: int):  # type: ignore[no-untyped-def]
    assert not report.ok
    assert [p.kind for p in report.problems] == [kind], report.summary()
    problem = report.problems[0]
    assert problem.segment == segment_index, report.summary()
    return problem


def _write_lines(path: Path, content: list[bytes]) -> None:
    path.write_bytes(b"".join(content))


def _forge(seq: int, prev_hash: str, actor: str = "mallory") -> bytes:
    """A record an attacker without the key can make: self-consistent, properly chained."""
    body = {"seq": seq, "prev_hash": prev_hash, "event": {"attributes": {"audit.actor": actor}}}
    return canonical({**body, "hash": record_hash(body)}) + b"\n"


def test_an_untouched_log_verifies(log_dir: Path) -> None:
    """A log written and shut down verifies with its key: every record, every segment."""
    report = verify(log_dir, key=KEY)
    assert report.ok, report.summary()
    assert report.summary() == "OK: 10 records in 3 segments"
    assert (report.records, report.segments, report.last_seq) == (10, 3, 10)


def test_one_flipped_byte_names_the_record(log_dir: Path) -> None:
    """Changing one byte of a record's content is reported as that record, modified."""
    path = segment(log_dir, 2)
    content = lines(path)
    assert b"admin-5" in content[2]  # seq 6
    content[2] = content[2].replace(b"admin-5", b"admin-6")
    _write_lines(path, content)
    problem = _only(verify(log_dir, key=KEY), "modified", 2)
    assert (problem.seq, problem.line) == (6, 3)


def test_a_deleted_record_is_reported(log_dir: Path) -> None:
    """Removing a record from the middle of a segment names the missing seq."""
    path = segment(log_dir, 2)
    content = lines(path)
    del content[2]  # seq 6
    _write_lines(path, content)
    problem = _only(verify(log_dir, key=KEY), "deleted", 2)
    assert problem.seq == 6


def test_a_deleted_last_record_is_caught_by_the_seal(log_dir: Path) -> None:
    """Removing the last record before the seal leaves a valid chain; the seal still tells."""
    path = segment(log_dir, 2)
    content = lines(path)
    del content[4]  # seq 8
    _write_lines(path, content)
    problem = _only(verify(log_dir, key=KEY), "deleted", 2)
    assert problem.seq == 8


def test_a_forged_record_inserted_in_the_chain_is_reported(log_dir: Path) -> None:
    """A self-consistent forged record, chained to its predecessor, is named as inserted."""
    path = segment(log_dir, 2)
    content = lines(path)
    seq5 = orjson.loads(content[1])
    content.insert(2, _forge(6, seq5["hash"]))  # claims seq 6, before the genuine seq 6
    _write_lines(path, content)
    problem = _only(verify(log_dir, key=KEY), "inserted", 2)
    assert (problem.seq, problem.line) == (6, 3)


def test_a_forged_record_with_a_wrong_link_is_reported(log_dir: Path) -> None:
    """A record pasted in with a made-up seq and link is named as inserted."""
    path = segment(log_dir, 1)
    content = lines(path)
    content.insert(3, _forge(42, "ab" * 32))
    _write_lines(path, content)
    problem = _only(verify(log_dir, key=KEY), "inserted", 1)
    assert problem.line == 4


def test_a_record_appended_before_the_seal_is_reported(log_dir: Path) -> None:
    """Extending a sealed segment with a chained record is caught by the seal."""
    path = segment(log_dir, 2)
    content = lines(path)
    seq8 = orjson.loads(content[4])
    content.insert(5, _forge(9, seq8["hash"]))
    _write_lines(path, content)
    problem = _only(verify(log_dir, key=KEY), "inserted", 2)
    assert (problem.seq, problem.line) == (9, 6)


def test_swapped_records_are_reported_as_reordered(log_dir: Path) -> None:
    """Swapping two records is reported once, as reordering, at the right place."""
    path = segment(log_dir, 2)
    content = lines(path)
    content[2], content[3] = content[3], content[2]  # seq 6 and 7
    _write_lines(path, content)
    problem = _only(verify(log_dir, key=KEY), "reordered", 2)
    assert (problem.seq, problem.line) == (6, 3)


def test_a_truncated_tail_is_reported(log_dir: Path) -> None:
    """Cutting off the end of the log (seal included) is reported as truncation."""
    path = segment(log_dir, 3)
    content = lines(path)
    _write_lines(path, content[:2])  # header + seq 9
    problem = _only(verify(log_dir, key=KEY), "truncated", 3)
    assert problem.seq == 9


def test_a_cut_in_the_middle_of_a_line_is_reported(log_dir: Path) -> None:
    """A file cut inside a record is reported as truncated at that line."""
    path = segment(log_dir, 3)
    data = path.read_bytes()
    cut = data.index(b"\n", data.index(b"\n") + 1) + 20  # 20 bytes into line 3
    path.write_bytes(data[:cut])
    problem = _only(verify(log_dir, key=KEY), "truncated", 3)
    assert problem.line == 3


def test_a_segment_from_another_log_is_reported_as_replaced(log_dir: Path, tmp_path: Path) -> None:
    """A sealed segment taken from another log with the same key does not fit the chain."""
    other = tmp_path / "other"
    write_log(other, 10, start=100, segment_max_records=4)
    shutil.copy(segment(other, 2), segment(log_dir, 2))
    report = verify(log_dir, key=KEY)
    assert report.problems[0].kind == "replaced"
    assert report.problems[0].segment == 2


def test_a_forged_segment_fails_its_seal(log_dir: Path) -> None:
    """A rewritten, re-chained segment cannot carry a valid seal without the key."""
    path = segment(log_dir, 2)
    content = lines(path)
    prev = orjson.loads(content[0])["prev_hash"]
    forged = [content[0]]
    for seq in range(5, 9):
        forged.append(_forge(seq, prev))
        prev = orjson.loads(forged[-1])["hash"]
    seal = orjson.loads(content[-1])
    seal["final_hash"] = prev
    forged.append(canonical(seal) + b"\n")  # the old signature no longer matches
    _write_lines(path, forged)
    report = verify(log_dir, key=KEY)
    assert not report.ok
    assert any(p.kind == "modified" and p.segment == 2 for p in report.problems)


def test_a_rehashed_segment_is_caught_by_the_seal(log_dir: Path) -> None:
    """Editing a record and re-hashing the rest keeps the chain but not the seal."""
    path = segment(log_dir, 2)
    content = lines(path)
    prev = orjson.loads(content[0])["prev_hash"]
    for i in range(1, 5):
        rec = orjson.loads(content[i])
        if rec["seq"] == 6:
            rec["event"]["attributes"]["audit.outcome"] = "denied"
        rec["prev_hash"] = prev
        body = {k: v for k, v in rec.items() if k != "hash"}
        rec["hash"] = prev = record_hash(body)
        content[i] = canonical(rec) + b"\n"
    _write_lines(path, content)
    report = verify(log_dir, key=KEY)
    assert not report.ok
    assert report.problems[0].segment == 2
    assert report.problems[0].kind in ("modified", "replaced")


def test_the_wrong_key_is_reported_as_such(log_dir: Path) -> None:
    """Verifying with another key gives one clear wrong-key problem, not tampering."""
    report = verify(log_dir, key="another-key-0123456789abcdef")
    assert [p.kind for p in report.problems] == ["wrong_key"]
    assert "wrong key" in report.summary()


def test_a_deleted_middle_segment_is_reported(log_dir: Path) -> None:
    """Deleting a whole segment between two others names the segment."""
    os.unlink(segment(log_dir, 2))
    report = verify(log_dir, key=KEY)
    assert report.problems[0].kind == "deleted"
    assert report.problems[0].segment == 2


def test_deleted_first_segments_without_checkpoint_are_reported(log_dir: Path) -> None:
    """Deleting the oldest segment without a retention checkpoint is not legitimate."""
    os.unlink(segment(log_dir, 1))
    problem = _only(verify(log_dir, key=KEY), "deleted", 1)
    assert "no retention checkpoint" in problem.message


def test_an_open_last_segment_is_accepted_only_when_asked(tmp_path: Path) -> None:
    """A log still being written fails by default and passes with allow_open."""
    directory = tmp_path / "audit"
    write_log(directory, 3, close=False)
    assert verify(directory, key=KEY).problems[0].kind == "truncated"
    report = verify(directory, key=KEY, allow_open=True)
    assert report.ok and report.records == 3


# -- the command line -------------------------------------------------------------------


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FAPILOG_AUDIT")}
    return subprocess.run(
        [sys.executable, "-m", "fapilog", "audit", "verify", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**environ, **(env or {})},
    )


@pytest.mark.once
def test_cli_says_ok_and_exits_zero(log_dir: Path, tmp_path: Path) -> None:
    """`fapilog audit verify` prints OK with the counts and exits 0; keys from all sources."""
    out = _cli(str(log_dir), "--key", KEY)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("OK: 10 records in 3 segments")
    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n")
    assert _cli(str(log_dir), "--key-file", str(key_file)).returncode == 0
    assert _cli(str(log_dir), env={"FAPILOG_AUDIT_KEY": KEY}).returncode == 0
    assert KEY not in out.stdout + out.stderr


def test_cli_names_the_problem_and_exits_one(log_dir: Path) -> None:
    """On tampering the CLI names segment and record, and exits 1."""
    path = segment(log_dir, 2)
    content = lines(path)
    del content[2]
    _write_lines(path, content)
    out = _cli(str(log_dir), env={"FAPILOG_AUDIT_KEY": KEY})
    assert out.returncode == 1
    assert "deleted: segment 2: record seq 6 was deleted" in out.stdout


def test_cli_wrong_key_exits_one_without_echoing_it(log_dir: Path) -> None:
    """A wrong key fails with exit 1 and the key given is not printed."""
    wrong = "not-the-key-but-long-enough"
    out = _cli(str(log_dir), "--key", wrong)
    assert out.returncode == 1
    assert "wrong_key" in out.stdout
    assert wrong not in out.stdout + out.stderr


def test_cli_usage_errors_exit_two(log_dir: Path, tmp_path: Path) -> None:
    """No key, or no such directory: exit 2 with a message on stderr."""
    assert _cli(str(log_dir)).returncode == 2
    out = _cli(str(tmp_path / "nope"), "--key", KEY)
    assert out.returncode == 2
    assert "not an audit log directory" in out.stderr


def test_hashes_are_sha256_over_canonical_json(log_dir: Path) -> None:
    """The documented record hash: SHA-256 of the canonical JSON of the record sans hash."""
    rec = orjson.loads(lines(segment(log_dir, 1))[1])
    body = {k: v for k, v in rec.items() if k not in ("hash", "sig")}
    expected = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()
    assert rec["hash"] == expected
    assert rec["prev_hash"] == "0" * 64 and rec["seq"] == 1


def test_cli_verifies_ed25519_logs_with_a_public_key_file(tmp_path: Path) -> None:
    """--public-key reads a PEM file; no secret is needed to verify an Ed25519 log."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.generate()
    pem = tmp_path / "audit.pub"
    pem.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    directory = tmp_path / "audit"
    write_log(directory, 3, key=None, signing="ed25519", private_key=private)
    out = _cli(str(directory), "--public-key", str(pem))
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.startswith("OK: 3 records in 1 segment")


@pytest.mark.parametrize("seed", range(3))
def test_random_tampering_is_always_detected_and_never_crashes(log_dir: Path, seed: int) -> None:
    """Random byte flips and line deletions, copies and moves: verify reports, never raises."""
    import random

    rnd = random.Random(seed)
    pristine = {p.name: p.read_bytes() for p in log_dir.glob("audit-*.jsonl")}
    names = sorted(pristine)
    for _ in range(60):
        for name, data in pristine.items():
            (log_dir / name).write_bytes(data)
        path = log_dir / rnd.choice(names)
        content = lines(path)
        i, j = rnd.randrange(len(content)), rnd.randrange(len(content))
        op = rnd.choice(["flip", "delete", "copy", "move"])
        if op == "flip":
            data = bytearray(path.read_bytes())
            k = rnd.randrange(len(data))
            data[k] = (data[k] + rnd.randrange(1, 256)) % 256
            path.write_bytes(bytes(data))
        else:
            if op == "delete":
                del content[i]
            elif op == "copy":
                content.insert(j, content[i])
            else:
                content.insert(j, content.pop(i))
            if b"".join(content) == pristine[path.name]:
                continue
            _write_lines(path, content)
        report = verify(log_dir, key=KEY)
        assert not report.ok, (op, path.name, i, j)
        assert report.problems[0].segment in (None, int(path.name[6:14]), int(path.name[6:14]) + 1)


def test_cli_decrypts_with_a_raw_key_file(tmp_path: Path) -> None:
    """--decrypt-key-file takes a raw 32-byte key; a wrong one fails with exit 1."""
    directory = tmp_path / "audit"
    raw = bytes(range(22, 54))[:31] + b"\n"  # a raw key whose last byte is a newline
    write_log(directory, 2, encrypt_key=raw)
    key_file = tmp_path / "aes.key"
    key_file.write_bytes(raw)
    out = _cli(str(directory), "--key", KEY, "--decrypt-key-file", str(key_file))
    assert out.returncode == 0, out.stdout + out.stderr
    key_file.write_bytes(bytes(32))
    out = _cli(str(directory), "--key", KEY, "--decrypt-key-file", str(key_file))
    assert out.returncode == 1 and "wrong_key" in out.stdout
