"""fapilog's own diagnostics: rate-limited lines on stderr, never through logging.

Writing through :mod:`logging` (or through a fapilog pipeline) could recurse into
the very pipeline that is failing, so diagnostics go straight to the process's
original stderr. Every line first goes through the redaction detectors
(:func:`scrub`): a diagnostic quoting an exception or a value can carry a secret.

Reporting never blocks and never does I/O on the caller's thread: :meth:`Reporter.report`
applies the rate limit and appends the raw line to a small bounded queue; one daemon
writer thread per process (started on first use, again in a forked child) scrubs and
writes it. A stderr nobody drains (a stalled container log driver, a parent that does not
read its pipe) stalls only that thread; lines that no longer fit in the queue are counted
(:attr:`Reporter.dropped`) and the count is appended to the next line that is written.
At interpreter exit the writer gets at most :data:`EXIT_FLUSH_TIMEOUT` seconds to drain.
"""

from __future__ import annotations

import atexit
import os
import select
import sys
import threading
import time
import weakref
from collections import deque
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from fapilog.redaction import RedactionProcessor

__all__ = ["EXIT_FLUSH_TIMEOUT", "Reporter", "flush_at_exit", "reporter", "scrub"]

EXIT_FLUSH_TIMEOUT = 1.0
"""Seconds the writer gets, in all, at process exit to write what is queued."""

_LOCK_TIMEOUT = 0.5  # report() gives up (and counts the line as dropped) after this

_scrub_lock = threading.Lock()
_scrubber: RedactionProcessor | None = None


def scrub(text: str, plain: str | None = None) -> str:
    """``text`` with what the default redaction detectors find masked.

    Every pattern rule runs, the context-dependent ones (the AWS secret key) as if
    the text sat under a credential key. If redaction itself fails, the text is
    withheld rather than printed; ``plain`` (a fixed text known to hold no secret, if
    the caller has one) is written in its place.
    """
    global _scrubber
    try:
        with _scrub_lock:
            if _scrubber is None:
                # Imported on first use: this module is imported by nearly all others.
                from fapilog.redaction import RedactionProcessor

                _scrubber = RedactionProcessor()
            return _scrubber.redact_text(text)
    except Exception as exc:
        withheld = f"diagnostic withheld: redacting it failed ({type(exc).__name__})"
        return f"{plain} [details {withheld}]" if plain is not None else f"[{withheld}]"


class _Line:
    """A reported line waiting for the writer: raw (unscrubbed) text."""

    __slots__ = ("message", "plain", "suppressed")

    def __init__(self, message: str, suppressed: int, plain: str | None = None) -> None:
        self.message = message
        self.suppressed = suppressed
        self.plain = plain


class Reporter:
    """Writes one line per key at most every ``interval`` seconds, counting the rest.

    Lines are written by a daemon writer thread, never by the thread that reports
    them. Call :meth:`flush` to wait (boundedly) until what was reported is written.

    Args:
        interval: seconds between two lines with the same key.
        capacity: lines that may wait for the writer; more are dropped and counted.
        stream: where to write (default: ``sys.__stderr__``, looked up at each write).
    """

    def __init__(
        self, interval: float = 30.0, capacity: int = 1000, stream: TextIO | None = None
    ) -> None:
        self.interval = interval
        self.capacity = capacity
        self._stream = stream
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._init_process_state()
        _instances.add(self)

    def _init_process_state(self) -> None:
        """Fresh locks, queue, counters and no writer: at creation and in a forked child."""
        self._pid = os.getpid()
        self._lock = threading.Lock()  # rate-limit state, counters, appends
        self._start_lock = threading.Lock()
        # Held while the writer has nothing to do; released (by anyone) to wake it.
        self._wake = threading.Lock()
        self._wake.acquire()
        self._queue: deque[_Line | threading.Event] = deque()
        self._accepted = 0  # lines queued, counted by reporters under _lock
        self._taken = 0  # lines taken off the queue, counted by the writer alone
        self._writer: threading.Thread | None = None
        self._dropped = 0
        self._dropped_told = 0  # written only by the writer thread

    @property
    def dropped(self) -> int:
        """Lines dropped (since :meth:`reset`) because the writer could not keep up.

        That happens when stderr does not drain: the writer is stuck and its queue
        full. Rate-limited repeats are not counted here (see ``similar suppressed``).
        """
        return self._dropped

    # -- caller side ------------------------------------------------------------------

    def report(self, key: str, message: str, *, plain: str | None = None) -> None:
        """Queue ``message`` for stderr unless ``key`` was reported within the interval.

        Returns at once: the line is scrubbed and written by the writer thread. If its
        queue is full (stderr is not draining), the line is dropped and counted.

        Args:
            key: groups messages for rate limiting (e.g. ``"export_failed:otlp"``).
            message: one line; what the redaction detectors find in it is masked
                before it is written (:func:`scrub`).
            plain: a fixed text holding no secret, written instead of ``message``
                if redaction cannot run (e.g. it cannot be imported at exit).
        """
        now = time.monotonic()
        lock = self._lock
        if not lock.acquire(timeout=_LOCK_TIMEOUT):  # a thread frozen at exit holds it
            self._dropped += 1
            return
        try:
            last = self._last.get(key)
            if last is not None and now - last < self.interval:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return
            self._last[key] = now
            if self._accepted - self._taken >= self.capacity:
                # Its suppressed count stays for the next line with this key.
                self._dropped += 1
                return
            self._queue.append(_Line(message, self._suppressed.pop(key, 0), plain))
            self._accepted += 1
        finally:
            lock.release()
        self._kick()

    def flush(self, timeout: float = EXIT_FLUSH_TIMEOUT) -> bool:
        """Wait up to ``timeout`` seconds until every line reported so far is written.

        Exit paths use :func:`flush_at_exit` instead, which shares one bound among them.

        Args:
            timeout: the bound in seconds.

        Returns:
            True when everything reported before the call has been written.
        """
        if self._pid != os.getpid():
            self._after_fork()
        if self._writer is None and not self._queue:
            return True  # nothing was ever queued in this process
        if threading.current_thread() is self._writer:
            return False  # the writer cannot wait for itself
        marker = threading.Event()
        self._queue.append(marker)
        self._kick()
        return marker.wait(max(0.0, timeout))

    def reset(self) -> None:
        """Forget rate-limit state and counters (tests, forked children).

        Lines already queued are written first (waiting at most
        :data:`EXIT_FLUSH_TIMEOUT`); a forked child drops its parent's queue instead.
        """
        if self._pid != os.getpid():
            self._after_fork()
        else:
            self.flush()
        with self._lock:
            self._last.clear()
            self._suppressed.clear()
            self._dropped = 0
            self._dropped_told = 0

    def _after_fork(self) -> None:
        """In a forked child: the parent's writer, locks and queued lines are not ours."""
        global _scrub_lock
        _scrub_lock = threading.Lock()  # the child may inherit it held
        self._init_process_state()

    def _kick(self) -> None:
        """Make sure this process has a writer and wake it."""
        writer = self._writer
        if (writer is None or not writer.is_alive()) and not self._start_writer():
            self._write_without_writer()
            return
        try:
            self._wake.release()
        except RuntimeError:  # already released: the writer will see the new line
            pass

    def _start_writer(self) -> bool:
        with self._start_lock:
            writer = self._writer
            if writer is not None and writer.is_alive():
                return True
            if sys.is_finalizing():  # Thread.start() may wait forever during teardown
                return False
            writer = threading.Thread(target=self._run, name="fapilog-diagnostics", daemon=True)
            try:
                writer.start()
            except RuntimeError:  # interpreter shutting down, or out of threads
                return False
            self._writer = writer
            return True

    def _write_without_writer(self) -> None:
        """No thread can be started (interpreter shutdown): write only what cannot block."""
        while True:
            try:
                item = self._queue.popleft()
            except IndexError:
                return
            if isinstance(item, threading.Event):
                item.set()
                continue
            self._taken += 1
            if not self._emit(item, only_if_writable=True):
                self._dropped += 1

    # -- writer thread ----------------------------------------------------------------

    def _run(self) -> None:
        # The writer never logs (through fapilog or logging): it only scrubs and writes.
        # Mark it as a fapilog thread anyway so a bridge never feeds it back in.
        pipeline_module = sys.modules.get("fapilog.pipeline._pipeline")
        worker_local = getattr(pipeline_module, "_worker_local", None)
        if worker_local is not None:
            worker_local.active = True
        queue = self._queue
        wake = self._wake
        while True:
            wake.acquire()
            if queue is not self._queue:  # reset in a forked child: not ours any more
                return
            while True:
                try:
                    item = queue.popleft()
                except IndexError:
                    break
                if isinstance(item, threading.Event):
                    if not queue:  # else the next line carries the drop count
                        self._tell_dropped()
                    item.set()
                else:
                    self._taken += 1
                    self._emit(item)
            self._tell_dropped()

    def _tell_dropped(self) -> None:
        """Write a line on its own for drops no written line has mentioned yet."""
        if self._dropped > self._dropped_told:
            self._emit(None)

    def _emit(self, line: _Line | None, only_if_writable: bool = False) -> bool:
        """Scrub and write one line (``None``: just the drop count). False if not written."""
        try:
            if line is None:
                text = ""
            else:
                text = scrub(line.message, line.plain)
                if line.suppressed:
                    text = f"{text} (+{line.suppressed} similar suppressed)"
            dropped = self._dropped
            missed = dropped - self._dropped_told
            if missed > 0:
                self._dropped_told = dropped
                note = f"{missed} diagnostic line(s) dropped: stderr not draining"
                text = f"{text} ({note})" if text else note
            if not text:
                return True
            return self._write(f"fapilog: {text}\n", only_if_writable)
        except Exception:  # never let the writer die
            return False

    def _write(self, text: str, only_if_writable: bool) -> bool:
        """Write ``text`` to the file descriptor, bypassing the stream's buffer and lock.

        A thread blocked in a buffered stream's write holds that stream's lock, and the
        interpreter aborts at exit when it cannot take it; ``os.write`` takes no lock.
        """
        stream = self._stream if self._stream is not None else sys.__stderr__
        if stream is None:
            return False
        try:
            fd = stream.fileno()
        except (AttributeError, OSError, ValueError):  # not backed by a descriptor
            if only_if_writable:
                return False
            try:
                stream.write(text)
                stream.flush()
            except Exception:  # closed or broken: nothing left to tell
                return False
            return True
        data = text.encode(getattr(stream, "encoding", None) or "utf-8", "backslashreplace")
        if only_if_writable and not _writable_now(fd, len(data)):
            return False
        try:
            while data:
                try:
                    written = os.write(fd, data)
                except BlockingIOError:  # someone made the descriptor non-blocking
                    if only_if_writable:
                        return False
                    try:
                        select.select([], [fd], [], 1.0)
                    except (OSError, ValueError):  # Windows: select takes sockets only
                        time.sleep(0.01)
                    continue
                data = data[written:]
        except OSError:  # closed or broken: nothing left to tell
            return False
        return True


def _writable_now(fd: int, size: int) -> bool:
    """True when writing ``size`` bytes to ``fd`` cannot block (as far as POSIX says)."""
    if size > getattr(select, "PIPE_BUF", 512):
        return False
    try:
        return bool(select.select([], [fd], [], 0)[1])
    except (OSError, ValueError):  # Windows: select takes sockets only
        return False


_instances: weakref.WeakSet[Reporter] = weakref.WeakSet()


_exit_spent = 0.0


def _after_fork_in_child() -> None:
    global _exit_spent
    _exit_spent = 0.0
    for instance in list(_instances):
        instance._after_fork()


reporter = Reporter()


def flush_at_exit(timeout: float = EXIT_FLUSH_TIMEOUT) -> bool:
    """Flush :data:`reporter` on the way out, within what is left of the exit bound.

    Every call made while the process ends draws on one budget of
    :data:`EXIT_FLUSH_TIMEOUT` seconds, so a stderr that does not drain delays exit
    by that much at most however many exit paths flush. Called by an ``atexit`` hook
    (which runs after fapilog's own exit shutdown) and wherever the process is about
    to end without ``atexit`` (the SIGTERM path).

    Args:
        timeout: wait at most this long (and never longer than the budget left).

    Returns:
        True when everything reported so far has been written.
    """
    global _exit_spent
    start = time.monotonic()
    try:
        return reporter.flush(max(0.0, min(timeout, EXIT_FLUSH_TIMEOUT - _exit_spent)))
    finally:
        _exit_spent += time.monotonic() - start


atexit.register(flush_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
