"""The OpenTelemetry SDK face of the exporter (``opentelemetry_logs_exporter`` entry point)."""

from __future__ import annotations

from fapilog.otel import FapilogLogRecordExporter

__all__ = ["SplunkHECLogRecordExporter"]


class SplunkHECLogRecordExporter(FapilogLogRecordExporter):
    """Splunk HEC exporter for a plain OpenTelemetry SDK LoggerProvider."""

    exporter_name = "splunk_hec"
