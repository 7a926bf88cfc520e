"""Fork safety of the OTLP/gRPC exporter: gRPC's core must be idle when a process forks.

gRPC's C core runs threads of its own and keeps connections, polling state and locks
that a forked child inherits half-way: a child that forked while a call was in flight
(or that touches the parent's channel) crashes or hangs in the core. This module
keeps every live :class:`~fapilog.exporters.otlp._grpc_channel.GrpcChannel` in a weak
set and registers ``os.register_at_fork`` hooks that, around every ``os.fork()``
(``multiprocessing``, gunicorn and friends included):

* **before**: stop each channel taking new calls, let the calls in flight finish
  (at most :data:`PREFORK_GRACE`), then close the channel of any call still running,
  which cancels it (its batch comes back retryable and the pipeline retries it), and
  wait until no thread of fapilog is inside gRPC;
* **after, in the parent**: let calls through again, on the same channel if it was
  idle, else on a new one;
* **after, in the child**: forget the parent's channels, locks and threads without
  touching them; the child opens a channel of its own.

gRPC's core must also stop and restart its own threads around the fork, which its
fork support (``GRPC_ENABLE_FORK_SUPPORT``) does: this module turns it on when
nothing imported ``grpc`` yet (see :func:`enable_grpc_fork_support` and
``docs/fork-safety.md``), when it is imported: import it before ``grpc``.
"""

from __future__ import annotations

import os
import sys
import time
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fapilog.exporters.otlp._grpc_channel import GrpcChannel

__all__ = [
    "FORK_SUPPORT_ENV",
    "POLL_STRATEGY_ENV",
    "PREFORK_GRACE",
    "PREFORK_WAIT",
    "enable_grpc_fork_support",
    "fork_support",
    "last_prefork_seconds",
    "track",
]

FORK_SUPPORT_ENV = "GRPC_ENABLE_FORK_SUPPORT"
POLL_STRATEGY_ENV = "GRPC_POLL_STRATEGY"
_TRUE = frozenset({"1", "true", "yes"})

#: Seconds the before-fork hook waits, at most, in all: for calls in flight to finish
#: (:data:`PREFORK_GRACE`), then for cancelled ones to leave gRPC's core. Closing a
#: channel ends its calls at once; the fork goes ahead when this runs out anyway.
PREFORK_WAIT = 1.0

#: Seconds the before-fork hook lets calls in flight finish before it cancels them
#: (a call to a collector on the same network takes milliseconds). Cancelled calls
#: may have reached the collector: their batch, retried, would arrive twice.
PREFORK_GRACE = 0.2

_channels: weakref.WeakSet[GrpcChannel] = weakref.WeakSet()
_prefork_seconds = 0.0
_fork_support: bool | None = None


def enable_grpc_fork_support() -> bool | None:
    """Turn gRPC's fork support on if it can still be, and say whether it is on.

    gRPC reads ``GRPC_ENABLE_FORK_SUPPORT`` once, when ``grpc`` is first imported.
    If ``grpc`` is not imported yet and the variable is unset, it is set to ``1``.
    A value the application set is kept.

    Returns:
        Whether fork support is on (``True``/``False``), or ``None`` when ``grpc``
        was imported before fapilog with the variable unset (then it is off).
    """
    global _fork_support
    if _fork_support is not None:
        return _fork_support
    value = os.environ.get(FORK_SUPPORT_ENV, "").strip()
    if "grpc" in sys.modules:  # too late to change anything: grpc read its configuration
        _fork_support = value.lower() in _TRUE if value else None
        return _fork_support
    if not value:
        os.environ[FORK_SUPPORT_ENV] = value = "1"
    _fork_support = value.lower() in _TRUE
    if _fork_support and not os.environ.get(POLL_STRATEGY_ENV, "").strip():
        # gRPC's fork support works with the epoll1 and poll strategies only, and
        # its documentation asks for poll (see docs/fork-safety.md).
        os.environ[POLL_STRATEGY_ENV] = "poll"
    return _fork_support


def fork_support() -> bool | None:
    """What :func:`enable_grpc_fork_support` found (``None``: grpc was imported first)."""
    return _fork_support


def track(channel: GrpcChannel) -> None:
    """Have ``channel`` made idle before every fork and forgotten in the child."""
    _channels.add(channel)


def last_prefork_seconds() -> float:
    """How long the last before-fork hook took, in seconds (for tests and benchmarks)."""
    return _prefork_seconds


def _before_fork() -> None:
    global _prefork_seconds
    start = time.monotonic()
    channels = list(_channels)
    deadline = start + PREFORK_WAIT
    for channel in channels:
        channel.before_fork()
    grace = start + PREFORK_GRACE
    for channel in channels:
        if not channel.wait_idle(max(0.0, grace - time.monotonic())):
            channel.cancel_calls()
    for channel in channels:
        channel.wait_idle(max(0.0, deadline - time.monotonic()))
    _prefork_seconds = time.monotonic() - start


def _after_fork_in_parent() -> None:
    for channel in list(_channels):
        channel.after_fork_in_parent()


def _after_fork_in_child() -> None:
    for channel in list(_channels):
        channel.after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )

enable_grpc_fork_support()
