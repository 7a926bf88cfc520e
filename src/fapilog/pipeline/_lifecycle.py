"""Process-level hooks: flush at interpreter exit, re-initialise after fork."""

from __future__ import annotations

import atexit
import os
import threading
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fapilog.pipeline._pipeline import Pipeline

__all__ = ["live_pipelines", "register", "unregister"]

_live: weakref.WeakSet[Pipeline] = weakref.WeakSet()
_installed = False
_install_lock = threading.Lock()


def live_pipelines() -> list[Pipeline]:
    """Pipelines that have not been shut down, oldest first."""
    return sorted(_live, key=lambda p: p._serial)


def register(pipeline: Pipeline) -> None:
    """Track ``pipeline`` for the exit flush and fork handling."""
    _install()
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
