"""FileExporter compress="gzip": rotated files compressed off the export path, crash-safe."""

from __future__ import annotations

import asyncio
import calendar
import gzip
import os
import re
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from fapilog import LogEvent
from fapilog._diagnostics import reporter
from fapilog.exporters import file as file_module
from fapilog.exporters._jsonl import encode_json_line
from fapilog.exporters.file import FileExporter

T0 = float(calendar.timegm((2026, 11, 23, 10, 59, 59))) + 0.25
STAMP = r"\d{8}T\d{12}Z"


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def ev(body: str) -> LogEvent:
    return LogEvent(
        timestamp=1_795_462_800_000_000_000, severity_text="INFO", severity_number=9, body=body
    )


LINE = len(encode_json_line(ev("m000")))


def batch(*numbers: int) -> list[LogEvent]:
    return [ev(f"m{n:03d}") for n in numbers]


def stamp(moment: float) -> str:
    return file_module._stamp(round(moment * 1_000_000))


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def gz_bodies(path: Path) -> list[str]:
    return [orjson.loads(line)["body"] for line in gzip.decompress(path.read_bytes()).splitlines()]


def bodies(path: Path) -> list[str]:
    return [orjson.loads(line)["body"] for line in path.read_bytes().splitlines()]


def compressed(directory: Path) -> list[Path]:
    return sorted(
        p for p in directory.iterdir() if re.fullmatch(rf"app\.{STAMP}\.jsonl\.gz", p.name)
    )


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "app.jsonl"


async def ok(exporter: FileExporter, events: list[LogEvent]) -> None:
    result = await exporter.export(events)
    assert result.ok, result


def idle(exporter: FileExporter) -> None:
    assert exporter._compressor is not None
    assert exporter._compressor.wait_idle(10)


async def test_a_rotated_file_is_replaced_by_its_gzip(log_path: Path) -> None:
    """Each rotated file becomes <rotated name>.gz with the same lines; the live file stays."""
    exporter = FileExporter(log_path, max_bytes=2 * LINE, compress="gzip", clock=Clock())
    await ok(exporter, batch(0, 1, 2))
    idle(exporter)
    await exporter.shutdown()
    assert names(log_path.parent) == ["app.20261123T105959250000Z.jsonl.gz", "app.jsonl"]
    (gz,) = compressed(log_path.parent)
    assert gz_bodies(gz) == ["m000", "m001"]
    assert bodies(log_path) == ["m002"]
    assert gz.stat().st_mode & 0o777 == 0o600  # as private as the log it came from


async def test_compression_is_off_by_default(log_path: Path) -> None:
    exporter = FileExporter(log_path, max_bytes=LINE, clock=Clock())
    await ok(exporter, batch(0, 1))
    await exporter.shutdown()
    assert names(log_path.parent) == ["app.20261123T105959250000Z.jsonl", "app.jsonl"]
    assert exporter._compressor is None


def test_an_unknown_compression_is_rejected(log_path: Path) -> None:
    with pytest.raises(ValueError, match="compress must be 'none' or 'gzip'"):
        FileExporter(log_path, compress="zstd")  # type: ignore[arg-type]


async def test_a_slow_compression_does_not_hold_up_exports(
    log_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Compression runs on its own thread: exports go on while it is stuck."""
    release = threading.Event()
    started = threading.Event()
    threads: list[str] = []
    original = file_module._Compressor._write

    def slow_write(self: Any, src: int, temporary: Path) -> int | None:
        threads.append(threading.current_thread().name)
        started.set()
        release.wait(10)
        return original(self, src, temporary)

    monkeypatch.setattr(file_module._Compressor, "_write", slow_write)
    exporter = FileExporter(log_path, max_bytes=LINE, backup_count=None, compress="gzip")
    await ok(exporter, batch(0, 1))  # rotates once: the compressor starts and blocks
    assert await asyncio.to_thread(started.wait, 10)
    for n in range(2, 6):  # every one of these rotates too
        await ok(exporter, batch(n))
    release.set()
    idle(exporter)
    await exporter.shutdown()
    assert threads[0] == "fapilog-gzip-app.jsonl"
    assert sorted(b for gz in compressed(log_path.parent) for b in gz_bodies(gz)) == [
        f"m{n:03d}" for n in range(5)
    ]


async def test_compressed_files_count_toward_backup_count(log_path: Path) -> None:
    """Retention keeps the newest backup_count rotated files, compressed or not."""
    clock = Clock()
    exporter = FileExporter(log_path, max_bytes=LINE, backup_count=2, compress="gzip", clock=clock)
    for n in range(6):
        clock.now = T0 + n
        await ok(exporter, batch(n))
        idle(exporter)
    await exporter.shutdown()
    assert [gz_bodies(p) for p in compressed(log_path.parent)] == [["m003"], ["m004"]]
    assert len(names(log_path.parent)) == 3


async def test_compressed_files_expire_by_age(log_path: Path) -> None:
    """max_age applies to .gz files by the time in their name."""
    hour = 3600.0
    old = log_path.with_name(f"app.{stamp(T0 - 2 * hour)}.jsonl.gz")
    young = log_path.with_name(f"app.{stamp(T0 - 0.5 * hour)}.jsonl.gz")
    for p in (old, young):
        p.write_bytes(gzip.compress(b"x\n"))
    exporter = FileExporter(
        log_path, backup_count=None, max_age=timedelta(hours=1), compress="gzip", clock=Clock()
    )
    await ok(exporter, [ev("a")])
    await exporter.shutdown()
    assert not old.exists() and young.exists()


async def test_a_crash_leftover_is_cleaned_and_the_compression_completed(
    log_path: Path,
) -> None:
    """At start: dead writers' .tmp files go, the rotated file they were compressing is
    compressed; a live writer's .tmp is left alone."""
    rotated = log_path.with_name(f"app.{stamp(T0 - 60)}.jsonl")
    rotated.write_bytes(b"".join(encode_json_line(e) for e in batch(0, 1)))
    ours = rotated.with_name(f"{rotated.name}.gz.{os.getpid()}-deadbeef.tmp")  # an earlier life
    ours.write_bytes(b"\x1f\x8b partial")
    alive = log_path.with_name(f"app.{stamp(T0 - 30)}.jsonl.gz.{os.getppid()}-0123abcd.tmp")
    alive.write_bytes(b"\x1f\x8b still being written")
    exporter = FileExporter(log_path, compress="gzip", clock=Clock())
    await ok(exporter, [ev("new")])
    idle(exporter)
    await exporter.shutdown()
    assert not ours.exists() and not rotated.exists()
    assert gz_bodies(rotated.with_name(rotated.name + ".gz")) == ["m000", "m001"]
    assert alive.exists()


async def test_an_original_left_next_to_its_complete_gzip_is_deleted(log_path: Path) -> None:
    """A crash between the rename and the delete: the .gz is whole, so the original goes."""
    rotated = log_path.with_name(f"app.{stamp(T0 - 60)}.jsonl")
    rotated.write_bytes(b"x\n")
    done = rotated.with_name(rotated.name + ".gz")
    done.write_bytes(gzip.compress(b"x\n"))
    exporter = FileExporter(log_path, compress="gzip", clock=Clock())
    await ok(exporter, [ev("new")])
    await exporter.shutdown()
    assert not rotated.exists() and done.exists()


async def test_enabling_compression_compresses_earlier_rotated_files(log_path: Path) -> None:
    """Rotated files from a run without compression are compressed at the next start."""
    exporter = FileExporter(log_path, max_bytes=LINE, clock=Clock())
    await ok(exporter, batch(0, 1))
    await exporter.shutdown()
    exporter = FileExporter(log_path, max_bytes=LINE, compress="gzip", clock=Clock(T0 + 1))
    await ok(exporter, batch(2))
    idle(exporter)
    await exporter.shutdown()
    assert [gz_bodies(p) for p in compressed(log_path.parent)] == [["m000"], ["m001"]]


async def test_a_failed_compression_keeps_the_original(
    log_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Disk full while compressing: the original stays, no partial .gz or .tmp remains."""
    reported: list[str] = []
    monkeypatch.setattr(reporter, "report", lambda key, message: reported.append(message))

    def full(self: Any, data: Any) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(gzip.GzipFile, "write", full)
    exporter = FileExporter(log_path, max_bytes=LINE, compress="gzip", clock=Clock())
    await ok(exporter, batch(0, 1))
    idle(exporter)
    await exporter.shutdown()
    assert names(log_path.parent) == ["app.20261123T105959250000Z.jsonl", "app.jsonl"]
    assert any("cannot compress rotated log" in m and "No space" in m for m in reported)


async def test_shutdown_abandons_a_compression_and_the_next_start_finishes_it(
    log_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped mid-file: the .tmp is removed, the original kept, and compressed later."""
    started = threading.Event()
    original_read = os.read

    def read_then_wait(fd: int, n: int) -> bytes:
        data = original_read(fd, n)
        if threading.current_thread().name.startswith("fapilog-gzip"):
            started.set()
            assert exporter._compressor is not None
            exporter._compressor._stop.wait(10)  # hold the first chunk until shutdown
        return data

    monkeypatch.setattr(file_module, "os", _OsWith(read=read_then_wait))
    exporter = FileExporter(log_path, max_bytes=LINE, compress="gzip", clock=Clock())
    await ok(exporter, batch(0, 1))
    assert await asyncio.to_thread(started.wait, 10)
    await exporter.shutdown()
    monkeypatch.setattr(file_module, "os", os)
    assert names(log_path.parent) == ["app.20261123T105959250000Z.jsonl", "app.jsonl"]
    again = FileExporter(log_path, compress="gzip", clock=Clock(T0 + 1))
    await ok(again, [ev("later")])
    idle(again)
    await again.shutdown()
    assert names(log_path.parent) == ["app.20261123T105959250000Z.jsonl.gz", "app.jsonl"]


async def test_a_file_that_grew_while_compressed_is_compressed_again(
    log_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process appending to the rotated file meanwhile loses nothing."""
    original = file_module._Compressor._write
    calls = 0

    def write_then_grow(self: Any, src: int, temporary: Path) -> int | None:
        nonlocal calls
        calls += 1
        size = original(self, src, temporary)
        if calls == 1:
            (rotated,) = log_path.parent.glob("app.*Z.jsonl")
            with rotated.open("ab") as f:
                f.write(encode_json_line(ev("late")))
        return size

    monkeypatch.setattr(file_module._Compressor, "_write", write_then_grow)
    exporter = FileExporter(log_path, max_bytes=LINE, compress="gzip", clock=Clock())
    await ok(exporter, batch(0, 1))
    idle(exporter)
    await exporter.shutdown()
    assert calls == 2
    (gz,) = compressed(log_path.parent)
    assert gz_bodies(gz) == ["m000", "late"]
    assert names(log_path.parent) == [gz.name, "app.jsonl"]


class _OsWith:
    """``os`` with some functions replaced, for fapilog.exporters.file only."""

    def __init__(self, **overrides: Any) -> None:
        self.__dict__.update(overrides)

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)
