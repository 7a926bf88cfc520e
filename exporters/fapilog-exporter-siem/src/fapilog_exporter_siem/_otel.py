"""The syslog exporter for a plain OpenTelemetry SDK ``LoggerProvider``."""

from __future__ import annotations

from fapilog.otel import FapilogLogRecordExporter

__all__ = ["SyslogLogRecordExporter"]


class SyslogLogRecordExporter(FapilogLogRecordExporter):
    """Syslog exporter for a plain OpenTelemetry SDK LoggerProvider."""

    exporter_name = "syslog"
