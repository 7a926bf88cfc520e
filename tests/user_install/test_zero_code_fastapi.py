"""docs/opentelemetry-instrument.md's FastAPI service, installed and run as the page says.

``opentelemetry-instrument uvicorn app:app`` with only ``OTEL_SERVICE_NAME`` (from the
page's command) and the collector's endpoint set. Three requests continue three incoming
``traceparent`` headers; SIGTERM follows the last response at once. Then the same app
with the SDK's OTLP trace and metric exporters uninstalled, as a user who installed
without ``fapilog[instrument]`` has it.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from user_install_support import (
    ROOT,
    UserVenv,
    block_with,
    split_command,
    terminate,
    uvicorn_serving,
)

if TYPE_CHECKING:
    from pathlib import Path

    from fapilog.testing import CollectedLog, CollectedSpan, RotelCollector

DOC = ROOT / "docs" / "opentelemetry-instrument.md"
ORDERS = (7, 8, 9)
TRACE_IDS = {n: f"{n:x}" * 8 + "0af7651916cd43dd8448eb21" for n in ORDERS}


def commands() -> tuple[str, str]:
    """The page's install line and run line for the FastAPI service."""
    install, run = block_with(DOC, "bash", "uvicorn app:app").strip().splitlines()
    return install.strip(), run.strip()


@dataclass
class Served:
    records: list[CollectedLog]
    spans: list[CollectedSpan]
    stderr: str
    returncode: int


def serve(venv: UserVenv, workdir: Path, collector: RotelCollector) -> Served:
    """Start the page's command, send the requests, SIGTERM at once, collect."""
    collector.reset()
    spans_before = len(collector.spans())
    env, argv = split_command(commands()[1])
    assert env == {"OTEL_SERVICE_NAME": "shop"}, "the page sets only the service name"
    endpoint = collector.grpc_endpoint
    with uvicorn_serving(venv, argv, workdir, **env, OTEL_EXPORTER_OTLP_ENDPOINT=endpoint) as (
        process,
        client,
    ):
        for n in ORDERS:
            traceparent = f"00-{TRACE_IDS[n]}-b7ad6b7169203331-01"
            response = client.get(f"/checkout/{n}", headers={"traceparent": traceparent})
            assert response.json() == {"order_id": n}
        _, stderr = terminate(process)
    expected = 5 * len(ORDERS)
    collector.wait_for(expected, timeout=15)
    spans: list[CollectedSpan] = []
    for _ in range(100):
        spans = collector.spans()[spans_before:]
        if {s.trace_id for s in spans if s.kind == "SERVER"} >= set(TRACE_IDS.values()):
            break
        time.sleep(0.1)
    return Served(collector.records(), spans, stderr, process.returncode)


@pytest.fixture(scope="module")
def runs(
    installed: dict[str, tuple[UserVenv, subprocess.CompletedProcess[str]]],
    collector: RotelCollector,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Served, Served]:
    venv, done = installed[commands()[0]]
    assert done.returncode == 0, done.stderr[-3000:]
    workdir = tmp_path_factory.mktemp("shop")
    (workdir / "app.py").write_text(block_with(DOC, "python", "FastAPI()"), encoding="utf-8")
    complete = serve(venv, workdir, collector)
    removed = venv.run(
        [
            "python",
            "-m",
            "pip",
            "uninstall",
            "-y",
            "opentelemetry-exporter-otlp-proto-grpc",
            "opentelemetry-exporter-otlp-proto-http",
        ]
    )
    assert removed.returncode == 0, removed.stderr
    return complete, serve(venv, workdir, collector)


def expected_bodies(n: int) -> list[str]:
    return sorted(
        [
            "checkout started",
            "payment authorised",
            f"card network slow for order {n}",
            "payment retried",
            f"GET /checkout/{n} 200",
        ]
    )


def check_logs(served: Served) -> None:
    assert "Failed to auto initialize" not in served.stderr, served.stderr[-3000:]
    assert "Traceback" not in served.stderr, served.stderr[-3000:]
    for n in ORDERS:
        mine = [r for r in served.records if r.trace_id == TRACE_IDS[n]]
        assert sorted(str(r.body) for r in mine) == expected_bodies(n), "each exactly once"
        assert len({r.span_id for r in mine}) == 1, "all in the request's server span"
        for record in mine:
            assert record.resource_attributes["service.name"] == "shop"
        [failed] = [r for r in mine if r.body == "payment retried"]
        assert failed.attributes["exception.type"] == "TimeoutError"
        assert failed.attributes["exception.message"] == "card network timed out"
        [access] = [r for r in mine if r.scope_name == "fapilog.access"]
        assert access.attributes["http.route"] == "/checkout/{order_id}"
        [stdlib] = [r for r in mine if r.scope_name == "shop.payments"]
        assert stdlib.severity_text == "WARN"
    uncorrelated = [r for r in served.records if r.trace_id not in TRACE_IDS.values()]
    assert not [r for r in uncorrelated if "checkout" in str(r.body)]


def test_every_record_arrives_once_correlated_after_sigterm(runs: tuple[Served, Served]) -> None:
    complete, _ = runs
    assert complete.returncode == -15, complete.stderr[-3000:]
    check_logs(complete)


def test_every_requests_server_span_arrives_after_sigterm(runs: tuple[Served, Served]) -> None:
    complete, _ = runs
    server = {s.trace_id: s for s in complete.spans if s.kind == "SERVER"}
    for n in ORDERS:
        span = server[TRACE_IDS[n]]
        assert span.name == "GET /checkout/{order_id}"
        assert span.parent_span_id == "b7ad6b7169203331", "the incoming traceparent continued"
        assert span.resource_attributes["service.name"] == "shop"
        [access] = [r for r in complete.records if r.body == f"GET /checkout/{n} 200"]
        assert access.span_id == span.span_id
    assert "not installed" not in complete.stderr


def test_without_the_trace_exporter_logs_still_arrive_correlated(
    runs: tuple[Served, Served],
) -> None:
    _, degraded = runs
    assert degraded.returncode == -15, degraded.stderr[-3000:]
    check_logs(degraded)
    assert not degraded.spans, "no trace exporter: no spans"


def test_without_the_trace_exporter_one_line_names_the_fix(runs: tuple[Served, Served]) -> None:
    _, degraded = runs
    lines = [line for line in degraded.stderr.splitlines() if "not installed" in line]
    assert len(lines) == 1, degraded.stderr[-3000:]
    [line] = lines
    assert "traces exporter 'otlp_proto_grpc'" in line
    assert "metrics exporter 'otlp_proto_grpc'" in line
    assert "pip install 'fapilog[instrument]'" in line
    assert "opentelemetry-exporter-otlp-proto-grpc" in line
