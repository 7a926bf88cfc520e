"""Event accounting: every emitted event is exported, dropped (with a reason) or in flight."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from fapilog import _native

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from fapilog.pipeline._durable import SpoolInfo

__all__ = [
    "NOT_LOSS",
    "Accounting",
    "ExporterStats",
    "LaneCounters",
    "PipelineStats",
    "loss_line",
]


@dataclass(frozen=True, slots=True)
class ExporterStats:
    """What one exporter did with the events handed to it."""

    received: int
    """Events handed to this exporter."""
    exported: int
    """Events it delivered."""
    dropped: Mapping[str, int]
    """Events it did not deliver, by reason."""
    in_flight: int
    """Events queued for it or being exported."""
    retries: int
    """Export attempts repeated after a retryable failure."""
    circuit: str = "closed"
    """The exporter's circuit breaker: ``closed`` (exporting), ``open`` (no export
    calls after repeated lost batches) or ``half_open`` (one probe in flight)."""
    circuit_opened: int = 0
    """How many times the circuit opened."""
    shedding: bool = False
    """True while this exporter's lane is full and not draining: it drops what does not
    fit its backlog (counted as ``backlog``) instead of holding the pipeline up."""

    @property
    def dropped_total(self) -> int:
        """Sum of :attr:`dropped`."""
        return sum(self.dropped.values())


@dataclass(frozen=True, slots=True)
class PipelineStats:
    """A consistent snapshot of a pipeline's accounting.

    ``emitted == exported + dropped_total + in_flight`` holds for every snapshot.
    With several exporters an event counts as exported once *every* exporter
    delivered it; per-exporter figures are in :attr:`exporters`.
    """

    emitted: int
    """Log calls that passed the level check."""
    exported: int
    """Events delivered to every exporter."""
    dropped: Mapping[str, int]
    """Events not delivered everywhere, by reason (``queue_full``, ``filtered``, ...)."""
    in_flight: int
    """Events buffered, being processed, batched or exported."""
    queued: int
    """Of ``in_flight``: events still in the caller-side ring buffer."""
    exporters: Mapping[str, ExporterStats] = field(default_factory=dict)
    protection: Mapping[str, int] = field(default_factory=dict)
    """Redaction and compliance counters: ``redaction.events``, ``redaction.failures``
    (values dropped, failing closed), ``redaction.truncated``, ``redaction.rule.<name>``,
    ``compliance.<profile>:<rule>`` and ``compliance.dropped``. Not part of the
    accounting identity: a redacted event is still exported. Every processor's
    ``counts()`` is merged in, third-party ones too."""
    stalled: str | None = None
    """The class name of the processor the worker has been stuck in for longer than
    :data:`~fapilog.pipeline._worker.STALL_SECONDS` (5 s), or of the exporter whose
    synchronous call has blocked the worker's event loop that long, now; ``None``
    normally. Nothing is processed meanwhile: callers are bounded by the overflow
    policy."""
    implementation: str = "pure"
    """Which implementation of the worker path (materialising, redaction, the OTLP and
    JSON encoders) this process runs: ``"compiled"`` (mypyc) or ``"pure"`` (Python);
    see ``docs/compiled.md``. ``fapilog doctor`` says why."""
    spool: SpoolInfo | None = None
    """The durable disk spool (``docs/durability.md``): replayed records of an earlier
    process, possible duplicates, bytes on disk, ``degraded``; ``None`` when it is off.
    Records replayed from an earlier process are counted here only, never in
    ``emitted``; events left on disk at shutdown are counted as dropped ``spooled``
    (not a loss: the next process on the directory delivers them)."""

    @property
    def dropped_total(self) -> int:
        """Sum of :attr:`dropped`."""
        return sum(self.dropped.values())

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly copy of the snapshot."""
        return {
            "emitted": self.emitted,
            "exported": self.exported,
            "dropped": dict(self.dropped),
            "dropped_total": self.dropped_total,
            "in_flight": self.in_flight,
            "queued": self.queued,
            "protection": dict(self.protection),
            "stalled": self.stalled,
            "implementation": self.implementation,
            "spool": None if self.spool is None else _spool_dict(self.spool),
            "exporters": {
                name: {
                    "received": s.received,
                    "exported": s.exported,
                    "dropped": dict(s.dropped),
                    "in_flight": s.in_flight,
                    "retries": s.retries,
                    "circuit": s.circuit,
                    "circuit_opened": s.circuit_opened,
                    "shedding": s.shedding,
                }
                for name, s in self.exporters.items()
            },
        }


def _spool_dict(info: SpoolInfo) -> dict[str, Any]:
    return {
        "directory": info.directory,
        "degraded": info.degraded,
        "replayed": info.replayed,
        "replay_pending": info.replay_pending,
        "replay_dropped": info.replay_dropped,
        "possible_duplicates": info.possible_duplicates,
        "bytes": info.bytes,
        "segments": info.segments,
        "corrupt": info.corrupt,
        "dropped": dict(info.dropped),
        "pending": dict(info.pending),
    }


class LaneCounters:
    """Per-exporter counters; mutated only under the owning :class:`Accounting` lock."""

    __slots__ = (
        "circuit",
        "circuit_opened",
        "dropped",
        "exported",
        "in_flight",
        "last_error",
        "received",
        "retries",
        "shedding",
    )

    def __init__(self) -> None:
        self.received = 0
        self.exported = 0
        self.in_flight = 0
        self.retries = 0
        self.dropped: Counter[str] = Counter()
        #: The exporter's most recent failure reason (for the loss report), or "".
        self.last_error = ""
        self.circuit = "closed"
        self.circuit_opened = 0
        self.shedding = False

    def snapshot(self) -> ExporterStats:
        return ExporterStats(
            received=self.received,
            exported=self.exported,
            dropped=MappingProxyType(dict(self.dropped)),
            in_flight=self.in_flight,
            retries=self.retries,
            circuit=self.circuit,
            circuit_opened=self.circuit_opened,
            shedding=self.shedding,
        )


class Accounting:
    """The books of one pipeline.

    Worker-side stages (``processing``, ``staged``, ``exporting``) and outcomes
    move under one uncontended lock, so a snapshot is always consistent. The
    ring buffer's length is read once per snapshot and used on both sides of the
    identity; callers touch the books only on the drop path.
    """

    def __init__(self, ring_len: Callable[[], int]) -> None:
        self._ring_len = ring_len
        # Reentrant: the SIGTERM hook runs on the main thread, maybe while the frame it
        # interrupted holds the lock; it may then shut the pipeline down (and count).
        self.lock = threading.RLock()
        self.taken = 0
        self.processing = 0
        self.staged = 0
        self.exporting = 0
        self.exported = 0
        self.dropped: Counter[str] = Counter()
        self.lanes: dict[str, LaneCounters] = {}
        self.closed = False

    def caller_drop(self, reason: str, n: int = 1) -> None:
        """Count events dropped before they entered the ring (caller side)."""
        with self.lock:
            self.dropped[reason] += n
            self.taken += n  # never in the ring, so "taken" straight to their outcome

    def lane(self, name: str) -> LaneCounters:
        with self.lock:
            counters = self.lanes.get(name)
            if counters is None:
                counters = self.lanes[name] = LaneCounters()
            return counters

    def close_books(self, reason: str, ring_leftover: int, *, spooled: bool = False) -> int:
        """Count everything still in flight as dropped and ignore later movements.

        Used when shutdown gives up: whatever a hung exporter still holds is lost.
        With ``spooled`` (the durable spool is on) what was staged or handed to the
        exporters is on disk: it is counted as ``spooled`` instead, not lost.
        Returns how many events were written off as lost.
        """
        with self.lock:
            if self.closed:
                return 0
            kept = self.staged + self.exporting if spooled else 0
            stuck = self.processing + self.staged + self.exporting - kept
            self.taken += ring_leftover
            lost = stuck + ring_leftover
            if lost:
                self.dropped[reason] += lost
            if kept:
                self.dropped["spooled"] += kept
            for lane in self.lanes.values():
                if lane.in_flight:
                    lane.dropped["spooled" if spooled else reason] += lane.in_flight
                    lane.in_flight = 0
            self.processing = self.staged = self.exporting = 0
            self.closed = True
            return lost

    def snapshot(self) -> PipelineStats:
        with self.lock:
            queued = 0 if self.closed else self._ring_len()
            in_flight = queued + self.processing + self.staged + self.exporting
            return PipelineStats(
                emitted=self.taken + queued,
                exported=self.exported,
                dropped=MappingProxyType(dict(self.dropped)),
                in_flight=in_flight,
                queued=queued,
                exporters=MappingProxyType(
                    {name: lane.snapshot() for name, lane in self.lanes.items()}
                ),
                implementation=_native.install().implementation,
            )


#: Drop reasons that are decisions, not losses: a processor filtered the event out
#: (``filtered``), the sampler left it out (``sampled``), the caller-side rate limiter
#: held it back (``rate_limited``) or the de-duplicator collapsed it into a summary
#: (``deduplicated``), or the event waits on disk for the next process on the spool
#: directory (``spooled``). They are counted in ``dropped`` (the accounting identity needs
#: them) but never reported as lost.
NOT_LOSS = frozenset({"filtered", "sampled", "rate_limited", "deduplicated", "spooled"})


def loss_line(
    label: str,
    stats: PipelineStats,
    hints: Mapping[str, str],
    fixes: Mapping[str, str],
) -> str | None:
    """One line telling what a pipeline lost, where, and the likely fix; None if nothing.

    The counts are those of ``stats`` (pipeline-wide reasons, then each exporter's);
    the reasons in :data:`NOT_LOSS` (``filtered``, ``sampled``...) alone are not a loss.

    Args:
        label: names the pipeline, e.g. ``"pipeline #1 [otlp]"``.
        stats: the final snapshot.
        hints: per exporter name, what most likely went wrong there and its fix.
        fixes: per pipeline-wide reason (``queue_full``...), the likely fix.
    """
    lost = {r: n for r, n in stats.dropped.items() if n and r not in NOT_LOSS}
    if not lost:
        return None
    total = sum(lost.values())
    parts = [
        f"{label}: {total:,} of {stats.emitted:,} event(s) not delivered",
        "dropped " + ", ".join(f"{r}={n:,}" for r, n in sorted(stats.dropped.items()) if n),
    ]
    for name, lane in stats.exporters.items():
        dropped = {r: n for r, n in lane.dropped.items() if n}
        if dropped:
            what = ", ".join(f"{r}={n:,}" for r, n in sorted(dropped.items()))
            parts.append(f"{name} {what} of {lane.received:,}")
    fix = [fixes[r] for r in sorted(lost) if fixes.get(r)]
    fix.extend(hint for name, hint in hints.items() if hint and name in stats.exporters)
    if fix:
        parts.append("likely fix: " + "; ".join(dict.fromkeys(fix)))
    return " | ".join(parts)
