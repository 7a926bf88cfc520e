"""Timestamps as text: RFC 3339 in UTC with nanoseconds, fast for events in time order."""

from __future__ import annotations

import functools
import time

__all__ = ["format_rfc3339", "utc_seconds"]


@functools.lru_cache(maxsize=128)
def utc_seconds(seconds: int, fmt: str) -> str:
    """``time.strftime(fmt)`` of a second since the epoch in UTC, cached."""
    return time.strftime(fmt, time.gmtime(seconds))


# The second of the latest timestamp formatted: (its first ns, "YYYY-MM-DDTHH:MM:SS.").
# Events come roughly in time order, so nearly every timestamp falls in it and needs
# only its nine fractional digits formatted. One tuple, replaced whole, so concurrent
# threads never see a start and a prefix that do not belong together.
stamp_window: tuple[int, str] = (0, "1970-01-01T00:00:00.")


def format_rfc3339(timestamp_ns: int) -> str:
    """Format ns since the Unix epoch as ``2026-11-23T19:40:00.123456789Z``.

    Args:
        timestamp_ns: nanoseconds since the Unix epoch.

    Returns:
        The RFC 3339 UTC timestamp with nine fractional digits; the bare number as a
        string when the value is outside what the platform can format.
    """
    global stamp_window  # the one-entry cache described above
    if type(timestamp_ns) is int:
        start, prefix = stamp_window
        offset = timestamp_ns - start
        if 0 <= offset < 1_000_000_000:
            # Twice as fast as f"{offset:09d}", which goes through the format-spec parser.
            return f"{prefix}{str(offset).zfill(9)}Z"
    try:
        seconds, nanos = divmod(timestamp_ns, 1_000_000_000)
        prefix = f"{utc_seconds(seconds, '%Y-%m-%dT%H:%M:%S')}."
        text = f"{prefix}{nanos:09d}Z"
    except (OverflowError, OSError, ValueError, TypeError):
        return str(timestamp_ns)
    if type(timestamp_ns) is int:
        stamp_window = (timestamp_ns - nanos, prefix)
    return text
