"""Spool: append, read, commit, reopen, cursors, lock, bounds, durability policies."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from fapilog._event import LogEvent
from fapilog.errors import ConfigError
from fapilog.spool import RECORD_ID, Spool, SpoolLockedError, inspect


def _events(n: int, start: int = 0, pad: int = 0) -> list[LogEvent]:
    return [
        LogEvent(
            timestamp=start + i, body=f"event {start + i}" + "x" * pad, attributes={"n": start + i}
        )
        for i in range(n)
    ]


def _bodies(records: list[tuple[int, LogEvent]]) -> list[object]:
    return [event.body for _seq, event in records]


def _drain(spool: Spool, exporter: str) -> list[tuple[int, LogEvent]]:
    out: list[tuple[int, LogEvent]] = []
    while batch := spool.read(exporter, 100):
        out.extend(batch)
        spool.commit(exporter, batch[-1][0] + 1)
    return out


@pytest.mark.parametrize("fsync", ["batch", "interval", "never"])
def test_append_read_commit_survive_reopen(tmp_path: Path, fsync: str) -> None:
    spool = Spool.open(tmp_path, fsync=fsync)  # type: ignore[arg-type]
    spool.register("otlp")
    events = _events(250)
    result = spool.append(events)
    assert (result.first_seq, result.count, result.dropped) == (0, 250, {})
    ids = [e.attributes[RECORD_ID] for e in events]
    assert len(set(ids)) == 250 and ids[7].endswith(":7")
    first = spool.read("otlp", max_events=100)
    assert [s for s, _ in first] == list(range(100))
    assert first[3][1] == events[3]  # lossless, record id included
    spool.commit("otlp", 100)
    assert spool.pending("otlp") == 150
    spool.close()

    again = Spool.open(tmp_path, fsync=fsync)  # type: ignore[arg-type]
    assert again.register("otlp") == 100
    assert again.stats().recovered == {"otlp": 150}
    rest = _drain(again, "otlp")
    assert [s for s, _ in rest] == list(range(100, 250))
    assert [e.attributes[RECORD_ID] for _, e in rest] == ids[100:]  # stable across reopen
    # New records continue the sequence, with this session's writer id.
    more = _events(2, 250)
    assert again.append(more).first_seq == 250
    assert more[0].attributes[RECORD_ID].split(":")[0] != ids[0].split(":")[0]
    assert _bodies(again.read("otlp")) == ["event 250", "event 251"]
    again.close()


def test_cursors_are_independent(tmp_path: Path) -> None:
    with Spool.open(tmp_path) as spool:
        spool.register("fast")
        spool.register("slow")
        spool.append(_events(50))
        assert len(_drain(spool, "fast")) == 50
        assert spool.pending("fast") == 0
        assert spool.pending("slow") == 50
        assert _bodies(spool.read("slow", 5)) == [f"event {i}" for i in range(5)]


def test_new_exporter_on_a_left_behind_directory_gets_the_backlog(tmp_path: Path) -> None:
    with Spool.open(tmp_path) as spool:  # a process that never registered anyone
        spool.append(_events(20))
    with Spool.open(tmp_path) as spool:
        assert spool.register("otlp") == 0
        assert spool.stats().recovered == {"otlp": 20}
        spool.commit("otlp", 15)
        # A second, new exporter starts where the least advanced cursor is.
        assert spool.register("file") == 15
        spool.forget("file")
        assert "file" not in spool.stats().cursors
        assert not (tmp_path / "cursors" / "file.cur").exists()


def test_read_honours_limits_and_returns_one_oversized_record(tmp_path: Path) -> None:
    with Spool.open(tmp_path) as spool:
        spool.register("a")
        spool.append(_events(10, pad=1000))
        assert len(spool.read("a", max_events=3)) == 3
        assert len(spool.read("a", max_events=100, max_bytes=2500)) == 2
        assert len(spool.read("a", max_events=100, max_bytes=10)) == 1
        assert [s for s, _ in spool.read("a", 2, start=8)] == [8, 9]


def test_commit_validates(tmp_path: Path) -> None:
    with Spool.open(tmp_path) as spool:
        spool.register("a")
        spool.append(_events(3))
        with pytest.raises(ValueError, match="head is 3"):
            spool.commit("a", 4)
        with pytest.raises(KeyError):
            spool.commit("nobody", 1)
        spool.commit("a", 2)
        spool.commit("a", 1)  # never moves back
        assert spool.stats().cursors == {"a": 2}


def test_invalid_parameters_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="fsync"):
        Spool.open(tmp_path, fsync="always")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="overflow"):
        Spool.open(tmp_path, overflow="spill")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="max_bytes"):
        Spool.open(tmp_path, max_bytes=10)


def test_second_spool_in_this_process_is_refused(tmp_path: Path) -> None:
    with (
        Spool.open(tmp_path),
        pytest.raises(SpoolLockedError, match=rf"pid {os.getpid()} \(this process\)"),
    ):
        Spool.open(tmp_path)
    Spool.open(tmp_path).close()  # released on close


_HOLDER = """
import sys
from fapilog.spool import Spool
spool = Spool.open(sys.argv[1])
spool.register("otlp")
spool.append([])
print("ready", flush=True)
sys.stdin.read()
"""


def test_second_process_is_refused_with_pid_and_fix(tmp_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        with pytest.raises(SpoolLockedError) as info:
            Spool.open(tmp_path)
        message = str(info.value)
        assert f"pid {child.pid}" in message
        assert "its own" in message and "fapilog spool drain" in message
        assert info.value.fields == ("spool_dir",)
        assert inspect(tmp_path)["lock"] == {"pid": child.pid, "alive": True}
        child.kill()  # a killed owner leaves no stale lock
        child.wait(10)
        Spool.open(tmp_path).close()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
        for stream in (child.stdin, child.stdout):
            if stream is not None:
                stream.close()


# -- bounds ---------------------------------------------------------------------------


def _open_small(path: Path, overflow: str) -> Spool:
    # ~100-byte records, 1 KiB segments, 4 KiB in all.
    spool = Spool.open(path, max_bytes=4096, segment_bytes=1024, overflow=overflow)  # type: ignore[arg-type]
    spool.register("a")
    spool.register("b")
    return spool


def test_drop_oldest_deletes_whole_old_segments_and_counts_per_exporter(tmp_path: Path) -> None:
    with _open_small(tmp_path, "drop_oldest") as spool:
        for i in range(100):
            result = spool.append(_events(1, i))
            assert result.count == 1
        stats = spool.stats()
        assert stats.bytes <= 4096
        assert stats.head_seq == 100
        lost = stats.lost["a"]["spool_full"]
        assert lost == stats.oldest_seq  # everything older than what is on disk
        assert stats.lost["b"] == {"spool_full": lost}
        assert stats.dropped == {"spool_full": lost}
        got = _drain(spool, "a")
        assert [s for s, _ in got] == list(range(stats.oldest_seq, 100))  # the newest kept


def test_drop_oldest_keeps_delivered_space_first(tmp_path: Path) -> None:
    with _open_small(tmp_path, "drop_oldest") as spool:
        for i in range(100):
            spool.append(_events(1, i))
            for name in ("a", "b"):
                _drain(spool, name)
        stats = spool.stats()
        assert stats.dropped == {} and stats.lost == {}
        assert stats.bytes <= 4096


def test_drop_newest_writes_what_fits_and_drops_the_rest(tmp_path: Path) -> None:
    with _open_small(tmp_path, "drop_newest") as spool:
        result = spool.append(_events(100))
        assert result.start == 0 and 0 < result.count < 100
        assert result.dropped == {"spool_full": 100 - result.count}
        assert RECORD_ID not in _events(1)[0].attributes
        assert spool.stats().dropped == {"spool_full": 100 - result.count}
        assert [s for s, _ in _drain(spool, "a")] == list(range(result.count))


def test_block_waits_for_deliveries_then_writes(tmp_path: Path) -> None:
    with _open_small(tmp_path, "block") as spool:
        first = spool.append(_events(100))
        assert first.dropped == {} and first.unwritten == 100 - first.count
        assert spool.append(_events(5), timeout=0).count == 0  # full, nothing dropped

        def deliver() -> None:
            for name in ("a", "b"):
                _drain(spool, name)

        # Fill a second segment so that delivering the first frees one.
        thread = threading.Timer(0.05, deliver)
        thread.start()
        result = spool.append(_events(5, 1000), timeout=5)
        thread.join()
        assert result.count == 5
        assert spool.stats().dropped == {}


def test_max_age_expires_segments_and_counts_undelivered(tmp_path: Path) -> None:
    with Spool.open(tmp_path, max_age_s=60, segment_bytes=2048) as spool:
        spool.register("a")
        spool.append(_events(40, pad=50))
        spool.append(_events(40, 40, pad=50))
        spool.commit("a", 10)
        segments = sorted((tmp_path / "segments").iterdir())
        assert len(segments) >= 2
        old = time.time() - 3600
        os.utime(segments[0], (old, old))
        result = spool.gc()
        assert result.segments == 1
        stats = spool.stats()
        expired = stats.oldest_seq - 10
        assert result.expired == {"a": expired} and expired > 0
        assert stats.lost == {"a": {"spool_expired": expired}}
        assert spool.read("a", 1)[0][0] == stats.oldest_seq
        # With everything older than max_age, the whole spool expires.
        assert spool.gc(now=time.time() + 120).segments == len(segments) - 1
        assert spool.stats().pending == {"a": 0}
        assert spool.append(_events(1)).count == 1  # and keeps working


def test_interval_policy_syncs_in_the_background(tmp_path: Path) -> None:
    spool = Spool.open(tmp_path, fsync="interval", fsync_interval_s=0.01)
    try:
        spool.append(_events(3))
        deadline = time.monotonic() + 5
        while spool._dirty and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not spool._dirty
    finally:
        spool.close()
    assert spool._sync_thread is not None and not spool._sync_thread.is_alive()
