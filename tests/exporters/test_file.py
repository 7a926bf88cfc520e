"""FileExporter: JSON lines, rotation, retention, permissions, fork and error handling."""

from __future__ import annotations

import asyncio
import calendar
import errno
import os
import re
import stat
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from opentelemetry.sdk.resources import Resource

from fapilog import LogEvent
from fapilog._diagnostics import reporter
from fapilog.exporters import file as file_module
from fapilog.exporters._base import ExportStatus
from fapilog.exporters._jsonl import encode_json_line
from fapilog.exporters.file import FileExporter

T0 = float(calendar.timegm((2026, 11, 23, 10, 59, 59))) + 0.25
ROTATED = re.compile(r"app\.(\d{8}T\d{12}Z)\.jsonl")


class Clock:
    """A settable clock for time rotation and retention."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FakeOs:
    """Stands in for the ``os`` module inside fapilog.exporters.file only."""

    def __init__(self, **overrides: Callable[..., Any]) -> None:
        self.__dict__.update(overrides)

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)


def ev(body: str, **fields: Any) -> LogEvent:
    return LogEvent(
        timestamp=1_795_462_800_000_000_000,
        severity_text="INFO",
        severity_number=9,
        body=body,
        **fields,
    )


def read(path: Path) -> bytes:
    return path.read_bytes()


def write(path: Path, data: bytes) -> None:
    path.write_bytes(data)


def bodies(path: Path) -> list[str]:
    return [orjson.loads(line)["body"] for line in read(path).splitlines()]


def rotated_files(path: Path) -> list[Path]:
    """Rotated files of ``path``, oldest first."""
    return sorted(p for p in path.parent.iterdir() if ROTATED.fullmatch(p.name))


def all_bodies(path: Path) -> list[str]:
    """Bodies across the rotated files (oldest first) and the current file."""
    out: list[str] = []
    for p in [*rotated_files(path), path]:
        out += bodies(p)
    return out


LINE = len(encode_json_line(ev("m000")))  # every "mNNN" body gives a line this long


def batch(*numbers: int) -> list[LogEvent]:
    return [ev(f"m{n:03d}") for n in numbers]


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "app.jsonl"


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


async def ok(exporter: FileExporter, events: list[LogEvent]) -> None:
    result = await exporter.export(events)
    assert result.ok, result


# -- writing ------------------------------------------------------------------------------


async def test_each_record_is_one_json_line(log_path: Path) -> None:
    """Records are appended as JSON lines in order, hostile text included."""
    exporter = FileExporter(log_path)
    await ok(exporter, [ev("a\nb\r\x1b\u2028"), ev("c")])
    await ok(exporter, [ev("d")])
    await exporter.shutdown()
    assert read(log_path).count(b"\n") == 3
    assert bodies(log_path) == ["a\nb\r\x1b\u2028", "c", "d"]


async def test_missing_directories_are_created(tmp_path: Path) -> None:
    """The file's parent directories are created at the first export."""
    path = tmp_path / "a" / "b" / "app.jsonl"
    exporter = FileExporter(path)
    await ok(exporter, [ev("x")])
    await exporter.shutdown()
    assert bodies(path) == ["x"]


async def test_an_existing_file_is_appended_to(log_path: Path) -> None:
    """A new exporter on an existing file keeps its lines and appends after them."""
    first = FileExporter(log_path)
    await ok(first, [ev("one")])
    await first.shutdown()
    second = FileExporter(log_path)
    await ok(second, [ev("two")])
    await second.shutdown()
    assert bodies(log_path) == ["one", "two"]


async def test_a_file_ending_mid_line_gets_a_line_break_first(log_path: Path) -> None:
    """After a crash left a partial last line, the next record starts on its own line."""
    write(log_path, b'{"body":"complete"}\n{"body":"trunc')
    exporter = FileExporter(log_path)
    await ok(exporter, [ev("next")])
    await exporter.shutdown()
    lines = read(log_path).split(b"\n")
    assert lines[1] == b'{"body":"trunc'
    assert orjson.loads(lines[2])["body"] == "next"


async def test_an_empty_batch_touches_nothing(log_path: Path) -> None:
    """Exporting no events succeeds and creates no file."""
    exporter = FileExporter(log_path)
    assert (await exporter.export([])).ok
    await exporter.shutdown()
    assert log_path.name not in os.listdir(log_path.parent)


async def test_include_resource_writes_the_resource(log_path: Path) -> None:
    """include_resource=True adds every resource attribute to each line."""
    resource = Resource({"service.name": "shop", "host.name": "h1"})
    exporter = FileExporter(log_path, include_resource=True)
    await ok(exporter, [ev("x", resource=resource)])
    await exporter.shutdown()
    line = orjson.loads(read(log_path))
    assert line["resource"] == {"service.name": "shop", "host.name": "h1"}
    assert line["service.name"] == "shop"


async def test_a_relative_path_is_fixed_at_construction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A later chdir() does not move the log file."""
    monkeypatch.chdir(tmp_path)
    exporter = FileExporter("logs/app.jsonl")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    await ok(exporter, [ev("x")])
    await exporter.shutdown()
    assert bodies(tmp_path / "logs" / "app.jsonl") == ["x"]


async def test_fsync_is_called_once_per_batch_when_enabled(
    log_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fsync=True syncs after every batch; the default never syncs."""
    calls: list[int] = []
    monkeypatch.setattr(file_module, "os", FakeOs(fsync=calls.append))
    synced = FileExporter(log_path, fsync=True)
    await ok(synced, [ev("a"), ev("b")])
    await ok(synced, [ev("c")])
    assert len(calls) == 2
    plain = FileExporter(log_path.with_name("other.jsonl"))
    await ok(plain, [ev("d")])
    assert len(calls) == 2
    await synced.shutdown()
    await plain.shutdown()


async def test_writes_do_not_block_the_event_loop(
    log_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a write blocks (a hung disk), other coroutines keep running."""
    gate, entered = threading.Event(), threading.Event()

    def slow_write(fd: int, data: Any) -> int:
        entered.set()
        gate.wait(5)
        return os.write(fd, data)

    monkeypatch.setattr(file_module, "os", FakeOs(write=slow_write))
    exporter = FileExporter(log_path)
    task = asyncio.create_task(exporter.export([ev("x")]))
    while not entered.is_set():
        await asyncio.sleep(0.001)
    for _ in range(10):
        await asyncio.sleep(0)
    assert not task.done()
    gate.set()
    assert (await task).ok
    await exporter.shutdown()


# -- permissions --------------------------------------------------------------------------


@pytest.mark.usefixtures("umask_022")
async def test_new_files_are_private_by_default(log_path: Path) -> None:
    """A created log file, and every file started after rotation, has mode 0o600."""
    exporter = FileExporter(log_path, max_bytes=LINE)
    await ok(exporter, batch(0, 1))
    await exporter.shutdown()
    for path in [log_path, *rotated_files(log_path)]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.usefixtures("umask_022")
async def test_the_file_mode_is_configurable(log_path: Path) -> None:
    """mode=0o640 creates a group-readable file."""
    exporter = FileExporter(log_path, mode=0o640)
    await ok(exporter, [ev("x")])
    await exporter.shutdown()
    assert stat.S_IMODE(os.stat(log_path).st_mode) == 0o640


# -- size rotation ------------------------------------------------------------------------


async def test_rotation_happens_before_a_write_would_exceed_max_bytes(log_path: Path) -> None:
    """The file is rotated before it would exceed max_bytes; records stay in order."""
    clock = Clock()
    exporter = FileExporter(log_path, max_bytes=3 * LINE, clock=clock)
    await ok(exporter, batch(0, 1))
    await ok(exporter, batch(2, 3))
    await exporter.shutdown()
    [rotated] = rotated_files(log_path)
    assert rotated.name == "app.20261123T105959250000Z.jsonl"
    assert bodies(rotated) == ["m000", "m001", "m002"]
    assert bodies(log_path) == ["m003"]


async def test_a_large_batch_is_split_at_record_boundaries(log_path: Path) -> None:
    """A batch bigger than max_bytes spreads over files, none larger than max_bytes."""
    exporter = FileExporter(log_path, max_bytes=2 * LINE, backup_count=None, clock=Clock())
    await ok(exporter, batch(*range(5)))
    await exporter.shutdown()
    files = [*rotated_files(log_path), log_path]
    assert [bodies(p) for p in files] == [["m000", "m001"], ["m002", "m003"], ["m004"]]
    assert all(p.stat().st_size <= 2 * LINE for p in files)


async def test_a_record_larger_than_max_bytes_gets_a_file_of_its_own(log_path: Path) -> None:
    """An oversized record is written whole to a fresh file; no empty file is rotated."""
    exporter = FileExporter(log_path, max_bytes=LINE // 2, backup_count=None, clock=Clock())
    await ok(exporter, batch(0, 1, 2))
    await exporter.shutdown()
    files = [*rotated_files(log_path), log_path]
    assert [bodies(p) for p in files] == [["m000"], ["m001"], ["m002"]]


async def test_rotated_names_never_collide(log_path: Path) -> None:
    """Rotations within one microsecond get distinct, chronologically sorted names."""
    exporter = FileExporter(log_path, max_bytes=LINE, backup_count=None, clock=Clock())
    for n in range(4):
        await ok(exporter, batch(n))
    await exporter.shutdown()
    names = [p.name for p in rotated_files(log_path)]
    assert names == [
        "app.20261123T105959250000Z.jsonl",
        "app.20261123T105959250001Z.jsonl",
        "app.20261123T105959250002Z.jsonl",
    ]
    assert all_bodies(log_path) == ["m000", "m001", "m002", "m003"]


async def test_a_path_without_suffix_rotates_to_stem_dot_stamp(tmp_path: Path) -> None:
    """For a path without suffix the rotated name is <name>.<stamp>."""
    path = tmp_path / "app"
    exporter = FileExporter(path, max_bytes=LINE, clock=Clock())
    await ok(exporter, batch(0, 1))
    await exporter.shutdown()
    assert sorted(os.listdir(tmp_path)) == ["app", "app.20261123T105959250000Z"]


async def test_rotation_runs_on_the_writer_thread(
    log_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Renaming and pruning happen on the exporter's I/O thread, not on the event loop."""
    threads: list[str] = []

    def link(src: Any, dst: Any) -> None:
        threads.append(threading.current_thread().name)
        os.link(src, dst)

    monkeypatch.setattr(file_module, "os", FakeOs(link=link))
    exporter = FileExporter(log_path, max_bytes=LINE, clock=Clock())
    await ok(exporter, batch(0, 1))
    await exporter.shutdown()
    assert threads and all(name.startswith("fapilog-io-") for name in threads)


# -- time rotation ------------------------------------------------------------------------


async def test_time_rotation_at_the_interval_boundary(log_path: Path) -> None:
    """With rotate_every=1h, the first write after the top of the UTC hour rotates first."""
    clock = Clock(T0)  # 10:59:59.25
    exporter = FileExporter(log_path, rotate_every=timedelta(hours=1), clock=clock)
    await ok(exporter, batch(0))
    clock.now = T0 + 0.5  # still 10:59
    await ok(exporter, batch(1))
    assert rotated_files(log_path) == []
    clock.now = T0 + 1.25  # 11:00:00.5
    await ok(exporter, batch(2))
    await exporter.shutdown()
    [rotated] = rotated_files(log_path)
    assert rotated.name == "app.20261123T110000500000Z.jsonl"
    assert bodies(rotated) == ["m000", "m001"]
    assert bodies(log_path) == ["m002"]


async def test_daily_rotation_happens_at_utc_midnight(log_path: Path) -> None:
    """rotate_every=1 day rotates at 00:00 UTC, not 24 h after the first write."""
    clock = Clock(calendar.timegm((2026, 11, 23, 23, 59, 0)))
    exporter = FileExporter(log_path, rotate_every=timedelta(days=1), clock=clock)
    await ok(exporter, batch(0))
    clock.now = calendar.timegm((2026, 11, 24, 0, 0, 1))
    await ok(exporter, batch(1))
    clock.now = calendar.timegm((2026, 11, 24, 23, 0, 0))
    await ok(exporter, batch(2))
    await exporter.shutdown()
    assert [bodies(p) for p in rotated_files(log_path)] == [["m000"]]
    assert bodies(log_path) == ["m001", "m002"]


async def test_a_clock_going_back_does_not_rotate(log_path: Path) -> None:
    """A clock step backwards (NTP) never triggers a rotation."""
    clock = Clock(T0)
    exporter = FileExporter(log_path, rotate_every=timedelta(hours=1), clock=clock)
    await ok(exporter, batch(0))
    clock.now = T0 - 7200
    await ok(exporter, batch(1))
    await exporter.shutdown()
    assert rotated_files(log_path) == []


async def test_an_empty_file_is_not_rotated_at_a_boundary(log_path: Path) -> None:
    """When the file is empty at a boundary (truncated), no empty rotated file appears."""
    clock = Clock(T0)
    exporter = FileExporter(log_path, rotate_every=timedelta(hours=1), clock=clock)
    await ok(exporter, batch(0))
    os.truncate(log_path, 0)
    clock.now = T0 + 3600
    await ok(exporter, batch(1))
    await exporter.shutdown()
    assert rotated_files(log_path) == []
    assert bodies(log_path) == ["m001"]


async def test_a_file_from_an_earlier_period_is_rotated_at_the_first_write(log_path: Path) -> None:
    """A log left by a previous run in an earlier period is rotated before new records."""
    write(log_path, encode_json_line(ev("old")))
    yesterday = calendar.timegm((2026, 11, 22, 12, 0, 0))
    os.utime(log_path, (yesterday, yesterday))
    exporter = FileExporter(log_path, rotate_every=timedelta(days=1), clock=Clock(T0))
    await ok(exporter, [ev("new")])
    await exporter.shutdown()
    assert [bodies(p) for p in rotated_files(log_path)] == [["old"]]
    assert bodies(log_path) == ["new"]


# -- retention ----------------------------------------------------------------------------


async def test_backup_count_keeps_the_newest_rotated_files(log_path: Path) -> None:
    """Only the newest backup_count rotated files survive."""
    clock = Clock()
    exporter = FileExporter(log_path, max_bytes=LINE, backup_count=2, clock=clock)
    for n in range(6):
        clock.now = T0 + n
        await ok(exporter, batch(n))
    await exporter.shutdown()
    assert [bodies(p) for p in rotated_files(log_path)] == [["m003"], ["m004"]]
    assert bodies(log_path) == ["m005"]


async def test_backup_count_zero_keeps_no_rotated_file(log_path: Path) -> None:
    """backup_count=0 deletes each file as it is rotated."""
    exporter = FileExporter(log_path, max_bytes=LINE, backup_count=0, clock=Clock())
    await ok(exporter, batch(0, 1, 2))
    await exporter.shutdown()
    assert rotated_files(log_path) == []
    assert bodies(log_path) == ["m002"]


async def test_backup_count_none_keeps_every_rotated_file(log_path: Path) -> None:
    """backup_count=None never deletes by count."""
    exporter = FileExporter(log_path, max_bytes=LINE, backup_count=None, clock=Clock())
    await ok(exporter, batch(*range(10)))
    await exporter.shutdown()
    assert len(rotated_files(log_path)) == 9


async def test_max_age_deletes_old_rotated_files_and_nothing_else(log_path: Path) -> None:
    """Rotated files older than max_age go, at start and periodically; other files stay."""
    hour = 3600.0
    old = log_path.with_name(f"app.{_stamp(T0 - 2 * hour)}.jsonl")
    young = log_path.with_name(f"app.{_stamp(T0 - 0.5 * hour)}.jsonl")
    unrelated = [
        log_path.with_name(f"other.{_stamp(T0 - 9 * hour)}.jsonl"),
        log_path.with_name(f"app.{_stamp(T0 - 9 * hour)}.jsonl.bak"),
        log_path.with_name("app.old.jsonl"),
        log_path.with_name("app.jsonl.1"),
    ]
    for p in [old, young, *unrelated]:
        p.write_text("x\n")
    clock = Clock(T0)
    exporter = FileExporter(log_path, backup_count=None, max_age=timedelta(hours=1), clock=clock)
    await ok(exporter, [ev("a")])
    assert not old.exists() and young.exists()
    clock.now = T0 + 0.75 * hour  # no rotation, but the periodic sweep runs
    await ok(exporter, [ev("b")])
    await exporter.shutdown()
    assert not young.exists()
    assert all(p.exists() for p in unrelated)
    assert bodies(log_path) == ["a", "b"]


async def test_count_and_age_limits_combine(log_path: Path) -> None:
    """With both limits, a rotated file goes as soon as either limit says so."""
    clock = Clock()
    exporter = FileExporter(
        log_path, max_bytes=LINE, backup_count=2, max_age=timedelta(seconds=200), clock=clock
    )
    for n, offset in enumerate([0, 100, 101, 102]):
        clock.now = T0 + offset
        await ok(exporter, batch(n))
    # m000, m001 and m002 were rotated at +100, +101, +102: the count removed m000.
    assert [bodies(p) for p in rotated_files(log_path)] == [["m001"], ["m002"]]
    clock.now = T0 + 400
    await ok(exporter, batch(4))
    await exporter.shutdown()
    # m003 rotated at +400; the count removed m001, the age (older than +200) m002.
    assert [bodies(p) for p in rotated_files(log_path)] == [["m003"]]


def _stamp(seconds: float) -> str:
    return file_module._stamp(round(seconds * 1_000_000))


# -- following the path -------------------------------------------------------------------


async def test_an_externally_rotated_file_is_followed(log_path: Path) -> None:
    """When logrotate renames the file, the next export starts a new file at the path."""
    exporter = FileExporter(log_path)
    await ok(exporter, [ev("before")])
    os.rename(log_path, log_path.with_name("app.jsonl.1"))
    await ok(exporter, [ev("after")])
    await exporter.shutdown()
    assert bodies(log_path.with_name("app.jsonl.1")) == ["before"]
    assert bodies(log_path) == ["after"]


async def test_a_deleted_file_is_recreated(log_path: Path) -> None:
    """When the file is deleted, the next export creates it again."""
    exporter = FileExporter(log_path)
    await ok(exporter, [ev("one")])
    os.unlink(log_path)
    await ok(exporter, [ev("two")])
    await exporter.shutdown()
    assert bodies(log_path) == ["two"]


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
async def test_shutdown_closes_the_file(log_path: Path) -> None:
    """After shutdown no descriptor of this process refers to the log file."""

    def open_on_path() -> bool:
        for fd in os.listdir("/proc/self/fd"):
            try:
                if os.readlink(f"/proc/self/fd/{fd}") == str(log_path):
                    return True
            except OSError:
                continue
        return False

    exporter = FileExporter(log_path)
    await ok(exporter, [ev("x")])
    assert open_on_path()
    await exporter.shutdown()
    assert not open_on_path()


# -- fork ---------------------------------------------------------------------------------

needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


@needs_fork
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fork() with threads warns on 3.12+
def test_a_forked_child_never_duplicates_lines(log_path: Path) -> None:
    """Parent and child each append their own batches; nothing is written twice."""
    exporter = FileExporter(log_path)
    assert asyncio.run(exporter.export([ev("parent-1"), ev("parent-2")])).ok
    pid = os.fork()
    if pid == 0:  # child: export one batch, then leave without running pytest's teardown
        code = 1
        try:
            exporter.after_fork()
            code = 0 if asyncio.run(exporter.export([ev("child")])).ok else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert asyncio.run(exporter.export([ev("parent-3")])).ok
    asyncio.run(exporter.shutdown())
    assert bodies(log_path) == ["parent-1", "parent-2", "child", "parent-3"]


@needs_fork
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fork() with threads warns on 3.12+
def test_concurrent_appends_from_parent_and_child_keep_whole_lines(log_path: Path) -> None:
    """Batches written at the same time by two processes interleave as whole lines."""
    exporter = FileExporter(log_path)
    assert asyncio.run(exporter.export([ev("start")])).ok

    async def write_many(tag: str) -> bool:
        results = [
            await exporter.export([ev(f"{tag}-{i}-{j}") for j in range(10)]) for i in range(100)
        ]
        return all(r.ok for r in results)

    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            exporter.after_fork()
            code = 0 if asyncio.run(write_many("child")) else 2
        finally:
            os._exit(code)
    assert asyncio.run(write_many("parent"))
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    asyncio.run(exporter.shutdown())
    lines = bodies(log_path)  # every line decodes: none was torn
    assert len(lines) == 1 + 2 * 1000
    for tag in ("parent", "child"):
        mine = [line for line in lines if line.startswith(f"{tag}-")]
        assert mine == [f"{tag}-{i}-{j}" for i in range(100) for j in range(10)]


# -- errors -------------------------------------------------------------------------------


def _raise(code: int) -> Callable[..., Any]:
    def fail(*args: Any) -> Any:
        raise OSError(code, os.strerror(code))

    return fail


async def test_a_full_disk_is_retryable_and_the_retry_writes_once(
    log_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC before anything was written gives a retryable result; the retry writes once."""
    exporter = FileExporter(log_path)
    await ok(exporter, batch(0))
    monkeypatch.setattr(file_module, "os", FakeOs(write=_raise(errno.ENOSPC)))
    result = await exporter.export(batch(1, 2))
    assert result.status is ExportStatus.RETRYABLE
    assert "ENOSPC" in result.reason
    monkeypatch.setattr(file_module, "os", os)
    await ok(exporter, batch(1, 2))
    await exporter.shutdown()
    assert bodies(log_path) == ["m000", "m001", "m002"]


@pytest.mark.parametrize("code", [errno.EAGAIN, errno.EDQUOT, errno.EIO, errno.ENOSPC])
async def test_transient_errors_are_retryable(
    log_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    """Quota, EAGAIN, I/O errors and a full disk are worth retrying."""
    monkeypatch.setattr(file_module, "os", FakeOs(write=_raise(code)))
    exporter = FileExporter(log_path)
    assert (await exporter.export(batch(0))).status is ExportStatus.RETRYABLE
    await exporter.shutdown()


@pytest.mark.parametrize("code", [errno.EACCES, errno.EPERM, errno.EROFS, errno.EISDIR])
async def test_permanent_errors_are_failures(
    log_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    """Permission errors and a read-only file system fail without retry, on open or write."""
    for override in ("open", "write"):
        monkeypatch.setattr(file_module, "os", FakeOs(**{override: _raise(code)}))
        exporter = FileExporter(log_path)
        result = await exporter.export(batch(0))
        assert result.status is ExportStatus.FAILURE, override
        assert errno.errorcode[code] in result.reason
        await exporter.shutdown()


async def test_a_directory_in_the_way_is_a_failure(tmp_path: Path) -> None:
    """A path that is a directory makes export fail instead of raise."""
    (tmp_path / "app.jsonl").mkdir()
    exporter = FileExporter(tmp_path / "app.jsonl")
    assert (await exporter.export(batch(0))).status is ExportStatus.FAILURE
    await exporter.shutdown()


async def test_a_file_in_place_of_the_directory_is_a_failure(tmp_path: Path) -> None:
    """A parent path that is a regular file makes export fail instead of raise."""
    (tmp_path / "logs").write_text("")
    exporter = FileExporter(tmp_path / "logs" / "app.jsonl")
    assert (await exporter.export(batch(0))).status is ExportStatus.FAILURE
    await exporter.shutdown()


async def test_short_writes_are_completed(log_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When os.write writes only part of the data, the rest follows; lines stay whole."""
    sizes: list[int] = []

    def trickle(fd: int, data: Any) -> int:
        sizes.append(len(data))
        return os.write(fd, bytes(data[:7]))

    monkeypatch.setattr(file_module, "os", FakeOs(write=trickle))
    exporter = FileExporter(log_path)
    await ok(exporter, batch(0, 1, 2))
    await exporter.shutdown()
    assert bodies(log_path) == ["m000", "m001", "m002"]
    assert len(sizes) > 3


async def test_a_failure_mid_batch_rejects_only_the_unwritten_records(
    log_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a partial write, whole records count as written, the rest as rejected, and the
    next record starts on a fresh line."""
    calls = 0

    def short_then_full(fd: int, data: Any) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            return os.write(fd, bytes(data[: LINE + LINE // 2]))  # one and a half records
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(file_module, "os", FakeOs(write=short_then_full))
    exporter = FileExporter(log_path)
    result = await exporter.export(batch(0, 1, 2, 3))
    assert result.status is ExportStatus.PARTIAL
    assert result.rejected == 3
    monkeypatch.setattr(file_module, "os", os)
    await ok(exporter, batch(9))
    await exporter.shutdown()
    lines = read(log_path).splitlines()
    assert orjson.loads(lines[0])["body"] == "m000"
    assert lines[1] == encode_json_line(batch(1)[0])[: LINE // 2]
    assert orjson.loads(lines[2])["body"] == "m009"
    assert len(lines) == 3


async def test_a_lost_descriptor_is_reopened(
    log_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EBADF is retryable and the next export reopens the file."""
    exporter = FileExporter(log_path)
    await ok(exporter, batch(0))
    monkeypatch.setattr(file_module, "os", FakeOs(write=_raise(errno.EBADF)))
    assert (await exporter.export(batch(1))).status is ExportStatus.RETRYABLE
    monkeypatch.setattr(file_module, "os", os)
    await ok(exporter, batch(1))
    await exporter.shutdown()
    assert bodies(log_path) == ["m000", "m001"]


async def test_an_unexpected_exception_is_a_result_not_a_raise(
    log_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even a non-OSError inside the writer comes back as a retryable result."""

    def boom(*args: Any) -> Any:
        raise RuntimeError("bug")

    monkeypatch.setattr(file_module, "os", FakeOs(write=boom))
    exporter = FileExporter(log_path)
    assert (await exporter.export(batch(0))).status is ExportStatus.RETRYABLE
    await exporter.shutdown()


async def test_retention_errors_do_not_fail_the_export(
    log_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """A rotated file that cannot be deleted is reported on stderr; the export succeeds."""

    def unlink(path: Any) -> None:
        if ROTATED.fullmatch(Path(path).name):
            raise PermissionError(errno.EACCES, "Permission denied")
        os.unlink(path)

    monkeypatch.setattr(file_module, "os", FakeOs(unlink=unlink))
    exporter = FileExporter(log_path, max_bytes=LINE, backup_count=0, clock=Clock())
    await ok(exporter, batch(0, 1))
    await exporter.shutdown()
    assert bodies(log_path) == ["m001"]
    assert reporter.flush(5)
    assert "cannot delete rotated log" in capfd.readouterr().err


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_bytes": 0},
        {"rotate_every": timedelta(0)},
        {"max_age": timedelta(seconds=-1)},
        {"backup_count": -1},
    ],
)
def test_invalid_options_are_rejected(log_path: Path, kwargs: dict[str, Any]) -> None:
    """Non-positive sizes and intervals and negative counts raise ValueError."""
    with pytest.raises(ValueError):
        FileExporter(log_path, **kwargs)
