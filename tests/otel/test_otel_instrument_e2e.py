"""End to end: ``opentelemetry-instrument uvicorn`` + fapilog's distro and configurator.

A real uvicorn serves ``otel_shop_app`` under the real CLI; its logs go over OTLP/gRPC
to a real collector (rotel), its spans to the console span exporter (stdout). One app
start per scenario, several assertions on what it produced:

* plain: fapilog's distro and configurator are the only ones installed;
* with ``opentelemetry-distro`` and ``opentelemetry-instrumentation-logging``
  overlaid on ``PYTHONPATH`` (a second distro, a second configurator, and a second
  stdlib bridge), selected by ``OTEL_PYTHON_DISTRO=fapilog``;
* the same overlay with the OTel distro, ``OTEL_PYTHON_CONFIGURATOR=fapilog`` and the
  SDK's ``OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED=true``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

    from fapilog.testing import CollectedLog, RotelCollector

pytestmark = [pytest.mark.e2e, pytest.mark.once]

pytest.importorskip("rotel", reason="end-to-end tests need the rotel collector")

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
BIN = Path(sys.executable).parent
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE_ID}-b7ad6b7169203331-01"
#: CI sets this: there, a missing prerequisite is a failure, never a skip.
IN_CI = os.environ.get("FAPILOG_REQUIRE_RSYSLOG") == "1"
HAS_ASGI_HELPER = importlib.util.find_spec("fapilog_instrumentation_asgi") is not None


@dataclass
class Run:
    """What one app start produced."""

    records: list[CollectedLog]
    spans: list[dict[str, Any]]
    handlers: list[str]
    stdout: str
    stderr: str
    returncode: int
    by_body: dict[str, list[CollectedLog]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for record in self.records:
            self.by_body.setdefault(str(record.body), []).append(record)

    def one(self, body: str) -> CollectedLog:
        """The single record with this body (fails on none or several)."""
        found = self.by_body.get(body, [])
        assert len(found) == 1, f"{len(found)} records with body {body!r}"
        return found[0]

    def server_span(self, name: str) -> dict[str, Any]:
        [span] = [s for s in self.spans if s["name"] == name and s["kind"] == "SpanKind.SERVER"]
        return span


def hermetic_env(**extra: str) -> dict[str, str]:
    """The test process's environment without OTEL_*, FAPILOG_* or proxy settings."""
    proxies = {"http_proxy", "https_proxy", "all_proxy", "grpc_proxy", "no_proxy"}
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "FAPILOG_")) and k.lower() not in proxies
    }
    env.pop("PYTHONPATH", None)
    env.update(extra)
    return env


def parse_spans(stdout: str) -> list[dict[str, Any]]:
    """The JSON objects the console span exporter printed, in order."""
    decoder = json.JSONDecoder()
    spans, index = [], 0
    while (start := stdout.find("{", index)) != -1:
        try:
            obj, index = decoder.raw_decode(stdout, start)
        except json.JSONDecodeError:
            index = start + 1
            continue
        if isinstance(obj, dict) and "context" in obj:
            obj["trace_id"] = obj["context"]["trace_id"].removeprefix("0x")
            obj["span_id"] = obj["context"]["span_id"].removeprefix("0x")
            spans.append(obj)
    return spans


def run_app(collector: RotelCollector, **env: str) -> Run:
    """Serve the app under opentelemetry-instrument, call it, stop it with SIGINT."""
    collector.reset()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    env = hermetic_env(
        OTEL_SERVICE_NAME="shop",
        OTEL_TRACES_EXPORTER="console",
        OTEL_METRICS_EXPORTER="none",
        OTEL_EXPORTER_OTLP_ENDPOINT=collector.grpc_endpoint,
        FAPILOG_SCHEDULE_DELAY_MS="20",
        **env,
    )
    command = [
        str(BIN / "opentelemetry-instrument"),
        str(BIN / "uvicorn"),
        "otel_shop_app:app",
        "--fd",
        str(listener.fileno()),
    ]
    process = subprocess.Popen(
        command,
        cwd=HERE,
        env=env,
        pass_fds=[listener.fileno()],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    listener.close()  # the child holds its own copy
    try:
        base = f"http://127.0.0.1:{port}"
        # The socket listens already: requests queue until the app is up.
        with httpx.Client(base_url=base, timeout=60, trust_env=False) as client:
            assert client.get("/health").status_code == 200
            handlers = client.get("/handlers").json()
            assert client.get("/order/7", headers={"traceparent": TRACEPARENT}).json() == {"n": 7}
        process.send_signal(signal.SIGINT)  # uvicorn shuts down gracefully; atexit runs
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    # The server's last words are logged at exit; once they arrived, everything did.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if any(str(r.body).startswith("Finished server process") for r in collector.records()):
            break
        collector.wait_for(collector.count() + 1, timeout=0.5)
    return Run(
        collector.records(), parse_spans(stdout), handlers, stdout, stderr, process.returncode
    )


@pytest.fixture(scope="module")
def collector() -> Iterator[RotelCollector]:
    from fapilog.testing import RotelCollector

    with RotelCollector() as started:
        yield started


_NETWORK_ERRORS = ("dns", "network", "connect", "resolve", "timed out", "failed to fetch")


@pytest.fixture(scope="session")
def otel_overlay(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """opentelemetry-distro + opentelemetry-instrumentation-logging in a --target dir.

    They are deliberately not in the virtualenv; the apps see them on PYTHONPATH.
    """
    target = tmp_path_factory.mktemp("otel-overlay")
    release = version("opentelemetry-instrumentation")
    uv = ROOT / ".tools" / "bin" / "uv"
    uv_path = str(uv) if uv.exists() else shutil.which("uv")
    if uv_path is None:
        if IN_CI:
            pytest.fail("uv is needed to install the opentelemetry-distro overlay")
        pytest.skip("uv is not available to install the opentelemetry-distro overlay")
    done = subprocess.run(
        [
            uv_path,
            "pip",
            "install",
            "--python",
            sys.executable,
            "--target",
            str(target),
            "--no-deps",
            f"opentelemetry-distro=={release}",
            f"opentelemetry-instrumentation-logging=={release}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        message = done.stderr.strip()[-500:]
        if not IN_CI and any(word in message.lower() for word in _NETWORK_ERRORS):
            pytest.skip(f"cannot install the opentelemetry-distro overlay (no network?): {message}")
        pytest.fail(f"installing the opentelemetry-distro overlay failed: {message}")
    # The overlay must really be seen, or the scenarios below prove nothing.
    probe = (
        "from importlib.metadata import entry_points as e;"
        "print(sorted(x.name for x in e(group='opentelemetry_distro')),"
        "sorted(x.name for x in e(group='opentelemetry_configurator')),"
        "sorted(x.name for x in e(group='opentelemetry_instrumentor') if x.name == 'logging'))"
    )
    seen = subprocess.run(
        [sys.executable, "-c", probe],
        env=hermetic_env(PYTHONPATH=str(target)),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert seen.stdout.split() == [
        "['distro',",
        "'fapilog']",
        "['configurator',",
        "'fapilog']",
        "['logging']",
    ], seen.stdout
    return target


@pytest.fixture(scope="module")
def plain(collector: RotelCollector) -> Run:
    return run_app(collector)


@pytest.fixture(scope="module")
def overlay_fapilog_distro(collector: RotelCollector, otel_overlay: Path) -> Run:
    return run_app(collector, PYTHONPATH=str(otel_overlay), OTEL_PYTHON_DISTRO="fapilog")


@pytest.fixture(scope="module")
def overlay_fapilog_configurator(collector: RotelCollector, otel_overlay: Path) -> Run:
    return run_app(
        collector,
        PYTHONPATH=str(otel_overlay),
        OTEL_PYTHON_DISTRO="distro",
        OTEL_PYTHON_CONFIGURATOR="fapilog",
        OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED="true",
    )


SCENARIOS = pytest.mark.parametrize(
    "scenario", ["plain", "overlay_fapilog_distro", "overlay_fapilog_configurator"]
)


@pytest.fixture
def run(request: pytest.FixtureRequest, scenario: str) -> Run:
    result: Run = request.getfixturevalue(scenario)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@SCENARIOS
def test_the_server_span_is_exported(run: Run) -> None:
    span = run.server_span("GET /order/{n}")
    assert span["trace_id"] == TRACE_ID, "the incoming traceparent continued"
    assert span["resource"]["attributes"]["service.name"] == "shop"


@SCENARIOS
def test_app_stdlib_and_otel_api_logs_arrive_once_inside_the_server_span(run: Run) -> None:
    span = run.server_span("GET /order/{n}")
    expected = {
        "order placed": "shop.app",
        "library saw order 7": "shop.library",
        "otel api saw order 7": "shop.otel_api",
    }
    for body, scope in expected.items():
        record = run.one(body)
        assert record.scope_name == scope
        assert (record.trace_id, record.span_id) == (span["trace_id"], span["span_id"])


@SCENARIOS
@pytest.mark.skipif(
    not HAS_ASGI_HELPER and not IN_CI, reason="fapilog-instrumentation-asgi is not installed"
)
def test_the_access_log_arrives_once_inside_the_server_span(run: Run) -> None:
    span = run.server_span("GET /order/{n}")
    record = run.one("GET /order/7 200")
    assert record.scope_name == "fapilog.access"
    assert record.attributes["http.route"] == "/order/{n}"
    assert (record.trace_id, record.span_id) == (span["trace_id"], span["span_id"])


@SCENARIOS
def test_no_record_is_exported_twice(run: Run) -> None:
    keys = [(r.scope_name, str(r.body), r.timestamp) for r in run.records]
    assert len(keys) == len(set(keys))
    assert len(run.records) >= 4


@SCENARIOS
def test_every_record_carries_the_resource_and_fapilog_processing(run: Run) -> None:
    for record in run.records:
        assert record.resource_attributes["service.name"] == "shop"
        assert record.resource_attributes["telemetry.auto.version"] == version(
            "opentelemetry-instrumentation"
        )
    app = run.one("order placed")
    assert app.attributes["order_id"] == 7
    assert app.attributes["card"] == "**** **** **** 1111", "redaction is on by default"


@SCENARIOS
def test_fapilogs_bridge_is_on_the_root_logger(run: Run) -> None:
    assert "fapilog.otel._provider.DedupFapilogHandler" in run.handlers


def test_with_instrumentation_logging_its_bridge_is_active_too(
    overlay_fapilog_distro: Run,
) -> None:
    # Two stdlib bridges really sat on the root logger, so "once" above was earned.
    assert "opentelemetry.instrumentation.logging.handler.LoggingHandler" in (
        overlay_fapilog_distro.handlers
    )


def test_with_the_sdk_handler_variable_no_second_bridge_is_installed(
    overlay_fapilog_configurator: Run,
) -> None:
    # fapilog's configurator does not install the SDK's deprecated handler, and
    # instrumentation-logging then stands back (it defers to the SDK variable).
    assert overlay_fapilog_configurator.handlers == ["fapilog.otel._provider.DedupFapilogHandler"]
    assert (
        "Configuration of configurator not loaded because fapilog is set by "
        "OTEL_PYTHON_CONFIGURATOR"
    ) in overlay_fapilog_configurator.stderr
