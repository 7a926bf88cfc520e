"""OTLP/gRPC log exporter: synchronous gRPC on daemon threads, safe across ``fork()``."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from typing import TYPE_CHECKING, Any

# First: importing _fork turns on gRPC's fork support while that is still possible.
from fapilog.exporters.otlp import _fork  # noqa: F401

# isort: split
import grpc

from fapilog._diagnostics import reporter
from fapilog._version import __version__
from fapilog.config import ConfigError
from fapilog.exporters._base import ExportResult
from fapilog.exporters._secret import SecretHeaders
from fapilog.exporters.otlp._config import OTLPExporterOptions
from fapilog.exporters.otlp._diagnose import Diagnoser, combine
from fapilog.exporters.otlp._exporter import Accepted, OTLPExporterBase
from fapilog.exporters.otlp._grpc_channel import (
    CHANNEL_OPTIONS,
    CallThreads,
    GrpcChannel,
    Interrupted,
)
from fapilog.exporters.otlp._status import retry_delay, status_from_metadata

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["OTLPGrpcExporter"]

#: Codes the OTLP specification lists as retryable (RESOURCE_EXHAUSTED is retryable
#: only when the server sends RetryInfo, i.e. it expects to recover).
_RETRYABLE = frozenset(
    {
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)

#: Details of an UNAVAILABLE that come from the connection rather than the server,
#: which a probe of the endpoint can explain.
_CONNECTION_ERROR = re.compile(
    r"failed to connect|Socket closed|Connection reset|recvmsg|handshake|"
    r"Failed parsing HTTP/2|http1\.x|WRONG_VERSION_NUMBER|End of TCP stream",
    re.IGNORECASE,
)


class OTLPGrpcExporter(OTLPExporterBase):
    """Sends log batches to an OTLP/gRPC endpoint (``LogsService/Export``).

    Calls are blocking calls of gRPC's synchronous API, made on daemon threads of the
    exporter's own (as many as ``max_concurrent_exports``), so that fapilog always
    knows whether it is inside gRPC's core: before every ``os.fork()`` the channel is
    closed (calls in flight end as retryable results, which the pipeline retries) and
    the child opens a channel of its own (see ``docs/fork-safety.md``). Each
    ``export`` makes one attempt per request and classifies the outcome per the OTLP
    specification; the pipeline retries.

    Args:
        options: resolved options; when omitted they are read from ``**kwargs`` over
            the ``OTEL_EXPORTER_OTLP_*`` environment (see
            :meth:`OTLPExporterOptions.from_env`).
        **kwargs: options, when ``options`` is not given.

    Raises:
        ConfigError: an option is invalid, or ``options.protocol`` is not ``grpc``.
        TypeError: both ``options`` and keyword arguments were given.
    """

    #: As in ``FAPILOG_EXPORTERS=otlp``, so stats and diagnostics match the config.
    name = "otlp"

    def __init__(self, options: OTLPExporterOptions | None = None, **kwargs: Any) -> None:
        if options is None:
            options = OTLPExporterOptions.from_env(**{"protocol": "grpc", **kwargs})
        elif kwargs:
            raise TypeError("pass either options or keyword arguments, not both")
        if options.protocol != "grpc":
            raise ConfigError(
                f"OTLPGrpcExporter needs protocol='grpc', got {options.protocol!r}; "
                "use OTLPHttpExporter (or OTLPExporter, which picks by protocol)"
            )
        super().__init__(options)
        self._diagnoser = Diagnoser(options)
        # Lower-case keys (as gRPC wants); the values stay wrapped until each call.
        self._metadata = SecretHeaders(options.headers)
        self._conn: GrpcChannel | None = None
        self._threads = CallThreads(self.name, self.max_concurrent_exports)
        self._path_reported = False
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def _channel(self) -> grpc.Channel | None:
        """The open gRPC channel, if any."""
        return None if self._conn is None else self._conn.channel

    def _connect(self) -> GrpcChannel:
        opts = self.options
        channel_options = [("grpc.primary_user_agent", f"fapilog/{__version__}"), *CHANNEL_OPTIONS]
        compression = grpc.Compression.Gzip if opts.compression == "gzip" else None
        credentials = None
        if opts.tls:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=_read(opts.certificate_file),
                private_key=_read(opts.client_key_file),
                certificate_chain=_read(opts.client_certificate_file),
            )
        conn = self._conn = GrpcChannel(opts.grpc_target, channel_options, credentials, compression)
        if (path := opts.grpc_path) and not self._path_reported:
            self._path_reported = True
            reporter.report(
                f"endpoint_path:{self.name}",
                f"exporter {self.name!r}: the gRPC endpoint {opts.display_endpoint} has the "
                f"path {path}, which gRPC ignores (it sends to {opts.grpc_target}); "
                "/v1/logs is the OTLP/HTTP path: for OTLP/HTTP set "
                "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf, else drop the path",
            )
        return conn

    async def start(self) -> None:
        """Start the call threads and open the channel now, not at the first export.

        Python 3.12 and later refuse to start threads once the interpreter exits; if
        the first export came then (a short script's only events, flushed at exit),
        there would be no thread to make the call on. Opening the channel here also
        reads the TLS files at pipeline start.
        """
        self._threads.start()
        conn = self._conn if self._conn is not None else self._connect()
        conn.open()

    async def _send(self, payload: bytes, timeout: float) -> Accepted | ExportResult:
        conn = self._conn
        if conn is None:
            try:
                conn = self._connect()
            except OSError as exc:
                return ExportResult.failure(f"cannot read a TLS file: {exc.strerror or exc}")
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop = loop
            self._diagnoser = Diagnoser(self.options)  # its shared probes belong to one loop
        started = loop.time()
        outcome = await self._threads.run(conn.call, payload, timeout, self._metadata.metadata())
        if isinstance(outcome, Interrupted):
            return ExportResult.retryable(outcome.reason)
        if isinstance(outcome, grpc.RpcError):
            result = self._classify(outcome)
            budget = timeout - (loop.time() - started)
            return await self._diagnosed(outcome, result, budget)
        self._diagnoser.forget()
        partial = outcome.partial_success
        return Accepted(partial.rejected_log_records, partial.error_message)

    async def _diagnosed(self, exc: Any, result: ExportResult, budget: float) -> ExportResult:
        """``result`` with what the failure means and how to fix it in front of its reason."""
        code: grpc.StatusCode = exc.code()
        error = f"{code.name}: {self.options.redact(str(exc.details() or ''))}"
        probe_ok = code is grpc.StatusCode.UNAVAILABLE and bool(_CONNECTION_ERROR.search(error))
        diagnosis = await self._diagnoser.explain(error, probe_ok=probe_ok, budget=budget)
        if not diagnosis:
            return result
        return dataclasses.replace(result, reason=combine(diagnosis, result.reason))

    def _classify(self, exc: Any) -> ExportResult:
        code: grpc.StatusCode = exc.code()
        details = self.options.redact(str(exc.details() or ""))
        reason = f"gRPC {code.name}" + (f": {details}" if details else "")
        delay = retry_delay(status_from_metadata(exc.trailing_metadata()))
        if code in _RETRYABLE or (code is grpc.StatusCode.RESOURCE_EXHAUSTED and delay is not None):
            return ExportResult.retryable(reason, retry_after=delay)
        return ExportResult.failure(reason)

    async def shutdown(self) -> None:
        """Close the channel, cancelling any call still in flight, and end the threads."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
        self._threads.close()

    def after_fork(self) -> None:
        """Forget the parent's channel and threads; the child opens its own on use.

        Nothing of the parent's is closed or touched: the fork hooks of
        :mod:`fapilog.exporters.otlp._fork` already made it idle before the fork.
        """
        # Dropped, not closed: in a child its channel is the parent's (closed by the
        # before-fork hook); a new GrpcChannel opens at the next start or export.
        self._conn = None
        self._threads.after_fork()
        self._progress.clear()
        self._diagnoser = Diagnoser(self.options)


def _read(path: Path | None) -> bytes | None:
    return None if path is None else path.read_bytes()
