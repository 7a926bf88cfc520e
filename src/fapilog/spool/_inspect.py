"""``inspect(directory)``: what a spool directory holds, read-only and without the lock."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fapilog.spool._format import (
    FORMAT_VERSION,
    HEADER_SIZE,
    SEGMENT_RE,
    exporter_from_file_name,
    scan,
    unpack_cursor,
    unpack_header,
)
from fapilog.spool._format import (
    listdir as _listdir,
)
from fapilog.spool._lock import LOCK_NAME, lock_holder

__all__ = ["inspect"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it runs, as another user
        return True
    return True


def inspect(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """Describe a spool directory: segments, records, damage, pending per exporter.

    Reads only; takes no lock, so it may run next to a live owner (a record being
    written at that moment may show as a ``torn`` tail). Segments are read whole.

    Returns:
        A JSON-serialisable dict: ``directory``, ``format_version``, ``lock`` (None, or
        ``{"pid", "alive"}`` from the pid in ``LOCK``: a clean close empties it),
        ``segments`` (per file: ``name``, ``first_seq``, ``last_seq`` (last good record,
        None if none), ``records`` (good ones), ``corrupt``, ``torn`` (damage at the
        end), ``bytes``, ``header_ok``, ``version``, ``writer``, ``created_ns``,
        ``mtime``), ``bytes``, ``records``, ``corrupt``, ``oldest_seq``, ``head_seq``,
        ``cursors`` (per exporter: ``next_seq`` (None if unreadable), ``pending``,
        ``cursor_ok``).

    Raises:
        FileNotFoundError: ``directory`` has no ``segments`` folder (not a spool).
    """
    root = Path(directory)
    seg_dir = root / "segments"
    if not seg_dir.is_dir():
        raise FileNotFoundError(f"{root} is not a spool directory (no segments/ folder)")
    found: list[tuple[int, Path]] = []
    for entry in _listdir(seg_dir):
        match = SEGMENT_RE.fullmatch(entry.name)
        if match is not None:
            found.append((int(match.group(1)), Path(entry.path)))
    found.sort()
    segments: list[dict[str, Any]] = []
    head = 0
    for i, (first, path) in enumerate(found):
        try:
            data = path.read_bytes()
            mtime = path.stat().st_mtime
        except FileNotFoundError:  # deleted by the owner meanwhile
            continue
        header = unpack_header(data)
        next_first = found[i + 1][0] if i + 1 < len(found) else None
        good = 0
        corrupt = 0
        expected = first
        last_seq = first - 1
        bad = False
        torn = False
        for region in scan(data, HEADER_SIZE, len(data)):
            if region.seq < 0:
                bad = True
                continue
            if bad:
                corrupt += max(1, region.seq - expected)
                bad = False
            good += 1
            expected = region.seq + 1
            last_seq = region.seq
        if bad:
            torn = True
            end = next_first if next_first is not None else expected
            corrupt += max(1, end - expected)
        elif len(data) < HEADER_SIZE and len(data) > 0:
            torn = True
            corrupt += 1
        head = max(head, last_seq + 1, first)
        segments.append(
            {
                "name": path.name,
                "first_seq": first,
                "records": good,
                "corrupt": corrupt,
                "last_seq": last_seq if good else None,
                "torn": torn,
                "bytes": len(data),
                "header_ok": header is not None,
                "version": header.version if header is not None else None,
                "writer": header.writer.hex() if header is not None else None,
                "created_ns": header.created_ns if header is not None else None,
                "mtime": mtime,
            }
        )
    cursors_out: dict[str, dict[str, Any]] = {}
    cur_dir = root / "cursors"
    cursors: dict[str, int | None] = {}
    if cur_dir.is_dir():
        for entry in _listdir(cur_dir):
            name = exporter_from_file_name(entry.name)
            if name is None:
                continue
            try:
                cursors[name] = unpack_cursor(Path(entry.path).read_bytes(), name)
            except OSError:
                cursors[name] = None
    known = [s for s in cursors.values() if s is not None]
    if known:
        head = max(head, *known)
    oldest = segments[0]["first_seq"] if segments else head
    for name, seq in sorted(cursors.items()):
        effective = oldest if seq is None else max(seq, oldest)
        cursors_out[name] = {
            "next_seq": seq,
            "pending": max(head - effective, 0),
            "cursor_ok": seq is not None,
        }
    pid = lock_holder(root / LOCK_NAME)
    return {
        "directory": str(root.absolute()),
        "format_version": FORMAT_VERSION,
        "lock": None if pid is None else {"pid": pid, "alive": _alive(pid)},
        "segments": segments,
        "bytes": sum(s["bytes"] for s in segments),
        "records": sum(s["records"] for s in segments),
        "corrupt": sum(s["corrupt"] for s in segments),
        "oldest_seq": oldest,
        "head_seq": head,
        "cursors": cursors_out,
    }
