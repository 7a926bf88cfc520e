from __future__ import annotations

from collections.abc import Iterator

import pytest

import fapilog

pytest_plugins = ["rotel_fixtures"]


@pytest.fixture(autouse=True)
def _reset_default_pipeline() -> Iterator[None]:
    """Every test starts and ends without a configured default pipeline."""
    yield
    fapilog.shutdown(timeout=5)
    # Diagnostics are written by a thread of their own: let a test's lines out while
    # its output is still captured, not in the middle of pytest's progress output.
    from fapilog._diagnostics import reporter

    reporter.flush(1)


@pytest.fixture
def recording() -> Iterator[tuple[fapilog.Pipeline, object]]:
    from support import RecordingExporter

    exporter = RecordingExporter()
    pipeline = fapilog.Pipeline(exporters=[exporter], schedule_delay_ms=5)
    yield pipeline, exporter
    pipeline.shutdown(timeout=5)
