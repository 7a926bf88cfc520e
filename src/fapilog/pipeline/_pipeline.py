"""The pipeline: an intake on the caller's side, a worker thread with its own loop.

A :class:`Pipeline` is assembled from settings (:mod:`~fapilog.pipeline._assembly`),
takes captured calls through its :class:`~fapilog.pipeline._intake.Intake`, and
processes and exports them on its :class:`~fapilog.pipeline._worker.Worker`; this
module ties them together and owns the public lifecycle (flush, shutdown, stats).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import itertools
import os
import threading
import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.resources import Resource

from fapilog._diagnostics import reporter
from fapilog.pipeline import _lifecycle
from fapilog.pipeline._assembly import assemble, default_resource
from fapilog.pipeline._durable import open_link
from fapilog.pipeline._intake import Intake, _worker_local, in_worker_thread
from fapilog.pipeline._shutdown import Companions, losses, report_loss
from fapilog.pipeline._worker import Worker

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from fapilog._logger import Logger
    from fapilog.config import Settings
    from fapilog.exporters._base import Exporter
    from fapilog.pipeline._stats import PipelineStats
    from fapilog.processors._base import Processor

# ``_worker_local`` stays importable from here: fapilog._diagnostics marks its writer
# thread through it.
__all__ = ["Pipeline", "_worker_local", "default_resource", "in_worker_thread"]

_serials = itertools.count(1)


class Pipeline:
    """One independent logging pipeline: buffer, processors, batching, exporters.

    Most applications use the default pipeline through :func:`fapilog.configure`
    and :func:`fapilog.get_logger`; create more for isolated destinations (an
    audit stream, a library's own telemetry) and get loggers from them with
    :meth:`get_logger`.

    Args:
        settings: a :class:`~fapilog.Settings`; by default loaded from the environment.
        exporters: exporter names (``"console"``, ``"file"``, ``"otlp"``...), fapilog
            exporters, OTel ``LogRecordExporter`` objects, or a mapping of exporter
            name to its options (``{"otlp": {"endpoint": ...}}``); replaces the
            exporters named in settings.
        processors: the application's processors (objects, names, or a mapping of
            name to options), run after the built-in enrichers and after redaction
            (they only ever see redacted events); replaces the ``processors`` setting.
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
        exporters: Iterable[Exporter | Any] | Mapping[str, Mapping[str, Any]] | None = None,
        processors: Iterable[Processor | Any] | Mapping[str, Mapping[str, Any]] | None = None,
        resource: Resource | None = None,
        **overrides: Any,
    ) -> None:
        # The model (pydantic) is imported here: the zero-configuration default
        # pipeline runs on settings built without it (fapilog._defaults).
        if settings is None:
            from fapilog.config import Settings

            settings = Settings.load(**overrides)
        elif overrides:
            from fapilog.config import Settings

            settings = Settings.load(**{**settings.model_dump(exclude_unset=True), **overrides})
        self.settings = settings
        self._serial = next(_serials)
        parts = assemble(settings, exporters=exporters, processors=processors, resource=resource)
        self.resource: Resource = parts.resource
        #: The processors in order; the built-in span and bound-context enrichers lead.
        self.processors: list[Processor] = parts.processors
        self.exporters: list[Exporter] = parts.exporters
        self.span_processor = parts.span_processor
        self.bound_processor = parts.bound_processor
        self.batch_options = parts.batch_options
        #: The durable disk spool (``spool_dir``), or None: memory only. Opened here so
        #: a directory another live process holds is a clear error at configure().
        self.spool = open_link(settings)
        #: The caller side: what loggers, handlers and bridges hand their records to.
        self.intake = Intake(
            self,
            level=settings.level_number,
            max_queue=settings.max_queue_size,
            intake_bytes=parts.plan.intake_bytes,
            policy=settings.overflow,
            block_timeout=settings.block_timeout_ms / 1000,
        )
        self._worker = Worker(self)
        self._on_shutdown: list[Callable[[], None]] = []
        self._companions = Companions()
        self._shutdown_result: bool | None = None
        self._shutdown_fut: concurrent.futures.Future[bool] | None = None
        self._shutdown_deadline = 0.0
        self._shutdown_thread: int | None = None  # the thread inside shutdown(), if any
        # Reentrant: a signal handler may finish a shutdown the same thread is inside.
        self._end_lock = threading.RLock()
        _lifecycle.register(self)
        self._start_worker()

    def __repr__(self) -> str:
        names = ", ".join(e.name for e in self.exporters) or "no exporters"
        state = "shut down" if self.intake.closed else "running"
        return f"<fapilog.Pipeline #{self._serial} [{names}] {state}>"

    @property
    def serial(self) -> int:
        """This pipeline's number in the process (1 for the first), as in its repr."""
        return self._serial

    # Read by tests and subprocess scripts of earlier releases.
    @property
    def _closed(self) -> bool:
        return self.intake.closed

    @property
    def _loop(self) -> asyncio.AbstractEventLoop | None:
        return self._worker.loop

    def _start_worker(self) -> None:
        reason = self._worker.start()
        if reason is not None:
            # Never raise into a log call: the pipeline is closed from the start, so
            # every event is counted as an after_shutdown drop.
            self.intake.close()
            self._shutdown_result = False
            _lifecycle.unregister(self)
            reporter.report(f"no_worker:{self._serial}", f"pipeline not started: {reason}")

    def _after_fork(self) -> None:
        """In a forked child: forget the parent's buffered events and start afresh.

        The parent still owns and exports what it buffered; re-exporting it here
        would duplicate it. Counters restart at zero for the child.
        """
        reporter.reset()
        self.intake.reset()
        if self.spool is not None:
            # The parent holds the directory (and its lock): the child stays in memory.
            self.spool = None
            reporter.report(
                f"spool_fork:{self._serial}",
                "forked child: the spool directory belongs to the parent; this process "
                "logs in memory only (configure it with a spool directory of its own)",
            )
        self._worker = Worker(self)
        if "process.pid" in self.resource.attributes:
            self.resource = self.resource.merge(Resource({"process.pid": os.getpid()}))
        for exporter in self.exporters:
            try:
                exporter.after_fork()
            except Exception as exc:
                reporter.report("after_fork", f"{exporter.name}.after_fork raised {exc!r}")
        self.intake.refresh_gate()
        if not self.intake.closed:
            self._start_worker()

    def get_logger(self, name: str | None = None) -> Logger:
        """A logger that writes to this pipeline (not to the default one)."""
        from fapilog._logger import Logger

        return Logger._for_pipeline(self, name)

    def _set_flush_on_write(self, on: bool) -> None:
        """Flush every event before its logging call returns (``on``), or stop doing so."""
        self.intake.set_flush_on_write(on)

    def _check_not_worker(self, what: str) -> None:
        if threading.current_thread() is self._worker.thread:
            raise RuntimeError(f"Pipeline.{what}() cannot be called from the pipeline's worker")

    # -- public lifecycle -------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Export everything logged before this call.

        Args:
            timeout: seconds to wait at most (default: no bound).

        Returns:
            True if everything was exported (or counted as dropped) in time.
        """
        self._check_not_worker("flush")
        if self.intake.closed or self._worker.loop is None:
            return self.intake.closed
        fut = asyncio.run_coroutine_threadsafe(self._worker.flush_inner(), self._worker.loop)
        self._worker.wake()
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            return False

    async def aflush(self, timeout: float | None = None) -> bool:
        """Awaitable :meth:`flush`; never blocks the calling event loop."""
        if self.intake.closed or self._worker.loop is None:
            return self.intake.closed
        fut = asyncio.run_coroutine_threadsafe(self._worker.flush_inner(), self._worker.loop)
        self._worker.wake()
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
        intake = self.intake
        with intake.lock:
            if intake.closed:
                return deadline, None
            self._shutdown_deadline = deadline
            self._shutdown_thread = threading.get_ident()
            intake.close()  # later calls are counted as after_shutdown drops
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
        self._companions.start(deadline)
        worker = self._worker
        if worker.loop is None:
            return deadline, None
        fut = asyncio.run_coroutine_threadsafe(worker.shutdown_inner(deadline), worker.loop)
        self._shutdown_fut = fut
        worker.wake()
        return deadline, fut

    def _end_shutdown(self, ok: bool) -> bool:
        """Close the books, report any loss in one line; once, whoever gets here first."""
        with self._end_lock:
            if self._shutdown_result is not None:
                return self._shutdown_result
            intake, worker = self.intake, self._worker
            leftover = len(intake.ring)
            intake.ring.clear()
            link = self.spool
            spooled = link is not None and not link.degraded
            lost = intake.acct.close_books("shutdown", leftover, spooled=spooled)
            worker.stopping = True
            worker.wake()
            intake.wake_waiters()
            _lifecycle.unregister(self)
            final = self.stats()
            self._shutdown_result = ok and lost == 0 and not losses(final)
            names = ", ".join(e.name for e in self.exporters) or "no exporters"
            report_loss(
                f"pipeline #{self._serial} [{names}]",
                f"loss:{self._serial}",
                final,
                settings=self.settings,
                exporters=self.exporters,
                acct=intake.acct,
                byte_limited=intake.limit < intake.max_queue,
                stalled=worker.stalled_at,
            )
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
            and self._worker.loop is not None
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
                self._companions.join(deadline)
                return self._shutdown_result if self._shutdown_result is not None else True
            deadline = self._shutdown_deadline
        try:
            ok = fut.result(max(0.0, deadline - time.monotonic()))
        except concurrent.futures.TimeoutError:
            ok = False
        except concurrent.futures.CancelledError:
            ok = False
        result = self._end_shutdown(ok)
        thread = self._worker.thread
        if thread is not None:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._companions.join(deadline)
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
                await asyncio.to_thread(self._companions.join, deadline)
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
                asyncio.wrap_future(self._worker.done), max(0.0, deadline - time.monotonic())
            )
        except TimeoutError:
            pass
        await asyncio.to_thread(self._companions.join, deadline)
        return result

    def stats(self) -> PipelineStats:
        """A consistent snapshot of the accounting (see :class:`PipelineStats`).

        ``protection`` merges the :meth:`~fapilog.Processor.counts` of every
        processor (values of the same key are added); a processor whose ``counts()``
        raises or returns anything but a mapping of str to int is left out and
        reported once.
        """
        snapshot = _with_rate_limits(self.intake.acct.snapshot(), self.intake)
        protection: dict[str, int] = {}
        if self.intake.limits is not None:
            protection.update(self.intake.limits.counts())
        for processor in self.processors:
            counts = getattr(processor, "counts", None)
            if counts is None:
                continue
            try:
                got = counts()
                if not isinstance(got, Mapping):
                    raise TypeError(f"returned {type(got).__name__}, not a mapping")
                items = [(k, v) for k, v in got.items() if _is_count(k, v)]
                if len(items) != len(got):
                    raise TypeError("returned a key that is not a str or a value not an int")
            except Exception as exc:
                self._bad_counts(processor, exc)
                continue
            for key, value in items:
                protection[key] = protection.get(key, 0) + value
        stalled = self._worker.stalled
        spool = None if self.spool is None else self.spool.info()
        if not protection and stalled is None and spool is None:
            return snapshot
        return dataclasses.replace(
            snapshot, protection=MappingProxyType(protection), stalled=stalled, spool=spool
        )

    def _bad_counts(self, processor: Processor, exc: Exception) -> None:
        cls = type(processor)
        if cls in _bad_counts_told:
            return
        _bad_counts_told.add(cls)
        reporter.report(
            f"processor_counts:{cls.__qualname__}",
            f"processor {cls.__qualname__}.counts() failed ({type(exc).__name__}: {exc}); "
            "its counts are left out of stats()",
        )

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
        self._companions.add(flush)


#: Processor classes whose counts() failed once (reported once per class).
_bad_counts_told: set[type] = set()


def _is_count(key: object, value: object) -> bool:
    return type(key) is str and isinstance(value, int) and not isinstance(value, bool)


# -- caller-side rate limits (fapilog._ratelimit) --------------------------------------------


def _with_rate_limits(snapshot: PipelineStats, intake: Intake) -> PipelineStats:
    """``snapshot`` with the events the caller-side rate limits dropped.

    The limiters count without the accounting lock (see :mod:`fapilog._ratelimit`); their
    sum, read once, is added to ``emitted`` and to ``dropped["rate_limited"]`` alike, so
    ``emitted == exported + dropped_total + in_flight`` stays exact.
    """
    limited = intake.rate_limited()
    if not limited:
        return snapshot
    dropped = dict(snapshot.dropped)
    dropped["rate_limited"] = dropped.get("rate_limited", 0) + limited
    return dataclasses.replace(
        snapshot, emitted=snapshot.emitted + limited, dropped=MappingProxyType(dropped)
    )
