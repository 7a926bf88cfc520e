"""The caller side of a pipeline: ring buffer, level, capacity gate and overflow policy.

Everything that logs into a pipeline (:class:`~fapilog.Logger`, the stdlib handler, the
structlog and loguru bridges, the OTel ``LoggerProvider``, the helpers) goes through a
:class:`Intake` and nothing else: it decides whether an event is wanted
(:meth:`Intake.enabled`), appends the :data:`~fapilog.pipeline._materialize.CapturedRecord`
to the ring (:meth:`Intake.enqueue`, :meth:`Intake.aput`), applies the overflow policy
when the ring is full and counts what it could not take (:meth:`Intake.caller_drop`).
The worker takes records from :attr:`Intake.ring` and tells the intake how many it may
hold (:meth:`Intake.set_limit`).

The hot path inlines :meth:`Intake.enqueue` through two public attributes::

    ring = intake.ring
    if len(ring) < intake.capacity:
        ring.append(rec)
    else:
        intake.slow_put(rec)

``capacity`` is the ring's limit while the pipeline runs normally and ``-1`` while
every call must take the slow path (shut down, a ``capture_logs()`` block open
somewhere, flush on write after SIGTERM), so the common case costs one length check.
"""

from __future__ import annotations

import asyncio
import collections
import os
import select
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Protocol

from fapilog import _levels
from fapilog._diagnostics import flush_at_exit, reporter
from fapilog._ratelimit import RateLimits
from fapilog.pipeline import _capture, _lifecycle
from fapilog.pipeline._size import IntakeBudget
from fapilog.pipeline._stats import Accounting

if TYPE_CHECKING:
    from fapilog.pipeline._materialize import CapturedRecord
    from fapilog.pipeline._pipeline import Pipeline

__all__ = ["Intake", "IntakeLike", "in_worker_thread", "mark_worker_thread"]

_worker_local = threading.local()


def in_worker_thread() -> bool:
    """True on any fapilog worker or exporter thread (recursion guard for bridges)."""
    return getattr(_worker_local, "active", False)


def mark_worker_thread() -> None:
    """Mark the current thread as fapilog's own: what it logs is dropped as recursion."""
    _worker_local.active = True


class IntakeLike(Protocol):
    """What a caller may use of an intake (an :class:`Intake`, or the lazy default's)."""

    ring: collections.deque[CapturedRecord]
    capacity: int
    level: int

    def enabled(self, severity: int) -> bool: ...
    def gate(self, name: str) -> tuple[int, Any]: ...
    def accepts(self, name: str | None, severity: int) -> bool: ...
    def admit(self, name: str | None, msg: Any, severity: int) -> bool: ...
    def enqueue(self, rec: CapturedRecord) -> None: ...
    def slow_put(self, rec: CapturedRecord) -> None: ...
    async def aput(self, rec: CapturedRecord) -> None: ...
    def caller_drop(self, reason: str) -> None: ...


class Intake:
    """The caller side of one :class:`~fapilog.Pipeline` (``pipeline.intake``).

    Args:
        owner: the pipeline (capture and flush on write run through it).
        level: the lowest severity number accepted.
        max_queue: ``max_queue_size``: the most records the ring holds.
        intake_bytes: the ring's share of ``max_queue_bytes``.
        policy: ``overflow``: ``"drop_newest"``, ``"drop_oldest"`` or ``"block"``.
        block_timeout: seconds a caller may wait for room under ``"block"``.
    """

    #: The records waiting for the worker (rebuilt in a forked child).
    ring: collections.deque[CapturedRecord]
    #: The hot path appends while ``len(ring) < capacity``; -1 sends every call to
    #: :meth:`slow_put`.
    capacity: int
    #: How many records the ring may hold now (``max_queue_size``, or fewer when the
    #: events are large: see :class:`~fapilog.pipeline._size.IntakeBudget`).
    limit: int
    #: The lowest severity number accepted (loggers without a per-logger level).
    level: int
    #: Per-logger levels of the ``levels`` setting: name prefix -> severity number.
    levels: dict[str, int]
    #: The caller-side rate limits (``rate_limit`` settings), or None.
    limits: RateLimits | None

    def __init__(
        self,
        owner: Pipeline,
        *,
        level: int,
        max_queue: int,
        intake_bytes: int,
        policy: str,
        block_timeout: float,
    ) -> None:
        self._owner = owner
        self.level = level
        self.max_queue = max_queue
        self.policy = policy
        self.block_timeout = block_timeout
        self._intake_bytes = intake_bytes
        #: True once the pipeline shut down (or never started): events are dropped.
        self.closed = False
        #: True after SIGTERM: every event is flushed before its call returns.
        self.flush_on_write = False
        self._told_teardown = False
        # The caller-side settings of the owner (per-logger levels, rate limits).
        settings = getattr(owner, "settings", None)
        self.levels = {
            name: _levels.parse_level(value)
            for name, value in (getattr(settings, "levels", None) or {}).items()
        }
        self.limits = None
        rate = getattr(settings, "rate_limit", None)
        rules = getattr(settings, "rate_limits", None) or {}
        if rate is not None or any(value is not None for value in rules.values()):
            self.limits = RateLimits(self, rate, getattr(settings, "rate_limit_burst", None), rules)
        self._names: dict[str | None, int] = {}
        self._names_generation = -1
        self.reset()

    def reset(self) -> None:
        """Start afresh with an empty ring and zeroed books (construction, forked child)."""
        self.ring = collections.deque()
        #: Turns the ring's share of max_queue_bytes into a record limit from the
        #: sizes of the events the worker builds.
        self.budget = IntakeBudget(self._intake_bytes, self.max_queue)
        self.limit = self.budget.limit
        self.capacity = self.limit
        #: The pipeline's books; callers touch them only on the drop path.
        self.acct = Accounting(self.ring.__len__)
        if self.limits is not None:
            self.limits.reset()
        #: Guards the gate and the closed flag (reentrant: the SIGTERM hook).
        self.lock = threading.RLock()
        self._space = threading.Condition(threading.RLock())
        self._space_waiters = 0
        #: True once a call from a thread running an asyncio loop met a full buffer (it
        #: waited in ``aput`` or dropped): from then on the worker hands the GIL over
        #: between slices of work (``Worker.hand_off``) so that loop is not starved. A
        #: burst from plain threads keeps the worker's full speed.
        self.loop_callers = False
        self._async_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self.refresh_gate()

    # -- state ---------------------------------------------------------------------------

    def refresh_gate(self) -> None:
        """Open the hot path, or close it while shut down, capturing or flushing on write."""
        with self.lock:
            closed = self.closed or self.flush_on_write or _capture.capturing()
            self.capacity = -1 if closed else self.limit

    def set_flush_on_write(self, on: bool) -> None:
        """Flush every event before its logging call returns (``on``), or stop doing so."""
        self.flush_on_write = on
        self.refresh_gate()

    def close(self) -> None:
        """Refuse events from now on (counted as ``after_shutdown``); wake blocked callers.

        Rate-limit summaries still pending are enqueued first.
        """
        with self.lock:
            if self.limits is not None and not self.closed:
                try:
                    self.limits.flush()
                except Exception as exc:  # never into the shutdown
                    reporter.report("rate_limit", f"pending summaries not enqueued: {exc!r}")
            self.closed = True
            self.refresh_gate()
        with self._space:
            self._space.notify_all()

    def set_limit(self, limit: int) -> None:
        """The worker's new record limit; callers waiting for room are woken if it grew."""
        if limit == self.limit:
            return
        grew = limit > self.limit
        self.limit = limit
        self.refresh_gate()
        if grew:
            self.wake_waiters()

    def take(self, n: int) -> list[CapturedRecord]:
        """Pop up to ``n`` records, oldest first (the worker's side)."""
        ring = self.ring
        popleft = ring.popleft
        items = []
        try:
            for _ in range(min(len(ring), n)):
                items.append(popleft())
        except IndexError:  # a drop_oldest caller took some
            pass
        return items

    # -- caller side ---------------------------------------------------------------------

    def enabled(self, severity: int) -> bool:
        """Whether an event of ``severity`` (an OTel severity number) is wanted."""
        return severity >= self.level

    def gate(self, name: str) -> tuple[int, Any]:
        """``(threshold, limiter)`` for the logger ``name`` (see :mod:`fapilog._levels`).

        The threshold is the per-logger level (runtime rules, then the ``levels``
        setting, longest dotted prefix) or :attr:`level`; plus
        :data:`~fapilog._levels.LIMITED` when ``limiter``, the logger's
        :class:`~fapilog._ratelimit.NameLimiter`, applies.
        """
        threshold = _levels.lookup(name, self.levels, self.level)
        limiter = None if self.limits is None else self.limits.for_name(name)
        if limiter is not None:
            threshold += _levels.LIMITED
        return threshold, limiter

    def accepts(self, name: str | None, severity: int) -> bool:
        """Whether an event of logger ``name`` at ``severity`` is wanted (the stdlib
        handler and the bridges; cached per name until the levels change)."""
        if self._names_generation != _levels.generation:
            self._names = {}
            self._names_generation = _levels.generation
        names = self._names
        threshold = names.get(name)
        if threshold is None:
            threshold = _levels.lookup(name or "", self.levels, self.level)
            if len(names) >= 4096:  # names are few; stay bounded anyway
                names.clear()
            names[name] = threshold
        return severity >= threshold

    def admit(self, name: str | None, msg: Any, severity: int) -> bool:
        """Whether the rate limit of logger ``name`` admits an event of template ``msg``."""
        if self.limits is None or name is None:
            return True
        limiter = self.limits.for_name(name)
        return limiter is None or limiter.admit(msg, severity)

    def rate_limited(self) -> int:
        """Events dropped by the rate limits so far (not in :attr:`acct`: no lock per drop)."""
        return 0 if self.limits is None else self.limits.dropped()

    def caller_drop(self, reason: str) -> None:
        """Count one event the caller side did not take (``recursion``, ``bridge_error``...)."""
        self.acct.caller_drop(reason)

    def enqueue(self, rec: CapturedRecord) -> None:
        """Append one captured call; never blocks on I/O (what Logger methods inline)."""
        ring = self.ring
        if len(ring) < self.capacity:
            ring.append(rec)
        else:
            self.slow_put(rec)

    def slow_put(self, rec: CapturedRecord) -> None:
        """Everything but the plain append: capture, after-shutdown, overflow."""
        if self.capacity < 0:
            if _capture.capture(self._owner, rec):
                return
            if self.closed or (self.flush_on_write and _lifecycle.finalizing()):
                # Shut down, or the interpreter is tearing down (no worker runs now).
                self._drop_closed()
                return
        ring = self.ring
        if len(ring) < self.limit:
            ring.append(rec)
        else:
            self._overflow(rec)
        if self.flush_on_write:
            _lifecycle.flush_after_write(self._owner)

    async def aput(self, rec: CapturedRecord) -> None:
        """Append, waiting (without blocking the loop) for space instead of dropping."""
        ring = self.ring
        if len(ring) < self.capacity:
            ring.append(rec)
            return
        if self.capacity < 0 and _capture.capture(self._owner, rec):
            return
        self.loop_callers = True
        while len(ring) >= self.limit and not self.closed:
            loop = asyncio.get_running_loop()
            fut: asyncio.Future[None] = loop.create_future()
            self._async_waiters.append((loop, fut))
            if len(ring) < self.limit:
                break
            await fut
        if self.closed:
            self._drop_closed()
            return
        ring.append(rec)
        if self.flush_on_write:
            await _lifecycle.aflush_after_write(self._owner)

    def wake_waiters(self) -> None:
        """Wake callers waiting for room (the worker took records, or the limit grew)."""
        if self._space_waiters:
            with self._space:
                self._space.notify_all()
        if self._async_waiters:
            waiters, self._async_waiters = self._async_waiters, []
            # One thread-safe call per event loop, not per waiting task: each call
            # writes to the loop's self-pipe (a system call that lets go of the GIL),
            # and a hundred tasks waiting on one loop is the usual case.
            by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
            for loop, fut in waiters:
                futures = by_loop.get(loop)
                if futures is None:
                    by_loop[loop] = [fut]
                else:
                    futures.append(fut)
            for loop, futures in by_loop.items():
                try:
                    loop.call_soon_threadsafe(resolve_all, futures)
                except RuntimeError:  # that loop is closed; its tasks are gone
                    pass

    # -- drops ---------------------------------------------------------------------------

    def _drop_closed(self) -> None:
        self.acct.caller_drop("after_shutdown")
        message = (
            "event logged after the pipeline was shut down (or at interpreter teardown); "
            "dropped and counted as after_shutdown"
        )
        if _lifecycle.finalizing():
            # No thread runs any more (not even the diagnostics writer): say it here,
            # once, if stderr takes it without blocking.
            if not self._told_teardown:
                self._told_teardown = True
                _write_now(f"fapilog: {message}\n")
            return
        reporter.report(f"after_shutdown:{self._owner.serial}", message)
        if _lifecycle.exiting():  # the process may end before the writer gets to it
            flush_at_exit()

    def _overflow(self, rec: CapturedRecord) -> None:
        ring = self.ring
        policy = self.policy
        if policy == "drop_oldest":
            try:
                ring.popleft()
            except IndexError:
                pass
            else:
                self.acct.caller_drop("queue_full")
            ring.append(rec)
            self._report_full()
            return
        on_loop = _on_event_loop()
        if on_loop:
            self.loop_callers = True
        if policy == "block" and self.block_timeout > 0 and not in_worker_thread() and not on_loop:
            deadline = time.monotonic() + self.block_timeout
            with self._space:
                self._space_waiters += 1
                try:
                    while len(ring) >= self.limit and not self.closed:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0 or not self._space.wait(remaining):
                            break
                finally:
                    self._space_waiters -= 1
            if len(ring) < self.limit and not self.closed:
                ring.append(rec)
                return
        self.acct.caller_drop("queue_full")
        self._report_full()

    def _report_full(self) -> None:
        reporter.report(
            f"queue_full:{self._owner.serial}",
            f"buffer full ({self.limit} events"
            + (
                ", limited by max_queue_bytes for events this large"
                if self.limit < self.max_queue
                else ""
            )
            + f"); dropping per overflow={self.policy!r} (see fapilog.stats())",
        )


def resolve(fut: asyncio.Future[None]) -> None:
    """Complete ``fut`` unless it is done already (scheduled on its own loop)."""
    if not fut.done():
        fut.set_result(None)


def resolve_all(futures: list[asyncio.Future[None]]) -> None:
    """:func:`resolve` each of ``futures`` (all of one loop; scheduled on it)."""
    for fut in futures:
        if not fut.done():
            fut.set_result(None)


def _on_event_loop() -> bool:
    return asyncio._get_running_loop() is not None


def _write_now(text: str) -> None:
    """Write ``text`` to stderr's descriptor if that cannot block; else drop it."""
    try:
        fd = sys.__stderr__.fileno() if sys.__stderr__ is not None else 2
        data = text.encode("utf-8", "backslashreplace")
        if len(data) <= getattr(select, "PIPE_BUF", 512) and select.select([], [fd], [], 0)[1]:
            os.write(fd, data)
    except Exception:  # closed, not a descriptor, no select: nothing left to tell
        pass
