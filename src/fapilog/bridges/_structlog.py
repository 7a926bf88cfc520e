"""structlog → fapilog: a final processor that turns each event dict into a LogEvent."""

from __future__ import annotations

import datetime as _dt
from time import time_ns
from typing import TYPE_CHECKING, Any

from fapilog import _severity
from fapilog._logger import _get_context
from fapilog.bridges._target import BridgeTarget, require
from fapilog.pipeline._materialize import capture_exception, capture_record, snapshot_call

if TYPE_CHECKING:
    from collections.abc import MutableMapping

    from opentelemetry.context import Context

    from fapilog._logger import Logger
    from fapilog.pipeline._intake import IntakeLike
    from fapilog.pipeline._pipeline import Pipeline

__all__ = ["FapilogStructlogProcessor"]

#: structlog method names that are not level names.
_METHOD_LEVELS = {
    "exception": _severity.ERROR,
    "msg": _severity.INFO,
    "log": _severity.INFO,
    "err": _severity.ERROR,
    "warn": _severity.WARN,
    "notset": 0,
}
#: Keys of structlog's CallsiteParameterAdder renamed to OTel semantic conventions.
_CALLSITE = {
    "pathname": "code.file.path",
    "func_name": "code.function.name",
    "lineno": "code.line.number",
    "thread_name": "thread.name",
}


_level_cache: dict[str, tuple[int, str | None]] = {}


def _level(name: Any) -> tuple[int, str | None]:
    """(severity number, severity text override) for a structlog level or method name."""
    cached = _level_cache.get(name) if type(name) is str else None
    if cached is not None:
        return cached
    key = str(name).lower()
    number = _METHOD_LEVELS.get(key)
    if number is not None:
        result: tuple[int, str | None] = (number, None)
    else:
        try:
            result = (_severity.parse_level(key), None)
        except ValueError:
            # A custom level name: keep the record (at INFO) and the name the app used.
            result = (_severity.INFO, str(name).upper())
    if type(name) is str and len(_level_cache) < 256:
        _level_cache[name] = result
    return result


def _timestamp(value: Any) -> int | None:
    """ns since the epoch for a structlog ``timestamp``, if it is unambiguous."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value * 1e9)  # TimeStamper(fmt=None): seconds since the epoch
    if isinstance(value, str):
        try:
            parsed = _dt.datetime.fromisoformat(value)
        except ValueError:
            return None
        if parsed.tzinfo is not None:  # a naive time could be local or UTC: don't guess
            return int(parsed.timestamp()) * 1_000_000_000 + parsed.microsecond * 1000
    return None


class FapilogStructlogProcessor:
    """A structlog processor that sends each event into a fapilog pipeline.

    Put it last in the processor chain, in place of a renderer::

        import structlog
        from fapilog.bridges import FapilogStructlogProcessor

        structlog.configure(
            processors=[
                structlog.contextvars.merge_contextvars,
                structlog.processors.add_log_level,
                FapilogStructlogProcessor(),
            ]
        )
        structlog.get_logger("shop").info("paid", order_id=7)

    The event dict becomes one :class:`~fapilog.LogEvent`: ``event`` is the body
    (``%``-formatted with ``positional_args`` if present), ``level`` (or the method
    name) the severity, ``logger`` (or the wrapped logger's ``name``) the scope,
    ``exc_info`` the ``exception.*`` attributes, a numeric or timezone-aware ISO
    ``timestamp`` the record time, and every other key an attribute (normalised by
    fapilog). ``pathname``, ``func_name``, ``lineno`` and ``thread_name`` (from
    ``CallsiteParameterAdder``) are renamed to ``code.file.path``,
    ``code.function.name``, ``code.line.number`` and ``thread.name``.

    The OTel Context is read on the calling thread, so the active span's trace and
    span ids, baggage and :func:`fapilog.bind_context` fields apply. The processor
    never raises into the app except ``structlog.DropEvent``: a record it cannot
    capture is counted as dropped (``bridge_error``) and reported on stderr.

    Args:
        target: a :class:`~fapilog.Pipeline`, a :class:`~fapilog.Logger` (its
            pipeline, bound fields and name as default scope), or ``None`` for the
            default pipeline at the time of each call.
        passthrough: if true, return the event dict unchanged so later processors
            (a console renderer, say) still see it; by default raise
            ``structlog.DropEvent`` so structlog does not output the event again.
        default_scope: the scope name when the event names no logger.

    Raises:
        ImportError: structlog is not installed (``pip install 'fapilog[structlog]'``).
    """

    __slots__ = ("_drop", "_passthrough", "_target")

    def __init__(
        self,
        target: Pipeline | Logger | None = None,
        *,
        passthrough: bool = False,
        default_scope: str = "structlog",
    ) -> None:
        structlog = require("structlog", "structlog", "FapilogStructlogProcessor")
        self._drop: type[BaseException] = structlog.DropEvent
        self._passthrough = passthrough
        self._target = BridgeTarget(target, default_scope, "structlog")

    def __repr__(self) -> str:
        return f"<FapilogStructlogProcessor passthrough={self._passthrough}>"

    def __call__(
        self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        """Capture ``event_dict`` (structlog's processor protocol).

        Args:
            logger: the wrapped logger; its ``name``, if any, is the fallback scope.
            method_name: the structlog method called (``"info"``, ``"exception"``...).
            event_dict: the event, after the processors before this one.

        Returns:
            ``event_dict`` unchanged when ``passthrough`` is set.

        Raises:
            structlog.DropEvent: always, unless ``passthrough`` is set.
        """
        ctx = _get_context()  # first: nothing below may change the caller's Context
        intake = self._target.intake()
        try:
            self._capture(intake, logger, method_name, event_dict, ctx)
        except Exception as exc:
            self._target.failed(intake, exc)
        if self._passthrough:
            return event_dict
        raise self._drop

    def _capture(
        self,
        intake: IntakeLike,
        logger: Any,
        method_name: str,
        event_dict: MutableMapping[str, Any],
        ctx: Context,
    ) -> None:
        severity, text = _level(event_dict.get("level", method_name))
        named = event_dict.get("logger")
        if named is None:
            named = getattr(logger, "name", None)
        if not self._target.accepts(
            intake, severity, named if isinstance(named, str) else None, event_dict.get("event")
        ):
            return
        now = time_ns()
        fields = dict(event_dict)  # structlog's dict may be reused by later processors
        fields.pop("level", None)
        body = fields.pop("event", None)
        args = fields.pop("positional_args", ())
        if not isinstance(args, tuple):
            args = tuple(args) if isinstance(args, list) else (args,)
        if len(args) == 1 and isinstance(args[0], dict) and args[0]:
            args = args[0]  # "%(name)s"-style, as PositionalArgumentsFormatter does
        name = fields.pop("logger", None)
        if name is None:
            name = getattr(logger, "name", None)
        exc = capture_exception(fields.pop("exc_info", None))
        if exc is None and isinstance(fields.get("exception"), str):
            # format_exc_info already rendered it; keep the text under its OTel name.
            fields["exception.stacktrace"] = fields.pop("exception")
        ts = None
        if "timestamp" in fields:
            ts = _timestamp(fields["timestamp"])
            if ts is not None:
                del fields["timestamp"]
        for key, otel_key in _CALLSITE.items():
            if key in fields:
                fields[otel_key] = fields.pop(key)
        # The values at the call, like fapilog's own calls (the event is built later).
        body, args = snapshot_call(body, args, fields)
        rec = capture_record(
            now if ts is None else ts,
            severity,
            body,
            args,
            fields,
            self._target.scope(name if isinstance(name, str) else None),
            ctx,
            exc,
            text,
        )
        self._target.enqueue(intake, rec)
