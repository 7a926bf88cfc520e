"""A protocol-faithful fake Splunk HTTP Event Collector for tests.

Real HTTP/1.1 on 127.0.0.1 (optionally TLS), served by ``asyncio.start_server`` on a
thread of its own, so both async tests and a :class:`fapilog.Pipeline` (which exports
from its worker thread) can talk to it. It mirrors Splunk's documented HEC answers:

====  ====  ====================================  ===================================
HTTP  code  text                                  when
====  ====  ====================================  ===================================
200   0     Success                               accepted (``ackId`` with ack on)
403   1     Token disabled                        a disabled token
401   2     Token is required                     no ``Authorization`` header
401   3     Invalid authorization                 not ``Splunk <token>``
403   4     Invalid token                         an unknown token
400   5     No data                               empty body
400   6     Invalid data format                   not JSON objects, bad ``time``, bad gzip
400   7     Incorrect index                       index not in the token's allow-list
503   9     Server is busy                        scripted (:class:`Busy`)
400   10    Data channel is missing               ack token or raw endpoint, no channel
400   11    Invalid data channel                  not a GUID; unknown channel on /ack
400   12    Event field is required               envelope without ``event``
400   13    Event field cannot be blank           ``event`` is ``""``
400   14    ACK is disabled                       /ack with a token without ack
400   15    Error in handling indexed fields      a ``fields`` value that is an object
====  ====  ====================================  ===================================

Requests are validated as a whole: one bad envelope rejects the request, and
``invalid-event-number`` names it. Faults are scripted per endpoint kind
(``"data"`` for event and raw, ``"ack"``) and consumed in order.
"""

from __future__ import annotations

import asyncio
import datetime
import gzip
import ipaddress
import json
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

TOKEN = "5f0d3c8e-6a2b-4c1d-9e7f-0a1b2c3d4e5f"
ACK_TOKEN = "a6c1e0b2-3d4f-4a5b-8c6d-7e8f9a0b1c2d"

_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
            404: "Not Found", 405: "Method Not Allowed", 413: "Payload Too Large",
            429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}  # fmt: skip


# -- scripted faults ------------------------------------------------------------------


@dataclass(frozen=True)
class Busy:
    """503, HEC code 9 "Server is busy", with an optional ``Retry-After``."""

    retry_after: str | None = None


@dataclass(frozen=True)
class TooMany:
    """429 from a rate limiter in front of HEC, with an optional ``Retry-After``."""

    retry_after: str | None = None


@dataclass(frozen=True)
class Status:
    """Any status with a HEC JSON body ``{"text": text, "code": code}``."""

    status: int
    code: int | None = None
    text: str = ""
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Drop:
    """Close the connection without answering."""


@dataclass(frozen=True)
class Pass:
    """Answer this request normally (to script a fault for a later one)."""


Fault = Busy | TooMany | Status | Drop | Pass


# -- what the server saw --------------------------------------------------------------


@dataclass
class Received:
    """One HTTP request as received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    wire_body: bytes
    """The body exactly as sent (possibly gzip-compressed)."""
    body: bytes
    """The body after ``Content-Encoding`` was undone."""
    received_at: float
    status: int = 0
    answer: dict[str, Any] = field(default_factory=dict)


@dataclass
class TokenConfig:
    """How the server treats one token."""

    ack: bool = False
    indexes: frozenset[str] | None = None
    """Allowed indexes; None allows any."""
    disabled: bool = False


class HECServer:
    """The fake HEC. Use as a context manager; :attr:`url` is the base URL.

    Args:
        tokens: token -> configuration; by default :data:`TOKEN` (no ack) and
            :data:`ACK_TOKEN` (ack on), both allowing indexes ``main`` and ``logs``.
        ssl_context: serve HTTPS with this context.
        ack_mode: ``"immediate"`` (acks turn true on their own), ``"manual"`` (true
            after :meth:`release_acks`) or ``"never"``.
        ack_lag: with ``"immediate"``, how many polls answer false before an ack
            turns true.
    """

    def __init__(
        self,
        *,
        tokens: dict[str, TokenConfig] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        ack_mode: str = "immediate",
        ack_lag: int = 0,
    ) -> None:
        indexes = frozenset({"main", "logs"})
        self.tokens = tokens or {
            TOKEN: TokenConfig(indexes=indexes),
            ACK_TOKEN: TokenConfig(ack=True, indexes=indexes),
        }
        self.ssl_context = ssl_context
        self.ack_mode = ack_mode
        self.ack_lag = ack_lag
        self.requests: list[Received] = []
        self.events: list[dict[str, Any]] = []
        """Accepted event envelopes, in order."""
        self.raw: list[tuple[dict[str, str], bytes]] = []
        """Accepted raw lines with the query parameters of their request."""
        self.port = 0
        self._faults: dict[str, list[Fault]] = {"data": [], "ack": []}
        self._channels: dict[str, dict[int, int]] = {}  # channel -> ackId -> polls to go
        self._next_ack: dict[str, int] = {}
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    # -- lifecycle --------------------------------------------------------------------

    def __enter__(self) -> HECServer:
        self._thread.start()
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(5)

    def start(self) -> None:
        """Listen (again, on the same port after :meth:`stop`)."""
        self._call(self._start())

    def stop(self) -> None:
        """Stop listening and close every open connection (the server is "down")."""
        self._call(self._stop())

    async def _start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", self.port, ssl=self.ssl_context, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            await self._server.wait_closed()
            self._server = None

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    # -- scripting --------------------------------------------------------------------

    def script(self, faults: list[Fault], kind: str = "data") -> None:
        """Answer the next requests of ``kind`` (``"data"`` or ``"ack"``) with ``faults``."""
        with self._lock:
            self._faults[kind].extend(faults)

    def release_acks(self) -> None:
        """Mark every ackId issued so far as indexed (for ``ack_mode="manual"``)."""
        with self._lock:
            for acks in self._channels.values():
                for ack_id in acks:
                    acks[ack_id] = 0

    def forget_channels(self) -> None:
        """Forget every channel and its acks, as HEC does after a channel idles out."""
        with self._lock:
            self._channels.clear()
            self._next_ack.clear()

    def data_requests(self) -> list[Received]:
        """Requests to the event and raw endpoints, in order."""
        return [r for r in self.requests if not r.path.endswith("/ack")]

    def ack_requests(self) -> list[Received]:
        """Requests to the ack endpoint, in order."""
        return [r for r in self.requests if r.path.endswith("/ack")]

    # -- HTTP -------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _version = lines[0].split(" ", 2)
                headers: dict[str, str] = {}
                for line in lines[1:]:
                    if line:
                        key, _, value = line.partition(":")
                        headers[key.strip().lower()] = value.strip()
                if headers.get("transfer-encoding", "").lower() == "chunked":
                    wire = await _read_chunked(reader)
                else:
                    length = int(headers.get("content-length", "0"))
                    wire = await reader.readexactly(length) if length else b""
                parts = urlsplit(target)
                received = Received(
                    method=method,
                    path=parts.path,
                    query=dict(parse_qsl(parts.query)),
                    headers=headers,
                    wire_body=wire,
                    body=wire,
                    received_at=time.monotonic(),
                )
                with self._lock:
                    self.requests.append(received)
                answer = self._handle(received)
                if answer is None:  # Drop
                    return
                status, body, extra = answer
                received.status, received.answer = status, body
                payload = json.dumps(body).encode()
                out = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}",
                       "Content-Type: application/json; charset=UTF-8",
                       f"Content-Length: {len(payload)}"]  # fmt: skip
                out.extend(f"{k}: {v}" for k, v in extra)
                close = headers.get("connection", "").lower() == "close"
                if close:
                    out.append("Connection: close")
                writer.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + payload)
                await writer.drain()
                if close:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()

    # -- HEC semantics ----------------------------------------------------------------

    def _handle(self, req: Received) -> tuple[int, dict[str, Any], list[tuple[str, str]]] | None:
        kind = {
            "/services/collector": "event",
            "/services/collector/event": "event",
            "/services/collector/event/1.0": "event",
            "/services/collector/raw": "raw",
            "/services/collector/raw/1.0": "raw",
            "/services/collector/ack": "ack",
        }.get(req.path.rstrip("/"))
        if kind is None:
            return 404, {"text": "The requested URL was not found on this server.", "code": 404}, []
        if req.method != "POST":
            return 405, {"text": "Method Not Allowed", "code": 405}, []
        bad_gzip = False
        if req.headers.get("content-encoding", "").lower() == "gzip":
            try:  # decoded first, so even a scripted fault records what was sent
                req.body = gzip.decompress(req.wire_body)
            except (OSError, EOFError):
                bad_gzip = True
        with self._lock:
            queue = self._faults["ack" if kind == "ack" else "data"]
            fault = queue.pop(0) if queue else None
        if fault is not None and not isinstance(fault, Pass):
            return _fault_answer(fault)

        auth = req.headers.get("authorization")
        if auth is None:
            return _hec(401, 2, "Token is required")
        scheme, _, token = auth.partition(" ")
        if scheme != "Splunk" or not token:
            return _hec(401, 3, "Invalid authorization")
        config = self.tokens.get(token)
        if config is None:
            return _hec(403, 4, "Invalid token")
        if config.disabled:
            return _hec(403, 1, "Token disabled")

        if bad_gzip:
            return _hec(400, 6, "Invalid data format")

        channel = req.headers.get("x-splunk-request-channel") or req.query.get("channel")
        if channel is not None:
            try:
                uuid.UUID(channel)
            except ValueError:
                return _hec(400, 11, "Invalid data channel")
        if kind == "ack":
            return self._ack(req, config, channel)
        if channel is None and (config.ack or kind == "raw"):
            return _hec(400, 10, "Data channel is missing")
        if not req.body.strip():
            return _hec(400, 5, "No data")
        answer = self._raw(req, config) if kind == "raw" else self._event(req, config)
        if answer is not None:
            return answer
        body: dict[str, Any] = {"text": "Success", "code": 0}
        if config.ack and channel is not None:
            with self._lock:
                acks = self._channels.setdefault(channel, {})
                ack_id = self._next_ack.get(channel, 0)
                self._next_ack[channel] = ack_id + 1
                acks[ack_id] = self.ack_lag if self.ack_mode == "immediate" else -1
            body["ackId"] = ack_id
        return 200, body, []

    def _event(
        self, req: Received, config: TokenConfig
    ) -> tuple[int, dict[str, Any], list[tuple[str, str]]] | None:
        decoder = json.JSONDecoder()
        try:
            text = req.body.decode("utf-8")
        except UnicodeDecodeError:
            return _hec(400, 6, "Invalid data format", 0)
        envelopes: list[dict[str, Any]] = []
        position = 0
        while True:
            while position < len(text) and text[position] in " \t\r\n":
                position += 1
            if position >= len(text):
                break
            number = len(envelopes)
            try:
                value, position = decoder.raw_decode(text, position)
            except json.JSONDecodeError:
                return _hec(400, 6, "Invalid data format", number)
            if not isinstance(value, dict):
                return _hec(400, 6, "Invalid data format", number)
            if "event" not in value or value["event"] is None:
                return _hec(400, 12, "Event field is required", number)
            if isinstance(value["event"], str) and not value["event"].strip():
                return _hec(400, 13, "Event field cannot be blank", number)
            stamp = value.get("time")
            if stamp is not None and not _is_number(stamp):
                return _hec(400, 6, "Invalid data format", number)
            index = value.get("index")
            if index is not None and config.indexes is not None and index not in config.indexes:
                return _hec(400, 7, "Incorrect index", number)
            fields = value.get("fields", {})
            if not isinstance(fields, dict) or not all(
                isinstance(v, (str, int, float))
                or (isinstance(v, list) and all(isinstance(i, str) for i in v))
                for v in fields.values()
            ):
                return _hec(400, 15, "Error in handling indexed fields", number)
            envelopes.append(value)
        with self._lock:
            self.events.extend(envelopes)
        return None

    def _raw(
        self, req: Received, config: TokenConfig
    ) -> tuple[int, dict[str, Any], list[tuple[str, str]]] | None:
        index = req.query.get("index")
        if index is not None and config.indexes is not None and index not in config.indexes:
            return _hec(400, 7, "Incorrect index")
        lines = [line for line in req.body.split(b"\n") if line.strip()]
        with self._lock:
            self.raw.extend((req.query, line) for line in lines)
        return None

    def _ack(
        self, req: Received, config: TokenConfig, channel: str | None
    ) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        if not config.ack:
            return _hec(400, 14, "ACK is disabled")
        if channel is None:
            return _hec(400, 10, "Data channel is missing")
        try:
            asked = json.loads(req.body)["acks"]
            ids = [int(i) for i in asked]
        except (ValueError, KeyError, TypeError):
            return _hec(400, 6, "Invalid data format")
        with self._lock:
            acks = self._channels.get(channel)
            if acks is None:
                return _hec(400, 11, "Invalid data channel")
            result = {}
            for ack_id in ids:
                to_go = acks.get(ack_id)
                done = to_go == 0
                result[str(ack_id)] = done
                if done:  # HEC forgets an ack once it has reported it true
                    del acks[ack_id]
                elif to_go is not None and to_go > 0:
                    acks[ack_id] = to_go - 1
        return 200, {"acks": result}, []


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                pass
            return bytes(body)
        body += await reader.readexactly(size)
        await reader.readexactly(2)


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return False
        return True
    return False


def _hec(
    status: int, code: int, text: str, invalid_event: int | None = None
) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
    body: dict[str, Any] = {"text": text, "code": code}
    if invalid_event is not None:
        body["invalid-event-number"] = invalid_event
    return status, body, []


def _fault_answer(fault: Fault) -> tuple[int, dict[str, Any], list[tuple[str, str]]] | None:
    if isinstance(fault, Drop | Pass):
        return None
    if isinstance(fault, Busy):
        status, body = _hec(503, 9, "Server is busy")[:2]
        return status, body, [("Retry-After", fault.retry_after)] if fault.retry_after else []
    if isinstance(fault, TooMany):
        headers = [("Retry-After", fault.retry_after)] if fault.retry_after else []
        return 429, {"text": "Too Many Requests"}, headers
    body = {"text": fault.text} | ({"code": fault.code} if fault.code is not None else {})
    return fault.status, body, list(fault.headers)


# -- TLS material ---------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    """A CA and a server certificate signed by it."""

    ca: Path
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context


def make_pki(directory: Path, *, san: str = "127.0.0.1", self_signed: bool = False) -> Pki:
    """Generate a CA and a server certificate for ``san`` (an IP or a DNS name).

    With ``self_signed`` the server certificate signs itself, and ``ca`` is that
    certificate too (what a default Splunk install serves, in spirit).
    """
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "splunk test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
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
    try:
        name: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(san))
    except ValueError:
        name = x509.DNSName(san)
    key = ec.generate_private_key(ec.SECP256R1())
    leaf_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "splunk")])
    if self_signed:
        ca_key, ca_name = key, leaf_name
    cert = (
        x509.CertificateBuilder()
        .subject_name(leaf_name)
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([name]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    if self_signed:
        ca_cert = cert
    (directory / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    (directory / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "server.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Pki(ca=directory / "ca.pem", cert=directory / "server.pem", key=directory / "server.key")
