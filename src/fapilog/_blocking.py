"""Run blocking calls off the pipeline's event loop, on a private daemon thread.

The default executor of asyncio is not usable here: it refuses work once the
interpreter starts shutting down (exactly when the exit flush runs), and its
threads are joined at exit, so one hung write would hang the whole process.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["BlockingRunner"]

T = TypeVar("T")
_STOP = object()


class BlockingRunner:
    """A single daemon thread that runs submitted callables in order.

    One runner per exporter keeps a slow sink (a blocked pipe, a hung NFS file)
    from stalling the other exporters that share the pipeline's loop.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            with self._lock:
                if self._thread is None or not self._thread.is_alive():
                    self._queue = queue.SimpleQueue()
                    self._thread = threading.Thread(
                        target=self._loop, name=f"fapilog-io-{self._name}", daemon=True
                    )
                    self._thread.start()

    def _loop(self) -> None:
        q = self._queue
        while True:
            item = q.get()
            if item is _STOP:
                return
            fn, args, loop, fut = item
            try:
                result = fn(*args)
            except BaseException as exc:  # handed back to the awaiting coroutine
                loop.call_soon_threadsafe(_set_exception, fut, exc)
            else:
                loop.call_soon_threadsafe(_set_result, fut, result)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the runner's thread and await its result.

        Once the interpreter refuses new threads (Python 3.12 and later, from the
        start of its shutdown: the exit flush), a runner with no thread yet runs
        ``fn`` on the calling thread instead: blocking the pipeline's loop for one
        call at exit beats losing what the call would write.
        """
        try:
            self._ensure_thread()
        except RuntimeError:  # "can't create new thread at interpreter shutdown"
            return fn(*args)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        self._queue.put((fn, args, loop, fut))
        return await fut

    def close(self) -> None:
        """Let the thread end after the work already queued (does not wait)."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread = None

    def after_fork(self) -> None:
        """Forget the parent's thread; a new one starts on next use."""
        self._thread = None
        self._lock = threading.Lock()
        self._queue = queue.SimpleQueue()


def _set_result(fut: asyncio.Future[Any], value: Any) -> None:
    if not fut.done():
        fut.set_result(value)


def _set_exception(fut: asyncio.Future[Any], exc: BaseException) -> None:
    if not fut.done():
        fut.set_exception(exc)
