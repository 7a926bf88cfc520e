"""The processor protocol: LogRecordProcessor semantics over :class:`LogEvent`."""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from collections.abc import Mapping

    from fapilog._event import LogEvent

__all__ = ["Processor"]


class Processor(abc.ABC):
    """Enriches, redacts or filters events on the pipeline worker.

    Like an OTel ``LogRecordProcessor``, a processor mutates the event in place in
    :meth:`on_emit`. Unlike it, a processor may return ``False`` to drop the event;
    the drop is counted as ``filtered``. Processors run in order, on the worker
    thread, never on the caller's; an exception drops the event (counted as
    ``processor_error``) and is reported on stderr, rate-limited.
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

    @abc.abstractmethod
    def on_emit(self, event: LogEvent) -> bool | None:
        """Process one event.

        Args:
            event: the event; mutate it in place.

        Returns:
            ``False`` to drop the event; ``None`` or ``True`` to pass it on.
        """

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
