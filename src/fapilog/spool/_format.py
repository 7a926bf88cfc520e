"""The on-disk format of a spool directory: segment header, record frame, scanning.

Layout of a spool directory::

    LOCK                             fcntl.flock'ed by the owning process; holds its pid
    segments/00000000000000000000.seg   20-digit first sequence number of the segment
    cursors/<exporter>.cur           per exporter: the next sequence number to deliver

Cursor file: one JSON object, ``{"exporter": NAME, "next_seq": N, "check": HEX}``,
padded with spaces to a width fixed per exporter (room for a 20-digit ``N``), so it
is rewritten in place; ``check`` is the hex blake2b(digest_size=4) of the UTF-8 of
``NAME``, a NUL and ``N`` in decimal. A cursor that does not parse or check counts as
missing: that exporter starts again at the oldest record on disk (duplicates, never a
loss).

Segment file: a 40-byte header, then records back to back. Header (little-endian)::

    magic      8 bytes  b"FAPSPOOL"
    version    u16      1 (FORMAT_VERSION)
    flags      u16      0
    created    u64      ns since the Unix epoch
    first_seq  u64      sequence number of the first record (also the file name)
    writer     8 bytes  random id of the process session (an open) that wrote it
    check      4 bytes  blake2b(digest_size=4) of the 36 bytes before it

Record frame (little-endian), 24 bytes then the payload::

    mark       4 bytes  b"\\xfe\\xffSR"
    length     u32      payload length (at most MAX_RECORD)
    seq        u64      the record's sequence number (global, monotonic, never reused)
    check      8 bytes  blake2b(digest_size=8) over length, seq and the payload
    payload    length bytes (see ``_codec``: UTF-8 JSON, so never a 0xFE/0xFF byte)

Recovery: a reader checks every frame (mark, length bound, checksum). At a frame that
does not check (flipped bytes, a torn write, garbage), it resynchronises by searching
for the next ``mark`` whose frame checks; a payload cannot contain the mark (its first
byte 0xFE never occurs in UTF-8), so only a damaged frame's own binary fields can
produce a false candidate, and its 64-bit checksum rejects it. The damaged region
counts ``max(1, next good seq - expected seq)`` records as corrupt (exact, because
sequence numbers are contiguous); at the end of a segment the first sequence number of
the next segment plays the part of the next good seq.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
from typing import TYPE_CHECKING, NamedTuple

import orjson

if TYPE_CHECKING:
    import mmap
    from collections.abc import Iterator, Sequence

__all__ = [
    "FORMAT_VERSION",
    "HEADER_SIZE",
    "MAGIC",
    "MARK",
    "MAX_RECORD",
    "REC_HEADER",
    "SEGMENT_RE",
    "Header",
    "Region",
    "cursor_file_name",
    "exporter_from_file_name",
    "frame",
    "frames",
    "listdir",
    "pack_cursor",
    "pack_header",
    "scan",
    "segment_name",
    "unpack_cursor",
    "unpack_header",
]

MAGIC = b"FAPSPOOL"
FORMAT_VERSION = 1
MARK = b"\xfe\xffSR"
MAX_RECORD = 64 * 1024 * 1024
"""Largest payload a frame may declare; a larger length marks the frame as damaged."""

_HEADER = struct.Struct("<8sHHQQ8s")
HEADER_SIZE = _HEADER.size + 4
_LENSEQ = struct.Struct("<IQ")
REC_HEADER = 4 + _LENSEQ.size + 8
SEGMENT_RE = re.compile(r"(\d{20})\.seg")


class Header(NamedTuple):
    """A segment header that checked."""

    version: int
    created_ns: int
    first_seq: int
    writer: bytes


def listdir(directory: str | os.PathLike[str]) -> list[os.DirEntry[str]]:
    """The entries of ``directory`` (the scandir iterator closed at once)."""
    with os.scandir(directory) as entries:
        return list(entries)


def segment_name(first_seq: int) -> str:
    """File name of the segment whose first record has sequence number ``first_seq``."""
    return f"{first_seq:020d}.seg"


def pack_header(created_ns: int, first_seq: int, writer: bytes) -> bytes:
    """The 40 header bytes of a new segment."""
    body = _HEADER.pack(MAGIC, FORMAT_VERSION, 0, created_ns, first_seq, writer)
    return body + hashlib.blake2b(body, digest_size=4).digest()


def unpack_header(data: bytes) -> Header | None:
    """The header at the start of ``data``; None when it is missing, short or damaged."""
    if len(data) < HEADER_SIZE:
        return None
    body = bytes(data[: _HEADER.size])
    if hashlib.blake2b(body, digest_size=4).digest() != bytes(data[_HEADER.size : HEADER_SIZE]):
        return None
    magic, version, _flags, created, first_seq, writer = _HEADER.unpack(body)
    if magic != MAGIC:
        return None
    return Header(version, created, first_seq, writer)


def frame(seq: int, payload: bytes) -> bytes:
    """One record: the 24-byte frame header, then ``payload``."""
    lenseq = _LENSEQ.pack(len(payload), seq)
    check = hashlib.blake2b(lenseq, digest_size=8)
    check.update(payload)
    return MARK + lenseq + check.digest() + payload


_CHECK = hashlib.blake2b(digest_size=8)  # copied per record: cheaper than a new hash


def frames(first_seq: int, payloads: Sequence[bytes]) -> bytes:
    """The records of ``payloads`` back to back, sequence numbers from ``first_seq``.

    The same bytes as :func:`frame` for each payload, joined (this is the append path:
    it avoids a call and a hash construction per record).
    """
    parts: list[bytes] = []
    add = parts.append
    pack = _LENSEQ.pack
    copy = _CHECK.copy
    seq = first_seq
    for payload in payloads:
        lenseq = pack(len(payload), seq)
        check = copy()
        check.update(lenseq)
        check.update(payload)
        add(MARK)
        add(lenseq)
        add(check.digest())
        add(payload)
        seq += 1
    return b"".join(parts)


def _frame_at(buf: bytes | mmap.mmap, pos: int, end: int) -> tuple[int, int] | None:
    """``(seq, frame end)`` when a frame that checks starts at ``pos``, else None."""
    if end - pos < REC_HEADER or buf[pos : pos + 4] != MARK:
        return None
    length, seq = _LENSEQ.unpack_from(buf, pos + 4)
    stop = pos + REC_HEADER + length
    if length > MAX_RECORD or stop > end:
        return None
    check = hashlib.blake2b(buf[pos + 4 : pos + 16], digest_size=8)
    check.update(buf[pos + REC_HEADER : stop])
    if check.digest() != buf[pos + 16 : pos + REC_HEADER]:
        return None
    return seq, stop


class Region(NamedTuple):
    """What :func:`scan` found at ``start``: a record (``seq >= 0``) or damage (``seq == -1``).

    For a record the payload is ``buf[start + REC_HEADER : end]``.
    """

    start: int
    end: int
    seq: int


def scan(buf: bytes | mmap.mmap, start: int, end: int) -> Iterator[Region]:
    """Walk ``buf[start:end]``: every record that checks, and every damaged stretch.

    A damaged stretch runs from the first byte that does not begin a good frame to the
    next good frame (or ``end``).
    """
    pos = start
    while pos < end:
        found = _frame_at(buf, pos, end)
        if found is not None:
            seq, stop = found
            yield Region(pos, stop, seq)
            pos = stop
            continue
        candidate = pos + 1
        while True:
            candidate = buf.find(MARK, candidate, end)
            if candidate < 0:
                yield Region(pos, end, -1)
                return
            if _frame_at(buf, candidate, end) is not None:
                yield Region(pos, candidate, -1)
                pos = candidate
                break
            candidate += 1


_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def cursor_file_name(exporter: str) -> str:
    """``<exporter>.cur``, with every byte outside ``[A-Za-z0-9._-]`` as ``%XX``.

    A leading dot is escaped too, so no name makes a hidden or relative file.
    """
    out = []
    for i, ch in enumerate(exporter):
        if ch in _SAFE and not (i == 0 and ch == "."):
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))
    return "".join(out) + ".cur"


def _cursor_check(exporter: str, next_seq: int) -> str:
    text = f"{exporter}\x00{next_seq}".encode("utf-8", "surrogatepass")
    return hashlib.blake2b(text, digest_size=4).hexdigest()


def pack_cursor(exporter: str, next_seq: int) -> bytes:
    """The bytes of ``exporter``'s cursor file (the same length for every ``next_seq``)."""
    data = orjson.dumps(
        {"exporter": exporter, "next_seq": next_seq, "check": _cursor_check(exporter, next_seq)}
    )
    width = len(orjson.dumps({"exporter": exporter, "next_seq": 0, "check": "0" * 8})) + 19
    return data.ljust(width)


def unpack_cursor(data: bytes, exporter: str) -> int | None:
    """The next sequence number a cursor file holds; None when it is damaged.

    A file without ``check`` (written by an earlier version of this format) is read
    as it is.
    """
    try:
        info = orjson.loads(data)
        seq = info["next_seq"]
        check = info.get("check")
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if type(seq) is not int or seq < 0 or info.get("exporter") != exporter:
        return None
    if check is not None and check != _cursor_check(exporter, seq):
        return None
    return seq


def exporter_from_file_name(name: str) -> str | None:
    """The exporter name a cursor file belongs to; None if ``name`` is not a cursor file."""
    if not name.endswith(".cur") or len(name) <= 4:
        return None
    stem = name[:-4]
    raw = bytearray()
    i = 0
    try:
        while i < len(stem):
            if stem[i] == "%":
                raw.append(int(stem[i + 1 : i + 3], 16))
                i += 3
            else:
                raw.extend(stem[i].encode("ascii"))
                i += 1
        return raw.decode("utf-8", "surrogatepass")
    except (ValueError, UnicodeError):
        return None
