"""The spool: append-only segments on disk, a cursor per exporter (see ``__init__``)."""

from __future__ import annotations

import bisect
import mmap
import os
import secrets
import threading
import time
import weakref
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

from fapilog._fsutil import CLOEXEC, fsync_dir
from fapilog.errors import ConfigError
from fapilog.spool._codec import RECORD_ID, _Decoder, _Encoder
from fapilog.spool._errors import SpoolUnavailable
from fapilog.spool._format import (
    FORMAT_VERSION,
    HEADER_SIZE,
    REC_HEADER,
    SEGMENT_RE,
    cursor_file_name,
    exporter_from_file_name,
    frames,
    pack_cursor,
    pack_header,
    scan,
    segment_name,
    unpack_cursor,
    unpack_header,
)
from fapilog.spool._format import (
    listdir as _listdir,
)
from fapilog.spool._lock import DirLock

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from fapilog._event import LogEvent

__all__ = ["AppendResult", "FsyncPolicy", "GcResult", "OverflowPolicy", "Spool", "SpoolStats"]

FsyncPolicy = Literal["batch", "interval", "never"]
OverflowPolicy = Literal["drop_oldest", "drop_newest", "block"]

#: Drop reasons the spool counts.
FULL = "spool_full"
EXPIRED = "spool_expired"

_MAPS_MAX = 4
_live: weakref.WeakSet[Spool] = weakref.WeakSet()
_fdatasync = getattr(os, "fdatasync", os.fsync)

CURSOR_SYNC_S = 1.0
"""With ``fsync="batch"``: the longest a cursor goes without an fsync while it moves.

A commit always renames the new cursor into place (safe against a crash of the
process); fsyncing the file and the directory costs milliseconds, so it is done at
most this often per exporter (and at :meth:`Spool.gc` and :meth:`Spool.close`)."""


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What :meth:`Spool.append` did with a batch.

    The events written are ``events[start : start + count]``, with sequence numbers
    ``first_seq ... first_seq + count - 1``. The others were either dropped (counted in
    ``dropped``) or, with ``overflow="block"``, not written and not dropped:
    ``events[start + count :]`` is left to the caller to append again later.
    """

    first_seq: int
    """Sequence number of the first event written (the head when none was)."""
    count: int
    """Events written."""
    start: int = 0
    """Index in the batch of the first event written (``drop_oldest`` may skip a
    prefix of a batch larger than the whole spool)."""
    dropped: Mapping[str, int] = field(default_factory=dict)
    """Events of this batch not written, by reason (``spool_full``)."""
    evicted: Mapping[str, int] = field(default_factory=dict)
    """Per exporter, its undelivered records that ``drop_oldest`` deleted to make room
    (reason ``spool_full``); also in :attr:`SpoolStats.lost`."""
    unwritten: int = 0
    """Events neither written nor dropped: ``events[start + count :]`` (only with
    ``overflow="block"``); the caller keeps them and appends them again later."""


@dataclass(frozen=True, slots=True)
class GcResult:
    """What :meth:`Spool.gc` deleted."""

    segments: int
    """Segment files deleted."""
    bytes: int
    """Bytes freed."""
    expired: Mapping[str, int]
    """Per exporter, its undelivered records deleted for age (``spool_expired``)."""


@dataclass(frozen=True, slots=True)
class SpoolStats:
    """A snapshot of one spool."""

    directory: str
    fsync: str
    """The durability policy."""
    bytes: int
    """Bytes on disk in segment files."""
    segments: int
    oldest_seq: int
    """Sequence number of the oldest record on disk (``head_seq`` when empty)."""
    head_seq: int
    """The sequence number the next appended record gets."""
    cursors: Mapping[str, int]
    """Per exporter (every cursor in the directory): the next sequence number to deliver."""
    pending: Mapping[str, int]
    """Per exporter: records on disk not yet delivered (damaged ones not yet met included)."""
    recovered: Mapping[str, int]
    """Per exporter: records pending when the spool was opened (left by an earlier process)."""
    corrupt: int
    """Damaged records met so far (torn writes, flipped bytes), each counted once."""
    dropped: Mapping[str, int]
    """Records lost for at least one exporter, by reason (``spool_full``, ``spool_expired``)."""
    lost: Mapping[str, Mapping[str, int]]
    """Per exporter, its undelivered records deleted, by reason."""


class _Seg:
    __slots__ = ("first_seq", "mtime", "path", "size", "writer")

    def __init__(self, first_seq: int, path: Path, size: int, mtime: float, writer: str) -> None:
        self.first_seq = first_seq
        self.path = path
        self.size = size
        self.mtime = mtime
        self.writer = writer


def _unavailable(what: str, path: Path, exc: OSError) -> SpoolUnavailable:
    return SpoolUnavailable(exc.errno, f"{what} {path}: {exc.strerror or exc}")


class Spool:
    """A crash-safe, bounded, append-only event store with one cursor per exporter.

    Open with :meth:`open`. See the package docstring for the guarantees of each
    durability policy and the overflow policies. Thread-safe: one lock guards all
    state (the pipeline appends, reads and commits on its worker thread; the
    ``interval`` policy's fsync thread takes the lock only to copy the descriptor).
    """

    def __init__(
        self,
        directory: Path,
        lock: DirLock,
        *,
        max_bytes: int,
        max_age_s: float,
        fsync: FsyncPolicy,
        fsync_interval_s: float,
        overflow: OverflowPolicy,
        segment_bytes: int,
    ) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        self.fsync: FsyncPolicy = fsync
        self.fsync_interval_s = fsync_interval_s
        self.overflow: OverflowPolicy = overflow
        self.segment_bytes = segment_bytes
        self._dirlock = lock
        self._seg_dir = directory / "segments"
        self._cur_dir = directory / "cursors"
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._writer = secrets.token_bytes(8)
        self._writer_hex = self._writer.hex()
        self._encoder = _Encoder()
        self._decoder = _Decoder()
        self._segments: list[_Seg] = []
        self._firsts: list[int] = []
        self._active: _Seg | None = None
        self._fd: int | None = None
        self._head = 0
        self._bytes = 0
        self._cursors: dict[str, int] = {}
        self._unsaved: set[str] = set()
        self._unsynced: set[str] = set()  # written, not yet fsynced (fsync="batch")
        self._cursor_fds: dict[str, int] = {}  # exporter -> its open cursor file
        self._cursor_due: dict[str, float] = {}  # exporter -> monotonic time of next fsync
        self._corrupt = 0
        self._corrupt_seen: set[tuple[int, int]] = set()
        self._dropped: Counter[str] = Counter()
        self._lost: dict[str, Counter[str]] = {}
        self._maps: dict[int, tuple[mmap.mmap, int]] = {}
        self._readpos: dict[str, tuple[int, int, int]] = {}  # exporter -> (seq, seg, offset)
        self._dirty = False
        self._closed = False
        self._pid = os.getpid()
        self._recover()
        self._recovered = {name: self._pending(name) for name in self._cursors}
        self._stop = threading.Event()
        self._sync_thread: threading.Thread | None = None
        if fsync == "interval":
            self._sync_thread = threading.Thread(
                target=self._sync_loop, name="fapilog-spool-sync", daemon=True
            )
            self._sync_thread.start()
        _live.add(self)

    # -- opening ------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        directory: str | os.PathLike[str],
        *,
        max_bytes: int = 1 << 30,
        max_age_s: float = 7 * 86400.0,
        fsync: FsyncPolicy = "batch",
        fsync_interval_s: float = 1.0,
        overflow: OverflowPolicy = "drop_oldest",
        segment_bytes: int | None = None,
    ) -> Spool:
        """Open (creating it if needed) and lock a spool directory.

        Records left in it by an earlier process are kept: each exporter resumes from
        its cursor (see :meth:`register`).

        Args:
            directory: the spool directory (created with mode ``0o700``).
            max_bytes: bound on the bytes of segment files (default 1 GiB).
            max_age_s: segments whose last write is older are deleted by :meth:`gc`,
                undelivered records counted as dropped ``spool_expired`` (default 7 days).
            fsync: ``"batch"`` (default), ``"interval"`` or ``"never"``.
            fsync_interval_s: the ``interval`` policy's period.
            overflow: ``"drop_oldest"`` (default), ``"drop_newest"`` or ``"block"``.
            segment_bytes: size at which a segment file is closed and a new one begun
                (default: a sixteenth of ``max_bytes``, between 64 KiB and 64 MiB).

        Raises:
            ConfigError: a parameter is invalid.
            SpoolLockedError: another live process (or Spool) owns the directory.
            SpoolUnavailable: the directory cannot be created, written or locked, or it
                was written by a newer format.
        """
        if fsync not in get_args(FsyncPolicy):
            raise ConfigError(
                f"spool fsync policy must be one of batch, interval, never, not {fsync!r}",
                fields=("spool_fsync",),
            )
        if overflow not in get_args(OverflowPolicy):
            raise ConfigError(
                "spool overflow policy must be one of drop_oldest, drop_newest, block, "
                f"not {overflow!r}",
                fields=("spool_overflow",),
            )
        if max_bytes <= HEADER_SIZE * 2:
            raise ConfigError(
                f"spool max_bytes must be more than {HEADER_SIZE * 2}, not {max_bytes}",
                fields=("spool_max_bytes",),
            )
        if not max_age_s > 0:
            raise ConfigError(
                f"spool max_age_s must be positive, not {max_age_s}",
                fields=("spool_max_age_s",),
            )
        if fsync == "interval" and not fsync_interval_s > 0:
            raise ConfigError(f"spool fsync_interval_s must be positive, not {fsync_interval_s}")
        if segment_bytes is None:
            segment_bytes = min(max(max_bytes // 16, 64 * 1024), 64 * 1024 * 1024)
        segment_bytes = max(min(segment_bytes, max_bytes - HEADER_SIZE), HEADER_SIZE + 1)
        path = Path(directory).absolute()
        for sub in (path, path / "segments", path / "cursors"):
            try:
                sub.mkdir(parents=True, exist_ok=True, mode=0o700)
            except OSError as exc:
                raise _unavailable("cannot create the spool directory", sub, exc) from None
        lock = DirLock.acquire(path)
        try:
            probe = path / "segments" / f".probe-{os.getpid()}"
            try:
                os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | CLOEXEC, 0o600))
                os.unlink(probe)
            except OSError as exc:
                raise _unavailable(
                    "cannot write in the spool directory", probe.parent, exc
                ) from None
            return cls(
                path,
                lock,
                max_bytes=max_bytes,
                max_age_s=max_age_s,
                fsync=fsync,
                fsync_interval_s=fsync_interval_s,
                overflow=overflow,
                segment_bytes=segment_bytes,
            )
        except BaseException:
            lock.release()
            raise

    def _recover(self) -> None:
        """Load segments and cursors left in the directory; find the head."""
        segs: list[_Seg] = []
        for entry in _listdir(self._seg_dir):
            match = SEGMENT_RE.fullmatch(entry.name)
            if match is None:
                continue
            st = entry.stat()
            path = Path(entry.path)
            with open(path, "rb") as fh:
                header = unpack_header(fh.read(HEADER_SIZE))
            if header is not None and header.version > FORMAT_VERSION:
                raise SpoolUnavailable(
                    f"the spool segment {path} has format version {header.version}, newer "
                    f"than this fapilog reads ({FORMAT_VERSION}): deliver it with the newer "
                    "fapilog (fapilog spool drain), or point this process at another directory"
                )
            writer = header.writer.hex() if header is not None else "unknown"
            segs.append(_Seg(int(match.group(1)), path, st.st_size, st.st_mtime, writer))
        segs.sort(key=lambda s: s.first_seq)
        self._segments = segs
        self._firsts = [s.first_seq for s in segs]
        self._bytes = sum(s.size for s in segs)
        head = 0
        if segs:
            last = segs[-1]
            head = last.first_seq
            buf = self._map(last)
            if buf is not None:
                for region in scan(buf, HEADER_SIZE, last.size):
                    if region.seq >= 0:
                        head = max(head, region.seq + 1)
        for entry in _listdir(self._cur_dir):
            if entry.name.endswith(".tmp"):
                try:
                    os.unlink(entry.path)
                except OSError:
                    pass
                continue
            name = exporter_from_file_name(entry.name)
            if name is None:
                continue
            self._cursors[name] = self._load_cursor(Path(entry.path), name)
        if self._cursors:
            head = max(head, *self._cursors.values())
        self._head = head
        if segs and segs[-1].first_seq >= head:
            # The last segment holds no record that checks (an empty segment, or a torn
            # first record): a new segment will begin at the same sequence number.
            last = segs[-1]
            if last.size > HEADER_SIZE:
                self._corrupt += 1
            self._delete(last, None)

    def _load_cursor(self, path: Path, name: str) -> int:
        try:
            seq = unpack_cursor(path.read_bytes(), name)
        except OSError:
            seq = None
        if seq is not None:
            return seq
        # Unreadable (e.g. a power loss under fsync="never"): deliver from the oldest
        # record on disk again, duplicates rather than losses.
        return self._firsts[0] if self._firsts else 0

    # -- exporters ----------------------------------------------------------------------

    def register(self, exporter: str) -> int:
        """Give ``exporter`` a cursor, if it has none; return its next sequence number.

        An exporter whose cursor file exists resumes from it (a restart replays what
        it had not delivered). A new exporter starts at the oldest record some other
        exporter has not delivered, or, when the directory has no cursor at all (left
        by a process that never delivered), at the oldest record on disk: it gets every
        record that is still pending anywhere.
        """
        with self._lock:
            self._check_open()
            if exporter in self._cursors:
                return self._effective(exporter)
            start = min(self._cursors.values()) if self._cursors else self._oldest()
            self._cursors[exporter] = start
            self._recovered.setdefault(exporter, self._pending(exporter))
            self._save_cursor(exporter, durable=True)
            return start

    def forget(self, exporter: str) -> None:
        """Delete ``exporter``'s cursor: its undelivered records no longer hold disk space."""
        with self._cond:
            self._check_open()
            if self._cursors.pop(exporter, None) is None:
                return
            self._readpos.pop(exporter, None)
            self._unsaved.discard(exporter)
            self._unsynced.discard(exporter)
            fd = self._cursor_fds.pop(exporter, None)
            if fd is not None:
                os.close(fd)
            try:
                os.unlink(self._cur_dir / cursor_file_name(exporter))
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise _unavailable("cannot delete the spool cursor", self._cur_dir, exc) from None
            self._gc_delivered()
            self._cond.notify_all()

    def pending(self, exporter: str) -> int:
        """Records on disk ``exporter`` has not delivered (0 for an unknown exporter)."""
        with self._lock:
            return self._pending(exporter) if exporter in self._cursors else 0

    def _pending(self, exporter: str) -> int:
        return self._head - self._effective(exporter)

    def _effective(self, exporter: str) -> int:
        return max(self._cursors[exporter], self._oldest())

    def _oldest(self) -> int:
        return self._firsts[0] if self._firsts else self._head

    def _save_cursor(self, exporter: str, *, durable: bool = False) -> None:
        """Write ``exporter``'s cursor (see ``_format``: fixed width, checksummed).

        The first write of a session makes a new file (a temporary one renamed over
        the old) and keeps it open; later ones rewrite it in place with one
        ``pwrite`` (a few microseconds, and a crash of the process cannot tear it).
        With ``fsync="batch"`` the cursor is fsynced when ``durable`` is set or its
        last fsync is :data:`CURSOR_SYNC_S` old (an fsync per commit would cost more
        than the append itself); :meth:`gc` and :meth:`close` fsync the others. After
        a machine crash a cursor that lags means duplicates, never a loss; one that
        was torn does not check and counts as missing (the same).
        """
        data = pack_cursor(exporter, self._cursors[exporter])
        sync, now = False, 0.0
        if self.fsync == "batch":
            now = time.monotonic()
            sync = durable or now >= self._cursor_due.get(exporter, 0.0)
        fd = self._cursor_fds.get(exporter)
        path = self._cur_dir / cursor_file_name(exporter)
        try:
            if fd is None:
                tmp = path.with_name(path.name + ".tmp")
                out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | CLOEXEC, 0o600)
                try:
                    os.write(out, data)
                    if sync:
                        os.fsync(out)
                finally:
                    os.close(out)
                os.replace(tmp, path)
                if sync:
                    fsync_dir(self._cur_dir)
                self._cursor_fds[exporter] = os.open(path, os.O_RDWR | CLOEXEC)
            else:
                os.pwrite(fd, data, 0)
                if sync:
                    _fdatasync(fd)
        except OSError as exc:
            self._unsaved.add(exporter)
            raise _unavailable("cannot write the spool cursor", path, exc) from None
        self._unsaved.discard(exporter)
        if sync:
            self._cursor_due[exporter] = now + CURSOR_SYNC_S
            self._unsynced.discard(exporter)
        elif self.fsync == "batch":
            self._unsynced.add(exporter)

    def _sync_cursors(self) -> None:
        """fsync the cursors written without one (``fsync="batch"``)."""
        if not self._unsynced:
            return
        due = time.monotonic() + CURSOR_SYNC_S
        for exporter in list(self._unsynced):
            fd = self._cursor_fds.get(exporter)
            if fd is not None:
                try:
                    _fdatasync(fd)
                except OSError as exc:
                    path = self._cur_dir / cursor_file_name(exporter)
                    raise _unavailable("cannot fsync the spool cursor", path, exc) from None
                self._cursor_due[exporter] = due
            self._unsynced.discard(exporter)

    def _close_cursors(self) -> None:
        fds, self._cursor_fds = self._cursor_fds, {}
        for fd in fds.values():
            try:
                os.close(fd)
            except OSError:
                pass

    def commit(self, exporter: str, next_seq: int) -> None:
        """Record that ``exporter`` delivered every record before ``next_seq``.

        Written before returning (to a temporary file renamed over the cursor, so it
        survives a crash of the process). With ``fsync="batch"`` the file and the
        directory are fsynced too, at most every :data:`CURSOR_SYNC_S` per exporter
        (and by :meth:`gc` and :meth:`close`): after a machine crash the cursor may
        lag by the deliveries of that last second (duplicates, never a loss). A
        cursor never moves back: a smaller ``next_seq`` is ignored.

        Raises:
            KeyError: ``exporter`` is not registered.
            ValueError: ``next_seq`` is beyond the head.
            SpoolUnavailable: the cursor could not be written (kept in memory; it is
                written again by the next commit or :meth:`close`).
        """
        with self._cond:
            self._check_open()
            current = self._cursors[exporter]
            if next_seq > self._head:
                raise ValueError(
                    f"cannot commit {exporter!r} to {next_seq}: the spool head is {self._head}"
                )
            if next_seq <= current:
                return
            self._cursors[exporter] = next_seq
            self._save_cursor(exporter)
            if len(self._segments) > 1 and next_seq >= self._firsts[1]:
                self._gc_delivered()
            self._cond.notify_all()  # an append waiting for room (overflow="block")

    # -- appending ----------------------------------------------------------------------

    def append(self, events: Sequence[LogEvent], *, timeout: float = 0.0) -> AppendResult:
        """Write ``events`` as records, in order, with consecutive sequence numbers.

        Before it returns, each written event gets the attribute ``fapilog.record.id``
        (``"<writer id>:<seq>"``, the same a :meth:`read` of the record gives), and with
        ``fsync="batch"`` the records are on disk (fdatasync).

        When the batch does not fit in ``max_bytes``, segments every exporter has
        delivered are deleted first; if that is not enough the overflow policy applies:
        ``drop_oldest`` deletes the oldest segments (whole files; undelivered records
        counted per exporter in ``evicted``), ``drop_newest`` writes the prefix that
        fits and drops the rest, ``block`` waits up to ``timeout`` seconds for
        deliveries (by another thread) to free room, then writes the prefix that fits
        and leaves the rest to the caller (nothing dropped).

        Raises:
            SpoolUnavailable: a write or fsync failed (disk full, file size limit, I/O
                error); nothing of this batch is left on disk half-written.
        """
        with self._cond:
            self._check_open()
            n = len(events)
            if n == 0:
                return AppendResult(self._head, 0)
            encode = self._encoder.encode
            payloads = [encode(ev) for ev in events]
            sizes = [REC_HEADER + len(p) for p in payloads]
            total = sum(sizes)
            start, stop = 0, n
            dropped: dict[str, int] = {}
            evicted: Counter[str] = Counter()
            if self._need(total) > self._room():
                self._gc_delivered(active=True)
                if self._need(total) > self._room() and self.overflow == "drop_oldest":
                    while self._segments and self._need(total) > self._room():
                        evicted.update(self._delete(self._segments[0], FULL))
                elif self._need(total) > self._room() and self.overflow == "block":
                    deadline = time.monotonic() + timeout
                    while self._need(total) > self._room():
                        left = deadline - time.monotonic()
                        if left <= 0 or self._closed:
                            break
                        self._cond.wait(left)
                        self._check_open()
                        self._gc_delivered(active=True)
                if self._need(total) > self._room():
                    room = self._room()
                    if self.overflow == "drop_oldest":
                        while start < stop and self._need(total) > room:
                            total -= sizes[start]
                            start += 1
                        if start:
                            dropped[FULL] = start
                    else:
                        while stop > start and self._need(total) > room:
                            stop -= 1
                            total -= sizes[stop]
                        if stop < n and self.overflow == "drop_newest":
                            dropped[FULL] = n - stop
                    self._dropped.update(dropped)
            first = self._head
            if stop > start:
                self._write_records(payloads, start, stop)
                writer = self._writer_hex
                for i in range(start, stop):
                    events[i].attributes[RECORD_ID] = f"{writer}:{first + i - start}"
            unwritten = n - stop if self.overflow == "block" else 0
            return AppendResult(first, stop - start, start, dropped, dict(evicted), unwritten)

    def _room(self) -> int:
        return self.max_bytes - self._bytes

    def _need(self, total: int) -> int:
        active = self._active
        if total and (
            active is None
            or (active.size > HEADER_SIZE and active.size + total > self.segment_bytes)
        ):
            return total + HEADER_SIZE
        return total

    def _write_records(self, payloads: list[bytes], start: int, stop: int) -> None:
        head = self._head
        data = frames(head, payloads[start:stop])
        active = self._active
        if (
            active is None
            or self._fd is None
            or (active.size > HEADER_SIZE and active.size + len(data) > self.segment_bytes)
        ):
            self._rotate()
        active = self._active
        fd = self._fd
        assert active is not None
        assert fd is not None
        before = active.size
        try:
            view = memoryview(data)
            done = 0
            while done < len(data):
                done += os.write(fd, view[done:])
            if self.fsync == "batch":
                _fdatasync(fd)
        except OSError as exc:
            try:
                os.ftruncate(fd, before)
            except OSError:  # the torn tail stays: readers skip and count it
                try:
                    size = os.fstat(fd).st_size
                    self._bytes += size - active.size
                    active.size = size
                except OSError:
                    pass
            raise _unavailable("cannot write to the spool segment", active.path, exc) from None
        self._head = head + (stop - start)
        active.size = before + len(data)
        active.mtime = time.time()
        self._bytes += len(data)
        self._dirty = True

    def _rotate(self) -> None:
        """Close the active segment (synced per policy) and begin one at the head."""
        self._close_active()
        path = self._seg_dir / segment_name(self._head)
        header = pack_header(time.time_ns(), self._head, self._writer)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | CLOEXEC, 0o600)
        except OSError as exc:
            raise _unavailable("cannot create the spool segment", path, exc) from None
        try:
            os.write(fd, header)
            if self.fsync != "never":
                _fdatasync(fd)
                fsync_dir(self._seg_dir)
        except OSError as exc:
            os.close(fd)
            try:
                os.unlink(path)
            except OSError:
                pass
            raise _unavailable("cannot create the spool segment", path, exc) from None
        seg = _Seg(self._head, path, HEADER_SIZE, time.time(), self._writer_hex)
        self._segments.append(seg)
        self._firsts.append(seg.first_seq)
        self._bytes += HEADER_SIZE
        self._active = seg
        self._fd = fd

    def _close_active(self) -> None:
        fd, self._fd = self._fd, None
        self._active = None
        if fd is None:
            return
        try:
            if self._dirty and self.fsync == "interval":
                _fdatasync(fd)
        except OSError:
            pass  # the records stay readable; only their durability is in question
        finally:
            self._dirty = False
            os.close(fd)

    def flush(self) -> None:
        """fsync the records appended so far, whatever the policy."""
        with self._lock:
            if self._fd is not None and self._dirty:
                try:
                    _fdatasync(self._fd)
                except OSError as exc:
                    raise _unavailable(
                        "cannot fsync the spool segment", self.directory, exc
                    ) from None
                self._dirty = False

    def _sync_loop(self) -> None:
        while not self._stop.wait(self.fsync_interval_s):
            with self._lock:
                if self._fd is None or not self._dirty:
                    continue
                fd = os.dup(self._fd)
                self._dirty = False
            try:
                _fdatasync(fd)
            except OSError:
                pass  # appends report disk trouble; this thread has no caller to tell
            finally:
                os.close(fd)

    # -- reading ------------------------------------------------------------------------

    def _map(self, seg: _Seg) -> mmap.mmap | None:
        """A read-only map of ``seg`` covering its current size (None if too small)."""
        if seg.size <= HEADER_SIZE:
            return None
        hit = self._maps.get(seg.first_seq)
        if hit is not None:
            if hit[1] >= seg.size:
                return hit[0]
            hit[0].close()
            del self._maps[seg.first_seq]
        if len(self._maps) >= _MAPS_MAX:
            oldest = next(iter(self._maps))
            self._maps.pop(oldest)[0].close()
        with open(seg.path, "rb") as fh:
            mapped = mmap.mmap(fh.fileno(), seg.size, access=mmap.ACCESS_READ)
        self._maps[seg.first_seq] = (mapped, seg.size)
        return mapped

    def _count_corrupt(self, seg: _Seg, offset: int, n: int) -> None:
        key = (seg.first_seq, offset)
        if key not in self._corrupt_seen:
            self._corrupt_seen.add(key)
            self._corrupt += n

    def read(
        self,
        exporter: str,
        max_events: int = 512,
        max_bytes: int = 4 * 1024 * 1024,
        *,
        start: int | None = None,
    ) -> list[tuple[int, LogEvent]]:
        """The next records for ``exporter``: ``(seq, event)`` pairs in order.

        Reads from ``start`` (default: the exporter's cursor); does not move the cursor
        (:meth:`commit` does), except past damaged records when nothing good precedes
        them, so that a damaged tail does not stay pending. Damaged records are skipped
        and counted in :attr:`SpoolStats.corrupt`. At least one record is returned when
        one is pending, however large; otherwise at most ``max_events`` records and
        ``max_bytes`` payload bytes.

        Raises:
            KeyError: ``exporter`` is not registered.
        """
        with self._lock:
            self._check_open()
            seq = max(self._cursors[exporter] if start is None else start, self._oldest())
            out: list[tuple[int, LogEvent]] = []
            if seq >= self._head or not self._segments:
                return out
            index = max(bisect.bisect_right(self._firsts, seq) - 1, 0)
            offset = HEADER_SIZE
            expected = self._segments[index].first_seq
            cached = self._readpos.get(exporter)
            if cached is not None and cached[0] == seq and cached[1] == self._firsts[index]:
                offset, expected = cached[2], seq
            size = 0
            decode = self._decoder.decode
            while index < len(self._segments):
                seg = self._segments[index]
                end_seq = self._firsts[index + 1] if index + 1 < len(self._segments) else self._head
                try:
                    buf = self._map(seg)
                except OSError:
                    buf = None
                bad: int | None = None
                if buf is None and seg.size > 0 and seg.size != HEADER_SIZE:
                    bad = 0
                if buf is not None:
                    for region in scan(buf, offset, seg.size):
                        if region.seq < 0:
                            bad = region.start
                            continue
                        if bad is not None:
                            self._count_corrupt(seg, bad, max(1, region.seq - expected))
                            bad = None
                        expected = region.seq + 1
                        if region.seq < seq:
                            continue
                        length = region.end - region.start - REC_HEADER
                        if out and (len(out) >= max_events or size + length > max_bytes):
                            self._readpos[exporter] = (region.seq, seg.first_seq, region.start)
                            return out
                        try:
                            event = decode(buf[region.start + REC_HEADER : region.end])
                        except Exception:  # checks, yet does not decode: count it
                            self._count_corrupt(seg, region.start, 1)
                            continue
                        event.attributes[RECORD_ID] = f"{seg.writer}:{region.seq}"
                        out.append((region.seq, event))
                        size += length
                if bad is not None:
                    self._count_corrupt(seg, bad, max(1, end_seq - expected))
                expected = end_seq
                self._readpos[exporter] = (end_seq, seg.first_seq, seg.size)
                index += 1
                offset = HEADER_SIZE
            if not out and start is None and expected > self._cursors[exporter]:
                # Only damaged records were pending: step over them.
                self._cursors[exporter] = min(expected, self._head)
                self._unsaved.add(exporter)
            return out

    # -- bounds -------------------------------------------------------------------------

    def _delete(self, seg: _Seg, reason: str | None) -> Counter[str]:
        """Delete ``seg``; count its records undelivered per exporter as ``reason``."""
        index = self._segments.index(seg)
        end = self._firsts[index + 1] if index + 1 < len(self._segments) else self._head
        lost: Counter[str] = Counter()
        if reason is not None:
            for name, cursor in self._cursors.items():
                n = end - max(cursor, seg.first_seq)
                if n > 0:
                    lost[name] = n
                    self._lost.setdefault(name, Counter())[reason] += n
            if self._cursors:
                distinct = end - max(min(self._cursors.values()), seg.first_seq)
            else:
                distinct = end - seg.first_seq
            if distinct > 0:
                self._dropped[reason] += distinct
        if seg is self._active:
            self._close_active()
        hit = self._maps.pop(seg.first_seq, None)
        if hit is not None:
            hit[0].close()
        try:
            os.unlink(seg.path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise _unavailable("cannot delete the spool segment", seg.path, exc) from None
        del self._segments[index]
        del self._firsts[index]
        self._bytes -= seg.size
        return lost

    def _gc_delivered(self, *, active: bool = False) -> int:
        """Delete closed segments every cursor has passed; the number deleted.

        ``active``: the active segment too, when every cursor is at the head (an
        append that needs room; otherwise it stays, to spare a new file per batch).
        """
        if not self._cursors:
            return 0
        low = min(self._cursors.values())
        deleted = 0
        while self._segments:
            seg = self._segments[0]
            end = self._firsts[1] if len(self._segments) > 1 else self._head
            if end > low or (seg is self._active and not active):
                break
            self._delete(seg, None)
            deleted += 1
        return deleted

    def gc(self, *, now: float | None = None) -> GcResult:
        """Delete segments every exporter has delivered, and those past ``max_age_s``.

        A segment's age is that of its last write (its mtime). Undelivered records in
        an expired segment are counted as dropped ``spool_expired``, per exporter.
        Delivered segments are also deleted as cursors pass them (on commit) and when
        an append needs room; call this periodically for the age bound.

        Args:
            now: the wall-clock time to measure ages against (default: now).
        """
        with self._cond:
            self._check_open()
            before_n, before_b = len(self._segments), self._bytes
            self._gc_delivered()
            cutoff = (time.time() if now is None else now) - self.max_age_s
            expired: Counter[str] = Counter()
            for seg in list(self._segments):
                try:
                    mtime = os.stat(seg.path).st_mtime
                except OSError:
                    mtime = seg.mtime
                seg.mtime = mtime
                if mtime < cutoff:
                    expired.update(self._delete(seg, EXPIRED))
            freed = before_b - self._bytes
            if freed:
                self._cond.notify_all()
            self._sync_cursors()
            return GcResult(before_n - len(self._segments), freed, dict(expired))

    # -- state --------------------------------------------------------------------------

    def stats(self) -> SpoolStats:
        """A snapshot of the spool's size, cursors and counters."""
        with self._lock:
            cursors = dict(self._cursors)
            return SpoolStats(
                directory=str(self.directory),
                fsync=self.fsync,
                bytes=self._bytes,
                segments=len(self._segments),
                oldest_seq=self._oldest(),
                head_seq=self._head,
                cursors=cursors,
                pending={name: self._pending(name) for name in cursors},
                recovered=dict(self._recovered),
                corrupt=self._corrupt,
                dropped=dict(self._dropped),
                lost={name: dict(c) for name, c in self._lost.items()},
            )

    @property
    def head(self) -> int:
        """The sequence number the next appended record gets."""
        return self._head

    @property
    def closed(self) -> bool:
        """True after :meth:`close` (and in a forked child)."""
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise SpoolUnavailable(f"the spool {self.directory} is closed")
        if self._pid != os.getpid():  # pragma: no cover - the at-fork hook closes it first
            raise SpoolUnavailable(f"the spool {self.directory} belongs to the parent process")

    def close(self) -> None:
        """Sync (per policy), save cursors, unlock. Idempotent."""
        self._stop.set()
        thread = self._sync_thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        with self._cond:
            if self._closed:
                return
            self._closed = True
            try:
                for name in list(self._unsaved):
                    try:
                        self._save_cursor(name, durable=True)
                    except SpoolUnavailable:
                        pass  # the cursor on disk lags: duplicates on replay, no loss
                try:
                    self._sync_cursors()
                except SpoolUnavailable:
                    pass  # as above
                self._close_cursors()
                if self._fd is not None and self._dirty and self.fsync != "never":
                    try:
                        _fdatasync(self._fd)
                    except OSError:
                        pass
                    self._dirty = False
                self._close_active()
                for mapped, _size in self._maps.values():
                    mapped.close()
                self._maps.clear()
            finally:
                self._dirlock.release()
                _live.discard(self)
                self._cond.notify_all()

    def _forget_in_child(self) -> None:
        """In a forked child: drop the inherited descriptors; the parent keeps the lock."""
        self._closed = True
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass
        self._close_cursors()
        for mapped, _size in self._maps.values():
            mapped.close()
        self._maps.clear()
        self._dirlock.release()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"head={self._head}"
        return f"Spool({str(self.directory)!r}, fsync={self.fsync!r}, {state})"


def _after_fork_in_child() -> None:
    for spool in list(_live):
        spool._forget_in_child()
    _live.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
