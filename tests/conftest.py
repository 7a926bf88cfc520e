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


@pytest.fixture
def recording() -> Iterator[tuple[fapilog.Pipeline, object]]:
    from support import RecordingExporter

    exporter = RecordingExporter()
    pipeline = fapilog.Pipeline(exporters=[exporter], schedule_delay_ms=5)
    yield pipeline, exporter
    pipeline.shutdown(timeout=5)
