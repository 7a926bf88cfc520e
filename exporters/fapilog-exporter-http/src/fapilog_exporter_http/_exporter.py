"""HTTPExporter: batches → NDJSON or JSON-array requests, sent in order, resumable."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from fapilog.plugin import (
    BatchProgress,
    Exporter,
    ExportResult,
    ExportStatus,
    RetryPolicy,
    report,
)
from fapilog_exporter_http._client import HTTPClient, Rejected, TooLarge
from fapilog_exporter_http._encode import encode_records, plan_requests
from fapilog_exporter_http._options import HTTPExporterOptions

if TYPE_CHECKING:
    from collections.abc import Sequence

    from fapilog.plugin import LogEvent
    from fapilog_exporter_http._encode import Request

__all__ = ["HTTPExporter"]


class _Progress(BatchProgress):
    """How far one batch got, so a retry of the same batch sends only what is owed.

    The pipeline retries a retryable result with the very same batch (and cancels a
    call that exceeds its export timeout); the progress survives both, so requests
    already answered are not sent again. A request whose answer was lost (a timeout,
    a reset connection) is sent again with the same idempotency key.
    """

    __slots__ = ("delivered", "dropped", "messages", "owed", "rejected")

    def __init__(self, batch: Sequence[LogEvent], requests: list[Request], dropped: int) -> None:
        super().__init__(batch)
        self.owed: deque[Request] = deque(requests)
        self.dropped = dropped  # records too large for any request
        self.delivered = 0
        self.rejected = 0
        self.messages: list[str] = []


class HTTPExporter(Exporter):
    """Sends log records to any HTTP endpoint that takes JSON.

    Each batch becomes one or more requests of at most ``max_request_bytes``
    (uncompressed), sent one after another on the pipeline's worker loop: NDJSON
    (one record per line) or a JSON array, fapilog's JSON form of each record,
    optionally gzip-compressed. What each answer means is in
    ``docs/exporters/http.md``; retries are the pipeline's, with the exporter's
    ``retry_policy`` when given.

    Args:
        options: resolved options; when omitted they are read from ``**kwargs`` over
            the ``FAPILOG_HTTP_*`` environment (the registry constructs it with the
            configured options only, so the environment must supply the rest).
        retry_policy: pauses between retries of one batch; ``None`` uses the
            pipeline's (the ``retry_*`` settings).
        **kwargs: any :class:`HTTPExporterOptions` field, when ``options`` is not given.

    Raises:
        ConfigError: an option is missing or invalid; the message names the
            ``FAPILOG_HTTP_*`` variable or keyword argument.
        TypeError: both ``options`` and keyword arguments were given, or
            ``retry_policy`` is not a :class:`~fapilog.plugin.RetryPolicy`.
    """

    api_version = "1.0"  # the fapilog.plugin API it is written for

    #: As in ``FAPILOG_EXPORTERS=http``, so stats and diagnostics match the config.
    name = "http"

    def __init__(
        self,
        options: HTTPExporterOptions | None = None,
        *,
        retry_policy: RetryPolicy | None = None,
        **kwargs: Any,
    ) -> None:
        if options is None:
            options = HTTPExporterOptions.resolve(**kwargs)
        elif kwargs:
            raise TypeError("pass either options or keyword arguments, not both")
        if retry_policy is not None and not isinstance(retry_policy, RetryPolicy):
            raise TypeError(
                "retry_policy must be a fapilog.plugin.RetryPolicy, "
                f"not {type(retry_policy).__name__}"
            )
        self.options = options
        if retry_policy is not None:
            self.retry_policy = retry_policy
        self._http = HTTPClient(options)
        self._progress: _Progress | None = None

    def __repr__(self) -> str:
        opts = self.options
        return (
            f"{type(self).__name__}(url={opts.display_url!r}, method={opts.method!r}, "
            f"format={opts.format!r}, compression={opts.compression!r}, "
            f"headers={sorted(opts.headers)!r}, "
            f"auth={'bearer' if opts.bearer_token else 'basic' if opts.basic_auth else None!r})"
        )

    # -- export ----------------------------------------------------------------------

    async def export(self, batch: Sequence[LogEvent]) -> ExportResult:
        """Send ``batch``, resuming where a retried call of the same batch stopped.

        Args:
            batch: events in emission order; not mutated.

        Returns:
            Success; ``partial`` counting records dropped as too large or refused by
            the server (400, 413, 422); ``retryable`` (408, 429, 5xx, no answer),
            after which the same batch resumes where it stopped; or ``failure``
            (other 4xx, 3xx), with ``partial`` instead when earlier requests of the
            batch were delivered.
        """
        if not batch:
            return ExportResult.success()
        progress = self._progress
        if progress is None or not progress.is_for(batch):
            progress = self._plan(batch)
        # Kept until a final outcome, so a cancelled call resumes where it stopped.
        self._progress = progress
        owed = progress.owed
        while owed:
            request = owed[0]
            outcome = await self._http.send(request)
            if isinstance(outcome, ExportResult):
                if outcome.status is ExportStatus.RETRYABLE:
                    return outcome
                self._progress = None
                return self._stopped(progress, outcome)
            owed.popleft()
            if isinstance(outcome, TooLarge):
                first, second = request.halves()
                owed.extendleft((second, first))
                report(
                    f"too_large:{self.name}",
                    f"exporter {self.name!r}: {outcome.reason}; splitting requests",
                )
            elif isinstance(outcome, Rejected):
                progress.rejected += request.records
                progress.messages.append(outcome.reason)
            else:
                progress.delivered += request.records
        self._progress = None
        return self._finished(progress)

    def _plan(self, batch: Sequence[LogEvent]) -> _Progress:
        opts = self.options
        items = encode_records(batch, include_resource=opts.include_resource)
        split = plan_requests(items, opts.max_request_bytes, json_array=opts.format == "json")
        return _Progress(batch, split.requests, split.dropped)

    # -- results ---------------------------------------------------------------------

    def _stopped(self, progress: _Progress, outcome: ExportResult) -> ExportResult:
        """A failure ends the batch: what was not delivered is rejected with it."""
        if not progress.delivered:
            return outcome
        return ExportResult.partial(len(progress.batch) - progress.delivered, outcome.reason)

    def _finished(self, progress: _Progress) -> ExportResult:
        if not progress.dropped and not progress.rejected:
            return ExportResult.success()
        reasons = []
        if progress.dropped:
            reasons.append(
                f"{progress.dropped} record(s) dropped: each alone exceeds the "
                f"{self.options.max_request_bytes}-byte request size limit (max_request_bytes)"
            )
        if progress.rejected:
            detail = "; ".join(dict.fromkeys(progress.messages))
            reasons.append(f"{progress.rejected} record(s) refused by the server: {detail}")
        return ExportResult.partial(progress.dropped + progress.rejected, "; ".join(reasons))

    # -- lifecycle -------------------------------------------------------------------

    async def shutdown(self) -> None:
        """Close the HTTP client and its connections."""
        await self._http.aclose()

    def after_fork(self) -> None:
        """Forget the parent's client and batch; the child connects on its own."""
        self._http.forget()
        self._progress = None
