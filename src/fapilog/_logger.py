"""The logger facade: level check and capture on the caller, nothing else."""

from __future__ import annotations

import importlib
import logging
import os
import sys
import threading
import weakref
from time import time_ns
from typing import TYPE_CHECKING, Any, cast

from opentelemetry import context as otel_context
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext

from fapilog import _levels, _severity
from fapilog._callsite import FILE as _FILE
from fapilog._callsite import FUNCTION as _FUNCTION
from fapilog._callsite import LINE as _LINE
from fapilog._callsite import callsite_enabled, frame_at
from fapilog._diagnostics import reporter
from fapilog._normalize import normalize_value

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine, Mapping
    from types import FrameType, TracebackType
    from typing import TypeAlias

    from opentelemetry.context import Context
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import Tracer

    from fapilog._helpers import Catch, Timed
    from fapilog._ratelimit import NameLimiter
    from fapilog.pipeline._intake import IntakeLike
    from fapilog.pipeline._materialize import CapturedRecord
    from fapilog.pipeline._pipeline import Pipeline

    #: What ``exc_info=`` accepts: True (the exception being handled), an exception,
    #: a ``sys.exc_info()`` tuple, or False/None (none).
    ExcInfo: TypeAlias = (
        bool
        | BaseException
        | tuple[type[BaseException], BaseException, TracebackType | None]
        | tuple[None, None, None]
        | None
    )
    #: What the ``a``-methods return: awaitable, and a coroutine for ``create_task``.
    Done: TypeAlias = Coroutine[Any, Any, None]

__all__ = ["Logger", "PipelineRef"]


def _context_getter() -> Callable[[], Context]:
    runtime = getattr(otel_context, "_RUNTIME_CONTEXT", None)
    if type(runtime) is ContextVarsRuntimeContext:
        # The default runtime keeps the Context in one contextvar; reading it
        # directly saves three Python calls on every log call.
        var = getattr(runtime, "_current_context", None)
        if var is not None:
            return var.get  # type: ignore[no-any-return]  # ContextVar[Context].get
    return otel_context.get_current


_get_context = _context_getter()

# On the compiled path, a captured record is taken out of the cyclic garbage collector's
# lists (fapilog._untrack, C): it waits in the buffer long enough to reach the oldest
# generation, where every full collection would walk it; reference counting frees it
# once the worker lets go (docs/compiled.md, "Untracked records"). Pure Python: None.
_untrack: Callable[[object], object] | None
try:  # by name: a compiled-only extension has no source module
    _untrack = importlib.import_module("fapilog._untrack").untrack
except ImportError:
    _untrack = None

# -- the capture helpers, bound on the first log call ---------------------------------------
#
# They live in fapilog.pipeline._materialize, whose imports (the OTel SDK, the pipeline
# package) are what ``import fapilog`` and get_logger() must not pay for (issue 20,
# docs/architecture.md "Import cost"). Until the first capture these names hold stand-ins
# that import the module, rebind every name below to the real function and call it; the
# level methods read them as globals, so from then on they call the real ones directly.

_capture_lock = threading.Lock()


def _new_capture_lock() -> None:
    global _capture_lock
    _capture_lock = threading.Lock()  # a thread of the parent may have held it at fork


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_capture_lock)


def _bind_capture() -> bool:
    """Import the caller-side capture helpers and give every logger its OTel scope.

    False when they cannot be imported: after threading's shutdown (an ``atexit``
    handler logging for the first time) the OTel SDK no longer imports, as it starts a
    thread pool on import. The call then goes on without them (no snapshot, no
    exception) and the lazy default pipeline, which cannot be built either, reports
    the loss; a log call never raises.
    """
    global _may_change, _flat, snapshot_call, capture_exception, capture_record
    try:
        from fapilog.pipeline import _materialize

        _give_scopes()
    except Exception:
        return False
    _may_change = _materialize.fields_may_change
    _flat = _materialize.IMMUTABLE_TYPES.issuperset
    snapshot_call = _materialize.snapshot_call
    capture_exception = _materialize.capture_exception
    capture_record = _materialize.capture_record
    return True


def _first_may_change(fields: dict[Any, Any]) -> bool:
    return _may_change(fields) if _bind_capture() else False


def _first_flat(types: Any) -> bool:
    return _flat(types) if _bind_capture() else True


def _first_snapshot_call(msg: Any, args: Any, fields: dict[Any, Any]) -> tuple[Any, Any]:
    return snapshot_call(msg, args, fields) if _bind_capture() else (msg, args)


def _first_capture_exception(exc_info: Any) -> BaseException | None:
    return capture_exception(exc_info) if _bind_capture() else None


def _first_capture_record(*parts: Any) -> CapturedRecord:
    if _bind_capture():
        return capture_record(*parts)
    return cast("CapturedRecord", (*parts, *(None,) * (9 - len(parts))))


# One C call on every log call with keywords: False unless a value may still change
# (see fapilog.pipeline._materialize.fields_may_change).
_may_change: Callable[[dict[Any, Any]], bool] = _first_may_change
# %-arguments that are all immutable scalars are formatted on the worker.
_flat: Callable[[Any], bool] = _first_flat
snapshot_call: Callable[[Any, Any, dict[Any, Any]], tuple[Any, Any]] = _first_snapshot_call
capture_exception: Callable[[Any], BaseException | None] = _first_capture_exception
capture_record: Callable[..., CapturedRecord] = _first_capture_record

#: Loggers created before the OTel SDK was loaded, waiting for their instrumentation
#: scope (an SDK object the worker puts on their events); ``None`` once it is loaded.
#: The first capture of any logger loads it (:func:`_bind_capture`), before any event
#: can reach a worker.
_unscoped: weakref.WeakSet[Logger] | None = weakref.WeakSet()
_new_scope: Callable[[str], InstrumentationScope] | None = None


def _give_scopes() -> None:
    """Load the OTel SDK's scope class; give the loggers waiting for one theirs."""
    global _unscoped, _new_scope
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    with _capture_lock:
        if _unscoped is None:
            return
        _new_scope = InstrumentationScope
        made: dict[str, InstrumentationScope] = {}  # a logger and its copies share one
        for logger in list(_unscoped):
            scope = made.get(logger._name)
            if scope is None:
                scope = made[logger._name] = InstrumentationScope(logger._name)
            logger._scope = scope
        # Last: a logger created without the lock after this line finds the scope class.
        _unscoped = None


def _set_scope(logger: Logger, source: Logger | None) -> None:
    """Give ``logger`` its scope (``source``'s, for a copy), or a place in the wait list."""
    if _unscoped is not None:
        with _capture_lock:
            if _unscoped is not None:
                _unscoped.add(logger)
                return
    if source is not None:
        logger._scope = source._scope
    else:
        logger._scope = cast("Callable[[str], InstrumentationScope]", _new_scope)(logger._name)


_getframe = sys._getframe
#: In a logger's threshold: a rate limit applies (see fapilog._levels).
_LIMITED = _levels.LIMITED


class PipelineRef:
    """Where a logger sends events: a fixed pipeline or the (swappable) default one.

    ``intake``: the pipeline's :class:`~fapilog.pipeline._intake.Intake` (its
    ``intake`` attribute), which the level methods use; the loggers following this
    reference take their thresholds from it (:mod:`fapilog._levels`). ``callsite``: whether calls
    record their call site (the ``callsite`` setting of ``pipeline``, see
    :func:`fapilog._callsite.callsite_enabled`). Both live here, on slots, because the
    methods read them on every call: cheaper than a pipeline attribute.
    """

    __slots__ = ("callsite", "intake", "pipeline")

    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline
        self.intake: IntakeLike = pipeline.intake
        self.callsite = False
        self._follow(pipeline)

    def set(self, pipeline: Any) -> None:
        """Point at ``pipeline`` (the default reference, when the default changes)."""
        self._follow(pipeline)
        # The intake first: a call between the two stores then reaches the new
        # pipeline's intake, never an intake whose pipeline was replaced.
        self.intake = pipeline.intake
        self.pipeline = pipeline
        # The loggers following this reference take the new pipeline's levels and limits.
        _levels.refresh(self)

    def _follow(self, pipeline: Any) -> None:
        on = callsite_enabled(pipeline)
        if on:
            use_callsite_methods()
        self.callsite = on


def _record_callsite(logger: Logger, fields: dict[str, Any], up: int) -> None:
    """Add the call site of the application's log call to ``fields`` (not inlined: rare)."""
    frame = frame_at(logger._depth + up + 2)  # + this function, + frame_at
    fields[_FILE] = frame.f_code  # made attributes by the worker (fapilog._callsite)
    fields[_LINE] = frame.f_lasti


def _sync_method(
    severity: int, default_exc: bool, up: int = 0, checking: bool = False
) -> Callable[..., None]:
    # ``exc_info`` and ``event_name`` arrive inside ``fields``: declaring them as
    # keyword-only parameters next to ``**fields`` makes every call with keywords
    # measurably slower (see benchmarks/caller_cost.py). The worker pops them. Their
    # types are declared on Logger for type checkers only. ``up``: frames between the
    # method and the application (1 when reached through ``log()``). ``checking``:
    # the variant that reads the ``callsite`` flag (see use_callsite_methods).
    if default_exc:

        def exc_method(self: Logger, msg: Any, /, *args: Any, **fields: Any) -> None:
            level = self._level
            if level > severity:
                # Below the logger's level, or a rate limit applies (LIMITED: fapilog._levels).
                if level < _LIMITED or level - _LIMITED > severity:
                    return
                # Over the rate limit: count and drop (inlined: close to a filtered call's cost).
                limiter = self._limit
                try:
                    bucket = limiter[msg]  # None for a new template
                except TypeError:  # an unhashable message: admit() keys it by its type
                    bucket = None
                if bucket is not None and limiter.clock() < bucket.allow_at:
                    bucket.dropped += 1
                    if severity > bucket.severity:
                        bucket.severity = severity
                    return
                if not limiter.admit(msg, severity):
                    return
            intake = self._ref.intake
            if _may_change(fields) or type(msg) is not str or (args and not _flat(map(type, args))):
                msg, args = snapshot_call(msg, args, fields)
            if checking and self._ref.callsite:
                _record_callsite(self, fields, up)
            rec = (
                time_ns(),
                severity,
                msg,
                args,
                fields,
                self,
                _get_context(),
                capture_exception(fields.get("exc_info", True)),
                None,  # severity_text: the level's own
            )
            if _untrack is not None:
                _untrack(rec)
            ring = intake.ring
            if len(ring) < intake.capacity:
                ring.append(rec)
            else:
                intake.slow_put(rec)

        return exc_method

    if checking:

        def checking_method(self: Logger, msg: Any, /, *args: Any, **fields: Any) -> None:
            level = self._level
            if level > severity:
                # Below the logger's level, or a rate limit applies (LIMITED: fapilog._levels).
                if level < _LIMITED or level - _LIMITED > severity:
                    return
                # Over the rate limit: count and drop (inlined: close to a filtered call's cost).
                limiter = self._limit
                try:
                    bucket = limiter[msg]  # None for a new template
                except TypeError:  # an unhashable message: admit() keys it by its type
                    bucket = None
                if bucket is not None and limiter.clock() < bucket.allow_at:
                    bucket.dropped += 1
                    if severity > bucket.severity:
                        bucket.severity = severity
                    return
                if not limiter.admit(msg, severity):
                    return
            intake = self._ref.intake
            if _may_change(fields) or type(msg) is not str or (args and not _flat(map(type, args))):
                msg, args = snapshot_call(msg, args, fields)
            # The call site: the caller's code object and instruction offset, read
            # now (no frame is kept); the worker makes them the code.* attributes
            # (fapilog._callsite). Inlined: cheaper than calling _record_callsite.
            if self._ref.callsite:
                try:
                    frame = _getframe(self._depth + up)
                except ValueError:  # a stacklevel deeper than the stack
                    frame = frame_at(self._depth + up)
                fields[_FILE] = frame.f_code  # made attributes by the worker
                fields[_LINE] = frame.f_lasti
            rec = (
                time_ns(),
                severity,
                msg,
                args,
                fields,
                self,
                _get_context(),
                capture_exception(fields["exc_info"]) if "exc_info" in fields else None,
                None,  # severity_text: the level's own
            )
            if _untrack is not None:
                _untrack(rec)
            ring = intake.ring
            if len(ring) < intake.capacity:
                ring.append(rec)
            else:
                intake.slow_put(rec)

        return checking_method

    def method(self: Logger, msg: Any, /, *args: Any, **fields: Any) -> None:
        level = self._level
        if level > severity:
            # Below the logger's level, or a rate limit applies (LIMITED: fapilog._levels).
            if level < _LIMITED or level - _LIMITED > severity:
                return
            # Over the rate limit: count and drop (inlined: close to a filtered call's cost).
            limiter = self._limit
            try:
                bucket = limiter[msg]  # None for a new template
            except TypeError:  # an unhashable message: admit() keys it by its type
                bucket = None
            if bucket is not None and limiter.clock() < bucket.allow_at:
                bucket.dropped += 1
                if severity > bucket.severity:
                    bucket.severity = severity
                return
            if not limiter.admit(msg, severity):
                return
        intake = self._ref.intake
        # The values at the call: anything that may still change is copied now (the
        # worker builds the event later). Scalars only, the common case: one C call
        # and two compares (plus one C call over the types of any %-arguments).
        if _may_change(fields) or type(msg) is not str or (args and not _flat(map(type, args))):
            msg, args = snapshot_call(msg, args, fields)
        # A CapturedRecord, written out (capture_record() costs a call; measured):
        # keep it short, every slot costs on the caller.
        rec = (
            time_ns(),
            severity,
            msg,
            args,
            fields,
            self,
            _get_context(),
            capture_exception(fields["exc_info"]) if "exc_info" in fields else None,
            None,  # severity_text: the level's own
        )
        if _untrack is not None:
            _untrack(rec)
        # Intake.enqueue, inlined: this is the whole cost of a log call.
        ring = intake.ring
        if len(ring) < intake.capacity:
            ring.append(rec)
        else:
            intake.slow_put(rec)

    return method


class _Ready:
    """An awaitable that is already done: what an ``a``-method returns when it did not wait.

    ``await`` takes ``__await__`` from the class and calls it; an empty tuple's
    bound ``__iter__`` returns an iterator that is exhausted at once, so awaiting
    costs one C call, about half of what creating and running a coroutine costs
    (the ``a``-methods are the lossless way to log from a busy event loop).
    ``send``/``throw``/``close`` make it a :class:`collections.abc.Coroutine` too,
    so ``asyncio.create_task(log.ainfo(...))`` and ``asyncio.run`` keep working.
    """

    __slots__ = ()
    __await__ = ().__iter__  # an exhausted iterator: the await is finished

    def send(self, value: object) -> None:
        raise StopIteration

    def throw(self, *exc: Any) -> None:
        error = exc[0] if len(exc) == 1 or exc[1] is None else exc[1]
        raise error() if isinstance(error, type) else error

    def close(self) -> None:
        return None


_READY = cast("Awaitable[None]", _Ready())


def _async_method(
    severity: int, default_exc: bool, up: int = 0, checking: bool = False
) -> Callable[..., Awaitable[None]]:
    if checking:

        def checking_method(
            self: Logger, msg: Any, /, *args: Any, **fields: Any
        ) -> Awaitable[None]:
            level = self._level
            if level > severity:
                # Below the logger's level, or a rate limit applies (LIMITED: fapilog._levels).
                if level < _LIMITED or level - _LIMITED > severity:
                    return _READY
                # Over the rate limit: count and drop (inlined: close to a filtered call's cost).
                limiter = self._limit
                try:
                    bucket = limiter[msg]  # None for a new template
                except TypeError:  # an unhashable message: admit() keys it by its type
                    bucket = None
                if bucket is not None and limiter.clock() < bucket.allow_at:
                    bucket.dropped += 1
                    if severity > bucket.severity:
                        bucket.severity = severity
                    return _READY
                if not limiter.admit(msg, severity):
                    return _READY
            intake = self._ref.intake
            if _may_change(fields) or type(msg) is not str or (args and not _flat(map(type, args))):
                msg, args = snapshot_call(msg, args, fields)
            if self._ref.callsite:
                try:
                    frame = _getframe(self._depth + up)
                except ValueError:  # a stacklevel deeper than the stack
                    frame = frame_at(self._depth + up)
                fields[_FILE] = frame.f_code  # made attributes by the worker
                fields[_LINE] = frame.f_lasti
            exc_info = fields.get("exc_info", default_exc)
            rec = (
                time_ns(),
                severity,
                msg,
                args,
                fields,
                self,
                _get_context(),
                capture_exception(exc_info) if exc_info else None,
                None,  # severity_text: the level's own
            )
            if _untrack is not None:
                _untrack(rec)
            ring = intake.ring
            if len(ring) < intake.capacity:
                ring.append(rec)
                return _READY
            waiting: Awaitable[None] = intake.aput(rec)
            return waiting

        return checking_method

    def method(self: Logger, msg: Any, /, *args: Any, **fields: Any) -> Awaitable[None]:
        level = self._level
        if level > severity:
            # Below the logger's level, or a rate limit applies (LIMITED: fapilog._levels).
            if level < _LIMITED or level - _LIMITED > severity:
                return _READY
            # Over the rate limit: count and drop (inlined: close to a filtered call's cost).
            limiter = self._limit
            try:
                bucket = limiter[msg]  # None for a new template
            except TypeError:  # an unhashable message: admit() keys it by its type
                bucket = None
            if bucket is not None and limiter.clock() < bucket.allow_at:
                bucket.dropped += 1
                if severity > bucket.severity:
                    bucket.severity = severity
                return _READY
            if not limiter.admit(msg, severity):
                return _READY
        intake = self._ref.intake
        if _may_change(fields) or type(msg) is not str or (args and not _flat(map(type, args))):
            msg, args = snapshot_call(msg, args, fields)
        exc_info = fields.get("exc_info", default_exc)
        rec = (
            time_ns(),
            severity,
            msg,
            args,
            fields,
            self,
            _get_context(),
            capture_exception(exc_info) if exc_info else None,
            None,  # severity_text: the level's own
        )
        if _untrack is not None:
            _untrack(rec)
        # The event is buffered at the call; only a full buffer makes the await wait.
        ring = intake.ring
        if len(ring) < intake.capacity:
            ring.append(rec)
            return _READY
        waiting: Awaitable[None] = intake.aput(rec)
        return waiting

    return method


class Logger:
    """A structured logger. Get one with :func:`fapilog.get_logger`.

    Every method takes a message, optional ``%``-style arguments and keyword
    fields that become OTel attributes::

        log.info("paid", order_id=7, amount=12.5)
        log.warning("slow query %s", name, duration_ms=812)
        log.exception("charge failed", order_id=7)   # inside ``except``

    Reserved keywords: ``exc_info`` (``True``, an exception or a ``sys.exc_info()``
    tuple) and ``event_name`` (the OTel event name). Calls never raise and never
    block on I/O; the ``a``-prefixed twins (``await log.ainfo(...)``) wait for
    buffer space instead of dropping when the buffer is full. They buffer the
    event when called and return an awaitable that is already done unless the
    buffer is full, so awaiting them costs next to nothing.

    An event records the values as they were at the call, although it is built
    later on the worker thread. Immutable values (``str``, ``int``, ``float``,
    ``bool``, ``None``, ``bytes``, dates and times, ``Decimal``, ``UUID``, paths,
    enum members, and tuples and frozensets of these) are kept by reference and
    rendered on the worker. Anything else is copied on the calling thread, so a
    list appended to after the call is logged as it was: lists, dicts and sets of
    such scalars as a shallow copy, everything else (nested containers,
    dataclasses, models, other objects) by rendering it to its OTel value, the
    rendering the worker would do. ``%``-arguments are kept when they and the message are immutable;
    otherwise the message is formatted on the calling thread. Rendering an object
    runs its ``__repr__`` (``__str__`` for ``%s``) on the caller; it never raises:
    what fails becomes a placeholder naming the type. Not copied: a mutable object
    that holds no references to other objects (``bytearray``, ``array.array``,
    NumPy arrays) passed as a keyword value of a call whose other values are all
    scalars is read on the worker (the check that keeps scalar-only calls cheap
    cannot see it); inside a list, dict or other container, or next to one, it is
    copied. Fields given to :meth:`bind` are snapshotted when bound.
    """

    # ``_level``: the effective threshold (per-logger level, or the pipeline's), plus
    # LIMITED when a rate limit applies; ``_limit``: that limiter. Both kept in step
    # with fapilog.set_level() and the pipeline by fapilog._levels.
    __slots__ = ("__weakref__", "_depth", "_fields", "_level", "_limit", "_name", "_ref", "_scope")
    _level: int
    _limit: NameLimiter  # None unless _level carries LIMITED
    _scope: InstrumentationScope  # set by _set_scope (later for loggers made before the SDK)

    def __init__(self, name: str, ref: PipelineRef, fields: Mapping[str, Any] | None = None):
        self._name = name
        self._ref = ref
        self._fields: dict[str, Any] = dict(fields) if fields else {}
        if self._fields:
            snapshot_call(name, (), self._fields)
        _set_scope(self, None)
        self._depth = 1
        _levels.register(self)

    @classmethod
    def _for_pipeline(cls, pipeline: Pipeline, name: str | None) -> Logger:
        return cls(name or "root", PipelineRef(pipeline))

    def __repr__(self) -> str:
        return f"<fapilog.Logger {self._name!r} fields={sorted(self._fields)}>"

    @property
    def name(self) -> str:
        """The logger name; it becomes the instrumentation scope name."""
        return self._name

    @property
    def fields(self) -> Mapping[str, Any]:
        """Fields bound with :meth:`bind` (a copy)."""
        return dict(self._fields)

    def _copy(self) -> Logger:
        new = Logger.__new__(Logger)
        new._name = self._name
        new._ref = self._ref
        new._fields = self._fields
        _set_scope(new, self)
        new._depth = self._depth
        _levels.register_copy(new, self)
        return new

    def bind(self, **fields: object) -> Logger:
        """Return a new logger that adds ``fields`` to every event it logs.

        The values are taken as they are now (see the class notes on snapshots).
        """
        snapshot_call(self._name, (), fields)
        new = self._copy()
        new._fields = {**self._fields, **fields}
        return new

    def with_stacklevel(self, stacklevel: int) -> Logger:
        """Return a new logger whose call site is ``stacklevel`` frames up, for wrappers.

        Like :mod:`logging`'s ``stacklevel``: 1 (the default) records the line that
        called the log method, 2 the line that called the function making that call,
        and so on. For a helper or adapter that logs on behalf of its caller::

            _log = fapilog.get_logger("shop").with_stacklevel(2)

            def audit_step(step: str) -> None:
                _log.info("step", step=step)  # recorded at the caller of audit_step

        Only matters when call sites are recorded (the ``callsite`` setting). A level
        beyond the outermost frame records the outermost frame.

        Raises:
            ValueError: ``stacklevel`` is less than 1.
        """
        if stacklevel < 1:
            raise ValueError(f"stacklevel must be at least 1, not {stacklevel!r}")
        new = self._copy()
        new._depth = stacklevel
        return new

    def is_enabled_for(self, level: int | str) -> bool:
        """Whether an event at ``level`` would be accepted (cheap; use before costly work).

        Answers for this logger's level: its per-logger level (:func:`fapilog.set_level`,
        the ``levels`` setting) or the pipeline's. A rate limit is not considered. An
        unknown level answers for INFO, the level :meth:`log` uses for it.
        """
        number = _level_number(level)
        if number < 0:
            number = _severity.INFO
        return number >= _threshold(self)

    if TYPE_CHECKING:
        # The signatures type checkers see. At run time the methods are the closures
        # below (declaring ``exc_info``/``event_name`` as parameters would slow every
        # call down): the same parameters, read from ``**fields``.

        def trace(
            self,
            msg: object,
            /,
            *args: object,
            exc_info: ExcInfo = None,
            event_name: str | None = None,
            **fields: object,
        ) -> None:
            """Log at TRACE (OTel severity 1; :mod:`logging` level 5).

            Args:
                msg: the message (the body); ``%``-formatted with ``args``.
                *args: ``%``-arguments, formatted on the worker.
                exc_info: ``True`` (the exception being handled), an exception or a
                    ``sys.exc_info()`` tuple: adds ``exception.*`` attributes.
                event_name: the OTel event name.
                **fields: attributes of the event.
            """

        def debug(
            self,
            msg: object,
            /,
            *args: object,
            exc_info: ExcInfo = None,
            event_name: str | None = None,
            **fields: object,
        ) -> None:
            """Log at DEBUG (OTel severity 5). Arguments as for :meth:`trace`."""

        def info(
            self,
            msg: object,
            /,
            *args: object,
            exc_info: ExcInfo = None,
            event_name: str | None = None,
            **fields: object,
        ) -> None:
            """Log at INFO (OTel severity 9). Arguments as for :meth:`trace`."""

        def warning(
            self,
            msg: object,
            /,
            *args: object,
            exc_info: ExcInfo = None,
            event_name: str | None = None,
            **fields: object,
        ) -> None:
            """Log at WARN (OTel severity 13). Arguments as for :meth:`trace`."""

        def error(
            self,
            msg: object,
            /,
            *args: object,
            exc_info: ExcInfo = None,
            event_name: str | None = None,
            **fields: object,
        ) -> None:
            """Log at ERROR (OTel severity 17). Arguments as for :meth:`trace`."""

        def critical(
            self,
            msg: object,
            /,
            *args: object,
            exc_info: ExcInfo = None,
            event_name: str | None = None,
            **fields: object,
        ) -> None:
            """Log at FATAL (OTel severity 21). Arguments as for :meth:`trace`."""

        def exception(
            self,
            msg: object,
            /,
            *args: object,
            exc_info: ExcInfo = True,
            event_name: str | None = None,
            **fields: object,
        ) -> None:
            """Log at ERROR with the exception being handled (call it inside ``except``)."""

        def atrace(
            self,
            msg: object,
            /,
            *args: object,
            exc_info: ExcInfo = None,
            event_name: str | None = None,
            **fields: object,
        ) -> Done:
            """Awaitable :meth:`trace`: waits for buffer space instead of dropping."""

        def adebug(
            self,
            msg: object,
            /,
            *args: object,
            exc_info: ExcInfo = None,
            event_name: str | None = None,
            **fields: object,
        ) -> Done:
            """Awaitable :meth:`debug`: waits for buffer space instead of dropping."""

        def ainfo(
            self,
            msg: object,
            /,
            *args: object,
            exc_info: ExcInfo = None,
            event_name: str | None = None,
            **fields: object,
        ) -> Done:
            """Awaitable :meth:`info`: waits for buffer space instead of dropping."""

        def awarning(
            self,
            msg: object,
            /,
            *args: object,
            exc_info: ExcInfo = None,
            event_name: str | None = None,
            **fields: object,
        ) -> Done:
            """Awaitable :meth:`warning`: waits for buffer space instead of dropping."""

        def aerror(
            self,
            msg: object,
            /,
            *args: object,
            exc_info: ExcInfo = None,
            event_name: str | None = None,
            **fields: object,
        ) -> Done:
            """Awaitable :meth:`error`: waits for buffer space instead of dropping."""

        def acritical(
            self,
            msg: object,
            /,
            *args: object,
            exc_info: ExcInfo = None,
            event_name: str | None = None,
            **fields: object,
        ) -> Done:
            """Awaitable :meth:`critical`: waits for buffer space instead of dropping."""

        def aexception(
            self,
            msg: object,
            /,
            *args: object,
            exc_info: ExcInfo = True,
            event_name: str | None = None,
            **fields: object,
        ) -> Done:
            """Awaitable :meth:`exception`: waits for buffer space instead of dropping."""

        def log(
            self,
            level: int | str,
            msg: object,
            /,
            *args: object,
            exc_info: ExcInfo = None,
            event_name: str | None = None,
            **fields: object,
        ) -> None:
            """Log at ``level``: a name or a :mod:`logging` level number.

            Names are those of the methods and the OTel texts, in any case (``"warning"``,
            ``"WARN"``, ``"critical"``, ``"fatal"``, ``"trace"`` ...) and levels registered
            with :func:`logging.addLevelName`. Numbers are :mod:`logging`'s (``logging.INFO``
            == 20, custom levels in between keep their distance). Like every logging call
            it never raises: an unknown level (``"LOUD"``, a negative number, anything
            else) logs the event at INFO with the attribute ``log.level.original`` holding
            what was passed, and is reported on stderr (rate-limited, with a count).
            """

        async def alog(
            self,
            level: int | str,
            msg: object,
            /,
            *args: object,
            exc_info: ExcInfo = None,
            event_name: str | None = None,
            **fields: object,
        ) -> None:
            """Awaitable :meth:`log` (an unknown level is handled the same way)."""

    else:
        trace = _sync_method(_severity.TRACE, False)
        debug = _sync_method(_severity.DEBUG, False)
        info = _sync_method(_severity.INFO, False)
        warning = _sync_method(_severity.WARN, False)
        error = _sync_method(_severity.ERROR, False)
        critical = _sync_method(_severity.FATAL, False)
        exception = _sync_method(_severity.ERROR, True)

        atrace = _async_method(_severity.TRACE, False)
        adebug = _async_method(_severity.DEBUG, False)
        ainfo = _async_method(_severity.INFO, False)
        awarning = _async_method(_severity.WARN, False)
        aerror = _async_method(_severity.ERROR, False)
        acritical = _async_method(_severity.FATAL, False)
        aexception = _async_method(_severity.ERROR, True)

        def log(self, level: int | str, msg: Any, /, *args: Any, **kwargs: Any) -> None:
            number = _level_number(level)
            if number < 0:
                number = _unknown_level(self, level, kwargs)
            _BY_NUMBER[number](self, msg, *args, **kwargs)

        async def alog(self, level: int | str, msg: Any, /, *args: Any, **kwargs: Any) -> None:
            number = _level_number(level)
            if number < 0:
                number = _unknown_level(self, level, kwargs)
            await _ABY_NUMBER[number](self, msg, *args, **kwargs)

    def audit(
        self, action: str, /, *, actor: Any, target: Any, outcome: Any, **fields: Any
    ) -> None:
        """Record an audit event: who (``actor``) did what (``action``) to what, and how it went.

        The event is an INFO record with event name ``"audit"``, body ``action`` and
        the attributes ``audit.action``, ``audit.actor``, ``audit.target``,
        ``audit.outcome`` and ``fapilog.audit = True``, plus ``fields``. It is
        accepted whatever the logger's level (an audit trail must not depend on
        verbosity) and then travels the normal pipeline: it is enriched and redacted
        like any event, reaches every exporter, and an
        :class:`~fapilog.audit.AuditExporter` appends it to a tamper-evident log::

            log.audit("user.delete", actor="admin-7", target="user-42", outcome="success")

        Like :meth:`info`, it never blocks; when the buffer is full the overflow policy
        applies (use :meth:`aaudit` to wait for space instead).

        Args:
            action: what was done, e.g. ``"user.delete"``.
            actor: who did it (user or service id).
            target: what it was done to.
            outcome: how it ended, e.g. ``"success"``, ``"denied"``, ``"error"``.
            **fields: more attributes (``exc_info`` is honoured; ``event_name`` is
                always ``"audit"``).
        """
        self._ref.intake.enqueue(self._audit_record(action, actor, target, outcome, fields))

    async def aaudit(
        self, action: str, /, *, actor: Any, target: Any, outcome: Any, **fields: Any
    ) -> None:
        """Awaitable :meth:`audit`: waits for buffer space instead of dropping."""
        await self._ref.intake.aput(self._audit_record(action, actor, target, outcome, fields))

    def _audit_record(
        self, action: str, actor: Any, target: Any, outcome: Any, fields: dict[str, Any]
    ) -> CapturedRecord:
        exc = capture_exception(fields["exc_info"]) if "exc_info" in fields else None
        fields["event_name"] = "audit"
        fields["audit.action"] = action
        fields["audit.actor"] = actor
        fields["audit.target"] = target
        fields["audit.outcome"] = outcome
        fields["fapilog.audit"] = True
        action, _ = snapshot_call(action, (), fields)
        if self._ref.callsite:  # the application called audit(), which called this one
            _record_callsite(self, fields, 1)
        return capture_record(
            time_ns(), _severity.INFO, action, (), fields, self, _get_context(), exc
        )

    def timed(
        self,
        name: str,
        /,
        *,
        level: int | str = "info",
        span: bool | Tracer = False,
        **fields: object,
    ) -> Timed:
        """Time a block or a function and log how long it took and how it ended.

        A context manager (``with``/``async with``) and a decorator (sync and async
        functions). When the block or call ends, one event is logged: body ``name``,
        attributes ``duration_ms`` (a float, from :func:`time.perf_counter_ns`) and
        ``outcome`` (``"ok"``, or ``"error"`` with ``error.type`` naming the
        exception, which propagates unchanged), plus ``fields``. It belongs to the
        span active at the end (the one around the block)::

            with log.timed("db.query", table="orders"):
                rows = fetch()

            @log.timed("charge")
            async def charge(order: Order) -> None: ...

        Args:
            name: the event body, and the span name with ``span=True``.
            level: the level of the event for ``"ok"``; ``"error"`` is logged at ERROR.
            span: also open an OpenTelemetry span ``name`` around the block: ``True``
                with the tracer ``"fapilog"`` of the global tracer provider (a no-op
                span when none is configured), or with the ``Tracer`` given. The event
                is logged inside it; an error is recorded on it and sets its status.
            **fields: attributes of the event (and of the span).

        Returns:
            A :class:`~fapilog.Timed`. As a context manager it times one block at a
            time; as a decorator every call is timed on its own.
        """
        from fapilog._helpers import Timed

        site = None
        if self._ref.callsite:
            frame = frame_at(self._depth + 1)  # + frame_at
            site = (frame.f_code, frame.f_lineno)
        return Timed(self, name, _level_or_info(level), span, fields, site)

    def catch(
        self,
        *,
        level: int | str = "error",
        message: str | None = None,
        reraise: bool = True,
        default: Any = None,
        exception: type[BaseException] | tuple[type[BaseException], ...] = Exception,
    ) -> Catch[Any]:
        """:func:`fapilog.catch` logging to this logger (same arguments, but ``logger``)."""
        from fapilog._helpers import Catch

        return Catch(self, level, message, reraise, default, exception)


def _threshold(logger: Logger) -> int:
    """The logger's level as a severity number (without the rate-limit flag)."""
    level = logger._level
    return level - _LIMITED if level >= _LIMITED else level


def _level_or_info(level: object) -> int:
    """The severity for a helper's ``level=`` argument (an unknown one is INFO, reported)."""
    number = _level_number(level)
    if number < 0:
        reporter.report("unknown_level", f"{level!r} is not a level; INFO is used")
        return _severity.INFO
    return number


def _helper_record(
    logger: Logger,
    severity: int,
    msg: str,
    fields: dict[str, Any],
    exc: BaseException | None,
    site: tuple[Any, int] | None,
) -> CapturedRecord | None:
    """The captured call for an event a helper logs; ``None`` below the level.

    ``site`` is ``(code object, line)`` of the application code the event is about;
    recorded as ``code.*`` attributes when the pipeline records call sites.
    """
    if _threshold(logger) > severity:
        return None
    ref = logger._ref
    snapshot_call(msg, (), fields)
    if site is not None and ref.callsite:
        code, line = site
        fields[_FILE] = code.co_filename
        fields[_LINE] = line
        fields[_FUNCTION] = code.co_qualname
    return capture_record(time_ns(), severity, msg, (), fields, logger, _get_context(), exc)


#: The attribute that carries the level given to ``log()`` when it is not a level.
ORIGINAL_LEVEL_KEY = "log.level.original"

_level_cache: dict[object, int] = {}


def _level_number(level: object) -> int:
    """The OTel severity number for ``level``, or -1 when it is not a level; never raises."""
    if type(level) is bool:  # True == 1 would find the entry for 1
        return -1
    try:
        number = _level_cache.get(level)
    except TypeError:  # unhashable
        return -1
    if number is None:
        number = _parse_level(level)
        if number >= 0 and len(_level_cache) < 256:
            _level_cache[level] = number
    return number


def _parse_level(level: object) -> int:
    if isinstance(level, int):
        return _severity.from_stdlib(level) if level >= 0 else -1
    if not isinstance(level, str):
        return -1
    try:
        return _severity.parse_level(level)
    except (ValueError, TypeError, AttributeError):
        pass
    # A level the application registered with logging.addLevelName("NOTICE", 25).
    registered = logging.getLevelNamesMapping().get(level.strip().upper())
    return -1 if registered is None else _severity.from_stdlib(registered)


def _unknown_level(logger: Logger, level: object, fields: dict[str, Any]) -> int:
    """Record an unknown ``log()`` level on the event and report it; the level to use."""
    fields[ORIGINAL_LEVEL_KEY] = level if type(level) is str else normalize_value(level)
    try:
        reporter.report(
            "unknown_level",
            f"log() was called with {type(level).__name__} level that is not a level "
            f"(logger {logger.name!r}); logged at INFO with attribute {ORIGINAL_LEVEL_KEY!r}",
        )
    except Exception:  # never into the application
        pass
    return _severity.INFO


# Reached through log()/alog(): the application is one frame further up.
_BY_NUMBER = {n: _sync_method(n, False, 1) for n in range(25)}
_ABY_NUMBER = {n: _async_method(n, False, 1) for n in range(25)}

_LEVEL_METHODS = (
    ("trace", _severity.TRACE, False),
    ("debug", _severity.DEBUG, False),
    ("info", _severity.INFO, False),
    ("warning", _severity.WARN, False),
    ("error", _severity.ERROR, False),
    ("critical", _severity.FATAL, False),
    ("exception", _severity.ERROR, True),
)
_checking = False


def use_callsite_methods() -> None:
    """Install the level methods that read the ``callsite`` flag; they stay installed.

    Until a pipeline records call sites, :class:`Logger` has methods without the
    check, so a process that never records them pays nothing for the feature. The
    first pipeline (or default) that does swaps in the checking variants, which cost
    one slot read per call where the flag is off.
    """
    global _checking
    if _checking:
        return
    _checking = True
    for name, severity, default_exc in _LEVEL_METHODS:
        setattr(Logger, name, _sync_method(severity, default_exc, 0, True))
        setattr(Logger, "a" + name, _async_method(severity, default_exc, 0, True))
    for number in range(25):
        _BY_NUMBER[number] = _sync_method(number, False, 1, True)
        _ABY_NUMBER[number] = _async_method(number, False, 1, True)


#: Modules whose frames are fapilog's, not the application's (see add_callsite).
_OWN_MODULES = frozenset({__name__, "fapilog._api", "fapilog._helpers"})


def add_callsite(rec: CapturedRecord, frame: FrameType | None) -> None:
    """Add the call site to a captured call that has none, searching up from ``frame``.

    For the first events of the lazily built default pipeline, whose ``callsite``
    setting is known only once they are captured: the application's frame is the
    first one outside fapilog's logging modules, then ``stacklevel - 1`` further up.
    Not on the hot path.
    """
    from fapilog.pipeline._materialize import REC_FIELDS, REC_LOGGER

    logger, fields = rec[REC_LOGGER], rec[REC_FIELDS]
    if not isinstance(logger, Logger) or _FILE in fields:
        return
    while frame is not None and frame.f_globals.get("__name__") in _OWN_MODULES:
        frame = frame.f_back
    for _ in range(logger._depth - 1):
        if frame is None or frame.f_back is None:
            break
        frame = frame.f_back
    if frame is not None:
        code = frame.f_code
        fields[_FILE] = code.co_filename
        fields[_LINE] = frame.f_lineno
        fields[_FUNCTION] = code.co_qualname
