"""Delivery: one bounded queue and one task per notifier, retries, counted outcomes.

The exporter's ``export()`` only appends to these queues (never waits); each
notifier's task, on the pipeline worker's event loop, posts with httpx's async client,
so a slow or unreachable receiver holds up only its own queue. What happens to every
notification is counted: ``sent``, ``failed`` (given up after retries, or refused),
``dropped.queue_full`` (the notifier's queue was full), ``dropped.shutdown``
(undelivered when the grace period of shutdown ran out); ``retries`` counts repeated
attempts.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import Counter, deque
from typing import TYPE_CHECKING, Any

from fapilog.plugin import parse_retry_after, report, safe_reason

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    import httpx

    from fapilog.alerting._engine import Notification
    from fapilog.alerting._notifiers import Notifier

__all__ = ["Delivery"]

_RETRY_STATUS = frozenset({408, 425, 429})


class _Outcome:
    __slots__ = ("ok", "reason", "retry_after", "retryable")

    def __init__(
        self, ok: bool, retryable: bool = False, reason: str = "", retry_after: float | None = None
    ) -> None:
        self.ok = ok
        self.retryable = retryable
        self.reason = reason
        self.retry_after = retry_after


class _Sender:
    """One notifier's queue, task and client."""

    __slots__ = ("busy", "client", "notifier", "queue", "task", "wake")

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier
        self.queue: deque[Notification] = deque()
        self.busy = False
        self.task: asyncio.Task[None] | None = None
        self.wake: asyncio.Event | None = None
        self.client: httpx.AsyncClient | None = None


class Delivery:
    """The notifiers' queues and tasks, and the books of what became of each notification.

    Args:
        notifiers: the notifiers (names unique).
    """

    def __init__(self, notifiers: Sequence[Notifier]) -> None:
        self._senders = {n.name: _Sender(n) for n in notifiers}
        self._cond = threading.Condition()
        self._counts: Counter[str] = Counter()
        self._pending = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._idle: asyncio.Event | None = None  # set on the loop when nothing is pending
        self._closed = False
        # Clients abandoned in a forked child stay referenced: finalising them there
        # would close sockets the parent still uses.
        self._orphans: list[Any] = []

    # -- any thread ----------------------------------------------------------------------------

    def submit(self, notes: Iterable[Notification]) -> None:
        """Queue notifications for their rules' notifiers; never blocks."""
        woken: list[_Sender] = []
        with self._cond:
            for note in notes:
                names = note.rule.notify or tuple(self._senders)
                for name in names:
                    sender = self._senders.get(name)
                    if sender is None:
                        continue
                    if self._closed:
                        self._counts["dropped.shutdown"] += 1
                        continue
                    if len(sender.queue) >= sender.notifier.max_pending:
                        self._counts["dropped.queue_full"] += 1
                        report(
                            f"alerting:queue_full:{name}",
                            f"fapilog alerting: notifier {name!r} has "
                            f"{sender.notifier.max_pending} notifications waiting "
                            "(max_pending); dropped one (receiver slow or down?)",
                        )
                        continue
                    sender.queue.append(note)
                    self._pending += 1
                    woken.append(sender)
            loop = self._loop
        if loop is not None and woken:
            for sender in dict.fromkeys(woken):
                wake = sender.wake
                if wake is not None:
                    with contextlib.suppress(RuntimeError):  # the loop is closed
                        loop.call_soon_threadsafe(wake.set)

    def counts(self) -> dict[str, int]:
        """``sent``, ``failed``, ``retries``, ``dropped.<reason>`` and ``pending``."""
        with self._cond:
            out = {
                "sent": 0,
                "failed": 0,
                "retries": 0,
                "dropped.queue_full": 0,
                "dropped.shutdown": 0,
                **self._counts,
            }
            out["pending"] = self._pending
        return out

    def wait_idle(self, timeout: float | None) -> bool:
        """Wait until no notification is queued or being sent; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout)

    def reset_after_fork(self) -> None:
        """In a forked child: forget the parent's queue, tasks and clients."""
        self._cond = threading.Condition()
        self._pending = 0
        self._loop = None
        self._idle = None
        self._closed = False
        for sender in self._senders.values():
            sender.queue.clear()
            sender.busy = False
            sender.task = None
            sender.wake = None
            if sender.client is not None:
                self._orphans.append(sender.client)
                sender.client = None

    def _done(self, sender: _Sender, key: str | None) -> None:
        with self._cond:
            if key is not None:
                self._counts[key] += 1
            self._pending -= 1
            sender.busy = False
            if self._pending == 0:
                self._cond.notify_all()
                if self._idle is not None:
                    self._idle.set()  # _done runs on the loop

    # -- the event loop ------------------------------------------------------------------------

    def start(self) -> None:
        """Start (or restart on a new loop) one task per notifier on the running loop."""
        loop = asyncio.get_running_loop()
        if self._loop is loop and all(
            s.task is not None and not s.task.done() for s in self._senders.values()
        ):
            return
        with self._cond:
            self._loop = loop
            self._idle = asyncio.Event()
            self._closed = False
        for sender in self._senders.values():
            sender.wake = asyncio.Event()
            if sender.client is not None:
                self._orphans.append(sender.client)  # made on another loop
                sender.client = None
            sender.task = loop.create_task(
                self._run(sender), name=f"fapilog-alerts-{sender.notifier.name}"
            )
            sender.wake.set()

    async def close(self, grace: float) -> None:
        """Let queued notifications go out for up to ``grace`` s, then stop every task."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        idle = self._idle
        while idle is not None and self._pending and self._loop is loop:
            idle.clear()
            if not self._pending:
                break
            left = deadline - loop.time()
            if left <= 0:
                break
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(idle.wait(), left)
        with self._cond:
            self._closed = True
        tasks = [s.task for s in self._senders.values() if s.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with self._cond:
            for sender in self._senders.values():
                left = len(sender.queue) + (1 if sender.busy else 0)
                if left:
                    self._counts["dropped.shutdown"] += left
                    report(
                        f"alerting:shutdown:{sender.notifier.name}",
                        f"fapilog alerting: notifier {sender.notifier.name!r} did not deliver "
                        f"{left} notification(s) before shutdown (receiver slow or down?)",
                    )
                sender.queue.clear()
                sender.busy = False
                sender.task = None
            self._pending = 0
            self._cond.notify_all()
        for sender in self._senders.values():
            client, sender.client = sender.client, None
            if client is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.aclose(), 1.0)

    async def _run(self, sender: _Sender) -> None:
        wake = sender.wake
        assert wake is not None
        while True:
            with self._cond:
                note = sender.queue.popleft() if sender.queue else None
                sender.busy = note is not None
            if note is None:
                wake.clear()
                if not sender.queue:  # appended before the clear: go on at once
                    await wake.wait()
                continue
            try:
                key = await self._deliver(sender, note)
            except asyncio.CancelledError:
                raise  # close() counts the notification in flight
            except Exception:  # a bug here must not end the task
                key = "failed"
            self._done(sender, key)

    async def _deliver(self, sender: _Sender, note: Notification) -> str:
        notifier = sender.notifier
        try:
            body = notifier.body(note)
        except Exception as exc:
            self._failed(notifier, note, 0, f"encoding failed: {type(exc).__name__}")
            return "failed"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + notifier.give_up_after
        attempts = 0
        while True:
            attempts += 1
            outcome = await self._post(sender, body)
            if outcome.ok:
                return "sent"
            if not outcome.retryable or not notifier.retry.allows_retry(attempts):
                self._failed(notifier, note, attempts, outcome.reason)
                return "failed"
            pause = notifier.retry.delay(attempts - 1, outcome.retry_after)
            if loop.time() + pause >= deadline:
                self._failed(notifier, note, attempts, outcome.reason + " (give_up_after reached)")
                return "failed"
            with self._cond:
                self._counts["retries"] += 1
            await asyncio.sleep(pause)

    def _failed(self, notifier: Notifier, note: Notification, attempts: int, reason: str) -> None:
        report(
            f"alerting:failed:{notifier.name}",
            f"fapilog alerting: notifier {notifier.name!r} gave up on the {note.status} "
            f"notification of rule {note.rule.name!r} after {attempts} attempt(s): "
            f"{safe_reason(reason, notifier.secret_words())}",
        )

    async def _post(self, sender: _Sender, body: bytes) -> _Outcome:
        import httpx

        notifier = sender.notifier
        secrets = notifier.secret_words()
        client = sender.client
        if client is None:
            client = sender.client = httpx.AsyncClient(
                timeout=notifier.timeout, follow_redirects=False
            )
        headers = notifier.headers.reveal(
            {"content-type": "application/json", "user-agent": "fapilog-alerting"}
        )
        try:
            response = await client.post(
                notifier.url.get_secret_value(), content=body, headers=headers
            )
        except httpx.TimeoutException:
            return _Outcome(False, True, f"timed out after {notifier.timeout:g} s")
        except httpx.HTTPError as exc:
            detail = safe_reason(str(exc), secrets)
            return _Outcome(
                False, True, f"{type(exc).__name__}" + (f": {detail}" if detail else "")
            )
        except Exception as exc:  # e.g. an ssl or OS error outside httpx's hierarchy
            return _Outcome(False, True, type(exc).__name__)
        status = response.status_code
        if 200 <= status < 300:
            return _Outcome(True)
        text = safe_reason(response.text[:200], secrets)
        reason = f"HTTP {status}" + (f": {text}" if text else "")
        if status in _RETRY_STATUS or status >= 500:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            return _Outcome(False, True, reason, retry_after)
        return _Outcome(False, False, reason)
