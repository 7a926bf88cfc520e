"""A crash-safe disk spool: events survive a collector outage and a process crash.

The spool sits after the processors (redaction done, so no secret reaches the disk)
and before the exporters. :meth:`Spool.append` writes batches of events as records
into append-only segment files; each exporter reads from its own cursor
(:meth:`Spool.read`) and moves it when a batch is delivered (:meth:`Spool.commit`),
so a slow destination neither blocks nor loses another's events. The format is in
``fapilog.spool._format``, the payload codec in ``fapilog.spool._codec``.

Durability policies (``fsync``), and exactly what each guarantees:

* ``"batch"`` (default): :meth:`~Spool.append` fdatasyncs the segment before it
  returns (and a new segment file and its directory entry are synced when created).
  **An event whose append returned is on disk**: it survives a crash of the process
  (SIGKILL, OOM kill) and of the machine (power loss, kernel panic), as far as the
  storage honours flushes. A commit writes the cursor to a temporary file and renames
  it over the old one, so after a crash of the process at most the batch being
  exported when it happened is delivered again. The cursor file and its directory
  are fsynced at most every ``CURSOR_SYNC_S`` (1 s) per exporter, and by
  :meth:`~Spool.gc` and :meth:`~Spool.close` (an fsync per batch would cost more than
  the append itself): after a crash of the machine, the records delivered in the
  last second before it may be delivered again too (duplicates, never a loss).
* ``"interval"``: appends do not sync; a background thread fdatasyncs the active
  segment every ``fsync_interval_s`` (and a segment is synced when it is closed).
  An event whose append returned survives a **process** crash (the kernel holds it);
  after a **machine** crash, an event whose append returned more than
  ``fsync_interval_s`` (plus the fsync's own duration) before it is on disk; later
  ones may be lost. Cursors are renamed into place without fsync: after a machine
  crash a cursor may lag (more duplicates, never a loss).
* ``"never"``: no fsync at all. An event whose append returned survives a process
  crash; a machine crash loses whatever the kernel had not yet written back (on
  Linux, typically up to ``vm.dirty_expire_centisecs``, 30 s).

After a crash, delivery is at least once: records read but not yet committed are
read again. Every record carries the attribute ``fapilog.record.id`` =
``"<writer id>:<seq>"`` (16 hex digits, random per :meth:`Spool.open`, stored in each
segment's header; and the record's sequence number), identical on every read, so a
backend can de-duplicate replays. Because the writer id changes with each open, a
sequence number reused after a machine crash under ``interval``/``never`` never
yields an id that an earlier record had.

Bounds: ``max_bytes`` caps the segment files; when an append does not fit, segments
every exporter has delivered are deleted first, then the overflow policy applies:
``drop_oldest`` deletes the oldest segments (whole files, so up to ``segment_bytes``
at a time), ``drop_newest`` drops the events of the batch that do not fit, ``block``
waits up to the append's ``timeout`` for deliveries to free room and leaves what
still does not fit to the caller. ``max_age_s`` expires segments by the time of their
last write (:meth:`Spool.gc`). Every record dropped is counted with its reason
(``spool_full``, ``spool_expired``), per exporter in :attr:`SpoolStats.lost`.

Damage: a torn write (a crash in the middle of an append) or flipped bytes make a
frame fail its checksum; readers skip to the next frame that checks, count the
records lost in between (``SpoolStats.corrupt``, exact from the sequence numbers),
and deliver every later record. A process opening the directory never appends to a
segment left behind: it begins a new one, so a torn tail stays where it was.

Failure: a directory that cannot be created or written, a full disk, a file size
limit, an I/O error raise :class:`SpoolUnavailable` from :meth:`Spool.open` or
:meth:`Spool.append`, never leaving a half-written record behind; the pipeline then
degrades to memory-only. One live process per directory: a second one gets
:class:`SpoolLockedError` naming the holder's pid (the lock dies with its process, so
a crashed owner leaves none behind).
"""

from __future__ import annotations

from fapilog.spool._codec import RECORD_ID, decode_event, encode_event
from fapilog.spool._errors import SpoolLockedError, SpoolUnavailable
from fapilog.spool._format import FORMAT_VERSION
from fapilog.spool._inspect import inspect
from fapilog.spool._spool import (
    EXPIRED,
    FULL,
    AppendResult,
    FsyncPolicy,
    GcResult,
    OverflowPolicy,
    Spool,
    SpoolStats,
)

__all__ = [
    "EXPIRED",
    "FORMAT_VERSION",
    "FULL",
    "RECORD_ID",
    "AppendResult",
    "FsyncPolicy",
    "GcResult",
    "OverflowPolicy",
    "Spool",
    "SpoolLockedError",
    "SpoolStats",
    "SpoolUnavailable",
    "decode_event",
    "encode_event",
    "inspect",
]
