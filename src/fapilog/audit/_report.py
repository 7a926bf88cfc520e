"""What :func:`fapilog.audit.verify` returns: a report made of problems."""

from __future__ import annotations

from dataclasses import dataclass

from fapilog.audit._format import GENESIS

__all__ = ["Problem", "VerifyReport"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding of :func:`verify`.

    ``kind`` is one of ``"modified"``, ``"deleted"``, ``"inserted"``, ``"reordered"``,
    ``"truncated"``, ``"replaced"`` (a segment that does not continue the chain),
    ``"unauthenticated"`` (a line of the unsealed last segment without a valid
    signature: written without the key) and ``"wrong_key"`` (the key given does not
    match the log's seals, or is missing).
    """

    kind: str
    message: str
    segment: int | None = None
    """The segment index (the number in ``audit-00000007.jsonl``), if one is concerned."""
    seq: int | None = None
    """The record sequence number concerned, if one is."""
    line: int | None = None
    """The 1-based line in the segment file, if one is concerned."""

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What :func:`verify` found. ``ok`` is True when ``problems`` is empty."""

    records: int
    """Records that verified (in place, chained, covered by a valid seal or open tail)."""
    segments: int
    """Segment files examined."""
    problems: tuple[Problem, ...] = ()
    notes: tuple[str, ...] = ()
    """Facts that are not failures (pruned segments, an open last segment)."""
    last_seq: int = 0
    """The last sequence number of the chain (0 for an empty log)."""
    last_hash: str = GENESIS
    """The head of the chain; keep it elsewhere to detect later deletion of the tail."""
    decrypted: int = 0
    """Records decrypted and authenticated (with ``decrypt_key``)."""
    seals: int = 0
    """Segment seals whose signature verified."""
    signed_records: int = 0
    """Records whose own signature (made as they were written) was verified one by one:
    those of the unsealed last segment (and of a sealed one whose signatures differ)."""
    sealed_signatures: int = 0
    """Records whose signature is, byte for byte, the one their segment's seal covers."""
    algs: tuple[str, ...] = ()
    """The signature algorithms a key was given for (``hmac-sha256``, ``ed25519``)."""

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems

    def checked(self) -> str:
        """What was checked, for people: chain, seals, record signatures, decryption."""
        keys = " and ".join(self.algs) or "no key"
        parts = [
            f"SHA-256 hash chain of {self.records} record(s)",
            f"{self.seals} segment seal(s) ({keys})",
        ]
        if self.sealed_signatures:
            parts.append(f"{self.sealed_signatures} record signature(s) as sealed")
        if self.signed_records:
            parts.append(f"{self.signed_records} record signature(s) verified one by one")
        if self.decrypted:
            parts.append(f"{self.decrypted} record(s) decrypted (AES-256-GCM)")
        return "checked: " + ", ".join(parts)

    def summary(self) -> str:
        """``OK: N records in M segments`` or a line per problem, for people."""
        if self.ok:
            records = f"{self.records} record{'' if self.records == 1 else 's'}"
            segments = f"{self.segments} segment{'' if self.segments == 1 else 's'}"
            return f"OK: {records} in {segments}"
        lines = [f"FAILED: {len(self.problems)} problem(s)"]
        lines += [f"  {p.kind}: {p.message}" for p in self.problems]
        return "\n".join(lines)
