"""Exporters: where batches of :class:`~fapilog.LogEvent` go."""

from __future__ import annotations

from fapilog.exporters._base import Exporter, ExportResult, ExportStatus

__all__ = ["ExportResult", "ExportStatus", "Exporter"]
