"""fapilog's own diagnostics: rate-limited lines on stderr, never through logging.

Writing through :mod:`logging` (or through a fapilog pipeline) could recurse into
the very pipeline that is failing, so diagnostics go straight to the process's
original stderr. Every line first goes through the redaction detectors
(:func:`scrub`): a diagnostic quoting an exception or a value can carry a secret.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fapilog.redaction import RedactionProcessor

__all__ = ["Reporter", "reporter", "scrub"]

_scrub_lock = threading.Lock()
_scrubber: RedactionProcessor | None = None


def scrub(text: str) -> str:
    """``text`` with what the default redaction detectors find masked.

    Every pattern rule runs, the context-dependent ones (the AWS secret key) as if
    the text sat under a credential key. If redaction itself fails, the text is
    withheld rather than printed.
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
        return f"[diagnostic withheld: redacting it failed ({type(exc).__name__})]"


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
            message: one line; what the redaction detectors find in it is masked
                before it is written (:func:`scrub`).
        """
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.interval:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return
            self._last[key] = now
            suppressed = self._suppressed.pop(key, 0)
        message = scrub(message)
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
        global _scrub_lock
        _scrub_lock = threading.Lock()  # a forked child may inherit it held
        self._lock = threading.Lock()
        self._last.clear()
        self._suppressed.clear()


reporter = Reporter()
