"""Record-level checks of one segment: parse its lines, walk the chain, classify departures.

The walk reports each departure once, by the kind a reader would name it: a record
whose content no longer matches its hash is *modified*; a gap in the sequence is
*deleted*; a record the chain does not need is *inserted*; a record that belongs
later is *reordered*; a line cut short is *truncated*.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from fapilog.audit._format import record_body, record_hash
from fapilog.audit._report import Problem

if TYPE_CHECKING:
    from fapilog.audit._keys import RecordCipher, SealChecker

__all__ = ["Entry", "SegmentWalk", "State", "as_int", "parse_segment", "self_valid"]


@dataclass(slots=True)
class Entry:
    line: int
    obj: dict[str, Any] | None
    valid: bool = False
    torn: bool = False

    @property
    def seq(self) -> Any:
        return self.obj.get("seq") if self.obj is not None else None

    @property
    def prev(self) -> Any:
        return self.obj.get("prev_hash") if self.obj is not None else None

    @property
    def hash(self) -> Any:
        return self.obj.get("hash") if self.obj is not None else None


@dataclass(slots=True)
class State:
    checker: SealChecker
    cipher: RecordCipher | None
    problems: list[Problem] = field(default_factory=list)
    seal_failures: list[Problem] = field(default_factory=list)
    seals_ok: int = 0
    seals_verified: int = 0
    signed_records: int = 0
    sealed_signatures: int = 0
    records: int = 0
    decrypted: int = 0
    decrypt_failed: bool = False
    notes: list[str] = field(default_factory=list)

    def add(self, kind: str, message: str, **where: Any) -> None:
        self.problems.append(Problem(kind, message, **where))


def as_int(value: Any) -> int | None:
    return value if type(value) is int else None


def parse_segment(data: bytes) -> list[Entry]:
    end = data.rfind(b"\n") + 1
    entries: list[Entry] = []
    for number, raw in enumerate(data[:end].split(b"\n")[:-1], 1):
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            obj = None
        entries.append(Entry(number, obj if isinstance(obj, dict) else None))
    if end < len(data):
        entries.append(Entry(len(entries) + 1, None, torn=True))
    return entries


def self_valid(entry: Entry, *, signed: bool) -> bool:
    """Whether a record line is well formed and matches its own hash.

    ``signed``: the segment's format signs records, so ``sig`` is not hashed.
    """
    obj = entry.obj
    if obj is None or type(obj.get("seq")) is not int or not isinstance(obj.get("hash"), str):
        return False
    if not isinstance(obj.get("prev_hash"), str) or ("event" in obj) == ("enc" in obj):
        return False
    return bool(record_hash(record_body(obj, signed=signed)) == obj["hash"])


class SegmentWalk:
    """Walk the records of one segment, classifying every departure from the chain."""

    def __init__(
        self,
        state: State,
        index: int,
        records: list[Entry],
        seq: int,
        prev: str | None,
        seal: dict[str, Any] | None,
    ) -> None:
        self.state = state
        self.index = index
        self.records = records
        self.seq = seq
        self.prev = prev
        self.seal = seal
        self.accepted = 0
        self.torn = False
        self.line_of: dict[int, int] = {}
        self.first_seq = seq

    def _add(self, kind: str, message: str, seq: int | None, line: int | None) -> None:
        self.state.add(
            kind, f"segment {self.index}: {message}", segment=self.index, seq=seq, line=line
        )

    def _accept(self, entry: Entry) -> None:
        self.line_of[entry.seq] = entry.line
        self.seq = entry.seq + 1
        self.prev = entry.hash
        self.accepted += 1
        self.state.records += 1
        self._decrypt(entry)

    def _links(self, entry: Entry | None) -> bool:
        return (
            entry is not None
            and entry.valid
            and entry.seq == self.seq
            and (self.prev is None or entry.prev == self.prev)
        )

    def _next_valid(self, i: int) -> Entry | None:
        if i < len(self.records) and self.records[i].valid:
            return self.records[i]
        return None

    def run(self) -> None:
        records = self.records
        skip: set[int] = set()
        i = 0
        while i < len(records):
            e = records[i]
            if e.torn:
                self.torn = True
                self._add(
                    "truncated",
                    f"line {e.line} is incomplete: the log was truncated after record seq "
                    f"{self.seq - 1}",
                    self.seq,
                    e.line,
                )
                return
            if not e.valid:
                self._add(
                    "modified",
                    f"record seq {self.seq} (line {e.line}) was modified: it does not match "
                    "its hash",
                    self.seq,
                    e.line,
                )
                self.line_of[self.seq] = e.line
                self.seq += 1
                # Its stored hash may be the altered part: do not blame the next
                # record for not linking to it.
                self.prev = None
                i += 1
                continue
            if e.seq in skip:
                skip.discard(e.seq)
                i += 1
                continue
            nxt = self._next_valid(i + 1)
            if self._links(e):
                if nxt is not None and nxt.seq == e.seq and nxt.prev == e.prev:
                    # Two records claim the same place; the chain continues from one.
                    after = self._next_valid(i + 2)
                    anchor = (
                        after.prev
                        if after is not None
                        else (self.seal.get("final_hash") if self.seal is not None else None)
                    )
                    if anchor == nxt.hash and anchor != e.hash:
                        self._inserted(e)
                        i += 1
                        continue
                self._accept(e)
                i += 1
                continue
            later = [r for r in records[i + 1 :] if r.valid and r.seq == self.seq]
            if (
                e.seq > self.seq
                and later
                and any(
                    r.valid and r.hash == e.prev and r.seq == e.seq - 1 for r in records[i + 1 :]
                )
                # A copy of a record that also sits in its place is a duplicate, not a move.
                and not any(r.valid and r.hash == e.hash for r in records[i + 1 :])
            ):
                self._add(
                    "reordered",
                    f"records are out of order: line {e.line} holds seq {e.seq} where seq "
                    f"{self.seq} belongs (seq {self.seq} is at line {later[0].line})",
                    self.seq,
                    e.line,
                )
                jumped = {r.seq for r in records[i + 1 :] if r.valid and self.seq <= r.seq < e.seq}
                skip |= jumped
                self.state.records += len(jumped)
                self.accepted += len(jumped)
                self._accept(e)
                i += 1
                continue
            end_ok = (
                nxt is None
                and i == len(records) - 1
                and self.seal is not None
                and self.seal.get("last_seq") == self.seq - 1
            )
            if self._links(nxt) or end_ok:
                self._inserted(e)
                i += 1
                continue
            if e.seq > self.seq:
                self._add(
                    "deleted",
                    f"records {self.seq} to {e.seq - 1} were deleted (before line {e.line})"
                    if e.seq - 1 > self.seq
                    else f"record seq {self.seq} was deleted (before line {e.line})",
                    self.seq,
                    e.line,
                )
                self._accept(e)
            elif e.seq == self.seq:
                previous = self.seq - 1
                if previous >= self.first_seq:
                    self._add(
                        "modified",
                        f"record seq {previous} (line {self.line_of.get(previous)}) was altered "
                        f"and re-hashed: record seq {e.seq} no longer links to it",
                        previous,
                        self.line_of.get(previous),
                    )
                else:
                    self._add(
                        "modified",
                        f"record seq {e.seq} (line {e.line}) does not link to the segment header",
                        e.seq,
                        e.line,
                    )
                self._accept(e)
            else:
                self._inserted(e)
            i += 1

    def _inserted(self, e: Entry) -> None:
        self._add(
            "inserted",
            f"line {e.line} is not part of the chain: a forged or repeated record "
            f"(claims seq {e.seq}) was inserted",
            e.seq,
            e.line,
        )

    def _decrypt(self, e: Entry) -> None:
        cipher = self.state.cipher
        if cipher is None or e.obj is None or "enc" not in e.obj or self.state.decrypt_failed:
            return
        if cipher.decrypt(e.seq, e.obj["enc"]) is not None:
            self.state.decrypted += 1
            return
        self.state.decrypt_failed = True
        if self.state.decrypted == 0:
            self.state.add(
                "wrong_key",
                "the decrypt key does not decrypt this log (wrong key)",
                segment=self.index,
                seq=e.seq,
            )
        else:
            self._add(
                "modified",
                f"record seq {e.seq} (line {e.line}) fails authenticated decryption",
                e.seq,
                e.line,
            )
