"""HTTP helpers shared by the HTTP-based exporters (OTLP/HTTP, Splunk HEC, Elasticsearch)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

__all__ = ["parse_retry_after"]


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait according to a ``Retry-After`` header.

    Args:
        value: the header: delta-seconds (``"120"``) or an HTTP-date
            (``"Wed, 21 Oct 2015 07:28:00 GMT"``).
        now: the current time, for tests (default: the system clock).

    Returns:
        The delay in seconds (0 for a date in the past), or ``None`` when the header
        is absent or malformed.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" dates parse as naive; HTTP dates are UTC
        when = when.replace(tzinfo=UTC)
    now = datetime.now(UTC) if now is None else now
    return max(0.0, (when - now).total_seconds())
