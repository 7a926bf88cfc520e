"""Spool recovery: damaged records, torn tails, a full disk, an unwritable directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fapilog._event import LogEvent
from fapilog.spool import Spool, SpoolUnavailable, inspect
from fapilog.spool._format import HEADER_SIZE, REC_HEADER


def _events(n: int, start: int = 0) -> list[LogEvent]:
    return [LogEvent(timestamp=i, body=f"event {i}") for i in range(start, start + n)]


def _all(spool: Spool, exporter: str) -> list[int]:
    seqs: list[int] = []
    while batch := spool.read(exporter, 37):
        seqs.extend(s for s, _ in batch)
        spool.commit(exporter, batch[-1][0] + 1)
    return seqs


def _record_offsets(path: Path) -> list[int]:
    data = path.read_bytes()
    offsets, pos = [], HEADER_SIZE
    while pos < len(data):
        offsets.append(pos)
        pos += REC_HEADER + int.from_bytes(data[pos + 4 : pos + 8], "little")
    return offsets


def _two_segments(tmp_path: Path) -> tuple[Path, Path]:
    with Spool.open(tmp_path, segment_bytes=4096) as spool:
        spool.register("otlp")
        spool.append(_events(60))  # one segment (a batch is never split)
        spool.append(_events(60, 60))  # the next one
    first, second = sorted((tmp_path / "segments").iterdir())
    return first, second


def test_flipped_bytes_and_a_truncated_segment_lose_only_the_damaged_records(
    tmp_path: Path,
) -> None:
    first, _second = _two_segments(tmp_path)
    offsets = _record_offsets(first)
    data = bytearray(first.read_bytes())
    data[offsets[10] + REC_HEADER + 3] ^= 0xFF  # payload of record 10
    data[offsets[30] + 5] ^= 0x40  # length of record 30
    data[offsets[31] + 20] ^= 0x01  # checksum of record 31
    first.write_bytes(bytes(data[: offsets[50] + 30]))  # cut in the middle of record 50
    report = inspect(tmp_path)
    assert report["corrupt"] == 1 + 2 + 10  # 10, 30-31, 50-59
    assert report["segments"][0]["torn"] is True
    assert report["cursors"]["otlp"]["pending"] == 120

    with Spool.open(tmp_path, segment_bytes=4096) as spool:
        spool.register("otlp")
        got = _all(spool, "otlp")
        damaged = {10, 30, 31, *range(50, 60)}
        assert got == [i for i in range(120) if i not in damaged]
        assert spool.stats().corrupt == 13
        assert _all(spool, "otlp") == []  # counted once, not per read


def test_torn_tail_of_the_last_segment_then_new_records(tmp_path: Path) -> None:
    _first, second = _two_segments(tmp_path)
    data = second.read_bytes()
    second.write_bytes(data[:-7])  # a crash in the middle of the last append
    with Spool.open(tmp_path, segment_bytes=4096) as spool:
        spool.register("otlp")
        # The torn record's number is free again: it never returned from append.
        assert spool.head == 119
        spool.append(_events(3, 1000))
        assert second.read_bytes() == data[:-7]  # a left-behind segment is never appended to
        got = _all(spool, "otlp")
        assert got == list(range(122))  # 119 was torn, then reused by the new append
        assert spool.stats().corrupt == 1
        assert spool.stats().pending == {"otlp": 0}


def test_only_damaged_records_pending_do_not_stay_pending(tmp_path: Path) -> None:
    with Spool.open(tmp_path) as spool:
        spool.register("otlp")
        spool.append(_events(5))
    (segment,) = (tmp_path / "segments").iterdir()
    offsets = _record_offsets(segment)
    data = bytearray(segment.read_bytes())
    data[offsets[3] + REC_HEADER] ^= 0xFF
    segment.write_bytes(bytes(data))
    with Spool.open(tmp_path) as spool:
        spool.register("otlp")
        spool.commit("otlp", 3)
        assert spool.read("otlp") == [(4, spool.read("otlp")[0][1])]
        spool.commit("otlp", 5)
        assert spool.pending("otlp") == 0 and spool.stats().corrupt == 1


def test_damaged_header_still_delivers_its_records(tmp_path: Path) -> None:
    first, _second = _two_segments(tmp_path)
    data = bytearray(first.read_bytes())
    data[3] ^= 0xFF
    first.write_bytes(bytes(data))
    assert inspect(tmp_path)["segments"][0]["header_ok"] is False
    with Spool.open(tmp_path) as spool:
        spool.register("otlp")
        assert _all(spool, "otlp") == list(range(120))


def test_a_newer_format_is_refused(tmp_path: Path) -> None:
    from fapilog.spool._format import pack_header

    (tmp_path / "segments").mkdir()
    header = bytearray(pack_header(0, 0, b"w" * 8))
    header[8] = 9  # version 9, checksum recomputed
    import hashlib

    header[36:40] = hashlib.blake2b(bytes(header[:36]), digest_size=4).digest()
    (tmp_path / "segments" / f"{0:020d}.seg").write_bytes(bytes(header))
    with pytest.raises(SpoolUnavailable, match="format version 9"):
        Spool.open(tmp_path)
    Spool.open(tmp_path / "other").close()  # and the lock was released


_FILL = """
import resource, signal, sys
from fapilog._event import LogEvent
from fapilog.spool import Spool, SpoolUnavailable
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
spool = Spool.open(sys.argv[1])
spool.register("otlp")
resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))
written = failures = 0
errors = set()
for i in range(100):
    try:
        written += spool.append([LogEvent(timestamp=i, body="x" * 500)]).count
    except SpoolUnavailable as exc:
        failures += 1
        errors.add(str(exc))
got = 0
while batch := spool.read("otlp", 1000):
    got += len(batch)
    spool.commit("otlp", batch[-1][0] + 1)
print(written, failures, got, spool.stats().corrupt, spool.head, sorted(errors), flush=True)
spool.close()
"""


def test_file_size_limit_raises_spool_unavailable_and_leaves_no_torn_record(
    tmp_path: Path,
) -> None:
    out = subprocess.run(
        [sys.executable, "-c", _FILL, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split(" ", 5)
    written, failures, got, corrupt, head = map(int, out[:5])
    assert 0 < written < 100 and written + failures == 100
    assert got == written == head and corrupt == 0
    assert "[EFBIG]" in out[5] and "spool segment" in out[5]
    assert inspect(tmp_path)["corrupt"] == 0


def _make_read_only(path: Path) -> bool:
    if os.geteuid() != 0:
        path.chmod(0o555)
        return True
    if shutil.which("chattr") is None:
        return False
    return subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode == 0


def _undo_read_only(path: Path) -> None:
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(path)], capture_output=True)
    path.chmod(0o755)


def test_read_only_directory_is_unavailable_not_a_crash(tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    Spool.open(spool_dir).close()
    if not _make_read_only(spool_dir / "segments"):
        pytest.skip("cannot make a directory read-only for root here (no chattr)")
    try:
        with pytest.raises(SpoolUnavailable) as info:
            Spool.open(spool_dir)
        assert info.value.errno is not None
        assert "cannot write in the spool directory" in str(info.value)
        assert "spool" in str(info.value) and str(spool_dir) in str(info.value)
    finally:
        _undo_read_only(spool_dir / "segments")
    Spool.open(spool_dir).close()  # the lock was released


def test_uncreatable_directory_is_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(SpoolUnavailable, match="cannot create the spool directory"):
        Spool.open(blocker / "spool")
