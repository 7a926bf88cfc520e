"""LogEvent → request bodies: NDJSON or a JSON array, split by size.

Each record is fapilog's JSON form of the event (:func:`fapilog.plugin.encode_json_lines`,
the shape :func:`fapilog.plugin.event_to_dict` returns). A request body is either the
records' lines (``ndjson``, every line ending in ``\\n``) or ``[record,record,...]``
(``json``).
"""

from __future__ import annotations

import gzip
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fapilog.plugin import encode_json_line, encode_json_lines

if TYPE_CHECKING:
    from collections.abc import Sequence

    from fapilog.plugin import LogEvent

__all__ = ["Request", "SplitResult", "encode_records", "plan_requests"]

_GZIP_LEVEL = 6


@dataclass(slots=True)
class Request:
    """One request of a batch: its records (encoded, no newline), kept to re-split."""

    items: list[bytes]
    json_array: bool
    key: str = field(default_factory=lambda: uuid.uuid4().hex)
    """Idempotency key: the same on every retry of this request."""
    _gzipped: bytes | None = None

    @property
    def records(self) -> int:
        """How many records the request carries."""
        return len(self.items)

    def body(self) -> bytes:
        """The uncompressed body."""
        if self.json_array:
            return b"[" + b",".join(self.items) + b"]"
        return b"".join(item + b"\n" for item in self.items)

    def gzipped(self) -> bytes:
        """The gzip-compressed body (compressed once, reused by retries)."""
        if self._gzipped is None:
            self._gzipped = gzip.compress(self.body(), compresslevel=_GZIP_LEVEL, mtime=0)
        return self._gzipped

    def halves(self) -> tuple[Request, Request]:
        """Two requests with the first and the second half of the records."""
        middle = len(self.items) // 2
        return (
            Request(self.items[:middle], self.json_array),
            Request(self.items[middle:], self.json_array),
        )


@dataclass(frozen=True, slots=True)
class SplitResult:
    """The requests of a batch and how many records were too big for any request."""

    requests: list[Request]
    dropped: int


def encode_records(batch: Sequence[LogEvent], *, include_resource: bool) -> list[bytes]:
    """Each event of ``batch`` as one JSON object, without its newline.

    Args:
        batch: the events, in order.
        include_resource: add the resource attributes under ``resource``.

    Returns:
        One encoded record per event.
    """
    lines = encode_json_lines(list(batch), include_resource=include_resource).split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if len(lines) != len(batch):  # never expected: one line per event is promised
        lines = [
            encode_json_line(e, include_resource=include_resource).rstrip(b"\n") for e in batch
        ]
    return lines


def plan_requests(items: Sequence[bytes], max_bytes: int, *, json_array: bool) -> SplitResult:
    """Pack records greedily, in order, into request bodies of at most ``max_bytes``.

    Args:
        items: one encoded record each, without newline.
        max_bytes: the largest body, separators and brackets included.
        json_array: bodies are JSON arrays (``[a,b]``) rather than lines (``a\\nb\\n``).

    Returns:
        The requests and the number of records dropped because each alone is larger
        than ``max_bytes``.
    """
    # Size of a body: the records, one separator each (a newline; for json a comma
    # between records plus two brackets, which is one byte more).
    base = 1 if json_array else 0
    requests: list[Request] = []
    dropped = 0
    current: list[bytes] = []
    size = base
    for item in items:
        grow = len(item) + 1
        if base + grow > max_bytes:
            dropped += 1
            continue
        if current and size + grow > max_bytes:
            requests.append(Request(current, json_array))
            current, size = [], base
        size += grow
        current.append(item)
    if current:
        requests.append(Request(current, json_array))
    return SplitResult(requests, dropped)
