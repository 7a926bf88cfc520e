"""The processor protocol: LogRecordProcessor semantics over :class:`LogEvent`."""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from fapilog._event import LogEvent

__all__ = ["Processor"]


class Processor(abc.ABC):
    """Enriches, redacts or filters events on the pipeline worker.

    Like an OTel ``LogRecordProcessor``, a processor mutates the event in place in
    :meth:`on_emit`. Unlike it, a processor may return ``False`` to drop the event;
    the drop is counted under its :attr:`drop_reason` (``filtered`` by default).
    Processors run in order, on the worker thread, never on the caller's; an
    exception drops the event (counted as ``processor_error``) and is reported on
    stderr, rate-limited.

    A processor that holds events back (a de-duplicator, a rate limiter) emits what
    it owes from :meth:`poll`, which the worker calls on every drain and at least
    once per ``schedule_delay``.
    """

    #: The version of :mod:`fapilog.plugin` this processor was written for, e.g.
    #: ``"1.0"``; ``None`` means not declared (assumed ``"1.0"``). See
    #: :func:`fapilog.plugin.check_api_version`.
    api_version: ClassVar[str | None] = None

    #: True promises that :meth:`on_emit` never grows an event much: it only masks,
    #: cuts, flags or drops. The pipeline then keeps the size it estimated at intake
    #: (its memory bound) instead of estimating it again after this processor. Read
    #: from the class (``type(processor).keeps_size``); a subclass that adds data
    #: must set it back to False.
    keeps_size: ClassVar[bool] = False

    #: The reason a ``False`` verdict of :meth:`on_emit` is counted under in
    #: ``stats().dropped``: ``"filtered"`` by default; the sampling processor says
    #: ``"sampled"``, the de-duplicator ``"deduplicated"``. A reason in
    #: :data:`fapilog.pipeline._stats.NOT_LOSS` (``filtered``, ``sampled``,
    #: ``rate_limited``, ``deduplicated``) is a decision, never reported as a loss;
    #: any other name is reported as one. Read from the class. Added in plugin API 1.1.
    drop_reason: ClassVar[str] = "filtered"

    @abc.abstractmethod
    def on_emit(self, event: LogEvent) -> bool | None:
        """Process one event.

        Args:
            event: the event; mutate it in place.

        Returns:
            ``False`` to drop the event; ``None`` or ``True`` to pass it on.
        """

    def poll(self, now_ns: int) -> Sequence[LogEvent]:
        """Return the events this processor owes now, e.g. summaries of what it dropped.

        The worker calls it on every drain (after the drained events went through
        :meth:`on_emit`) and at least once per ``schedule_delay`` when idle, and once
        more before a flush and at shutdown with the current time. The events
        returned pass through the processors *after* this one (not this one, not
        the ones before it) and into the batch. They are new events: each counts as
        emitted by the pipeline, then as exported, dropped or in flight like any
        other, so ``emitted == exported + dropped + in_flight`` still holds. Added
        in plugin API 1.1.

        Called on the worker thread only, like :meth:`on_emit`; an exception is
        contained (reported once per class, nothing emitted for that call).

        Args:
            now_ns: the current time, ns since the Unix epoch (``time.time_ns()``).

        Returns:
            Events to add to the stream, usually none (the default).
        """
        return ()

    def shutdown(self) -> None:  # noqa: B027  # optional hook, empty on purpose
        """Release resources; called once when the pipeline shuts down."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush any state the processor buffers. Returns True on success."""
        return True

    def counts(self) -> Mapping[str, int]:
        """What this processor did so far, for :func:`fapilog.stats`.

        The pipeline merges the counts of every processor into
        ``PipelineStats.protection`` (values of the same key are added). Called from
        any thread, rarely; keep it cheap and never raise.

        Returns:
            Counter name to count, e.g. ``{"redacted": 12}``; empty by default.
        """
        return {}
