"""What the gRPC and HTTP exporters share: splitting, the deadline, resuming, results."""

from __future__ import annotations

import abc
import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fapilog.exporters._base import Exporter, ExportResult, ExportStatus
from fapilog.exporters._progress import BatchProgress
from fapilog.exporters.otlp._wire import split_wire

if TYPE_CHECKING:
    from collections.abc import Sequence

    from fapilog._event import LogEvent
    from fapilog.exporters.otlp._config import OTLPExporterOptions
    from fapilog.exporters.otlp._wire import WireRequest

__all__ = ["Accepted", "OTLPExporterBase"]


@dataclass(frozen=True, slots=True)
class Accepted:
    """The backend took a request; ``rejected`` of its records were refused for good."""

    rejected: int = 0
    message: str = ""


class _Progress(BatchProgress):
    """How far the export of one batch got, so a retry sends only what is left.

    The pipeline retries a retryable result with the very same batch; without this,
    a batch split into several requests would deliver its first requests again on
    every retry.
    """

    __slots__ = ("dropped", "messages", "next", "rejected", "requests")

    def __init__(
        self, batch: Sequence[LogEvent], requests: list[WireRequest], dropped: int
    ) -> None:
        super().__init__(batch)
        self.requests = requests
        self.dropped = dropped
        self.next = 0
        self.rejected = 0
        self.messages: list[str] = []

    def unsent(self) -> int:
        return sum(item.records for item in self.requests[self.next :])


class OTLPExporterBase(Exporter):
    """Exports a batch as one or more OTLP requests within the configured timeout.

    Subclasses implement :meth:`_send` (one request, one attempt) and the connection
    lifecycle. Outcomes combine as follows:

    * every request accepted: success, or ``partial`` counting the records the
      backend rejected plus those dropped for exceeding ``max_request_bytes``;
    * a retryable error: ``retryable``; the next call with the same batch resumes
      after the requests already delivered;
    * a permanent error: ``failure`` if nothing was delivered yet, else ``partial``
      rejecting every record not delivered.

    Args:
        options: the resolved options.
    """

    api_version = "1.0"  # the fapilog.plugin API it is written for

    #: Batches the pipeline may export at once: requests of different batches overlap
    #: the round trip to the collector (gRPC multiplexes them on one connection, HTTP
    #: uses a connection each). Records of different batches may then arrive out of
    #: order, as OTLP allows. Set by ``max_concurrent_exports`` in the options.
    max_concurrent_exports: int = 1

    def __init__(self, options: OTLPExporterOptions) -> None:
        self.options = options
        self.max_concurrent_exports = options.max_concurrent_exports
        # One entry per batch being exported (a retried or cancelled call resumes
        # from it); bounded, in case calls cancelled for good leave theirs behind.
        self._progress: dict[int, _Progress] = {}

    def __repr__(self) -> str:
        opts = self.options
        keys = sorted(opts.headers)
        return (
            f"{type(self).__name__}(endpoint={opts.display_endpoint!r}, "
            f"protocol={opts.protocol!r}, compression={opts.compression!r}, "
            f"timeout={opts.timeout:g}, headers={keys!r})"
        )

    async def export(self, batch: Sequence[LogEvent]) -> ExportResult:
        """Send ``batch``, split into requests of at most ``max_request_bytes``.

        Args:
            batch: events in emission order; not mutated.

        Returns:
            The combined outcome (see the class docstring).
        """
        if not batch:
            return ExportResult.success()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.timeout
        key = id(batch)
        progress = self._progress.get(key)
        if progress is None or not progress.is_for(batch):
            result = split_wire(batch, self.options.max_request_bytes)
            progress = _Progress(batch, result.requests, result.dropped)
            # Kept until a final outcome, so a cancelled call (the pipeline's own
            # timeout) also resumes where it stopped.
            self._progress[key] = progress
            while len(self._progress) > 2 * self.max_concurrent_exports + 2:
                del self._progress[next(iter(self._progress))]
        while progress.next < len(progress.requests):
            remaining = deadline - loop.time()
            if remaining <= 0:
                return ExportResult.retryable(
                    f"timed out after {self.options.timeout:g}s "
                    f"({progress.next} of {len(progress.requests)} requests sent)"
                )
            outcome = await self._send(progress.requests[progress.next].payload, remaining)
            if isinstance(outcome, ExportResult):
                return self._interrupted(key, progress, outcome)
            progress.next += 1
            if outcome.rejected:
                progress.rejected += outcome.rejected
                if outcome.message:
                    progress.messages.append(self.options.redact(outcome.message))
        self._progress.pop(key, None)
        return self._finished(progress)

    def _interrupted(self, key: int, progress: _Progress, outcome: ExportResult) -> ExportResult:
        if outcome.status is ExportStatus.RETRYABLE:
            return outcome
        self._progress.pop(key, None)
        if progress.next == 0:
            return outcome
        # Earlier requests got through: report the rest as rejected, not the batch.
        rejected = progress.dropped + progress.rejected + progress.unsent()
        return ExportResult.partial(rejected, outcome.reason)

    def _finished(self, progress: _Progress) -> ExportResult:
        rejected = progress.dropped + progress.rejected
        if not rejected:
            return ExportResult.success()
        reasons = []
        if progress.dropped:
            reasons.append(
                f"{progress.dropped} record(s) dropped: each alone exceeds the "
                f"{self.options.max_request_bytes}-byte request size limit (max_request_bytes)"
            )
        if progress.rejected:
            detail = "; ".join(dict.fromkeys(progress.messages))
            reasons.append(
                f"{progress.rejected} record(s) rejected by the backend"
                + (f": {detail}" if detail else "")
            )
        return ExportResult.partial(rejected, "; ".join(reasons))

    @abc.abstractmethod
    async def _send(self, payload: bytes, timeout: float) -> Accepted | ExportResult:
        """Make one attempt at delivering one request.

        Args:
            payload: the serialised ``ExportLogsServiceRequest``.
            timeout: seconds left for this attempt.

        Returns:
            :class:`Accepted` when the backend took the request, else a retryable or
            failure :class:`ExportResult` with a secret-free reason.
        """
