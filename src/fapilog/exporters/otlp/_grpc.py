"""OTLP/gRPC log exporter on ``grpc.aio``."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

from fapilog._diagnostics import reporter
from fapilog._version import __version__
from fapilog.config import ConfigError
from fapilog.exporters._base import ExportResult
from fapilog.exporters._secret import SecretHeaders
from fapilog.exporters.otlp._config import OTLPExporterOptions
from fapilog.exporters.otlp._diagnose import Diagnoser, combine
from fapilog.exporters.otlp._exporter import Accepted, OTLPExporterBase
from fapilog.exporters.otlp._status import retry_delay, status_from_metadata

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["OTLPGrpcExporter"]

_EXPORT_METHOD = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"

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

    The channel is opened lazily, on the event loop of the first export (the
    pipeline's worker loop). Each ``export`` makes one attempt per request and
    classifies the outcome per the OTLP specification; the pipeline retries.

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
        self._channel: Any = None
        self._stub: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Channels abandoned in a forked child: kept referenced so their finaliser
        # never runs there and touches the connection the parent still uses.
        self._orphans: list[Any] = []

    def _connect(self) -> Any:
        opts = self.options
        channel_options = [("grpc.primary_user_agent", f"fapilog/{__version__}")]
        compression = grpc.Compression.Gzip if opts.compression == "gzip" else None
        if opts.tls:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=_read(opts.certificate_file),
                private_key=_read(opts.client_key_file),
                certificate_chain=_read(opts.client_certificate_file),
            )
            channel = grpc.aio.secure_channel(
                opts.grpc_target, credentials, channel_options, compression
            )
        else:
            channel = grpc.aio.insecure_channel(opts.grpc_target, channel_options, compression)
        self._channel = channel
        self._loop = asyncio.get_running_loop()
        self._diagnoser = Diagnoser(opts)  # its shared probes belong to one loop
        if path := opts.grpc_path:
            reporter.report(
                f"endpoint_path:{self.name}",
                f"exporter {self.name!r}: the gRPC endpoint {opts.display_endpoint} has the "
                f"path {path}, which gRPC ignores (it sends to {opts.grpc_target}); "
                "/v1/logs is the OTLP/HTTP path: for OTLP/HTTP set "
                "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf, else drop the path",
            )
        # The request is already serialised (see _wire.py): no request serialiser.
        self._stub = channel.unary_unary(
            _EXPORT_METHOD, response_deserializer=ExportLogsServiceResponse.FromString
        )
        return self._stub

    async def start(self) -> None:
        """Open the channel on the pipeline's loop now, not at the first export.

        grpc.aio starts its poller thread with the first channel; if that came at
        interpreter exit (a short script's only events, flushed then), Python 3.12+
        would refuse the thread and the process crashed in gRPC's core.
        """
        if self._stub is None or self._loop is not asyncio.get_running_loop():
            self._connect()

    async def _send(self, payload: bytes, timeout: float) -> Accepted | ExportResult:
        stub = self._stub
        if stub is None or self._loop is not asyncio.get_running_loop():
            try:
                stub = self._connect()
            except OSError as exc:
                return ExportResult.failure(f"cannot read a TLS file: {exc.strerror or exc}")
        started = asyncio.get_running_loop().time()
        try:
            response: ExportLogsServiceResponse = await stub(
                payload, timeout=timeout, metadata=self._metadata.metadata()
            )
        except grpc.aio.AioRpcError as exc:
            result = self._classify(exc)
            budget = timeout - (asyncio.get_running_loop().time() - started)
            return await self._diagnosed(exc, result, budget)
        self._diagnoser.forget()
        partial = response.partial_success
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
        """Close the channel, cancelling any call still in flight."""
        channel, loop = self._channel, self._loop
        self._channel = self._stub = self._loop = None
        if channel is not None and loop is asyncio.get_running_loop():
            await channel.close()

    def after_fork(self) -> None:
        """Forget the parent's channel; the next export opens a new one."""
        if self._channel is not None:
            self._orphans.append(self._channel)
        self._channel = self._stub = self._loop = None
        self._progress.clear()
        self._diagnoser = Diagnoser(self.options)


def _read(path: Path | None) -> bytes | None:
    return None if path is None else path.read_bytes()
