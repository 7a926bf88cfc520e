"""The pipeline: ring buffer on the caller side, a worker thread with its own loop."""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import dataclasses
import itertools
import os
import platform
import select
import socket
import sys
import threading
import time
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.resources import Resource

from fapilog._blocking import DaemonExecutor
from fapilog._diagnostics import flush_at_exit, reporter
from fapilog.config import Settings
from fapilog.exporters._registry import resolve_exporters, resolve_processors
from fapilog.pipeline import _capture, _lifecycle
from fapilog.pipeline._batch import AsyncBatchProcessor, BatchOptions, estimate_size
from fapilog.pipeline._materialize import materialize_batch
from fapilog.pipeline._size import IntakeBudget, MemoryPlan
from fapilog.pipeline._stats import NOT_LOSS, Accounting, PipelineStats, loss_line
from fapilog.processors._builtin import (
    BaggageProcessor,
    BoundContextProcessor,
    SpanContextProcessor,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from fapilog._event import LogEvent
    from fapilog._logger import Logger
    from fapilog.exporters._base import Exporter
    from fapilog.pipeline._materialize import Captured
    from fapilog.processors._base import Processor

__all__ = ["Pipeline", "default_resource"]

_serials = itertools.count(1)
_worker_local = threading.local()
_DRAIN_CHUNK = 4096
_FIRST_DRAIN = 64
_MIN_IDLE = 0.001
_MAX_IDLE = 0.05


def in_worker_thread() -> bool:
    """True on any fapilog worker or exporter thread (recursion guard for bridges)."""
    return getattr(_worker_local, "active", False)


def _protection_processors(settings: Settings) -> list[Processor]:
    """The redaction and compliance processors ``settings`` ask for, in order."""
    from fapilog.compliance import ComplianceProcessor, get_profile
    from fapilog.redaction import DEFAULT_RULES, RedactionProcessor

    profiles = [get_profile(name) for name in settings.compliance]
    out: list[Processor] = []
    if settings.redaction:
        extra = [rule for profile in profiles for rule in profile.redaction_rules]
        out.append(
            RedactionProcessor(
                (*extra, *DEFAULT_RULES),
                hmac_key=settings.redaction_hmac_key,
                allow_keys=settings.redaction_allow_keys or None,
                max_scan_bytes=settings.redaction_max_scan_bytes,
            )
        )
    if profiles:
        out.append(ComplianceProcessor(profiles, mode=settings.compliance_mode))
    return out


def _check_audit_trail(settings: Settings, exporters: list[Exporter]) -> None:
    """Warn when an active compliance profile expects an audit trail and none is set up.

    A warning, not an error: the audit exporter may live in another pipeline.
    """
    if not settings.compliance:
        return
    from fapilog.audit import AuditExporter
    from fapilog.compliance import get_profile

    needing = [n for n in settings.compliance if get_profile(n).audit_trail_required]
    if needing and not any(isinstance(e, AuditExporter) for e in exporters):
        reporter.report(
            "audit_trail_missing",
            f"compliance profile(s) {', '.join(needing)} expect a tamper-evident audit "
            "trail, but this pipeline has no fapilog.audit.AuditExporter",
        )


def default_resource(settings: Settings) -> Resource:
    """The OTel Resource for ``settings``: host/process facts < OTEL env < service_name.

    Process command-line arguments are deliberately left out: they often carry
    credentials.
    """
    detected = Resource(
        {
            "host.name": socket.gethostname(),
            "process.pid": os.getpid(),
            "process.runtime.name": platform.python_implementation().lower(),
            "process.runtime.version": platform.python_version(),
        }
    )
    explicit = {"service.name": settings.service_name} if settings.service_name else {}
    try:
        return detected.merge(Resource.create(explicit))
    except RuntimeError:  # its detectors' thread pool refuses work at interpreter exit
        return detected.merge(Resource(explicit))


class Pipeline:
    """One independent logging pipeline: buffer, processors, batching, exporters.

    Most applications use the default pipeline through :func:`fapilog.configure`
    and :func:`fapilog.get_logger`; create more for isolated destinations (an
    audit stream, a library's own telemetry) and get loggers from them with
    :meth:`get_logger`.

    Args:
        settings: a :class:`~fapilog.Settings`; by default loaded from the environment.
        exporters: exporter names (``"console"``, ``"file"``, ``"otlp"``...), fapilog
            exporters, or OTel ``LogRecordExporter`` objects; replaces the exporters
            named in settings.
        processors: extra processors, run after the built-in enrichers and after
            redaction (they only ever see redacted events).
        resource: the OTel Resource; by default detected from host, process and
            ``OTEL_*`` environment.
        **overrides: individual settings, e.g. ``level="debug"``.

    Raises:
        ConfigError: a setting is invalid.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        exporters: Iterable[Exporter | Any] | None = None,
        processors: Iterable[Processor] | None = None,
        resource: Resource | None = None,
        **overrides: Any,
    ) -> None:
        if settings is None:
            settings = Settings.load(**overrides)
        elif overrides:
            settings = Settings.load(**{**settings.model_dump(exclude_unset=True), **overrides})
        self.settings = settings
        self._serial = next(_serials)
        self._min_level = settings.level_number
        self._max_queue = settings.max_queue_size
        # The hot path appends while len(ring) < _capacity. Setting it to -1 routes
        # every call to _slow_put (capture active, or shut down) at no cost otherwise.
        # How max_queue_bytes is shared between the ring, the lanes and one batch
        # (docs/memory.md).
        self._plan = MemoryPlan(settings.max_queue_bytes)
        self._capacity = self._max_queue
        self._policy = settings.overflow
        self._block_timeout = settings.block_timeout_ms / 1000
        self.resource = resource if resource is not None else default_resource(settings)
        self._span_processor = SpanContextProcessor()
        self._bound_processor = BoundContextProcessor()
        builtin: list[Processor] = [self._span_processor, self._bound_processor]
        if settings.baggage_keys:
            builtin.append(BaggageProcessor(settings.baggage_keys))
        # After the enrichers (so bound context and baggage are redacted too), before
        # user processors (so they, and every exporter, only see redacted data).
        builtin.extend(_protection_processors(settings))
        self.processors: list[Processor] = [*builtin, *resolve_processors(processors)]
        self.exporters: list[Exporter] = resolve_exporters(
            settings.exporters if exporters is None else exporters, settings
        )
        _check_audit_trail(settings, self.exporters)
        self._batch_options = BatchOptions(
            max_batch_size=settings.max_export_batch_size,
            schedule_delay=settings.schedule_delay_ms / 1000,
            export_timeout=settings.export_timeout_ms / 1000,
            max_queue_size=settings.max_queue_size,
            max_queue_bytes=self._plan.lane_bytes,
            max_batch_bytes=self._plan.batch_bytes,
            block=settings.overflow == "block",
            drop_oldest=settings.overflow == "drop_oldest",
            # A full lane that delivers nothing holds the worker up for half of what a
            # blocked caller may wait (then it sheds), so a caller blocked meanwhile
            # gets room before its own timeout: see AsyncBatchProcessor.
            lane_wait=max(settings.block_timeout_ms / 2000, 0.01),
        )
        self._on_shutdown: list[Callable[[], None]] = []
        self._companions: list[Callable[[int], object]] = []
        self._companion_threads: list[threading.Thread] = []
        self._shutdown_result: bool | None = None
        self._shutdown_fut: concurrent.futures.Future[bool] | None = None
        self._shutdown_deadline = 0.0
        self._shutdown_thread: int | None = None  # the thread inside shutdown(), if any
        # Reentrant: a signal handler may finish a shutdown the same thread is inside.
        self._end_lock = threading.RLock()
        self._told_teardown = False
        self._closed = False
        # Set by the SIGTERM hook once termination began (see _lifecycle): every event
        # is then flushed before the logging call returns.
        self._flush_on_write = False
        self._init_process_state()
        _lifecycle.register(self)
        self._refresh_gate()
        self._start_worker()

    def __repr__(self) -> str:
        names = ", ".join(e.name for e in self.exporters) or "no exporters"
        state = "shut down" if self._closed else "running"
        return f"<fapilog.Pipeline #{self._serial} [{names}] {state}>"

    # -- state that must be rebuilt in a forked child ------------------------------------

    def _init_process_state(self) -> None:
        self._ring: collections.deque[Captured] = collections.deque()
        # The ring's record limit that keeps it within its share of max_queue_bytes,
        # from the sizes of the events the worker builds (see _size.IntakeBudget).
        self._intake = IntakeBudget(self._plan.intake_bytes, self._max_queue)
        self._limit = self._intake.limit
        self._capacity = self._limit
        self._acct = Accounting(self._ring.__len__)
        # Reentrant for the same reason as the accounting lock (the SIGTERM hook).
        self._state_lock = threading.RLock()
        self._space = threading.Condition(threading.RLock())
        self._space_waiters = 0
        self._async_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._done: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._wakeup: asyncio.Future[None] | None = None
        self._stopping = False
        self._batch: AsyncBatchProcessor | None = None
        # How many captured calls one drain takes: few until the sizes of events are
        # known, then as many as fit an eighth of max_queue_bytes (see _next_limit), so a
        # lane's backlog overshoots its byte bound by at most that between two checks.
        self._drain_limit = _FIRST_DRAIN
        self._largest = 0.0  # a decaying maximum of recent event sizes, bytes

    def _start_worker(self) -> None:
        thread = threading.Thread(
            target=self._thread_main, name=f"fapilog-worker-{self._serial}", daemon=True
        )
        try:
            if _lifecycle.finalizing():  # a thread started now would never run
                raise RuntimeError("the interpreter is finalizing")
            thread.start()
        except RuntimeError as exc:  # no new threads at interpreter shutdown (3.12)
            # Never raise into a log call: the pipeline is closed from the start, so
            # every event is counted as an after_shutdown drop.
            self._closed = True
            self._shutdown_result = False
            self._refresh_gate()
            _lifecycle.unregister(self)
            reporter.report(f"no_worker:{self._serial}", f"pipeline not started: {exc}")
            return
        self._thread = thread
        self._ready.wait()

    def _after_fork(self) -> None:
        """In a forked child: forget the parent's buffered events and start afresh.

        The parent still owns and exports what it buffered; re-exporting it here
        would duplicate it. Counters restart at zero for the child.
        """
        reporter.reset()
        self._init_process_state()
        if "process.pid" in self.resource.attributes:
            self.resource = self.resource.merge(Resource({"process.pid": os.getpid()}))
        for exporter in self.exporters:
            try:
                exporter.after_fork()
            except Exception as exc:
                reporter.report("after_fork", f"{exporter.name}.after_fork raised {exc!r}")
        self._refresh_gate()
        if not self._closed:
            self._start_worker()

    # -- caller side ------------------------------------------------------------------------

    def get_logger(self, name: str | None = None) -> Logger:
        """A logger that writes to this pipeline (not to the default one)."""
        from fapilog._logger import Logger

        return Logger._for_pipeline(self, name)

    def _refresh_gate(self) -> None:
        """Open the hot path, or close it while shut down, capturing or flushing on write."""
        with self._state_lock:  # the worker publishes a new _limit through here too
            closed = self._closed or self._flush_on_write or _capture.capturing()
            self._capacity = -1 if closed else self._limit

    def _set_flush_on_write(self, on: bool) -> None:
        """Flush every event before its logging call returns (``on``), or stop doing so."""
        self._flush_on_write = on
        self._refresh_gate()

    def _enqueue(self, rec: Captured) -> None:
        """Append one captured call (what Logger methods inline)."""
        ring = self._ring
        if len(ring) < self._capacity:
            ring.append(rec)
        else:
            self._slow_put(rec)

    def _slow_put(self, rec: Captured) -> None:
        """Everything but the plain append: capture, after-shutdown, overflow."""
        if self._capacity < 0:
            if _capture.capture(self, rec):
                return
            if self._closed or (self._flush_on_write and _lifecycle.finalizing()):
                # Shut down, or the interpreter is tearing down (no worker runs now).
                self._drop_closed()
                return
        ring = self._ring
        if len(ring) < self._limit:
            ring.append(rec)
        else:
            self._overflow(rec)
        if self._flush_on_write:
            _lifecycle.flush_after_write(self)

    def _drop_closed(self) -> None:
        self._acct.caller_drop("after_shutdown")
        message = (
            "event logged after the pipeline was shut down (or at interpreter teardown); "
            "dropped and counted as after_shutdown"
        )
        if _lifecycle.finalizing():
            # No thread runs any more (not even the diagnostics writer): say it here,
            # once, if stderr takes it without blocking.
            if not self._told_teardown:
                self._told_teardown = True
                _write_now(f"fapilog: {message}\n")
            return
        reporter.report(f"after_shutdown:{self._serial}", message)
        if _lifecycle.exiting():  # the process may end before the writer gets to it
            flush_at_exit()

    def _overflow(self, rec: Captured) -> None:
        ring = self._ring
        policy = self._policy
        if policy == "drop_oldest":
            try:
                ring.popleft()
            except IndexError:
                pass
            else:
                self._acct.caller_drop("queue_full")
            ring.append(rec)
            self._report_full()
            return
        if (
            policy == "block"
            and self._block_timeout > 0
            and not in_worker_thread()
            and not _on_event_loop()
        ):
            deadline = time.monotonic() + self._block_timeout
            with self._space:
                self._space_waiters += 1
                try:
                    while len(ring) >= self._limit and not self._closed:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0 or not self._space.wait(remaining):
                            break
                finally:
                    self._space_waiters -= 1
            if len(ring) < self._limit and not self._closed:
                ring.append(rec)
                return
        self._acct.caller_drop("queue_full")
        self._report_full()

    def _report_full(self) -> None:
        reporter.report(
            f"queue_full:{self._serial}",
            f"buffer full ({self._limit} events"
            + (
                ", limited by max_queue_bytes for events this large"
                if self._limit < self._max_queue
                else ""
            )
            + f"); dropping per overflow={self._policy!r} (see fapilog.stats())",
        )

    async def _aput(self, rec: Captured) -> None:
        """Append, waiting (without blocking the loop) for space instead of dropping."""
        ring = self._ring
        if len(ring) < self._capacity:
            ring.append(rec)
            return
        if self._capacity < 0 and _capture.capture(self, rec):
            return
        while len(ring) >= self._limit and not self._closed:
            loop = asyncio.get_running_loop()
            fut: asyncio.Future[None] = loop.create_future()
            self._async_waiters.append((loop, fut))
            if len(ring) < self._limit:
                break
            await fut
        if self._closed:
            self._drop_closed()
            return
        ring.append(rec)
        if self._flush_on_write:
            await _lifecycle.aflush_after_write(self)

    def _wake_waiters(self) -> None:
        if self._space_waiters:
            with self._space:
                self._space.notify_all()
        if self._async_waiters:
            waiters, self._async_waiters = self._async_waiters, []
            for loop, fut in waiters:
                try:
                    loop.call_soon_threadsafe(_resolve, fut)
                except RuntimeError:  # that loop is closed; its task is gone
                    pass

    # -- worker side --------------------------------------------------------------------------

    def _thread_main(self) -> None:
        _worker_local.active = True
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            # Exporters that use run_in_executor(None)/to_thread get daemon threads: a
            # call that never returns must not hang exit (asyncio's pool is joined).
            loop.set_default_executor(DaemonExecutor(f"pipeline-{self._serial}"))
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
                self._ready.set()  # never leave _start_worker waiting on a dead worker
                self._wake_waiters()
                if not self._done.done():
                    self._done.set_result(None)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        for exporter in self.exporters:
            try:
                await exporter.start()
            except Exception as exc:  # the exporter may still connect at its first export
                reporter.report(
                    f"start:{exporter.name}", f"exporter {exporter.name!r}: start failed: {exc!r}"
                )
        batch = self._batch = AsyncBatchProcessor(self.exporters, self._batch_options, self._acct)
        batch.start()
        self._ready.set()
        idle = _MIN_IDLE
        while not self._stopping:
            if not batch.has_room():
                # A lane is full: take nothing more from the intake (its overflow policy
                # drops there, before any processing) until it has room or sheds.
                await batch.wait_for_room()
                batch.release()
                continue
            if self._drain(self._drain_limit):
                idle = _MIN_IDLE
                batch.tick(loop.time())
                await asyncio.sleep(0)  # let the lanes run between chunks
                continue
            if idle > _MIN_IDLE:  # nothing arrived for one whole poll: a burst ended
                batch.end_burst()
            now = loop.time()
            batch.tick(now)
            due = batch.due(now)
            await self._sleep(idle if due is None else min(idle, max(due, 0.0005)))
            idle = min(idle * 2, _MAX_IDLE)

    async def _sleep(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._wakeup = fut
        handle = loop.call_later(seconds, _resolve, fut)
        try:
            await fut
        finally:
            handle.cancel()
            self._wakeup = None

    def _wake_worker(self) -> None:
        fut = self._wakeup
        if fut is not None and self._loop is not None:
            try:
                self._loop.call_soon_threadsafe(_resolve, fut)
            except RuntimeError:
                pass

    def _drain(self, limit: int) -> int:
        """Move up to ``limit`` captured calls through the processors into the batcher."""
        ring = self._ring
        n = min(len(ring), limit)
        if not n:
            return 0
        popleft = ring.popleft
        items = []
        try:
            for _ in range(n):
                items.append(popleft())
        except IndexError:  # a drop_oldest caller took some
            pass
        acct = self._acct
        taken = len(items)
        with acct.lock:
            if acct.closed:
                return taken
            acct.taken += taken
            acct.processing += taken
        self._wake_waiters()
        processors = self.processors
        # The built-in span and bound-context enrichers lead the list: materialize
        # does their work inline (free for an empty Context) unless the list changed.
        enrich = (
            len(processors) >= 2
            and processors[0] is self._span_processor
            and processors[1] is self._bound_processor
        )
        if enrich:
            processors = processors[2:]
        built_sizes: list[int] = []
        built, failed, error = materialize_batch(items, self.resource, enrich, built_sizes)
        limit = self._intake.update(built_sizes)
        if limit != self._limit:
            grew = limit > self._limit
            self._limit = limit
            self._refresh_gate()
            if grew:
                self._wake_waiters()
        if failed:
            reporter.report("materialize", f"could not build an event: {error!r}")
        filtered = 0
        if processors:
            events: list[LogEvent] = []
            sizes: list[int] = []
            for event, size in zip(built, built_sizes, strict=True):
                keep = True
                for processor in processors:
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
                    if verdict is False:
                        filtered += 1
                        keep = False
                        break
                if keep:
                    events.append(event)
                    sizes.append(size)
            if not all(_keeps_size(p) for p in processors):
                sizes = [estimate_size(event) for event in events]
        else:
            events, sizes = built, built_sizes
        with acct.lock:
            if acct.closed:
                return taken
            acct.processing -= taken
            acct.staged += len(events)
            if filtered:
                acct.dropped["filtered"] += filtered
            if failed:
                acct.dropped["processor_error"] += failed
        self._next_limit(sizes)
        if self._batch is not None:
            self._batch.add(events, sizes)
        return taken

    def _next_limit(self, sizes: list[int]) -> None:
        """Size the next drain from the largest recent event (see ``_drain_limit``)."""
        largest = max(max(sizes, default=0), self._largest * 0.9)
        self._largest = largest
        share = self._batch_options.max_queue_bytes // 8
        self._drain_limit = max(1, min(_DRAIN_CHUNK, int(share // max(largest, 1.0))))

    async def _flush_inner(self) -> bool:
        batch = self._batch
        assert batch is not None
        remaining = len(self._ring)
        while remaining > 0:
            taken = self._drain(min(remaining, self._drain_limit))
            if not taken:
                break
            remaining -= taken
            if not batch.has_room():
                await batch.wait_for_room()
                batch.release()
        batch.send_pending()
        while batch.pending:
            await batch.wait_for_room()
            batch.send_pending()
        await batch.wait_idle()
        results = await asyncio.gather(
            *(e.force_flush() for e in self.exporters), return_exceptions=True
        )
        return all(r is True for r in results)

    async def _shutdown_inner(self, deadline: float) -> bool:
        loop = asyncio.get_running_loop()
        batch = self._batch
        assert batch is not None
        # Leave a little of the caller's budget for cancelling and closing.
        budget = max(0.0, deadline - time.monotonic() - 0.05)
        ok = True
        try:
            await asyncio.wait_for(self._flush_inner(), budget)
        except TimeoutError:
            ok = False
        await batch.stop()
        for processor in self.processors:
            try:
                processor.shutdown()
            except Exception as exc:
                reporter.report("processor_shutdown", f"processor shutdown raised {exc!r}")
        for exporter in self.exporters:
            remaining = max(0.01, deadline - time.monotonic() - 0.02)
            try:
                await asyncio.wait_for(exporter.shutdown(), remaining)
            except Exception as exc:
                ok = False
                reporter.report(
                    f"exporter_shutdown:{exporter.name}",
                    f"exporter {exporter.name!r} shutdown failed: {type(exc).__name__}",
                )
        self._stopping = True
        del loop
        return ok

    # -- public lifecycle -------------------------------------------------------------------

    def _check_not_worker(self, what: str) -> None:
        if threading.current_thread() is self._thread:
            raise RuntimeError(f"Pipeline.{what}() cannot be called from the pipeline's worker")

    def flush(self, timeout: float | None = None) -> bool:
        """Export everything logged before this call.

        Args:
            timeout: seconds to wait at most (default: no bound).

        Returns:
            True if everything was exported (or counted as dropped) in time.
        """
        self._check_not_worker("flush")
        if self._closed or self._loop is None:
            return self._closed
        fut = asyncio.run_coroutine_threadsafe(self._flush_inner(), self._loop)
        self._wake_worker()
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            return False

    async def aflush(self, timeout: float | None = None) -> bool:
        """Awaitable :meth:`flush`; never blocks the calling event loop."""
        if self._closed or self._loop is None:
            return self._closed
        fut = asyncio.run_coroutine_threadsafe(self._flush_inner(), self._loop)
        self._wake_worker()
        try:
            return await asyncio.wait_for(asyncio.wrap_future(fut), timeout)
        except TimeoutError:
            fut.cancel()
            return False

    def _begin_shutdown(
        self, timeout: float | None
    ) -> tuple[float, concurrent.futures.Future[bool] | None]:
        if timeout is None:
            timeout = self.settings.shutdown_timeout_ms / 1000
        deadline = time.monotonic() + max(0.0, timeout)
        with self._state_lock:
            if self._closed:
                return deadline, None
            self._closed = True
            self._shutdown_deadline = deadline
            self._shutdown_thread = threading.get_ident()
            self._refresh_gate()  # later calls are counted as after_shutdown drops
        if not _lifecycle.exiting():
            # During interpreter exit the pipeline stays in place (the default one too):
            # a late call is then counted as an after_shutdown drop, where a fresh
            # zero-config pipeline would take events that nothing flushes any more.
            for undo in reversed(self._on_shutdown):
                try:
                    undo()
                except Exception as exc:
                    reporter.report("restore", f"restoring state at shutdown failed: {exc!r}")
            self._on_shutdown.clear()
        self._start_companions(deadline)
        if self._loop is None:
            return deadline, None
        fut = asyncio.run_coroutine_threadsafe(self._shutdown_inner(deadline), self._loop)
        self._shutdown_fut = fut
        self._wake_worker()
        with self._space:
            self._space.notify_all()
        return deadline, fut

    def _end_shutdown(self, ok: bool) -> bool:
        """Close the books, report any loss in one line; once, whoever gets here first."""
        with self._end_lock:
            if self._shutdown_result is not None:
                return self._shutdown_result
            leftover = len(self._ring)
            self._ring.clear()
            lost = self._acct.close_books("shutdown", leftover)
            self._stopping = True
            self._wake_worker()
            self._wake_waiters()
            _lifecycle.unregister(self)
            final = self.stats()
            self._shutdown_result = ok and lost == 0 and not _losses(final)
            self._report_loss(final)
            return self._shutdown_result

    def _in_progress_shutdown(self) -> concurrent.futures.Future[bool] | None:
        """The worker's part of a shutdown another thread began and nobody finished yet.

        That thread may be between closing the pipeline and handing the work to the
        worker: wait (within its deadline) for the hand-over.
        """
        while (
            self._shutdown_result is None
            and self._shutdown_fut is None
            and self._shutdown_thread is not None
            and self._loop is not None
            and time.monotonic() < self._shutdown_deadline
        ):
            time.sleep(0.001)
        if self._shutdown_result is not None:
            return None
        return self._shutdown_fut

    def _shutting_down_on_this_thread(self) -> bool:
        """Whether this thread is inside this pipeline's shutdown (a signal handler
        running on top of it must let it finish rather than wait for itself)."""
        return self._shutdown_thread == threading.get_ident()

    def _report_loss(self, final: PipelineStats) -> None:
        """One line on stderr when events were lost: counts as in ``stats()``, and fixes."""
        names = ", ".join(e.name for e in self.exporters) or "no exporters"
        line = loss_line(
            f"pipeline #{self._serial} [{names}]",
            final,
            self._loss_hints(final),
            self._loss_fixes(),
        )
        if line is not None:
            reporter.report(f"loss:{self._serial}", line)

    def _loss_fixes(self) -> dict[str, str]:
        """The likely fix of each pipeline-wide drop reason under these settings."""
        s = self.settings
        if s.overflow == "block":
            full = (
                f"buffer full: raise block_timeout_ms ({s.block_timeout_ms}) or "
                f"max_queue_size ({s.max_queue_size}); on an event loop use the awaitable "
                "log.ainfo(...) twins, which wait instead of dropping"
            )
        else:
            full = f"buffer full: raise max_queue_size ({s.max_queue_size}) or use overflow=block"
        if self._limit < self._max_queue:  # the byte bound, not the count, is what filled
            full += f"; with events this large, raise max_queue_bytes ({s.max_queue_bytes})"
        return {
            "queue_full": full,
            "export_backlog": (
                "an exporter fell behind: raise max_queue_size / max_queue_bytes or use "
                "overflow=block"
            ),
            "shutdown": (
                f"undelivered when shutdown_timeout_ms ({s.shutdown_timeout_ms}) ran out: "
                "raise it if the destination is just slow"
            ),
            "after_shutdown": "logged after shutdown: shut down later, or not before exit",
            "processor_error": "a processor raised: see its earlier fapilog: line",
        }

    def _loss_hints(self, final: PipelineStats) -> dict[str, str]:
        """Per exporter that lost events: what most likely went wrong and the fix."""
        hints: dict[str, str] = {}
        lanes = list(final.exporters.items())
        for exporter, (name, lane) in zip(self.exporters, lanes, strict=False):
            if not lane.dropped_total:
                continue
            error = self._acct.lanes[name].last_error if name in self._acct.lanes else ""
            refused = bool({"failed", "rejected"} & set(lane.dropped))
            hints[name] = _exporter_hint(exporter, lane.exported, error, refused=refused)
        return hints

    def shutdown(self, timeout: float | None = None) -> bool:
        """Flush, stop the worker and close the exporters, within ``timeout`` seconds.

        Events still undelivered when the time is up are counted as dropped
        (reason ``shutdown``). Logging to a shut-down pipeline drops and counts the
        event (reason ``after_shutdown``). Idempotent.

        Args:
            timeout: bound in seconds (default: ``settings.shutdown_timeout_ms``).

        Returns:
            True when every event was delivered and every exporter closed cleanly.
        """
        self._check_not_worker("shutdown")
        try:
            return self._shutdown(timeout)
        finally:
            self._left_shutdown()

    def _left_shutdown(self) -> None:
        if self._shutdown_thread == threading.get_ident():
            self._shutdown_thread = None
            _lifecycle.shutdown_returned()

    def _shutdown(self, timeout: float | None) -> bool:
        deadline, fut = self._begin_shutdown(timeout)
        if fut is None:
            # Already closed. A shutdown still under way (another thread's, or the one
            # this signal handler interrupted) is waited for, within its own bound.
            fut = self._in_progress_shutdown()
            if fut is None:
                self._join_companions(deadline)
                return self._shutdown_result if self._shutdown_result is not None else True
            deadline = self._shutdown_deadline
        try:
            ok = fut.result(max(0.0, deadline - time.monotonic()))
        except concurrent.futures.TimeoutError:
            ok = False
        except concurrent.futures.CancelledError:
            ok = False
        result = self._end_shutdown(ok)
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))
        self._join_companions(deadline)
        return result

    async def ashutdown(self, timeout: float | None = None) -> bool:
        """Awaitable :meth:`shutdown`; never blocks the calling event loop."""
        try:
            return await self._ashutdown(timeout)
        finally:
            self._left_shutdown()

    async def _ashutdown(self, timeout: float | None = None) -> bool:
        deadline, fut = self._begin_shutdown(timeout)
        if fut is None:
            fut = self._in_progress_shutdown()
            if fut is None:
                await asyncio.to_thread(self._join_companions, deadline)
                return self._shutdown_result if self._shutdown_result is not None else True
            deadline = self._shutdown_deadline
        try:
            ok = await asyncio.wait_for(
                asyncio.shield(asyncio.wrap_future(fut)), max(0.0, deadline - time.monotonic())
            )
        except TimeoutError:
            ok = False
        result = self._end_shutdown(ok)
        try:
            await asyncio.wait_for(
                asyncio.wrap_future(self._done), max(0.0, deadline - time.monotonic())
            )
        except TimeoutError:
            pass
        await asyncio.to_thread(self._join_companions, deadline)
        return result

    def stats(self) -> PipelineStats:
        """A consistent snapshot of the accounting (see :class:`PipelineStats`)."""
        snapshot = self._acct.snapshot()
        protection: dict[str, int] = {}
        for processor in self.processors:
            counts = getattr(processor, "counts", None)
            if counts is not None and processor.__class__.__module__.startswith("fapilog."):
                protection.update(counts())
        if not protection:
            return snapshot
        return dataclasses.replace(snapshot, protection=MappingProxyType(protection))

    def add_shutdown_hook(self, undo: Callable[[], None]) -> None:
        """Register a callable that restores global state when the pipeline shuts down."""
        self._on_shutdown.append(undo)

    def add_companion_flush(self, flush: Callable[[int], object]) -> None:
        """Flush something else whenever this pipeline shuts down, within the same bound.

        At exit and on SIGTERM the process ends right after the pipeline's shutdown,
        so whatever else buffers telemetry (the OTel SDK's tracer and meter
        providers) must be flushed by then too.

        Args:
            flush: an OTel-style ``force_flush(timeout_millis)``; it is called on a
                thread of its own when the shutdown begins, with the time left in
                milliseconds, and runs concurrently with the pipeline's own flush.
                Shutdown waits for it until the deadline; its exceptions are
                reported on stderr, never raised.
        """
        self._companions.append(flush)

    def _start_companions(self, deadline: float) -> None:
        companions, self._companions = self._companions, []
        for flush in companions:

            def run(flush: Callable[[int], object] = flush) -> None:
                millis = max(0, int((deadline - time.monotonic()) * 1000))
                try:
                    flush(millis)
                except Exception as exc:
                    reporter.report("companion_flush", f"flush at shutdown failed: {exc!r}")

            thread = threading.Thread(target=run, name="fapilog-companion-flush", daemon=True)
            thread.start()
            self._companion_threads.append(thread)

    def _join_companions(self, deadline: float) -> None:
        for thread in self._companion_threads:
            thread.join(max(0.0, deadline - time.monotonic()))


def _keeps_size(processor: Processor) -> bool:
    """Whether ``processor`` leaves an event's :func:`estimate_size` about as it was.

    fapilog's own redaction, compliance, level-filter and span processors only mask,
    cut, flag or drop, so the size estimated when the event was built still bounds
    memory; after any other processor the pipeline estimates again. The mark is
    read from the class itself: a subclass may do more.
    """
    return bool(type(processor).__dict__.get("_fapilog_keeps_size", False))


def _write_now(text: str) -> None:
    """Write ``text`` to stderr's descriptor if that cannot block; else drop it."""
    try:
        fd = sys.__stderr__.fileno() if sys.__stderr__ is not None else 2
        data = text.encode("utf-8", "backslashreplace")
        if len(data) <= getattr(select, "PIPE_BUF", 512) and select.select([], [fd], [], 0)[1]:
            os.write(fd, data)
    except Exception:  # closed, not a descriptor, no select: nothing left to tell
        pass


def _losses(stats: PipelineStats) -> int:
    return sum(n for reason, n in stats.dropped.items() if reason not in NOT_LOSS)


def _exporter_hint(exporter: Exporter, exported: int, error: str, *, refused: bool) -> str:
    """What most likely kept ``exporter`` from delivering, and the fix, in a phrase.

    Duck-typed on what the built-in exporters expose (an OTLP exporter's
    ``options.display_endpoint``, credentials masked; a file exporter's ``path``).
    """
    name = exporter.name or type(exporter).__name__
    if len(error) > 200:
        error = error[:199] + "…"
    last = f" (last error: {error})" if error else ""
    endpoint = getattr(getattr(exporter, "options", None), "display_endpoint", None)
    if isinstance(endpoint, str) and name.startswith("otlp"):
        if exported == 0 and not refused:  # the cause was told at the first failure
            return (
                f"collector unreachable at {endpoint}: start it or set OTEL_EXPORTER_OTLP_ENDPOINT"
            )
        return f"collector at {endpoint} refused or was too slow{last}"
    path = getattr(exporter, "path", None)
    if isinstance(path, os.PathLike) and not _writable(os.fspath(path)):
        return f"file path not writable: {os.fspath(path)}{last}"
    return f"exporter {name!r} did not deliver{last}" if error else ""


def _writable(path: str) -> bool:
    """Whether ``path`` can be appended to (or created in its directory)."""
    if os.path.exists(path):
        return os.access(path, os.W_OK)
    parent = os.path.dirname(path) or "."
    return os.path.isdir(parent) and os.access(parent, os.W_OK | os.X_OK)


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _on_event_loop() -> bool:
    return asyncio._get_running_loop() is not None
