"""Process-level hooks: flush at interpreter exit and on SIGTERM, re-initialise after fork."""

from __future__ import annotations

import atexit
import os
import signal
import threading
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fapilog.pipeline._pipeline import Pipeline

__all__ = ["live_pipelines", "register", "unregister"]

_live: weakref.WeakSet[Pipeline] = weakref.WeakSet()
_installed = False
_sigterm_installed = False
_install_lock = threading.Lock()

#: Bound on the SIGTERM flush: supervisors usually allow 10-30 s before SIGKILL.
SIGTERM_FLUSH_TIMEOUT = 5.0


def live_pipelines() -> list[Pipeline]:
    """Pipelines that have not been shut down, oldest first."""
    return sorted(_live, key=lambda p: p._serial)


def register(pipeline: Pipeline) -> None:
    """Track ``pipeline`` for the exit flush and fork handling."""
    _install()
    _install_sigterm()
    _live.add(pipeline)


def unregister(pipeline: Pipeline) -> None:
    _live.discard(pipeline)


def _at_exit() -> None:
    # Newest first: a pipeline created later may feed an older one (bridges).
    for pipeline in reversed(live_pipelines()):
        try:
            pipeline.shutdown()
        except Exception:  # never let logging break interpreter exit
            pass


def _on_sigterm(signum: int, frame: object) -> None:
    """Flush every live pipeline, then die of SIGTERM as if we had never been here."""
    deadline = SIGTERM_FLUSH_TIMEOUT
    for pipeline in reversed(live_pipelines()):
        try:
            pipeline.shutdown(timeout=deadline)
        except Exception:  # never let logging change how the process ends
            pass
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def _install_sigterm() -> None:
    """Flush on SIGTERM, but only where SIGTERM would otherwise kill us outright.

    With the default disposition a SIGTERM ends the process without running exit
    hooks, so buffered events would be lost. A handler the application (or its
    server) installed is never replaced; servers that restore the previous handler
    and re-raise the signal after their graceful shutdown (uvicorn does) end up
    calling ours. Only the main thread may install handlers; registering a pipeline
    from another thread leaves the disposition alone until one is registered from
    the main thread.
    """
    global _sigterm_installed
    if _sigterm_installed or threading.current_thread() is not threading.main_thread():
        return
    with _install_lock:
        if _sigterm_installed:
            return
        _sigterm_installed = True
        try:
            if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
                signal.signal(signal.SIGTERM, _on_sigterm)
        except (ValueError, OSError):  # no signals here (e.g. an embedded interpreter)
            pass


def _after_fork_in_child() -> None:
    global _install_lock
    _install_lock = threading.Lock()
    for pipeline in live_pipelines():
        pipeline._after_fork()


def _install() -> None:
    global _installed
    with _install_lock:
        if _installed:
            return
        _installed = True
        # The exit flush must run while threads can still be started and the
        # thread pools of asyncio/concurrent.futures still take work, i.e. before
        # threading's shutdown joins threads and before atexit handlers run.
        # threading._register_atexit callbacks run first, newest first; importing
        # concurrent.futures.thread here guarantees its own hook is older than ours.
        import concurrent.futures.thread  # noqa: F401

        register_early = getattr(threading, "_register_atexit", None)
        try:
            if register_early is None:
                raise RuntimeError("threading._register_atexit unavailable")
            register_early(_at_exit)
        except RuntimeError:  # interpreter already shutting down, or no private hook
            atexit.register(_at_exit)
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=_after_fork_in_child)
