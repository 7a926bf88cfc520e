"""The exporter as an OpenTelemetry SDK ``LogRecordExporter`` (``OTEL_LOGS_EXPORTER``)."""

from __future__ import annotations

from fapilog.otel import FapilogLogRecordExporter

__all__ = ["ElasticsearchLogRecordExporter"]


class ElasticsearchLogRecordExporter(FapilogLogRecordExporter):
    """Elasticsearch exporter for a plain OpenTelemetry SDK LoggerProvider."""

    exporter_name = "elasticsearch"
