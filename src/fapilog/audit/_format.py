"""The on-disk format of an audit log directory (see ``docs/audit.md``).

A directory holds segments ``audit-00000001.jsonl``, ``audit-00000002.jsonl``, ...
and, once retention has pruned old segments, a signed ``checkpoint.json``. Every
line of a segment is one canonical JSON object (sorted keys, no spaces, UTF-8):

* line 1, the header: ``{"type": "header", "format", "segment", "first_seq",
  "prev_hash", ..., "sig"}``;
* then one line per record: ``{"seq", "prev_hash", "event" | "enc", "hash", "sig"}``;
* last, once the segment is closed, the seal: ``{"type": "seal", ..., "sig"}``.

Format 2 (``fapilog-audit/2``) signs the header and every record as it is written, so
an open segment is authenticated record by record. Format 1 (``fapilog-audit/1``)
had neither signature: its segments are authenticated only by their seal, and are
still read and verified.
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
    "FORMAT_V1",
    "GENESIS",
    "SEGMENT_RE",
    "canonical",
    "content_hash",
    "now_rfc3339",
    "record_body",
    "record_hash",
    "record_signed_part",
    "segment_name",
    "signed_part",
]

FORMAT = "fapilog-audit/2"
"""What this version writes: headers and records are signed as they are written."""
FORMAT_V1 = "fapilog-audit/1"
"""Segments written before record signatures: authenticated by their seal only."""
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


def record_body(record: dict[str, Any], *, signed: bool) -> dict[str, Any]:
    """What a record's ``hash`` covers: the record without ``hash`` (and without ``sig``).

    ``signed``: the segment's format signs records (format 2). In format 1 a ``sig``
    field would be covered, so adding one to a record changes its hash.
    """
    drop = ("hash", "sig") if signed else ("hash",)
    return {k: v for k, v in record.items() if k not in drop}


def record_hash(body: dict[str, Any]) -> str:
    """SHA-256 (hex) of a record without its ``hash``: seq, prev_hash and content."""
    return hashlib.sha256(canonical(body)).hexdigest()


def record_signed_part(digest: str) -> bytes:
    """What a record's ``sig`` covers: its hash, under a type no other signed object has."""
    return canonical({"hash": digest, "type": "record"})


def content_hash(obj: dict[str, Any]) -> str:
    """SHA-256 (hex) of any JSON object's canonical form (headers)."""
    return hashlib.sha256(canonical(obj)).hexdigest()


def signed_part(obj: dict[str, Any]) -> bytes:
    """What a seal or checkpoint signature covers: the object without ``sig``."""
    return canonical({k: v for k, v in obj.items() if k != "sig"})


def now_rfc3339() -> str:
    """Current UTC time, RFC 3339 with microseconds."""
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
