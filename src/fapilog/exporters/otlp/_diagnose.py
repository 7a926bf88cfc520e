"""What went wrong with an OTLP endpoint, in words that name the fix.

A failed connection says little by itself: gRPC reports a TLS client talking to a
plain-text collector as ``Tls handshake failed ... WRONG_VERSION_NUMBER``, httpx a
plain-text client talking to a gRPC port as ``ReadError``. When an export fails that
way, the exporter asks :class:`Diagnoser` once (until the next success) what the
endpoint actually speaks: :func:`probe` opens a connection of its own, tries a TLS
handshake (without verifying the certificate; nothing is sent over it but a bare
``GET /``), and reads how the server answers an HTTP/1.1 request. The answer is turned
into a sentence such as "127.0.0.1:4317 does not speak TLS, but ... use
http://127.0.0.1:4317". Errors that are clear from their text (connection refused, a
certificate not trusted, an HTTP status from a non-gRPC server) are explained without a
probe. Diagnoses never contain header values or the endpoint's password: they are built
from the host, port and :attr:`~OTLPExporterOptions.display_endpoint` only.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import ssl
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from fapilog.exporters.otlp._config import OTLPExporterOptions

__all__ = ["Diagnoser", "Peer", "combine", "definitive", "explain", "probe"]

PROBE_TIMEOUT = 1.0
"""Seconds for each step of a probe (connect and handshake, then the HTTP answer)."""

GRPC_PORT_HINT = "the collector's OTLP/gRPC port (usually 4317)"
HTTP_PORT_HINT = "its OTLP/HTTP port (usually 4318) with the path /v1/logs"


@dataclass(frozen=True, slots=True)
class Peer:
    """What :func:`probe` learned about the server at an endpoint."""

    error: str = ""
    """Why no connection could be made (``"connection refused"``, ...); empty if one was."""
    tls: bool | None = None
    """Whether the server completed a TLS handshake (``None``: unknown)."""
    http: Literal["h1", "h2"] | None = None
    """How it answered an HTTP/1.1 request: with HTTP/1 (``h1``), with HTTP/2 frames
    only (``h2``, as a gRPC server does), or not at all (``None``)."""


_REQUEST = "GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"


async def probe(host: str, port: int, timeout: float = PROBE_TIMEOUT) -> Peer:
    """Find out whether ``host:port`` accepts connections, speaks TLS, and HTTP/1 or 2.

    Args:
        host: a host name or IP address (IPv6 without brackets).
        port: the TCP port.
        timeout: seconds allowed for each step.

    Returns:
        What was learned; never raises (except on cancellation).
    """
    try:
        http = await _exchange(host, port, _tls_context(["h2", "http/1.1"]), timeout)
        if http == "h2":
            # It chose HTTP/2; does it take HTTP/1.1 too, when that is all we offer?
            with contextlib.suppress(OSError, TimeoutError, asyncio.IncompleteReadError):
                if await _exchange(host, port, _tls_context(["http/1.1"]), timeout) == "h1":
                    http = "h1"
    except (ssl.SSLError, ConnectionResetError, asyncio.IncompleteReadError):
        pass  # it answered the TLS hello with something else, or hung up: not TLS
    except OSError as exc:
        return Peer(error=_os_error(exc))
    except TimeoutError:
        return Peer(error=f"no answer within {timeout:g}s")
    else:
        return Peer(tls=True, http=http)
    try:
        http = await _exchange(host, port, None, timeout)
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        http = None
    return Peer(tls=False, http=http)


def _tls_context(alpn: list[str]) -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # a probe: it only asks whether TLS is spoken
    context.set_alpn_protocols(alpn)
    return context


async def _exchange(
    host: str, port: int, context: ssl.SSLContext | None, timeout: float
) -> Literal["h1", "h2"] | None:
    """Connect (over TLS with ``context``), send a bare HTTP/1.1 request, classify the answer.

    ``h2`` when TLS negotiated HTTP/2 or the answer is an HTTP/2 frame, ``h1`` when it
    is an HTTP/1 status line, else ``None``.
    """
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(
            host, port, ssl=context, server_hostname=host if context is not None else None
        ),
        timeout,
    )
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        if ssl_object is not None and ssl_object.selected_alpn_protocol() == "h2":
            return "h2"
        writer.write(_REQUEST.format(host=host).encode("ascii", "replace"))
        try:
            answer = await asyncio.wait_for(reader.read(16), timeout)
        except (OSError, TimeoutError):
            return None
        if answer.startswith(b"HTTP/"):
            return "h1"
        # An HTTP/2 frame header: 3 bytes of length, then the type (4: SETTINGS, 7: GOAWAY).
        if len(answer) >= 4 and answer[3] in (4, 7):
            return "h2"
        return None
    finally:
        # Aborted, not closed: a TLS close waits (up to 30 s) for the peer's close_notify.
        writer.transport.abort()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), timeout)


def _os_error(exc: OSError) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "the host name does not resolve"
    return (exc.strerror or type(exc).__name__).lower()


# -- explaining ----------------------------------------------------------------------

_REFUSED = re.compile(r"connection refused|ECONNREFUSED", re.IGNORECASE)
_DNS = re.compile(
    r"DNS resolution failed|Name or service not known|nodename nor servname|"
    r"Temporary failure in name resolution|getaddrinfo failed|errors resolving|"
    r"address lookup failed|Domain name not found",
    re.IGNORECASE,
)
_UNTRUSTED = re.compile(r"CERTIFICATE_VERIFY_FAILED|certificate verify failed", re.IGNORECASE)
_HTTP_ANSWER = re.compile(r"Received http2 header with status: (\d+)")
_HTTP1_SERVER = re.compile(r"http1\.x server|Expected SETTINGS frame|Failed parsing HTTP/2")
_NOT_TLS = re.compile(r"WRONG_VERSION_NUMBER|wrong version number|record layer failure")


def definitive(error: str) -> bool:
    """Whether ``error`` says what is wrong by itself, so a probe would add nothing."""
    return any(
        pattern.search(error) for pattern in (_REFUSED, _DNS, _UNTRUSTED, _HTTP_ANSWER)
    ) or error.startswith(("HTTP 404", "HTTP 405", "HTTP 415"))


def explain(options: OTLPExporterOptions, error: str, peer: Peer | None = None) -> str:
    """Say what ``error`` (the text of a failed attempt) means, naming the fix.

    Args:
        options: the exporter's options (protocol, endpoint, TLS).
        error: the failure's text: gRPC status details, an httpx error, ``HTTP 404``.
        peer: what a :func:`probe` of the endpoint found, if one was made.

    Returns:
        A sentence with the fix, or ``""`` when nothing better than ``error`` is known.
    """
    grpc = options.protocol == "grpc"
    where = _host_port(options)
    if _REFUSED.search(error) or (peer is not None and peer.error == "connection refused"):
        return (
            f"nothing accepts connections at {where} (connection refused): is the "
            f"collector running, and listening there? ({_source(options)})"
        )
    if _DNS.search(error) or (peer is not None and "resolve" in peer.error):
        host = where.rpartition(":")[0]
        return f"the host name {host!r} does not resolve: check it ({_source(options)})"
    if _UNTRUSTED.search(error):
        return (
            f"the TLS certificate of {where} is not trusted: set "
            "OTEL_EXPORTER_OTLP_CERTIFICATE (certificate_file=) to the PEM file of the CA "
            "that signed it"
        )
    if grpc:
        return _explain_grpc(options, where, error, peer)
    return _explain_http(options, where, error, peer)


def _explain_grpc(options: OTLPExporterOptions, where: str, error: str, peer: Peer | None) -> str:
    path = options.grpc_path
    path_note = (
        f" (the path {path} of the endpoint is ignored by gRPC; /v1/logs is the OTLP/HTTP path)"
        if path
        else ""
    )
    to_http = (
        f"point the endpoint at {GRPC_PORT_HINT}, or set "
        "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf to send OTLP/HTTP"
    )
    if match := _HTTP_ANSWER.search(error):
        return (
            f"{where} answered the gRPC call with HTTP status {match.group(1)}: it is an "
            f"HTTP server, not OTLP/gRPC, probably the OTLP/HTTP port{path_note}; {to_http}"
        )
    if peer is not None and peer.tls is not None:
        if options.tls and not peer.tls:
            if peer.http == "h1":
                return (
                    f"{where} speaks plain-text HTTP/1.1, not TLS nor gRPC: it is probably "
                    f"an OTLP/HTTP port{path_note}; {to_http}"
                )
            return _tls_to_plain(options, where)
        if not options.tls and peer.tls:
            return (
                f"{where} expects TLS, but the endpoint {options.display_endpoint} is "
                f"plain text (http://): write https://{where}"
            )
        if peer.http == "h1":
            return (
                f"{where} speaks HTTP/1.1, not gRPC: it is probably an OTLP/HTTP "
                f"port{path_note}; {to_http}"
            )
    if _HTTP1_SERVER.search(error):
        return (
            f"{where} is not an HTTP/2 server, so not OTLP/gRPC: it is probably an "
            f"OTLP/HTTP port{path_note}; {to_http}"
        )
    if options.tls and _NOT_TLS.search(error):
        return _tls_to_plain(options, where)
    if "UNIMPLEMENTED" in error:
        return (
            f"{where} does not implement the OTLP logs service: check that it is an OTLP "
            "receiver with logs enabled"
        )
    return ""


def _tls_to_plain(options: OTLPExporterOptions, where: str) -> str:
    if "://" in options.endpoint:
        why = "is https://"
        fix = f"write http://{where} for plain text"
    else:
        why = "has no scheme, which means TLS unless OTEL_EXPORTER_OTLP_INSECURE=true"
        fix = (
            f"write http://{where} for plain text (or set OTEL_EXPORTER_OTLP_INSECURE=true, "
            "insecure=True)"
        )
    return (
        f"{where} does not speak TLS, but the endpoint {options.display_endpoint} {why} "
        f"({_source(options)}); {fix}"
    )


def _explain_http(options: OTLPExporterOptions, where: str, error: str, peer: Peer | None) -> str:
    to_grpc = (
        f"point the endpoint at {HTTP_PORT_HINT}, or set OTEL_EXPORTER_OTLP_PROTOCOL=grpc "
        "to send OTLP/gRPC"
    )
    if error.startswith(("HTTP 404", "HTTP 405")):
        path = urlsplit(options.endpoint).path or "/"
        return (
            f"{options.display_endpoint} answered {error.split(':')[0]}: the collector takes "
            f"OTLP/HTTP logs at the path /v1/logs (this endpoint's path is {path}); "
            "OTEL_EXPORTER_OTLP_ENDPOINT is a base URL (fapilog appends /v1/logs), while "
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT and endpoint= are used as is"
        )
    if error.startswith("HTTP 415"):
        return (
            f"{options.display_endpoint} does not take application/x-protobuf: check that "
            f"it is an OTLP/HTTP logs endpoint, i.e. {HTTP_PORT_HINT}"
        )
    if peer is not None and peer.tls is not None:
        if options.tls and not peer.tls:
            grpc_note = (
                f"; it answers only HTTP/2, so it is probably an OTLP/gRPC port: {to_grpc}"
                if peer.http == "h2"
                else ""
            )
            return (
                f"{where} does not speak TLS, but the endpoint {options.display_endpoint} is "
                f"https:// ({_source(options)}); write http://{where} for plain "
                f"text{grpc_note}"
            )
        if not options.tls and peer.tls:
            return (
                f"{where} expects TLS, but the endpoint {options.display_endpoint} is "
                f"plain text (http://): write https://{where}"
            )
        if peer.http == "h2":
            return (
                f"{where} answers only HTTP/2, as a gRPC server does: it is "
                f"probably an OTLP/gRPC port; {to_grpc}"
            )
    if options.tls and _NOT_TLS.search(error):
        return (
            f"{where} does not speak TLS, but the endpoint {options.display_endpoint} is "
            f"https:// ({_source(options)}); write http://{where} for plain text"
        )
    return ""


def _host_port(options: OTLPExporterOptions) -> str:
    if options.protocol == "grpc":
        target = options.grpc_target
        return target if ":" in target.rpartition("]")[2] else f"{target}:443"
    parts = urlsplit(options.endpoint)
    host = parts.netloc.rpartition("@")[2]
    if ":" in host.rpartition("]")[2]:
        return host
    return f"{host}:{443 if parts.scheme.lower() == 'https' else 80}"


def _source(options: OTLPExporterOptions) -> str:
    source = options.endpoint_source
    if source == "default":
        return "the default endpoint"
    if source == "endpoint=":
        return "set by endpoint="
    return f"set by {source}"


def split_host_port(where: str) -> tuple[str, int]:
    """``"host:port"`` (IPv6 in brackets) as ``(host, port)``, brackets removed."""
    host, _, port = where.rpartition(":")
    return host.strip("[]"), int(port)


def proxied(host: str) -> bool:
    """True when a proxy variable applies to ``host`` (a probe would bypass the proxy)."""
    proxies = urllib.request.getproxies_environment()
    names = ("https", "http", "all", "grpc")
    if not any(proxies.get(name) for name in names):
        return False
    return not urllib.request.proxy_bypass(host)


class Diagnoser:
    """Explains an exporter's failures, probing the endpoint at most once per cause.

    The explanation of a failure is kept until :meth:`forget` (called on the next
    success), so a collector that stays down is probed once, not on every retry;
    concurrent exports that fail the same way share one probe.

    Args:
        options: the exporter's options.
    """

    def __init__(self, options: OTLPExporterOptions) -> None:
        self.options = options
        self._known: dict[str, asyncio.Future[str]] = {}

    async def explain(self, error: str, *, probe_ok: bool, budget: float) -> str:
        """The diagnosis of ``error`` (``""`` if none), probing if ``probe_ok``.

        Args:
            error: the failure's text (already secret-free).
            probe_ok: whether the failure is one a probe can clarify (a connection or
                protocol error, not an answer from the server).
            budget: seconds the caller can spare; the probe gets at most this much.

        Returns:
            A sentence naming the fix, or ``""``.
        """
        key = re.sub(r"\d+", "#", error)[:200]
        known = self._known.get(key)
        if known is not None:
            try:
                return await asyncio.shield(known)
            except asyncio.CancelledError:
                if known.cancelled():  # the export that was probing got cancelled
                    return ""
                raise
        where = _host_port(self.options)
        host, port = split_host_port(where)
        if proxied(host):
            # The connection went through a proxy: the error may be the proxy's, and
            # a direct probe would test another path. Say nothing rather than mislead.
            return ""
        if not probe_ok or budget <= 0 or definitive(error):
            return explain(self.options, error)
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._known[key] = future
        try:
            peer = await probe(host, port, min(PROBE_TIMEOUT, budget / 2))
            text = explain(self.options, error, peer)
        except BaseException:
            del self._known[key]
            future.cancel()
            raise
        future.set_result(text)
        return text

    def forget(self) -> None:
        """Drop what was learned (the endpoint works, or may have changed)."""
        if self._known:
            self._known.clear()


def combine(diagnosis: str, reason: str, limit: int = 160) -> str:
    """``diagnosis`` followed by the raw ``reason`` (cut to ``limit``) in parentheses."""
    if not diagnosis:
        return reason
    if len(reason) > limit:
        reason = reason[: limit - 1] + "…"
    return f"{diagnosis} ({reason})"
