"""The pipeline's side of the durable disk spool (:mod:`fapilog.spool`).

A :class:`SpoolLink` sits between the processors and the lanes: the worker appends
every processed (so redacted) event to the spool before it counts as staged, and each
lane (exporter) keeps a cursor there that moves on when the lane has a final outcome
for a batch and for every batch before it (in the order the lane took them). A lane
that falls behind (it sheds, or its circuit is open) *parks* batches: it keeps only
their sequence ranges and reads the events back from the spool when it has room, in
order. A directory left behind by an earlier process is replayed to each exporter
from its cursor before the new events.

All spool calls are made on the worker thread (appends in a drain, reads and commits
on the worker's loop); :meth:`SpoolLink.info` only reads counters kept here (plain
ints, published under a lock) and a copy of the spool's statistics taken on the
worker, so ``stats()`` on another thread never touches the files.

A disk failure (``SpoolUnavailable``) degrades the pipeline to memory only: one
diagnostic line, ``stats().spool.degraded``, never an exception in a log call.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from fapilog._diagnostics import reporter

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from fapilog._event import LogEvent
    from fapilog.config import Settings

__all__ = ["GC_INTERVAL", "SpoolInfo", "SpoolLink", "open_link"]

#: Seconds between two garbage collections of passed and expired segments.
GC_INTERVAL = 1.0
#: Drop reason of events the spool could not take (``spool_overflow=drop_newest``).
SPOOL_FULL = "spool_full"
#: Drop reason of records the spool lost before a lane read them back (deleted for
#: room or age, or found corrupt).
SPOOL_LOST = "spool_lost"
#: Drop reason of parked events when the disk failed (they were nowhere else).
SPOOL_UNAVAILABLE = "spool_unavailable"
#: Outcome at shutdown of events that are on disk but not yet delivered: not a loss,
#: the next process on the directory (or ``fapilog spool drain``) delivers them.
SPOOLED = "spooled"


@dataclass(frozen=True, slots=True)
class SpoolInfo:
    """The durable spool of a pipeline, as seen by :meth:`fapilog.Pipeline.stats`."""

    directory: str
    """The spool directory."""
    degraded: bool = False
    """True once a disk failure turned the spool off (memory only from then on)."""
    replayed: int = 0
    """Records a previous process left behind that were delivered (to every exporter
    that owed them) by this one. Not part of ``emitted``: see ``docs/durability.md``."""
    replay_pending: int = 0
    """Records of a previous process still to be replayed (summed over exporters)."""
    replay_dropped: int = 0
    """Replayed records that could not be delivered (rejected, or lost on disk)."""
    possible_duplicates: int = 0
    """Upper bound on records a previous process may have delivered without
    committing (so they are sent again): its batches in flight per exporter."""
    bytes: int = 0
    """Bytes on disk (as of the last garbage collection, at most a second old)."""
    segments: int = 0
    """Segment files on disk (as of the last garbage collection)."""
    corrupt: int = 0
    """Damaged records found and skipped."""
    dropped: Mapping[str, int] = field(default_factory=dict)
    """Records the spool itself dropped, by reason (``spool_full``, ``spool_expired``)."""
    pending: Mapping[str, int] = field(default_factory=dict)
    """Per exporter, records on disk it has not finished yet (last garbage collection)."""


class SpoolLink:
    """The pipeline's handle on one open spool (see the module docstring).

    Args:
        spool: an open :class:`fapilog.spool.Spool`, or ``None`` when opening failed
            (the link is then degraded from the start).
        directory: the spool directory, for stats and messages.
    """

    def __init__(self, spool: Any, directory: str) -> None:
        self.spool: Any = spool
        self.directory = directory
        self.degraded = spool is None
        self._lock = threading.Lock()
        self._replayed = 0
        self._replay_pending = 0
        self._replay_dropped = 0
        self.possible_duplicates = 0
        self._spool_stats: Any = None
        self._next_gc = 0.0
        #: Called once on the worker when the disk fails (the lanes drop what they parked).
        self.on_fail: Callable[[], None] | None = None

    @property
    def active(self) -> bool:
        """Whether events are spooled (False when off after a disk failure)."""
        return self.spool is not None

    # -- start -----------------------------------------------------------------------------

    def register(
        self, lanes: Sequence[tuple[str, int]], batch_size: int
    ) -> dict[str, list[tuple[int, int]]]:
        """Register every exporter; the ranges each must replay, in batches.

        Args:
            lanes: (exporter name, its max concurrent exports) per lane.
            batch_size: events per replayed batch.

        Returns:
            Per exporter name, ``[first, end)`` sequence ranges left by an earlier
            process, oldest first.
        """
        ranges: dict[str, list[tuple[int, int]]] = {}
        spool = self.spool
        if spool is None:
            return ranges
        try:
            for name, _ in lanes:
                spool.register(name)
            stats = spool.stats()
        except OSError as exc:
            self.fail(exc)
            return ranges
        head = int(stats.head_seq)
        pending = 0
        for name, concurrency in lanes:
            start = int(stats.cursors.get(name, head))
            if start >= head:
                continue
            owed = head - start
            pending += owed
            self.possible_duplicates += min(owed, max(1, concurrency) * batch_size)
            ranges[name] = [
                (first, min(first + batch_size, head)) for first in range(start, head, batch_size)
            ]
        self._spool_stats = stats
        with self._lock:
            self._replay_pending = pending
        if pending:
            reporter.report(
                "spool_replay",
                f"spool {self.directory}: replaying {pending:,} record(s) left by an earlier "
                f"process (up to {self.possible_duplicates:,} may be delivered twice)",
            )
        return ranges

    # -- worker ------------------------------------------------------------------------------

    def append(self, events: list[LogEvent]) -> tuple[int, int, int]:
        """Spool ``events``: ``(first sequence, index of the first taken, how many)``.

        The events taken are ``events[start : start + count]``; the others did not fit
        the full spool. ``(-1, 0, len(events))`` when the spool is off (degraded):
        memory only, every event kept.
        """
        spool = self.spool
        if spool is None or not events:
            return -1, 0, len(events)
        try:
            result = spool.append(events)
        except OSError as exc:
            self.fail(exc)
            return -1, 0, len(events)
        return int(result.first_seq), int(getattr(result, "start", 0)), int(result.count)

    def read(self, exporter: str, first: int, end: int) -> list[tuple[int, LogEvent]] | None:
        """The records ``[first, end)`` for ``exporter`` (from its cursor); None: off."""
        spool = self.spool
        if spool is None:
            return None
        try:
            records = spool.read(exporter, end - first, 1 << 62, start=first)
        except OSError as exc:
            self.fail(exc)
            return None
        return [(seq, event) for seq, event in records if first <= seq < end]

    def commit(self, exporter: str, next_seq: int) -> None:
        """Persist ``exporter``'s cursor: everything before ``next_seq`` is finished."""
        spool = self.spool
        if spool is None:
            return
        try:
            spool.commit(exporter, next_seq)
        except OSError as exc:
            self.fail(exc)

    def maybe_gc(self, *, force: bool = False) -> None:
        """Every :data:`GC_INTERVAL`: delete passed and expired segments, note stats."""
        spool = self.spool
        now = time.monotonic()
        if spool is None or (now < self._next_gc and not force):
            return
        self._next_gc = now + GC_INTERVAL
        try:
            spool.gc()
            stats = spool.stats()
        except OSError as exc:
            self.fail(exc)
            return
        with self._lock:
            self._spool_stats = stats

    def replay_done(self, count: int, delivered: int) -> None:
        """A replayed batch of ``count`` records had its final outcome."""
        with self._lock:
            self._replay_pending = max(0, self._replay_pending - count)
            self._replayed += delivered
            self._replay_dropped += count - delivered

    def fail(self, exc: BaseException) -> None:
        """The disk failed: turn the spool off, say so once (never raise)."""
        spool, self.spool = self.spool, None
        if self.degraded:
            return
        self.degraded = True
        reporter.report(
            "spool_unavailable",
            f"spool {self.directory} unavailable ({type(exc).__name__}: "
            f"{getattr(exc, 'strerror', None) or exc}); continuing in memory only, "
            "events are no longer durable (see fapilog.stats().spool)",
        )
        if spool is not None:
            try:
                spool.close()
            except Exception:  # already failing; the diagnostic above said it
                pass
        if self.on_fail is not None:
            self.on_fail()

    def close(self) -> None:
        """Close the spool (releases its lock); the link stays readable for stats."""
        spool = self.spool
        if spool is None:
            return
        try:
            spool.gc()
            stats = spool.stats()
            with self._lock:
                self._spool_stats = stats
        except OSError:
            pass
        try:
            spool.close()
        except OSError:
            pass
        self.spool = None

    def info(self) -> SpoolInfo:
        """A snapshot for ``stats()`` (safe on any thread)."""
        with self._lock:
            stats = self._spool_stats
            replayed, pending, dropped = (
                self._replayed,
                self._replay_pending,
                self._replay_dropped,
            )
        extra: dict[str, Any] = {}
        if stats is not None:
            head = int(stats.head_seq)
            owed = getattr(stats, "pending", None)
            if owed is None:
                owed = {name: max(0, head - int(seq)) for name, seq in stats.cursors.items()}
            extra = {
                "bytes": int(stats.bytes),
                "segments": int(stats.segments),
                "corrupt": int(stats.corrupt),
                "dropped": MappingProxyType(dict(stats.dropped)),
                "pending": MappingProxyType(dict(owed)),
            }
        return SpoolInfo(
            directory=self.directory,
            degraded=self.degraded,
            replayed=replayed,
            replay_pending=pending,
            replay_dropped=dropped,
            possible_duplicates=self.possible_duplicates,
            **extra,
        )


def open_link(settings: Settings) -> SpoolLink | None:
    """Open the spool ``settings`` ask for; None when ``spool_dir`` is unset.

    An unusable directory gives a degraded link (one diagnostic line); a directory
    another live process holds raises.

    Raises:
        SpoolLockedError: another live process uses the directory (a ``ConfigError``).
    """
    if settings.spool_dir is None:
        return None
    from fapilog.spool import Spool, SpoolUnavailable

    directory = str(settings.spool_dir)
    try:
        spool = Spool.open(
            settings.spool_dir,
            max_bytes=settings.spool_max_bytes,
            max_age_s=settings.spool_max_age_s,
            fsync=settings.spool_fsync,
            # Appended without a timeout: the spool never waits on the worker thread
            # that also frees it, so "block" refuses what does not fit (spool_full).
            overflow=settings.spool_overflow,
        )
    except SpoolUnavailable as exc:
        link = SpoolLink(None, directory)
        link.degraded = False
        link.fail(exc)
        return link
    link = SpoolLink(spool, directory)
    link._next_gc = time.monotonic() + GC_INTERVAL
    return link
