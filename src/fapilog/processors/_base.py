"""The processor protocol: LogRecordProcessor semantics over :class:`LogEvent`."""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING

if TYPE_CHECKING:
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
