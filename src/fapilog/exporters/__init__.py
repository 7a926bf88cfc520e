"""Exporters: where batches of :class:`~fapilog.LogEvent` go.

The core ones are importable from here; the OTLP exporter lives in
:mod:`fapilog.exporters.otlp` (it needs the ``otlp`` extra). Any exporter can also be
named in ``configure(exporters=[...])``: ``console``, ``file``, ``memory``, ``otlp``.
"""

from __future__ import annotations

from fapilog.exporters._base import Exporter, ExportResult, ExportStatus
from fapilog.exporters._otel import OTelExporter
from fapilog.exporters.console import ConsoleExporter
from fapilog.exporters.file import FileExporter
from fapilog.exporters.memory import InMemoryExporter

__all__ = [
    "ConsoleExporter",
    "ExportResult",
    "ExportStatus",
    "Exporter",
    "FileExporter",
    "InMemoryExporter",
    "OTelExporter",
]
