"""Synchronous, context-scoped interception of log calls for ``capture_logs``.

While at least one capture is active, every pipeline closes its hot path (its
intake's ``capacity`` gate is -1), so each call reaches :func:`capture`: calls made in a
context that has a capture sink are materialised and processed right away on
the caller and appended to that sink (not exported, not counted); all other
calls continue to the ring buffer. With no capture active the hot path pays
nothing.
"""

from __future__ import annotations

import contextvars
import threading
from typing import TYPE_CHECKING, Any

from fapilog.pipeline._materialize import materialize

if TYPE_CHECKING:
    from fapilog._event import LogEvent
    from fapilog.pipeline._materialize import CapturedRecord

__all__ = ["capture", "capturing", "pop_capture", "push_capture"]

_SINK: contextvars.ContextVar[list[LogEvent] | None] = contextvars.ContextVar(
    "fapilog_capture_sink", default=None
)
_lock = threading.Lock()
_active = 0


def capturing() -> bool:
    """True while at least one ``capture_logs()`` block is open anywhere."""
    return _active > 0


def capture(pipeline: Any, rec: CapturedRecord) -> bool:
    """Divert ``rec`` into the current context's sink; False if there is none."""
    sink = _SINK.get()
    if sink is None:
        return False
    event = materialize(rec, pipeline.resource)
    for processor in pipeline.processors:
        verdict = processor.on_emit(event)
        if verdict is not None and verdict is not True:  # filtered (or garbage): dropped
            return True
    sink.append(event)
    return True


def _refresh_all() -> None:
    from fapilog.pipeline._lifecycle import live_pipelines

    for pipeline in live_pipelines():
        pipeline.intake.refresh_gate()


def push_capture(sink: list[LogEvent]) -> contextvars.Token[list[LogEvent] | None]:
    """Start capturing into ``sink`` for the current context."""
    global _active
    token = _SINK.set(sink)
    with _lock:
        _active += 1
        if _active == 1:
            _refresh_all()
    return token


def pop_capture(token: contextvars.Token[list[LogEvent] | None]) -> None:
    """Stop the capture started by :func:`push_capture`."""
    global _active
    _SINK.reset(token)
    with _lock:
        _active -= 1
        if _active == 0:
            _refresh_all()
