"""Helpers shared by the network exporters: ``Retry-After`` and secret-free reasons."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["REASON_LIMIT", "parse_retry_after", "safe_reason", "secret_words"]

REASON_LIMIT = 300
"""Longest reason (in characters) an exporter puts into results and diagnostics."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_SECRET_WORD = 8  # shorter words of a secret (e.g. "Bearer") are not masked on their own


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


def secret_words(secret: str, separators: str = r"\s") -> list[str]:
    """``secret`` and its long words: a server may echo just the token of ``Bearer <token>``.

    Args:
        secret: a header value, password or key.
        separators: a regex character class body splitting ``secret`` into words.

    Returns:
        The values to mask, the whole secret first.
    """
    return [secret, *(w for w in re.split(f"[{separators}]", secret) if len(w) >= _SECRET_WORD)]


def safe_reason(text: str, secrets: Iterable[str] = ()) -> str:
    """Make ``text`` (e.g. a server's error message) safe for results and diagnostics.

    Masks every secret (longest first, so a secret containing another is masked
    whole), flattens control characters to spaces and caps the length at
    :data:`REASON_LIMIT` characters.

    Args:
        text: any text that may echo request data.
        secrets: values that must not appear (tokens, passwords, header values).

    Returns:
        The sanitised text.
    """
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        text = text.replace(secret, "***")
    text = _CONTROL.sub(" ", text).strip()
    if len(text) > REASON_LIMIT:
        text = text[: REASON_LIMIT - 3] + "..."
    return text
