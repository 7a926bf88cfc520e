"""pytest plugin (``pytest11`` entry point): fixtures for testing code that logs with fapilog.

Kept import-light: fapilog itself is imported only when a fixture is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def fapilog_logs() -> Iterator[Any]:
    """Events logged during the test (see :func:`fapilog.testing.capture_logs`)."""
    from fapilog.testing import capture_logs

    with capture_logs() as logs:
        yield logs


@pytest.fixture
def fapilog_pipeline() -> Iterator[Any]:
    """A private pipeline exporting to an in-memory exporter, shut down after the test.

    ``fapilog_pipeline.exporters[0]`` is the :class:`~fapilog.testing.InMemoryExporter`.
    """
    from fapilog import Pipeline
    from fapilog.testing import InMemoryExporter

    pipeline = Pipeline(exporters=[InMemoryExporter()], schedule_delay_ms=10)
    try:
        yield pipeline
    finally:
        pipeline.shutdown(timeout=5)


@pytest.fixture
def fapilog_collector() -> Iterator[Any]:
    """A real OpenTelemetry collector on 127.0.0.1, printing every record it receives.

    A started :class:`~fapilog.testing.RotelCollector` (the ``rotel-agent`` binary of
    the ``rotel`` package), stopped after the test. Point an OTLP exporter at
    ``fapilog_collector.grpc_endpoint`` or ``.http_logs_endpoint`` and read back
    ``fapilog_collector.records()``. Skips the test when ``rotel`` is not installed.
    """
    pytest.importorskip("rotel", reason="the fapilog_collector fixture needs: pip install rotel")
    from fapilog.testing import RotelCollector

    with RotelCollector() as collector:
        yield collector
