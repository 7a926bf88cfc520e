"""Turn what the caller captured into a :class:`LogEvent` (on the worker)."""

from __future__ import annotations

import datetime as _dt
import decimal
import enum
import gc
import pathlib
import sys
import uuid
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from fapilog import _severity
from fapilog._callsite import FILE as _CALLSITE_FILE
from fapilog._callsite import resolve as resolve_callsite
from fapilog._diagnostics import reporter
from fapilog._event import LogEvent
from fapilog._normalize import (
    _INT64_MAX,
    _INT64_MIN,
    MAX_DEPTH,
    exception_attributes,
    normalize_attributes,
    normalize_value,
)
from fapilog.pipeline._size import STR_HEAD, estimate_size, size_from_parts
from fapilog.processors._builtin import add_bound_context, copy_span_context

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from opentelemetry.context import Context
    from opentelemetry.sdk.resources import Resource

__all__ = [
    "IMMUTABLE_TYPES",
    "CapturedRecord",
    "capture_exception",
    "capture_record",
    "fields_may_change",
    "materialize",
    "materialize_batch",
    "snapshot_call",
    "snapshot_fields",
    "snapshot_value",
]

#: What a log call captures on the caller's thread, for the worker to build the event
#: from: ``(time_ns, severity_number, msg, args, fields, logger, context, exception,
#: severity_text)``. ``logger`` is whatever carries the scope and bound fields (a
#: :class:`~fapilog.Logger`, a bridge's scope object, an OTel logger); ``fields`` is
#: owned by the pipeline from then on; ``severity_text`` is ``None`` unless a bridged
#: library named the level itself. Build it with :func:`capture_record`.
#:
#: A plain tuple at run time, not a ``NamedTuple``: constructing a ``NamedTuple``
#: goes through a Python-level ``__new__`` and costs a log call about 240 ns (about
#: 40 % of the whole call, measured with benchmarks/caller_cost.py on CPython 3.11);
#: even a builder function costs about 35 ns, so :class:`~fapilog.Logger`'s level
#: methods write the same tuple inline (tests/test_intake.py checks they match).
#: ``args`` is typed ``Any``: usually a tuple, it is a mapping when a bridged library
#: formats with ``%(name)s``; ``fields`` may have keys that are not ``str`` (a bridge's,
#: normalised on the worker). The compiled build checks declared types at run time.
CapturedRecord: TypeAlias = (
    "tuple[int, int, Any, Any, dict[Any, Any], Any, Context | None, "
    "BaseException | None, str | None]"
)

#: Index of the severity number, the fields and the logger in a :data:`CapturedRecord`.
REC_SEVERITY: Final = 1
REC_FIELDS: Final = 4
REC_LOGGER: Final = 5


def capture_record(
    ts: int,
    severity: int,
    msg: Any,
    args: Any,
    fields: dict[str, Any],
    logger: Any,
    context: Context | None,
    exception: BaseException | None = None,
    severity_text: str | None = None,
) -> CapturedRecord:
    """The one constructor of a :data:`CapturedRecord` (the hot path inlines it)."""
    return (ts, severity, msg, args, fields, logger, context, exception, severity_text)


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


# -- the snapshot taken on the caller ------------------------------------------------------
#
# The worker builds the event later, so anything the application may still change
# is copied at the call. What is copied, and how, is the rule documented on Logger.

#: Types whose instances cannot change: passed by reference, rendered on the worker.
#: Exact types only (a subclass may add mutable state).
IMMUTABLE_TYPES: frozenset[type] = frozenset(
    {
        str,
        int,
        float,
        bool,
        type(None),
        bytes,
        complex,
        range,
        _dt.datetime,
        _dt.date,
        _dt.time,
        _dt.timedelta,
        _dt.timezone,
        decimal.Decimal,
        uuid.UUID,
        pathlib.PurePosixPath,
        pathlib.PureWindowsPath,
        pathlib.PosixPath,
        pathlib.WindowsPath,
    }
)
_IMMUTABLE = IMMUTABLE_TYPES

#: Keywords the caller resolves itself (``exc_info``) or the worker renders with
#: ``str()`` (``event_name``): left as given.
_RESERVED = frozenset({"exc_info", "event_name"})


def _immutable(value: Any, depth: int) -> bool:
    """Whether ``value`` can no longer change: an immutable scalar, an enum member, or a
    tuple/frozenset of such (nested up to :data:`~fapilog._normalize.MAX_DEPTH`)."""
    cls = type(value)
    if cls in _IMMUTABLE:
        return True
    if cls is tuple or cls is frozenset:
        if depth >= MAX_DEPTH:
            return False
        if _IMMUTABLE.issuperset(map(type, value)):  # flat, the common case
            return True
        return all(_immutable(item, depth + 1) for item in value)
    # An enum member is rendered from its name or its scalar value, neither of which
    # changes (a mutable .value is rendered by name).
    return isinstance(value, enum.Enum)


def snapshot_value(value: Any) -> Any:
    """``value`` as it is now, for an event built later; never raises.

    * Immutable (see :func:`_immutable`): ``value`` itself.
    * A list, dict or set whose items (and keys) are immutable scalars: a shallow
      copy (a tuple, dict or frozenset: a tuple of scalars costs the garbage collector
      nothing once it has seen it); the worker renders it as it would have rendered
      the original (as a list).
    * A ``bytearray``: its ``bytes``.
    * Anything else (nested containers, dataclasses, pydantic models, other objects):
      rendered now with :func:`~fapilog._normalize.normalize_value`, exactly as the
      worker would render it (an object's ``__repr__`` runs here); what cannot be
      rendered becomes a placeholder naming its type.
    """
    cls = type(value)
    if cls in _IMMUTABLE:
        return value
    flat = _IMMUTABLE.issuperset
    try:
        if cls is list:
            if flat(map(type, value)):
                return tuple(value)
        elif cls is dict:
            if flat(map(type, value)) and flat(map(type, value.values())):
                return dict(value)
        elif cls is tuple or cls is frozenset:
            if _immutable(value, 0):
                return value
        elif cls is set:
            if flat(map(type, value)):
                return frozenset(value)
        elif cls is bytearray:
            return bytes(value)
        elif isinstance(value, enum.Enum):
            return value
    except Exception:  # changed by another thread while copied: render it instead
        pass
    return normalize_value(value)


def snapshot_fields(fields: dict[Any, Any]) -> None:
    """Replace, in place, every value of ``fields`` that may still change by its snapshot.

    ``fields`` must be owned by the caller of this function (a call's ``**kwargs``, or
    a copy). ``exc_info`` and ``event_name`` are left as given (see :data:`_RESERVED`).
    May raise only what iterating a dict that another thread changes raises;
    :func:`snapshot_call` guards it.
    """
    immutable = _IMMUTABLE
    flat = immutable.issuperset
    for key, value in fields.items():
        cls = type(value)
        if cls in immutable:
            continue
        # snapshot_value's flat list and dict copies, inlined (the usual containers).
        # An untracked dict holds no keys that may change (see fields_may_change).
        if cls is list:
            if flat(map(type, value)):
                fields[key] = tuple(value)
                continue
        elif cls is dict and not gc.is_tracked(value) and flat(map(type, value.values())):
            fields[key] = value.copy()
            continue
        if key in _RESERVED:
            continue
        snapshot = snapshot_value(value)
        if snapshot is not value:
            fields[key] = snapshot


def _fields_may_change_by_type(fields: dict[str, Any]) -> bool:
    return not _IMMUTABLE.issuperset(map(type, fields.values()))


def _untracks_scalar_kwargs() -> bool:
    """Whether this interpreter leaves a ``**kwargs`` dict of scalars untracked by the GC."""

    def keywords(**kw: Any) -> dict[str, Any]:
        return kw

    scalars = keywords(s="x", i=1, f=1.5, b=True, n=None, y=b"x")
    return not gc.is_tracked(scalars) and gc.is_tracked(keywords(s="x", items=[]))


#: ``fields_may_change(fields)``: False only when no value of a call's ``**kwargs`` dict
#: can change after the call; True means "look" (:func:`snapshot_call`).
#:
#: CPython keeps a dict untracked by the garbage collector until a value (or key) that
#: may hold references, anything but str/int/float/bool/None/bytes and other flat
#: types, is put in it, and must track it from then on (its cycle detection depends
#: on it). So ``gc.is_tracked`` answers for the whole dict in one C call, about 10 ns,
#: where looking at each value's type costs about 30 ns per field. It misses only
#: mutable objects that hold no references (bytearray, array.array, NumPy arrays) at
#: the top level. Where an interpreter does not untrack dicts, the type check is used.
fields_may_change: Callable[[dict[Any, Any]], bool] = (
    gc.is_tracked if _untracks_scalar_kwargs() else _fields_may_change_by_type
)


def snapshot_call(msg: Any, args: Any, fields: dict[Any, Any]) -> tuple[Any, Any]:
    """Take the snapshot of one log call on the caller thread; never raises.

    * ``fields``: values that may change are replaced by their rendering (in place,
      see :func:`snapshot_fields`).
    * ``args`` (``%``-arguments): when every argument and ``msg`` are immutable they
      are kept and formatted on the worker; otherwise the message is formatted now,
      exactly as the worker would (:func:`_format`, which never raises), and
      returned with no arguments.
    * ``msg`` without arguments: rendered now unless immutable.

    Args:
        msg: the call's message.
        args: its ``%``-arguments (a tuple; a bridge may pass a mapping).
        fields: its keyword fields, owned by the call.

    Returns:
        The message and arguments to capture.
    """
    try:
        if fields and fields_may_change(fields):
            snapshot_fields(fields)
        if args:
            if type(args) is tuple:
                if type(msg) is str and _IMMUTABLE.issuperset(map(type, args)):
                    return msg, args  # scalar %-args, the common case
                frozen = _immutable(args, 0)
            else:  # a bridge's mapping for "%(name)s"
                frozen = type(args) is dict and _immutable(tuple(args.values()), 0)
            if not frozen or not _immutable(msg, 0):
                return _format(msg, args), ()
        elif not _immutable(msg, 0):
            return snapshot_value(msg), args
    except Exception as exc:  # never into the application: its values stay as given
        reporter.report("snapshot", f"could not snapshot a log call's values: {exc!r}")
    return msg, args


def materialize(rec: CapturedRecord | tuple[Any, ...], resource: Resource) -> LogEvent:
    """Build the event for one captured call: body, attributes, exception, scope.

    Raises:
        Exception: whatever made the call impossible to build (the batch path
            counts it instead).
    """
    events, _, _ = _build([rec], resource, False, [], raising=True)
    return events[0]


def materialize_batch(
    items: Iterable[CapturedRecord], resource: Resource, enrich: bool, sizes: list[int]
) -> tuple[list[LogEvent], int, BaseException | None]:
    """Build the events for many captured calls: the worker's hot loop.

    The same events as :func:`materialize`, built with less work per call: the
    slots are filled directly instead of through ``LogEvent.__init__``'s
    keywords, and a log call's own ``fields`` dict (the call's ``**kwargs``, owned
    by the pipeline) becomes the attributes as it is when every key is a non-empty
    string and every value already an AnyValue primitive, the common case. The
    loop that checks that also sums the strings' sizes, so each event's
    :func:`~fapilog.pipeline._size.estimate_size` comes almost free (other
    events are sized by the capped nested walk of ``estimate_size``).

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
    items: Iterable[CapturedRecord],
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
    ascii = str.isascii
    sizeof = sys.getsizeof
    str_head = STR_HEAD
    failed = 0
    error: BaseException | None = None
    # ``Any``: a record may be the eight-slot form of older callers, which the compiled
    # build would refuse at the loop if ``rec`` were typed as a CapturedRecord.
    # Typed again once its length is known: compiled, the unpacking and the slots are
    # then native (about 200 ns per record faster than unpacking an ``Any``).
    records: Iterable[Any] = items
    for item in records:
        try:
            if len(item) == 9:
                rec: CapturedRecord = item
                ts, severity, msg, args, fields, logger, ctx, exc, severity_text = rec
                if severity_text is None:  # not a bridged library's own level name
                    severity_text = text_of[severity]
            else:  # the eight-slot form of older callers (no severity text)
                ts, severity, msg, args, fields, logger, ctx, exc = item
                severity_text = text_of[severity]
            event_name = None
            if fields:
                if "exc_info" in fields:
                    del fields["exc_info"]
                if "event_name" in fields:
                    name = fields.pop("event_name")
                    if name is not None:
                        event_name = str(name)
                # A call site as the caller captured it (code object, instruction
                # offset) becomes the code.* attributes (fapilog._callsite).
                if _CALLSITE_FILE in fields:
                    resolve_callsite(fields)
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
            # ``text``: memory of the string values (string_size), -1 when unknown.
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
                            text += str_head + len(value) if ascii(value) else sizeof(value)
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


def _format(msg: Any, args: Any) -> str:
    """%-format like :mod:`logging` does, without ever raising."""
    try:
        text: str = str(msg) % args
    except Exception:
        parts = ", ".join(repr(normalize_value(a)) for a in args)
        return f"{normalize_value(msg)} (unformattable args: {parts})"
    return text
