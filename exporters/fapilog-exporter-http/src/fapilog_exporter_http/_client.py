"""One HTTP exchange at a time: the client, the headers, and what each answer means.

=====================  =========================================================
answer                 outcome
=====================  =========================================================
2xx                    the request's records are delivered
408, 429, 5xx          retryable; ``Retry-After`` (seconds or a date) is a minimum
413                    the request is split in two and each half sent; a single
                       record the server still finds too large is rejected
400, 422               this request's records are rejected for good; the other
                       requests of the batch are still sent
other 4xx, 3xx, 1xx    failure: nothing more of the batch is sent (credentials,
                       URL or method are wrong; redirects are not followed)
no answer              retryable: connection refused or reset, timeout, TLS error
=====================  =========================================================
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from fapilog import __version__
from fapilog.plugin import ExportResult, SecretHeaders, parse_retry_after, safe_reason

if TYPE_CHECKING:
    from pydantic import SecretStr

    from fapilog_exporter_http._encode import Request
    from fapilog_exporter_http._options import HTTPExporterOptions

__all__ = ["HTTPClient", "Rejected", "Sent", "TooLarge"]

_RETRY_STATUSES = frozenset({408, 429})
_REQUEST_STATUSES = frozenset({400, 422})  # this request's data is refused
_BODY_SNIPPET = 200  # characters of an error answer's body kept in the reason
_SCAN = 8192  # bytes of an error answer's body read (and masked) for the snippet


@dataclass(frozen=True, slots=True)
class Sent:
    """The server accepted the request (2xx)."""


@dataclass(frozen=True, slots=True)
class Rejected:
    """The server refused this request's records for good (not the whole batch)."""

    reason: str


@dataclass(frozen=True, slots=True)
class TooLarge:
    """413 for a request of several records: send it again in smaller pieces."""

    reason: str


class HTTPClient:
    """Sends request bodies over a lazily created ``httpx.AsyncClient``.

    The client belongs to the event loop that created it (the pipeline's worker
    loop); redirects are never followed, so credentials only go to the configured
    URL.

    Args:
        options: the resolved options.
    """

    def __init__(self, options: HTTPExporterOptions) -> None:
        self.options = options
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Clients abandoned in a forked child stay referenced, so their sockets are not
        # finalised there while the parent still uses the connections.
        self._orphans: list[httpx.AsyncClient] = []
        content_type = "application/json" if options.format == "json" else "application/x-ndjson"
        headers: dict[str, str | SecretStr] = {
            "user-agent": f"fapilog/{__version__}",
            "content-type": content_type,
        }
        auth = options.authorization()
        if auth is not None:
            headers["authorization"] = auth
        headers.update(options.headers)  # the user's content-type wins over ours
        # Secret values are revealed only to each request.
        self._headers = SecretHeaders(headers)
        self._secrets = options.secrets()

    def __repr__(self) -> str:
        return f"HTTPClient(url={self.options.display_url!r})"

    def redact(self, text: str) -> str:
        """``text`` with every credential masked (see :meth:`HTTPExporterOptions.redact`)."""
        return safe_reason(text, self._secrets)

    def _connect(self) -> httpx.AsyncClient:
        opts = self.options
        verify: ssl.SSLContext | bool
        if not opts.verify:
            verify = False
        elif opts.ca_file is not None:
            verify = ssl.create_default_context(cafile=str(opts.ca_file))
        else:
            verify = True
        self._client = httpx.AsyncClient(
            verify=verify, timeout=opts.timeout, follow_redirects=False
        )
        self._loop = asyncio.get_running_loop()
        return self._client

    def _get(self) -> httpx.AsyncClient:
        client = self._client
        if client is None or self._loop is not asyncio.get_running_loop():
            client = self._connect()
        return client

    async def send(self, request: Request) -> Sent | Rejected | TooLarge | ExportResult:
        """Send one request and say what its answer means.

        Args:
            request: the records to send.

        Returns:
            :class:`Sent`, :class:`Rejected` (this request only), :class:`TooLarge`
            (413 for several records), or a retryable or failure
            :class:`ExportResult` with a reason free of credentials.
        """
        opts = self.options
        try:
            client = self._get()
        except OSError as exc:  # ssl.SSLError included: the CA file is unreadable
            return ExportResult.failure(
                f"cannot load the CA file (ca_file): {self.redact(str(exc.strerror or exc))}"
            )
        extra: dict[str, str] = {}
        if opts.compression == "gzip":
            body = request.gzipped()
            extra["content-encoding"] = "gzip"
        else:
            body = request.body()
        if opts.idempotency_header is not None:
            extra[opts.idempotency_header.lower()] = request.key
        try:
            response = await client.request(
                opts.method, opts.url, content=body, headers=self._headers.reveal(extra)
            )
        except httpx.TimeoutException:
            return ExportResult.retryable(f"HTTP request timed out after {opts.timeout:g}s")
        except (httpx.HTTPError, OSError) as exc:  # refused, reset, TLS, a broken answer
            detail = self.redact(str(exc))
            return ExportResult.retryable(
                f"HTTP {type(exc).__name__}" + (f": {detail}" if detail else "")
            )
        return self._outcome(response, request)

    def _outcome(
        self, response: httpx.Response, request: Request
    ) -> Sent | Rejected | TooLarge | ExportResult:
        status = response.status_code
        if 200 <= status < 300:
            return Sent()
        described = self._describe(response)
        if status in _RETRY_STATUSES or status >= 500:
            delay = parse_retry_after(response.headers.get("retry-after"))
            return ExportResult.retryable(described, retry_after=delay)
        if status == 413:
            hint = (
                "; the server's body limit is below max_request_bytes "
                "(FAPILOG_HTTP_MAX_REQUEST_BYTES)"
            )
            if request.records > 1:
                return TooLarge(described + hint)
            return Rejected(described + hint)
        if status in _REQUEST_STATUSES:
            return Rejected(described)
        hint = ""
        if status in (401, 403):
            hint = "; check the credentials (bearer_token, basic_auth or headers)"
        elif status in (404, 405):
            hint = "; check url= (FAPILOG_HTTP_URL) and method= (FAPILOG_HTTP_METHOD)"
        elif 300 <= status < 400:
            hint = "; redirects are not followed, give the final URL"
        return ExportResult.failure(described + hint)

    def _describe(self, response: httpx.Response) -> str:
        text = f"HTTP {response.status_code}"
        if response.reason_phrase:
            text += f" {self.redact(response.reason_phrase)}"
        # Masked before it is cut, so no part of a credential the server echoes is kept.
        snippet = self.redact(response.content[:_SCAN].decode("utf-8", "replace"))
        if snippet:
            text += f": {snippet[:_BODY_SNIPPET]}"
        return text

    async def aclose(self) -> None:
        """Close the HTTP client when it belongs to the running loop."""
        client, loop = self._client, self._loop
        self._client = self._loop = None
        if client is not None and loop is asyncio.get_running_loop():
            await client.aclose()

    def forget(self) -> None:
        """Drop the client without closing it (in a forked child)."""
        if self._client is not None:
            self._orphans.append(self._client)
        self._client = self._loop = None
