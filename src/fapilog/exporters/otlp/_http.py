"""OTLP/HTTP (binary protobuf) log exporter on ``httpx.AsyncClient``."""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import importlib
import ssl
from typing import TYPE_CHECKING, Any

import httpx
from google.protobuf.message import DecodeError  # type: ignore[import-untyped]  # no stubs
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

from fapilog._version import __version__
from fapilog.config import ConfigError
from fapilog.exporters._base import ExportResult
from fapilog.exporters._http_util import parse_retry_after
from fapilog.exporters._secret import SecretHeaders
from fapilog.exporters.otlp._config import OTLPExporterOptions
from fapilog.exporters.otlp._diagnose import Diagnoser, combine
from fapilog.exporters.otlp._exporter import Accepted, OTLPExporterBase
from fapilog.exporters.otlp._status import decode_status

if TYPE_CHECKING:
    from pydantic import SecretStr

__all__ = ["OTLPHttpExporter"]

#: Statuses the OTLP specification lists as retryable.
_RETRYABLE = frozenset({429, 502, 503, 504})
_GZIP_LEVEL = 6  # most of level 9's ratio at a fraction of its CPU cost


#: What an httpx client's first request imports (on the worker's loop, unless start()
#: imported them first on a helper thread).
_FIRST_REQUEST_IMPORTS = ("httpcore", "anyio._backends._asyncio", "anyio.streams.tls")


class OTLPHttpExporter(OTLPExporterBase):
    """Sends log batches to an OTLP/HTTP endpoint as ``application/x-protobuf``.

    The HTTP client is created lazily, on the event loop of the first export (the
    pipeline's worker loop). Redirects are not followed, so headers (which may carry
    credentials) only ever go to the configured endpoint. Proxies configured by the
    usual ``HTTPS_PROXY``/``NO_PROXY`` variables are honoured.

    Args:
        options: resolved options; when omitted they are read from ``**kwargs`` over
            the ``OTEL_EXPORTER_OTLP_*`` environment (see
            :meth:`OTLPExporterOptions.from_env`).
        **kwargs: options, when ``options`` is not given.

    Raises:
        ConfigError: an option is invalid, or ``options.protocol`` is not
            ``http/protobuf``.
        TypeError: both ``options`` and keyword arguments were given.
    """

    #: As in ``FAPILOG_EXPORTERS=otlp``, so stats and diagnostics match the config.
    name = "otlp"

    def __init__(self, options: OTLPExporterOptions | None = None, **kwargs: Any) -> None:
        if options is None:
            options = OTLPExporterOptions.from_env(**{"protocol": "http/protobuf", **kwargs})
        elif kwargs:
            raise TypeError("pass either options or keyword arguments, not both")
        if options.protocol != "http/protobuf":
            raise ConfigError(
                f"OTLPHttpExporter needs protocol='http/protobuf', got {options.protocol!r}; "
                "use OTLPGrpcExporter (or OTLPExporter, which picks by protocol)"
            )
        super().__init__(options)
        self._diagnoser = Diagnoser(options)
        headers: dict[str, str | SecretStr] = {"user-agent": f"fapilog/{__version__}"}
        headers.update(options.headers)
        headers["content-type"] = "application/x-protobuf"
        if options.compression == "gzip":
            headers["content-encoding"] = "gzip"
        # Header values and the endpoint's password are revealed only to each request.
        self._headers = SecretHeaders(headers)
        self._url = options.transport_endpoint
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # The TLS context and the modules a first request imports, made ready off the
        # worker's loop by start() (see _prepare).
        self._prepared: asyncio.Future[ssl.SSLContext | bool] | None = None
        # Clients abandoned in a forked child: kept referenced so their sockets are
        # not finalised there (the parent still uses the connections).
        self._orphans: list[httpx.AsyncClient] = []

    async def start(self) -> None:
        """Make the client's TLS context and imports ready on a helper thread.

        The first request would otherwise import httpcore's and anyio's transport
        modules and load the CA bundle on the worker's event loop, holding it (and so
        every exporter and the spool) for a fifth of a second. Not awaited: the
        pipeline starts at once, and a first export that comes sooner does the rest.
        """
        prepared = asyncio.get_running_loop().run_in_executor(None, self._prepare)
        # A failure is raised again by _connect, where it counts; never "unretrieved".
        prepared.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._prepared = prepared

    def _prepare(self) -> ssl.SSLContext | bool:
        for module in _FIRST_REQUEST_IMPORTS:
            importlib.import_module(module)
        verify = self._verify()
        # verify=True makes the client load the CA bundle itself, even for http://.
        return httpx.create_ssl_context() if verify is True else verify

    def _verify(self) -> ssl.SSLContext | bool:
        opts = self.options
        verify: ssl.SSLContext | bool = True
        if opts.tls:
            if opts.certificate_file is not None:
                verify = ssl.create_default_context(cafile=str(opts.certificate_file))
            else:
                verify = httpx.create_ssl_context()
            if opts.client_certificate_file is not None:
                verify.load_cert_chain(
                    str(opts.client_certificate_file),
                    None if opts.client_key_file is None else str(opts.client_key_file),
                )
        return verify

    def _connect(self) -> httpx.AsyncClient:
        opts = self.options
        prepared, self._prepared = self._prepared, None
        if (
            prepared is not None
            and prepared.done()
            and not prepared.cancelled()
            and prepared.exception() is None
        ):
            verify = prepared.result()
        else:  # not ready yet, or it failed (the same call raises here, where it counts)
            verify = self._verify()
        self._client = httpx.AsyncClient(verify=verify, timeout=opts.timeout)
        self._loop = asyncio.get_running_loop()
        self._diagnoser = Diagnoser(opts)  # its shared probes belong to one loop
        return self._client

    async def _send(self, payload: bytes, timeout: float) -> Accepted | ExportResult:
        client = self._client
        if client is None or self._loop is not asyncio.get_running_loop():
            try:
                client = self._connect()
            except OSError as exc:  # ssl.SSLError included
                return ExportResult.failure(f"cannot load a TLS file: {exc.strerror or exc}")
        body = payload
        if self.options.compression == "gzip":
            body = gzip.compress(body, compresslevel=_GZIP_LEVEL, mtime=0)
        started = asyncio.get_running_loop().time()
        try:
            response = await client.post(
                self._url.get_secret_value(),
                content=body,
                headers=self._headers.reveal(),
                timeout=timeout,
            )
        except httpx.TimeoutException:
            return ExportResult.retryable(f"HTTP request timed out after {timeout:.3g}s")
        except httpx.TransportError as exc:
            detail = self.options.redact(str(exc))
            error = f"{type(exc).__name__}" + (f": {detail}" if detail else "")
            result = ExportResult.retryable(f"HTTP {error}")
            budget = timeout - (asyncio.get_running_loop().time() - started)
            return await self._diagnosed(error, result, probe_ok=True, budget=budget)
        outcome = self._classify(response)
        if isinstance(outcome, Accepted):
            self._diagnoser.forget()
            return outcome
        if response.status_code in (404, 405, 415):
            return await self._diagnosed(outcome.reason, outcome, probe_ok=False, budget=0)
        return outcome

    async def _diagnosed(
        self, error: str, result: ExportResult, *, probe_ok: bool, budget: float
    ) -> ExportResult:
        """``result`` with what the failure means and how to fix it in front of its reason."""
        diagnosis = await self._diagnoser.explain(error, probe_ok=probe_ok, budget=budget)
        if not diagnosis:
            return result
        return dataclasses.replace(result, reason=combine(diagnosis, result.reason))

    def _classify(self, response: httpx.Response) -> Accepted | ExportResult:
        code = response.status_code
        content_type = response.headers.get("content-type", "")
        if 200 <= code < 300:
            if not response.content or (content_type and "protobuf" not in content_type):
                return Accepted()
            try:
                parsed = ExportLogsServiceResponse.FromString(response.content)
            except DecodeError:  # the records were accepted; the body is not ours to judge
                return Accepted()
            partial = parsed.partial_success
            return Accepted(partial.rejected_log_records, partial.error_message)
        reason = f"HTTP {code}"
        if "protobuf" in content_type:
            status = decode_status(response.content)
            message = self.options.redact(status.message) if status is not None else ""
            if message:
                reason = f"{reason}: {message}"
        if code in _RETRYABLE:
            delay = parse_retry_after(response.headers.get("retry-after"))
            return ExportResult.retryable(reason, retry_after=delay)
        return ExportResult.failure(reason)

    async def shutdown(self) -> None:
        """Close the HTTP client and its connections."""
        client, loop = self._client, self._loop
        self._client = self._loop = None
        if client is not None and loop is asyncio.get_running_loop():
            await client.aclose()

    def after_fork(self) -> None:
        """Forget the parent's client; the next export creates a new one."""
        if self._client is not None:
            self._orphans.append(self._client)
        self._client = self._loop = None
        self._prepared = None  # the parent's loop's future
        self._progress.clear()
        self._diagnoser = Diagnoser(self.options)
