"""The worker: a thread with its own event loop that drains the intake into the lanes.

Each drain builds events from captured calls (:mod:`fapilog.pipeline._materialize`),
runs the processors on them and hands them to the batch processor. A processor is
contained: one that raises or returns anything but ``None``/``True``/``False`` drops
the event (counted as ``processor_error``, reported once per class). One that blocks
cannot be interrupted (a Python thread cannot be), but it is noticed: the
:data:`watchdog <STALL_SECONDS>` reports it and ``stats().stalled`` names it, while
callers stay bounded by the intake's overflow policy and shutdown by its timeout.

A ``False`` verdict is counted under the processor class's ``drop_reason``
(``filtered`` unless it says otherwise: ``sampled``, ``deduplicated``). Processors
that override :meth:`~fapilog.processors.Processor.poll` are polled after every
drain, at least once per ``schedule_delay`` while idle, and before every flush
(after their ``force_flush()``, so windows they hold open are closed). The events a
poll returns are new: each is counted as emitted (``taken``) when it enters, runs
through the processors after the poller, and is then staged or dropped like any
other, so ``emitted == exported + dropped + in_flight`` holds throughout.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib
import os
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from fapilog._blocking import DaemonExecutor
from fapilog._diagnostics import reporter
from fapilog._event import LogEvent
from fapilog.exporters._base import Exporter
from fapilog.pipeline import _lifecycle
from fapilog.pipeline._batch import AsyncBatchProcessor, estimate_size
from fapilog.pipeline._durable import SPOOL_FULL
from fapilog.pipeline._intake import mark_worker_thread, resolve
from fapilog.pipeline._materialize import materialize_batch
from fapilog.processors._base import Processor as _ProcessorBase

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from opentelemetry.sdk.resources import Resource

    from fapilog.pipeline._materialize import CapturedRecord
    from fapilog.pipeline._pipeline import Pipeline
    from fapilog.processors._base import Processor

__all__ = ["STALL_SECONDS", "Worker", "drop_reason", "keeps_size", "polls"]

#: On the compiled path, the events built are taken out of the cyclic garbage
#: collector's lists in one C call per drain (fapilog._untrack): they wait in the
#: exporters' batches long enough to reach the oldest generation, where every full
#: collection would walk them; reference counting frees them once delivered
#: (docs/compiled.md, "Untracked records"). Pure Python: None.
_untrack_all: Callable[[list[LogEvent]], None] | None
try:  # by name: a compiled-only extension has no source module
    _untrack_all = importlib.import_module("fapilog._untrack").untrack_all
except ImportError:
    _untrack_all = None


def _cycle_free(processors: Sequence[Processor]) -> bool:
    """Whether every processor is fapilog's own, which never makes an event refer back
    to itself. A third-party processor might (an attribute holding the event), and an
    untracked event in a reference cycle would never be freed: with one in the
    pipeline, events stay tracked. ``_foreign`` marks fapilog's adapters of foreign
    code (``OTelProcessor``)."""
    for processor in processors:
        cls = type(processor)
        if not cls.__module__.startswith("fapilog.") or getattr(cls, "_foreign", False):
            return False
    return True


_DRAIN_CHUNK = 4096
#: Most captured calls the worker builds, or events it runs through the processors,
#: in one go (about 0.3-1 ms of work): a drain takes up to _DRAIN_CHUNK calls and lets
#: go of the GIL between two slices (:meth:`Worker.hand_off`), so it never holds the
#: GIL for a whole switch interval (5 ms) while the application's thread waits for it.
SLICE = 256
_FIRST_DRAIN = 64
_MIN_IDLE = 0.001
_MAX_IDLE = 0.05
#: Shortest idle interval between two polls of processors that poll (so a zero
#: schedule_delay does not spin the worker).
_MIN_POLL = 0.005

#: Seconds the worker may spend inside one processor call, or its event loop without
#: running a callback (an exporter blocking it), before the watchdog reports the stall
#: (and ``stats().stalled`` names the processor or exporter class).
STALL_SECONDS = 5.0
#: How often the worker's event loop notes that it runs (see Worker._beat).
_BEAT_SECONDS = 0.25


def keeps_size(processor: Processor) -> bool:
    """Whether ``processor`` leaves an event's :func:`estimate_size` about as it was.

    Its class says so with ``keeps_size = True`` (it only masks, cuts, flags or
    drops), so the size estimated when the event was built still bounds memory;
    after any other processor the pipeline estimates again.
    """
    return getattr(type(processor), "keeps_size", False) is True


def drop_reason(processor: Processor) -> str:
    """The reason a ``False`` verdict of ``processor`` is counted under.

    Its class's ``drop_reason`` when that is a non-empty string, else ``filtered``.
    """
    reason = getattr(type(processor), "drop_reason", "filtered")
    return reason if type(reason) is str and reason else "filtered"


def polls(processor: Processor) -> bool:
    """Whether ``processor`` overrides :meth:`Processor.poll` (so it is worth calling)."""
    poll = getattr(type(processor), "poll", None)
    return poll is not None and poll is not _ProcessorBase.poll


class Worker:
    """The worker thread of one pipeline (a forked child gets a new one).

    Args:
        pipeline: the pipeline it works for; its ``processors``, ``exporters`` and
            ``resource`` are read at every drain (they may be replaced).
    """

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.intake = pipeline.intake
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None
        self.ready = threading.Event()
        self.done: concurrent.futures.Future[None] = concurrent.futures.Future()
        self.stopping = False
        self.batch: AsyncBatchProcessor | None = None
        self._wakeup: asyncio.Future[None] | None = None
        # How many captured calls one drain takes: few until the sizes of events are
        # known, then as many as fit an eighth of max_queue_bytes (see _next_limit), so a
        # lane's backlog overshoots its byte bound by at most that between two checks.
        self._drain_limit = _FIRST_DRAIN
        self._largest = 0.0  # a decaying maximum of recent event sizes, bytes
        # The processor call under way (for the watchdog); two stores per call.
        self.in_processor: Processor | None = None
        self.in_event: LogEvent | None = None
        self._seen: tuple[Processor, LogEvent | None, float] | None = None
        #: The class name of the processor (or exporter) the worker is stuck in now.
        self.stalled: str | None = None
        #: Where it is stuck, for the loss line: "processor X.on_emit" and the like.
        self.stalled_at: str | None = None
        #: When the worker's event loop last ran a callback (see :meth:`_beat`).
        self.beat = 0.0
        self._told: set[tuple[str, type]] = set()

    # -- thread ----------------------------------------------------------------------------

    def start(self) -> str | None:
        """Start the thread and wait until it runs; the reason it could not, or None."""
        thread = threading.Thread(
            target=self._thread_main, name=f"fapilog-worker-{self.pipeline._serial}", daemon=True
        )
        try:
            if _lifecycle.finalizing():  # a thread started now would never run
                raise RuntimeError("the interpreter is finalizing")
            thread.start()
        except RuntimeError as exc:  # no new threads at interpreter shutdown (3.12)
            return str(exc)
        self.thread = thread
        self.ready.wait()
        _watchdog.ensure()
        return None

    def _thread_main(self) -> None:
        mark_worker_thread()
        loop = asyncio.new_event_loop()
        self.loop = loop
        try:
            # Exporters that use run_in_executor(None)/to_thread get daemon threads: a
            # call that never returns must not hang exit (asyncio's pool is joined).
            loop.set_default_executor(DaemonExecutor(f"pipeline-{self.pipeline._serial}"))
            loop.run_until_complete(self._run())
        except BaseException as exc:  # pragma: no cover - a bug; keep the host alive
            reporter.report("worker", f"pipeline worker crashed: {exc!r}")
        finally:
            try:
                # A shutdown that timed out may leave an exporter call pending.
                pending = asyncio.all_tasks(loop)
                for task in pending:
                    task.cancel()
                if pending:
                    loop.run_until_complete(asyncio.wait(pending, timeout=0.1))
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()
                self.ready.set()  # never leave start() waiting on a dead worker
                self.intake.wake_waiters()
                if not self.done.done():
                    self.done.set_result(None)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        exporters = self.pipeline.exporters
        for exporter in exporters:
            try:
                await exporter.start()
            except Exception as exc:  # the exporter may still connect at its first export
                reporter.report(
                    f"start:{exporter.name}", f"exporter {exporter.name!r}: start failed: {exc!r}"
                )
        self._beat()
        options = self.pipeline.batch_options
        link = self.pipeline.spool
        batch = self.batch = AsyncBatchProcessor(exporters, options, self.intake.acct, link)
        if link is not None:
            link.on_fail = batch.spool_failed
            # Before new events: what an earlier process left on disk, per exporter.
            batch.replay(link.register(batch.lane_names(), options.max_batch_size))
        batch.start()
        self.ready.set()
        idle = _MIN_IDLE
        while not self.stopping:
            if not batch.has_room():
                # A lane is full: take nothing more from the intake (its overflow policy
                # drops there, before any processing) until it has room or sheds.
                await batch.wait_for_room()
                batch.release()
                continue
            if self.drain(self._drain_limit):
                idle = _MIN_IDLE
                batch.tick(loop.time())
                self.hand_off()
                await asyncio.sleep(0)  # let the lanes run between chunks
                continue
            polling = self.poll()  # idle: what pollers owe still leaves on time
            if link is not None:
                link.maybe_gc()
            if idle > _MIN_IDLE:  # nothing arrived for one whole poll: a burst ended
                batch.end_burst()
            now = loop.time()
            batch.tick(now)
            due = batch.due(now)
            wait = idle if due is None else min(idle, max(due, 0.0005))
            if polling:  # poll again within schedule_delay at the latest
                wait = min(wait, max(options.schedule_delay, _MIN_POLL))
            await self._sleep(wait)
            idle = min(idle * 2, _MAX_IDLE)

    def _beat(self) -> None:
        """Note that the event loop runs callbacks; again in a moment (see check_stall)."""
        self.beat = time.monotonic()
        loop = self.loop
        if loop is not None and not loop.is_closed():
            loop.call_later(_BEAT_SECONDS, self._beat)

    async def _sleep(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._wakeup = fut
        handle = loop.call_later(seconds, resolve, fut)
        try:
            await fut
        finally:
            handle.cancel()
            self._wakeup = None

    def wake(self) -> None:
        """End the worker's idle wait now (work arrived, or it should stop)."""
        fut = self._wakeup
        if fut is not None and self.loop is not None:
            try:
                self.loop.call_soon_threadsafe(resolve, fut)
            except RuntimeError:
                pass

    # -- draining --------------------------------------------------------------------------

    def hand_off(self) -> None:
        """Let go of the GIL for a moment between two slices of work.

        ``time.sleep(0)`` releases the GIL and takes it back: a thread that was waiting
        for it (the application's, an event loop) may run now instead of waiting until
        CPython forces a switch after ``sys.getswitchinterval()`` (5 ms). Nobody
        waiting: about a microsecond. (``os.sched_yield()`` keeps the GIL, so it hands
        nothing over; an ``await`` alone releases it only if the loop polls.)

        Only once an application event loop has called into a full buffer
        (``Intake.loop_callers``): handing off to a busy plain thread costs a burst
        about 15 % of its throughput (W1), as that thread then keeps the GIL for a whole
        switch interval.
        """
        if self.intake.loop_callers:
            time.sleep(0)

    def drain(self, limit: int) -> int:
        """Move up to ``limit`` captured calls through the processors into the batcher."""
        intake = self.intake
        items = intake.take(limit)
        if not items:
            return 0
        acct = intake.acct
        taken = len(items)
        with acct.lock:
            if acct.closed:
                return taken
            acct.taken += taken
            acct.processing += taken
        intake.wake_waiters()
        pipeline = self.pipeline
        processors = pipeline.processors
        # The built-in span and bound-context enrichers lead the list: materialize
        # does their work inline (free for an empty Context) unless the list changed.
        enrich = (
            len(processors) >= 2
            and processors[0] is pipeline.span_processor
            and processors[1] is pipeline.bound_processor
        )
        if enrich:
            processors = processors[2:]
        built_sizes: list[int] = []
        built, failed, error = self._build(items, pipeline.resource, enrich, built_sizes)
        if _untrack_all is not None and _cycle_free(processors):  # see _untrack_all
            _untrack_all(built)
        intake.set_limit(intake.budget.update(built_sizes))
        if failed:
            reporter.report("materialize", f"could not build an event: {error!r}")
        drops: dict[str, int] = {}
        if processors:
            events, sizes, failed = self._process(built, built_sizes, processors, drops, failed)
        else:
            events, sizes = built, built_sizes
        first_seq = -1
        if pipeline.spool is not None and events:
            events, sizes, first_seq = self._spool(events, sizes, drops)
        with acct.lock:
            if acct.closed:
                return taken
            acct.processing -= taken
            acct.staged += len(events)
            for reason, n in drops.items():
                acct.dropped[reason] += n
            if failed:
                acct.dropped["processor_error"] += failed
        self._next_limit(sizes)
        if self.batch is not None:
            self.batch.add(events, sizes, first_seq)
        self.poll()
        return taken

    def _build(
        self, items: list[CapturedRecord], resource: Resource, enrich: bool, sizes: list[int]
    ) -> tuple[list[LogEvent], int, BaseException | None]:
        """:func:`materialize_batch`, a :data:`SLICE` at a time with hand-offs between."""
        if len(items) <= SLICE:
            return materialize_batch(items, resource, enrich, sizes)
        events: list[LogEvent] = []
        failed = 0
        error: BaseException | None = None
        for start in range(0, len(items), SLICE):
            if start:
                self.hand_off()
            part, lost, exc = materialize_batch(
                items[start : start + SLICE], resource, enrich, sizes
            )
            events += part
            if lost:
                failed += lost
                error = exc
        return events, failed, error

    def _spool(
        self, events: list[LogEvent], sizes: list[int], drops: dict[str, int]
    ) -> tuple[list[LogEvent], list[int], int]:
        """Append processed ``events`` to the spool (and fsync them, per its policy)
        before they count as staged: the kept events, their sizes, the first's sequence.

        Events the full spool refused (``spool_overflow=drop_newest``) are counted in
        ``drops`` as ``spool_full``; a disk failure leaves every event in memory.
        """
        link = self.pipeline.spool
        assert link is not None
        first_seq, start, took = link.append(events)
        if first_seq >= 0 and took < len(events):
            drops[SPOOL_FULL] = drops.get(SPOOL_FULL, 0) + len(events) - took
            events, sizes = events[start : start + took], sizes[start : start + took]
        return events, sizes, first_seq

    def _process(
        self,
        built: list[LogEvent],
        built_sizes: list[int],
        processors: Sequence[Processor],
        drops: dict[str, int],
        failed: int,
    ) -> tuple[list[LogEvent], list[int], int]:
        """Run ``built`` through ``processors``: the kept events, their sizes, ``failed``.

        False verdicts are added to ``drops`` by reason; events lost to a raising or
        garbage-returning processor are added to the returned ``failed``.
        """
        events: list[LogEvent] = []
        sizes: list[int] = []
        until = SLICE  # the next hand-off of the GIL (see SLICE)
        for index, (event, size) in enumerate(zip(built, built_sizes, strict=True)):
            if index == until:
                until += SLICE
                self.hand_off()
            self.in_event = event
            keep = True
            for processor in processors:
                self.in_processor = processor
                try:
                    verdict = processor.on_emit(event)
                except Exception as exc:
                    failed += 1
                    keep = False
                    reporter.report(
                        f"processor:{type(processor).__name__}",
                        f"processor {type(processor).__name__} raised "
                        f"{type(exc).__name__}; event dropped",
                    )
                    break
                if verdict is None or verdict is True:
                    continue
                keep = False
                if verdict is False:
                    reason = drop_reason(processor)
                    drops[reason] = drops.get(reason, 0) + 1
                else:
                    failed += 1
                    self._returned_garbage(processor, verdict)
                break
            if keep:
                events.append(event)
                sizes.append(size)
        self.in_processor = self.in_event = None
        if not all(keeps_size(p) for p in processors):
            sizes = [estimate_size(event) for event in events]
        return events, sizes, failed

    def poll(self, *, final: bool = False) -> bool:
        """Collect what the processors' :meth:`~Processor.poll` return into the batch.

        Each returned event is counted as emitted (``taken``) and runs through the
        processors after the one that returned it. With ``final`` each poller's
        ``force_flush()`` is called first, so it closes what it holds open.

        Returns:
            Whether any processor polls (so the idle loop must come back in time).
        """
        processors = self.pipeline.processors
        found = False
        for index, processor in enumerate(processors):
            if not polls(processor):
                continue
            found = True
            self.in_processor = processor
            try:
                if final:
                    processor.force_flush()
                returned = processor.poll(time.time_ns())
                new = [e for e in returned if isinstance(e, LogEvent)]
            except Exception as exc:
                self.in_processor = None
                self._told_once(
                    "poll",
                    processor,
                    f"processor {type(processor).__qualname__}.poll raised "
                    f"{type(exc).__name__}; nothing it returned is used",
                )
                continue
            self.in_processor = None
            if len(new) != len(returned):
                self._told_once(
                    "poll_result",
                    processor,
                    f"processor {type(processor).__qualname__}.poll returned something "
                    "that is not a LogEvent; it is ignored",
                )
            if new:
                self._add_polled(new, processors[index + 1 :])
        return found

    def _add_polled(self, new: list[LogEvent], after: Sequence[Processor]) -> None:
        """Count ``new`` as emitted, run it through ``after`` and stage what is kept."""
        acct = self.intake.acct
        with acct.lock:
            if acct.closed:
                return
            acct.taken += len(new)
            acct.processing += len(new)
        new_sizes = [estimate_size(event) for event in new]
        drops: dict[str, int] = {}
        failed = 0
        if after:
            events, sizes, failed = self._process(new, new_sizes, after, drops, 0)
        else:
            events, sizes = new, new_sizes
        first_seq = -1
        if self.pipeline.spool is not None and events:
            events, sizes, first_seq = self._spool(events, sizes, drops)
        with acct.lock:
            if acct.closed:
                return
            acct.processing -= len(new)
            acct.staged += len(events)
            for reason, n in drops.items():
                acct.dropped[reason] += n
            if failed:
                acct.dropped["processor_error"] += failed
        if self.batch is not None:
            self.batch.add(events, sizes, first_seq)

    def _told_once(self, what: str, processor: Processor, message: str) -> None:
        cls = type(processor)
        if (what, cls) in self._told:
            return
        self._told.add((what, cls))
        reporter.report(f"processor_{what}:{cls.__qualname__}", message)

    def _returned_garbage(self, processor: Processor, verdict: object) -> None:
        cls = type(processor)
        if ("result", cls) in self._told:
            return
        self._told.add(("result", cls))
        reporter.report(
            f"processor_result:{cls.__qualname__}",
            f"processor {cls.__qualname__}.on_emit returned {type(verdict).__name__} "
            "(expected None, True or False); its events are dropped as processor_error",
        )

    def _next_limit(self, sizes: list[int]) -> None:
        """Size the next drain from the largest recent event (see ``_drain_limit``)."""
        largest = max(max(sizes, default=0), self._largest * 0.9)
        self._largest = largest
        share = self.pipeline.batch_options.max_queue_bytes // 8
        self._drain_limit = max(1, min(_DRAIN_CHUNK, int(share // max(largest, 1.0))))

    def check_stall(self, now: float) -> None:
        """Note (and report once per class) a processor call longer than STALL_SECONDS,
        or an event loop that ran no callback for that long (a blocking exporter)."""
        processor, event = self.in_processor, self.in_event
        seen = self._seen
        if processor is None:
            self._seen = None
            self._check_loop(now)
            return
        if seen is None or seen[0] is not processor or seen[1] is not event:
            self._seen = (processor, event, now)
            self._clear_stall()
            return
        if self.stalled is None and now - seen[2] >= STALL_SECONDS:
            cls = type(processor)
            self.stalled = cls.__qualname__
            self.stalled_at = f"processor {cls.__qualname__}.on_emit"
            if ("stall", cls) not in self._told:
                self._told.add(("stall", cls))
                reporter.report(
                    f"processor_stalled:{cls.__qualname__}",
                    f"processor {cls.__qualname__}.on_emit has not returned for "
                    f"{now - seen[2]:.0f} s; pipeline #{self.pipeline._serial} processes "
                    "nothing meanwhile (callers are bounded by the overflow policy)",
                )

    def _clear_stall(self) -> None:
        self.stalled = None
        self.stalled_at = None

    def _check_loop(self, now: float) -> None:
        """An event loop that ran no callback for STALL_SECONDS is blocked by a
        synchronous call: name the exporter whose code it is in (once per class)."""
        thread = self.thread
        if (
            not self.beat
            or now - self.beat < STALL_SECONDS
            or self.stopping
            or thread is None
            or not thread.is_alive()
        ):
            self._clear_stall()
            return
        if self.stalled is not None:
            return
        exporter = _blocking_exporter(thread)
        if exporter is None:
            return
        cls = type(exporter)
        name = getattr(exporter, "name", cls.__qualname__)
        self.stalled = cls.__qualname__
        self.stalled_at = f"exporter {name!r} ({cls.__qualname__}.export)"
        if ("loop", cls) not in self._told:
            self._told.add(("loop", cls))
            reporter.report(
                f"exporter_blocking:{name}",
                f"exporter {name!r} has blocked pipeline #{self.pipeline._serial}'s event "
                f"loop for {now - self.beat:.0f} s with a synchronous call in "
                f"{cls.__qualname__}.export (run blocking work with asyncio.to_thread); "
                "nothing is delivered meanwhile (callers are bounded by the overflow policy)",
            )

    # -- flush and shutdown (on the worker's loop) -------------------------------------------

    async def flush_inner(self) -> bool:
        """Drain the ring, send every batch and wait until the exporters are idle."""
        batch = self.batch
        assert batch is not None
        remaining = len(self.intake.ring)
        while remaining > 0:
            taken = self.drain(min(remaining, self._drain_limit))
            if not taken:
                break
            remaining -= taken
            if not batch.has_room():
                await batch.wait_for_room()
                batch.release()
        self.poll(final=True)  # close what pollers hold open (summaries) before sending
        batch.send_pending()
        while batch.pending:
            await batch.wait_for_room()
            batch.send_pending()
        await batch.wait_idle()
        results = await asyncio.gather(
            *(e.force_flush() for e in self.pipeline.exporters), return_exceptions=True
        )
        return all(r is True for r in results)

    async def shutdown_inner(self, deadline: float) -> bool:
        """Flush within ``deadline``, stop the lanes, close processors and exporters."""
        batch = self.batch
        assert batch is not None
        # Leave a little of the caller's budget for cancelling and closing.
        budget = max(0.0, deadline - time.monotonic() - 0.05)
        ok = True
        try:
            await asyncio.wait_for(self.flush_inner(), budget)
        except TimeoutError:
            ok = False
        await batch.stop()
        if self.pipeline.spool is not None:
            self.pipeline.spool.close()  # what is left on disk waits for the next process
        for processor in self.pipeline.processors:
            try:
                processor.shutdown()
            except Exception as exc:
                reporter.report("processor_shutdown", f"processor shutdown raised {exc!r}")
        for exporter in self.pipeline.exporters:
            remaining = max(0.01, deadline - time.monotonic() - 0.02)
            try:
                await asyncio.wait_for(exporter.shutdown(), remaining)
            except Exception as exc:
                ok = False
                reporter.report(
                    f"exporter_shutdown:{exporter.name}",
                    f"exporter {exporter.name!r} shutdown failed: {type(exc).__name__}",
                )
        self.stopping = True
        return ok


def _blocking_exporter(thread: threading.Thread) -> Exporter | None:
    """The exporter whose code ``thread`` is running now (innermost first), if any."""
    frame = sys._current_frames().get(thread.ident or -1)
    depth = 0
    while frame is not None and depth < 200:
        owner = frame.f_locals.get("self")
        if isinstance(owner, Exporter):
            return owner
        frame = frame.f_back
        depth += 1
    return None


class _Watchdog:
    """One daemon thread per process that looks at every live pipeline's worker."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid: int | None = None

    def ensure(self) -> None:
        """Start the thread in this process unless it runs already."""
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            thread = threading.Thread(target=self._run, name="fapilog-watchdog", daemon=True)
            try:
                thread.start()
            except RuntimeError:  # interpreter shutdown: nothing left to watch
                return
            self._pid = os.getpid()

    def _run(self) -> None:
        mark_worker_thread()
        pid = os.getpid()
        while self._pid in (None, pid):
            time.sleep(min(1.0, STALL_SECONDS / 5))
            now = time.monotonic()
            for pipeline in _lifecycle.live_pipelines():
                worker: Any = getattr(pipeline, "_worker", None)
                if worker is not None:
                    try:
                        worker.check_stall(now)
                    except Exception:  # pragma: no cover - never let the watchdog die
                        pass


_watchdog = _Watchdog()
