"""The on-disk format of an audit log directory (see ``docs/audit.md``).

A directory holds segments ``audit-00000001.jsonl``, ``audit-00000002.jsonl``, ...
and, once retention has pruned old segments, a signed ``checkpoint.json``. Every
line of a segment is one canonical JSON object (sorted keys, no spaces, UTF-8):

* line 1, the header: ``{"type": "header", "segment", "first_seq", "prev_hash", ...}``;
* then one line per record: ``{"seq", "prev_hash", "event" | "enc", "hash"}``;
* last, once the segment is closed, the seal: ``{"type": "seal", ..., "sig"}``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import re
from typing import Any

import orjson

__all__ = [
    "CHECKPOINT_NAME",
    "FORMAT",
    "GENESIS",
    "SEGMENT_RE",
    "canonical",
    "content_hash",
    "now_rfc3339",
    "record_hash",
    "segment_name",
    "signed_part",
]

FORMAT = "fapilog-audit/1"
GENESIS = "0" * 64
"""The ``prev_hash`` of the very first record of a log."""
SEGMENT_RE = re.compile(r"audit-(\d{8})\.jsonl")
CHECKPOINT_NAME = "checkpoint.json"


def segment_name(index: int) -> str:
    """File name of segment ``index`` (1-based)."""
    return f"audit-{index:08d}.jsonl"


def canonical(obj: Any) -> bytes:
    """Canonical JSON: sorted keys, compact, UTF-8. Stable across a parse round trip."""
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)


def record_hash(body: dict[str, Any]) -> str:
    """SHA-256 (hex) of a record without its ``hash``: seq, prev_hash and content."""
    return hashlib.sha256(canonical(body)).hexdigest()


def content_hash(obj: dict[str, Any]) -> str:
    """SHA-256 (hex) of any JSON object's canonical form (headers)."""
    return hashlib.sha256(canonical(obj)).hexdigest()


def signed_part(obj: dict[str, Any]) -> bytes:
    """What a seal or checkpoint signature covers: the object without ``sig``."""
    return canonical({k: v for k, v in obj.items() if k != "sig"})


def now_rfc3339() -> str:
    """Current UTC time, RFC 3339 with microseconds."""
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
