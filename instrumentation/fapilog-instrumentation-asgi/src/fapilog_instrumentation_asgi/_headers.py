"""Reading ASGI headers: capture with redaction, the request id, and the OTel getter."""

from __future__ import annotations

import random
import re
from typing import TYPE_CHECKING

from opentelemetry.propagators.textmap import Getter

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = [
    "REDACTED",
    "HeaderCapture",
    "HeadersGetter",
    "header",
    "new_request_id",
    "usable_request_id",
]

REDACTED = "[REDACTED]"
"""The value a sensitive header is captured as (the mask of :mod:`fapilog.redaction`)."""

# A request id arrives from the network: keep it short and printable so it cannot
# inject lines or control characters into logs, and does not bloat every record.
_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,128}")


def usable_request_id(value: bytes) -> str | None:
    """``value`` decoded if it is 1-128 visible ASCII characters, else ``None``."""
    try:
        text = value.decode("ascii").strip()
    except UnicodeDecodeError:
        return None
    return text if _REQUEST_ID.fullmatch(text) else None


def new_request_id() -> str:
    """A fresh random request id (32 hex digits).

    A correlation aid, not a secret: ``random`` (reseeded after fork) instead of
    ``os.urandom``, whose system call measured ~20 us here, as OTel's id generator does.
    """
    return f"{random.getrandbits(128):032x}"


class HeaderCapture:
    """Turns allow-listed headers into ``<prefix><name>`` attributes, masking secrets.

    Values are lists of strings (repeated headers keep every value), as the OTel
    HTTP semantic conventions define ``http.request.header.<key>``.

    Args:
        names: lower-case header names to capture.
        sensitive: lower-case header names whose values are masked.
        prefix: attribute name prefix, e.g. ``"http.request.header."``.
    """

    def __init__(self, names: Iterable[str], sensitive: Iterable[str], prefix: str) -> None:
        self._names = {name.encode("latin-1"): prefix + name for name in names}
        self._sensitive = frozenset(name.encode("latin-1") for name in sensitive)

    def __bool__(self) -> bool:
        return bool(self._names)

    def capture(self, headers: Iterable[tuple[bytes, bytes]]) -> dict[str, list[str]]:
        """The attributes for ``headers`` (raw ASGI header pairs)."""
        found: dict[str, list[str]] = {}
        for raw_name, raw_value in headers:
            name = raw_name.lower()
            attribute = self._names.get(name)
            if attribute is None:
                continue
            value = REDACTED if name in self._sensitive else raw_value.decode("latin-1")
            found.setdefault(attribute, []).append(value)
        return found


class HeadersGetter(Getter[list[tuple[bytes, bytes]]]):
    """Lets the OTel propagators read W3C ``traceparent``/``baggage`` from ASGI headers."""

    def get(self, carrier: list[tuple[bytes, bytes]], key: str) -> list[str] | None:
        wanted = key.lower().encode("latin-1")
        values = [v.decode("latin-1") for k, v in carrier if k.lower() == wanted]
        return values or None

    def keys(self, carrier: list[tuple[bytes, bytes]]) -> list[str]:
        return [k.decode("latin-1") for k, _ in carrier]


def header(headers: Sequence[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    """The first value of header ``name`` (lower-case bytes), or ``None``."""
    for key, value in headers:
        if key == name or key.lower() == name:
            return value
    return None
