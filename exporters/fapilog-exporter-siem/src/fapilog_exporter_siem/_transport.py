"""Connections to the receiver: TCP or TLS streams, and UDP datagrams."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ssl
from typing import TYPE_CHECKING

from fapilog.plugin import ConfigError

if TYPE_CHECKING:
    from fapilog_exporter_siem._options import SyslogOptions

__all__ = [
    "TLS_SETTLE_SECONDS",
    "ClientRefusedError",
    "PinMismatchError",
    "StreamConnection",
    "UdpConnection",
    "tls_context",
]


#: How long a new TLS connection waits for the receiver to refuse the client.
TLS_SETTLE_SECONDS = 0.2


class PinMismatchError(ssl.SSLError):
    """The receiver's certificate does not have the pinned SHA-256 fingerprint."""


class ClientRefusedError(ssl.SSLError):
    """The receiver closed the connection right after the TLS handshake."""


def tls_context(options: SyslogOptions) -> ssl.SSLContext:
    """Build the client TLS context: verification on unless ``verify`` is off.

    Raises:
        ConfigError: a CA file, client certificate or key cannot be loaded.
    """
    try:
        ctx = ssl.create_default_context(
            ssl.Purpose.SERVER_AUTH,
            cafile=str(options.ca_file) if options.ca_file is not None else None,
        )
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(
            f"FAPILOG_SYSLOG_CA_FILE / ca_file=: cannot load CA certificates from "
            f"{str(options.ca_file)!r} ({type(exc).__name__}); give a PEM file"
        ) from None
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if not options.verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if options.client_cert is not None and options.client_key is not None:
        password = options.client_key_password
        try:
            ctx.load_cert_chain(
                str(options.client_cert),
                str(options.client_key),
                password=password.get_secret_value() if password is not None else None,
            )
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(
                "FAPILOG_SYSLOG_CLIENT_CERT / FAPILOG_SYSLOG_CLIENT_KEY: cannot load the "
                f"client certificate and key ({type(exc).__name__}); check that they are "
                "PEM files that belong together and FAPILOG_SYSLOG_CLIENT_KEY_PASSWORD"
            ) from None
    return ctx


class StreamConnection:
    """One TCP or TLS connection; messages go out octet-counted (RFC 6587)."""

    __slots__ = ("_reader", "_writer", "records_written")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        #: Records of the last batch written on this connection (possibly in flight).
        self.records_written = 0

    @classmethod
    async def open(cls, options: SyslogOptions, context: ssl.SSLContext | None) -> StreamConnection:
        """Connect (and handshake, and check the pin) within the caller's timeout.

        Raises:
            OSError: the connection or TLS handshake failed (``ssl.SSLError`` is one;
                a pin mismatch is :class:`PinMismatchError`).
        """
        if context is None:
            reader, writer = await asyncio.open_connection(options.host, options.resolved_port)
        else:
            reader, writer = await asyncio.open_connection(
                options.host,
                options.resolved_port,
                ssl=context,
                server_hostname=options.server_name or options.host,
                ssl_handshake_timeout=options.timeout,
            )
        conn = cls(reader, writer)
        if context is not None:
            if options.cert_fingerprint is not None:
                conn._check_pin(options.cert_fingerprint)
            await conn._settle()
        return conn

    async def _settle(self) -> None:
        """Give the receiver a moment to refuse us after the handshake.

        In TLS 1.3 the client's handshake ends before the server has checked the
        client's certificate; a server that refuses it (or requires one) sends an
        alert and closes a round trip later. Written data would be lost without an
        error, so wait briefly for such an alert before writing anything.
        """
        try:
            data = await asyncio.wait_for(self._reader.read(1), TLS_SETTLE_SECONDS)
        except TimeoutError:
            return  # nothing came: the receiver kept the connection
        except (OSError, ssl.SSLError) as exc:
            self.abort()
            raise ClientRefusedError(
                "the receiver closed the TLS connection right after the handshake "
                f"({type(exc).__name__}: {exc}); does it require a client certificate "
                "(FAPILOG_SYSLOG_CLIENT_CERT / FAPILOG_SYSLOG_CLIENT_KEY)?"
            ) from None
        if not data:
            self.abort()
            raise ClientRefusedError(
                "the receiver closed the TLS connection right after the handshake; does "
                "it require a client certificate (FAPILOG_SYSLOG_CLIENT_CERT / "
                "FAPILOG_SYSLOG_CLIENT_KEY)?"
            )

    def _check_pin(self, expected: str) -> None:
        ssl_object = self._writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        actual = hashlib.sha256(der).hexdigest() if der else ""
        if not hmac.compare_digest(actual, expected):
            self.abort()
            raise PinMismatchError(
                "the receiver's certificate does not match FAPILOG_SYSLOG_CERT_FINGERPRINT "
                f"(its SHA-256 is {actual or 'unknown'})"
            )

    def usable(self) -> bool:
        """False once the receiver closed the connection or it failed."""
        if self._writer.is_closing():
            return False
        return not self._reader.at_eof() and self._reader.exception() is None

    def write(self, data: bytes) -> None:
        """Queue ``data`` for sending."""
        self._writer.write(data)

    async def drain(self) -> None:
        """Wait until the queued data is handed to the kernel.

        Raises:
            OSError: the connection broke.
        """
        if self._writer.is_closing():
            raise ConnectionResetError("the connection was closed")
        await self._writer.drain()

    def abort(self) -> None:
        """Drop the connection at once (its data may be lost, which the caller counts)."""
        transport = self._writer.transport
        try:
            transport.abort()
        except Exception:  # already gone
            pass

    async def close(self, timeout: float) -> None:
        """Close gracefully, waiting up to ``timeout`` for the data to go out."""
        try:
            self._writer.close()
            await asyncio.wait_for(self._writer.wait_closed(), timeout)
        except (OSError, TimeoutError, ssl.SSLError):
            self.abort()

    def forget(self) -> None:
        """Drop the references without touching the socket (after ``fork``)."""
        self._reader = None  # type: ignore[assignment]  # never used again
        self._writer = None  # type: ignore[assignment]  # never used again


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.errors = 0

    def error_received(self, exc: Exception) -> None:
        # E.g. an ICMP port unreachable from an earlier datagram: nobody listens.
        self.errors += 1


class UdpConnection:
    """A connected UDP socket; one message per datagram (RFC 5426)."""

    __slots__ = ("_protocol", "_transport")

    def __init__(self, transport: asyncio.DatagramTransport, protocol: _UdpProtocol) -> None:
        self._transport = transport
        self._protocol = protocol

    @classmethod
    async def open(cls, options: SyslogOptions) -> UdpConnection:
        """Create the socket.

        Raises:
            OSError: the address cannot be resolved or the socket not created.
        """
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(
            _UdpProtocol, remote_addr=(options.host, options.resolved_port)
        )
        return cls(transport, protocol)

    def usable(self) -> bool:
        """False once the socket was closed."""
        return not self._transport.is_closing()

    def send(self, data: bytes) -> None:
        """Send one datagram (errors show up later in :meth:`take_errors`)."""
        self._transport.sendto(data)

    def take_errors(self) -> int:
        """Socket errors reported since the last call."""
        errors, self._protocol.errors = self._protocol.errors, 0
        return errors

    def close(self) -> None:
        """Close the socket."""
        self._transport.close()

    def forget(self) -> None:
        """Drop the references without touching the socket (after ``fork``)."""
        self._transport = None  # type: ignore[assignment]  # never used again
