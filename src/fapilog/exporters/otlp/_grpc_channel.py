"""The OTLP/gRPC exporter's channel: synchronous gRPC on daemon threads, fork-aware.

Calls are blocking calls of gRPC's synchronous API, made on a few daemon threads of
fapilog's own (:class:`CallThreads`), never on the pipeline's event loop and never
through ``grpc.aio`` (which cannot survive a fork). :class:`GrpcChannel` owns one
channel and knows at every moment whether a call is inside gRPC's core, so that the
hooks of :mod:`fapilog.exporters.otlp._fork` can make it idle before a fork.
"""

from __future__ import annotations

import asyncio
import os
import queue
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

# First: importing _fork turns on gRPC's fork support while that is still possible.
from fapilog.exporters.otlp import _fork

# isort: split
import grpc
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = ["CHANNEL_OPTIONS", "CallThreads", "GrpcChannel", "Interrupted"]

T = TypeVar("T")

_EXPORT_METHOD = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"

#: Channel arguments fapilog always sets (besides the user agent). gRPC's defaults
#: wait 1 s after a failed connection attempt, then 1.6 times longer each time, up
#: to 120 s: a collector back after a 20 s outage was used again only 6-12 s later.
#: Capped at 500 ms, a returning collector is reconnected to within about half a
#: second; an absent one costs two connection attempts a second. The minimum stays
#: gRPC's default on purpose: it is also the time one connection attempt (TCP, TLS,
#: HTTP/2 settings) may take, 20 s.
CHANNEL_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 500),
)


@dataclass(frozen=True, slots=True)
class Interrupted:
    """A call that did not reach the collector because the process forked or closed."""

    reason: str


class GrpcChannel:
    """One gRPC channel to the collector, closed around forks and reopened on use.

    Thread-safe: calls come from :class:`CallThreads`, the fork hooks from whichever
    thread forks, :meth:`open` and :meth:`close` from the pipeline's loop.

    Args:
        target: ``host:port`` to connect to.
        options: channel arguments (user agent, reconnect backoff).
        credentials: TLS credentials, or ``None`` for plain text.
        compression: the channel's compression.
    """

    def __init__(
        self,
        target: str,
        options: Sequence[tuple[str, Any]],
        credentials: grpc.ChannelCredentials | None,
        compression: grpc.Compression | None,
    ) -> None:
        self._target = target
        self._options = list(options)
        self._credentials = credentials
        self._compression = compression
        self._init_process_state()
        _fork.track(self)

    def _init_process_state(self) -> None:
        self._pid = os.getpid()
        self._cond = threading.Condition(threading.Lock())
        self._channel: grpc.Channel | None = None
        self._stub: Any = None
        self._active = 0  # threads inside gRPC with a call
        self._forking = False
        self._closed = False

    @property
    def channel(self) -> grpc.Channel | None:
        """The open channel, if any (for tests)."""
        return self._channel

    def open(self) -> None:
        """Open the channel now if it is not open (it connects at the first call)."""
        self._check_process()
        with self._cond:
            if not self._forking and not self._closed:
                self._stub_locked()

    def _stub_locked(self) -> Any:
        if self._stub is None:
            if self._credentials is None:
                channel = grpc.insecure_channel(self._target, self._options, self._compression)
            else:
                channel = grpc.secure_channel(
                    self._target, self._credentials, self._options, self._compression
                )
            self._channel = channel
            # The request is already serialised (see _wire.py): no request serialiser.
            self._stub = channel.unary_unary(
                _EXPORT_METHOD, response_deserializer=ExportLogsServiceResponse.FromString
            )
        return self._stub

    def call(
        self, payload: bytes, timeout: float, metadata: Sequence[tuple[str, str]]
    ) -> ExportLogsServiceResponse | grpc.RpcError | Interrupted:
        """Make one blocking ``Export`` call; blocks the calling thread.

        Returns:
            The response, the :class:`grpc.RpcError` the call ended with, or
            :class:`Interrupted` when it was not made or was cut short by a fork or
            :meth:`close`.
        """
        self._check_process()
        with self._cond:
            if self._closed:
                return Interrupted("the exporter is shut down")
            if self._forking:
                return Interrupted("cancelled: the process was forking")
            stub = self._stub_locked()
            channel = self._channel
            self._active += 1
        try:
            result: ExportLogsServiceResponse = stub(payload, timeout=timeout, metadata=metadata)
            return result
        except grpc.RpcError as exc:
            with self._cond:
                replaced = self._channel is not channel
            if replaced and exc.code() is grpc.StatusCode.CANCELLED:
                return Interrupted("cancelled: the process forked while it was sent")
            return exc
        except ValueError:  # "Cannot invoke RPC on closed channel!": closed meanwhile
            return Interrupted("cancelled: the channel was closed while it was sent")
        finally:
            with self._cond:
                self._active -= 1
                if not self._active:
                    self._cond.notify_all()

    def close(self) -> None:
        """Close the channel for good, cancelling calls in flight."""
        self._check_process()
        with self._cond:
            self._closed = True
            channel, self._channel, self._stub = self._channel, None, None
        if channel is not None:
            channel.close()

    def _check_process(self) -> None:
        if self._pid != os.getpid():
            self.after_fork_in_child()

    # -- fork hooks (see _fork.py) -------------------------------------------------------

    def before_fork(self) -> None:
        """Take no new calls (the fork hook then waits for the calls in flight)."""
        if self._pid != os.getpid():
            return
        with self._cond:
            self._forking = True

    def cancel_calls(self) -> None:
        """Close the channel if calls are still in flight, which cancels them."""
        if self._pid != os.getpid():
            return
        with self._cond:
            if not self._active:
                return
            channel, self._channel, self._stub = self._channel, None, None
        if channel is not None:
            channel.close()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no call is inside gRPC; False if one still is after ``timeout``."""
        if self._pid != os.getpid():
            return True
        with self._cond:
            return self._cond.wait_for(lambda: not self._active, timeout)

    def after_fork_in_parent(self) -> None:
        """Take calls again; the next one opens a new channel."""
        if self._pid != os.getpid():
            return
        with self._cond:
            self._forking = False

    def after_fork_in_child(self) -> None:
        """Forget the parent's channel and locks without touching them (idempotent)."""
        if self._pid == os.getpid():
            return
        closed, channel = self._closed, self._channel
        self._init_process_state()
        self._closed = closed
        if channel is not None:
            # Never closed nor collected here: its connection is the parent's.
            _ORPHANS.append(channel)


_STOP = object()

# Channels of a parent process, inherited by this forked child: kept referenced so
# that their finaliser never runs here and touches the connection the parent uses.
_ORPHANS: list[grpc.Channel] = []


class CallThreads:
    """Daemon threads that run blocking calls, up to ``size`` at once.

    Like :class:`fapilog._blocking.BlockingRunner`, but several threads share one
    queue, so that ``max_concurrent_exports`` calls can be in flight. Start them with
    :meth:`start` while threads may still be created (Python 3.12 and later refuse
    new threads once the interpreter exits, when the exit flush runs); if none can
    be started, a call runs on the calling thread.

    Args:
        name: thread name suffix.
        size: number of threads.
    """

    def __init__(self, name: str, size: int) -> None:
        self._name = name
        self._size = size
        self._init_process_state()

    def _init_process_state(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start the threads not running yet.

        Raises:
            RuntimeError: the interpreter refuses new threads and none runs.
        """
        if self._pid != os.getpid():
            self._init_process_state()
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            try:
                while len(self._threads) < self._size:
                    thread = threading.Thread(
                        target=self._loop,
                        args=(self._queue,),
                        name=f"fapilog-grpc-{self._name}",
                        daemon=True,
                    )
                    thread.start()
                    self._threads.append(thread)
            except RuntimeError:  # "can't create new thread at interpreter shutdown"
                if not self._threads:
                    raise

    @staticmethod
    def _loop(work: queue.SimpleQueue[Any]) -> None:
        while True:
            item = work.get()
            if item is _STOP:
                return
            fn, args, loop, fut = item
            try:
                result = fn(*args)
            except BaseException as exc:  # handed back to the awaiting coroutine
                _deliver(loop, fut, exc, failed=True)
            else:
                _deliver(loop, fut, result, failed=False)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on one of the threads and await its result."""
        try:
            self.start()
        except RuntimeError:
            return fn(*args)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        self._queue.put((fn, args, loop, fut))
        return await fut

    def close(self) -> None:
        """Let the threads end after the work already queued (does not wait)."""
        if self._pid != os.getpid():
            self._init_process_state()
            return
        with self._lock:
            for _ in self._threads:
                self._queue.put(_STOP)
            self._threads = []

    def after_fork(self) -> None:
        """Forget the parent's threads; new ones start on next use."""
        if self._pid != os.getpid():
            self._init_process_state()


def _deliver(
    loop: asyncio.AbstractEventLoop, fut: asyncio.Future[Any], value: Any, *, failed: bool
) -> None:
    def settle() -> None:
        if fut.done():
            return
        if failed:
            fut.set_exception(value)
        else:
            fut.set_result(value)

    try:
        loop.call_soon_threadsafe(settle)
    except RuntimeError:  # the loop is closed: nobody awaits the result any more
        pass
