"""The OpenTelemetry SDK face of the exporter (``opentelemetry_logs_exporter`` entry point)."""

from __future__ import annotations

from fapilog.otel import FapilogLogRecordExporter

__all__ = ["HTTPLogRecordExporter"]


class HTTPLogRecordExporter(FapilogLogRecordExporter):
    """The HTTP exporter for a plain OpenTelemetry SDK ``LoggerProvider``.

    Built from the ``FAPILOG_HTTP_*`` environment when given no exporter; the OTel
    SDK configurator loads it as ``OTEL_LOGS_EXPORTER=http``.
    """

    exporter_name = "http"
