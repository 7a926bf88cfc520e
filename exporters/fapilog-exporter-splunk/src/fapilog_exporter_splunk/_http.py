"""One HEC HTTP exchange at a time: the client, the headers, and what each answer means.

Splunk documents HEC's answers as an HTTP status plus a JSON body
``{"text": "...", "code": N}``. How fapilog reads them:

=========  ======================================  =====================================
HTTP       HEC code                                outcome
=========  ======================================  =====================================
200        0 Success (``ackId`` with indexer ack)  sent
400        5 No data, 6 Invalid data format,       this request rejected, not retried
           7 Incorrect index, 12/13 event field,
           15 indexed fields, others
400        10 Data channel is missing,             failure (configuration)
           16 Query string authorization
400        11 Invalid data channel                 retryable on a new channel when the
                                                   channel is generated, else failure
400        14 ACK is disabled (ack endpoint)       acknowledgement unavailable
401, 403   1 Token disabled, 2 Token is required,  failure, not retried
           3 Invalid authorization, 4 Invalid token
413        (body too large for the server)         this request rejected
429        (rate limited)                          retryable, ``Retry-After`` honoured
503        9 Server is busy, 18-20 unhealthy       retryable, ``Retry-After`` honoured
500, 5xx   8 Internal server error, others         retryable
other      3xx (redirects are not followed), 4xx   failure
=========  ======================================  =====================================
"""

from __future__ import annotations

import asyncio
import gzip
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import orjson

from fapilog import __version__
from fapilog.plugin import ExportResult, Secret, SecretHeaders, parse_retry_after

if TYPE_CHECKING:
    from collections.abc import Mapping

    from fapilog_exporter_splunk._options import SplunkHECOptions

__all__ = [
    "CHANNEL_HEADER",
    "AckAnswer",
    "AckDisabled",
    "ChannelInvalid",
    "HECClient",
    "HECError",
    "Rejected",
    "Sent",
]

CHANNEL_HEADER = "X-Splunk-Request-Channel"
_GZIP_LEVEL = 6
_RETRY_CODES = frozenset({429, 503})
_CONFIG_CODES = frozenset({10, 16})
_CODE_INVALID_CHANNEL = 11
_CODE_ACK_DISABLED = 14


@dataclass(frozen=True, slots=True)
class Sent:
    """HEC accepted the request; ``ack_id`` is set when indexer ack is on."""

    ack_id: int | None = None


@dataclass(frozen=True, slots=True)
class Rejected:
    """HEC refused this request's data for good (not the whole batch)."""

    reason: str


@dataclass(frozen=True, slots=True)
class HECError:
    """A non-2xx answer, decoded."""

    status: int
    code: int | None
    text: str
    invalid_event: int | None = None

    def describe(self) -> str:
        out = f"HTTP {self.status}"
        if self.code is not None:
            out += f", HEC code {self.code}"
        if self.text:
            out += f": {self.text}"
        if self.invalid_event is not None:
            out += f" (invalid-event-number {self.invalid_event})"
        return out


@dataclass(frozen=True, slots=True)
class AckAnswer:
    """The answer of one ack poll: which of the asked ids are indexed."""

    acks: Mapping[int, bool]


@dataclass(frozen=True, slots=True)
class AckDisabled:
    """The ack endpoint answered 400 code 14: acknowledgement is off for the token."""

    reason: str


class ChannelInvalid(Exception):
    """HEC does not know the channel (400, code 11): pending acks are lost."""


class HECClient:
    """Posts bodies to HEC over a lazily created ``httpx.AsyncClient``.

    Redirects are never followed, so the token only goes to the configured URL.

    Args:
        options: the resolved options.
    """

    def __init__(self, options: SplunkHECOptions) -> None:
        self.options = options
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Clients abandoned in a forked child stay referenced, so their sockets are not
        # finalised there while the parent still uses the connections.
        self._orphans: list[httpx.AsyncClient] = []
        # The token is revealed only to each request.
        self._base_headers = SecretHeaders(
            {
                "user-agent": f"fapilog/{__version__}",
                "authorization": Secret(f"Splunk {options.token.get_secret_value()}"),
            }
        )

    def __repr__(self) -> str:
        return f"HECClient(url={self.options.url!r})"

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

    async def _post(
        self,
        url: str,
        body: bytes,
        content_type: str,
        channel: str,
        params: Mapping[str, str] | None = None,
    ) -> httpx.Response | ExportResult:
        try:
            client = self._get()
        except OSError as exc:  # ssl.SSLError included: the CA file is unreadable
            return ExportResult.failure(f"cannot load the CA file: {exc.strerror or exc}")
        extra = {"content-type": content_type, CHANNEL_HEADER: channel}
        if self.options.gzip:
            body = gzip.compress(body, compresslevel=_GZIP_LEVEL, mtime=0)
            extra["content-encoding"] = "gzip"
        try:
            return await client.post(
                url, content=body, headers=self._base_headers.reveal(extra), params=params
            )
        except httpx.TimeoutException:
            return ExportResult.retryable(f"HTTP request timed out after {self.options.timeout:g}s")
        except httpx.TransportError as exc:
            detail = self.options.redact(str(exc))
            return ExportResult.retryable(
                f"HTTP {type(exc).__name__}" + (f": {detail}" if detail else "")
            )

    async def send(
        self, payload: bytes, channel: str, params: Mapping[str, str] | None = None
    ) -> Sent | Rejected | ExportResult:
        """Post one request body to the configured endpoint.

        Args:
            payload: the uncompressed body.
            channel: the channel GUID.
            params: query parameters (raw endpoint metadata).

        Returns:
            :class:`Sent`, :class:`Rejected` (this request only), or a retryable or
            failure :class:`ExportResult` with a secret-free reason.

        Raises:
            ChannelInvalid: HEC answered 400 code 11.
        """
        raw = self.options.endpoint == "raw"
        response = await self._post(
            self.options.endpoint_url,
            payload,
            "text/plain; charset=utf-8" if raw else "application/json",
            channel,
            params,
        )
        if isinstance(response, ExportResult):
            return response
        if 200 <= response.status_code < 300:
            body = _json(response)
            ack_id = body.get("ackId") if isinstance(body, dict) else None
            return Sent(ack_id if type(ack_id) is int else None)
        error = self._error(response)
        if error.status == 400 and error.code not in _CONFIG_CODES:
            if error.code == _CODE_INVALID_CHANNEL:
                raise ChannelInvalid(error.describe())
            return Rejected(error.describe())
        if error.status == 413:
            return Rejected(
                f"{error.describe()}; the request exceeds the server's size limit "
                "(lower max_request_bytes / FAPILOG_SPLUNK_MAX_REQUEST_BYTES)"
            )
        return self._common(response, error)

    async def poll_acks(
        self, ack_ids: list[int], channel: str
    ) -> AckAnswer | AckDisabled | ExportResult:
        """Ask which of ``ack_ids`` are indexed (``POST /services/collector/ack``).

        Args:
            ack_ids: the ids HEC returned for this channel.
            channel: the channel GUID.

        Returns:
            The answer; :class:`AckDisabled`; a retryable :class:`ExportResult` when
            HEC is busy or unreachable, a failure one when the token is refused.

        Raises:
            ChannelInvalid: HEC answered 400 code 11.
        """
        body = orjson.dumps({"acks": ack_ids})
        response = await self._post(self.options.ack_url, body, "application/json", channel)
        if isinstance(response, ExportResult):
            return response
        if 200 <= response.status_code < 300:
            data = _json(response)
            acks = data.get("acks") if isinstance(data, dict) else None
            parsed: dict[int, bool] = {}
            if isinstance(acks, dict):
                for key, value in acks.items():
                    try:
                        parsed[int(key)] = value is True
                    except (TypeError, ValueError):
                        continue
            return AckAnswer(parsed)
        error = self._error(response)
        if error.status == 400 and error.code == _CODE_INVALID_CHANNEL:
            raise ChannelInvalid(error.describe())
        if error.status == 400 and error.code == _CODE_ACK_DISABLED:
            return AckDisabled(
                f"{error.describe()}: indexer acknowledgement is disabled for this token; "
                "enable it on the token or set ack=False (FAPILOG_SPLUNK_ACK=false)"
            )
        return self._common(response, error)

    def _common(self, response: httpx.Response, error: HECError) -> ExportResult:
        if error.status in (401, 403):
            return ExportResult.failure(
                f"{error.describe()}: HEC refused the token; check token= "
                "(FAPILOG_SPLUNK_TOKEN) and that it is enabled"
            )
        if error.status in _RETRY_CODES or error.status >= 500:
            delay = parse_retry_after(response.headers.get("retry-after"))
            return ExportResult.retryable(error.describe(), retry_after=delay)
        if error.status == 400 and error.code == 10:
            return ExportResult.failure(
                f"{error.describe()}: the channel header did not reach HEC "
                "(a proxy may strip X-Splunk-Request-Channel)"
            )
        hint = ""
        if error.status == 404:
            hint = (
                "; check url= (FAPILOG_SPLUNK_URL): give the HEC base URL, e.g. https://splunk:8088"
            )
        elif 300 <= error.status < 400:
            hint = "; redirects are not followed, give the final URL"
        return ExportResult.failure(error.describe() + hint)

    def _error(self, response: httpx.Response) -> HECError:
        data = _json(response)
        code = text = invalid = None
        if isinstance(data, dict):
            code = data.get("code") if type(data.get("code")) is int else None
            text = data.get("text") if isinstance(data.get("text"), str) else None
            number = data.get("invalid-event-number")
            invalid = number if type(number) is int else None
        if text is None:
            text = response.reason_phrase or ""
        return HECError(response.status_code, code, self.options.redact(text), invalid)

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


def _json(response: httpx.Response) -> Any:
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None
