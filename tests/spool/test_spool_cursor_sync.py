"""Cursors: written in place on every commit, fsynced at most once a second (batch)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fapilog._event import LogEvent
from fapilog.spool import Spool, _spool
from fapilog.spool._format import pack_cursor, unpack_cursor


def _events(n: int) -> list[LogEvent]:
    return [LogEvent(timestamp=i, body=f"event {i}") for i in range(n)]


def test_cursor_file_is_fixed_width_and_checked() -> None:
    small, large = pack_cursor("otlp", 0), pack_cursor("otlp", 2**64 - 1)
    assert len(small) == len(large)
    assert unpack_cursor(small, "otlp") == 0
    assert unpack_cursor(large, "otlp") == 2**64 - 1
    assert unpack_cursor(small, "file") is None  # another exporter's file
    # A cursor whose digits changed (a torn rewrite) does not check: treated as missing.
    assert unpack_cursor(pack_cursor("otlp", 1999).replace(b"1999", b"2099"), "otlp") is None
    # The earlier layout, without a check, is still read.
    assert unpack_cursor(b'{"exporter":"otlp","next_seq":7}', "otlp") == 7


def test_commit_rewrites_the_cursor_in_place(tmp_path: Path) -> None:
    with Spool.open(tmp_path, fsync="never") as spool:
        spool.register("otlp")
        spool.append(_events(10))
        path = tmp_path / "cursors" / "otlp.cur"
        inode = path.stat().st_ino
        for seq in range(1, 11):
            spool.commit("otlp", seq)
            assert unpack_cursor(path.read_bytes(), "otlp") == seq
        assert path.stat().st_ino == inode
        assert not list((tmp_path / "cursors").glob("*.tmp"))


def test_a_damaged_cursor_replays_from_the_oldest_record(tmp_path: Path) -> None:
    with Spool.open(tmp_path) as spool:
        spool.register("otlp")
        spool.append(_events(10))
        spool.commit("otlp", 6)
    path = tmp_path / "cursors" / "otlp.cur"
    path.write_bytes(path.read_bytes().replace(b'"next_seq":6', b'"next_seq":9'))
    with Spool.open(tmp_path) as again:
        assert again.register("otlp") == 0  # duplicates, never a skipped record


_CHILD = """
import os, sys
from fapilog._event import LogEvent
from fapilog.spool import Spool
spool = Spool.open(sys.argv[1])
spool.register("otlp")
spool.append([LogEvent(timestamp=i, body=str(i)) for i in range(50)])
for seq in range(1, 31):
    spool.commit("otlp", seq)
os._exit(0)  # no close: as a SIGKILL after the last commit returned
"""


def test_every_commit_survives_a_crash_of_the_process(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path)], check=True, timeout=60)
    with Spool.open(tmp_path) as spool:
        assert spool.register("otlp") == 30
        assert spool.pending("otlp") == 20


def test_batch_policy_fsyncs_a_cursor_at_most_once_a_second(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    real = _spool._fdatasync

    def counting(fd: int) -> None:
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".cur"):
            synced.append(fd)
        real(fd)

    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to tell cursor files from segments")
    monkeypatch.setattr(_spool, "_fdatasync", counting)
    monkeypatch.setattr(_spool, "CURSOR_SYNC_S", 3600.0)
    with Spool.open(tmp_path, fsync="batch") as spool:
        spool.register("otlp")  # a new cursor is fsynced (os.fsync) when it is made
        spool.append(_events(100))
        for seq in range(1, 101):
            spool.commit("otlp", seq)
        assert synced == []  # in place, no fsync: a process crash keeps it anyway
        spool.gc()  # the periodic collection fsyncs what was written since
        assert len(synced) == 1
        spool.gc()
        assert len(synced) == 1  # nothing new to sync
        spool.commit("otlp", 100)  # not a move: nothing written
        assert len(synced) == 1
    assert unpack_cursor((tmp_path / "cursors" / "otlp.cur").read_bytes(), "otlp") == 100
