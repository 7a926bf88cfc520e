"""What a resumable exporter remembers about the batch it is working on."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from fapilog._event import LogEvent

__all__ = ["BatchProgress"]


class BatchProgress:
    """Base for an exporter's per-batch progress, so a retry resumes instead of repeating.

    The pipeline retries a retryable result (and a call it cancelled for exceeding
    the export timeout) with the very same batch object's events. An exporter keeps
    one progress object and, on each call, asks :meth:`is_for` whether the batch is
    the one it was working on; if so it sends only what is still owed.

    Args:
        batch: the events of the batch; a shallow copy is kept, which also keeps the
            events alive, so comparing identities is sound.
    """

    __slots__ = ("batch",)

    def __init__(self, batch: Sequence[LogEvent]) -> None:
        self.batch = list(batch)

    def is_for(self, batch: Sequence[LogEvent]) -> bool:
        """True when ``batch`` holds exactly the same event objects, in the same order."""
        return len(batch) == len(self.batch) and all(
            a is b for a, b in zip(batch, self.batch, strict=True)
        )
