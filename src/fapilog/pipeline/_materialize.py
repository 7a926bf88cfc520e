"""Turn what the caller captured into a :class:`LogEvent` (on the worker)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from fapilog import _severity
from fapilog._event import LogEvent
from fapilog._normalize import exception_attributes, normalize_attributes, normalize_value

if TYPE_CHECKING:
    from opentelemetry.sdk.resources import Resource

__all__ = ["Captured", "capture_exception", "materialize"]

#: What a log call captures, as a plain tuple for speed (every slot costs the caller):
#: (time_ns, severity_number, msg, args, fields, logger, otel Context, exception|None)
#: and, from the stdlib bridge only, a ninth slot: the severity text.
Captured = tuple[Any, ...]

_TEXT = {n: _severity.severity_text(n) for n in range(25)}


def capture_exception(exc_info: Any) -> BaseException | None:
    """Resolve an ``exc_info=`` argument on the caller thread (True means "current")."""
    if exc_info is True:
        return sys.exc_info()[1]
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple) and len(exc_info) == 3:
        value = exc_info[1]
        return value if isinstance(value, BaseException) else None
    return None


def materialize(rec: Captured, resource: Resource) -> LogEvent:
    """Build the event for one captured call: body, attributes, exception, scope."""
    ts, severity, msg, args, fields, logger, ctx, exc = rec[:8]
    text = rec[8] if len(rec) > 8 else None
    event_name = None
    if fields:
        # Reserved keywords travel in ``fields`` (the caller already resolved
        # exc_info into ``exc``); ``fields`` is the call's own kwargs dict.
        if "exc_info" in fields:
            del fields["exc_info"]
        if "event_name" in fields:
            name = fields.pop("event_name")
            if name is not None:
                event_name = str(name)
    if args:
        body: Any = _format(msg, args)
    elif type(msg) is str:
        body = msg
    else:
        body = normalize_value(msg)
    bound = logger._fields
    if bound:
        merged = dict(bound)
        merged.update(fields)
        fields = merged
    attributes = normalize_attributes(fields) if fields else {}
    if exc is not None:
        attributes.update(exception_attributes(exc))
    return LogEvent(
        timestamp=ts,
        observed_timestamp=ts,
        severity_text=text if text is not None else _TEXT[severity],
        severity_number=severity,
        body=body,
        attributes=attributes,
        event_name=event_name,
        resource=resource,
        instrumentation_scope=logger._scope,
        context=ctx,
        exception=exc,
    )


def _format(msg: Any, args: tuple[Any, ...]) -> str:
    """%-format like :mod:`logging` does, without ever raising."""
    try:
        return str(msg) % args
    except Exception:
        parts = ", ".join(repr(normalize_value(a)) for a in args)
        return f"{normalize_value(msg)} (unformattable args: {parts})"
