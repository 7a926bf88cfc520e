"""fapilog's own diagnostics: rate-limited lines on stderr, never through logging.

Writing through :mod:`logging` (or through a fapilog pipeline) could recurse into
the very pipeline that is failing, so diagnostics go straight to the process's
original stderr.
"""

from __future__ import annotations

import sys
import threading
import time

__all__ = ["Reporter", "reporter"]


class Reporter:
    """Writes one line per key at most every ``interval`` seconds, counting the rest."""

    def __init__(self, interval: float = 30.0) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def report(self, key: str, message: str) -> None:
        """Report ``message`` unless ``key`` was reported within the interval.

        Args:
            key: groups messages for rate limiting (e.g. ``"export_failed:otlp"``).
            message: one line, secret-free; the caller is responsible for that.
        """
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.interval:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return
            self._last[key] = now
            suppressed = self._suppressed.pop(key, 0)
        if suppressed:
            message = f"{message} (+{suppressed} similar suppressed)"
        stream = sys.__stderr__
        if stream is None:
            return
        try:
            stream.write(f"fapilog: {message}\n")
            stream.flush()
        except Exception:  # stderr closed or broken: nothing left to tell
            pass

    def reset(self) -> None:
        """Forget rate-limit state (tests, forked children)."""
        self._lock = threading.Lock()
        self._last.clear()
        self._suppressed.clear()


reporter = Reporter()
