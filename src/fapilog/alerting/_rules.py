"""``AlertRule``: which records a rule counts, over what window, and how often it may notify."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from fapilog.plugin import ConfigError

if TYPE_CHECKING:
    from fapilog.plugin import LogEvent

__all__ = ["DELIBERATE_DROPS", "LEVELS", "AlertRule", "RuleKind"]

RuleKind = Literal["count", "rate", "drop_rate"]
_KINDS: tuple[str, ...] = ("count", "rate", "drop_rate")

#: Level names a rule's ``level`` accepts, as OpenTelemetry severity numbers (the
#: lowest number of each level's range).
LEVELS: Mapping[str, int] = {
    "TRACE": 1,
    "DEBUG": 5,
    "INFO": 9,
    "WARN": 13,
    "WARNING": 13,
    "ERROR": 17,
    "FATAL": 21,
    "CRITICAL": 21,
}

#: Drop reasons a ``drop_rate`` rule leaves out by default: events fapilog drops on
#: purpose (filters, sampling, rate limits, de-duplication), not losses.
DELIBERATE_DROPS: frozenset[str] = frozenset(
    {"filtered", "sampled", "rate_limited", "deduplicated"}
)

#: Most matching records one group's window keeps (a count threshold above this is refused).
MAX_THRESHOLD_COUNT = 100_000

AttributeValue = str | int | float | bool


def _fail(rule: str, name: str, problem: str) -> ConfigError:
    return ConfigError(f"alert rule {rule!r}: {name}: {problem}", fields=("alert_rules",))


def _number(value: object) -> bool:
    return (
        not isinstance(value, bool)
        and isinstance(value, (int, float))
        and math.isfinite(float(value))
    )


def _names(rule: str, name: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise _fail(rule, name, f"must be a list of strings, got {type(value).__name__}")
    out = tuple(value)
    for item in out:
        if not isinstance(item, str) or not item:
            raise _fail(rule, name, f"must hold non-empty strings, got {item!r}")
    return out


@dataclass(frozen=True, slots=True)
class AlertRule:
    """A condition over the event stream (or the pipeline's drops) that notifies.

    A ``count`` rule fires for a group when at least ``threshold`` matching records
    arrived within the last ``window`` seconds; a ``rate`` rule when their rate over
    the window reaches ``threshold`` records per second (the same test, with the count
    ``ceil(threshold * window)``). A ``drop_rate`` rule ignores the match fields: it
    fires when, over the window, the share of emitted events the pipeline lost
    (dropped for any reason but those in ``reasons``' complement, see ``reasons``)
    reaches ``threshold`` (a fraction, ``0.01`` = 1 %) and at least ``min_drops``
    were lost.

    A record matches when every match field given holds. Attribute keys are looked
    up in the record's attributes, then in its resource's (``service.name`` is a
    resource attribute).

    Args:
        name: unique name, shown in notifications.
        threshold: records (``count``), records per second (``rate``) or a fraction of
            emitted events (``drop_rate``); > 0.
        kind: ``"count"``, ``"rate"`` or ``"drop_rate"``.
        window: the sliding window in seconds (> 0).
        level: the lowest level that matches (``"ERROR"`` matches ERROR and FATAL);
            ``None`` matches any level.
        logger: a logger-name prefix on dot boundaries (``"shop"`` matches ``shop``
            and ``shop.db``, not ``shopping``).
        attributes: attribute values a record must carry (equality).
        present: attribute keys a record must carry (any value).
        body_contains: a substring of the body (string or UTF-8 bytes bodies only).
        group_by: attribute keys; each combination of their values is tracked and
            notified separately (a missing key groups under ``None``).
        notify: names of the notifiers to use; empty means all of them.
        notify_limit: most firing notifications this rule sends per
            ``notify_period`` seconds, over all its groups; the others are counted
            and announced in the next one sent.
        notify_period: the rate limit's period in seconds.
        resolve: send a ``resolved`` notification when a group whose firing
            notification was sent falls below the threshold.
        max_groups: most groups tracked at once; records of further groups are
            not counted (and the overflow is reported once).
        min_drops: (``drop_rate``) lost events needed in the window before the
            share counts.
        reasons: (``drop_rate``) the drop reasons counted as lost; ``None``
            counts every reason except :data:`DELIBERATE_DROPS`.
        description: free text copied into every notification.

    Raises:
        ConfigError: a field is invalid; the message names the rule and the field.
    """

    name: str
    threshold: float
    kind: RuleKind = "count"
    window: float = 60.0
    level: str | None = None
    logger: str | None = None
    attributes: Mapping[str, AttributeValue] = field(default_factory=dict)
    present: Sequence[str] = ()
    body_contains: str | None = None
    group_by: Sequence[str] = ()
    notify: Sequence[str] = ()
    notify_limit: int = 10
    notify_period: float = 600.0
    resolve: bool = True
    max_groups: int = 1000
    min_drops: int = 1
    reasons: Sequence[str] | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise _fail(str(self.name), "name", "must be a non-empty string")
        name = self.name
        if self.kind not in _KINDS:
            raise _fail(name, "kind", f"must be one of {', '.join(_KINDS)}, got {self.kind!r}")
        if not _number(self.threshold) or self.threshold <= 0:
            raise _fail(name, "threshold", f"must be a number > 0, got {self.threshold!r}")
        if self.kind == "drop_rate" and self.threshold > 1:
            raise _fail(
                name, "threshold", f"a drop_rate is a fraction in (0, 1], got {self.threshold!r}"
            )
        if not _number(self.window) or self.window <= 0:
            raise _fail(name, "window", f"must be a number of seconds > 0, got {self.window!r}")
        if self.kind != "drop_rate" and self.count_threshold > MAX_THRESHOLD_COUNT:
            raise _fail(
                name,
                "threshold",
                f"asks for {self.count_threshold} records in one window; at most "
                f"{MAX_THRESHOLD_COUNT} (use a shorter window or a lower threshold)",
            )
        if self.level is not None and (
            not isinstance(self.level, str) or self.level.strip().upper() not in LEVELS
        ):
            raise _fail(
                name, "level", f"must be one of {', '.join(LEVELS)} (any case), got {self.level!r}"
            )
        for text_field in ("logger", "body_contains"):
            value = getattr(self, text_field)
            if value is not None and (not isinstance(value, str) or not value):
                raise _fail(name, text_field, f"must be a non-empty string, got {value!r}")
        if not isinstance(self.attributes, Mapping):
            raise _fail(
                name, "attributes", f"must be a table of keys to values, got {self.attributes!r}"
            )
        for key, value in self.attributes.items():
            if not isinstance(key, str) or not key:
                raise _fail(name, "attributes", f"keys must be non-empty strings, got {key!r}")
            if not isinstance(value, (str, int, float, bool)):
                raise _fail(
                    name,
                    f"attributes.{key}",
                    f"must be a string, number or boolean, got {type(value).__name__}",
                )
        object.__setattr__(self, "attributes", dict(self.attributes))
        for seq_field in ("present", "group_by", "notify"):
            object.__setattr__(self, seq_field, _names(name, seq_field, getattr(self, seq_field)))
        if self.reasons is not None:
            object.__setattr__(self, "reasons", _names(name, "reasons", self.reasons))
        for int_field in ("notify_limit", "max_groups", "min_drops"):
            value = getattr(self, int_field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise _fail(name, int_field, f"must be an integer >= 1, got {value!r}")
        if not _number(self.notify_period) or self.notify_period <= 0:
            raise _fail(
                name,
                "notify_period",
                f"must be a number of seconds > 0, got {self.notify_period!r}",
            )
        if not isinstance(self.resolve, bool):
            raise _fail(name, "resolve", f"must be true or false, got {self.resolve!r}")
        if not isinstance(self.description, str):
            raise _fail(name, "description", "must be a string")

    @property
    def count_threshold(self) -> int:
        """Matching records within the window that make a ``count``/``rate`` rule fire."""
        if self.kind == "rate":
            return max(1, math.ceil(self.threshold * self.window - 1e-9))
        return max(1, math.ceil(self.threshold - 1e-9))

    @property
    def min_severity(self) -> int:
        """The lowest severity number that matches (0 when any level does)."""
        return 0 if self.level is None else LEVELS[self.level.strip().upper()]

    def matches(self, event: LogEvent) -> bool:
        """Whether ``event`` is one of the records this rule counts.

        Always False for a ``drop_rate`` rule (it reads the pipeline's stats instead).
        Never raises on odd events (bodies that are not strings, missing scopes).
        """
        if self.kind == "drop_rate":
            return False
        if event.severity_number < self.min_severity:
            return False
        if self.logger is not None:
            scope = event.scope_name
            if scope != self.logger and not scope.startswith(self.logger + "."):
                return False
        if self.body_contains is not None:
            body = event.body
            if isinstance(body, bytes):
                body = body.decode("utf-8", "replace")
            if not isinstance(body, str) or self.body_contains not in body:
                return False
        for key, want in self.attributes.items():
            got = lookup(event, key, _MISSING)
            if got is _MISSING or (type(got) is not type(want) and not _same_number(got, want)):
                return False
            if got != want:
                return False
        return all(lookup(event, key, _MISSING) is not _MISSING for key in self.present)

    def group_of(self, event: LogEvent) -> tuple[str | None, ...]:
        """The values of ``group_by`` for ``event`` (as text; ``None`` when missing)."""
        out: list[str | None] = []
        for key in self.group_by:
            value = lookup(event, key, None)
            out.append(None if value is None else _text(value))
        return tuple(out)


_MISSING: Any = object()


def _same_number(a: object, b: object) -> bool:
    """1 == 1.0 matches; True never matches 1 (bool is not a number here)."""
    return (
        not isinstance(a, bool)
        and not isinstance(b, bool)
        and isinstance(a, (int, float))
        and isinstance(b, (int, float))
    )


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def lookup(event: LogEvent, key: str, default: Any) -> Any:
    """``key`` in the event's attributes, else in its resource's attributes."""
    attributes = event.attributes
    if key in attributes:
        return attributes[key]
    resource = getattr(event.resource, "attributes", None)
    if resource is not None and key in resource:
        return resource[key]
    return default
