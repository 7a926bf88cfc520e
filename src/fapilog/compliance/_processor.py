"""ComplianceProcessor: checks every event against the active profiles."""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING, Any, Literal

from fapilog.processors._base import Processor
from fapilog.redaction._rules import normalize_key

if TYPE_CHECKING:
    from collections.abc import Iterable

    from fapilog._event import LogEvent
    from fapilog.compliance._profiles import ComplianceProfile

__all__ = ["VIOLATIONS_ATTRIBUTE", "ComplianceProcessor", "is_audit_event"]

VIOLATIONS_ATTRIBUTE = "fapilog.compliance.violations"
"""The attribute listing an event's violations as ``"profile:rule"``."""

_MAX_DEPTH = 16


def is_audit_event(event: LogEvent) -> bool:
    """True if ``event`` is an audit event: ``event_name == "audit"`` or ``fapilog.audit``."""
    return event.event_name == "audit" or event.attributes.get("fapilog.audit") is True


class ComplianceProcessor(Processor):
    """Validates each event against compliance profiles; flags or drops violations.

    Checks: audit events carry each profile's required fields (``actor`` may also be
    spelled ``audit.actor``; an empty value counts as missing); no event carries a
    forbidden field at any depth. Run it after redaction, so it checks what is
    exported.

    Args:
        profiles: the active profiles (see :func:`~fapilog.compliance.get_profile`).
        mode: ``"flag"`` adds ``fapilog.compliance.violations``; ``"drop"`` drops
            the event (counted by the pipeline as ``filtered``).

    Attributes:
        violations: how often each ``"profile:rule"`` was violated.
        dropped: events dropped in ``drop`` mode.
    """

    api_version = "1.0"  # the fapilog.plugin API it is written for

    #: Never grows an event much, so the pipeline keeps the size it estimated when
    #: the event was built (see :attr:`Processor.keeps_size`).
    keeps_size = True

    def __init__(
        self, profiles: Iterable[ComplianceProfile], mode: Literal["flag", "drop"] = "flag"
    ) -> None:
        if mode not in ("flag", "drop"):
            raise ValueError(f"mode must be 'flag' or 'drop', not {mode!r}")
        self.profiles = tuple(profiles)
        self.mode = mode
        self.violations: collections.Counter[str] = collections.Counter()
        self.dropped = 0
        self._forbidden = tuple(
            (profile.name, term) for profile in self.profiles for term in profile.forbidden_fields
        )
        self._key_cache: dict[str, tuple[str, ...]] = {}

    def counts(self) -> dict[str, int]:
        """Counters for :attr:`fapilog.PipelineStats.protection` (prefixed ``compliance.``)."""
        out = {f"compliance.{v}": n for v, n in dict(self.violations).items()}
        out["compliance.dropped"] = self.dropped
        return out

    @property
    def audit_trail_required(self) -> bool:
        """True if any active profile expects an audit trail."""
        return any(p.audit_trail_required for p in self.profiles)

    def check(self, event: LogEvent) -> list[str]:
        """The violations of ``event`` as ``"profile:rule"`` strings, without acting."""
        found: list[str] = []
        attributes = event.attributes
        if is_audit_event(event):
            for profile in self.profiles:
                for name in profile.required_audit_fields:
                    value = attributes.get(name, attributes.get(f"audit.{name}"))
                    if value is None or value == "":
                        found.append(f"{profile.name}:missing_{name}")
        if self._forbidden:
            hits: set[str] = set()
            self._scan(attributes, hits, 0)
            found.extend(sorted(hits))
        return found

    def on_emit(self, event: LogEvent) -> bool:
        """Flag or drop ``event`` if it violates an active profile."""
        found = self.check(event)
        if not found:
            return True
        self.violations.update(found)
        if self.mode == "drop":
            self.dropped += 1
            return False
        event.attributes[VIOLATIONS_ATTRIBUTE] = found
        return True

    def _scan(self, mapping: dict[str, Any], hits: set[str], depth: int) -> None:
        for key, value in mapping.items():
            for violation in self._forbidden_in(key):
                hits.add(violation)
            if depth < _MAX_DEPTH:
                if isinstance(value, dict):
                    self._scan(value, hits, depth + 1)
                elif isinstance(value, list):
                    for item in value:
                        if isinstance(item, dict):
                            self._scan(item, hits, depth + 1)

    def _forbidden_in(self, key: str) -> tuple[str, ...]:
        cached = self._key_cache.get(key)
        if cached is None:
            normalized = normalize_key(key)
            cached = tuple(
                f"{profile}:forbidden_{term}"
                for profile, term in self._forbidden
                if f"_{term}_" in normalized
            )
            if len(self._key_cache) < 4096:
                self._key_cache[key] = cached
        return cached
