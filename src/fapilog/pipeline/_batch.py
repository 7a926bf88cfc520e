"""AsyncBatchProcessor: batches events and fans each batch out to every exporter.

Each exporter gets its own lane (a bounded backlog, a task and a circuit breaker),
so a slow or failing exporter delays only itself. A lane makes one export call at a
time (or up to the exporter's ``max_concurrent_exports``) and retries retryable
results with the pauses of a :class:`~fapilog._retry.RetryPolicy` (the exporter's own
``retry_policy``, else the pipeline's: exponential backoff with full jitter, at most
a second apart by default, so delivery resumes promptly once the destination is
back), honouring the backend's retry-after as a minimum, all within the export
timeout and the policy's ``max_attempts``; the last attempt is made at the deadline
rather than given up early. A failed attempt is reported at once (rate-limited per
exporter and cause), not only when the retries run out.

Back-pressure: when a lane's backlog reaches half its bounds the worker stops
taking events from the intake buffer and waits for room, so the overflow policy
applies at the intake, before any processing (the cheapest place to drop). A lane
that is that full and has delivered nothing for longer than the lane wait (or four
times its usual export time) is *stalled*: it starts shedding, i.e. it no longer
holds the worker up, keeps filling the other half of its backlog and drops only
what does not fit its full bounds (counted for that exporter as ``backlog``), until
it is back under half. One stuck destination therefore never stalls the others or
the application beyond the lane wait, and a lane that only paused loses nothing
unless the pause outlasts the second half of its backlog.

With the durable spool on (:mod:`fapilog.pipeline._durable`) every batch also has a
range of sequence numbers on disk. A shedding lane then *parks* what does not fit
instead of dropping it (it keeps the range and lets go of the events) and, once
parked, takes nothing more from memory: it reads the parked batches back from the
spool in order, one at a time when it has nothing else to export. A batch that timed
out or ran out of retries is parked again rather than dropped, so an outage loses
nothing while the disk bound holds. Every final outcome (delivered, rejected,
failed) moves the lane's cursor past the batch once every earlier batch of the lane
had its own; a batch cut short by shutdown stays on disk for the next process.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import re
from typing import TYPE_CHECKING

from fapilog._diagnostics import reporter
from fapilog._metrics import error_type
from fapilog._retry import RetryPolicy
from fapilog.exporters._base import ExportStatus
from fapilog.pipeline._breaker import CircuitBreaker
from fapilog.pipeline._size import estimate_size, size_from_parts

if TYPE_CHECKING:
    from collections.abc import Sequence

    from fapilog._event import LogEvent
    from fapilog._metrics import LaneMetrics, PipelineMetrics
    from fapilog.exporters._base import Exporter, ExportResult
    from fapilog.pipeline._durable import SpoolLink
    from fapilog.pipeline._stats import Accounting, LaneCounters

__all__ = [
    "AsyncBatchProcessor",
    "BatchOptions",
    "estimate_size",
    "size_from_parts",
]

#: A final attempt is not started with less than this left before the export deadline.
_MIN_ATTEMPT = 0.05
#: Weight of the newest delivered export's duration in a lane's usual export time.
_EWMA = 0.2
#: A result the half-open probe gives back: the batch stays at the head of the backlog.
_KEEP = "keep"
#: The policy of a pipeline built without one: backoff from 0.1 s up to 1 s apart.
_DEFAULT_RETRY = RetryPolicy()


class BatchOptions:
    """Tunables of the batch processor (validated by :class:`fapilog.Settings`)."""

    __slots__ = (
        "block",
        "drop_oldest",
        "export_timeout",
        "lane_wait",
        "max_batch_bytes",
        "max_batch_size",
        "max_queue_bytes",
        "max_queue_size",
        "metrics",
        "retry",
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
        retry: RetryPolicy = _DEFAULT_RETRY,
        lane_wait: float = 0.1,
        max_batch_bytes: int | None = None,
    ) -> None:
        self.max_batch_size = max_batch_size
        #: The most estimated bytes one batch holds (it is sent early when reached).
        self.max_batch_bytes = max_batch_bytes or max(1, max_queue_bytes // 32)
        self.schedule_delay = schedule_delay
        self.export_timeout = export_timeout
        self.max_queue_size = max_queue_size
        self.max_queue_bytes = max_queue_bytes
        self.block = block
        self.drop_oldest = drop_oldest
        #: The pauses between attempts of one batch, for exporters without their own
        #: :attr:`~fapilog.exporters.Exporter.retry_policy`.
        self.retry = retry
        #: How long the worker waits for a full lane that delivers nothing before
        #: that lane starts shedding (see the module docstring).
        self.lane_wait = lane_wait
        #: Where the lanes record export durations and delivered bytes (set when the
        #: pipeline is observed, see :mod:`fapilog._metrics`); None: not recorded.
        self.metrics: PipelineMetrics | None = None


class _Batch:
    """One batch shared by all lanes; counted as done when the last lane finishes.

    With the spool on it covers the sequence numbers ``[first_seq, end_seq)``; a lane
    that parks it lets go of its events (the last one to hold them frees them) and
    later exports a copy read back from disk whose ``ledger`` is this batch.
    """

    __slots__ = (
        "count",
        "delivered",
        "end_seq",
        "events",
        "fail_reason",
        "first_seq",
        "holders",
        "nbytes",
        "origin",
        "pending",
        "replay",
    )

    def __init__(
        self,
        events: list[LogEvent],
        lanes: int,
        nbytes: int,
        first_seq: int = -1,
        end_seq: int = -1,
    ) -> None:
        self.events = events
        self.count = len(events)
        self.nbytes = nbytes  # the sum of estimate_size() over events
        self.pending = lanes
        self.delivered = len(events)
        self.fail_reason = ""
        self.first_seq = first_seq
        self.end_seq = end_seq
        self.holders = lanes  # lanes that still hold the events in memory
        #: A copy read back from the spool: the batch it was read for; else None. Not
        #: ``self``: a batch that refers to itself is a reference cycle, which only the
        #: garbage collector's full passes free, keeping its events alive until then.
        self.origin: _Batch | None = None
        #: A batch an earlier process left behind: counted by the spool link only.
        self.replay = False

    @property
    def ledger(self) -> _Batch:
        """The batch the accounting counts: itself, or for a re-read copy the original."""
        origin = self.origin
        return self if origin is None else origin


class _Lane:
    """The queue, export task and circuit breaker of one exporter."""

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
        self.exporting_bytes = 0  # their estimated bytes: they count in the byte bound
        self.task: asyncio.Task[None] | None = None
        self.breaker = CircuitBreaker()
        #: True while the lane drops what does not fit its backlog (see the module doc).
        self.shedding = False
        now = asyncio.get_running_loop().time()
        self.full_since = now  # when the backlog last became full
        self.last_delivery = now  # when an export call last delivered
        self.usual_export = 0.0  # moving average of a delivering export call, seconds
        #: Self-metrics recorder (export call durations, delivered bytes), if observed.
        self.metrics: LaneMetrics | None = None
        #: Spool only: batches behind the backlog, kept as ranges (events on disk).
        self.parked: collections.deque[_Batch] = collections.deque()
        #: Spool only: the batches taken and not yet finished, in order, and those of
        #: them finished (by id); the cursor moves past the finished prefix.
        self.order: collections.deque[_Batch] = collections.deque()
        self.settled: set[int] = set()

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(
            self._run(), name=f"fapilog-lane-{self.name}"
        )

    def offer(self, batch: _Batch) -> None:
        """Queue ``batch``; while shedding, drop what exceeds the backlog's bounds."""
        opts = self.processor.options
        acct = self.processor.accounting
        with acct.lock:
            if not acct.closed:
                self.counters.received += batch.count
                self.counters.in_flight += batch.count
        durable = batch.first_seq >= 0 and self.processor.durable_on()
        if durable:
            self.order.append(batch)
            if self.parked:  # behind: catch up from the spool, in order
                self._park(batch)
                self.has_work.set()
                return
        self.backlog.append(batch)
        self.backlog_events += len(batch.events)
        self.backlog_bytes += batch.nbytes
        self.idle.clear()
        self.has_work.set()
        # Otherwise the worker stops intake instead (it waits for has_room), so the
        # backlog may overshoot by one drain, and the intake's overflow policy drops.
        while self.shedding and self._over(0) and len(self.backlog) > 1:
            if durable and self.backlog[-1].first_seq >= 0:
                # On disk: keep the range, let go of the events; nothing is lost.
                victim = self.backlog.pop()
                self.backlog_events -= victim.count
                self.backlog_bytes -= victim.nbytes
                self._park(victim, front=True)
                continue
            victim = self.backlog.popleft() if opts.drop_oldest else self.backlog.pop()
            self.backlog_events -= victim.count
            self.backlog_bytes -= victim.nbytes
            self.processor.lane_done(self, victim, 0, "backlog")
            self._report(
                "backlog",
                f"backlog full and not draining; {victim.count} event(s) dropped as export_backlog",
            )
        if self._over(1, half=True) and self.has_room.is_set():
            self.has_room.clear()
            self.full_since = asyncio.get_running_loop().time()

    def _park(self, batch: _Batch, *, front: bool = False) -> None:
        """Keep ``batch`` as a range to read back from the spool (see the module doc)."""
        ledger = batch.ledger
        if batch is ledger:
            ledger.holders -= 1
            if ledger.holders <= 0:
                ledger.events = []  # every lane has it on disk only: free the memory
        if front:
            self.parked.appendleft(ledger)
        else:
            self.parked.append(ledger)

    def _unpark(self) -> bool:
        """Read the oldest parked batch back into the backlog; False: none left.

        Called when the lane exports nothing, so its cursor is at that batch. Records
        the spool lost meanwhile are counted as ``spool_lost`` for this lane.
        """
        link = self.processor.durable
        while self.parked:
            ledger = self.parked.popleft()
            records = (
                None if link is None else link.read(self.name, ledger.first_seq, ledger.end_seq)
            )
            if records is None:  # the disk failed: the events were nowhere else
                self.processor.lane_done(self, ledger, 0, "spool_unavailable", held=False)
                self.drop_parked("spool_unavailable")
                return False
            if not records:
                self.processor.lane_done(self, ledger, 0, "spool_lost", held=False)
                continue
            events = [event for _, event in records]
            copy = _Batch(events, 0, sum(estimate_size(e) for e in events))
            copy.first_seq, copy.end_seq = ledger.first_seq, ledger.end_seq
            copy.origin = ledger
            self.backlog.append(copy)
            self.backlog_events += copy.count
            self.backlog_bytes += copy.nbytes
            return True
        return False

    def drop_parked(self, reason: str) -> None:
        """Count every parked batch as not delivered for ``reason`` (the spool is off)."""
        while self.parked:
            self.processor.lane_done(self, self.parked.popleft(), 0, reason, held=False)

    def settle(self, ledger: _Batch) -> None:
        """``ledger`` had its final outcome here: move the cursor past what is finished."""
        if ledger.first_seq < 0 or not self.order:
            return
        self.settled.add(id(ledger))
        upto = -1
        while self.order and id(self.order[0]) in self.settled:
            done = self.order.popleft()
            self.settled.discard(id(done))
            upto = done.end_seq
        link = self.processor.durable
        if upto >= 0 and link is not None:
            link.commit(self.name, upto)

    def _over(self, slack: int, *, half: bool = False) -> bool:
        """True when the backlog exceeds (slack=0) or has reached (slack=1) its bounds.

        With ``half``, half the bounds: where back-pressure starts. The other half is
        the room a stalled lane keeps filling before it drops, so a delivering lane
        that paused briefly (a slow export, a busy interpreter) loses nothing.
        """
        opts = self.processor.options
        events, nbytes = opts.max_queue_size, opts.max_queue_bytes
        if half:
            events, nbytes = max(1, events // 2), max(1, nbytes // 2)
        held = self.backlog_bytes + self.exporting_bytes
        return self.backlog_events + slack > events or held + slack > nbytes

    def stall_in(self, now: float) -> float:
        """Seconds until this full lane counts as stalled (<= 0: it is; then it sheds)."""
        if not self.breaker.is_closed:
            return 0.0
        quiet = now - max(self.last_delivery, self.full_since)
        return max(self.processor.options.lane_wait, 4 * self.usual_export) - quiet

    def start_shedding(self, why: str) -> None:
        if self.shedding:
            return
        self._set_shedding(True)
        self._report(
            "shedding",
            f"{why}; it no longer holds up the pipeline: what does not fit its backlog "
            + (
                "waits in the spool and is sent once it delivers"
                if self.processor.durable_on()
                else "is dropped as export_backlog until it drains"
            ),
        )

    def _set_shedding(self, on: bool) -> None:
        self.shedding = on
        acct = self.processor.accounting
        with acct.lock:
            self.counters.shedding = on
            self.counters.circuit = self.breaker.state
            self.counters.circuit_opened = self.breaker.opened

    def _took(self, batch: _Batch) -> None:
        """``batch`` left the backlog: update its bounds, maybe end shedding."""
        self.backlog_events -= batch.count
        self.backlog_bytes -= batch.nbytes
        self._check_room()

    def _check_room(self) -> None:
        """Below half the bounds: signal room, and end shedding (the lane delivers)."""
        if not self._over(1, half=True):
            if self.shedding and self.breaker.is_closed:
                self._set_shedding(False)
            self.has_room.set()

    def _delivered(self, seconds: float) -> None:
        """An export call delivered (all or part of) its batch in ``seconds``."""
        self.last_delivery = asyncio.get_running_loop().time()
        self.usual_export += _EWMA * (seconds - self.usual_export)

    async def _run(self) -> None:
        # Up to the exporter's max_concurrent_exports batches are exported at once
        # (1 unless the exporter says its export() is safe to call concurrently).
        limit = max(1, int(self.exporter.max_concurrent_exports))
        slots = asyncio.Semaphore(limit)
        running: set[asyncio.Task[None]] = set()
        loop = asyncio.get_running_loop()
        try:
            while True:
                if not self.backlog:
                    if self.parked and not self.exporting and self._unpark():
                        continue
                    if not self.exporting and not self.parked:
                        self.idle.set()
                    self.has_work.clear()
                    await self.has_work.wait()
                    continue
                if not self.breaker.is_closed:
                    if running:  # let the calls in flight finish first
                        await asyncio.wait(set(running))
                        continue
                    wait = self.breaker.probe_due(loop.time())
                    if wait > 0:
                        await asyncio.sleep(wait)
                        continue
                    await self._probe()
                    continue
                await slots.acquire()
                if not self.backlog or not self.breaker.is_closed:
                    slots.release()  # dropped meanwhile, or the circuit opened
                    continue
                batch = self.backlog.popleft()
                self.exporting_bytes += batch.nbytes
                self._took(batch)
                self.exporting += 1
                task = loop.create_task(self._export_one(batch, slots))
                # Not kept while the lane waits for the next batch: a frame that still
                # refers to it would keep its events alive (and, once the task is
                # cancelled, in a traceback cycle only the garbage collector frees).
                del batch
                running.add(task)
                task.add_done_callback(running.discard)
        finally:
            for task in running:
                task.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)

    async def _probe(self) -> None:
        """Half-open circuit: one attempt with the head batch; keep it if that fails."""
        batch = self.backlog.popleft()
        self.exporting_bytes += batch.nbytes
        self._took(batch)
        self.exporting += 1
        try:
            delivered, reason = await self._export(batch.events, probe=True)
        except asyncio.CancelledError:
            self.processor.lane_done(self, batch, 0, "shutdown")
            raise
        finally:
            self.exporting -= 1
            self.exporting_bytes -= batch.nbytes
        now = asyncio.get_running_loop().time()
        if reason == _KEEP:
            self.backlog.appendleft(batch)
            self.backlog_events += batch.count
            self.backlog_bytes += batch.nbytes
            if self._over(1, half=True) and self.has_room.is_set():
                self.has_room.clear()
                self.full_since = now
            self.breaker.probe_done(False, now)
            self._set_shedding(True)
            return
        self.breaker.probe_done(reason in ("", "rejected"), now)
        self._set_shedding(not self.breaker.is_closed or self.shedding)
        if self.breaker.is_closed:
            self._check_room()  # shedding may end now
            reporter.report(
                f"circuit_closed:{self.name}",
                f"exporter {self.name!r}: delivering again; circuit closed",
            )
        self.processor.lane_done(self, batch, delivered, reason)

    async def _export_one(self, batch: _Batch, slots: asyncio.Semaphore) -> None:
        """Export one batch (with retries) and account for it."""
        try:
            delivered, reason = await self._export(batch.events)
        except asyncio.CancelledError:
            self.processor.lane_done(self, batch, 0, "shutdown")
            raise
        finally:
            self.exporting -= 1
            self.exporting_bytes -= batch.nbytes
            slots.release()
            self._check_room()
            if self.parked:
                self.has_work.set()  # the lane may read the next parked batch now
        if self.breaker.is_closed:
            self.breaker.batch_done(reason in ("", "rejected"), asyncio.get_running_loop().time())
            if not self.breaker.is_closed:
                self._set_shedding(True)
                reporter.report(
                    f"circuit_open:{self.name}",
                    f"exporter {self.name!r}: circuit open after repeated lost batches; "
                    "no export calls until a probe succeeds (see fapilog.stats())",
                )
        if reason in _NOT_FINAL and self._repark(batch):
            return
        self.processor.lane_done(self, batch, delivered, reason)
        if not self.backlog and not self.exporting and not self.parked:
            self.idle.set()

    def _repark(self, batch: _Batch) -> bool:
        """Spool on: keep a batch that timed out or ran out of retries (on disk) for a
        later attempt instead of dropping it; False when it is not on disk."""
        if batch.first_seq < 0 or not self.processor.durable_on():
            return False
        # Everything behind it waits on disk too, so the lane stays in order.
        while self.backlog and self.backlog[-1].first_seq >= 0:
            later = self.backlog.pop()
            self.backlog_events -= later.count
            self.backlog_bytes -= later.nbytes
            self._park(later, front=True)
        self._park(batch, front=True)
        self._check_room()
        if self.breaker.is_closed:
            self._set_shedding(True)  # behind: it no longer holds the pipeline up
        self.has_work.set()
        return True

    async def _export(self, events: Sequence[LogEvent], *, probe: bool = False) -> tuple[int, str]:
        """Export with retries; returns (delivered count, drop reason or "").

        With ``probe`` (a half-open circuit), one attempt only: a retryable failure
        returns the reason :data:`_KEEP` (the caller keeps the batch).
        """
        opts = self.processor.options
        policy = self._policy()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + opts.export_timeout
        attempts = 0  # export calls made for this batch
        last_reason = ""
        while True:
            started = loop.time()
            remaining = deadline - started
            if remaining <= 0:
                self._report("timeout", f"export timed out after {opts.export_timeout:g}s")
                return 0, "timeout"
            attempts += 1
            try:
                result: ExportResult = await asyncio.wait_for(
                    self.exporter.export(events), remaining
                )
            except TimeoutError:
                if self.metrics is not None:
                    self.metrics.export_call(loop.time() - started, "timeout")
                if probe:
                    return 0, _KEEP
                self._report("timeout", f"export timed out after {opts.export_timeout:g}s")
                return 0, "timeout"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # an exporter bug must not kill the lane
                if self.metrics is not None:
                    self.metrics.export_call(loop.time() - started, error_type(exc))
                self._report("exception", f"export raised {type(exc).__name__}")
                result = _retryable_after_exception(exc)
                raised = True
            else:
                raised = False
                if self.metrics is not None:
                    self._record_call(loop.time() - started, result)
            status = result.status
            if status is ExportStatus.SUCCESS:
                self._delivered(loop.time() - started)
                return len(events), ""
            if status is ExportStatus.PARTIAL:
                self._delivered(loop.time() - started)
                rejected = min(result.rejected, len(events))
                if rejected:
                    self._report("rejected", f"{rejected} record(s) rejected: {result.reason}")
                return len(events) - rejected, "rejected" if rejected else ""
            if status is ExportStatus.FAILURE:
                self._report(f"failed:{_cause(result.reason)}", f"export failed: {result.reason}")
                return 0, "failed"
            last_reason = result.reason
            if probe:
                self._report(
                    f"retrying:{_cause(last_reason)}",
                    f"export failed, circuit stays open: {last_reason}",
                )
                return 0, _KEEP
            if not policy.allows_retry(attempts):
                return self._give_up(attempts, last_reason, "the retry policy's max_attempts")
            left = deadline - loop.time()
            retry_after = result.retry_after
            if retry_after is not None and retry_after >= left:
                # The backend asks for more than is left.
                return self._give_up(attempts, last_reason)
            # The retry-after is a minimum (the policy never shortens it).
            delay = policy.delay(attempts - 1, retry_after)
            # The last attempt is made just before the deadline, not given up early:
            # a destination that came back in the meantime still gets the batch.
            delay = min(delay, left - _MIN_ATTEMPT)
            if delay < 0:
                return self._give_up(attempts, last_reason)
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

    def _record_call(self, seconds: float, result: ExportResult) -> None:
        """Record an export call that returned ``result`` in the duration histogram."""
        assert self.metrics is not None
        status = result.status
        if status is ExportStatus.SUCCESS or (
            status is ExportStatus.PARTIAL and not result.rejected
        ):
            self.metrics.export_call(seconds)
        else:
            self.metrics.export_call(seconds, _ERROR_TYPES[status])

    def _policy(self) -> RetryPolicy:
        """The exporter's own retry policy, else the pipeline's."""
        own = getattr(self.exporter, "retry_policy", None)
        if isinstance(own, RetryPolicy):
            return own
        if own is not None:  # a plugin's mistake must not stop its lane
            reporter.report(
                f"retry_policy:{self.name}",
                f"exporter {self.name!r}: retry_policy is a {type(own).__name__}, "
                "not a RetryPolicy; the pipeline's policy is used",
            )
        return self.processor.options.retry

    def _give_up(
        self, attempts: int, reason: str, limit: str = "the export timeout"
    ) -> tuple[int, str]:
        self._report(
            "retry_exhausted",
            f"gave up after {attempts} attempt(s) within {limit}: {reason}",
        )
        return 0, "retry_exhausted"

    def _report(self, kind: str, message: str) -> None:
        self.counters.last_error = message  # for the loss line at shutdown
        reporter.report(f"{kind}:{self.name}", f"exporter {self.name!r}: {message}")


_DIGITS = re.compile(r"\d+")

#: Outcomes that are not final with the spool on: the batch is parked and sent again.
_NOT_FINAL = frozenset({"timeout", "retry_exhausted"})

#: ``error.type`` of an export call's duration, by the status it returned.
_ERROR_TYPES = {
    ExportStatus.PARTIAL: "rejected",
    ExportStatus.FAILURE: "failed",
    ExportStatus.RETRYABLE: "retryable",
}


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
        durable: SpoolLink | None = None,
    ) -> None:
        self.options = options
        self.accounting = accounting
        #: The durable spool, if on (see the module docstring); None: memory only.
        self.durable = durable
        #: Sequence number of each staged event (spool on), parallel to ``_pending``.
        self._pending_seqs: list[int] = []
        self.exporters = list(exporters)
        self._pending: list[LogEvent] = []
        self._pending_sizes: list[int] = []  # estimate_size() of each pending event
        self._pending_bytes = 0  # their sum
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
            if options.metrics is not None:
                lane.metrics = options.metrics.lane(unique)
            self._lanes.append(lane)

    def start(self) -> None:
        for lane in self._lanes:
            lane.start()

    def durable_on(self) -> bool:
        """Whether the spool is on and working (batches are on disk)."""
        return self.durable is not None and self.durable.active

    def replay(self, ranges: dict[str, list[tuple[int, int]]]) -> None:
        """Park, per lane, the ranges an earlier process left behind (before new events)."""
        for lane in self._lanes:
            for first, end in ranges.get(lane.name, ()):
                stub = _Batch([], 1, 0, first, end)
                stub.count = end - first
                stub.delivered = stub.count
                stub.holders = 0
                stub.replay = True
                lane.order.append(stub)
                lane.parked.append(stub)
            if lane.parked:
                lane.idle.clear()
                lane.has_work.set()

    def lane_names(self) -> list[tuple[str, int]]:
        """(name, max concurrent exports) of every lane, in order."""
        return [
            (lane.name, max(1, int(lane.exporter.max_concurrent_exports))) for lane in self._lanes
        ]

    def spool_failed(self) -> None:
        """The spool went off: what lanes parked is gone (counted), the rest goes on."""
        for lane in self._lanes:
            lane.drop_parked("spool_unavailable")
            lane.order.clear()
            lane.settled.clear()
            lane._check_room()
            if not lane.backlog and not lane.exporting:
                lane.idle.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def add(self, events: list[LogEvent], sizes: list[int], first_seq: int = -1) -> None:
        """Stage processed events (already counted as ``staged``) and their sizes.

        ``sizes`` holds :func:`estimate_size` of each event, in order; ``first_seq``
        the spool sequence number of the first (the others follow), -1 if not spooled.
        """
        if not events:
            return
        if not self._pending:
            self._pending_since = asyncio.get_running_loop().time()
        if self.durable is not None:
            if first_seq >= 0:
                self._pending_seqs.extend(range(first_seq, first_seq + len(events)))
            else:
                self._pending_seqs.extend(itertools.repeat(-1, len(events)))
        self._pending.extend(events)
        self._pending_sizes.extend(sizes)
        self._pending_bytes += sum(sizes)
        self.release()

    def release(self) -> None:
        """Send the full batches staged, as long as no lane that delivers is full.

        What stays staged waits for :meth:`wait_for_room`; a lane's backlog therefore
        overshoots its bounds by at most one batch.
        """
        opts = self.options
        while (
            len(self._pending) >= opts.max_batch_size or self._pending_bytes >= opts.max_batch_bytes
        ) and self.has_room():
            self._emit(self._full_batch())
            self._burst = True
        # Only a partial batch may be left once the lanes have room: what tick() and
        # end_burst() send is never larger than max_batch_size.

    def end_burst(self) -> None:
        """The buffer went quiet: send the partial batch now if a full one preceded it.

        A burst's tail then leaves at once instead of waiting out the schedule delay,
        at the cost of at most one extra (partial) export per full batch; a trickle
        that never fills a batch still waits for ``schedule_delay``.
        """
        self.release()
        if self._burst and self.has_room():
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
        self.release()
        if (
            self._pending
            and now >= self._pending_since + self.options.schedule_delay
            and self.has_room()
        ):
            self._burst = False
            self._emit(len(self._pending))

    def send_pending(self) -> None:
        """Send everything staged now (flush), as far as the lanes have room."""
        self._burst = False
        while self._pending and self.has_room():
            self._emit(self._full_batch())

    def _full_batch(self) -> int:
        """How many staged events the next batch takes: up to ``max_batch_size``, and no
        more than fit ``max_batch_bytes`` (at least one)."""
        opts = self.options
        n = min(len(self._pending), opts.max_batch_size)
        if self._pending_bytes <= opts.max_batch_bytes:
            return n
        room = opts.max_batch_bytes
        for i, size in enumerate(itertools.islice(self._pending_sizes, n)):
            room -= size
            if room < 0:
                return max(1, i)
        return n

    def _emit(self, n: int) -> None:
        events = self._pending[:n]
        del self._pending[:n]
        nbytes = sum(self._pending_sizes[:n])
        del self._pending_sizes[:n]
        self._pending_bytes -= nbytes
        if self._pending:
            self._pending_since = asyncio.get_running_loop().time()
        acct = self.accounting
        with acct.lock:
            if not acct.closed:
                acct.staged -= len(events)
                acct.exporting += len(events)
        first = end = -1
        if self.durable is not None:
            seqs = self._pending_seqs[:n]
            del self._pending_seqs[:n]
            if seqs[0] >= 0 and seqs[-1] >= 0:
                first, end = seqs[0], seqs[-1] + 1
        if not self._lanes:
            self._finish(_Batch(events, 0, nbytes))
            return
        batch = _Batch(events, len(self._lanes), nbytes, first, end)
        for lane in self._lanes:
            lane.offer(batch)

    def has_room(self) -> bool:
        """False when a lane that is not shedding has a full backlog (stop intake)."""
        return all(lane.has_room.is_set() or lane.shedding for lane in self._lanes)

    async def wait_for_room(self) -> None:
        """Wait until no lane that still delivers is full; stalled lanes start shedding.

        Returns at once when every full lane is shedding. A lane that delivers, however
        slowly, is waited for (that is the back-pressure); one that is full and has
        delivered nothing for the lane wait (see :meth:`_Lane.stall_in`) sheds instead.
        """
        loop = asyncio.get_running_loop()
        while True:
            full = [lane for lane in self._lanes if not (lane.has_room.is_set() or lane.shedding)]
            if not full:
                return
            now = loop.time()
            step = float("inf")
            for lane in full:
                left = lane.stall_in(now)
                if left > 0:
                    step = min(step, left)
                else:
                    quiet = now - max(lane.last_delivery, lane.full_since)
                    lane.start_shedding(
                        f"backlog full and nothing delivered for {quiet:.2f}s"
                        if lane.breaker.is_closed
                        else "circuit open"
                    )
            waiting = next((lane for lane in full if not lane.shedding), None)
            if waiting is None:
                return
            try:  # until it has room, or until the first lane would count as stalled
                await asyncio.wait_for(waiting.has_room.wait(), max(step, 0.001))
            except TimeoutError:
                pass

    def lane_done(
        self, lane: _Lane, batch: _Batch, delivered: int, reason: str, *, held: bool = True
    ) -> None:
        """``lane`` is finished with ``batch`` (or a copy of it read back from the spool).

        ``held``: the lane held the events in memory until now (not parked).
        """
        ledger = batch.ledger
        if batch is ledger and held:
            ledger.holders -= 1
            if ledger.holders <= 0 and ledger.pending > 1:
                ledger.events = []  # the other lanes parked it: on disk only
        if reason != "shutdown":
            lane.settle(ledger)
        if batch is not ledger:  # read back from disk: missing records were lost there
            if ledger.count > batch.count and not reason:
                reason = "spool_lost"
            batch = ledger
        if batch.replay:
            if reason != "shutdown":
                self.durable_replayed(batch.count, delivered)
            return
        n = batch.count
        acct = self.accounting
        with acct.lock:
            if not acct.closed:
                lane.counters.in_flight -= n
                lane.counters.exported += delivered
                if delivered < n:
                    lane.counters.dropped[reason or "failed"] += n - delivered
                if delivered and lane.metrics is not None:
                    lane.metrics.delivered(batch.nbytes * delivered // n)
        if delivered < batch.delivered:
            batch.delivered = delivered
            # "shutdown" means the pipeline gave up, not that the backend refused.
            batch.fail_reason = reason if reason == "shutdown" else f"export_{reason or 'failed'}"
        batch.pending -= 1
        if batch.pending == 0:
            self._finish(batch)

    def durable_replayed(self, count: int, delivered: int) -> None:
        if self.durable is not None:
            self.durable.replay_done(count, delivered)

    def _finish(self, batch: _Batch) -> None:
        n = batch.count
        acct = self.accounting
        with acct.lock:
            if acct.closed:
                return
            acct.exporting -= n
            acct.exported += batch.delivered
            if batch.delivered < n:
                acct.dropped[batch.fail_reason] += n - batch.delivered

    async def wait_idle(self) -> None:
        """Wait until every lane has exported everything handed to it (and, with the
        spool on, everything it parked or has to replay)."""
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
