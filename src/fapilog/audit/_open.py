"""The unsealed last segment: what its own signatures authenticate, and what they do not.

A sealed segment is authenticated by its seal. An open one (a log still being
written, or left by a crash) has no seal yet, so in format 2 its header and every
record carry their own signature (a MAC with the HMAC key, or an Ed25519
signature). Here the open segment is accepted up to its last authenticated record;
every line after it, and any forged line before it, is reported as
``unauthenticated`` with its file, line and claimed seq.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fapilog.audit._format import FORMAT_V1, segment_name

if TYPE_CHECKING:
    from collections.abc import Callable

    from fapilog.audit._walk import Entry, SegmentWalk, State

__all__ = ["OpenSegment"]

_CRASH_OR_LIVE = (
    "it is still being written, or its writer stopped without sealing it (a crash), or "
    "records after it were cut off (undetectable in an unsealed segment)"
)


def _describe(entry: Entry) -> str:
    seq = entry.seq if entry.obj is not None else None
    if type(seq) is int:
        return f"record seq {seq} (line {entry.line})"
    return f"line {entry.line}"


def _claimed_seq(entry: Entry) -> int | None:
    seq = entry.seq if entry.obj is not None else None
    return seq if type(seq) is int else None


class OpenSegment:
    """Checks the signatures of an unsealed last segment and reports what is not signed.

    Args:
        state: the verification state (checker, problems, counts).
        index: the segment index.
        header: the parsed header (``{}`` when damaged).
        records: the record lines, with ``valid`` (matches its hash) already set.
        check_header: checks a signed object's signature, recording seal failures.
    """

    def __init__(
        self,
        state: State,
        index: int,
        header: dict[str, Any],
        records: list[Entry],
        check_header: Callable[[dict[str, Any], State, str, int | None], bool],
    ) -> None:
        self.state = state
        self.index = index
        self.name = segment_name(index)
        self.records = records
        self.problems: list[tuple[str, int | None, int | None]] = []
        self.header_why: str | None = None
        if header.get("format") == FORMAT_V1 or not isinstance(header.get("sig"), str):
            self.header_why = (
                "carries no signature (written without the key, or by a fapilog-audit/1 "
                "writer, whose unsealed segments cannot be authenticated)"
            )
        elif not check_header(header, state, f"the header of segment {index}", index):
            self.header_why = "has a signature that does not verify (forged, or altered)"
        self.walk_records: list[Entry] = []
        self.tail: list[Entry] = []
        self.signed = 0
        if self.header_why is not None:
            self.tail = [e for e in records if not e.torn]
            return
        alg = str(header.get("alg"))
        signed_ok = [
            e.valid
            and e.obj is not None
            and state.checker.check_record(alg, e.hash, e.obj.get("sig"))
            for e in records
        ]
        last = max((i for i, ok in enumerate(signed_ok) if ok), default=-1)
        for entry, ok in zip(records[: last + 1], signed_ok, strict=False):
            if ok or not entry.valid:
                # A line that no longer matches its hash goes to the walk, which names
                # it as modified and keeps the seq count right.
                self.walk_records.append(entry)
            else:
                self._unauthenticated_inside(entry)
        self.signed = sum(signed_ok)
        self.tail = records[last + 1 :]
        if self.tail and self.tail[0].torn:
            self.walk_records.append(self.tail[0])  # the walk reports the torn line
            self.tail = []

    def _unauthenticated_inside(self, entry: Entry) -> None:
        message = (
            f"segment {self.index} ({self.name}): {_describe(entry)} is not authenticated: "
            f"{self._why(entry)}; it is not accepted (a record inserted without the key)"
        )
        self.problems.append((message, _claimed_seq(entry), entry.line))

    @staticmethod
    def _why(entry: Entry) -> str:
        if entry.obj is None:
            return "it is not a record"
        if not entry.valid:
            return "it does not match its own hash"
        if "sig" not in entry.obj:
            return "it carries no signature"
        return "its signature does not verify (forged without the key, or altered)"

    @property
    def complete(self) -> bool:
        """True when the header and every record line are authenticated."""
        return self.header_why is None and not self.tail and not self.problems

    def report(self, walk: SegmentWalk, *, allow_open: bool) -> None:
        """Add the findings after the walk of the authenticated records."""
        state, index, name = self.state, self.index, self.name
        last_seq = walk.seq - 1
        state.signed_records += self.signed
        if not allow_open and not walk.torn:
            if self.complete:
                state.add(
                    "truncated",
                    f"segment {index} ({name}) has no seal: the log ends after record seq "
                    f"{last_seq}; the segment's header and all its {walk.accepted} record(s) "
                    f"are signed, so {_CRASH_OR_LIVE}. To accept an open last segment up to "
                    "its last signed record, verify with --allow-open",
                    segment=index,
                    seq=last_seq,
                )
            else:
                state.add(
                    "truncated",
                    f"segment {index} ({name}) has no seal: the log was truncated after "
                    f"record seq {last_seq}",
                    segment=index,
                    seq=last_seq,
                )
        for message, seq, line in self.problems:
            state.add("unauthenticated", message, segment=index, seq=seq, line=line)
        if self.header_why is not None:
            first = self.tail[0] if self.tail else None
            lost = (
                f"so none of its {len(self.tail)} record line(s) is accepted, from "
                f"{_describe(first)} on"
                if first is not None
                else "so the segment is not accepted"
            )
            state.add(
                "unauthenticated",
                f"segment {index} ({name}) is not authenticated: its header (line 1) "
                f"{self.header_why}, {lost}; the log is authenticated up to seq {last_seq}",
                segment=index,
                seq=_claimed_seq(first) if first is not None else None,
                line=first.line if first is not None else 1,
            )
        elif self.tail:
            first = self.tail[0]
            state.add(
                "unauthenticated",
                f"segment {index} ({name}): {_describe(first)} is not authenticated: "
                f"{self._why(first)}; it and the {len(self.tail) - 1} line(s) after it are "
                f"not accepted; records are authenticated up to seq {last_seq}",
                segment=index,
                seq=_claimed_seq(first),
                line=first.line,
            )
        elif allow_open and self.complete:
            held = (
                f"its {walk.accepted} record(s), seq {walk.first_seq} to {last_seq}, each "
                "carry a valid signature"
                if walk.accepted
                else "it holds no records yet"
            )
            state.notes.append(
                f"segment {index} ({name}) is open (not sealed): its header is signed and "
                f"{held}; records cut off the end of an open segment are not detectable"
            )
