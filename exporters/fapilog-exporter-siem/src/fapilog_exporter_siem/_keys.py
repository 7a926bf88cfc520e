"""Attribute keys made valid, unique keys of a payload format."""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping, Set

    from fapilog_exporter_siem._record import Record

__all__ = ["KeySanitizer", "extension_pairs"]


class KeySanitizer:
    """Turns arbitrary attribute keys into valid, unique keys of a payload format.

    Characters outside ``allowed`` become ``_``. A key that had to change, or is
    longer than ``max_len``, gets ``<sep><4 hex digits of its SHA-1>`` appended (after
    cutting it to fit), so two different keys never end up with the same name and a
    reader can tell a rewritten key. A key already in ``used`` (one the format writes
    itself, or an earlier key of the record) gets the same treatment.

    Args:
        allowed: a regex character class body, e.g. ``A-Za-z0-9_.``.
        max_len: the longest key the format allows.
        sep: the character introducing the hash suffix (must be allowed).
    """

    __slots__ = ("_bad", "_max_len", "_sep")

    def __init__(self, allowed: str, max_len: int, sep: str) -> None:
        self._bad = re.compile(f"[^{allowed}]")
        self._max_len = max_len
        self._sep = sep

    def __call__(self, key: str, used: set[str]) -> str:
        """Return the sanitised form of ``key`` and add it to ``used``."""
        clean = self._bad.sub("_", key)
        if clean and clean == key and len(clean) <= self._max_len and clean not in used:
            used.add(clean)
            return clean
        digest = hashlib.sha1(key.encode("utf-8", "surrogatepass")).hexdigest()
        for start in range(0, 36, 4):
            suffix = self._sep + digest[start : start + 4]
            name = clean[: self._max_len - len(suffix)] + suffix
            if name not in used:
                used.add(name)
                return name
        n = 2  # 9 hash collisions in one record: fall back to a counter
        while f"{self._sep}{n}" in used:
            n += 1
        name = f"{self._sep}{n}"
        used.add(name)
        return name


def extension_pairs(
    record: Record,
    *,
    standard_keys: Mapping[str, str],
    reserved: Set[str],
    sanitize: KeySanitizer,
) -> list[tuple[str, str]]:
    """The record's metadata and attributes as (key, text) pairs of a CEF/LEEF extension.

    An attribute with a standard key of the format takes it (the first one only);
    every other key is sanitised, never colliding with ``reserved`` (the keys the
    format writes itself) or an earlier key of the record.

    Args:
        record: the flattened event.
        standard_keys: attribute key -> the format's standard key.
        reserved: keys the caller writes itself.
        sanitize: the format's key sanitiser.

    Returns:
        Metadata pairs first, then attributes, in record order.
    """
    used = set(reserved)
    pairs = [(sanitize(key, used), value) for key, value in record.meta]
    taken: set[str] = set()
    for key, value in record.attributes:
        standard = standard_keys.get(key)
        if standard is not None and standard not in taken:
            taken.add(standard)
            pairs.append((standard, value))
        else:
            pairs.append((sanitize(key, used), value))
    return pairs
