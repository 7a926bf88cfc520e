"""Helpers shared by the network exporters: ``Retry-After`` and secret-free reasons."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING
from urllib.parse import quote, quote_plus

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "REASON_LIMIT",
    "decoded_credential",
    "parse_retry_after",
    "safe_reason",
    "secret_words",
]

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


def decoded_credential(encoded: str) -> list[str]:
    """What a server may echo of a base64 ``user:password`` credential, decoded.

    Args:
        encoded: the credential of ``Authorization: Basic <encoded>`` (or of an
            Elasticsearch ``ApiKey``, which encodes ``id:api_key`` the same way).

    Returns:
        ``["user:password", "password"]``, or nothing when ``encoded`` is not such a
        credential.
    """
    try:
        text = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):  # binascii.Error is a ValueError
        return []
    _, sep, password = text.partition(":")
    if not sep or _CONTROL.search(text):
        return []
    return [text, password] if password else [text]


def secret_words(secret: str, separators: str = r"\s") -> list[str]:
    """The forms of ``secret`` a server may echo back, all to be masked.

    A server may echo just the token of ``Bearer <token>``, the decoded ``user:password``
    of ``Basic <base64>``, or a URL-encoded form. :func:`safe_reason` matches them
    case-insensitively.

    Args:
        secret: a header value, password or key.
        separators: a regex character class body splitting ``secret`` into words.

    Returns:
        The values to mask, the whole secret first: the words of 8 or more characters,
        the decoded credential of a ``Basic`` value, and the URL-encoded form of each.
    """
    forms = [secret, *(w for w in re.split(f"[{separators}]", secret) if len(w) >= _SECRET_WORD)]
    scheme, _, credential = secret.strip().partition(" ")
    if scheme.lower() == "basic":
        forms.extend(decoded_credential(credential))
    forms.extend([quote(form, safe="") for form in forms] + [quote_plus(form) for form in forms])
    return list(dict.fromkeys(form for form in forms if form))


def safe_reason(text: str, secrets: Iterable[str] = ()) -> str:
    """Make ``text`` (e.g. a server's error message) safe for results and diagnostics.

    Masks every secret whatever its case (longest first, so a secret containing
    another is masked whole), flattens control characters to spaces and caps the length at
    :data:`REASON_LIMIT` characters.

    Args:
        text: any text that may echo request data.
        secrets: values that must not appear (tokens, passwords, header values).

    Returns:
        The sanitised text.
    """
    needles = sorted(set(filter(None, secrets)), key=len, reverse=True)
    if needles:
        # One pass, longest alternative first; a server may change the case.
        text = re.sub("|".join(map(re.escape, needles)), "***", text, flags=re.IGNORECASE)
    text = _CONTROL.sub(" ", text).strip()
    if len(text) > REASON_LIMIT:
        text = text[: REASON_LIMIT - 3] + "..."
    return text
