"""Synchronous, context-scoped interception of log calls for ``capture_logs``.

While at least one capture is active, every pipeline's ``_enqueue``/``_aput`` is
wrapped: calls made in a context that has a capture sink are materialised and
processed right away on the caller and appended to that sink (not exported);
all other calls go through untouched. With no capture active nothing is
wrapped, so the hot path pays nothing.
"""

from __future__ import annotations

import contextvars
import threading
from typing import TYPE_CHECKING, Any

from fapilog.pipeline._materialize import materialize

if TYPE_CHECKING:
    from fapilog._event import LogEvent
    from fapilog.pipeline._materialize import Captured

__all__ = ["active_sink", "hook_pipeline", "pop_capture", "push_capture"]

_SINK: contextvars.ContextVar[list[LogEvent] | None] = contextvars.ContextVar(
    "fapilog_capture_sink", default=None
)
_lock = threading.Lock()
_active = 0


def active_sink() -> list[LogEvent] | None:
    return _SINK.get()


def _process(pipeline: Any, rec: Captured) -> LogEvent | None:
    event = materialize(rec, pipeline.resource)
    for processor in pipeline.processors:
        if processor.on_emit(event) is False:
            return None
    return event


def hook_pipeline(pipeline: Any) -> None:
    """Wrap one pipeline's entry points (called for new pipelines during a capture)."""
    if "_fapilog_capture_orig" in pipeline.__dict__:
        return
    orig_enqueue = pipeline._enqueue
    orig_aput = pipeline._aput

    def _enqueue(rec: Captured) -> None:
        sink = _SINK.get()
        if sink is None:
            orig_enqueue(rec)
            return
        event = _process(pipeline, rec)
        if event is not None:
            sink.append(event)

    async def _aput(rec: Captured) -> None:
        sink = _SINK.get()
        if sink is None:
            await orig_aput(rec)
            return
        event = _process(pipeline, rec)
        if event is not None:
            sink.append(event)

    pipeline.__dict__["_fapilog_capture_orig"] = (
        pipeline.__dict__.get("_enqueue"),
        pipeline.__dict__.get("_aput"),
        _enqueue,
    )
    pipeline._enqueue = _enqueue
    pipeline._aput = _aput


def _unhook_pipeline(pipeline: Any) -> None:
    saved = pipeline.__dict__.pop("_fapilog_capture_orig", None)
    if saved is None:
        return
    old_enqueue, old_aput, wrapper = saved
    if pipeline.__dict__.get("_enqueue") is wrapper:  # not replaced by shutdown meanwhile
        if old_enqueue is None:
            del pipeline._enqueue
        else:
            pipeline._enqueue = old_enqueue
    if old_aput is None:
        pipeline.__dict__.pop("_aput", None)
    else:
        pipeline._aput = old_aput


def capturing() -> bool:
    return _active > 0


def push_capture(sink: list[LogEvent]) -> contextvars.Token[list[LogEvent] | None]:
    from fapilog._api import default_pipeline
    from fapilog.pipeline._lifecycle import live_pipelines

    global _active
    with _lock:
        _active += 1
        if _active == 1:
            default_pipeline()  # so calls on not-yet-configured loggers are seen too
            for pipeline in live_pipelines():
                hook_pipeline(pipeline)
    return _SINK.set(sink)


def pop_capture(token: contextvars.Token[list[LogEvent] | None]) -> None:
    from fapilog.pipeline._lifecycle import live_pipelines

    global _active
    _SINK.reset(token)
    with _lock:
        _active -= 1
        if _active == 0:
            for pipeline in live_pipelines():
                _unhook_pipeline(pipeline)
