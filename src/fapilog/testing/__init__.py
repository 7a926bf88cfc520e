"""Test helpers for applications that log with fapilog.

* :func:`capture_logs` — context-scoped capture of fully processed events.
* :class:`InMemoryExporter` — an exporter that keeps what it receives.
* :class:`RotelCollector` — a real OpenTelemetry collector (the ``rotel`` package)
  started on loopback for end-to-end tests.
* pytest fixtures ``fapilog_logs`` and ``fapilog_pipeline`` (registered automatically).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fapilog.exporters.memory import InMemoryExporter
from fapilog.testing._capture import CapturedLogs, capture_logs

if TYPE_CHECKING:
    from fapilog.testing._rotel import CollectedLog, CollectedSpan, RotelCollector

__all__ = [
    "CapturedLogs",
    "CollectedLog",
    "CollectedSpan",
    "InMemoryExporter",
    "RotelCollector",
    "capture_logs",
]


def __getattr__(name: str) -> Any:
    # The collector helper is imported on demand: it needs the optional rotel package.
    if name in ("RotelCollector", "CollectedLog", "CollectedSpan"):
        from fapilog.testing import _rotel

        return getattr(_rotel, name)
    raise AttributeError(f"module 'fapilog.testing' has no attribute {name!r}")
