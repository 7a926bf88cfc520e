"""AsyncBatchProcessor: batches events and fans each batch out to every exporter.

Each exporter gets its own lane (a bounded backlog and a task), so a slow or
failing exporter delays only itself. A lane makes one export call at a time and
retries retryable results with exponential backoff and full jitter, honouring
the backend's retry-after as a minimum, all within the export timeout. A failed
attempt is reported at once (rate-limited per exporter and cause), not only when
the retries run out.
"""

from __future__ import annotations

import asyncio
import collections
import random
import re
from typing import TYPE_CHECKING

from fapilog._diagnostics import reporter
from fapilog.exporters._base import ExportStatus

if TYPE_CHECKING:
    from collections.abc import Sequence

    from fapilog._event import LogEvent
    from fapilog.exporters._base import Exporter, ExportResult
    from fapilog.pipeline._stats import Accounting, LaneCounters

# A private generator: retry jitter must not advance (or race with) the application's
# global random state.
_JITTER = random.Random()

__all__ = ["AsyncBatchProcessor", "BatchOptions"]


class BatchOptions:
    """Tunables of the batch processor (validated by :class:`fapilog.Settings`)."""

    __slots__ = (
        "block",
        "drop_oldest",
        "export_timeout",
        "initial_backoff",
        "max_backoff",
        "max_batch_size",
        "max_queue_bytes",
        "max_queue_size",
        "schedule_delay",
    )

    def __init__(
        self,
        *,
        max_batch_size: int = 512,
        schedule_delay: float = 0.2,
        export_timeout: float = 30.0,
        max_queue_size: int = 20_000,
        max_queue_bytes: int = 64 * 1024 * 1024,
        block: bool = True,
        drop_oldest: bool = False,
        initial_backoff: float = 0.1,
        max_backoff: float = 5.0,
    ) -> None:
        self.max_batch_size = max_batch_size
        self.schedule_delay = schedule_delay
        self.export_timeout = export_timeout
        self.max_queue_size = max_queue_size
        self.max_queue_bytes = max_queue_bytes
        self.block = block
        self.drop_oldest = drop_oldest
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff


class _Batch:
    """One batch shared by all lanes; counted as done when the last lane finishes."""

    __slots__ = ("delivered", "events", "fail_reason", "nbytes", "pending")

    def __init__(self, events: list[LogEvent], lanes: int, nbytes: int) -> None:
        self.events = events
        self.nbytes = nbytes  # the sum of estimate_size() over events
        self.pending = lanes
        self.delivered = len(events)
        self.fail_reason = ""


class _Lane:
    """The queue and export task of one exporter."""

    def __init__(
        self,
        processor: AsyncBatchProcessor,
        exporter: Exporter,
        counters: LaneCounters,
    ) -> None:
        self.processor = processor
        self.exporter = exporter
        self.name = exporter.name or type(exporter).__name__
        self.counters = counters
        self.backlog: collections.deque[_Batch] = collections.deque()
        self.backlog_events = 0
        self.backlog_bytes = 0
        self.has_work = asyncio.Event()
        self.has_room = asyncio.Event()
        self.has_room.set()
        self.idle = asyncio.Event()
        self.idle.set()
        self.exporting = 0  # batches being exported right now
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(
            self._run(), name=f"fapilog-lane-{self.name}"
        )

    def offer(self, batch: _Batch) -> None:
        """Queue ``batch``; when the backlog is full, drop per the overflow policy."""
        opts = self.processor.options
        acct = self.processor.accounting
        with acct.lock:
            if not acct.closed:
                self.counters.received += len(batch.events)
                self.counters.in_flight += len(batch.events)
        self.backlog.append(batch)
        self.backlog_events += len(batch.events)
        self.backlog_bytes += batch.nbytes
        self.idle.clear()
        self.has_work.set()
        # Under "block" the worker stops intake instead (it waits for has_room), so
        # the backlog may overshoot by one drain; the other policies drop here.
        while not opts.block and self._over(0) and len(self.backlog) > 1:
            victim = self.backlog.popleft() if opts.drop_oldest else self.backlog.pop()
            self.backlog_events -= len(victim.events)
            self.backlog_bytes -= victim.nbytes
            self.processor.lane_done(self, victim, 0, "backlog")
            self._report(
                "backlog",
                f"backlog full; {len(victim.events)} event(s) dropped as export_backlog",
            )
        if self._over(1):
            self.has_room.clear()

    def _over(self, slack: int) -> bool:
        """True when the backlog exceeds (slack=0) or has reached (slack=1) a bound."""
        opts = self.processor.options
        return (
            self.backlog_events + slack > opts.max_queue_size
            or self.backlog_bytes + slack > opts.max_queue_bytes
        )

    async def _run(self) -> None:
        # Up to the exporter's max_concurrent_exports batches are exported at once
        # (1 unless the exporter says its export() is safe to call concurrently).
        limit = max(1, int(self.exporter.max_concurrent_exports))
        slots = asyncio.Semaphore(limit)
        running: set[asyncio.Task[None]] = set()
        try:
            while True:
                if not self.backlog:
                    if not self.exporting:
                        self.idle.set()
                    self.has_work.clear()
                    await self.has_work.wait()
                    continue
                await slots.acquire()
                if not self.backlog:  # dropped by the overflow policy meanwhile
                    slots.release()
                    continue
                batch = self.backlog.popleft()
                self.backlog_events -= len(batch.events)
                self.backlog_bytes -= batch.nbytes
                if not self._over(1):
                    self.has_room.set()
                self.exporting += 1
                task = asyncio.get_running_loop().create_task(self._export_one(batch, slots))
                running.add(task)
                task.add_done_callback(running.discard)
        finally:
            for task in running:
                task.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)

    async def _export_one(self, batch: _Batch, slots: asyncio.Semaphore) -> None:
        """Export one batch (with retries) and account for it."""
        try:
            delivered, reason = await self._export(batch.events)
        except asyncio.CancelledError:
            self.processor.lane_done(self, batch, 0, "shutdown")
            raise
        finally:
            self.exporting -= 1
            slots.release()
        self.processor.lane_done(self, batch, delivered, reason)
        if not self.backlog and not self.exporting:
            self.idle.set()

    async def _export(self, events: Sequence[LogEvent]) -> tuple[int, str]:
        """Export with retries; returns (delivered count, drop reason or "")."""
        opts = self.processor.options
        loop = asyncio.get_running_loop()
        deadline = loop.time() + opts.export_timeout
        attempt = 0
        last_reason = ""
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                self._report("timeout", f"export timed out after {opts.export_timeout:g}s")
                return 0, "timeout"
            try:
                result: ExportResult = await asyncio.wait_for(
                    self.exporter.export(events), remaining
                )
            except TimeoutError:
                self._report("timeout", f"export timed out after {opts.export_timeout:g}s")
                return 0, "timeout"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # an exporter bug must not kill the lane
                self._report("exception", f"export raised {type(exc).__name__}")
                result = _retryable_after_exception(exc)
                raised = True
            else:
                raised = False
            status = result.status
            if status is ExportStatus.SUCCESS:
                return len(events), ""
            if status is ExportStatus.PARTIAL:
                rejected = min(result.rejected, len(events))
                if rejected:
                    self._report("rejected", f"{rejected} record(s) rejected: {result.reason}")
                return len(events) - rejected, "rejected" if rejected else ""
            if status is ExportStatus.FAILURE:
                self._report(f"failed:{_cause(result.reason)}", f"export failed: {result.reason}")
                return 0, "failed"
            last_reason = result.reason
            delay = _JITTER.uniform(0, min(opts.max_backoff, opts.initial_backoff * 2**attempt))
            if result.retry_after is not None:
                delay = max(delay, result.retry_after)
            attempt += 1
            if loop.time() + delay >= deadline:
                self._report(
                    "retry_exhausted",
                    f"gave up after {attempt} attempt(s) within the export timeout: {last_reason}",
                )
                return 0, "retry_exhausted"
            # Said at the first failed attempt, not when the retries run out (the
            # export timeout, 30 s by default): once per cause, rate-limited.
            if not raised:
                self._report(
                    f"retrying:{_cause(last_reason)}",
                    f"export failed, retrying for up to {opts.export_timeout:g}s: {last_reason}",
                )
            with self.processor.accounting.lock:
                self.counters.retries += 1
            await asyncio.sleep(delay)

    def _report(self, kind: str, message: str) -> None:
        self.counters.last_error = message  # for the loss line at shutdown
        reporter.report(f"{kind}:{self.name}", f"exporter {self.name!r}: {message}")


def estimate_size(event: LogEvent) -> int:
    """A cheap estimate of an event's encoded size in bytes, to bound memory.

    Strings and bytes count their length, every attribute a fixed overhead for its
    key and framing, other values nothing more. Far cheaper than encoding, and it
    catches what matters: big strings.
    """
    attributes = event.attributes
    text = 0
    for value in attributes.values():
        cls = type(value)
        if cls is str or cls is bytes:
            text += len(value)
    return size_from_parts(event.body, len(attributes), text)


def size_from_parts(body: object, attributes: int, text: int) -> int:
    """:func:`estimate_size` of an event with ``body``, ``attributes`` attributes and
    ``text`` bytes of string and bytes attribute values (for callers that summed them
    already)."""
    cls = type(body)
    return (
        96
        + (len(body) if cls is str or cls is bytes else 32)  # type: ignore[arg-type]  # checked by cls
        + 32 * attributes
        + text
    )


_DIGITS = re.compile(r"\d+")


def _cause(reason: str) -> str:
    """The cause of a failure, for rate-limiting its reports: ``reason`` with its
    numbers (counts, durations, ports of a retried address) blurred, cut short."""
    return _DIGITS.sub("#", reason)[:160]


def _retryable_after_exception(exc: Exception) -> ExportResult:
    from fapilog.exporters._base import ExportResult

    return ExportResult.retryable(f"{type(exc).__name__} raised by exporter")


class AsyncBatchProcessor:
    """Collects processed events into batches and exports them through lanes.

    Lives on the pipeline's worker loop; not thread-safe by design.
    """

    def __init__(
        self,
        exporters: Sequence[Exporter],
        options: BatchOptions,
        accounting: Accounting,
    ) -> None:
        self.options = options
        self.accounting = accounting
        self.exporters = list(exporters)
        self._pending: list[LogEvent] = []
        self._pending_sizes: list[int] = []  # estimate_size() of each pending event
        self._pending_since = 0.0
        # True from a batch sent for being full until the partial one after it goes:
        # the pipeline then sends that partial as soon as the buffer has gone quiet.
        self._burst = False
        self._lanes: list[_Lane] = []
        self._names: set[str] = set()
        for exporter in self.exporters:
            name = exporter.name or type(exporter).__name__
            unique, n = name, 2
            while unique in self._names:
                unique, n = f"{name}#{n}", n + 1
            self._names.add(unique)
            lane = _Lane(self, exporter, accounting.lane(unique))
            lane.name = unique
            self._lanes.append(lane)

    def start(self) -> None:
        for lane in self._lanes:
            lane.start()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def add(self, events: list[LogEvent], sizes: list[int]) -> None:
        """Stage processed events (already counted as ``staged``) and their sizes.

        ``sizes`` holds :func:`estimate_size` of each event, in order.
        """
        if not events:
            return
        if not self._pending:
            self._pending_since = asyncio.get_running_loop().time()
        self._pending.extend(events)
        self._pending_sizes.extend(sizes)
        while len(self._pending) >= self.options.max_batch_size:
            self._emit(self.options.max_batch_size)
            self._burst = True

    def end_burst(self) -> None:
        """The buffer went quiet: send the partial batch now if a full one preceded it.

        A burst's tail then leaves at once instead of waiting out the schedule delay,
        at the cost of at most one extra (partial) export per full batch; a trickle
        that never fills a batch still waits for ``schedule_delay``.
        """
        if self._burst:
            self._burst = False
            if self._pending:
                self._emit(len(self._pending))

    def due(self, now: float) -> float | None:
        """Seconds until the pending partial batch must go out (None: nothing pending)."""
        if not self._pending:
            return None
        return max(0.0, self._pending_since + self.options.schedule_delay - now)

    def tick(self, now: float) -> None:
        """Send the partial batch if its schedule delay has passed."""
        if self._pending and now >= self._pending_since + self.options.schedule_delay:
            self._burst = False
            self._emit(len(self._pending))

    def send_pending(self) -> None:
        """Send everything staged now (flush)."""
        self._burst = False
        while self._pending:
            self._emit(min(len(self._pending), self.options.max_batch_size))

    def _emit(self, n: int) -> None:
        events = self._pending[:n]
        del self._pending[:n]
        nbytes = sum(self._pending_sizes[:n])
        del self._pending_sizes[:n]
        if self._pending:
            self._pending_since = asyncio.get_running_loop().time()
        acct = self.accounting
        with acct.lock:
            if not acct.closed:
                acct.staged -= len(events)
                acct.exporting += len(events)
        if not self._lanes:
            self._finish(_Batch(events, 0, nbytes))
            return
        batch = _Batch(events, len(self._lanes), nbytes)
        for lane in self._lanes:
            lane.offer(batch)

    def has_room(self) -> bool:
        """False when some lane's backlog is full (``block`` policy: stop intake)."""
        return all(lane.has_room.is_set() for lane in self._lanes)

    async def wait_for_room(self) -> None:
        for lane in self._lanes:
            await lane.has_room.wait()

    def lane_done(self, lane: _Lane, batch: _Batch, delivered: int, reason: str) -> None:
        n = len(batch.events)
        acct = self.accounting
        with acct.lock:
            if not acct.closed:
                lane.counters.in_flight -= n
                lane.counters.exported += delivered
                if delivered < n:
                    lane.counters.dropped[reason or "failed"] += n - delivered
        if delivered < batch.delivered:
            batch.delivered = delivered
            # "shutdown" means the pipeline gave up, not that the backend refused.
            batch.fail_reason = reason if reason == "shutdown" else f"export_{reason or 'failed'}"
        batch.pending -= 1
        if batch.pending == 0:
            self._finish(batch)

    def _finish(self, batch: _Batch) -> None:
        n = len(batch.events)
        acct = self.accounting
        with acct.lock:
            if acct.closed:
                return
            acct.exporting -= n
            acct.exported += batch.delivered
            if batch.delivered < n:
                acct.dropped[batch.fail_reason] += n - batch.delivered

    async def wait_idle(self) -> None:
        """Wait until every lane has exported everything handed to it."""
        for lane in self._lanes:
            await lane.idle.wait()

    async def stop(self) -> None:
        """Cancel the lanes (whatever they hold is counted by the caller)."""
        tasks = [lane.task for lane in self._lanes if lane.task is not None]
        for task in tasks:
            task.cancel()
        for lane in self._lanes:
            lane.has_room.set()  # release a worker waiting for room under "block"
        await asyncio.gather(*tasks, return_exceptions=True)
