"""Self-metrics: a pipeline's own health through the OpenTelemetry metrics API.

Every pipeline whose ``metrics`` setting is on (the default) is observed from the
moment it is created (:func:`register`, called by
:func:`fapilog.pipeline._lifecycle.register`). The instruments are created once per
process, on the first such pipeline, from the *global* meter provider
(``opentelemetry.metrics.get_meter("fapilog", version)``): the metrics go wherever the
application's meter provider sends them, and a provider set later (by the application,
or by ``opentelemetry-instrument``) takes over, because the API's proxy meter hands
every instrument created before to the real provider when it is set.

Costs. The counters are *observable*: their callbacks read :meth:`Pipeline.stats` when
a reader collects (every 60 s by default, or on a Prometheus scrape), so logging pays
nothing for them. One snapshot per pipeline serves every instrument of one collection,
so each collection satisfies ``emitted == exported + dropped + in_flight``. Only the
export duration histogram and the bytes counter are recorded as they happen, once per
export call and once per delivered batch, on the pipeline's worker.

Several pipelines are told apart by the attribute ``fapilog.pipeline`` (the pipeline's
serial number, as in its repr: ``"1"`` for the first). A pipeline is reported until it
is garbage-collected, after its shutdown with its final figures, so a reader that
collects at exit still sees them.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any

from fapilog._version import __version__

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from opentelemetry.metrics import CallbackOptions, Histogram, MeterProvider, Observation

    from fapilog.pipeline._pipeline import Pipeline
    from fapilog.pipeline._stats import PipelineStats

__all__ = [
    "ATTR_EXPORTER",
    "ATTR_PIPELINE",
    "ATTR_REASON",
    "DURATION_BUCKETS",
    "INSTRUMENTS",
    "LaneMetrics",
    "PipelineMetrics",
    "bind",
    "error_type",
    "register",
]

#: The attribute naming the pipeline (its serial number, a string).
ATTR_PIPELINE = "fapilog.pipeline"
#: The attribute naming the exporter (its lane name, as in ``stats().exporters``).
ATTR_EXPORTER = "fapilog.exporter"
#: The attribute naming a drop reason (as in ``stats().dropped``).
ATTR_REASON = "fapilog.reason"
#: The OTel semantic-convention attribute for the class of error an operation ended with.
ATTR_ERROR = "error.type"

#: Bucket boundaries (seconds) advised for the export duration histogram: those the OTel
#: semantic conventions recommend for durations in seconds.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)

#: Pipeline-wide drop reasons reported as 0 before the first drop, so that a rate over
#: them sees the first increase (a series that appears at 5 has no increase).
_SEEDED_REASONS = ("queue_full",)

#: Distinct ``error.type`` values one exporter reports before the rest become ``_OTHER``.
_MAX_ERROR_TYPES = 16

#: A snapshot older than this is taken afresh even within one collection.
_SNAPSHOT_TTL = 1.0

#: name -> (kind, unit, description): every instrument, in the order of docs/metrics.md.
INSTRUMENTS: dict[str, tuple[str, str, str]] = {
    "fapilog.events.emitted": (
        "counter",
        "{event}",
        "Log calls that passed the level check (stats().emitted).",
    ),
    "fapilog.events.exported": (
        "counter",
        "{event}",
        "Events delivered by every exporter of the pipeline (stats().exported).",
    ),
    "fapilog.events.dropped": (
        "counter",
        "{event}",
        "Events not delivered everywhere, by fapilog.reason (stats().dropped).",
    ),
    "fapilog.events.in_flight": (
        "updowncounter",
        "{event}",
        "Events buffered, being processed, batched or exported (stats().in_flight).",
    ),
    "fapilog.queue.size": (
        "updowncounter",
        "{event}",
        "Events in the caller-side ring buffer, part of in_flight (stats().queued).",
    ),
    "fapilog.exporter.events.exported": (
        "counter",
        "{event}",
        "Events an exporter delivered (stats().exporters[name].exported).",
    ),
    "fapilog.exporter.events.dropped": (
        "counter",
        "{event}",
        "Events an exporter did not deliver, by fapilog.reason (stats().exporters[name].dropped).",
    ),
    "fapilog.exporter.events.in_flight": (
        "updowncounter",
        "{event}",
        "Events queued for an exporter or being exported (stats().exporters[name].in_flight).",
    ),
    "fapilog.exporter.retries": (
        "counter",
        "{retry}",
        "Export calls repeated after a retryable failure (stats().exporters[name].retries).",
    ),
    "fapilog.exporter.sent": (
        "counter",
        "By",
        "Estimated size of the events an exporter delivered: fapilog's in-memory size "
        "estimate of each event, not the encoded bytes on the wire.",
    ),
    "fapilog.exporter.export.duration": (
        "histogram",
        "s",
        "Duration of each export call (one attempt), with error.type when it did not "
        "deliver everything.",
    ),
}

_DURATION = "fapilog.exporter.export.duration"


# -- what the worker records ---------------------------------------------------------------


class LaneMetrics:
    """What one exporter lane records: export call durations and delivered bytes.

    Created by :meth:`PipelineMetrics.lane` when the lane is built; used on the worker
    only (a single writer; collections read :attr:`sent` without a lock).
    """

    __slots__ = ("_errors", "_ok", "sent")

    def __init__(self, attributes: dict[str, str]) -> None:
        #: Estimated bytes of the events this lane delivered.
        self.sent = 0
        self._ok = attributes
        self._errors: dict[str, dict[str, str]] = {}

    def export_call(self, seconds: float, error_type: str | None = None) -> None:
        """Record one export call that took ``seconds``; ``error_type`` if it failed."""
        attributes = self._ok if error_type is None else self._error(error_type)
        for histogram in _histograms:
            histogram.record(seconds, attributes)

    def delivered(self, nbytes: int) -> None:
        """Count ``nbytes`` (estimated) as delivered."""
        self.sent += nbytes

    def _error(self, error_type: str) -> dict[str, str]:
        attributes = self._errors.get(error_type)
        if attributes is None:
            if len(self._errors) >= _MAX_ERROR_TYPES:
                error_type = "_OTHER"  # the semantic conventions' fallback value
                attributes = self._errors.get(error_type)
            if attributes is None:
                attributes = self._errors[error_type] = {**self._ok, ATTR_ERROR: error_type}
        return attributes


class PipelineMetrics:
    """One observed pipeline's recorders, reached by its lanes through
    :attr:`BatchOptions.metrics <fapilog.pipeline._batch.BatchOptions>`."""

    __slots__ = ("attributes", "lanes")

    def __init__(self, serial: int) -> None:
        self.attributes = {ATTR_PIPELINE: str(serial)}
        #: Per lane name, its recorder; a lane built anew (after fork) starts at zero.
        self.lanes: dict[str, LaneMetrics] = {}

    def lane(self, name: str) -> LaneMetrics:
        """A fresh recorder for the lane ``name`` (replacing an earlier one)."""
        recorder = self.lanes[name] = LaneMetrics({**self.attributes, ATTR_EXPORTER: name})
        return recorder


# -- registration --------------------------------------------------------------------------

_lock = threading.Lock()
_observed: weakref.WeakKeyDictionary[Pipeline, PipelineMetrics] = weakref.WeakKeyDictionary()
_sets: list[_InstrumentSet] = []
_histograms: list[Histogram] = []
_global_done = False


def register(pipeline: Pipeline) -> None:
    """Observe ``pipeline`` (unless its ``metrics`` setting is off).

    The first call creates the instruments on the global meter provider. The
    pipeline's lanes find their recorder on its batch options, which the worker reads
    when it starts (after this).
    """
    global _global_done
    if not pipeline.settings.metrics:
        return
    recorder = PipelineMetrics(pipeline.serial)
    with _lock:
        _observed[pipeline] = recorder
        if not _global_done:
            _global_done = True
            from opentelemetry import metrics

            _sets.append(_InstrumentSet(metrics.get_meter_provider()))
            _histograms[:] = [s.duration for s in _sets]
    pipeline.batch_options.metrics = recorder


def bind(meter_provider: MeterProvider) -> Callable[[], None]:
    """Also report every observed pipeline to ``meter_provider`` (not the global one).

    For tests and for applications that keep a meter provider of their own without
    making it global. Returns a callable that stops reporting to it (its observable
    callbacks then return nothing; OTel has no way to remove an instrument).
    """
    instruments = _InstrumentSet(meter_provider)
    with _lock:
        _sets.append(instruments)
        _histograms[:] = [s.duration for s in _sets]

    def unbind() -> None:
        with _lock:
            if instruments in _sets:
                _sets.remove(instruments)
                _histograms[:] = [s.duration for s in _sets]
            instruments.active = False

    return unbind


# -- what a collection reads ---------------------------------------------------------------


class _Snapshot:
    """The figures of every observed pipeline, taken once for one collection."""

    __slots__ = ("pipelines", "read_by", "taken")

    def __init__(self) -> None:
        self.taken = time.monotonic()
        self.read_by: set[str] = set()
        with _lock:
            observed = list(_observed.items())
        self.pipelines: list[tuple[PipelineStats, PipelineMetrics, dict[str, int]]] = []
        for pipeline, recorder in observed:
            try:
                stats = pipeline.stats()
            except Exception:  # a collection must never fail for one pipeline
                continue
            sent = {name: lane.sent for name, lane in list(recorder.lanes.items())}
            self.pipelines.append((stats, recorder, sent))


class _InstrumentSet:
    """fapilog's instruments on one meter provider."""

    def __init__(self, provider: MeterProvider) -> None:
        self.active = True
        self._lock = threading.Lock()
        self._snapshot: _Snapshot | None = None
        meter = provider.get_meter("fapilog", __version__)
        readers: dict[str, Callable[[_Snapshot], Iterable[Observation]]] = {
            "fapilog.events.emitted": _emitted,
            "fapilog.events.exported": _exported,
            "fapilog.events.dropped": _dropped,
            "fapilog.events.in_flight": _in_flight,
            "fapilog.queue.size": _queued,
            "fapilog.exporter.events.exported": _lane_exported,
            "fapilog.exporter.events.dropped": _lane_dropped,
            "fapilog.exporter.events.in_flight": _lane_in_flight,
            "fapilog.exporter.retries": _lane_retries,
            "fapilog.exporter.sent": _lane_sent,
        }
        for name, read in readers.items():
            kind, unit, description = INSTRUMENTS[name]
            create = (
                meter.create_observable_counter
                if kind == "counter"
                else meter.create_observable_up_down_counter
            )
            create(name, callbacks=[self._callback(name, read)], unit=unit, description=description)
        _, unit, description = INSTRUMENTS[_DURATION]
        self.duration: Histogram = meter.create_histogram(
            _DURATION,
            unit=unit,
            description=description,
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )

    def _callback(
        self, name: str, read: Callable[[_Snapshot], Iterable[Observation]]
    ) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def callback(options: CallbackOptions) -> Iterable[Observation]:
            if not self.active:
                return []
            return list(read(self._take(name)))

        return callback

    def _take(self, name: str) -> _Snapshot:
        """The collection's snapshot: a fresh one when ``name`` has read the current one
        (a new collection has begun) or it is stale."""
        with self._lock:
            snapshot = self._snapshot
            if (
                snapshot is None
                or name in snapshot.read_by
                or time.monotonic() - snapshot.taken > _SNAPSHOT_TTL
            ):
                snapshot = self._snapshot = _Snapshot()
            snapshot.read_by.add(name)
            return snapshot


def _observation(value: int, attributes: dict[str, str], **more: str) -> Observation:
    from opentelemetry.metrics import Observation

    return Observation(value, {**attributes, **more} if more else attributes)


def _emitted(snapshot: _Snapshot) -> Iterable[Observation]:
    for stats, recorder, _ in snapshot.pipelines:
        yield _observation(stats.emitted, recorder.attributes)


def _exported(snapshot: _Snapshot) -> Iterable[Observation]:
    for stats, recorder, _ in snapshot.pipelines:
        yield _observation(stats.exported, recorder.attributes)


def _dropped(snapshot: _Snapshot) -> Iterable[Observation]:
    for stats, recorder, _ in snapshot.pipelines:
        dropped = dict.fromkeys(_SEEDED_REASONS, 0)
        dropped.update(stats.dropped)
        for reason, n in dropped.items():
            yield _observation(n, recorder.attributes, **{ATTR_REASON: reason})


def _in_flight(snapshot: _Snapshot) -> Iterable[Observation]:
    for stats, recorder, _ in snapshot.pipelines:
        yield _observation(stats.in_flight, recorder.attributes)


def _queued(snapshot: _Snapshot) -> Iterable[Observation]:
    for stats, recorder, _ in snapshot.pipelines:
        yield _observation(stats.queued, recorder.attributes)


def _per_lane(snapshot: _Snapshot, value: Callable[[Any, int], int]) -> Iterable[Observation]:
    for stats, recorder, sent in snapshot.pipelines:
        for name, lane in stats.exporters.items():
            yield _observation(
                value(lane, sent.get(name, 0)), recorder.attributes, **{ATTR_EXPORTER: name}
            )


def _lane_exported(snapshot: _Snapshot) -> Iterable[Observation]:
    return _per_lane(snapshot, lambda lane, _: int(lane.exported))


def _lane_in_flight(snapshot: _Snapshot) -> Iterable[Observation]:
    return _per_lane(snapshot, lambda lane, _: int(lane.in_flight))


def _lane_retries(snapshot: _Snapshot) -> Iterable[Observation]:
    return _per_lane(snapshot, lambda lane, _: int(lane.retries))


def _lane_sent(snapshot: _Snapshot) -> Iterable[Observation]:
    return _per_lane(snapshot, lambda _, sent: sent)


def _lane_dropped(snapshot: _Snapshot) -> Iterable[Observation]:
    for stats, recorder, _ in snapshot.pipelines:
        for name, lane in stats.exporters.items():
            for reason, n in lane.dropped.items():
                yield _observation(
                    n, recorder.attributes, **{ATTR_EXPORTER: name, ATTR_REASON: reason}
                )


def error_type(exc: BaseException) -> str:
    """``error.type`` for an exception raised by an exporter: its qualified class name."""
    cls = type(exc)
    return (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()
    for instruments in _sets:
        instruments._lock = threading.Lock()
        instruments._snapshot = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
