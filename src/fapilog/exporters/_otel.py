"""Run a synchronous OpenTelemetry SDK ``LogRecordExporter`` in a fapilog pipeline."""

from __future__ import annotations

from typing import TYPE_CHECKING

from opentelemetry.sdk._logs.export import LogRecordExportResult

from fapilog._blocking import BlockingRunner
from fapilog.exporters._base import Exporter, ExportResult

if TYPE_CHECKING:
    from collections.abc import Sequence

    from opentelemetry.sdk._logs.export import LogRecordExporter

    from fapilog._event import LogEvent

__all__ = ["OTelExporter"]


class OTelExporter(Exporter):
    """Adapter: converts events to ``ReadableLogRecord`` and exports on a private thread.

    The wrapped exporter's blocking I/O runs on its own daemon thread, so it never
    stalls other exporters, and a hung call cannot hold up interpreter exit. OTel
    exporters report only success or failure, and the SDK's own exporters retry
    internally before they report failure, so failure is final here.

    Args:
        exporter: any ``opentelemetry.sdk._logs.export.LogRecordExporter``.
    """

    api_version = "1.0"  # the fapilog.plugin API it is written for

    def __init__(self, exporter: LogRecordExporter) -> None:
        self.exporter = exporter
        self.name = f"otel:{type(exporter).__name__}"
        self._runner = BlockingRunner(self.name)

    def __repr__(self) -> str:
        return f"OTelExporter({type(self.exporter).__name__})"

    async def export(self, batch: Sequence[LogEvent]) -> ExportResult:
        records = [event.to_readable() for event in batch]
        result = await self._runner.run(self.exporter.export, records)
        if result is LogRecordExportResult.SUCCESS:
            return ExportResult.success()
        return ExportResult.failure(f"{type(self.exporter).__name__} reported failure")

    async def force_flush(self, timeout: float | None = None) -> bool:
        # Optional on a LogRecordExporter before SDK 1.45 (InMemoryLogRecordExporter
        # has none there): nothing buffered then, so nothing to flush.
        flush = getattr(self.exporter, "force_flush", None)
        if flush is None:
            return True
        millis = 30_000 if timeout is None else int(timeout * 1000)
        return bool(await self._runner.run(flush, millis))

    async def shutdown(self) -> None:
        await self._runner.run(self.exporter.shutdown)
        self._runner.close()

    def after_fork(self) -> None:
        self._runner.after_fork()
