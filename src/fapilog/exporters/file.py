"""Append JSON lines to a file, with size and time rotation and retention of old files.

Fork and crash safety come from what this module does *not* do: it keeps no
userspace buffer. Each batch is encoded to bytes in full and handed to ``os.write``
on a descriptor opened with ``O_APPEND``, so a forked child can never write out a
copy of its parent's pending data, a crash loses at most the batch being written,
and processes sharing the file append whole writes rather than overwrite each other.
"""

from __future__ import annotations

import datetime as _dt
import errno
import gzip
import os
import re
import secrets
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from fapilog._blocking import BlockingRunner
from fapilog._diagnostics import reporter
from fapilog._fsutil import CLOEXEC, fsync_dir
from fapilog.exporters._base import Exporter, ExportResult
from fapilog.exporters._jsonl import encode_json_lines

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from fapilog._event import LogEvent

__all__ = ["FileExporter"]

_OPEN_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | CLOEXEC
# Errors a retry of the same batch would meet again. Anything else (disk full, quota,
# EAGAIN, EIO, a stale NFS handle...) is worth retrying, and the pipeline bounds the
# retries by its export timeout.
_PERMANENT = frozenset(
    code
    for code in (
        errno.EACCES,
        errno.EPERM,
        errno.EROFS,
        errno.EISDIR,
        errno.ENOTDIR,
        errno.ENAMETOOLONG,
        errno.EINVAL,
        errno.ELOOP,
        errno.EFBIG,
        errno.EEXIST,
    )
    if code is not None
)
_STAMP_FORMAT = "%Y%m%dT%H%M%S%fZ"
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
_RETENTION_INTERVAL = 60.0  # seconds between max_age sweeps when nothing rotates
_COMPRESS_CHUNK = 1 << 20  # bytes read per step; the compressor checks for a stop between
_COMPRESS_LEVEL = 6  # zlib's default: most of the gain of 9 at a fraction of its CPU
_COMPRESS_ATTEMPTS = 5  # a rotated file that keeps growing is left uncompressed
_COMPRESS_STOP_WAIT = 1.0  # seconds shutdown waits for a compression to abandon its file
# Tokens of this process's running compressors (temporary names carry pid-token).
_LIVE_TOKENS: set[str] = set()


class FileExporter(Exporter):
    """Appends one JSON line per record (see :mod:`fapilog.exporters._jsonl`) to a file.

    Every file operation runs on a private thread, so a slow disk never stalls the
    pipeline's loop. The file is opened at the first export; its directory is created
    when missing.

    **Rotation.** Before a write would make the file exceed ``max_bytes``, the file is
    renamed to ``<stem>.<UTC time of rotation><suffix>`` (``app.jsonl`` becomes
    ``app.20261123T194000123456Z.jsonl``) and a new file is started. A batch is split
    between files at record boundaries, never inside a line, so files exceed
    ``max_bytes`` only when a single record is larger than that (it then gets a file
    of its own). With ``rotate_every``, the first write after a boundary rotates the
    file first; boundaries are whole multiples of the interval since the Unix epoch,
    so hourly rotation happens at the top of each UTC hour and daily rotation at UTC
    midnight. An empty file is never rotated. If two names would collide, the later
    file gets the next free microsecond.

    **Retention.** After each rotation (and at the first export, and every minute
    when ``max_age`` is set) the rotated files of this path are pruned: only the
    newest ``backup_count`` are kept, and those rotated more than ``max_age`` ago are
    deleted. Ages come from the time in the file name, not from file metadata.

    **Compression.** With ``compress="gzip"``, each rotated file is compressed to
    ``<rotated name>.gz`` on a thread of its own (never on the caller, never on the
    export path). The ``.gz`` is written under a temporary name ending in ``.tmp``,
    synced and renamed into place; only then is the uncompressed file deleted. A
    leftover from a crash is dealt with at the next start: temporary files of dead
    writers are deleted and rotated files without a complete ``.gz`` are compressed.
    A compressed file counts for retention exactly like the uncompressed one.

    **Errors.** The export never raises. Transient errors (disk full, quota,
    ``EAGAIN``, I/O errors) give a retryable result, permanent ones (permission
    denied, read-only file system, a directory in the way) a failure. When an error
    strikes after some records of the batch were written, the rest are reported as
    rejected (a partial result), because retrying the batch would duplicate the
    records already in the file.

    **Processes.** Nothing is buffered in memory, so ``os.fork()`` cannot duplicate
    lines; a child keeps appending to the same file. Each export checks that the path
    still names the open file and reopens it when it does not, so rotation by another
    process (or by ``logrotate``) is followed. Rotation itself is not coordinated
    between processes: several processes rotating one file may produce extra, smaller
    rotated files, but no record is lost or written twice.

    Args:
        path: the file to append to.
        max_bytes: rotate before the file would exceed this many bytes; ``None``
            disables size rotation.
        rotate_every: rotate at every multiple of this interval (UTC); ``None``
            disables time rotation.
        backup_count: how many rotated files to keep; ``0`` deletes them as they are
            rotated, ``None`` keeps all (subject to ``max_age``).
        max_age: delete rotated files older than this; ``None`` keeps them (subject
            to ``backup_count``).
        compress: ``"gzip"`` compresses each rotated file; ``"none"`` (the default)
            leaves rotated files as they are.
        mode: permission bits of a newly created file (the umask still applies). The
            default, ``0o600``, keeps logs readable by their owner only.
        fsync: call ``os.fsync`` after each batch, so it survives a power loss (at the
            cost of a disk flush per batch).
        include_resource: write all resource attributes under ``"resource"`` in
            every line (``service.name`` is always written when known).
        clock: returns seconds since the Unix epoch; defaults to ``time.time``. For
            tests of time rotation and retention.

    Raises:
        ValueError: a size or interval that is not positive, a negative
            ``backup_count``, or an unknown ``compress``.
    """

    api_version = "1.0"  # the fapilog.plugin API it is written for

    name = "file"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_bytes: int | None = None,
        rotate_every: _dt.timedelta | None = None,
        backup_count: int | None = 7,
        max_age: _dt.timedelta | None = None,
        compress: Literal["none", "gzip"] = "none",
        mode: int = 0o600,
        fsync: bool = False,
        include_resource: bool = False,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if max_bytes is not None and max_bytes <= 0:
            raise ValueError("max_bytes must be positive (or None for no size rotation)")
        if rotate_every is not None and rotate_every.total_seconds() <= 0:
            raise ValueError("rotate_every must be a positive interval (or None)")
        if max_age is not None and max_age.total_seconds() <= 0:
            raise ValueError("max_age must be a positive interval (or None)")
        if backup_count is not None and backup_count < 0:
            raise ValueError("backup_count must be >= 0 (or None to keep every file)")
        if compress not in ("none", "gzip"):
            raise ValueError(f"compress must be 'none' or 'gzip', not {compress!r}")
        # Absolute now, so a later chdir() cannot move the log (the file is reopened
        # by path after rotation).
        self.path = Path(os.path.abspath(path))
        self.max_bytes = max_bytes
        self.rotate_every = rotate_every
        self.backup_count = backup_count
        self.max_age = max_age
        self.compress = compress
        self.mode = mode
        self.fsync = fsync
        self.include_resource = include_resource
        self._clock: Callable[[], float] = clock if clock is not None else time.time
        self._runner = BlockingRunner(f"file:{self.path.name}")
        # A rotated file, its .gz, and the .gz being written (<pid>-<token>.tmp).
        self._rotated_re = re.compile(
            re.escape(self.path.stem)
            + r"\.(\d{8}T\d{12}Z)"
            + re.escape(self.path.suffix)
            + r"(\.gz(?:\.(\d+)-([0-9a-f]+)\.tmp)?)?"
        )
        self._compressor = _Compressor(self) if compress == "gzip" else None
        # State below is touched only on the runner thread.
        self._fd: int | None = None
        self._identity: tuple[int, int] | None = None  # (st_dev, st_ino) of the open file
        self._period: int | None = None  # rotate_every period the open file belongs to
        self._needs_newline = False  # the file ends inside a line (crash, failed write)
        self._last_retention: float | None = None

    def __repr__(self) -> str:
        return f"FileExporter({str(self.path)!r})"

    async def export(self, batch: Sequence[LogEvent]) -> ExportResult:
        """Encode ``batch`` and append it to the file, rotating first when due.

        Args:
            batch: events in emission order; not modified.

        Returns:
            Success; retryable for transient I/O errors; failure for permanent ones;
            partial when an error struck after some records were written.
        """
        if not batch:
            return ExportResult.success()
        try:
            return await self._runner.run(self._export_sync, list(batch))
        except Exception as exc:  # a bug must not escape into the pipeline as a raise
            return ExportResult.retryable(f"file export failed: {type(exc).__name__}")

    async def force_flush(self, timeout: float | None = None) -> bool:
        """Nothing is buffered: every export is already in the file. Returns True."""
        return True

    async def shutdown(self) -> None:
        """Close the file and stop the writer thread (and the compressor's).

        A compression still running is abandoned: its temporary file is deleted and
        the rotated file stays uncompressed until the next start compresses it.
        """
        try:
            await self._runner.run(self._close_all)
        finally:
            self._runner.close()

    def _close_all(self) -> None:
        self._close()
        if self._compressor is not None:
            self._compressor.stop(_COMPRESS_STOP_WAIT)

    def after_fork(self) -> None:
        """Keep the file (``O_APPEND`` makes shared appends safe); start a new writer thread.

        A child compresses only the files it rotates itself: the parent's pending
        compressions stay the parent's.
        """
        self._runner.after_fork()
        if self._compressor is not None:
            self._compressor = _Compressor(self)

    # -- runner thread ------------------------------------------------------------------

    def _export_sync(self, batch: list[LogEvent]) -> ExportResult:
        # One batch encode, cut back into lines for rotation planning: a line holds no
        # b"\n" or b"\r" but its final newline (encode_json_line's promise).
        data = encode_json_lines(batch, include_resource=self.include_resource)
        lines = data.splitlines(keepends=True)
        now = self._clock()
        written = 0
        try:
            fd = self._ensure_open(now)
            if self._due_for_time_rotation(now):
                fd = self._rotate(now)
            for chunk, count in self._chunks(fd, lines):
                if chunk is None:
                    fd = self._rotate(now)
                    continue
                self._append(fd, chunk)
                written += count
        except _WriteError as exc:
            return self._error_result(exc.error, written + exc.records, len(lines))
        except OSError as exc:
            return self._error_result(exc, written, len(lines))
        if self.fsync:
            try:
                os.fsync(fd)
            except OSError as exc:  # written, but maybe not durable: say so, once a while
                reporter.report(f"file_fsync:{self.path}", f"fsync of {self.path} failed: {exc}")
        self._maybe_prune(now)
        return ExportResult.success()

    def _chunks(self, fd: int, lines: list[bytes]) -> list[tuple[bytes | None, int]]:
        """Plan the writes: ``(bytes, record count)`` pairs, ``(None, 0)`` = rotate here."""
        if self.max_bytes is None:
            return [(b"".join(lines), len(lines))]
        limit = self.max_bytes
        size = os.fstat(fd).st_size  # another process may have appended since last time
        plan: list[tuple[bytes | None, int]] = []
        pending: list[bytes] = []
        pending_size = 0
        for line in lines:
            if size + pending_size + len(line) > limit and size + pending_size > 0:
                if pending:
                    plan.append((b"".join(pending), len(pending)))
                plan.append((None, 0))
                size, pending, pending_size = 0, [], 0
            pending.append(line)
            pending_size += len(line)
        if pending:
            plan.append((b"".join(pending), len(pending)))
        return plan

    def _append(self, fd: int, data: bytes) -> None:
        """Write all of ``data``, looping on short writes.

        Raises:
            _WriteError: with the number of records that reached the file whole.
        """
        start = 0
        if self._needs_newline:
            data = b"\n" + data  # our first record must not extend a broken last line
            start = 1
        view = memoryview(data)
        done = 0
        try:
            while done < len(data):
                done += os.write(fd, view[done:])
        except OSError as exc:
            if done:
                self._needs_newline = data[done - 1] != 0x0A
            raise _WriteError(exc, data.count(b"\n", start, done)) from exc
        self._needs_newline = False

    def _ensure_open(self, now: float) -> int:
        fd = self._fd
        if fd is not None:
            try:
                st = os.stat(self.path)
                same = (st.st_dev, st.st_ino) == self._identity
            except FileNotFoundError:
                same = False
            if same:
                return fd
            self._close()  # rotated or removed by someone else: follow the path
        return self._open(now)

    def _open(self, now: float) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, _OPEN_FLAGS, self.mode)
        try:
            st = os.fstat(fd)
        except OSError:
            os.close(fd)
            raise
        # A file left ending mid-line (a crash during a write) must not swallow our
        # first record into its broken last line.
        self._needs_newline = st.st_size > 0 and self._ends_mid_line(st.st_size)
        self._fd = fd
        self._identity = (st.st_dev, st.st_ino)
        if self.rotate_every is not None:
            started = min(st.st_mtime, now) if st.st_size > 0 else now
            self._period = self._period_of(started)
        if self._last_retention is None:
            self._prune(now)
        return fd

    def _ends_mid_line(self, size: int) -> bool:
        # The append descriptor is write-only (reading needs its own descriptor), and a
        # file we cannot read is assumed to end cleanly.
        try:
            rfd = os.open(self.path, os.O_RDONLY | CLOEXEC)
        except OSError:
            return False
        try:
            return os.pread(rfd, 1, size - 1) not in (b"\n", b"")
        except OSError:
            return False
        finally:
            os.close(rfd)

    def _close(self) -> None:
        fd, self._fd, self._identity = self._fd, None, None
        if fd is not None:
            try:
                os.close(fd)
            except OSError:  # already gone (EBADF): nothing left to release
                pass

    def _period_of(self, moment: float) -> int:
        assert self.rotate_every is not None
        return int(moment // self.rotate_every.total_seconds())

    def _due_for_time_rotation(self, now: float) -> bool:
        if self.rotate_every is None or self._period is None:
            return False
        period = self._period_of(now)
        if period <= self._period:  # same period, or the clock went back
            return False
        assert self._fd is not None
        if os.fstat(self._fd).st_size == 0:
            self._period = period  # nothing to rotate; the file now belongs to `period`
            return False
        return True

    def _rotate(self, now: float) -> int:
        """Rename the current file out of the way and open a fresh one."""
        micros = round(now * 1_000_000)
        target: Path | None = None
        for _ in range(10_000):
            target = self.path.with_name(f"{self.path.stem}.{_stamp(micros)}{self.path.suffix}")
            try:
                _rename_no_replace(self.path, target)
            except FileExistsError:
                micros += 1  # same microsecond as an earlier rotation: take the next one
                continue
            except FileNotFoundError:
                pass  # another process rotated it first: just open the new file
            break
        else:
            target = None
        self._close()
        fd = self._open(now)
        self._prune(now)
        if target is not None and self._compressor is not None and target.exists():
            self._compressor.submit(target)
        return fd

    def _maybe_prune(self, now: float) -> None:
        if self.max_age is None or self._last_retention is None:
            return
        interval = min(_RETENTION_INTERVAL, self.max_age.total_seconds())
        if now - self._last_retention >= interval or now < self._last_retention:
            self._prune(now)

    def _prune(self, now: float) -> None:
        """Delete rotated files beyond ``backup_count`` or older than ``max_age``.

        The first run (at the first export) also recovers from a crash: temporary
        ``.gz`` files of writers that are gone are deleted, an uncompressed file
        whose ``.gz`` is complete is deleted, and (with compression on) rotated
        files still uncompressed are handed to the compressor.
        """
        first = self._last_retention is None
        self._last_retention = now
        if self.backup_count is None and self.max_age is None and not first:
            return
        try:
            names = os.listdir(self.path.parent)
        except OSError as exc:
            reporter.report(f"file_retention:{self.path}", f"cannot list log directory: {exc}")
            return
        # stamp -> the names of one rotated file: plain, .gz, and .gz temporaries
        rotated: dict[str, list[str]] = {}
        for name in names:
            match = self._rotated_re.fullmatch(name)
            if match:
                rotated.setdefault(match.group(1), []).append(name)
        if first:
            self._recover(rotated)
        stamps = sorted(rotated, reverse=True)  # fixed-width UTC stamps: newest first
        doomed = stamps[self.backup_count :] if self.backup_count is not None else []
        if self.max_age is not None:
            cutoff = now - self.max_age.total_seconds()
            kept = stamps[: self.backup_count] if self.backup_count is not None else stamps
            doomed += [stamp for stamp in kept if _parse_stamp(stamp) < cutoff]
        for stamp in doomed:
            for name in rotated[stamp]:
                self._unlink(name, "cannot delete rotated log")

    def _recover(self, rotated: dict[str, list[str]]) -> None:
        """Finish or undo what a crash (or a stopped compressor) left; see :meth:`_prune`."""
        plain_suffix = self.path.suffix
        for stamp, group in rotated.items():
            plain = f"{self.path.stem}.{stamp}{plain_suffix}"
            done = f"{plain}.gz"
            for name in list(group):
                match = self._rotated_re.fullmatch(name)
                assert match is not None
                if match.group(3) is not None and _stale_temporary(
                    int(match.group(3)), match.group(4)
                ):
                    self._unlink(name, "cannot delete an unfinished compressed log")
                    group.remove(name)
            if plain in group and done in group:
                # Renamed into place after a sync: the .gz is complete.
                self._unlink(plain, "cannot delete a compressed log's original")
                group.remove(plain)
            elif plain in group and self._compressor is not None:
                self._compressor.submit(self.path.with_name(plain))

    def _unlink(self, name: str, what: str) -> None:
        try:
            os.unlink(self.path.parent / name)
        except FileNotFoundError:
            pass  # another process (or the compressor) removed it already
        except OSError as exc:
            reporter.report(f"file_retention:{self.path}", f"{what} {name}: {exc}")

    def _error_result(self, exc: OSError, written: int, total: int) -> ExportResult:
        code = errno.errorcode.get(exc.errno or 0, "")
        detail = f"[{code}] {os.strerror(exc.errno)}" if code and exc.errno else str(exc)
        reason = f"writing {self.path.name} failed: {detail}"
        if exc.errno == errno.EBADF:
            self._fd = self._identity = None  # the descriptor is gone; reopen next time
        if written:
            # Retrying would write the first records twice: give up on the rest only.
            return ExportResult.partial(total - written, reason)
        if exc.errno in _PERMANENT:
            return ExportResult.failure(reason)
        return ExportResult.retryable(reason)


class _Compressor:
    """Compresses rotated files, one at a time, on a daemon thread of its own.

    Compression can take seconds for a large file; on the exporter's I/O thread it
    would hold up exports. Each file is written to ``<name>.gz.<pid>-<token>.tmp``,
    synced and renamed to ``<name>.gz``; the original is deleted last, and only if it
    did not grow meanwhile (another process may still have been appending to it);
    if it did, it is compressed again.
    """

    def __init__(self, exporter: FileExporter) -> None:
        self._exporter = exporter
        self._token = secrets.token_hex(4)
        _LIVE_TOKENS.add(self._token)
        self._cond = threading.Condition()
        self._pending: list[Path] = []
        self._busy = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def submit(self, source: Path) -> None:
        """Queue ``source`` (a rotated file) for compression."""
        with self._cond:
            if self._stop.is_set() or source in self._pending:
                return
            self._pending.append(source)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop,
                    name=f"fapilog-gzip-{self._exporter.path.name}",
                    daemon=True,
                )
                self._thread.start()
            self._cond.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until nothing is queued or being compressed; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending and not self._busy, timeout)

    def stop(self, timeout: float) -> None:
        """Abandon the file being compressed and what is queued (the next start does them)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
        _LIVE_TOKENS.discard(self._token)

    def _loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending or self._stop.is_set())
                if self._stop.is_set():
                    self._pending.clear()
                    self._cond.notify_all()
                    return
                source = self._pending.pop(0)
                self._busy = True
            try:
                self._compress(source)
            except Exception as exc:  # reported; the original stays, the next start retries
                reporter.report(
                    f"file_compress:{self._exporter.path}",
                    f"cannot compress rotated log {source.name}: {exc}",
                )
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _compress(self, source: Path) -> None:
        done = source.with_name(source.name + ".gz")
        temporary = source.with_name(f"{done.name}.{os.getpid()}-{self._token}.tmp")
        for _ in range(_COMPRESS_ATTEMPTS):
            try:
                src = os.open(source, os.O_RDONLY | CLOEXEC)
            except FileNotFoundError:
                return  # retention (or another process) got to it first
            try:
                size = self._write(src, temporary)
            except BaseException:
                _unlink_quietly(temporary)
                raise
            finally:
                os.close(src)
            if size is None:  # stopped: leave the original for the next start
                _unlink_quietly(temporary)
                return
            try:
                os.replace(temporary, done)
            except FileNotFoundError:
                return  # retention deleted the temporary file: the file is doomed
            fsync_dir(source.parent)
            try:
                grown = os.stat(source).st_size != size
            except FileNotFoundError:
                return  # deleted meanwhile; retention removes a .gz it no longer wants
            if not grown:
                _unlink_quietly(source)
                return
        reporter.report(
            f"file_compress:{self._exporter.path}",
            f"rotated log {source.name} kept growing; left uncompressed",
        )

    def _write(self, src: int, temporary: Path) -> int | None:
        """Compress ``src`` into ``temporary`` and sync it; bytes read, None if stopped."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | CLOEXEC
        fd = os.open(temporary, flags, self._exporter.mode)
        total = 0
        with os.fdopen(fd, "wb") as raw:
            with gzip.GzipFile(
                filename="", mode="wb", fileobj=raw, compresslevel=_COMPRESS_LEVEL, mtime=0
            ) as out:
                while chunk := os.read(src, _COMPRESS_CHUNK):
                    if self._stop.is_set():
                        return None
                    out.write(chunk)
                    total += len(chunk)
            raw.flush()
            os.fsync(raw.fileno())
        return total


def _stale_temporary(pid: int, token: str) -> bool:
    """Whether a temporary ``.gz`` named with ``pid``-``token`` has no writer any more."""
    if pid == os.getpid():
        return token not in _LIVE_TOKENS  # an earlier process that had our pid
    if os.name != "posix":
        return False  # no harmless liveness probe: leave it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, owned by another user
        return False
    return False


def _unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


class _WriteError(Exception):
    """An ``os.write`` failed after ``records`` whole records had been written."""

    def __init__(self, error: OSError, records: int) -> None:
        super().__init__(error)
        self.error = error
        self.records = records


def _stamp(micros: int) -> str:
    return (_EPOCH + _dt.timedelta(microseconds=micros)).strftime(_STAMP_FORMAT)


def _parse_stamp(stamp: str) -> float:
    moment = _dt.datetime.strptime(stamp, _STAMP_FORMAT).replace(tzinfo=_dt.UTC)
    return (moment - _EPOCH) / _dt.timedelta(seconds=1)


def _rename_no_replace(source: Path, target: Path) -> None:
    """Rename ``source`` to ``target``; raise FileExistsError rather than replace it."""
    try:
        # A hard link fails if the target exists, atomically, unlike rename(); writers
        # still holding the file keep appending to the same inode, now named target.
        os.link(source, target)
    except FileExistsError:
        raise
    except FileNotFoundError:
        raise
    except OSError:  # no hard links here (some network and FAT file systems)
        if os.path.lexists(target):
            raise FileExistsError(errno.EEXIST, "rotated file exists", str(target)) from None
        os.rename(source, target)
        return
    os.unlink(source)
