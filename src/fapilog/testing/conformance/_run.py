"""Running a plugin's code with a bound, so a hang is a precise failure, not a stuck suite."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

__all__ = ["LoopThread", "Outcome", "run_bounded"]

T = TypeVar("T")


@dataclass
class Outcome(Generic[T]):
    """How a bounded call ended: returned ``value``, raised ``error``, or still running."""

    done: bool
    value: T | None = None
    error: BaseException | None = None


def run_bounded(function: Callable[[], T], timeout: float) -> Outcome[T]:
    """Call ``function`` on a daemon thread; give up waiting after ``timeout`` seconds."""
    outcome: Outcome[T] = Outcome(done=False)

    def target() -> None:
        try:
            outcome.value = function()
        except BaseException as exc:  # reported to the caller, never raised on this thread
            outcome.error = exc
        outcome.done = True

    thread = threading.Thread(target=target, name="fapilog-conformance", daemon=True)
    thread.start()
    thread.join(timeout)
    return outcome


class LoopThread:
    """An event loop on a daemon thread, as the pipeline worker runs exporters.

    Every call of one plugin object goes to the same loop (an exporter may keep
    loop-bound clients between calls). A call that does not end within its bound is
    cancelled and reported as not done; a loop blocked by synchronous code is
    abandoned (the thread is a daemon).
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="fapilog-conformance-loop", daemon=True
        )
        self._thread.start()
        self._stuck = False

    def call(self, coro: Coroutine[Any, Any, T], timeout: float) -> Outcome[T]:
        """Run ``coro`` on the loop, waiting at most ``timeout`` seconds."""
        if self._stuck:
            coro.close()
            return Outcome(done=False)
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return Outcome(done=True, value=future.result(timeout))
        except concurrent.futures.TimeoutError:
            future.cancel()  # a cooperative hang unwinds; a blocked loop answers nothing
            probe = asyncio.run_coroutine_threadsafe(asyncio.sleep(0), self.loop)
            try:
                probe.result(1.0)
            except concurrent.futures.TimeoutError:
                self._stuck = True
            return Outcome(done=False)
        except BaseException as exc:
            return Outcome(done=True, error=exc)

    def close(self) -> None:
        """Stop and close the loop, unless a call left it blocked."""
        if self._stuck:
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()
