"""A small HTTP receiver on 127.0.0.1 with scripted failures, for the HTTP exporter's tests.

A ``ThreadingHTTPServer`` (HTTP/1.1, keep-alive) on a thread of its own, so both async
tests and a :class:`fapilog.Pipeline` (which exports from its worker thread) reach it.
It records every request (method, path, headers, body as sent and decoded) and stores
the records of each accepted one, parsed from NDJSON or a JSON array (gzip undone).

Faults are scripted and consumed one per request, in order:

========================  ===============================================================
fault                     the server
========================  ===============================================================
:class:`Pass`             answers normally (to script a fault for a later request)
:class:`Status`           answers this status (and headers, body), stores nothing
:class:`Hang`             answers nothing until :meth:`SinkServer.release` (or stop)
:class:`Reset`            closes the connection with a TCP reset, no answer; with
                          ``after_store`` it stores the records first (a lost answer)
========================  ===============================================================

Beyond the script, :attr:`SinkServer.max_body` answers 413 to larger bodies, and
:attr:`SinkServer.dedupe_header` names a header whose repeated values store nothing
(a receiver honouring idempotency keys).
"""

from __future__ import annotations

import datetime
import gzip
import ipaddress
import json
import socket
import ssl
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Pass:
    """Answer this request normally."""


@dataclass(frozen=True)
class Status:
    """Answer ``status`` with these headers and body; store nothing."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: str = ""


@dataclass(frozen=True)
class Hang:
    """Read the request, then answer nothing until released."""


@dataclass(frozen=True)
class Reset:
    """Close the connection with a TCP reset instead of answering."""

    after_store: bool = False
    """Store the records first: the sender cannot know they arrived."""


Fault = Pass | Status | Hang | Reset


@dataclass
class Received:
    """One HTTP request as received."""

    method: str
    path: str
    headers: dict[str, str]
    wire_body: bytes
    """The body exactly as sent (possibly gzip-compressed)."""
    body: bytes
    """The body after ``Content-Encoding`` was undone."""
    received_at: float
    status: int = 0
    records: list[dict[str, Any]] = field(default_factory=list)


def parse_records(body: bytes) -> list[dict[str, Any]]:
    """The records of a body: a JSON array, or one JSON object per line."""
    text = body.decode("utf-8")
    if text.lstrip().startswith("["):
        data = json.loads(text)
        assert isinstance(data, list)
        return data
    assert text == "" or text.endswith("\n"), "an NDJSON body ends with a newline"
    return [json.loads(line) for line in text.splitlines()]


class SinkServer:
    """The receiver. Use as a context manager; :attr:`url` is where to send.

    Args:
        status: the status of a normal answer.
        ssl_context: serve HTTPS with this context (see :func:`make_tls`).
    """

    def __init__(self, *, status: int = 200, ssl_context: ssl.SSLContext | None = None) -> None:
        self.ok_status = status
        self.ssl_context = ssl_context
        self.requests: list[Received] = []
        self.records: list[dict[str, Any]] = []
        """Records of accepted requests, in order (repeats included)."""
        self.max_body: int | None = None
        self.dedupe_header: str | None = None
        self.port = 0
        self._faults: list[Fault] = []
        self._keys: set[str] = set()
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._hang_all = False
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._sockets: set[socket.socket] = set()
        self.arrived = threading.Condition(self._lock)

    # -- lifecycle --------------------------------------------------------------------

    def __enter__(self) -> SinkServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Listen (again, on the same port after :meth:`stop`)."""
        self._released.clear()
        server = _Server(("127.0.0.1", self.port), _Handler)
        server.sink = self
        if self.ssl_context is not None:
            server.socket = self.ssl_context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, args=(0.005,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening and drop every open connection (the server is "down")."""
        server, self._server = self._server, None
        self._released.set()  # hung handlers return
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(5)

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}/ingest"

    # -- scripting ----------------------------------------------------------------------

    def script(self, *faults: Fault) -> None:
        """Answer the next requests with ``faults``, one each, in order."""
        with self._lock:
            self._faults.extend(faults)

    def hang(self) -> None:
        """Answer no request until :meth:`release`."""
        self._released.clear()
        self._hang_all = True

    def release(self) -> None:
        """Let hung requests go (answered 503) and stop hanging."""
        self._hang_all = False
        self._released.set()

    def bodies(self) -> list[str]:
        """The ``body`` of every stored record, in order."""
        with self._lock:
            return [str(r.get("body")) for r in self.records]

    def wait_requests(self, n: int, timeout: float = 5.0) -> list[Received]:
        """Block until ``n`` requests arrived; return them."""
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.requests) >= n, timeout), (
                f"{len(self.requests)} of {n} requests arrived"
            )
            return list(self.requests)

    # -- serving ------------------------------------------------------------------------

    def _next_fault(self) -> Fault:
        if self._hang_all:
            return Hang()
        with self._lock:
            return self._faults.pop(0) if self._faults else Pass()

    def _handle(self, handler: _Handler) -> None:
        length = int(handler.headers.get("content-length") or 0)
        wire = handler.rfile.read(length)
        headers = {k.lower(): v for k, v in handler.headers.items()}
        body = gzip.decompress(wire) if headers.get("content-encoding") == "gzip" else wire
        received = Received(handler.command, handler.path, headers, wire, body, time.monotonic())
        with self.arrived:
            self.requests.append(received)
            self.arrived.notify_all()
        fault = self._next_fault()
        if isinstance(fault, Hang):
            self._released.wait()
            fault = Status(503)
        if isinstance(fault, Reset):
            if fault.after_store:
                self._store(received)
            handler.reset()
            return
        if isinstance(fault, Status):
            received.status = fault.status
            handler.answer(fault.status, fault.body, fault.headers)
            return
        if self.max_body is not None and len(body) > self.max_body:
            received.status = 413
            handler.answer(413, "request entity too large")
            return
        received.status = self.ok_status
        self._store(received)
        handler.answer(self.ok_status, "" if self.ok_status == 204 else '{"ok":true}')

    def _store(self, received: Received) -> None:
        records = parse_records(received.body)
        key = received.headers.get(self.dedupe_header.lower()) if self.dedupe_header else None
        with self._lock:
            if key is not None:
                if key in self._keys:
                    return
                self._keys.add(key)
            received.records = records
            self.records.extend(records)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    sink: SinkServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a connection the client or a fault closed: nothing to report


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms stall
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.sink._lock:
            self.server.sink._sockets.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        except (OSError, ValueError):  # the connection is already closed
            pass
        with self.server.sink._lock:
            self.server.sink._sockets.discard(self.connection)

    def do_POST(self) -> None:
        self.server.sink._handle(self)

    do_PUT = do_POST

    def answer(self, status: int, body: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def reset(self) -> None:
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def make_tls(directory: Path) -> tuple[ssl.SSLContext, Path]:
    """A server context for 127.0.0.1 signed by a fresh test CA, and the CA's PEM file."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    day = datetime.timedelta(days=1)

    def build(subject: str, issuer: str, key: Any, signer: Any, *, ca: bool) -> Any:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - day)
            .not_valid_after(now + day)
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), False
            )
        )
        if ca:
            usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
            builder = builder.add_extension(usage, critical=True)
        else:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            ).add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = build("http test CA", "http test CA", ca_key, ca_key, ca=True)
    cert = build("127.0.0.1", "http test CA", key, ca_key, ca=False)
    pem = serialization.Encoding.PEM
    ca_file, cert_file, key_file = (directory / n for n in ("ca.pem", "cert.pem", "key.pem"))
    ca_file.write_bytes(ca_cert.public_bytes(pem))
    cert_file.write_bytes(cert.public_bytes(pem))
    key_file.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context, ca_file
