"""The Elasticsearch / OpenSearch ``_bulk`` exporter."""

from __future__ import annotations

import asyncio
import collections
import gzip
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote, urlsplit

import httpx

from fapilog import __version__
from fapilog.plugin import (
    BatchProgress,
    Exporter,
    ExportResult,
    ExportStatus,
    SecretHeaders,
    parse_retry_after,
)
from fapilog_exporter_elasticsearch._bulk import (
    FILTER_PATH,
    BulkItem,
    IdSource,
    ItemState,
    action_line,
    body_of,
    describe,
    error_summary,
    pack,
    parse_bulk_response,
)
from fapilog_exporter_elasticsearch._config import ElasticsearchExporterOptions
from fapilog_exporter_elasticsearch._ecs import encode_event
from fapilog_exporter_elasticsearch._http import certificate_error, verify_setting

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pydantic import SecretStr

    from fapilog import LogEvent

__all__ = ["ElasticsearchExporter"]

_GZIP_LEVEL = 6  # most of level 9's ratio at a fraction of its CPU cost
_MAX_REASONS = 3


class _Split:
    """The cluster refused the request as too large (HTTP 413): send it in halves."""


_SPLIT: Final = _Split()


class _Handled:
    """The cluster answered item by item; ``retry`` says why some items are still owed."""

    __slots__ = ("retry", "retry_after")

    def __init__(self, retry: str = "", retry_after: float | None = None) -> None:
        self.retry = retry
        self.retry_after = retry_after


class _Progress(BatchProgress):
    """How far the export of one batch got, so a retry resends only what is owed.

    The pipeline retries a retryable result with the very same batch; this keeps
    each event's document, id and state between those calls.
    """

    __slots__ = ("items", "reasons")

    def __init__(self, batch: Sequence[LogEvent], items: list[BulkItem]) -> None:
        super().__init__(batch)
        self.items = items
        self.reasons: collections.Counter[str] = collections.Counter()

    def owed(self) -> list[BulkItem]:
        return [item for item in self.items if item.state == ItemState.OWED]

    def reject(self, item: BulkItem, reason: str) -> None:
        item.state = ItemState.REJECTED
        self.reasons[reason] += 1

    def count(self, state: int) -> int:
        return sum(1 for item in self.items if item.state == state)

    def describe_rejections(self) -> str:
        common = self.reasons.most_common()
        parts = [f"{reason} ({n})" for reason, n in common[:_MAX_REASONS]]
        if len(common) > _MAX_REASONS:
            parts.append(f"and {len(common) - _MAX_REASONS} other reason(s)")
        return "; ".join(parts)


class ElasticsearchExporter(Exporter):
    """Sends log events to Elasticsearch 8 or OpenSearch 2 through the ``_bulk`` API.

    Each event becomes an ECS document (see :mod:`fapilog_exporter_elasticsearch._ecs`)
    written with a ``create`` action and an id of its own, into the data stream
    ``logs-<dataset>-<namespace>`` (``logs-generic-default`` by default) or a named
    index. Outcomes:

    * every document indexed: success; documents refused for good (400, 409 on a
      first attempt, any other 4xx) are counted in a ``partial`` result with reasons;
    * documents answered 429 or 5xx, a whole-request 429 or 5xx, a timeout or a
      connection error: ``retryable``; when the pipeline retries the same batch only
      the documents still owed are sent, and a 409 ``version_conflict_engine_exception``
      on a document sent before counts as delivered (the earlier attempt indexed it);
    * 413: the request is split in halves and sent again; a single document too large
      is rejected;
    * 401, 403, any other whole-request error: ``failure``, or ``partial`` rejecting
      what is left when some documents already got through.

    The HTTP client is created on the loop of the first export (the pipeline's worker
    loop). Redirects are not followed, so credentials only go to the configured URL.

    Args:
        options: resolved options; when omitted they are read from ``**kwargs`` over
            the ``FAPILOG_ELASTICSEARCH_*`` environment.
        **kwargs: any :class:`ElasticsearchExporterOptions` field, when ``options`` is
            not given.

    Raises:
        ConfigError: an option is missing or invalid (e.g. no URL); the message names
            the keyword argument or environment variable.
        TypeError: both ``options`` and keyword arguments were given.
    """

    api_version = "1.0"  # the fapilog.plugin API it is written for

    #: As in ``FAPILOG_EXPORTERS=elasticsearch``, so stats and diagnostics match.
    name = "elasticsearch"

    def __init__(self, options: ElasticsearchExporterOptions | None = None, **kwargs: Any) -> None:
        if options is None:
            options = ElasticsearchExporterOptions.from_env(**kwargs)
        elif kwargs:
            raise TypeError("pass either options or keyword arguments, not both")
        self.options = options
        self._data_stream = options.data_stream_parts
        self._bulk_url = f"{options.url}/{quote(options.target, safe='')}/_bulk"
        self._params = {"filter_path": FILTER_PATH} if options.filter_path else {}
        headers: dict[str, str | SecretStr] = {
            "user-agent": f"fapilog/{__version__}",
            "accept": "application/json",
            "content-type": "application/x-ndjson",
        }
        if options.gzip:
            headers["content-encoding"] = "gzip"
        authorization = options.authorization()
        if authorization is not None:
            headers["authorization"] = authorization
        # The credentials are revealed only to each request.
        self._headers = SecretHeaders(headers)
        self._ids = IdSource()
        self._progress: _Progress | None = None
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Clients abandoned in a forked child: kept referenced so their sockets are
        # not finalised there (the parent still uses the connections).
        self._orphans: list[httpx.AsyncClient] = []

    def __repr__(self) -> str:
        opts = self.options
        return (
            f"{type(self).__name__}(url={opts.url!r}, target={opts.target!r}, "
            f"auth={opts.auth_kind!r}, gzip={opts.gzip}, timeout={opts.timeout:g})"
        )

    # -- export --------------------------------------------------------------------

    async def export(self, batch: Sequence[LogEvent]) -> ExportResult:
        """Send the documents of ``batch`` still owed, in requests of bounded size.

        Args:
            batch: events in emission order; not mutated.

        Returns:
            The combined outcome (see the class docstring).
        """
        if not batch:
            return ExportResult.success()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.timeout
        progress = self._progress
        if progress is None or not progress.is_for(batch):
            progress = self._start(batch)
        # Kept until a final outcome, so a cancelled call (the pipeline's own
        # timeout) also resumes where it stopped.
        self._progress = progress
        queue = collections.deque(pack(progress.owed(), self.options.max_request_bytes))
        while queue:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return ExportResult.retryable(
                    f"timed out after {self.options.timeout:g}s with "
                    f"{progress.count(ItemState.OWED)} document(s) still to send"
                )
            chunk = queue.popleft()
            for item in chunk:
                item.sent += 1
            outcome = await self._send(chunk, remaining, progress)
            if outcome is _SPLIT:
                if len(chunk) > 1:
                    half = len(chunk) // 2
                    queue.extendleft((chunk[half:], chunk[:half]))
                else:
                    progress.reject(
                        chunk[0],
                        "HTTP 413: document larger than the cluster accepts "
                        "(http.max_content_length)",
                    )
            elif isinstance(outcome, ExportResult):
                if outcome.status is ExportStatus.RETRYABLE:
                    return outcome
                return self._abort(progress, outcome)
            elif isinstance(outcome, _Handled) and outcome.retry:
                return ExportResult.retryable(outcome.retry, retry_after=outcome.retry_after)
        self._progress = None
        rejected = progress.count(ItemState.REJECTED)
        if not rejected:
            return ExportResult.success()
        return ExportResult.partial(
            rejected, f"{rejected} document(s) rejected: {progress.describe_rejections()}"
        )

    def _start(self, batch: Sequence[LogEvent]) -> _Progress:
        items: list[BulkItem] = []
        progress = _Progress(batch, items)
        limit = self.options.max_request_bytes
        for event in batch:
            doc_id = self._ids.new_id(event.timestamp)
            try:
                source = encode_event(event, self._data_stream)
            except Exception as exc:  # one odd event must not cost the batch
                item = BulkItem(doc_id, b"")
                items.append(item)
                progress.reject(item, f"could not encode the event ({type(exc).__name__})")
                continue
            item = BulkItem(doc_id, action_line(doc_id) + source + b"\n")
            items.append(item)
            if len(item.data) > limit:
                progress.reject(
                    item,
                    f"document larger than the {limit}-byte request limit (max_request_bytes)",
                )
        return progress

    def _abort(self, progress: _Progress, outcome: ExportResult) -> ExportResult:
        self._progress = None
        delivered = progress.count(ItemState.DELIVERED)
        if not delivered:
            return outcome
        # Earlier documents got through: report the rest as rejected, not the batch.
        return ExportResult.partial(len(progress.items) - delivered, outcome.reason)

    # -- one request ---------------------------------------------------------------

    async def _send(
        self, chunk: list[BulkItem], timeout: float, progress: _Progress
    ) -> _Handled | _Split | ExportResult:
        client = self._client
        if client is None or self._loop is not asyncio.get_running_loop():
            try:
                client = self._connect()
            except OSError as exc:  # ssl.SSLError included
                return ExportResult.failure(f"cannot load the CA file: {exc.strerror or exc}")
        body = body_of(chunk)
        if self.options.gzip:
            body = gzip.compress(body, compresslevel=_GZIP_LEVEL, mtime=0)
        try:
            response = await client.post(
                self._bulk_url,
                content=body,
                params=self._params,
                headers=self._headers.reveal(),
                timeout=timeout,
            )
        except httpx.TimeoutException:
            return ExportResult.retryable(f"HTTP request timed out after {timeout:.3g}s")
        except httpx.TransportError as exc:
            verify_error = certificate_error(exc)
            if verify_error is not None:
                # Retryable like every fapilog exporter's TLS failure: a certificate
                # fixed on the cluster (rotation) is picked up while records wait.
                return ExportResult.retryable(
                    f"TLS certificate verification failed for {self._host()}: "
                    f"{self.options.redact(verify_error)}; trust the cluster's CA with "
                    "FAPILOG_ELASTICSEARCH_CA_FILE (ca_file=)"
                )
            detail = self.options.redact(str(exc))
            return ExportResult.retryable(
                f"HTTP {type(exc).__name__}" + (f": {detail}" if detail else "")
            )
        return self._classify(response, chunk, progress)

    def _classify(
        self, response: httpx.Response, chunk: list[BulkItem], progress: _Progress
    ) -> _Handled | _Split | ExportResult:
        code = response.status_code
        if 200 <= code < 300:
            return self._apply_items(response, chunk, progress)
        if code == 413:
            return _SPLIT
        detail = self.options.redact(error_summary(response.content))
        reason = f"HTTP {code}" + (f": {detail}" if detail else "")
        if code == 429 or code >= 500:
            return ExportResult.retryable(
                reason, retry_after=parse_retry_after(response.headers.get("retry-after"))
            )
        if code == 401:
            return ExportResult.failure(
                f"{reason}; authentication failed: check FAPILOG_ELASTICSEARCH_API_KEY "
                "or FAPILOG_ELASTICSEARCH_USERNAME/PASSWORD"
            )
        if code == 403:
            return ExportResult.failure(
                f"{reason}; the credentials lack a privilege: they need create_doc "
                f"(and auto_configure) on {self.options.target!r}"
            )
        return ExportResult.failure(reason)

    def _apply_items(
        self, response: httpx.Response, chunk: list[BulkItem], progress: _Progress
    ) -> _Handled:
        parsed = parse_bulk_response(response.content)
        if parsed is None:
            # The documents may or may not be indexed: resend, the ids make it safe.
            return _Handled(f"HTTP {response.status_code} without a readable _bulk response")
        errors, results = parsed
        if not errors:
            for item in chunk:
                item.state = ItemState.DELIVERED
            return _Handled()
        if len(results) != len(chunk):
            return _Handled(
                f"the _bulk response lists {len(results)} item(s) for {len(chunk)} document(s)"
            )
        retry: collections.Counter[str] = collections.Counter()
        for item, result in zip(chunk, results, strict=True):
            status = result.status
            if 200 <= status < 300:
                item.state = ItemState.DELIVERED
            elif (
                status == 409
                and result.error_type == "version_conflict_engine_exception"
                and item.sent > 1
            ):
                # Our ids are ours alone: the conflict is with our own earlier attempt.
                item.state = ItemState.DELIVERED
            elif status == 429 or status >= 500 or status == 0:
                retry[f"{status} {result.error_type}".strip()] += 1
            else:
                detail = self.options.redact(describe(result.error_type, result.reason))
                progress.reject(item, f"{status} {detail}".strip())
        if not retry:
            return _Handled()
        counts = ", ".join(f"{n} x {what}" for what, n in retry.most_common())
        return _Handled(
            f"{sum(retry.values())} document(s) to retry ({counts})",
            parse_retry_after(response.headers.get("retry-after")),
        )

    # -- connection ----------------------------------------------------------------

    def _connect(self) -> httpx.AsyncClient:
        self._client = httpx.AsyncClient(
            verify=verify_setting(self.options),
            timeout=self.options.timeout,
            follow_redirects=False,
        )
        self._loop = asyncio.get_running_loop()
        return self._client

    def _host(self) -> str:
        return urlsplit(self.options.url).netloc

    async def shutdown(self) -> None:
        """Close the HTTP client and its connections."""
        client, loop = self._client, self._loop
        self._client = self._loop = None
        self._progress = None
        if client is not None and loop is asyncio.get_running_loop():
            await client.aclose()

    def after_fork(self) -> None:
        """Forget the parent's client, batch progress and id nonce."""
        if self._client is not None:
            self._orphans.append(self._client)
        self._client = self._loop = None
        self._progress = None
        # The child must not mint the ids its parent mints.
        self._ids = IdSource()
