"""The logger facade: level check and capture on the caller, nothing else."""

from __future__ import annotations

import logging
from time import time_ns
from typing import TYPE_CHECKING, Any, cast

from opentelemetry import context as otel_context
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from fapilog import _severity
from fapilog._diagnostics import reporter
from fapilog._normalize import normalize_value
from fapilog.pipeline._materialize import (
    IMMUTABLE_TYPES,
    capture_exception,
    fields_may_change,
    snapshot_call,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from opentelemetry.context import Context

    from fapilog.pipeline._pipeline import Pipeline

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

# One C call on every log call with keywords: False unless a value may still change
# (see fapilog.pipeline._materialize.fields_may_change).
_may_change = fields_may_change
# %-arguments that are all immutable scalars are formatted on the worker.
_flat = IMMUTABLE_TYPES.issuperset


class PipelineRef:
    """Where a logger sends events: a fixed pipeline or the (swappable) default one."""

    __slots__ = ("pipeline",)

    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline


def _sync_method(severity: int, default_exc: bool) -> Callable[..., None]:
    # ``exc_info`` and ``event_name`` arrive inside ``fields``: declaring them as
    # keyword-only parameters next to ``**fields`` makes every call with keywords
    # measurably slower (see benchmarks/caller_cost.py). The worker pops them.
    if default_exc:

        def exc_method(self: Logger, msg: Any, /, *args: Any, **fields: Any) -> None:
            pipeline = self._ref.pipeline
            if pipeline._min_level > severity:
                return
            if _may_change(fields) or type(msg) is not str or (args and not _flat(map(type, args))):
                msg, args = snapshot_call(msg, args, fields)
            rec = (
                time_ns(),
                severity,
                msg,
                args,
                fields,
                self,
                _get_context(),
                capture_exception(fields.get("exc_info", True)),
            )
            ring = pipeline._ring
            if len(ring) < pipeline._capacity:
                ring.append(rec)
            else:
                pipeline._slow_put(rec)

        return exc_method

    def method(self: Logger, msg: Any, /, *args: Any, **fields: Any) -> None:
        pipeline = self._ref.pipeline
        if pipeline._min_level > severity:
            return
        # The values at the call: anything that may still change is copied now (the
        # worker builds the event later). Scalars only, the common case: one C call
        # and two compares (plus one C call over the types of any %-arguments).
        if _may_change(fields) or type(msg) is not str or (args and not _flat(map(type, args))):
            msg, args = snapshot_call(msg, args, fields)
        # Keep this tuple short: every slot costs on the caller (measured).
        rec = (
            time_ns(),
            severity,
            msg,
            args,
            fields,
            self,
            _get_context(),
            capture_exception(fields["exc_info"]) if "exc_info" in fields else None,
        )
        # Pipeline._enqueue, inlined: this is the whole cost of a log call.
        ring = pipeline._ring
        if len(ring) < pipeline._capacity:
            ring.append(rec)
        else:
            pipeline._slow_put(rec)

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


def _async_method(severity: int, default_exc: bool) -> Callable[..., Awaitable[None]]:
    def method(self: Logger, msg: Any, /, *args: Any, **fields: Any) -> Awaitable[None]:
        pipeline = self._ref.pipeline
        if pipeline._min_level > severity:
            return _READY
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
        )
        # The event is buffered at the call; only a full buffer makes the await wait.
        ring = pipeline._ring
        if len(ring) < pipeline._capacity:
            ring.append(rec)
            return _READY
        waiting: Awaitable[None] = pipeline._aput(rec)
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

    __slots__ = ("_fields", "_name", "_ref", "_scope")

    def __init__(self, name: str, ref: PipelineRef, fields: Mapping[str, Any] | None = None):
        self._name = name
        self._ref = ref
        self._fields: dict[str, Any] = dict(fields) if fields else {}
        if self._fields:
            snapshot_call(name, (), self._fields)
        self._scope = InstrumentationScope(name)

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

    def bind(self, **fields: Any) -> Logger:
        """Return a new logger that adds ``fields`` to every event it logs.

        The values are taken as they are now (see the class notes on snapshots).
        """
        snapshot_call(self._name, (), fields)
        merged = {**self._fields, **fields}
        new = Logger.__new__(Logger)
        new._name = self._name
        new._ref = self._ref
        new._fields = merged
        new._scope = self._scope
        return new

    def is_enabled_for(self, level: int | str) -> bool:
        """Whether an event at ``level`` would be accepted (cheap; use before costly work).

        An unknown level answers for INFO, the level :meth:`log` uses for it.
        """
        number = _level_number(level)
        if number < 0:
            number = _severity.INFO
        return bool(self._ref.pipeline._min_level <= number)

    debug = _sync_method(_severity.DEBUG, False)
    info = _sync_method(_severity.INFO, False)
    warning = _sync_method(_severity.WARN, False)
    error = _sync_method(_severity.ERROR, False)
    critical = _sync_method(_severity.FATAL, False)
    exception = _sync_method(_severity.ERROR, True)

    adebug = _async_method(_severity.DEBUG, False)
    ainfo = _async_method(_severity.INFO, False)
    awarning = _async_method(_severity.WARN, False)
    aerror = _async_method(_severity.ERROR, False)
    acritical = _async_method(_severity.FATAL, False)
    aexception = _async_method(_severity.ERROR, True)

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
        pipeline = self._ref.pipeline
        pipeline._enqueue(self._audit_record(action, actor, target, outcome, fields))

    async def aaudit(
        self, action: str, /, *, actor: Any, target: Any, outcome: Any, **fields: Any
    ) -> None:
        """Awaitable :meth:`audit`: waits for buffer space instead of dropping."""
        pipeline = self._ref.pipeline
        await pipeline._aput(self._audit_record(action, actor, target, outcome, fields))

    def _audit_record(
        self, action: str, actor: Any, target: Any, outcome: Any, fields: dict[str, Any]
    ) -> tuple[Any, ...]:
        exc = capture_exception(fields["exc_info"]) if "exc_info" in fields else None
        fields["event_name"] = "audit"
        fields["audit.action"] = action
        fields["audit.actor"] = actor
        fields["audit.target"] = target
        fields["audit.outcome"] = outcome
        fields["fapilog.audit"] = True
        action, _ = snapshot_call(action, (), fields)
        return (time_ns(), _severity.INFO, action, (), fields, self, _get_context(), exc)

    def log(self, level: int | str, msg: Any, /, *args: Any, **kwargs: Any) -> None:
        """Log at ``level``: a name or a :mod:`logging` level number.

        Names are those of the methods and the OTel texts, in any case (``"warning"``,
        ``"WARN"``, ``"critical"``, ``"fatal"``, ``"trace"`` ...) and levels registered
        with :func:`logging.addLevelName`. Numbers are :mod:`logging`'s (``logging.INFO``
        == 20, custom levels in between keep their distance). Like every logging call
        it never raises: an unknown level (``"LOUD"``, a negative number, anything
        else) logs the event at INFO with the attribute ``log.level.original`` holding
        what was passed, and is reported on stderr (rate-limited, with a count).
        """
        number = _level_number(level)
        if number < 0:
            number = _unknown_level(self, level, kwargs)
        _BY_NUMBER[number](self, msg, *args, **kwargs)

    async def alog(self, level: int | str, msg: Any, /, *args: Any, **kwargs: Any) -> None:
        """Awaitable :meth:`log` (an unknown level is handled the same way)."""
        number = _level_number(level)
        if number < 0:
            number = _unknown_level(self, level, kwargs)
        await _ABY_NUMBER[number](self, msg, *args, **kwargs)


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


_BY_NUMBER = {n: _sync_method(n, False) for n in range(25)}
_ABY_NUMBER = {n: _async_method(n, False) for n in range(25)}
