"""An OTel Logs API ``LoggerProvider`` whose loggers write into a fapilog pipeline.

Libraries that log through the OpenTelemetry Logs API
(``opentelemetry._logs.get_logger(...).emit(...)``) then share fapilog's processors,
batching and exporters with ``fapilog.get_logger()`` and stdlib logging.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry._logs import Logger as APILogger
from opentelemetry._logs import LoggerProvider as APILoggerProvider
from opentelemetry._logs import LogRecord as APILogRecord
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from fapilog import _severity
from fapilog._diagnostics import reporter
from fapilog.pipeline._materialize import capture_record
from fapilog.stdlib import FapilogHandler

if TYPE_CHECKING:
    import logging

    from opentelemetry._logs import SeverityNumber
    from opentelemetry.context import Context
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.util.types import AnyValue, Attributes

    from fapilog.pipeline._intake import IntakeLike
    from fapilog.pipeline._pipeline import Pipeline

__all__ = ["DedupFapilogHandler", "FapilogLoggerProvider"]


# -- one record per stdlib call, however many bridges are installed ---------------------
#
# Two stdlib bridges can sit on the root logger at once: fapilog's handler and an
# OTel ``LoggingHandler`` (from opentelemetry-instrumentation-logging, or the SDK's
# deprecated one) whose provider is the FapilogLoggerProvider. Both run on the
# logging call's thread, one after the other, for the same ``logging.LogRecord``.
# Each claims the record by (logger name, creation time in ns) in a thread-local
# slot; whichever comes second finds its claim taken and lets it go.
_claims = threading.local()


def _already_claimed(key: tuple[str, int]) -> bool:
    """Claim ``key``; True if the other bridge claimed it just before (a duplicate)."""
    if getattr(_claims, "key", None) == key:
        _claims.key = None
        return True
    _claims.key = key
    return False


class DedupFapilogHandler(FapilogHandler):
    """A :class:`~fapilog.FapilogHandler` that yields to an OTel bridge that came first.

    Installed by :class:`~fapilog.otel.FapilogConfigurator`: if an OTel
    ``LoggingHandler`` writing to the :class:`FapilogLoggerProvider` already passed
    this very record on, this handler does not enqueue it again (and vice versa).
    """

    def emit(self, record: logging.LogRecord) -> None:
        if _already_claimed((record.name, int(record.created * 1e9))):
            return
        super().emit(record)


class _OTelLogger(APILogger):
    """An OTel API ``Logger`` that enqueues into a fapilog pipeline (never blocks on I/O)."""

    def __init__(
        self,
        provider: FapilogLoggerProvider,
        name: str,
        version: str | None = None,
        schema_url: str | None = None,
        attributes: Attributes = None,
    ) -> None:
        super().__init__(name, version, schema_url, attributes)
        self._provider = provider
        # What the pipeline's materialize() reads from a logger: scope and bound fields.
        self._scope = InstrumentationScope(name, version, schema_url, attributes)
        self._fields: dict[str, Any] = {}

    def enabled(
        self,
        *,
        context: Context | None = None,
        severity_number: SeverityNumber | None = None,
        event_name: str | None = None,
    ) -> bool:
        """False only for a known severity below this logger's level (its per-logger
        level, see :func:`fapilog.set_level`, else the pipeline's)."""
        number = severity_number.value if severity_number is not None else 0
        return number == 0 or self._provider._pipeline().intake.accepts(self._name, number)

    def emit(
        self,
        record: APILogRecord | None = None,
        *,
        timestamp: int | None = None,
        observed_timestamp: int | None = None,
        context: Context | None = None,
        severity_number: SeverityNumber | None = None,
        severity_text: str | None = None,
        body: AnyValue | None = None,
        attributes: Attributes = None,
        event_name: str | None = None,
        exception: BaseException | None = None,
    ) -> None:
        """Capture the record and hand it to the pipeline; never raises."""
        from fapilog.pipeline._intake import in_worker_thread

        try:
            intake: IntakeLike = self._provider._pipeline().intake
            if in_worker_thread():
                intake.caller_drop("recursion")
                return
            if record is None:
                record = APILogRecord(
                    timestamp=timestamp,
                    observed_timestamp=observed_timestamp,
                    context=context,
                    severity_number=severity_number,
                    severity_text=severity_text,
                    body=body,
                    attributes=attributes,
                    event_name=event_name,
                    exception=exception,
                )
            number = record.severity_number.value if record.severity_number is not None else 0
            if number and not intake.accepts(self._name, number):
                return
            ts = record.timestamp if record.timestamp is not None else record.observed_timestamp
            if _already_claimed((self._name, ts)):
                return
            fields: dict[str, Any] = dict(record.attributes) if record.attributes else {}
            if record.event_name:
                fields["event_name"] = record.event_name
            intake.enqueue(
                capture_record(
                    ts,
                    number,
                    record.body,
                    (),
                    fields,
                    self,
                    _context_of(record),
                    record.exception,
                    record.severity_text
                    if record.severity_text is not None
                    else _severity.severity_text(number),
                )
            )
        except Exception as exc:  # never raise into the emitting library
            reporter.report("otel_logger", f"could not capture an OTel log record: {exc!r}")


def _context_of(record: APILogRecord) -> Context | None:
    """The record's Context, carrying a span with the record's ids if they were set apart."""
    ctx = record.context
    if record.trace_id and record.span_id:
        current = trace.get_current_span(ctx).get_span_context()
        if current.trace_id != record.trace_id or current.span_id != record.span_id:
            span = NonRecordingSpan(
                SpanContext(
                    record.trace_id,
                    record.span_id,
                    is_remote=False,
                    trace_flags=TraceFlags(int(record.trace_flags or 0)),
                )
            )
            ctx = trace.set_span_in_context(span, ctx)
    return ctx


class FapilogLoggerProvider(APILoggerProvider):
    """The OTel Logs API entry point, backed by a fapilog pipeline.

    Install it globally with ``opentelemetry._logs.set_logger_provider(...)`` (the
    :class:`~fapilog.otel.FapilogConfigurator` does) and every
    ``get_logger(...).emit(...)`` goes through fapilog: the active span's ids,
    redaction and the other processors, batching, and the pipeline's exporters.
    The logger name becomes the instrumentation scope.

    Args:
        pipeline: the target; by default the default pipeline at emit time (so
            :func:`fapilog.configure` later redirects these loggers too).
    """

    def __init__(self, pipeline: Pipeline | None = None) -> None:
        self._fixed = pipeline
        self._loggers: dict[tuple[Any, ...], _OTelLogger] = {}
        self._lock = threading.Lock()

    def _pipeline(self) -> Pipeline:
        if self._fixed is not None:
            return self._fixed
        from fapilog._api import default_pipeline

        return default_pipeline()

    @property
    def resource(self) -> Resource:
        """The pipeline's OTel Resource."""
        return self._pipeline().resource

    def get_logger(
        self,
        name: str,
        version: str | None = None,
        schema_url: str | None = None,
        attributes: Attributes = None,
    ) -> APILogger:
        """A logger whose records carry the scope (``name``, ``version``...)."""
        key = (name, version, schema_url, tuple(sorted(attributes.items())) if attributes else ())
        try:
            hash(key)
        except TypeError:  # unhashable scope attributes (a list value): not cached
            return _OTelLogger(self, name, version, schema_url, attributes)
        logger = self._loggers.get(key)
        if logger is None:
            with self._lock:
                logger = self._loggers.get(key)
                if logger is None:
                    logger = _OTelLogger(self, name, version, schema_url, attributes)
                    self._loggers[key] = logger
        return logger

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Export everything emitted so far (see :meth:`fapilog.Pipeline.flush`)."""
        return self._pipeline().flush(timeout_millis / 1000)

    def shutdown(self) -> None:
        """Flush. The pipeline itself is shut down by its owner (or at exit)."""
        self.force_flush()
