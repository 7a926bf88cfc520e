"""An exporter that keeps what it receives in memory: for tests, yours and ours."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import TYPE_CHECKING

from fapilog.exporters._base import Exporter, ExportResult

if TYPE_CHECKING:
    from collections.abc import Sequence

    from fapilog._event import LogEvent

__all__ = ["InMemoryExporter"]


class InMemoryExporter(Exporter):
    """Stores every exported event; can also fail, be slow or hang, on request.

    All accessors are thread-safe: the pipeline exports on its worker thread while a
    test reads from its own. Waiting uses a condition variable, not polling.

    Example::

        exporter = InMemoryExporter()
        pipeline = fapilog.Pipeline(exporters=[exporter])
        ...
        assert exporter.wait_for(3, timeout=5)
        assert [e.body for e in exporter.events] == ["a", "b", "c"]

    Args:
        fail_with: answer every export with this result instead of storing the batch
            (unless it is a success). Can be changed at any time through the
            attribute of the same name.
        delay: seconds each export waits before it stores the batch (a slow backend).
        hang: every export waits until it is cancelled or :meth:`release` is called
            (a hung backend). Also an attribute.
        name: the name used in pipeline stats and diagnostics (default ``"memory"``).
    """

    api_version = "1.0"  # the fapilog.plugin API it is written for

    name = "memory"

    def __init__(
        self,
        *,
        fail_with: ExportResult | None = None,
        delay: float = 0.0,
        hang: bool = False,
        name: str | None = None,
    ) -> None:
        if delay < 0:
            raise ValueError("delay must be >= 0")
        self.fail_with = fail_with
        self.delay = delay
        self.hang = hang
        if name:
            self.name = name
        self._cond = threading.Condition()
        self._events: list[LogEvent] = []
        self._batches: list[list[LogEvent]] = []
        self._calls = 0
        self._shutdown = False
        self._hung: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    def __repr__(self) -> str:
        return f"InMemoryExporter(events={len(self._events)}, calls={self._calls})"

    # -- what the tests read ------------------------------------------------------------

    @property
    def events(self) -> list[LogEvent]:
        """A copy of every stored event, in export order."""
        with self._cond:
            return list(self._events)

    @property
    def batches(self) -> list[list[LogEvent]]:
        """A copy of the stored batches, one list per successful export."""
        with self._cond:
            return [list(batch) for batch in self._batches]

    @property
    def export_calls(self) -> int:
        """How many times ``export`` was called (including failed and hung calls)."""
        with self._cond:
            return self._calls

    @property
    def is_shutdown(self) -> bool:
        """Whether :meth:`shutdown` was called."""
        with self._cond:
            return self._shutdown

    def clear(self) -> None:
        """Forget the stored events and batches (the call count is kept)."""
        with self._cond:
            self._events.clear()
            self._batches.clear()

    def wait_for(self, count: int, timeout: float | None = None) -> bool:
        """Block until at least ``count`` events are stored.

        Args:
            count: the number of stored events to wait for.
            timeout: seconds to wait at most; ``None`` waits without bound.

        Returns:
            True when ``count`` events are stored, False on timeout.
        """
        with self._cond:
            return self._cond.wait_for(lambda: len(self._events) >= count, timeout)

    def wait_for_calls(self, count: int, timeout: float | None = None) -> bool:
        """Block until ``export`` was called at least ``count`` times.

        Useful with ``hang`` or ``fail_with``, when no event is ever stored.

        Args:
            count: the number of calls to wait for.
            timeout: seconds to wait at most; ``None`` waits without bound.

        Returns:
            True when the calls happened, False on timeout.
        """
        with self._cond:
            return self._cond.wait_for(lambda: self._calls >= count, timeout)

    def release(self) -> None:
        """Turn ``hang`` off and let the exports hanging now carry on. Thread-safe."""
        with self._cond:
            self.hang = False
            hung, self._hung = self._hung, []
        for loop, event in hung:
            with contextlib.suppress(RuntimeError):  # that loop is closed already
                loop.call_soon_threadsafe(event.set)

    # -- the exporter protocol ----------------------------------------------------------

    async def export(self, batch: Sequence[LogEvent]) -> ExportResult:
        """Store ``batch``, or answer as configured (fail, delay, hang).

        Args:
            batch: events in emission order; stored as they are (not copied).

        Returns:
            ``fail_with`` when it is set and not a success; failure after shutdown;
            else success.
        """
        with self._cond:
            self._calls += 1
            self._cond.notify_all()
            gate = None
            if self.hang:
                gate = asyncio.Event()
                entry = (asyncio.get_running_loop(), gate)
                self._hung.append(entry)
        if gate is not None:
            try:
                await gate.wait()  # until release() or cancellation
            finally:
                with self._cond, contextlib.suppress(ValueError):  # release() took it
                    self._hung.remove(entry)
        if self.delay:
            await asyncio.sleep(self.delay)
        result = self.fail_with
        if result is not None and not result.ok:
            return result
        with self._cond:
            if self._shutdown:
                return ExportResult.failure("exporter is shut down")
            self._events.extend(batch)
            self._batches.append(list(batch))
            self._cond.notify_all()
        return ExportResult.success()

    async def force_flush(self, timeout: float | None = None) -> bool:
        """Nothing is buffered. Returns True."""
        return True

    async def shutdown(self) -> None:
        """Refuse further exports; the stored events stay readable."""
        with self._cond:
            self._shutdown = True
            self._cond.notify_all()

    def after_fork(self) -> None:
        """Fresh lock in the child (another thread may have held it at the fork)."""
        self._cond = threading.Condition()
        self._hung = []
