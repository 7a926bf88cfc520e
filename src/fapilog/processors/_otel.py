"""Adapters between fapilog processors and OpenTelemetry SDK LogRecordProcessors."""

from __future__ import annotations

from typing import TYPE_CHECKING

from opentelemetry.sdk._logs import LogRecordProcessor

from fapilog._event import LogEvent
from fapilog.processors._base import Processor

if TYPE_CHECKING:
    from opentelemetry.sdk._logs import ReadWriteLogRecord

__all__ = ["FapilogLogRecordProcessor", "OTelProcessor"]


class OTelProcessor(Processor):
    """Runs any OTel ``LogRecordProcessor`` inside a fapilog pipeline.

    Each event is converted to a ``ReadWriteLogRecord``, handed to the processor,
    and every change the processor made is copied back.

    Args:
        processor: the OTel SDK processor to wrap.
    """

    api_version = "1.0"  # the fapilog.plugin API it is written for
    #: Runs foreign code on the events (see fapilog.pipeline._worker._cycle_free).
    _foreign = True

    def __init__(self, processor: LogRecordProcessor) -> None:
        self.processor = processor

    def on_emit(self, event: LogEvent) -> None:
        record = event.to_readwrite()
        self.processor.on_emit(record)
        event.update_from_sdk(record)

    def shutdown(self) -> None:
        self.processor.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.processor.force_flush(timeout_millis)


class FapilogLogRecordProcessor(LogRecordProcessor):
    """Runs a fapilog :class:`Processor` inside a plain OTel ``LoggerProvider``.

    OTel processors cannot drop records, so filtering works by chaining: records
    the fapilog processor keeps are passed to ``next_processor`` (for example a
    ``BatchLogRecordProcessor``); records it drops are not.

    Args:
        processor: the fapilog processor.
        next_processor: where kept records go; ``None`` to only mutate in place.
    """

    def __init__(
        self, processor: Processor, next_processor: LogRecordProcessor | None = None
    ) -> None:
        self.processor = processor
        self.next_processor = next_processor
        self.dropped = 0

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        event = LogEvent.from_sdk(log_record)
        keep = self.processor.on_emit(event) is not False
        if not keep:
            self.dropped += 1
            return
        _write_back(event, log_record)
        if self.next_processor is not None:
            self.next_processor.on_emit(log_record)

    def shutdown(self) -> None:
        self.processor.shutdown()
        if self.next_processor is not None:
            self.next_processor.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        ok = self.processor.force_flush(timeout_millis)
        if self.next_processor is not None:
            ok = self.next_processor.force_flush(timeout_millis) and ok
        return ok


def _write_back(event: LogEvent, record: ReadWriteLogRecord) -> None:
    fresh = event.to_readwrite()
    record.log_record = fresh.log_record
    record.resource = fresh.resource
    record.instrumentation_scope = fresh.instrumentation_scope
