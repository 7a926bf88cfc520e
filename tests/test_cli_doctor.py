"""``fapilog doctor``: every problem is a FAIL line naming its fix, and the exit code says so.

Against a real collector (rotel) over gRPC and HTTP, a stopped one, a plain-text
collector addressed over TLS, and a tiny TLS server (self-signed certificate made with
``cryptography``) addressed in plain text.
"""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import json
import os
import socket
import ssl
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fapilog.__main__ import main
from fapilog.cli._doctor import TEST_BODY

SECRET = "s3cret-t0ken-42"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("FAPILOG_", "OTEL_")) or name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)


def _doctor(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["doctor", "--timeout", "5", *args])
    return code, capsys.readouterr().out


def _fails(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("FAIL")]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- a tiny TLS server ------------------------------------------------------------------


@dataclass
class TlsServer:
    port: int
    cert: Path
    posts: list[str]


def _self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class _Handler(http.server.BaseHTTPRequestHandler):
    """OTLP/HTTP: a POST gets 200 and an empty ExportLogsServiceResponse; GET gets 404."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.server.posts.append(self.path)  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        self.send_error(404)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up mid-handshake (the probe aborts its connections)


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[TlsServer]:
    cert, key = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = _Server(("127.0.0.1", 0), _Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.posts = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01})
    thread.start()
    try:
        yield TlsServer(server.server_address[1], cert, server.posts)  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# -- against a real collector ----------------------------------------------------------


@pytest.mark.e2e
def test_doctor_against_rotel_over_grpc_and_http_exports_a_test_record(
    rotel_collector: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rotel_collector.grpc_endpoint)
    code, out = _doctor(capsys)
    assert code == 0, out
    assert "speaks plain text and HTTP/2, as OTLP/gRPC over plain text needs" in out
    assert "test record accepted" in out and out.rstrip().endswith("no problems found")

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rotel_collector.http_endpoint)
    code, out = _doctor(capsys)
    assert code == 0, out
    assert "speaks plain text and HTTP/1.1, as OTLP/HTTP over plain text needs" in out

    assert rotel_collector.wait_for(2, timeout=5) == 2
    records = rotel_collector.records()
    assert [r.body for r in records] == [TEST_BODY, TEST_BODY]
    assert records[0].attributes == {"fapilog.doctor": True}
    assert records[0].scope_name == "fapilog.doctor"


@pytest.mark.e2e
def test_doctor_names_the_fix_for_tls_to_plain_text_and_the_wrong_port(
    rotel_collector: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    grpc_where = rotel_collector.grpc_endpoint.removeprefix("http://")
    http_where = rotel_collector.http_endpoint.removeprefix("http://")
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", "otlp")

    # A plain-text collector addressed over TLS.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"https://{grpc_where}")
    code, out = _doctor(capsys)
    assert code == 1
    (fail,) = _fails(out)
    assert f"{grpc_where} does not speak TLS" in fail
    assert f"write http://{grpc_where} for plain text" in fail
    assert "test record not sent: fix the problem above first" in out

    # OTLP/gRPC sent to the OTLP/HTTP port.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://{http_where}")
    code, out = _doctor(capsys)
    assert code == 1
    (fail,) = _fails(out)
    assert "speaks HTTP/1.1, not gRPC" in fail
    assert "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf" in fail
    assert rotel_collector.count() == 0  # nothing was sent where it cannot work


@pytest.mark.e2e
def test_doctor_subprocess_against_a_stopped_collector_exits_1_naming_the_fix() -> None:
    pytest.importorskip("rotel", reason="needs the rotel collector")
    from fapilog.testing import RotelCollector

    with RotelCollector() as collector:
        endpoint = collector.grpc_endpoint
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FAPILOG_", "OTEL_")) and not k.lower().endswith("_proxy")
    }
    done = subprocess.run(
        [sys.executable, "-m", "fapilog", "doctor"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**env, "OTEL_LOGS_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint},
    )
    assert done.returncode == 1, done.stdout + done.stderr
    where = endpoint.removeprefix("http://")
    (fail,) = _fails(done.stdout)
    assert f"nothing accepts connections at {where} (connection refused" in fail
    assert (
        "fix: start the collector, or point OTEL_EXPORTER_OTLP_ENDPOINT at the address it "
        "listens on"
    ) in fail


# -- TLS ---------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_a_tls_server_addressed_in_plain_text_fails_naming_https(
    tls_server: TlsServer,
    protocol: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    where = f"127.0.0.1:{tls_server.port}"
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://{where}")
    code, out = _doctor(capsys)
    assert code == 1
    (fail,) = _fails(out)
    assert f"{where} expects TLS" in fail
    assert f"write https://{where}" in fail
    assert tls_server.posts == []


def test_tls_as_configured_passes_once_the_certificate_is_trusted(
    tls_server: TlsServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    where = f"127.0.0.1:{tls_server.port}"
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", "otlp_proto_http")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"https://{where}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"authorization=Bearer%20{SECRET}")

    # Self-signed, not trusted: the probe passes (it speaks TLS), the export does not.
    code, out = _doctor(capsys)
    assert code == 1
    assert f"{where} accepts connections, speaks TLS and HTTP/1.1" in out
    (fail,) = _fails(out)
    assert "is not trusted: set OTEL_EXPORTER_OTLP_CERTIFICATE" in fail

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", str(tls_server.cert))
    code, out = _doctor(capsys, "--no-send")
    assert code == 0, out
    assert "test record not sent (--no-send)" in out and tls_server.posts == []

    code, out = _doctor(capsys)
    assert code == 0, out
    assert f"test record accepted at {where}" in out
    assert tls_server.posts == ["/v1/logs"]
    assert SECRET not in out


# -- without a network ------------------------------------------------------------------


def test_console_only_is_healthy(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _doctor(capsys)
    assert code == 0, out
    assert "exporter console: resolves (built in)" in out
    assert "FAIL" not in out


def test_invalid_settings_and_unknown_exporter_each_fail_with_the_fix(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAPILOG_LEVEL", "LOUD")
    code, out = _doctor(capsys)
    assert code == 1
    (fail,) = _fails(out)
    assert "FAPILOG_LEVEL: unknown level 'LOUD'" in fail and "FAPILOG_LEVEL=INFO" in fail
    assert "fallback pipeline" in fail

    monkeypatch.delenv("FAPILOG_LEVEL")
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", "otpl")
    code, out = _doctor(capsys, "--json")
    assert code == 1
    data = json.loads(out)
    assert data["ok"] is False
    (fail,) = [c for c in data["checks"] if c["status"] == "fail"]
    assert fail["name"] == "exporter otpl"
    assert "unknown exporter 'otpl' (from OTEL_LOGS_EXPORTER); use one of:" in fail["text"]


def test_unwritable_file_path_fails_naming_the_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAPILOG_EXPORTERS", "file")
    monkeypatch.setenv("FAPILOG_FILE_PATH", str(tmp_path))  # a directory
    code, out = _doctor(capsys)
    assert code == 1
    (fail,) = _fails(out)
    assert "FAPILOG_FILE_PATH" in fail and "is a directory" in fail


def test_app_exporter_in_code_is_checked_and_the_fix_names_the_argument(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    port = _closed_port()
    (tmp_path / "cli_doctor_app.py").write_text(
        textwrap.dedent(
            f"""
            import fapilog
            from fapilog.exporters.otlp import OTLPExporter

            pipeline = fapilog.configure(
                exporters=[OTLPExporter(endpoint="http://127.0.0.1:{port}")],
            )
            """
        ),
        encoding="utf-8",
    )
    code, out = _doctor(capsys, "--app", "cli_doctor_app:pipeline")
    assert code == 1
    assert "exporter otlp: OTLPGrpcExporter object given in code" in out
    (fail,) = _fails(out)
    assert f"nothing accepts connections at 127.0.0.1:{port}" in fail
    assert "point endpoint= at the address it listens on" in fail
