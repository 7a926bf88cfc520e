"""The one event model: a slotted mirror of the OpenTelemetry LogRecord."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource

# The SDK's logs module (and what it imports) is loaded by the conversions below, which
# only the OTel adapters call: a pipeline writing JSON lines or OTLP never needs it.
if TYPE_CHECKING:
    from opentelemetry._logs import LogRecord as APILogRecord
    from opentelemetry.sdk._logs import ReadableLogRecord, ReadWriteLogRecord
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.util.types import AnyValue

__all__ = ["EMPTY_RESOURCE", "LogEvent"]

EMPTY_RESOURCE = Resource.get_empty()
_EMPTY_CONTEXT = Context()


class LogEvent:
    """One log event, carrying exactly the fields of an OpenTelemetry LogRecord.

    Attributes:
        timestamp: when the event happened, ns since the Unix epoch.
        observed_timestamp: when fapilog observed it, ns since the Unix epoch.
        trace_id: 128-bit trace id of the active span, 0 when there is none.
        span_id: 64-bit span id of the active span, 0 when there is none.
        trace_flags: W3C trace flags (bit 0 = sampled).
        severity_text: "TRACE", "DEBUG", "INFO", "WARN", "ERROR" or "FATAL" (or the
            level name a bridged library used).
        severity_number: 1-24 per the OTel data model, 0 if unspecified.
        body: the message; usually a string, any OTel ``AnyValue`` is allowed.
        attributes: normalised key/value pairs (OTel ``AnyValue`` values).
        event_name: the OTel event name, when the record is an event.
        resource: the OTel :class:`~opentelemetry.sdk.resources.Resource`.
        instrumentation_scope: the scope; its name is the logger name.
        context: the OTel Context captured at the call (not exported; used by
            processors for span, baggage and bound-context lookups).
        exception: the exception attached to the call, if any (not exported; its
            ``exception.*`` attributes are).
    """

    __slots__ = (
        "attributes",
        "body",
        "context",
        "event_name",
        "exception",
        "instrumentation_scope",
        "observed_timestamp",
        "resource",
        "severity_number",
        "severity_text",
        "span_id",
        "timestamp",
        "trace_flags",
        "trace_id",
    )

    def __init__(
        self,
        *,
        timestamp: int,
        observed_timestamp: int | None = None,
        trace_id: int = 0,
        span_id: int = 0,
        trace_flags: int = 0,
        severity_text: str | None = None,
        severity_number: int = 0,
        body: AnyValue = None,
        attributes: dict[str, Any] | None = None,
        event_name: str | None = None,
        resource: Resource = EMPTY_RESOURCE,
        instrumentation_scope: InstrumentationScope | None = None,
        context: Context | None = None,
        exception: BaseException | None = None,
    ) -> None:
        self.timestamp = timestamp
        self.observed_timestamp = timestamp if observed_timestamp is None else observed_timestamp
        self.trace_id = trace_id
        self.span_id = span_id
        self.trace_flags = trace_flags
        self.severity_text = severity_text
        self.severity_number = severity_number
        self.body = body
        self.attributes: dict[str, Any] = {} if attributes is None else attributes
        self.event_name = event_name
        self.resource = resource
        self.instrumentation_scope = instrumentation_scope
        self.context = context
        self.exception = exception

    def __repr__(self) -> str:
        scope = self.instrumentation_scope.name if self.instrumentation_scope else None
        return (
            f"LogEvent(severity_text={self.severity_text!r}, body={self.body!r}, "
            f"attributes={self.attributes!r}, scope={scope!r}, "
            f"trace_id={self.trace_id:032x}, span_id={self.span_id:016x})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LogEvent):
            return NotImplemented
        return all(
            getattr(self, name) == getattr(other, name)
            for name in self.__slots__
            if name not in ("context", "exception")
        )

    __hash__ = None  # type: ignore[assignment]  # mutable, like the OTel record

    @property
    def scope_name(self) -> str:
        """The instrumentation scope (logger) name, ``""`` when unset."""
        return self.instrumentation_scope.name if self.instrumentation_scope else ""

    def copy(self) -> LogEvent:
        """Return a shallow copy whose attribute dict can be changed independently."""
        new = LogEvent.__new__(LogEvent)
        for name in self.__slots__:
            setattr(new, name, getattr(self, name))
        new.attributes = dict(self.attributes)
        return new

    # -- OpenTelemetry SDK conversions ------------------------------------------------

    def to_api_record(self) -> APILogRecord:
        """Build an ``opentelemetry._logs.LogRecord`` holding this event's fields."""
        from opentelemetry._logs import LogRecord as APILogRecord
        from opentelemetry._logs import SeverityNumber
        from opentelemetry.trace import TraceFlags

        record = APILogRecord(
            timestamp=self.timestamp,
            observed_timestamp=self.observed_timestamp,
            context=self.context if self.context is not None else _EMPTY_CONTEXT,
            severity_text=self.severity_text,
            severity_number=SeverityNumber(self.severity_number),
            body=self.body,
            attributes=self.attributes,
            event_name=self.event_name,
            exception=self.exception,
        )
        # Set after construction: passing ids to the constructor is deprecated in
        # favour of a Context, and building a span Context per record costs far more.
        record.trace_id = self.trace_id
        record.span_id = self.span_id
        record.trace_flags = TraceFlags(self.trace_flags)
        return record

    def to_readwrite(self) -> ReadWriteLogRecord:
        """Convert to the SDK's mutable record, as LogRecordProcessors receive it."""
        from opentelemetry.sdk._logs import LogRecordLimits, ReadWriteLogRecord

        limits = LogRecordLimits(max_attributes=max(len(self.attributes), 128))
        return ReadWriteLogRecord(
            self.to_api_record(), self.resource, self.instrumentation_scope, limits
        )

    def to_readable(self) -> ReadableLogRecord:
        """Convert to the SDK's frozen record, as LogRecordExporters receive it."""
        from opentelemetry.sdk._logs import LogRecordLimits, ReadableLogRecord

        limits = LogRecordLimits(max_attributes=max(len(self.attributes), 128))
        return ReadableLogRecord(
            self.to_api_record(), self.resource, self.instrumentation_scope, limits
        )

    @classmethod
    def from_sdk(cls, record: ReadableLogRecord | ReadWriteLogRecord) -> LogEvent:
        """Build an event from an SDK record (readable or read-write)."""
        lr = record.log_record
        severity = lr.severity_number.value if lr.severity_number is not None else 0
        return cls(
            timestamp=lr.timestamp if lr.timestamp is not None else lr.observed_timestamp,
            observed_timestamp=lr.observed_timestamp,
            trace_id=lr.trace_id or 0,
            span_id=lr.span_id or 0,
            trace_flags=int(lr.trace_flags or 0),
            severity_text=lr.severity_text,
            severity_number=severity,
            body=_thaw(lr.body),
            attributes={k: _thaw(v) for k, v in lr.attributes.items()} if lr.attributes else {},
            event_name=lr.event_name,
            resource=record.resource if record.resource is not None else EMPTY_RESOURCE,
            instrumentation_scope=record.instrumentation_scope,
            context=lr.context,
            exception=lr.exception,
        )

    def update_from_sdk(self, record: ReadWriteLogRecord) -> None:
        """Copy back every field a LogRecordProcessor may have changed on ``record``."""
        other = LogEvent.from_sdk(record)
        for name in self.__slots__:
            setattr(self, name, getattr(other, name))


def _thaw(value: Any) -> Any:
    """Undo the SDK's freezing of arrays into tuples (an AnyValue array is a list here)."""
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    if isinstance(value, dict):
        return {k: _thaw(v) for k, v in value.items()}
    return value
