"""``fapilog spool inspect`` and ``fapilog spool drain`` on directories written by ``Spool``.

The directories are built through the store's own API (``Spool.open``/``append``/
``commit``), then damaged the way a disk or a crash damages them (flipped bytes in a
record, a segment cut mid-record). ``drain`` runs as the operator runs it: the
``fapilog`` command in a subprocess, exporters from ``FAPILOG_EXPORTERS``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from fapilog.__main__ import main
from fapilog.exporters import Exporter, ExportResult
from fapilog.plugin import LogEvent
from fapilog.spool import Spool

if TYPE_CHECKING:
    from collections.abc import Sequence

BATCH = 10


def _event(i: int) -> LogEvent:
    return LogEvent(
        timestamp=1_700_000_000_000_000_000 + i,
        severity_text="INFO",
        severity_number=9,
        body=f"event {i}",
        attributes={"i": i, "user": "u1"},
    )


def _write(directory: Path, batches: int, *, start: int = 0) -> None:
    """``batches`` appends of ``BATCH`` events, bodies ``event <start>``, ``event <start+1>``..."""
    spool = Spool.open(directory)
    try:
        for b in range(batches):
            first = start + b * BATCH
            spool.append([_event(i) for i in range(first, first + BATCH)])
    finally:
        spool.close()


def _segments(directory: Path) -> list[Path]:
    return sorted((directory / "segments").glob("*.seg"))


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _drain(directory: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "FAPILOG_EXPORTERS": "file",
        "FAPILOG_FILE_PATH": str(out),
    }
    return subprocess.run(
        [sys.executable, "-m", "fapilog", "spool", "drain", str(directory), "--json", *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _bodies(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [json.loads(line)["body"] for line in path.read_text().splitlines() if line]


# -- inspect ----------------------------------------------------------------------------


def test_inspect_lists_segments_sequence_ranges_and_pending_per_exporter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "spool"
    _write(directory, 3)  # 30 records, sequences 0..29
    spool = Spool.open(directory)
    spool.register("file")
    spool.commit("file", 12)
    spool.register("otlp")
    spool.commit("otlp", 30)
    spool.close()

    code, out, _ = _cli(capsys, "spool", "inspect", str(directory), "--json")
    assert code == 0
    info = json.loads(out)
    segments = info["segments"]
    assert segments, info
    assert sum(s["records"] for s in segments) == 30
    assert min(s["first_seq"] for s in segments) == 0
    assert max(s["last_seq"] for s in segments) == 29
    assert all(s["bytes"] == (directory / "segments" / s["name"]).stat().st_size for s in segments)
    assert info["cursors"]["file"]["pending"] == 18
    assert info["cursors"]["otlp"]["pending"] == 0
    assert info["corrupt"] == 0
    assert not info.get("lock")

    code, text, _ = _cli(capsys, "spool", "inspect", str(directory))
    assert code == 0
    assert "lock: free" in text
    assert "0..29" in text or "0.." in text
    lines = {line.split()[0]: line.split() for line in text.splitlines() if line.startswith("  ")}
    assert lines["file"][1:] == ["12", "18"]
    assert lines["otlp"][1:] == ["30", "0"]
    assert "corrupt records: 0" in text


def _damage(directory: Path) -> tuple[Path, Path]:
    """Three segments of 10 records: flip bytes in the middle of the first one's 5th
    record, cut the second one in the middle of its last record."""
    for b in range(3):
        _write(directory, 1, start=b * BATCH)  # one segment per open
    first, second, _third = _segments(directory)
    assert len(_segments(directory)) == 3
    data = bytearray(first.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 4] = bytes(x ^ 0xFF for x in data[middle : middle + 4])
    first.write_bytes(bytes(data))
    size = second.stat().st_size
    with second.open("r+b") as f:
        f.truncate(size - 7)
    return first, second


def test_inspect_counts_a_corrupted_and_a_truncated_segment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "spool"
    first, second = _damage(directory)

    code, out, _ = _cli(capsys, "spool", "inspect", str(directory), "--json")
    assert code == 0
    info = json.loads(out)
    by_name = {s["name"]: s for s in info["segments"]}
    assert by_name[first.name]["corrupt"] >= 1
    assert by_name[first.name]["records"] <= 9
    assert by_name[second.name]["records"] == 9  # its torn last record is not counted
    assert by_name[second.name]["corrupt"] + int(bool(by_name[second.name].get("torn"))) >= 1
    assert info["corrupt"] >= 2

    code, text, _ = _cli(capsys, "spool", "inspect", str(directory))
    assert code == 0
    assert f"corrupt records: {info['corrupt']}" in text


def test_inspect_refuses_what_is_not_a_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _cli(capsys, "spool", "inspect", str(tmp_path / "missing"))
    assert code == 2
    assert "no such directory" in err


# -- drain ------------------------------------------------------------------------------


def test_drain_delivers_every_pending_record_exactly_once_then_nothing(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    _write(directory, 5)  # 50 records
    spool = Spool.open(directory)
    spool.register("file")
    spool.commit("file", 20)  # a crashed job had delivered 0..19 to its file exporter
    spool.close()
    out = tmp_path / "delivered.jsonl"

    done = _drain(directory, out)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is True
    assert report["delivered"] == 30
    assert report["pending"] == 0
    assert _bodies(out) == [f"event {i}" for i in range(20, 50)]

    again = _drain(directory, out)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["delivered"] == 0
    assert _bodies(out) == [f"event {i}" for i in range(20, 50)]


def test_drain_skips_damaged_records_and_delivers_all_others(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    _damage(directory)
    out = tmp_path / "delivered.jsonl"

    done = _drain(directory, out)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    bodies = _bodies(out)
    assert len(bodies) == len(set(bodies)) == report["delivered"]
    # the third, undamaged segment arrives whole; the second loses only its torn last record
    assert {f"event {i}" for i in range(10, 19)} | {f"event {i}" for i in range(20, 30)} <= set(
        bodies
    )
    assert "event 19" not in bodies
    assert report["corrupt"] >= 2
    assert 26 <= report["delivered"] <= 28


class FlakyExporter(Exporter):
    """Fails as told by ``FAPILOG_TEST_FLAKY``: ``failure`` or ``retryable``."""

    api_version = "1.0"
    name = "flaky"

    async def export(self, batch: Sequence[LogEvent]) -> ExportResult:
        if os.environ.get("FAPILOG_TEST_FLAKY") == "failure":
            return ExportResult.failure("backend said no")
        return ExportResult.retryable("backend unavailable")


@pytest.fixture
def flaky(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = EntryPoint("flaky", f"{__name__}:FlakyExporter", "fapilog.exporters")
    real = __import__("importlib.metadata").metadata.entry_points

    def fake(*, group: str) -> Any:
        return [*real(group=group), *([entry] if group == "fapilog.exporters" else [])]

    monkeypatch.setattr("fapilog.exporters._registry.entry_points", fake)
    monkeypatch.setenv("FAPILOG_RETRY_INITIAL_BACKOFF_MS", "10")
    monkeypatch.setenv("FAPILOG_RETRY_MAX_BACKOFF_MS", "20")


@pytest.mark.parametrize("mode", ["failure", "retryable"])
def test_drain_that_cannot_deliver_exits_1_with_counts_and_keeps_the_records(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    flaky: None,
    mode: str,
) -> None:
    monkeypatch.setenv("FAPILOG_TEST_FLAKY", mode)
    directory = tmp_path / "spool"
    _write(directory, 2)

    code, out, _ = _cli(
        capsys, "spool", "drain", str(directory), "--exporters", "flaky", "--timeout", "0.5"
    )
    assert code == 1
    assert "flaky: 0 delivered, 20 pending" in out
    assert ("backend said no" in out) if mode == "failure" else ("gave up" in out)
    assert "20 record(s) still pending" in out

    code, out, _ = _cli(capsys, "spool", "inspect", str(directory), "--json")
    assert json.loads(out)["cursors"]["flaky"]["pending"] == 20


def test_drain_never_expires_records_older_than_the_default_max_age(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    flaky: None,
) -> None:
    """A directory left behind for longer than ``spool_max_age_s`` (7 days by default)
    is still drained whole, also by a second drain after one that could not deliver."""
    monkeypatch.setenv("FAPILOG_TEST_FLAKY", "failure")
    directory = tmp_path / "spool"
    _write(directory, 2)
    eight_days_ago = time.time() - 8 * 86400
    for segment in _segments(directory):
        os.utime(segment, (eight_days_ago, eight_days_ago))

    code, out, _ = _cli(capsys, "spool", "drain", str(directory), "--exporters", "flaky")
    assert code == 1
    assert "flaky: 0 delivered, 20 pending" in out
    code, out, _ = _cli(capsys, "spool", "inspect", str(directory), "--json")
    info = json.loads(out)
    assert sum(s["records"] for s in info["segments"]) == 20  # nothing expired meanwhile
    assert info["cursors"]["flaky"]["pending"] == 20

    delivered = tmp_path / "delivered.jsonl"
    monkeypatch.setenv("FAPILOG_FILE_PATH", str(delivered))
    code, out, err = _cli(capsys, "spool", "drain", str(directory), "--exporters", "file")
    assert code == 0, out + err
    assert "file: 20 delivered, 0 pending" in out
    assert _bodies(delivered) == [f"event {i}" for i in range(20)]


def test_drain_without_named_exporters_says_how_to_name_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FAPILOG_EXPORTERS", raising=False)
    monkeypatch.delenv("OTEL_LOGS_EXPORTER", raising=False)
    directory = tmp_path / "spool"
    _write(directory, 1)
    spool = Spool.open(directory)
    spool.register("otlp")
    spool.close()

    code, _, err = _cli(capsys, "spool", "drain", str(directory))
    assert code == 2
    assert "--exporters" in err
    assert "otlp" in err  # the cursors found in the directory


HOLDER = textwrap.dedent(
    """
    import sys
    from fapilog.spool import Spool

    spool = Spool.open(sys.argv[1])
    print("ready", flush=True)
    sys.stdin.read()
    spool.close()
    """
)


def test_a_directory_another_process_holds_gives_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "spool"
    _write(directory, 1)
    with subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(directory)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        assert holder.stdin is not None
        assert holder.stdout is not None
        try:
            assert holder.stdout.readline().strip() == "ready"

            code, out, err = _cli(
                capsys, "spool", "drain", str(directory), "--exporters", "memory", "--timeout", "5"
            )
            assert code == 2
            assert str(holder.pid) in err
            assert "wait for that process" in err
            assert out == ""

            code, text, _ = _cli(capsys, "spool", "inspect", str(directory))
            assert code == 0
            assert f"lock: held by pid {holder.pid}" in text
        finally:
            holder.stdin.close()
            holder.wait(timeout=10)
    # once the holder is gone, the directory drains (the kernel released its lock)
    code, out, _ = _cli(capsys, "spool", "drain", str(directory), "--exporters", "memory")
    assert code == 0, out
    assert "memory: 10 delivered, 0 pending" in out


def _writable_despite_mode(directory: Path) -> bool:
    probe = directory / ".probe"
    try:
        probe.write_bytes(b"")
    except OSError:
        return False
    probe.unlink()
    return True


def test_read_only_directory_inspects_but_does_not_drain(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "spool"
    _write(directory, 2)
    before = {p: p.read_bytes() for p in directory.rglob("*") if p.is_file()}
    modes = [(p, p.stat().st_mode) for p in [directory, *directory.rglob("*")]]
    for p, mode in modes:
        p.chmod(mode & 0o555)
    try:
        if _writable_despite_mode(directory):
            pytest.skip("file modes do not bind this user (root): nothing is read-only")
        code, out, _ = _cli(capsys, "spool", "inspect", str(directory), "--json")
        assert code == 0
        assert sum(s["records"] for s in json.loads(out)["segments"]) == 20

        code, out, err = _cli(capsys, "spool", "drain", str(directory), "--exporters", "memory")
        assert code == 2
        assert "cannot be written" in err
        assert "drain the copy" in err
    finally:
        for p, mode in modes:
            p.chmod(mode)
    assert {p: p.read_bytes() for p in directory.rglob("*") if p.is_file()} == before


def test_drain_refuses_a_directory_it_cannot_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What ``Spool.open`` raises on a read-only file system (EROFS), as root too."""
    import errno

    from fapilog.spool import SpoolUnavailable

    directory = tmp_path / "spool"
    _write(directory, 1)

    def read_only(*args: Any, **kwargs: Any) -> Spool:
        raise SpoolUnavailable(errno.EROFS, f"{directory}: Read-only file system")

    monkeypatch.setattr(Spool, "open", read_only)
    code, out, err = _cli(capsys, "spool", "drain", str(directory), "--exporters", "memory")
    assert code == 2
    assert out == ""
    assert "cannot be written" in err
    assert "Read-only file system" in err
    assert "drain the copy" in err


def test_a_drain_whose_time_ran_out_leaves_no_coroutine_unawaited(tmp_path: Path) -> None:
    """With the deadline already past, drain stops without creating an exporter call it
    never awaits (a RuntimeWarning, an error under this suite's filterwarnings)."""
    import asyncio
    import gc
    import time
    import warnings

    from fapilog import Settings
    from fapilog.cli._spool import _drain_one
    from fapilog.plugin import RetryPolicy
    from fapilog.spool import Spool
    from fapilog.testing import InMemoryExporter

    spool = Spool.open(tmp_path / "spool")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # "coroutine ... was never awaited" would raise
            outcome = asyncio.run(
                _drain_one(
                    spool,
                    "memory",
                    InMemoryExporter(),
                    RetryPolicy(),
                    Settings.load(),
                    time.monotonic() - 1.0,
                )
            )
            gc.collect()
    finally:
        spool.close()
    assert outcome.error == "--timeout ran out"
