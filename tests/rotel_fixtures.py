"""pytest fixtures for end-to-end tests against a real collector and a fault-injecting server.

``tests/conftest.py`` imports them::

    from rotel_fixtures import otlp_fault_server, rotel_collector  # noqa: F401
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

    from fapilog.testing._rotel import RotelCollector
    from otlp_fault_server import FaultServer


@pytest.fixture
def rotel_collector() -> Iterator[RotelCollector]:
    """A started :class:`~fapilog.testing.RotelCollector` printing every record it receives.

    Stopped after the test; skips the test when the ``rotel`` package is missing.
    """
    pytest.importorskip("rotel", reason="end-to-end tests need the rotel collector")
    from fapilog.testing._rotel import RotelCollector

    collector = RotelCollector()
    collector.start()
    try:
        yield collector
    finally:
        collector.stop()


@pytest.fixture
def otlp_fault_server() -> Iterator[FaultServer]:
    """A started :class:`otlp_fault_server.FaultServer` (answers ``Ok`` until scripted)."""
    from otlp_fault_server import FaultServer

    server = FaultServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
