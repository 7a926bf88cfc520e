"""fapilog inside the OpenTelemetry SDK and the ``opentelemetry-instrument`` CLI.

* :class:`FapilogLogRecordExporter` (and :class:`ConsoleLogRecordExporter`,
  :class:`FileLogRecordExporter`): fapilog exporters as OTel ``LogRecordExporter``\\ s,
  for a plain OTel ``LoggerProvider``.
* :class:`FapilogLoggerProvider`: an OTel Logs API ``LoggerProvider`` whose loggers
  write into a fapilog pipeline.
* :class:`FapilogDistro` and :class:`FapilogConfigurator`: the ``opentelemetry_distro``
  and ``opentelemetry_configurator`` entry points (see ``docs/opentelemetry-instrument.md``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fapilog.otel._exporter import (
    ConsoleLogRecordExporter,
    FapilogLogRecordExporter,
    FileLogRecordExporter,
)
from fapilog.otel._provider import FapilogLoggerProvider

if TYPE_CHECKING:
    from fapilog.otel._configurator import FapilogConfigurator
    from fapilog.otel._distro import FapilogDistro

__all__ = [
    "ConsoleLogRecordExporter",
    "FapilogConfigurator",
    "FapilogDistro",
    "FapilogLogRecordExporter",
    "FapilogLoggerProvider",
    "FileLogRecordExporter",
]


def __getattr__(name: str) -> Any:
    # Imported on demand: the distro needs opentelemetry-instrumentation, which only
    # the opentelemetry-instrument CLI (the one caller of these entry points) brings.
    if name == "FapilogDistro":
        from fapilog.otel._distro import FapilogDistro

        return FapilogDistro
    if name == "FapilogConfigurator":
        from fapilog.otel._configurator import FapilogConfigurator

        return FapilogConfigurator
    raise AttributeError(f"module 'fapilog.otel' has no attribute {name!r}")
