"""``capture_logs()``: assert on what your code logs, without exporting it."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from fapilog.pipeline import _capture

if TYPE_CHECKING:
    from collections.abc import Iterator

    from fapilog._event import LogEvent

__all__ = ["CapturedLogs", "capture_logs"]


class CapturedLogs(list["LogEvent"]):
    """The events captured so far, in order, as fully processed :class:`LogEvent` objects."""

    @property
    def bodies(self) -> list[Any]:
        """Just the message bodies."""
        return [event.body for event in self]

    def find(self, body: Any) -> list[LogEvent]:
        """Events whose body equals ``body``."""
        return [event for event in self if event.body == body]

    def as_dicts(self) -> list[dict[str, Any]]:
        """Each event as ``{"body", "severity_text", "logger", **attributes}``."""
        return [
            {
                "body": e.body,
                "severity_text": e.severity_text,
                "logger": e.scope_name,
                **e.attributes,
            }
            for e in self
        ]


@contextlib.contextmanager
def capture_logs() -> Iterator[CapturedLogs]:
    """Capture every event logged in this context (task or thread) while the block runs.

    Events are processed exactly as the pipeline would (normalisation, trace and
    bound context, your processors) synchronously on the calling thread, and are
    *not* exported or counted in ``stats()``. Other threads and concurrent asyncio
    tasks that did not inherit this context are unaffected, so captures in
    concurrent tests never see each other's events.

    Example::

        with capture_logs() as logs:
            log.info("paid", order_id=7)
        assert logs[0].attributes["order_id"] == 7
    """
    sink = CapturedLogs()
    token = _capture.push_capture(sink)
    try:
        yield sink
    finally:
        _capture.pop_capture(token)
