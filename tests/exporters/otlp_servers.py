"""Real OTLP receivers on 127.0.0.1 for exporter tests, and a throwaway TLS PKI.

* :class:`GrpcCollector`: a ``grpc.aio`` server running on the test's event loop.
* :class:`HttpCollector`: a ``ThreadingHTTPServer`` on a background thread.

Both record every request (decoded) and answer with the next scripted reply, or a
plain success once the script is used up.
"""

from __future__ import annotations

import asyncio
import datetime
import gzip
import http.server
import ipaddress
import ssl
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from google.protobuf.any_pb2 import Any as AnyPb
from google.protobuf.duration_pb2 import Duration
from google.rpc.error_details_pb2 import RetryInfo
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsPartialSuccess,
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.logs.v1.logs_service_pb2_grpc import (
    LogsServiceServicer,
    add_LogsServiceServicer_to_server,
)


def rpc_status(code: int, message: str, retry_delay: float | None = None) -> Status:
    """A ``google.rpc.Status``, with a ``RetryInfo`` detail when ``retry_delay`` is set."""
    status = Status(code=code, message=message)
    if retry_delay is not None:
        detail = AnyPb()
        seconds = int(retry_delay)
        detail.Pack(
            RetryInfo(
                retry_delay=Duration(seconds=seconds, nanos=int((retry_delay - seconds) * 1e9))
            )
        )
        status.details.append(detail)
    return status


def record_count(request: ExportLogsServiceRequest) -> int:
    """Log records in ``request``."""
    return sum(len(sl.log_records) for rl in request.resource_logs for sl in rl.scope_logs)


def bodies(request: ExportLogsServiceRequest) -> list[str]:
    """String bodies of the records of ``request``, in order."""
    return [
        record.body.string_value
        for rl in request.resource_logs
        for sl in rl.scope_logs
        for record in sl.log_records
    ]


# -- gRPC --------------------------------------------------------------------------


@dataclass
class GrpcReply:
    """What the gRPC collector answers to one call."""

    code: grpc.StatusCode | None = None
    """An error status to abort with; ``None`` answers OK."""
    details: str = ""
    retry_delay: float | None = None
    """Send a ``RetryInfo`` with this delay in the ``grpc-status-details-bin`` trailer."""
    rejected: int = 0
    error_message: str = ""
    hang: bool = False
    """Never answer (until the client's deadline or the server stops)."""


@dataclass
class GrpcCall:
    """One call the gRPC collector received."""

    request: ExportLogsServiceRequest
    metadata: dict[str, str | bytes]


class _Servicer(LogsServiceServicer):
    def __init__(self, collector: GrpcCollector) -> None:
        self.collector = collector

    async def Export(
        self, request: ExportLogsServiceRequest, context: grpc.aio.ServicerContext
    ) -> ExportLogsServiceResponse:
        collector = self.collector
        collector.calls.append(GrpcCall(request, dict(context.invocation_metadata() or ())))
        reply = collector.replies.popleft() if collector.replies else GrpcReply()
        if reply.hang:
            await asyncio.Event().wait()
        if reply.code is not None:
            trailers: tuple[tuple[str, bytes], ...] = ()
            if reply.retry_delay is not None:
                status = rpc_status(reply.code.value[0], reply.details, reply.retry_delay)
                trailers = (("grpc-status-details-bin", status.SerializeToString()),)
            await context.abort(reply.code, reply.details, trailing_metadata=trailers)
        return ExportLogsServiceResponse(
            partial_success=ExportLogsPartialSuccess(
                rejected_log_records=reply.rejected, error_message=reply.error_message
            )
        )


class GrpcCollector:
    """An OTLP/gRPC logs receiver on a free loopback port of the running loop.

    Args:
        credentials: ``grpc.ssl_server_credentials(...)`` for TLS, else plain text.
    """

    def __init__(self, credentials: Any = None) -> None:
        self.credentials = credentials
        self.calls: list[GrpcCall] = []
        self.replies: deque[GrpcReply] = deque()
        self.port = 0
        self._server: Any = None

    @property
    def endpoint(self) -> str:
        scheme = "https" if self.credentials is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def requests(self) -> list[ExportLogsServiceRequest]:
        return [call.request for call in self.calls]

    def script(self, *replies: GrpcReply) -> None:
        self.replies.extend(replies)

    async def __aenter__(self) -> GrpcCollector:
        self._server = grpc.aio.server()
        add_LogsServiceServicer_to_server(_Servicer(self), self._server)
        if self.credentials is None:
            self.port = self._server.add_insecure_port("127.0.0.1:0")
        else:
            self.port = self._server.add_secure_port("127.0.0.1:0", self.credentials)
        await self._server.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._server.stop(None)


# -- HTTP --------------------------------------------------------------------------


@dataclass
class HttpReply:
    """What the HTTP collector answers to one request."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False
    """Answer only when the collector stops (the client times out first)."""


@dataclass
class HttpCall:
    """One request the HTTP collector received (body already un-gzipped and parsed)."""

    path: str
    headers: dict[str, str]
    raw_body: bytes
    request: ExportLogsServiceRequest


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real collector
    server: _Server

    def do_POST(self) -> None:
        collector = self.server.collector
        raw = self.rfile.read(int(self.headers.get("content-length", "0")))
        headers = {key.lower(): value for key, value in self.headers.items()}
        body = gzip.decompress(raw) if headers.get("content-encoding") == "gzip" else raw
        request = ExportLogsServiceRequest.FromString(body)
        with collector.lock:
            collector.calls.append(HttpCall(self.path, headers, raw, request))
            reply = collector.replies.popleft() if collector.replies else HttpReply()
        if reply.hang:
            collector.released.wait()
        self.send_response(reply.status)
        self.send_header("content-type", "application/x-protobuf")
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.send_header("content-length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    collector: HttpCollector

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # e.g. a client that gave up on a TLS handshake; nothing to report


class HttpCollector:
    """An OTLP/HTTP logs receiver on a free loopback port, served from a thread.

    Args:
        ssl_context: a server-side context for HTTPS, else plain HTTP.
    """

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.ssl_context = ssl_context
        self.calls: list[HttpCall] = []
        self.replies: deque[HttpReply] = deque()
        self.lock = threading.Lock()
        self.released = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.collector = self
        if ssl_context is not None:
            self._server.socket = ssl_context.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}/v1/logs"

    @property
    def requests(self) -> list[ExportLogsServiceRequest]:
        return [call.request for call in self.calls]

    def script(self, *replies: HttpReply) -> None:
        with self.lock:
            self.replies.extend(replies)

    def __enter__(self) -> HttpCollector:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.released.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


# -- TLS ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    """A test CA with a server certificate (127.0.0.1, localhost) and a client one."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    def grpc_server_credentials(self, require_client_auth: bool = False) -> Any:
        return grpc.ssl_server_credentials(
            [(self.server_key.read_bytes(), self.server_cert.read_bytes())],
            root_certificates=self.ca.read_bytes() if require_client_auth else None,
            require_client_auth=require_client_auth,
        )

    def http_server_context(self, require_client_auth: bool = False) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.server_cert, self.server_key)
        if require_client_auth:
            context.load_verify_locations(self.ca)
            context.verify_mode = ssl.CERT_REQUIRED
        return context


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def make_pki(directory: Path) -> Pki:
    """Generate a CA and server/client leaf certificates (P-256, valid two days)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fapilog test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    (directory / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    for name, usage in (
        ("server", ExtendedKeyUsageOID.SERVER_AUTH),
        ("client", ExtendedKeyUsageOID.CLIENT_AUTH),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        (directory / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(directory / f"{name}.key", key)
    return Pki(
        ca=directory / "ca.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server.key",
        client_cert=directory / "client.pem",
        client_key=directory / "client.key",
    )
