"""The unsealed last segment: authenticated record by record, forged tails rejected."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from audit_support import KEY, audit_event, forge, lines, segment, write_log, write_v1_log
from fapilog import ExportStatus
from fapilog.audit import AuditExporter, iter_records, verify
from fapilog.audit._format import canonical, now_rfc3339

# 10 records, 4 per segment, sealed: segment 1 = seq 1-4, 2 = seq 5-8, 3 = seq 9-10.


@pytest.fixture
def sealed_log(tmp_path: Path) -> Path:
    directory = tmp_path / "sealed"
    write_log(directory, 10, segment_max_records=4)
    return directory


@pytest.fixture
def open_log(tmp_path: Path) -> Path:
    """6 records, 4 per segment; the writer died: segment 2 (seq 5-6) is open."""
    directory = tmp_path / "open"
    write_log(directory, 6, segment_max_records=4, close=False)
    return directory


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FAPILOG_AUDIT")}
    return subprocess.run(
        [sys.executable, "-m", "fapilog", "audit", "verify", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**environ, "FAPILOG_AUDIT_KEY": KEY},
    )


def _forged_segment(directory: Path, index: int, *, copy_sig_from: int | None = None) -> None:
    """What the attacker of the report did: a new unsealed segment continuing the chain,
    three records ``user.grant_admin`` by ``attacker`` hashed with plain SHA-256."""
    seal = orjson.loads(lines(segment(directory, index - 1))[-1])
    header = {
        "type": "header",
        "format": "fapilog-audit/2",
        "segment": index,
        "first_seq": seal["last_seq"] + 1,
        "prev_hash": seal["final_hash"],
        "alg": seal["alg"],
        "key_id": seal["key_id"],
        "encrypted": False,
        "created": now_rfc3339(),
    }
    if copy_sig_from is not None:  # a real header's signature, pasted on
        header["sig"] = orjson.loads(lines(segment(directory, copy_sig_from))[0])["sig"]
    out = [canonical(header) + b"\n"]
    prev, seq = seal["final_hash"], seal["last_seq"] + 1
    for i in range(3):
        out.append(forge(seq + i, prev))
        prev = orjson.loads(out[-1])["hash"]
    segment(directory, index).write_bytes(b"".join(out))


@pytest.mark.parametrize("copy_sig", [False, True], ids=["unsigned-header", "pasted-sig"])
@pytest.mark.parametrize("allow_open", [False, True])
def test_a_forged_unsealed_segment_is_rejected(
    sealed_log: Path, allow_open: bool, copy_sig: bool
) -> None:
    """A new segment forged without the key fails, with or without allow_open, and the
    report names its file and first record; only the genuine records are counted."""
    _forged_segment(sealed_log, 4, copy_sig_from=3 if copy_sig else None)
    report = verify(sealed_log, key=KEY, allow_open=allow_open)
    assert not report.ok
    problem = next(p for p in report.problems if p.kind == "unauthenticated")
    assert (problem.segment, problem.seq, problem.line) == (4, 11, 2)
    assert "audit-00000004.jsonl" in problem.message
    assert "record seq 11 (line 2)" in problem.message
    assert "authenticated up to seq 10" in problem.message
    assert (report.records, report.last_seq) == (10, 10)
    assert {p.kind for p in report.problems} <= {"unauthenticated", "truncated", "modified"}


def test_cli_rejects_the_forged_segment_and_suggests_nothing(sealed_log: Path) -> None:
    """The reported attack: exit 1 with --allow-open, and no output suggests a flag."""
    _forged_segment(sealed_log, 4)
    for args in ([], ["--allow-open"]):
        out = _cli(str(sealed_log), *args)
        assert out.returncode == 1, out.stdout
        assert "unauthenticated: segment 4 (audit-00000004.jsonl)" in out.stdout
        assert "--allow-open" not in out.stdout + out.stderr
        assert "OK" not in out.stdout


def test_forged_records_appended_to_a_real_open_segment_are_rejected(open_log: Path) -> None:
    """Records chained onto a genuine open segment without the key: the segment verifies up
    to its last genuine record and the first forged one is named, with a failure."""
    path = segment(open_log, 2)
    content = lines(path)
    prev = orjson.loads(content[-1])["hash"]
    for seq in (7, 8, 9):
        content.append(forge(seq, prev))
        prev = orjson.loads(content[-1])["hash"]
    path.write_bytes(b"".join(content))
    for allow_open in (True, False):
        report = verify(open_log, key=KEY, allow_open=allow_open)
        problems = [p for p in report.problems if p.kind == "unauthenticated"]
        assert len(problems) == 1, report.summary()
        problem = problems[0]
        assert (problem.segment, problem.seq, problem.line) == (2, 7, 4)
        assert "(audit-00000002.jsonl): record seq 7 (line 4) is not authenticated" in (
            problem.message
        )
        assert "it and the 2 line(s) after it are not accepted" in problem.message
        assert (report.records, report.last_seq) == (6, 6)
    out = _cli(str(open_log), "--allow-open")
    assert out.returncode == 1
    assert "record seq 7 (line 4) is not authenticated" in out.stdout


def test_a_forged_record_inside_an_open_segment_is_named_and_not_accepted(open_log: Path) -> None:
    """A forged record inserted between genuine ones is rejected; the genuine ones still are
    accepted up to the last of them."""
    path = segment(open_log, 2)
    content = lines(path)
    seq5 = orjson.loads(content[1])
    content.insert(2, forge(6, seq5["hash"]))  # claims seq 6, before the genuine seq 6
    path.write_bytes(b"".join(content))
    report = verify(open_log, key=KEY, allow_open=True)
    assert [(p.kind, p.seq, p.line) for p in report.problems] == [("unauthenticated", 6, 3)]
    assert "a record inserted without the key" in report.problems[0].message
    assert (report.records, report.last_seq) == (6, 6)


def test_an_altered_signature_is_caught_open_or_sealed(open_log: Path, sealed_log: Path) -> None:
    """A record whose sig was changed: unauthenticated in the open segment, modified in a
    sealed one (the seal covers the content, the record's own signature is checked too)."""
    for directory, index in ((open_log, 2), (sealed_log, 2)):
        path = segment(directory, index)
        content = lines(path)
        rec = orjson.loads(content[2])
        rec["sig"] = rec["sig"][::-1]
        content[2] = canonical(rec) + b"\n"
        path.write_bytes(b"".join(content))
    report = verify(open_log, key=KEY, allow_open=True)
    assert [(p.kind, p.seq, p.line) for p in report.problems] == [("unauthenticated", 6, 3)]
    assert "its signature does not verify" in report.problems[0].message
    report = verify(sealed_log, key=KEY)
    assert [(p.kind, p.seq, p.line) for p in report.problems] == [("modified", 6, 3)]


def test_a_genuine_open_segment_verifies_only_with_allow_open_and_says_why(open_log: Path) -> None:
    """Without allow_open: truncated, with what was checked and the flag that accepts it
    (it accepts no forgery); with it: OK and a note on what is and is not guaranteed."""
    report = verify(open_log, key=KEY)
    assert [p.kind for p in report.problems] == ["truncated"]
    message = report.problems[0].message
    assert "segment 2 (audit-00000002.jsonl) has no seal" in message
    assert "header and all its 2 record(s) are signed" in message
    assert "--allow-open" in message
    report = verify(open_log, key=KEY, allow_open=True)
    assert report.ok, report.summary()
    assert (report.records, report.last_seq, report.seals) == (6, 6, 1)
    assert (report.sealed_signatures, report.signed_records) == (4, 2)
    assert report.notes == (
        "segment 2 (audit-00000002.jsonl) is open (not sealed): its header is signed and its "
        "2 record(s), seq 5 to 6, each carry a valid signature; records cut off the end of "
        "an open segment are not detectable",
    )
    out = _cli(str(open_log), "--allow-open")
    assert out.returncode == 0, out.stdout
    assert out.stdout.splitlines()[:2] == [
        "OK: 6 records in 2 segments",
        "checked: SHA-256 hash chain of 6 record(s), 1 segment seal(s) (hmac-sha256), "
        "4 record signature(s) as sealed, 2 record signature(s) verified one by one",
    ]


def test_the_wrong_key_on_an_open_log_is_one_wrong_key_finding(open_log: Path) -> None:
    """Unsigned-looking lines under a wrong key are the key's fault, reported once."""
    report = verify(open_log, key="another-key-0123456789abcdef", allow_open=True)
    assert [p.kind for p in report.problems] == ["wrong_key"]


def test_a_restart_refuses_to_seal_a_forged_tail(open_log: Path) -> None:
    """A new writer on an open segment with a forged record stops: it never seals it."""
    path = segment(open_log, 2)
    content = lines(path)
    content.append(forge(7, orjson.loads(content[-1])["hash"]))
    path.write_bytes(b"".join(content))
    before = path.read_bytes()

    async def run() -> None:
        exporter = AuditExporter(open_log, key=KEY, fsync=False)
        result = await exporter.export([audit_event(99)])
        assert result.status is ExportStatus.FAILURE
        assert "line 4 (seq 7) is not authenticated" in result.reason
        await exporter.shutdown()

    asyncio.run(run())
    assert path.read_bytes() == before
    assert not segment(open_log, 3).exists()


# A writer that logs one audit event per export, forever, saying which it has
# acknowledged; the test kills it with SIGKILL in the middle.
ENDLESS_WRITER = """
import asyncio, os, sys
sys.path.insert(0, sys.argv[2])
from audit_support import audit_event
from fapilog.audit import AuditExporter

async def main() -> None:
    exporter = AuditExporter(sys.argv[1], key=os.environ["FAPILOG_AUDIT_KEY"], fsync=False,
                             segment_max_records=40)
    i = 0
    while True:
        result = await exporter.export([audit_event(i)])
        assert result.ok, result
        print(i, flush=True)
        i += 1

asyncio.run(main())
"""


def test_a_writer_killed_mid_run_leaves_an_open_segment_verified_to_its_last_record(
    tmp_path: Path,
) -> None:
    """SIGKILL mid-run: with allow_open every acknowledged record is there and authenticated;
    the next writer seals the segment as recovered and the log verifies without the flag."""
    directory = tmp_path / "audit"
    proc = subprocess.Popen(
        [sys.executable, "-c", ENDLESS_WRITER, str(directory), str(Path(__file__).parent)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "FAPILOG_AUDIT_KEY": KEY},
    )
    with proc:
        assert proc.stdout is not None
        acked = [int(proc.stdout.readline()) for _ in range(100)]
        os.kill(proc.pid, signal.SIGKILL)
        acked += [int(line) for line in proc.stdout.read().split()]
    assert proc.returncode == -signal.SIGKILL
    assert acked == list(range(len(acked)))

    report = verify(directory, key=KEY, allow_open=True)
    assert report.ok, report.summary()
    assert report.records >= len(acked)  # what was written but not yet acknowledged, too
    assert report.sealed_signatures + report.signed_records == report.records
    actors = [r["event"]["attributes"]["audit.actor"] for r in iter_records(directory)]
    assert actors[: len(acked)] == [f"admin-{i}" for i in acked]
    if any("is open (not sealed)" in note for note in report.notes):
        assert verify(directory, key=KEY).problems[0].kind == "truncated"
    else:
        # The kill fell between a segment's seal and the next segment's header (a
        # rotation): every segment is sealed, so the log is complete without the flag.
        assert report.records % 40 == 0
        assert report.signed_records == 0
        assert verify(directory, key=KEY).ok

    write_log(directory, 1, start=10_000)
    report = verify(directory, key=KEY)
    assert report.ok, report.summary()
    assert report.records == len(actors) + 1


def test_format_1_logs_still_verify_and_are_continued_in_format_2(tmp_path: Path) -> None:
    """Sealed segments of format 1 verify as before; a new writer continues the chain in
    format 2 and the mixed log verifies."""
    directory = tmp_path / "audit"
    write_v1_log(directory, 10)
    report = verify(directory, key=KEY)
    assert report.ok, report.summary()
    assert (report.records, report.segments, report.sealed_signatures) == (10, 3, 0)
    write_log(directory, 3, start=10)
    report = verify(directory, key=KEY)
    assert report.ok, report.summary()
    assert (report.records, report.segments, report.sealed_signatures) == (13, 4, 3)
    header = orjson.loads(lines(segment(directory, 4))[0])
    assert header["format"] == "fapilog-audit/2" and "sig" in header


def test_an_open_format_1_segment_cannot_be_authenticated(tmp_path: Path) -> None:
    """A format 1 writer that crashed left records without signatures: verify names them as
    unauthenticated (with or without allow_open) and a new writer refuses to seal them."""
    directory = tmp_path / "audit"
    write_v1_log(directory, 6, seal_last=False)
    for allow_open in (False, True):
        report = verify(directory, key=KEY, allow_open=allow_open)
        problem = next(p for p in report.problems if p.kind == "unauthenticated")
        assert (problem.segment, problem.seq, problem.line) == (2, 5, 2)
        assert "fapilog-audit/1" in problem.message

    async def run() -> None:
        exporter = AuditExporter(directory, key=KEY, fsync=False)
        result = await exporter.export([audit_event(1)])
        assert result.status is ExportStatus.FAILURE and "fapilog-audit/1" in result.reason
        await exporter.shutdown()

    asyncio.run(run())


def test_a_format_1_sealed_segment_with_an_added_sig_field_is_modified(tmp_path: Path) -> None:
    """In format 1 the hash covers every field but ``hash``: a field added later shows."""
    directory = tmp_path / "audit"
    write_v1_log(directory, 4)
    path = segment(directory, 1)
    content = lines(path)
    rec = orjson.loads(content[1])
    rec["sig"] = "AAAA"
    content[1] = canonical(rec) + b"\n"
    path.write_bytes(b"".join(content))
    report = verify(directory, key=KEY)
    assert [(p.kind, p.seq) for p in report.problems][:1] == [("modified", 1)]


def test_ed25519_open_segments_are_authenticated_with_the_public_key_only(
    tmp_path: Path,
) -> None:
    """With Ed25519 the records of an open segment verify with the public key; a record
    appended by someone holding only the public key is rejected."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.generate()
    public = private.public_key()
    directory = tmp_path / "audit"
    options = {"key": None, "signing": "ed25519", "private_key": private}
    write_log(directory, 6, segment_max_records=4, close=False, **options)
    report = verify(directory, public_key=public, allow_open=True)
    assert report.ok, report.summary()
    assert (report.records, report.sealed_signatures, report.signed_records) == (6, 4, 2)
    path = segment(directory, 2)
    content = lines(path)
    content.append(forge(7, orjson.loads(content[-1])["hash"]))
    path.write_bytes(b"".join(content))
    report = verify(directory, public_key=public, allow_open=True)
    assert [(p.kind, p.segment, p.seq, p.line) for p in report.problems] == [
        ("unauthenticated", 2, 7, 4)
    ]
