from __future__ import annotations

from collections.abc import Iterator

import pytest

import fapilog

pytest_plugins = ["rotel_fixtures"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """``pure_python`` tests patch a function inside a module of the worker path.

    Compiled (mypyc), such a module calls its own functions directly, so a patch
    would not take: those tests run where the pure-Python path is active (the run
    against the oldest dependencies is pure in CI; ``FAPILOG_PURE_PYTHON=1`` anywhere).
    """
    from fapilog import _native

    if _native.install().implementation != "compiled":
        return
    skip = pytest.mark.skip(reason="patches a compiled module; runs on the pure-Python path")
    for item in items:
        if item.get_closest_marker("pure_python") is not None:
            item.add_marker(skip)


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
