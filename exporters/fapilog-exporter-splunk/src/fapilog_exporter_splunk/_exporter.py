"""SplunkHECExporter: batches → HEC requests, sent in order, resumable, optionally acked."""

from __future__ import annotations

import asyncio
import enum
import uuid
from typing import TYPE_CHECKING, Any

from fapilog.plugin import BatchProgress, Exporter, ExportResult, ExportStatus, report
from fapilog_exporter_splunk._encode import (
    encode_envelope,
    encode_raw_line,
    resource_host,
    split_requests,
)
from fapilog_exporter_splunk._http import AckDisabled, ChannelInvalid, HECClient, Rejected
from fapilog_exporter_splunk._options import SplunkHECOptions

if TYPE_CHECKING:
    from collections.abc import Sequence

    from fapilog.plugin import LogEvent
    from fapilog_exporter_splunk._encode import Request

__all__ = ["SplunkHECExporter"]


class _State(enum.Enum):
    UNSENT = "unsent"
    PENDING = "pending"  # accepted, waiting for its indexer acknowledgement
    DONE = "done"
    REJECTED = "rejected"


class _Progress(BatchProgress):
    """How far one batch got, so a retry of the same batch sends only what is left.

    The pipeline retries a retryable result with the very same batch (and cancels a
    call that exceeds its export timeout); the progress survives both, so requests
    already delivered are not sent again and pending acknowledgements keep being
    polled instead of being re-sent.
    """

    __slots__ = ("ack_ids", "dropped", "messages", "requests", "sent_at", "states")

    def __init__(self, batch: Sequence[LogEvent], requests: list[Request], dropped: int) -> None:
        super().__init__(batch)
        self.requests = requests
        self.dropped = dropped
        self.states = [_State.UNSENT] * len(requests)
        self.ack_ids: dict[int, int] = {}  # request index -> ackId
        self.sent_at: dict[int, float] = {}
        self.messages: list[str] = []

    def records(self, *states: _State) -> int:
        return sum(
            r.records for r, s in zip(self.requests, self.states, strict=True) if s in states
        )

    def indices(self, state: _State) -> list[int]:
        return [i for i, s in enumerate(self.states) if s is state]

    def unsend(self, index: int) -> None:
        self.states[index] = _State.UNSENT
        self.ack_ids.pop(index, None)
        self.sent_at.pop(index, None)


class SplunkHECExporter(Exporter):
    """Sends log records to a Splunk HTTP Event Collector.

    Each batch becomes one or more requests of at most ``max_request_bytes``
    (uncompressed), sent in order on the pipeline's worker loop. With ``ack=True``
    the batch is reported delivered only when HEC has acknowledged every request;
    see ``docs/exporters/splunk.md`` for the outcome of each HEC answer.

    Args:
        options: resolved options; when omitted they are read from ``**kwargs`` over
            the ``FAPILOG_SPLUNK_*`` environment (the registry constructs it with no
            arguments, so the environment alone must then suffice).
        **kwargs: any :class:`SplunkHECOptions` field, when ``options`` is not given.

    Raises:
        ConfigError: an option is missing or invalid; the message names the
            ``FAPILOG_SPLUNK_*`` variable or keyword argument.
        TypeError: both ``options`` and keyword arguments were given.
    """

    api_version = "1.0"  # the fapilog.plugin API it is written for

    #: As in ``FAPILOG_EXPORTERS=splunk_hec``, so stats and diagnostics match the config.
    name = "splunk_hec"

    def __init__(self, options: SplunkHECOptions | None = None, **kwargs: Any) -> None:
        if options is None:
            options = SplunkHECOptions.resolve(**kwargs)
        elif kwargs:
            raise TypeError("pass either options or keyword arguments, not both")
        self.options = options
        self._http = HECClient(options)
        self._channel = options.channel or str(uuid.uuid4())
        self._progress: _Progress | None = None

    def __repr__(self) -> str:
        opts = self.options
        return (
            f"{type(self).__name__}(url={opts.url!r}, endpoint={opts.endpoint!r}, "
            f"index={opts.index!r}, gzip={opts.gzip}, ack={opts.ack}, "
            f"channel={self._channel!r})"
        )

    @property
    def channel(self) -> str:
        """The channel GUID sent as ``X-Splunk-Request-Channel``."""
        return self._channel

    # -- export ----------------------------------------------------------------------

    async def export(self, batch: Sequence[LogEvent]) -> ExportResult:
        """Send ``batch``; with ``ack`` on, wait for its indexer acknowledgements.

        Args:
            batch: events in emission order; not mutated.

        Returns:
            Success; ``partial`` counting records dropped as too big or rejected by
            HEC (400, 413); ``retryable`` (HEC busy or unreachable, acknowledgement
            overdue) after which the same batch resumes where it stopped; or
            ``failure`` (token refused, misconfiguration).
        """
        if not batch:
            return ExportResult.success()
        progress = self._progress
        if progress is None or not progress.is_for(batch):
            progress = self._plan(batch)
        # Kept until a final outcome, so a cancelled call resumes where it stopped.
        self._progress = progress
        try:
            outcome = await self._run(progress, self._query(batch))
        except ChannelInvalid as exc:
            outcome = self._channel_lost(progress, str(exc))
        if outcome is not None:
            if outcome.status is ExportStatus.RETRYABLE:
                return outcome
            self._progress = None
            return self._interrupted(progress, outcome)
        self._progress = None
        return self._finished(progress)

    def _plan(self, batch: Sequence[LogEvent]) -> _Progress:
        opts = self.options
        encode = encode_raw_line if opts.endpoint == "raw" else encode_envelope
        split = split_requests([encode(event, opts) for event in batch], opts.max_request_bytes)
        return _Progress(batch, split.requests, split.dropped)

    def _query(self, batch: Sequence[LogEvent]) -> dict[str, str] | None:
        opts = self.options
        if opts.endpoint != "raw":
            return None
        params = {"channel": self._channel}
        host = opts.host or resource_host(batch[0])
        for key, value in (
            ("host", host),
            ("source", opts.source),
            ("sourcetype", opts.sourcetype),
            ("index", opts.index),
        ):
            if value:
                params[key] = value
        return params

    async def _run(self, progress: _Progress, params: dict[str, str] | None) -> ExportResult | None:
        """Send and acknowledge until done; None when every request has an outcome."""
        opts = self.options
        loop = asyncio.get_running_loop()
        while True:
            for index in progress.indices(_State.UNSENT):
                if opts.ack and len(progress.ack_ids) >= opts.max_pending_acks:
                    break  # the pending table is full: wait for acknowledgements first
                sent = await self._http.send(
                    progress.requests[index].payload, self._channel, params
                )
                if isinstance(sent, ExportResult):
                    return sent
                if isinstance(sent, Rejected):
                    progress.states[index] = _State.REJECTED
                    progress.messages.append(sent.reason)
                elif opts.ack and sent.ack_id is not None:
                    progress.states[index] = _State.PENDING
                    progress.ack_ids[index] = sent.ack_id
                    progress.sent_at[index] = loop.time()
                else:
                    if opts.ack:
                        report(
                            f"no_ack:{self.name}",
                            f"exporter {self.name!r}: HEC accepted a request without an "
                            "ackId although ack=True; indexer acknowledgement seems off "
                            "for this token, so delivery is not confirmed",
                        )
                    progress.states[index] = _State.DONE
            if not progress.ack_ids:
                if progress.indices(_State.UNSENT):
                    continue
                return None
            outcome = await self._await_acks(progress)
            if outcome is not None:
                return outcome

    async def _await_acks(self, progress: _Progress) -> ExportResult | None:
        """Poll once after the interval; re-queue what is overdue."""
        opts = self.options
        loop = asyncio.get_running_loop()
        await asyncio.sleep(opts.ack_poll_interval)
        pending = dict(progress.ack_ids)
        answer = await self._http.poll_acks(sorted(set(pending.values())), self._channel)
        if isinstance(answer, AckDisabled):
            self._ack_unavailable(progress, answer.reason)
            return None
        if isinstance(answer, ExportResult):
            return answer
        for index, ack_id in pending.items():
            if answer.acks.get(ack_id):
                progress.states[index] = _State.DONE
                del progress.ack_ids[index]
                del progress.sent_at[index]
        now = loop.time()
        overdue = [i for i, at in progress.sent_at.items() if now - at >= opts.ack_timeout]
        if overdue:
            for index in overdue:
                progress.unsend(index)
            return ExportResult.retryable(
                f"{len(overdue)} request(s) not acknowledged within {opts.ack_timeout:g}s "
                "(ack_timeout); re-sending them"
            )
        return None

    def _ack_unavailable(self, progress: _Progress, reason: str) -> None:
        # The requests were accepted but cannot be confirmed. Count them delivered
        # (re-sending would duplicate them) and say so.
        report(f"ack_disabled:{self.name}", f"exporter {self.name!r}: {reason}")
        for index in list(progress.ack_ids):
            progress.states[index] = _State.DONE
        progress.ack_ids.clear()
        progress.sent_at.clear()

    def _channel_lost(self, progress: _Progress, reason: str) -> ExportResult:
        # HEC forgot the channel (e.g. idle expiry): its ackIds mean nothing any more.
        for index in list(progress.ack_ids):
            progress.unsend(index)
        if self.options.channel is not None:
            return ExportResult.failure(
                f"{reason}: HEC does not accept channel= (FAPILOG_SPLUNK_CHANNEL)"
            )
        self._channel = str(uuid.uuid4())
        return ExportResult.retryable(f"{reason}; continuing on a new channel")

    # -- results ---------------------------------------------------------------------

    def _interrupted(self, progress: _Progress, outcome: ExportResult) -> ExportResult:
        delivered = progress.records(_State.DONE)
        if not delivered:
            return outcome
        # Earlier requests got through: report the rest as rejected, not the batch.
        rejected = len(progress.batch) - delivered
        return ExportResult.partial(rejected, outcome.reason)

    def _finished(self, progress: _Progress) -> ExportResult:
        rejected_records = progress.records(_State.REJECTED)
        if not progress.dropped and not rejected_records:
            return ExportResult.success()
        reasons = []
        if progress.dropped:
            reasons.append(
                f"{progress.dropped} record(s) dropped: each alone exceeds the "
                f"{self.options.max_request_bytes}-byte request size limit (max_request_bytes)"
            )
        if rejected_records:
            detail = "; ".join(dict.fromkeys(progress.messages))
            reasons.append(f"{rejected_records} record(s) rejected by HEC: {detail}")
        return ExportResult.partial(progress.dropped + rejected_records, "; ".join(reasons))

    # -- lifecycle -------------------------------------------------------------------

    async def shutdown(self) -> None:
        """Close the HTTP client and its connections."""
        await self._http.aclose()

    def after_fork(self) -> None:
        """Forget the parent's client; a generated channel is replaced by a new one."""
        self._http.forget()
        self._progress = None
        if self.options.channel is None:
            # ackIds are per channel: two processes must not share a generated one.
            self._channel = str(uuid.uuid4())
