"""Endpoint mistakes: refused at build time when malformed, explained promptly when wrong.

Every mistake runs against a real loopback server: plain-text and TLS gRPC receivers
(``otlp_servers.GrpcCollector``), plain-text and TLS HTTP receivers (``HttpCollector``),
the real collector (rotel, its gRPC and HTTP ports) and a closed port. Each test checks
that the failure's reason names the fix, and that the pipeline says so on the first
failed attempt (within ~3 s), not when its 30 s of retries run out.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from otlp_servers import GrpcCollector, GrpcReply, HttpCollector, HttpReply, Pki, make_pki

import fapilog
from fapilog._diagnostics import reporter
from fapilog._event import LogEvent
from fapilog.config import ConfigError
from fapilog.exporters import ExportStatus
from fapilog.exporters.otlp import OTLPExporter, OTLPExporterOptions
from fapilog.exporters.otlp import _diagnose as diagnose_module

SECRET = "pa55-w0rd-n0t-f0r-l0gs"
FIX_WITHIN = 3.0  # seconds from the first export attempt to the diagnostic


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def batch() -> list[LogEvent]:
    return [LogEvent(timestamp=1_700_000_000_000_000_000, body="hello")]


async def attempt(**options: object) -> tuple[str, ExportStatus, float]:
    """One export of one record; (reason, status, seconds it took)."""
    exporter = OTLPExporter(timeout=5.0, **options)
    started = time.monotonic()
    try:
        result = await exporter.export(batch())
    finally:
        await exporter.shutdown()
    return result.reason, result.status, time.monotonic() - started


@dataclass
class Report:
    at: float
    key: str
    message: str


@pytest.fixture
def reports(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Report]]:
    """Every reporter.report() call, with its time (the rate limit decides what is printed)."""
    reporter.reset()
    calls: list[Report] = []
    original = reporter.report

    def record(key: str, message: str) -> None:
        calls.append(Report(time.monotonic(), key, message))
        original(key, message)

    monkeypatch.setattr(reporter, "report", record)
    yield calls
    reporter.reset()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
async def grpc_plain() -> AsyncIterator[GrpcCollector]:
    async with GrpcCollector() as server:
        yield server


@pytest.fixture
async def grpc_tls(pki: Pki) -> AsyncIterator[GrpcCollector]:
    async with GrpcCollector(pki.grpc_server_credentials()) as server:
        yield server


@pytest.fixture
def http_plain() -> Iterator[HttpCollector]:
    with HttpCollector() as server:
        yield server


@pytest.fixture
def http_tls(pki: Pki) -> Iterator[HttpCollector]:
    with HttpCollector(pki.http_server_context()) as server:
        yield server


@pytest.fixture(scope="module")
def rotel() -> Iterator[tuple[int, int]]:
    """The real collector: (gRPC port, HTTP port)."""
    pytest.importorskip("rotel", reason="needs the rotel collector")
    from fapilog.testing import RotelCollector

    with RotelCollector(debug_log=False) as collector:
        yield (
            int(collector.grpc_endpoint.rpartition(":")[2]),
            int(collector.http_endpoint.rpartition(":")[2]),
        )


# -- endpoints without a scheme, per the OTLP exporter specification ---------------------


class TestSchemeRules:
    """gRPC: https:// is TLS and http:// plain text, whatever OTEL_EXPORTER_OTLP_INSECURE
    says; without a scheme TLS is used unless it is true (default false). HTTP needs a
    scheme. As the specification and opentelemetry-python's gRPC exporter do."""

    @pytest.mark.parametrize(
        ("endpoint", "insecure", "tls"),
        [
            ("collector:4317", None, True),
            ("collector:4317", "false", True),
            ("collector:4317", "true", False),
            ("http://collector:4317", None, False),
            ("http://collector:4317", "false", False),
            ("https://collector:4317", "true", True),
        ],
    )
    def test_tls_follows_the_scheme_then_insecure(
        self, endpoint: str, insecure: str | None, tls: bool
    ) -> None:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}
        if insecure is not None:
            env["OTEL_EXPORTER_OTLP_INSECURE"] = insecure
        options = OTLPExporterOptions.from_env(environ=env)
        assert options.tls is tls
        assert options.grpc_target == "collector:4317"
        assert options.endpoint_source == "OTEL_EXPORTER_OTLP_ENDPOINT"

    def test_logs_insecure_wins_over_the_generic_one(self) -> None:
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4317",
            "OTEL_EXPORTER_OTLP_INSECURE": "false",
            "OTEL_EXPORTER_OTLP_LOGS_INSECURE": "true",
        }
        assert OTLPExporterOptions.from_env(environ=env).tls is False

    def test_http_endpoint_without_a_scheme_is_refused(self) -> None:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}
        with pytest.raises(
            ConfigError, match=r"OTEL_EXPORTER_OTLP_ENDPOINT: .*http:// or https://"
        ):
            OTLPExporterOptions.from_env(environ=env, protocol="http/protobuf")

    @pytest.mark.parametrize(
        ("endpoint", "target"),
        [
            ("[::1]:4317", "[::1]:4317"),
            ("https://[::1]:4317", "[::1]:4317"),
            ("c_1.local:1", "c_1.local:1"),
        ],
    )
    def test_ipv6_in_brackets_and_plain_names_are_accepted(
        self, endpoint: str, target: str
    ) -> None:
        assert OTLPExporterOptions(endpoint=endpoint).grpc_target == target


# -- malformed endpoints: refused when the options are built ------------------------------


class TestMalformedEndpoints:
    @pytest.mark.parametrize(
        ("endpoint", "fix"),
        [
            ("garbage", "write host:port"),
            ("http://", "no host"),
            ("https://", "no host"),
            ("http://collector:70000", "from 1 to 65535"),
            ("collector:0", "from 1 to 65535"),
            ("collector:65536", "from 1 to 65535"),
            ("collector:port", "from 1 to 65535"),
            ("http://collector:", "from 1 to 65535"),
            ("http://my collector:4317", "space"),
            ("collector :4317", "space"),
            ("http://collector:43 17", "space"),
            ("collector:4317\t", None),  # trailing whitespace is stripped: accepted
            ("::1:4317", "[::1]:4317"),
            ("http://[::1", "not a valid URL"),
            ("http://[nope]:4317", "not a valid URL"),
            ("[nope]:4317", "IPv6 address is not valid"),
            ("collector:4317/v1/logs", "host:port or an http:// or https:// URL"),
            ("ftp://collector:21", "http:// or https://"),
            ("http://coll$ctor:4317", "host name or IP address"),
        ],
    )
    def test_grpc_endpoint_from_env_names_the_variable_and_the_fix(
        self, endpoint: str, fix: str | None
    ) -> None:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}
        if fix is None:
            OTLPExporterOptions.from_env(environ=env)
            return
        with pytest.raises(ConfigError) as caught:
            OTLPExporterOptions.from_env(environ=env)
        message = str(caught.value)
        assert "OTEL_EXPORTER_OTLP_ENDPOINT:" in message
        assert fix in message

    @pytest.mark.parametrize("endpoint", ["garbage", "http://", "http://c:99999", "http://a b"])
    def test_http_endpoints_are_checked_too(self, endpoint: str) -> None:
        env = {
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        }
        with pytest.raises(ConfigError, match="OTEL_EXPORTER_OTLP_LOGS_ENDPOINT:"):
            OTLPExporterOptions.from_env(environ=env)

    def test_the_keyword_is_named_and_the_exporter_is_not_built(self) -> None:
        with pytest.raises(ConfigError, match=r"endpoint= argument: .*write host:port"):
            OTLPExporter(endpoint="garbage")

    def test_the_exporter_from_env_is_refused_before_anything_is_sent(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "garbage")
        with pytest.raises(ConfigError, match=r"OTEL_EXPORTER_OTLP_ENDPOINT: .*'garbage'"):
            OTLPExporter()

    def test_a_password_is_never_shown(self) -> None:
        with pytest.raises(ConfigError) as caught:
            OTLPExporterOptions.from_env(endpoint=f"https://user:{SECRET}@collector:99999")
        assert SECRET not in str(caught.value)
        with pytest.raises(ConfigError) as caught:
            OTLPExporterOptions.from_env(
                environ={"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://u:{SECRET}@[x"}
            )
        assert SECRET not in str(caught.value)


# -- mistakes explained by each export's reason ------------------------------------------


class TestCollectorDown:
    @pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
    async def test_a_closed_port_names_the_endpoint_and_asks_for_the_collector(
        self, protocol: str
    ) -> None:
        port = free_port()
        path = "/v1/logs" if protocol == "http/protobuf" else ""
        reason, status, took = await attempt(
            protocol=protocol, endpoint=f"http://127.0.0.1:{port}{path}"
        )
        assert status is ExportStatus.RETRYABLE
        assert f"127.0.0.1:{port}" in reason
        assert "is the collector running" in reason
        assert took < FIX_WITHIN


class TestTlsMismatch:
    async def test_no_scheme_means_tls_and_a_plain_text_collector_says_how_to_fix_it(
        self, grpc_plain: GrpcCollector
    ) -> None:
        """The measured case: OTEL_EXPORTER_OTLP_ENDPOINT=localhost:4317 (WRONG_VERSION_NUMBER)."""
        where = f"127.0.0.1:{grpc_plain.port}"
        reason, status, took = await attempt(endpoint=where)
        assert status is ExportStatus.RETRYABLE
        assert "does not speak TLS" in reason
        assert "has no scheme" in reason
        assert f"write http://{where}" in reason
        assert "OTEL_EXPORTER_OTLP_INSECURE=true" in reason
        assert took < FIX_WITHIN
        assert grpc_plain.calls == []

    async def test_the_fixes_it_names_work(self, grpc_plain: GrpcCollector) -> None:
        where = f"127.0.0.1:{grpc_plain.port}"
        assert (await attempt(endpoint=f"http://{where}"))[1] is ExportStatus.SUCCESS
        assert (await attempt(endpoint=where, insecure=True))[1] is ExportStatus.SUCCESS
        assert len(grpc_plain.calls) == 2

    async def test_grpc_https_to_plain_text(self, grpc_plain: GrpcCollector) -> None:
        where = f"127.0.0.1:{grpc_plain.port}"
        reason, _, took = await attempt(endpoint=f"https://{where}")
        assert "does not speak TLS" in reason
        assert "is https://" in reason
        assert f"write http://{where}" in reason
        assert took < FIX_WITHIN

    async def test_grpc_http_to_a_tls_collector(self, grpc_tls: GrpcCollector) -> None:
        where = f"127.0.0.1:{grpc_tls.port}"
        reason, status, took = await attempt(endpoint=f"http://{where}")
        assert status is ExportStatus.RETRYABLE
        assert "expects TLS" in reason
        assert f"write https://{where}" in reason
        assert took < FIX_WITHIN

    async def test_http_https_to_plain_text(self, http_plain: HttpCollector) -> None:
        where = f"127.0.0.1:{http_plain.port}"
        reason, _, took = await attempt(
            protocol="http/protobuf", endpoint=f"https://{where}/v1/logs"
        )
        assert "does not speak TLS" in reason
        assert f"write http://{where}" in reason
        assert took < FIX_WITHIN

    async def test_http_to_a_tls_collector(self, http_tls: HttpCollector) -> None:
        where = f"127.0.0.1:{http_tls.port}"
        reason, _, took = await attempt(
            protocol="http/protobuf", endpoint=f"http://{where}/v1/logs"
        )
        assert "expects TLS" in reason
        assert f"write https://{where}" in reason
        assert took < FIX_WITHIN
        assert http_tls.calls == []

    async def test_an_untrusted_certificate_names_the_certificate_setting(
        self, grpc_tls: GrpcCollector
    ) -> None:
        reason, _, _ = await attempt(endpoint=f"https://127.0.0.1:{grpc_tls.port}")
        assert "not trusted" in reason
        assert "OTEL_EXPORTER_OTLP_CERTIFICATE" in reason


class TestWrongPort:
    async def test_grpc_to_an_http_port(self, http_plain: HttpCollector) -> None:
        reason, status, took = await attempt(endpoint=f"http://127.0.0.1:{http_plain.port}")
        assert status is ExportStatus.RETRYABLE
        assert "OTLP/HTTP port" in reason
        assert "4317" in reason
        assert "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf" in reason
        assert took < FIX_WITHIN

    async def test_grpc_without_scheme_to_an_http_port_names_the_port_not_tls(
        self, http_plain: HttpCollector
    ) -> None:
        reason, _, _ = await attempt(endpoint=f"127.0.0.1:{http_plain.port}")
        assert "OTLP/HTTP port" in reason
        assert "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf" in reason

    async def test_http_to_a_grpc_port(self, grpc_plain: GrpcCollector) -> None:
        reason, status, took = await attempt(
            protocol="http/protobuf", endpoint=f"http://127.0.0.1:{grpc_plain.port}/v1/logs"
        )
        assert status is ExportStatus.RETRYABLE
        assert "OTLP/gRPC port" in reason
        assert "4318" in reason
        assert "OTEL_EXPORTER_OTLP_PROTOCOL=grpc" in reason
        assert took < FIX_WITHIN

    async def test_https_to_a_plain_grpc_port_names_both_mistakes(
        self, grpc_plain: GrpcCollector
    ) -> None:
        reason, _, _ = await attempt(
            protocol="http/protobuf", endpoint=f"https://127.0.0.1:{grpc_plain.port}/v1/logs"
        )
        assert "does not speak TLS" in reason
        assert "OTLP/gRPC port" in reason

    async def test_http_404_names_the_logs_path(self, http_plain: HttpCollector) -> None:
        http_plain.script(HttpReply(404))
        reason, status, _ = await attempt(
            protocol="http/protobuf", endpoint=f"http://127.0.0.1:{http_plain.port}/v1/traces"
        )
        assert status is ExportStatus.FAILURE
        assert "/v1/logs" in reason
        assert "this endpoint's path is /v1/traces" in reason


class TestRealCollector:
    """The same mistakes against rotel's own gRPC and HTTP receivers."""

    async def test_grpc_to_its_http_port(self, rotel: tuple[int, int]) -> None:
        reason, status, took = await attempt(endpoint=f"http://127.0.0.1:{rotel[1]}")
        assert status is ExportStatus.FAILURE
        assert "HTTP status 404" in reason
        assert "OTLP/HTTP port" in reason
        assert "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf" in reason
        assert took < FIX_WITHIN

    async def test_grpc_url_with_the_logs_path_to_its_http_port(
        self, rotel: tuple[int, int]
    ) -> None:
        reason, _, _ = await attempt(endpoint=f"http://127.0.0.1:{rotel[1]}/v1/logs")
        assert "the path /v1/logs of the endpoint is ignored by gRPC" in reason

    async def test_http_to_its_grpc_port(self, rotel: tuple[int, int]) -> None:
        reason, status, took = await attempt(
            protocol="http/protobuf", endpoint=f"http://127.0.0.1:{rotel[0]}/v1/logs"
        )
        assert status is ExportStatus.RETRYABLE
        assert "OTLP/gRPC port" in reason
        assert "OTEL_EXPORTER_OTLP_PROTOCOL=grpc" in reason
        assert took < FIX_WITHIN

    async def test_http_base_url_without_the_logs_path(self, rotel: tuple[int, int]) -> None:
        reason, status, _ = await attempt(
            protocol="http/protobuf", endpoint=f"http://127.0.0.1:{rotel[1]}"
        )
        assert status is ExportStatus.FAILURE
        assert "answered HTTP 404" in reason
        assert "/v1/logs" in reason

    async def test_no_scheme_to_its_plain_text_grpc_port(self, rotel: tuple[int, int]) -> None:
        reason, _, took = await attempt(endpoint=f"127.0.0.1:{rotel[0]}")
        assert "does not speak TLS" in reason
        assert f"write http://127.0.0.1:{rotel[0]}" in reason
        assert took < FIX_WITHIN

    async def test_a_grpc_path_is_ignored_and_said_once(
        self, rotel: tuple[int, int], reports: list[Report]
    ) -> None:
        """http://host:4317/v1/logs works (gRPC has no path) but is probably meant for HTTP."""
        reason, status, _ = await attempt(endpoint=f"http://127.0.0.1:{rotel[0]}/v1/logs")
        assert (status, reason) == (ExportStatus.SUCCESS, "")
        [hint] = [r for r in reports if r.key.startswith("endpoint_path:")]
        assert "has the path /v1/logs, which gRPC ignores" in hint.message
        assert "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf" in hint.message


class TestProbing:
    async def test_the_endpoint_is_probed_once_per_cause_until_it_works(
        self, grpc_plain: GrpcCollector, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        probes = 0
        real_probe = diagnose_module.probe

        async def counting(host: str, port: int, timeout: float = 1.0) -> diagnose_module.Peer:
            nonlocal probes
            probes += 1
            return await real_probe(host, port, timeout)

        monkeypatch.setattr(diagnose_module, "probe", counting)
        exporter = OTLPExporter(endpoint=f"https://127.0.0.1:{grpc_plain.port}", timeout=5)
        try:
            reasons = [(await exporter.export(batch())).reason for _ in range(3)]
            concurrent = await asyncio.gather(*(exporter.export(batch()) for _ in range(4)))
        finally:
            await exporter.shutdown()
        assert probes == 1
        assert all("does not speak TLS" in r for r in reasons + [c.reason for c in concurrent])

    async def test_answers_from_the_collector_itself_are_not_probed(
        self, grpc_plain: GrpcCollector, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        async def refuse(*args: object, **kwargs: object) -> None:
            raise AssertionError("probed")

        monkeypatch.setattr(diagnose_module, "probe", refuse)
        grpc_plain.script(GrpcReply(code=grpc.StatusCode.UNAVAILABLE, details="overloaded"))
        reason, status, _ = await attempt(endpoint=grpc_plain.endpoint)
        assert (status, reason) == (ExportStatus.RETRYABLE, "gRPC UNAVAILABLE: overloaded")

    async def test_no_probe_bypasses_a_proxy(
        self, grpc_plain: GrpcCollector, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Through a proxy the error may be the proxy's: no probe, no guess."""

        async def refuse(*args: object, **kwargs: object) -> None:
            raise AssertionError("probed")

        monkeypatch.setattr(diagnose_module, "probe", refuse)
        monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{free_port()}")
        monkeypatch.delenv("no_proxy", raising=False)
        monkeypatch.delenv("NO_PROXY", raising=False)
        reason, _, _ = await attempt(endpoint=f"https://127.0.0.1:{grpc_plain.port}")
        assert reason.startswith("gRPC UNAVAILABLE")  # the raw reason alone

    async def test_secrets_stay_out_of_diagnoses(self, http_plain: HttpCollector) -> None:
        reason, _, _ = await attempt(
            protocol="http/protobuf",
            endpoint=f"https://user:{SECRET}@127.0.0.1:{http_plain.port}/v1/logs",
            headers={"authorization": f"Bearer {SECRET}"},
        )
        assert "does not speak TLS" in reason
        assert "user:***@" in reason
        assert SECRET not in reason


# -- the pipeline says it on the first failed attempt -------------------------------------


def pipeline_to(endpoint: str, **options: object) -> fapilog.Pipeline:
    return fapilog.Pipeline(
        exporters=[OTLPExporter(endpoint=endpoint, **options)],
        schedule_delay_ms=5,
        service_name="diag",
    )


def first_retry_report(reports: list[Report], deadline: float) -> Report:
    while time.monotonic() < deadline:
        for report in list(reports):
            if report.key.startswith("retrying:"):
                return report
        time.sleep(0.01)
    raise AssertionError(f"no retry report; got {[r.message for r in reports]}")


class TestReportedPromptly:
    @pytest.mark.parametrize("mistake", ["closed port", "no scheme to plain text"])
    def test_the_first_failed_attempt_is_reported_with_the_fix_not_after_30s(
        self, mistake: str, reports: list[Report]
    ) -> None:
        with _plain_grpc_server() as port:
            if mistake == "closed port":
                endpoint, fix = f"http://127.0.0.1:{free_port()}", "is the collector running"
            else:
                endpoint, fix = f"127.0.0.1:{port}", "OTEL_EXPORTER_OTLP_INSECURE=true"
            pipeline = pipeline_to(endpoint)  # default export timeout: 30 s of retries
            try:
                started = time.monotonic()
                pipeline.get_logger("diag").info("lost?")
                report = first_retry_report(reports, started + 10)
            finally:
                pipeline.shutdown(timeout=0.5)
        assert report.at - started < FIX_WITHIN
        assert report.message.startswith("exporter 'otlp': export failed, retrying for up to 30s: ")
        assert fix in report.message

    def test_one_key_per_cause_so_the_rate_limit_keeps_one_line_each(
        self, reports: list[Report]
    ) -> None:
        pipeline = pipeline_to(f"http://127.0.0.1:{free_port()}", max_concurrent_exports=2)
        try:
            log = pipeline.get_logger("diag")
            for i in range(5):
                log.info("event %d", i)
                pipeline.flush(timeout=0.05)
            deadline = time.monotonic() + 5
            while pipeline.stats().exporters["otlp"].retries < 6 and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            pipeline.shutdown(timeout=0.5)
        keys = {r.key for r in reports if r.key.startswith("retrying:")}
        assert len(keys) == 1
        assert sum(r.key.startswith("retrying:") for r in reports) > 1  # every attempt, one key


class _plain_grpc_server:
    """A plain-text gRPC receiver on its own thread and loop, for synchronous tests."""

    def __enter__(self) -> int:
        ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.port = 0

        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            async with GrpcCollector() as server:
                self.port = server.port
                ready.set()
                await self._stop.wait()

        self._thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
        self._thread.start()
        assert ready.wait(10)
        return self.port

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


# -- the whole way, in a short script: printed on stderr before the process exits --------


SCRIPT = textwrap.dedent(
    """
    import fapilog
    fapilog.configure(exporters=["otlp"])
    log = fapilog.get_logger("app")
    for i in range(3):
        log.info("event %d", i)
    """
)


@pytest.mark.once
def test_a_short_script_prints_the_fix_on_stderr(tmp_path: Path) -> None:
    """OTEL_EXPORTER_OTLP_ENDPOINT=127.0.0.1:<plain-text gRPC port>: one line with the fix."""
    script = tmp_path / "short.py"
    script.write_text(SCRIPT)
    with _plain_grpc_server() as port:
        env = {
            **os.environ,
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"127.0.0.1:{port}",
            "GRPC_VERBOSITY": "NONE",
        }
        env.pop("OTEL_EXPORTER_OTLP_INSECURE", None)
        done = subprocess.run(
            [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60
        )
    prefix = "fapilog: exporter 'otlp': export failed, retrying for up to 30s: "
    lines = [line for line in done.stderr.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, done.stderr
    assert f"write http://127.0.0.1:{port} for plain text" in lines[0]


class TestExplainText:
    """Errors that are clear by their text alone (no server needed to see them)."""

    @pytest.mark.parametrize(
        ("protocol", "endpoint", "error"),
        [
            (
                "grpc",
                "http://colector:4317",
                "UNAVAILABLE: errors resolving colector:4317: [field:hostname lookup error:"
                "address lookup failed for colector:4317: Domain name not found]",
            ),
            (
                "http/protobuf",
                "http://colector:4318/v1/logs",
                "ConnectError: [Errno -2] Name or service not known",
            ),
        ],
    )
    def test_a_host_that_does_not_resolve(self, protocol: str, endpoint: str, error: str) -> None:
        options = OTLPExporterOptions(protocol=protocol, endpoint=endpoint)  # type: ignore[arg-type]
        text = diagnose_module.explain(options, error)
        assert text.startswith("the host name 'colector' does not resolve: check it")
        assert diagnose_module.definitive(error)

    def test_415_says_what_an_otlp_http_endpoint_is(self) -> None:
        options = OTLPExporterOptions(protocol="http/protobuf", endpoint="http://c:4318/v1/logs")
        text = diagnose_module.explain(options, "HTTP 415")
        assert "does not take application/x-protobuf" in text
        assert "4318" in text
        assert "/v1/logs" in text

    def test_unimplemented_says_the_logs_service_is_missing(self) -> None:
        options = OTLPExporterOptions(endpoint="http://c:4317")
        text = diagnose_module.explain(options, "UNIMPLEMENTED: Method not found!")
        assert text == (
            "c:4317 does not implement the OTLP logs service: check that it is an OTLP "
            "receiver with logs enabled"
        )

    def test_an_unknown_error_gets_no_guess(self) -> None:
        options = OTLPExporterOptions(endpoint="http://c:4317")
        assert diagnose_module.explain(options, "UNAVAILABLE: overloaded") == ""
        assert diagnose_module.combine("", "gRPC UNAVAILABLE: overloaded") == (
            "gRPC UNAVAILABLE: overloaded"
        )

    def test_the_default_endpoint_is_named_as_such(self) -> None:
        options = OTLPExporterOptions.from_env(environ={})
        assert options.endpoint_source == "default"
        text = diagnose_module.explain(options, "UNAVAILABLE: ... Connection refused")
        assert "localhost:4317" in text
        assert "(the default endpoint)" in text
