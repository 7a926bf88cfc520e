"""Process-level hooks: flush at interpreter exit and on SIGTERM, re-initialise after fork.

SIGTERM is the one way a process commonly ends without running exit hooks: with the
default disposition it dies at once, and servers such as uvicorn catch it, shut down
gracefully, then restore the default disposition and re-raise it. fapilog therefore
puts a :class:`SigtermHook` in front of whatever handles SIGTERM when it is configured
or instrumented (see :func:`install_process_hooks`):

* default disposition: the hook flushes every live pipeline (bounded by
  :data:`SIGTERM_FLUSH_TIMEOUT`), restores the default and re-raises, so the process
  still dies of SIGTERM;
* a handler of the application or server: the hook calls it and notes that
  termination began. From then on every event is flushed before the logging call
  returns (*flush on write*), because the server may re-raise the signal with the
  default disposition right after its last log line;
* ignored (``SIG_IGN``) or a handler installed outside Python: left alone.

Handlers are installed from the main thread only.

Interpreter exit happens in two steps (see docs/lifecycle.md):

* when the main thread is done, *before* non-daemon threads are joined (threading's
  pre-shutdown hooks, which are also all that run in a ``multiprocessing`` child),
  every live pipeline is flushed and the process is marked as exiting;
* from a plain :mod:`atexit` handler, *after* those threads were joined, every live
  pipeline is shut down, within what is left of its ``shutdown_timeout_ms``.

Threads that outlive ``main`` therefore keep logging into the configured pipelines,
and their events are delivered by the final shutdown. A pipeline created after that
flushes every event on write; once the interpreter is finalizing, late events are
dropped and counted.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any

from fapilog._diagnostics import flush_at_exit, reporter

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType

    from fapilog.pipeline._pipeline import Pipeline

__all__ = [
    "SIGTERM_FLUSH_TIMEOUT",
    "SigtermHook",
    "exiting",
    "install_process_hooks",
    "live_pipelines",
    "register",
    "terminating",
    "unregister",
]

_live: weakref.WeakSet[Pipeline] = weakref.WeakSet()
_installed = False
_install_lock = threading.Lock()

#: Bound, in seconds, on the time spent flushing after SIGTERM, in total (the terminal
#: flush and every flush on write): supervisors usually allow 10-30 s before SIGKILL.
SIGTERM_FLUSH_TIMEOUT = 5.0

_terminating = False
_budget_lock = threading.Lock()
_budget_spent = 0.0

# Interpreter exit: the early flush ran (_exiting), the final shutdown ran (_exited);
# seconds each pipeline (by serial) spent in the early flush, out of its exit bound.
_exiting = False
_exited = False
_exit_spent: dict[int, float] = {}

# A SIGTERM that arrived while this thread was inside a shutdown: delivered on its return.
_pending_signal: int | None = None


def live_pipelines() -> list[Pipeline]:
    """Pipelines that have not been shut down, oldest first."""
    return sorted(_live, key=lambda p: p._serial)


#: Called with every pipeline registered from now on (see :func:`on_register`).
_listeners: list[Callable[[Pipeline], None]] = []


def on_register(listener: Callable[[Pipeline], None]) -> Callable[[], None]:
    """Call ``listener(pipeline)`` for every pipeline created from now on.

    Used by the pytest plugin to observe pipelines a test creates. A listener that
    raises is reported and otherwise ignored. Returns a callable that removes it.
    """
    _listeners.append(listener)

    def remove() -> None:
        if listener in _listeners:
            _listeners.remove(listener)

    return remove


def register(pipeline: Pipeline) -> None:
    """Track ``pipeline`` for the exit flush and fork handling."""
    install_process_hooks()
    _live.add(pipeline)
    _observe(pipeline)
    for listener in tuple(_listeners):
        try:
            listener(pipeline)
        except Exception as exc:  # an observer must not break pipeline creation
            reporter.report("register_listener", f"pipeline listener raised {exc!r}")
    if _terminating or exiting():
        # Terminating, or created while the interpreter exits (maybe after the exit
        # hooks ran): nothing may flush it later, so each event is flushed on write.
        _arm(pipeline)


def _observe(pipeline: Pipeline) -> None:
    """Self-metrics: report ``pipeline`` through the OTel metrics API (``fapilog._metrics``)
    unless its ``metrics`` setting is off. Never breaks pipeline creation."""
    try:
        from fapilog import _metrics

        _metrics.register(pipeline)
    except Exception as exc:
        reporter.report("metrics_register", f"self-metrics not registered: {exc!r}")


def unregister(pipeline: Pipeline) -> None:
    _live.discard(pipeline)


def install_process_hooks() -> None:
    """Install the exit flush, the fork handling and the SIGTERM hook now.

    Called for every new pipeline, and by instrumentations at the moment they are
    applied, so that the SIGTERM hook is in place before the first event is logged.
    Idempotent and cheap; the SIGTERM part acts only on the main thread.
    """
    _install()
    _install_sigterm()


def terminating() -> bool:
    """Whether a SIGTERM was seen by a :class:`SigtermHook` in this process."""
    return _terminating


def exiting() -> bool:
    """Whether the interpreter is exiting: the main thread is done (non-daemon threads
    may still run), exit hooks are running, or the interpreter is finalizing."""
    return _exiting or sys.is_finalizing() or not threading.main_thread().is_alive()


def finalizing() -> bool:
    """Whether the interpreter is tearing down: no thread but this one runs any more."""
    return sys.is_finalizing()


# -- SIGTERM ------------------------------------------------------------------------------


class SigtermHook:
    """The SIGTERM handler fapilog installs in front of the previous disposition.

    Args:
        previous: what handled SIGTERM before: ``signal.SIG_DFL`` or a Python callable.
    """

    __slots__ = ("previous",)

    def __init__(self, previous: Any) -> None:
        self.previous = previous

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        begin_termination()
        previous = self.previous
        if previous == signal.SIG_DFL:
            _flush_all_then_die(signum)
        else:
            previous(signum, frame)

    def __repr__(self) -> str:
        return f"<fapilog SIGTERM hook, then {self.previous!r}>"


def _install_sigterm() -> None:
    """Put a :class:`SigtermHook` in front of SIGTERM's disposition, unless already there.

    A handler found in place (the application's, uvicorn's) is wrapped: the hook calls
    it and only notes that termination began. ``SIG_IGN`` stays ignored; a handler not
    installed from Python (``getsignal`` returns ``None``) is left alone. Only the main
    thread may install handlers; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    try:
        current = signal.getsignal(signal.SIGTERM)
        if isinstance(current, SigtermHook) or current is None or current == signal.SIG_IGN:
            return
        signal.signal(signal.SIGTERM, SigtermHook(current))
    except (ValueError, OSError):  # no signals here (e.g. an embedded interpreter)
        pass


def begin_termination() -> None:
    """Note that the process is terminating: flush on write from now on."""
    global _terminating
    _terminating = True
    for pipeline in live_pipelines():
        _arm(pipeline)


def _budget_left() -> float:
    with _budget_lock:
        return SIGTERM_FLUSH_TIMEOUT - _budget_spent


def _spend(seconds: float) -> None:
    global _budget_spent
    with _budget_lock:
        _budget_spent += seconds


def _flush_all_then_die(signum: int) -> None:
    """Flush every live pipeline within the budget, then die of ``signum``.

    A shutdown already under way is let finish within its own bound: one on another
    thread is waited for; one this handler interrupted (on this thread) cannot be, so
    the handler returns to it and the process dies of ``signum`` as soon as it returns
    (:func:`shutdown_returned`).
    """
    global _pending_signal
    if any(p._shutting_down_on_this_thread() for p in live_pipelines()):
        _pending_signal = signum
        return
    start = time.monotonic()
    deadline = start + max(0.0, _budget_left())
    for pipeline in reversed(live_pipelines()):
        try:
            pipeline.shutdown(timeout=max(0.0, deadline - time.monotonic()))
        except Exception:  # never let logging change how the process ends
            pass
    _spend(time.monotonic() - start)
    flush_at_exit()  # the loss line, if any: no atexit hook runs after this
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def shutdown_returned() -> None:
    """Called when a ``shutdown()`` returns: die now of a signal deferred for it."""
    global _pending_signal
    signum = _pending_signal
    if signum is None:
        return
    if any(p._shutting_down_on_this_thread() for p in live_pipelines()):
        return  # an enclosing shutdown is still running on this thread
    _pending_signal = None
    _flush_all_then_die(signum)


def _arm(pipeline: Pipeline) -> None:
    """Make every event logged to ``pipeline`` be flushed before the call returns.

    The pipeline closes its hot path (every call reaches its slow path) and flushes
    after each append, through :func:`flush_after_write` / :func:`aflush_after_write`.
    A forked child disarms (see :func:`_after_fork_in_child`).
    """
    pipeline._set_flush_on_write(True)


def flush_after_write(pipeline: Pipeline) -> None:
    """Flush ``pipeline`` on the caller's thread, within what is left of the budget."""
    from fapilog.pipeline._pipeline import in_worker_thread

    if in_worker_thread() or finalizing():  # the worker cannot run for this caller
        return
    left = _budget_left()
    if left <= 0:
        return
    start = time.monotonic()
    try:
        pipeline.flush(left)
    except Exception:  # never raise into the logging call
        pass
    _spend(time.monotonic() - start)


async def aflush_after_write(pipeline: Pipeline) -> None:
    """Awaitable :func:`flush_after_write`: waits without blocking the calling loop."""
    left = _budget_left()
    if left <= 0:
        return
    start = time.monotonic()
    try:
        await pipeline.aflush(left)
    except Exception:  # never raise into the logging call
        pass
    _spend(time.monotonic() - start)


# -- exit and fork ------------------------------------------------------------------------


def _exit_bound(pipeline: Pipeline) -> float:
    return float(pipeline.settings.shutdown_timeout_ms) / 1000


def _at_threading_exit() -> None:
    """The main thread is done; non-daemon threads are about to be joined.

    Flush (not shut down) every live pipeline: threads that outlive ``main`` keep
    logging into them. This is also the only exit hook a ``multiprocessing`` child
    runs, and the last moment the default thread pools still take work.
    """
    global _exiting
    _exiting = True
    if _in_multiprocessing_child():
        # Its process ends with os._exit right after this (fork and forkserver start
        # methods): no atexit hook will run, so shut down now.
        _at_exit()
        flush_at_exit()
        return
    for pipeline in reversed(live_pipelines()):
        start = time.monotonic()
        try:
            pipeline.flush(_exit_bound(pipeline))
        except Exception:  # never let logging break interpreter exit
            pass
        _exit_spent[pipeline._serial] = time.monotonic() - start


def _in_multiprocessing_child() -> bool:
    process = sys.modules.get("multiprocessing.process")
    parent = getattr(process, "parent_process", None)
    try:
        return parent is not None and parent() is not None
    except Exception:  # not the multiprocessing we know
        return False


def _at_exit() -> None:
    """Non-daemon threads are joined: shut every live pipeline down, within what is left
    of its ``shutdown_timeout_ms`` after the early flush."""
    global _exiting, _exited
    _exiting = True
    # Newest first: a pipeline created later may feed an older one (bridges).
    for pipeline in reversed(live_pipelines()):
        left = _exit_bound(pipeline) - _exit_spent.pop(pipeline._serial, 0.0)
        try:
            # A little time even when the flush took it all: closing the exporters
            # and counting what is left.
            pipeline.shutdown(timeout=max(0.05, left))
        except Exception:  # never let logging break interpreter exit
            pass
    _exited = True


def _after_fork_in_child() -> None:
    global _install_lock, _budget_lock, _terminating, _budget_spent, _exiting, _exited
    global _pending_signal
    _install_lock = threading.Lock()
    _budget_lock = threading.Lock()
    was_terminating, _terminating, _budget_spent = _terminating, False, 0.0
    _exiting = _exited = False
    _exit_spent.clear()
    _pending_signal = None
    for pipeline in live_pipelines():
        if was_terminating:
            pipeline._set_flush_on_write(False)
        pipeline._after_fork()


def _install() -> None:
    global _installed
    if _installed:
        return
    with _install_lock:
        if _installed:
            return
        _installed = True
        # The early flush runs while the thread pools of asyncio/concurrent.futures
        # still take work, i.e. before threading's shutdown joins threads:
        # threading._register_atexit callbacks run first, newest first; importing
        # concurrent.futures.thread here guarantees its own hook is older than ours.
        # The final shutdown runs from atexit, after non-daemon threads were joined;
        # the worker and exporter threads are daemons and still run then.
        import concurrent.futures.thread  # noqa: F401

        register_early = getattr(threading, "_register_atexit", None)
        if register_early is not None:
            try:
                register_early(_at_threading_exit)
            except RuntimeError:  # threads are being joined already: atexit only
                pass
        atexit.register(_at_exit)
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=_after_fork_in_child)
