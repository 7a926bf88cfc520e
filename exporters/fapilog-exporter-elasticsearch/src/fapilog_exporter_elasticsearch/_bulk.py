"""The ``_bulk`` wire format: document ids, NDJSON items, request packing, responses.

An item is two NDJSON lines, each ending in ``\\n`` (the body's final newline is
required by Elasticsearch)::

    {"create":{"_id":"GHnS3zVgqAAAq1b8EwAAAAA"}}
    {"@timestamp":"2026-11-23T19:40:00.123456789Z","message":"order paid",...}

The target index or data stream is in the request path (``POST /<target>/_bulk``), so
the action line carries only the id. ``create`` is the one action data streams accept,
and it refuses an id that already exists, which is what makes resending safe.
"""

from __future__ import annotations

import base64
import itertools
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = [
    "FILTER_PATH",
    "BulkItem",
    "IdSource",
    "ItemResult",
    "ItemState",
    "action_line",
    "body_of",
    "describe",
    "error_summary",
    "pack",
    "parse_bulk_response",
]

FILTER_PATH = (
    "took,errors,items.*.status,items.*.error.type,items.*.error.reason,error.type,error.reason"
)
"""``filter_path`` keeping one entry (its status) per item, so positions still match,
and the type and reason of a whole-request error (filtering applies to errors too)."""

_UINT64 = 2**64 - 1
_UINT32 = 2**32 - 1
# Elasticsearch 8 quotes the offending value in mapping errors; it is user data.
_VALUE_PREVIEW = re.compile(r"\.?\s*Preview of field's value:.*", re.DOTALL)


class IdSource:
    """Makes document ids that no other event, process or retry can share.

    An id is 16 bytes, URL-safe base64 without padding (22 characters): the event
    timestamp in ns (8 bytes, big-endian, so ids of one stream sort by time, which
    keeps Lucene's id lookups cheap), 4 random bytes drawn once per source (per
    exporter, and again after ``fork``), and a 4-byte counter. Two events never get
    the same id, however identical their content and timestamp; the same event object
    keeps its id across every retry because the exporter assigns it once per batch.

    Args:
        nonce: the 4 random bytes; for tests.
    """

    __slots__ = ("_counter", "_nonce")

    def __init__(self, nonce: bytes | None = None) -> None:
        self._nonce = os.urandom(4) if nonce is None else nonce
        if len(self._nonce) != 4:
            raise ValueError("nonce must be 4 bytes")
        self._counter = itertools.count()

    def new_id(self, timestamp_ns: int) -> str:
        """A fresh id for an event stamped ``timestamp_ns``."""
        try:
            stamp = int(timestamp_ns) & _UINT64
        except (TypeError, ValueError):
            stamp = 0
        seq = next(self._counter) & _UINT32
        raw = stamp.to_bytes(8, "big") + self._nonce + seq.to_bytes(4, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


class ItemState:
    """Where one document stands in the export of its batch."""

    OWED = 0
    """Not known to be indexed; (re)sent by the next attempt."""
    DELIVERED = 1
    """Indexed (201), or already indexed by an earlier attempt (409 on a resend)."""
    REJECTED = 2
    """Refused for good; counted, never resent."""


class BulkItem:
    """One document of a batch: its id, its two NDJSON lines and its progress."""

    __slots__ = ("data", "doc_id", "sent", "state")

    def __init__(self, doc_id: str, data: bytes) -> None:
        self.doc_id = doc_id
        self.data = data
        self.sent = 0
        """How many requests carried it so far (incremented before each send)."""
        self.state = ItemState.OWED


def action_line(doc_id: str) -> bytes:
    """The ``create`` action line for ``doc_id`` (ids are base64url: no escaping)."""
    return b'{"create":{"_id":"' + doc_id.encode("ascii") + b'"}}\n'


def pack(items: Iterable[BulkItem], max_bytes: int) -> list[list[BulkItem]]:
    """Group ``items`` into requests of at most ``max_bytes``, greedily, in order.

    Args:
        items: items each no bigger than ``max_bytes``.
        max_bytes: the largest (uncompressed) body.

    Returns:
        The requests' items.
    """
    requests: list[list[BulkItem]] = []
    current: list[BulkItem] = []
    size = 0
    for item in items:
        length = len(item.data)
        if current and size + length > max_bytes:
            requests.append(current)
            current, size = [], 0
        current.append(item)
        size += length
    if current:
        requests.append(current)
    return requests


@dataclass(frozen=True, slots=True)
class ItemResult:
    """What the cluster said about one item."""

    status: int
    error_type: str = ""
    reason: str = ""


def parse_bulk_response(content: bytes) -> tuple[bool, list[ItemResult]] | None:
    """Read a ``_bulk`` response body.

    Args:
        content: the body, possibly trimmed by :data:`FILTER_PATH`.

    Returns:
        ``(errors, items)``, or ``None`` when the body is not a bulk response. An
        entry that cannot be read gets status 0.
    """
    try:
        data = orjson.loads(content)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("errors"), bool):
        return None
    items: list[ItemResult] = []
    raw_items = data.get("items")
    for entry in raw_items if isinstance(raw_items, list) else ():
        items.append(_item_result(entry))
    return data["errors"], items


def _item_result(entry: Any) -> ItemResult:
    if not isinstance(entry, dict) or len(entry) != 1:
        return ItemResult(0)
    (body,) = entry.values()
    if not isinstance(body, dict):
        return ItemResult(0)
    status = body.get("status")
    if not isinstance(status, int) or isinstance(status, bool):
        status = 0
    error = body.get("error")
    if isinstance(error, dict):
        return ItemResult(status, str(error.get("type") or ""), str(error.get("reason") or ""))
    if isinstance(error, str):  # very old clusters sent a plain string
        return ItemResult(status, "", error)
    return ItemResult(status)


def error_summary(content: bytes) -> str:
    """``type: reason`` of an Elasticsearch error body, ``""`` if there is none.

    Args:
        content: a response body such as ``{"error":{"type":..,"reason":..},"status":401}``.

    Returns:
        The summary, value previews removed, not yet redacted or capped.
    """
    try:
        data = orjson.loads(content)
    except orjson.JSONDecodeError:
        return ""
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        return describe(str(error.get("type") or ""), str(error.get("reason") or ""))
    if isinstance(error, str):
        return describe("", error)
    return ""


def describe(error_type: str, reason: str) -> str:
    """``type: reason`` with any quoted field value removed (it is user data)."""
    reason = _VALUE_PREVIEW.sub("", reason).strip()
    if error_type and reason:
        return f"{error_type}: {reason}"
    return error_type or reason


def body_of(items: Sequence[BulkItem]) -> bytes:
    """The NDJSON body of a request carrying ``items``."""
    return b"".join(item.data for item in items)
