"""Turn what the caller captured into a :class:`LogEvent` (on the worker)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from fapilog import _severity
from fapilog._event import LogEvent
from fapilog._normalize import (
    _INT64_MAX,
    _INT64_MIN,
    exception_attributes,
    normalize_attributes,
    normalize_value,
)
from fapilog.pipeline._batch import estimate_size, size_from_parts
from fapilog.processors._builtin import add_bound_context, copy_span_context

if TYPE_CHECKING:
    from collections.abc import Iterable

    from opentelemetry.sdk.resources import Resource

__all__ = ["Captured", "capture_exception", "materialize", "materialize_batch"]

#: What a log call captures, as a plain tuple for speed (every slot costs the caller):
#: (time_ns, severity_number, msg, args, fields, logger, otel Context, exception|None)
#: and, from a bridge, an optional ninth slot: the severity text the bridged library used.
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
    """Build the event for one captured call: body, attributes, exception, scope.

    Raises:
        Exception: whatever made the call impossible to build (the batch path
            counts it instead).
    """
    events, _, _ = _build([rec], resource, False, [], raising=True)
    return events[0]


def materialize_batch(
    items: Iterable[Captured], resource: Resource, enrich: bool, sizes: list[int]
) -> tuple[list[LogEvent], int, BaseException | None]:
    """Build the events for many captured calls: the worker's hot loop.

    The same events as :func:`materialize`, built with less work per call: the
    slots are filled directly instead of through ``LogEvent.__init__``'s
    keywords, and a log call's own ``fields`` dict (the call's ``**kwargs``, owned
    by the pipeline) becomes the attributes as it is when every key is a non-empty
    string and every value already an AnyValue primitive, the common case. The
    loop that checks that also sums the string lengths, so each event's
    :func:`~fapilog.pipeline._batch.estimate_size` comes almost free.

    Args:
        items: captured calls, in order.
        resource: the pipeline's Resource, set on every event.
        enrich: also do what the built-in ``SpanContextProcessor`` and
            ``BoundContextProcessor`` do, in that order (the pipeline passes True
            when those two lead its processor list and skips them afterwards); an
            empty Context, the common case, then costs one truth test.
        sizes: receives ``estimate_size(event)`` of each event returned, in order.

    Returns:
        The events, the number of calls that could not be built, and the last
        exception raised while building one (for the report).
    """
    return _build(items, resource, enrich, sizes, raising=False)


def _build(
    items: Iterable[Captured],
    resource: Resource,
    enrich: bool,
    sizes: list[int],
    *,
    raising: bool,
) -> tuple[list[LogEvent], int, BaseException | None]:
    """:func:`materialize_batch`; with ``raising``, the first failure is raised."""
    events: list[LogEvent] = []
    append = events.append
    add_size = sizes.append
    new = LogEvent.__new__
    text_of = _TEXT
    failed = 0
    error: BaseException | None = None
    for rec in items:
        try:
            if len(rec) == 8:
                ts, severity, msg, args, fields, logger, ctx, exc = rec
                severity_text = text_of[severity]
            else:  # a bridged record: its own severity text in a ninth slot
                ts, severity, msg, args, fields, logger, ctx, exc, severity_text = rec
                if severity_text is None:
                    severity_text = text_of[severity]
            event_name = None
            if fields:
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
            # ``text``: total length of the string values, -1 when unknown.
            if not fields:
                attributes: dict[str, Any] = {}
                text = 0
            elif "" in fields:
                attributes = normalize_attributes(fields)
                text = -1
            else:
                attributes = fields
                text = 0
                for key, value in fields.items():
                    cls = type(value)
                    if type(key) is str:
                        if cls is str:
                            text += len(value)
                            continue
                        if cls is float or cls is bool or value is None:
                            continue
                        if cls is int and _INT64_MIN <= value <= _INT64_MAX:
                            continue
                    attributes = normalize_attributes(fields)
                    text = -1
                    break
            if exc is not None:
                attributes.update(exception_attributes(exc))
                text = -1
            # Every slot of LogEvent, in __slots__ order (a test checks none is
            # left unset).
            event = new(LogEvent)
            event.attributes = attributes
            event.body = body
            event.context = ctx
            event.event_name = event_name
            event.exception = exc
            event.instrumentation_scope = logger._scope
            event.observed_timestamp = ts
            event.resource = resource
            event.severity_number = severity
            event.severity_text = severity_text
            event.span_id = 0
            event.timestamp = ts
            event.trace_flags = 0
            event.trace_id = 0
            if enrich and event.context:
                count = len(event.attributes)
                copy_span_context(event)
                add_bound_context(event)
                if len(event.attributes) != count:
                    text = -1
        except Exception as exc:
            if raising:
                raise
            failed += 1
            error = exc
            continue
        append(event)
        if text < 0:
            add_size(estimate_size(event))
        else:  # estimate_size(event), from what the loop above already knows
            add_size(size_from_parts(event.body, len(event.attributes), text))
    return events, failed, error


def _format(msg: Any, args: tuple[Any, ...]) -> str:
    """%-format like :mod:`logging` does, without ever raising."""
    try:
        return str(msg) % args
    except Exception:
        parts = ", ".join(repr(normalize_value(a)) for a in args)
        return f"{normalize_value(msg)} (unformattable args: {parts})"
