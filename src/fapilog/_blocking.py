"""Run blocking calls off the pipeline's event loop, on a private daemon thread.

The default executor of asyncio is not usable here: it refuses work once the
interpreter starts shutting down (exactly when the exit flush runs), and its
threads are joined at exit, so one hung write would hang the whole process.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["BlockingRunner", "DaemonExecutor"]

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


class DaemonExecutor(concurrent.futures.ThreadPoolExecutor):
    """The default executor of the pipeline's event loop: daemon threads, never joined.

    An exporter that calls ``loop.run_in_executor(None, ...)`` or ``asyncio.to_thread``
    gets these threads instead of asyncio's default pool, whose threads the
    interpreter joins at exit: one call that never returns would hang the process
    forever. Here exit waits only for the pipeline's own shutdown bound. Threads start
    on demand, up to ``max_workers``, and stay for reuse.
    """

    def __init__(self, name: str, max_workers: int = 8) -> None:
        # A ThreadPoolExecutor only because asyncio insists on one as the default
        # executor; its machinery is unused (submit and shutdown are replaced).
        super().__init__(max_workers=1, thread_name_prefix=f"fapilog-executor-{name}")
        self._name = name
        self._max = max_workers
        self._work: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._started = 0
        self._idle = 0
        self._guard = threading.Lock()
        self._closed = False

    def submit(
        self, fn: Callable[..., T], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[T]:
        """Schedule ``fn(*args, **kwargs)``; see :meth:`concurrent.futures.Executor.submit`."""
        with self._guard:
            if self._closed:
                raise RuntimeError("cannot schedule new futures after shutdown")
            fut: concurrent.futures.Future[T] = concurrent.futures.Future()
            self._work.put((fut, fn, args, kwargs))
            if self._idle == 0 and self._started < self._max:
                thread = threading.Thread(
                    target=self._worker,
                    name=f"fapilog-executor-{self._name}-{self._started}",
                    daemon=True,
                )
                thread.start()  # RuntimeError at interpreter shutdown reaches the caller
                self._started += 1
            return fut

    def _worker(self) -> None:
        while True:
            with self._guard:
                self._idle += 1
            item = self._work.get()
            with self._guard:
                self._idle -= 1
            if item is _STOP:
                return
            fut, fn, args, kwargs = item
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                fut.set_exception(exc)
            else:
                fut.set_result(result)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Refuse new work and let idle threads end; never waits for a running call.

        ``wait`` is accepted for the Executor interface and ignored: waiting is what
        this executor exists to avoid (see the class docstring).
        """
        with self._guard:
            self._closed = True
            threads = self._started
        for _ in range(threads):
            self._work.put(_STOP)
