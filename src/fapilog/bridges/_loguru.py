"""loguru → fapilog: a sink that turns each loguru record into a LogEvent."""

from __future__ import annotations

import threading
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from opentelemetry import baggage as otel_baggage
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.context import set_value as _set_value

from fapilog import _severity
from fapilog._context import BOUND_KEY, bound_fields
from fapilog._diagnostics import reporter
from fapilog._logger import _get_context
from fapilog._normalize import exception_attributes, normalize_value
from fapilog.bridges._target import BridgeTarget, require
from fapilog.pipeline._materialize import capture_record, snapshot_call

if TYPE_CHECKING:
    from loguru import Message, Record

    from fapilog._logger import Logger
    from fapilog.pipeline._intake import IntakeLike
    from fapilog.pipeline._pipeline import Pipeline

__all__ = ["CONTEXT_KEY", "FapilogLoguruSink", "loguru_context_patcher"]

CONTEXT_KEY = "fapilog.otel_context"
"""The ``record["extra"]`` key :func:`loguru_context_patcher` stores the call's context under."""

#: loguru's standard level names, spelled as the OTel data model spells them.
_TEXT = {
    "TRACE": "TRACE",
    "DEBUG": "DEBUG",
    "INFO": "INFO",
    "WARNING": "WARN",
    "ERROR": "ERROR",
    "CRITICAL": "FATAL",
}


def loguru_context_patcher(record: Record) -> None:
    """A loguru patcher that snapshots the caller's OTel context into the record.

    Needed only with ``logger.add(FapilogLoguruSink(), enqueue=True)``: loguru then
    pickles each record and calls the sink on its own writer thread, where the
    caller's span, baggage and bound fields are gone (and so is the exception's
    traceback). The patcher runs on the calling thread and stores, under
    ``record["extra"]["fapilog.otel_context"]``, plain picklable data: the span's
    trace id, span id and flags, the baggage entries, the
    :func:`fapilog.bind_context` fields (normalised) and, for an exception, its
    ``exception.*`` attributes. :class:`FapilogLoguruSink` rebuilds the context from
    it and removes the key. Other sinks will see the key in ``extra``::

        from loguru import logger
        from fapilog.bridges import FapilogLoguruSink, loguru_context_patcher

        logger.configure(patcher=loguru_context_patcher)
        logger.add(FapilogLoguruSink(), enqueue=True)

    Args:
        record: the loguru record being logged (changed in place).
    """
    ctx = _get_context()
    span_context = trace.get_current_span(ctx).get_span_context()
    snapshot: dict[str, Any] = {}
    if span_context.is_valid:
        snapshot["span"] = (
            span_context.trace_id,
            span_context.span_id,
            int(span_context.trace_flags),
        )
    entries = otel_baggage.get_all(ctx)
    if entries:
        snapshot["baggage"] = {str(k): str(v) for k, v in entries.items()}
    bound = bound_fields(ctx)
    if bound:
        snapshot["bound"] = {str(k): normalize_value(v) for k, v in bound.items()}
    exception = record["exception"]
    if exception is not None and exception.value is not None:
        snapshot["exception"] = exception_attributes(exception.value)
    record["extra"][CONTEXT_KEY] = snapshot


def _rebuild_context(snapshot: dict[str, Any]) -> Context:
    """An OTel Context equivalent, for fapilog's enrichers, to the one snapshotted."""
    ctx = Context()
    span = snapshot.get("span")
    if span:
        trace_id, span_id, flags = span
        span_context = trace.SpanContext(
            trace_id, span_id, is_remote=False, trace_flags=trace.TraceFlags(flags)
        )
        ctx = trace.set_span_in_context(trace.NonRecordingSpan(span_context), ctx)
    for key, value in (snapshot.get("baggage") or {}).items():
        ctx = otel_baggage.set_baggage(key, value, ctx)
    bound = snapshot.get("bound")
    if bound:
        ctx = _set_value(BOUND_KEY, MappingProxyType(dict(bound)), ctx)
    return ctx


class FapilogLoguruSink:
    """A loguru sink that sends each record into a fapilog pipeline.

    ::

        from loguru import logger
        from fapilog.bridges import FapilogLoguruSink

        logger.remove()  # optional: stop loguru's own stderr output
        logger.add(FapilogLoguruSink(), level="DEBUG")
        logger.bind(order_id=7).info("paid {}", "in full")

    The record becomes one :class:`~fapilog.LogEvent`: ``message`` is the body, the
    level number the severity (loguru's TRACE/DEBUG/INFO/WARNING/ERROR/CRITICAL map
    to the OTel ranges like their :mod:`logging` twins, SUCCESS(25) is INFO
    severity 12 with text ``"SUCCESS"``, custom levels keep their name), ``name``
    the scope, ``time`` the timestamp, ``extra`` (``bind()``/``contextualize()``
    fields) the attributes, ``file``/``function``/``line``/``thread`` the
    ``code.file.path``, ``code.function.name``, ``code.line.number`` and
    ``thread.name`` attributes, and the exception the ``exception.*`` attributes.

    loguru calls a sink on the logging thread, so the caller's OTel Context (span,
    baggage, bound fields) is read there. With ``enqueue=True`` it is not: install
    :func:`loguru_context_patcher` to carry it across; without it such records have
    no trace ids, and the sink says so once on stderr. The sink never raises: a
    record it cannot capture is counted as dropped (``bridge_error``) and reported.

    Args:
        target: a :class:`~fapilog.Pipeline`, a :class:`~fapilog.Logger` (its
            pipeline, bound fields and name as default scope), or ``None`` for the
            default pipeline at the time of each call.
        default_scope: the scope name when a record has no module name.

    Raises:
        ImportError: loguru is not installed (``pip install 'fapilog[loguru]'``).
    """

    __slots__ = ("__name__", "_target", "_warned")

    def __init__(
        self, target: Pipeline | Logger | None = None, *, default_scope: str = "loguru"
    ) -> None:
        require("loguru", "loguru", "FapilogLoguruSink")
        self._target = BridgeTarget(target, default_scope, "loguru")
        self._warned = False
        self.__name__ = "fapilog"  # what loguru shows for this sink in its repr

    def __repr__(self) -> str:
        return "<FapilogLoguruSink>"

    def __call__(self, message: Message) -> None:
        """Capture ``message.record`` (loguru's sink protocol); never raises.

        Args:
            message: the formatted message loguru passes; only its ``record`` is read.
        """
        ctx = _get_context()  # first: on the logging thread unless enqueue=True
        intake = self._target.intake()
        try:
            self._capture(intake, message.record, ctx)
        except Exception as exc:
            self._target.failed(intake, exc)

    def _capture(self, intake: IntakeLike, record: Record, ctx: Context) -> None:
        level = record["level"]
        severity = _severity.from_stdlib(level.no)
        if not self._target.accepts(intake, severity, record["name"], record["message"]):
            return
        fields: dict[str, Any] = dict(record["extra"])
        snapshot = fields.pop(CONTEXT_KEY, None)
        if isinstance(snapshot, dict):
            ctx = _rebuild_context(snapshot)
        elif record["thread"].id != threading.get_ident() and not self._warned:
            self._warned = True
            reporter.report(
                "loguru_bridge_thread",
                "FapilogLoguruSink runs on another thread than the log call "
                "(enqueue=True?): records lose their trace context; "
                "configure loguru with patcher=fapilog.bridges.loguru_context_patcher",
            )
        fields["code.file.path"] = record["file"].path
        fields["code.function.name"] = record["function"]
        fields["code.line.number"] = record["line"]
        fields["thread.name"] = record["thread"].name
        exc: BaseException | None = None
        exception = record["exception"]
        if exception is not None:
            value = exception.value
            saved = snapshot.get("exception") if isinstance(snapshot, dict) else None
            if isinstance(value, BaseException) and (value.__traceback__ or not saved):
                exc = value
            elif saved:
                # Pickled across loguru's queue: the patcher's rendering has the traceback.
                fields.update(saved)
            elif exception.type is not None:
                # Pickling lost the value too: the type is all that is left.
                cls = exception.type
                fields["exception.type"] = (
                    cls.__qualname__
                    if cls.__module__ in ("builtins", "__main__")
                    else f"{cls.__module__}.{cls.__qualname__}"
                )
        when = record["time"]
        ts = int(when.timestamp()) * 1_000_000_000 + when.microsecond * 1000
        # The values at the call, like fapilog's own calls (the event is built later).
        body, _ = snapshot_call(record["message"], (), fields)
        self._target.enqueue(
            intake,
            capture_record(
                ts,
                severity,
                body,
                (),
                fields,
                self._target.scope(record["name"]),
                ctx,
                exc,
                _TEXT.get(level.name, level.name),
            ),
        )
