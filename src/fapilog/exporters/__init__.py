"""Exporters: where batches of :class:`~fapilog.LogEvent` go.

The core ones are importable from here; the OTLP exporter lives in
:mod:`fapilog.exporters.otlp` (it needs the ``otlp`` extra). Any exporter can also be
named in ``configure(exporters=[...])``: ``console``, ``file``, ``memory``, ``otlp``.
"""

from __future__ import annotations

import typing

from fapilog._lazy import lazy_dir as _lazy_dir
from fapilog._lazy import lazy_getattr as _lazy_getattr
from fapilog.exporters._base import Exporter, ExportResult, ExportStatus

if typing.TYPE_CHECKING:
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

#: The exporters, imported on first access (PEP 562): a program that writes JSON lines
#: does not load the OTel SDK's logs module (``OTelExporter`` adapts SDK exporters).
_LAZY = {
    "ConsoleExporter": "fapilog.exporters.console",
    "FileExporter": "fapilog.exporters.file",
    "InMemoryExporter": "fapilog.exporters.memory",
    "OTelExporter": "fapilog.exporters._otel",
}

if not typing.TYPE_CHECKING:  # type checkers see the imports above
    __getattr__ = _lazy_getattr(globals(), _LAZY)

__dir__ = _lazy_dir(globals())
