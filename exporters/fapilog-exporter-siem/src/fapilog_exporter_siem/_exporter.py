"""The syslog exporter: RFC 5424 messages over TLS, TCP or UDP."""

from __future__ import annotations

import asyncio
import ssl
import threading
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from fapilog.plugin import BatchProgress, Exporter, ExportResult
from fapilog_exporter_siem._encode import MessageEncoder, frame
from fapilog_exporter_siem._options import SyslogOptions
from fapilog_exporter_siem._transport import (
    ClientRefusedError,
    PinMismatchError,
    StreamConnection,
    UdpConnection,
    tls_context,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from fapilog.plugin import LogEvent

__all__ = ["SyslogExporter", "SyslogStats"]

_DRAIN_EVERY = 64 * 1024  # bytes queued between waits for the socket
_CLOSE_TIMEOUT = 2.0


@dataclass(frozen=True, slots=True)
class SyslogStats:
    """What a :class:`SyslogExporter` did, beyond the pipeline's own counters."""

    messages_sent: int
    """Messages handed to the socket (retries included)."""
    bytes_sent: int
    """Bytes handed to the socket, framing included."""
    connects: int
    """Connections made (TCP/TLS) or sockets opened (UDP)."""
    connect_failures: int
    """Attempts to connect (or handshake) that failed."""
    possibly_duplicated: int
    """Records written on a connection that then broke, and sent again: the receiver
    may have them twice."""
    possibly_lost: int
    """Records of a batch that had been written on a connection the receiver closed
    before the next batch; TCP does not say whether the receiver processed them."""
    truncated: int
    """Messages shortened to ``max_message_bytes``."""
    unencodable: int
    """Events that could not be encoded at all (rejected, counted by the pipeline)."""
    udp_errors: int
    """Errors the UDP socket reported (e.g. ICMP port unreachable); the datagrams
    concerned were lost."""


class _Counters:
    """The running totals behind :class:`SyslogStats`; read from any thread."""

    __slots__ = ("_lock", "_values")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values = dict.fromkeys((f.name for f in fields(SyslogStats)), 0)

    def add(self, **amounts: int) -> None:
        with self._lock:
            for name, amount in amounts.items():
                self._values[name] += amount

    def snapshot(self) -> SyslogStats:
        with self._lock:
            return SyslogStats(**self._values)


class _Encoded(BatchProgress):
    """The messages of one batch, kept so a retry of the same batch re-encodes nothing."""

    __slots__ = ("messages", "rejected")

    def __init__(self, batch: Sequence[LogEvent], messages: list[bytes], rejected: int) -> None:
        super().__init__(batch)
        self.messages = messages
        self.rejected = rejected


class SyslogExporter(Exporter):
    """Sends log records to a syslog receiver or SIEM as RFC 5424 messages.

    Payload: RFC 5424 structured data + message, CEF or LEEF (``format``). Transport:
    TLS (RFC 5425, the default), TCP with octet-counting framing (RFC 6587) or UDP
    (RFC 5426). See ``docs/exporters/siem.md``.

    Delivery over TCP/TLS is at-least-once per batch: syslog has no application-level
    acknowledgement, so when a write fails the whole batch is reported retryable and
    sent again on a new connection, and the records already written on the broken
    connection are counted as :attr:`SyslogStats.possibly_duplicated`. UDP is
    fire-and-forget.

    Args:
        options: resolved options; when omitted they are read from ``**kwargs`` over
            the ``FAPILOG_SYSLOG_*`` environment variables.
        **kwargs: any :class:`SyslogOptions` field, when ``options`` is not given.

    Raises:
        ConfigError: an option is missing or invalid; the message names the argument
            or variable.
        TypeError: both ``options`` and keyword arguments were given.
    """

    api_version = "1.0"  # the fapilog.plugin API it is written for

    name = "syslog"

    def __init__(self, options: SyslogOptions | None = None, **kwargs: Any) -> None:
        if options is None:
            options = SyslogOptions.resolve(**kwargs)
        elif kwargs:
            raise TypeError("pass either options or keyword arguments, not both")
        self.options = options
        self._encoder = MessageEncoder(options)
        self._context = tls_context(options) if options.transport == "tls" else None
        self._counters = _Counters()
        self._stream: StreamConnection | None = None
        self._udp: UdpConnection | None = None
        self._encoded: _Encoded | None = None

    def __repr__(self) -> str:
        opts = self.options
        tls = ""
        if opts.transport == "tls":
            tls = f", verify={opts.verify}, pinned={opts.cert_fingerprint is not None}"
        return (
            f"{type(self).__name__}(address={opts.address!r}, transport={opts.transport!r}, "
            f"format={opts.format!r}{tls})"
        )

    def stats(self) -> SyslogStats:
        """A snapshot of this exporter's counters (thread-safe)."""
        return self._counters.snapshot()

    # -- export --------------------------------------------------------------------

    async def export(self, batch: Sequence[LogEvent]) -> ExportResult:
        """Send ``batch`` as one message per record.

        Args:
            batch: events in emission order; not mutated.

        Returns:
            success; ``partial`` when some events could not be encoded; retryable
            when the receiver cannot be reached or the connection broke (the same
            batch is then sent again whole, see the class docstring).
        """
        if not batch:
            return ExportResult.success()
        encoded = self._encoded
        if encoded is None or not encoded.is_for(batch):
            encoded = self._encode(batch)
        # Kept until a final outcome, so a retry does not encode (and count) again.
        self._encoded = encoded
        if self.options.transport == "udp":
            result = await self._send_udp(encoded.messages)
        else:
            result = await self._send_stream(encoded.messages)
        if result is not None:
            return result
        self._encoded = None
        if encoded.rejected:
            return ExportResult.partial(
                encoded.rejected, f"{encoded.rejected} record(s) could not be encoded"
            )
        return ExportResult.success()

    def _encode(self, batch: Sequence[LogEvent]) -> _Encoded:
        messages: list[bytes] = []
        rejected = truncated = 0
        stream = self.options.transport != "udp"
        for event in batch:
            try:
                item = self._encoder.encode(event)
            except Exception:  # one broken event must not cost the batch
                rejected += 1
                continue
            truncated += item.truncated
            messages.append(frame(item.data) if stream else item.data)
        self._counters.add(truncated=truncated, unencodable=rejected)
        return _Encoded(batch, messages, rejected)

    async def _send_stream(self, messages: list[bytes]) -> ExportResult | None:
        opts = self.options
        conn = self._stream
        if conn is not None and not conn.usable():
            # The receiver closed the connection since the last batch: whatever that
            # batch wrote may not have been processed.
            self._counters.add(possibly_lost=conn.records_written)
            conn.abort()
            conn = self._stream = None
        written = 0
        try:
            async with asyncio.timeout(opts.timeout):
                if conn is None:
                    try:
                        conn = await StreamConnection.open(opts, self._context)
                    except (OSError, TimeoutError) as exc:
                        self._counters.add(connect_failures=1)
                        return ExportResult.retryable(self._connect_reason(exc))
                    self._counters.add(connects=1)
                    self._stream = conn
                pending = 0
                nbytes = 0
                for data in messages:
                    conn.write(data)
                    written += 1
                    pending += len(data)
                    nbytes += len(data)
                    if pending >= _DRAIN_EVERY:
                        pending = 0
                        await conn.drain()
                await conn.drain()
        except asyncio.CancelledError:
            # Cancelled mid-write (the pipeline's own timeout, shutdown): the stream may
            # end inside a frame, so it cannot carry another message.
            if conn is not None:
                conn.abort()
            self._stream = None
            self._counters.add(possibly_duplicated=written)
            raise
        except (OSError, TimeoutError) as exc:
            if conn is None:  # the timeout struck while connecting
                self._counters.add(connect_failures=1)
                return ExportResult.retryable(self._connect_reason(exc))
            conn.abort()
            self._stream = None
            self._counters.add(possibly_duplicated=written)
            what = "timed out" if isinstance(exc, TimeoutError) else "broke"
            return ExportResult.retryable(
                f"connection to {opts.address} {what} after {written} of {len(messages)} "
                f"message(s) were written; the batch is sent again, so up to {written} "
                f"record(s) may arrive twice ({_describe(exc)})"
            )
        conn.records_written = len(messages)
        self._counters.add(messages_sent=len(messages), bytes_sent=nbytes)
        return None

    async def _send_udp(self, messages: list[bytes]) -> ExportResult | None:
        conn = self._udp
        if conn is None or not conn.usable():
            try:
                conn = self._udp = await UdpConnection.open(self.options)
            except OSError as exc:
                self._counters.add(connect_failures=1)
                return ExportResult.retryable(self._connect_reason(exc))
            self._counters.add(connects=1)
        for data in messages:
            conn.send(data)
        self._counters.add(
            messages_sent=len(messages),
            bytes_sent=sum(map(len, messages)),
            udp_errors=conn.take_errors(),
        )
        return None

    def _connect_reason(self, exc: BaseException) -> str:
        opts = self.options
        if isinstance(exc, (PinMismatchError, ClientRefusedError)):
            # SSLError's str() is the repr of its args; the message is the first.
            return SyslogOptions.safe_reason(str(exc.args[0]))
        if isinstance(exc, ssl.SSLCertVerificationError):
            return SyslogOptions.safe_reason(
                f"TLS certificate of {opts.address} refused: {exc.verify_message}; trust its "
                "CA with FAPILOG_SYSLOG_CA_FILE, check FAPILOG_SYSLOG_SERVER_NAME, or pin it "
                "with FAPILOG_SYSLOG_CERT_FINGERPRINT"
            )
        return f"cannot connect to {opts.address}: {_describe(exc)}"

    # -- lifecycle -----------------------------------------------------------------

    async def shutdown(self) -> None:
        """Close the connection, letting written data go out first (bounded)."""
        self._encoded = None
        if self._stream is not None:
            stream, self._stream = self._stream, None
            await stream.close(_CLOSE_TIMEOUT)
        if self._udp is not None:
            udp, self._udp = self._udp, None
            udp.close()

    def after_fork(self) -> None:
        """Forget the parent's connection (without closing it) and its batch."""
        if self._stream is not None:
            self._stream.forget()
        if self._udp is not None:
            self._udp.forget()
        self._stream = None
        self._udp = None
        self._encoded = None
        self._counters = _Counters()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timeout"
    text = str(exc) or type(exc).__name__
    return SyslogOptions.safe_reason(f"{type(exc).__name__}: {text}")
