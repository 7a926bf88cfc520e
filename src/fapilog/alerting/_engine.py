"""The rule engine: sliding windows per rule and group, firing, resolving, rate limits.

Thread-safe: the pipeline's worker observes batches while the periodic evaluation
(and :meth:`RuleEngine.tick` from any thread) runs; one lock guards the state. Time
comes from an injected monotonic clock (seconds), wall-clock times for payloads from an
injected ``time_ns``-like function.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from fapilog.alerting._rules import DELIBERATE_DROPS, AlertRule
from fapilog.plugin import format_rfc3339, report

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from fapilog.plugin import LogEvent

__all__ = ["SCHEMA", "Notification", "RuleEngine"]

SCHEMA = "fapilog.alert/1"
"""The ``schema`` field of every webhook payload; a new major number means a change
that breaks a receiver."""

_SAMPLE_BODY = 500  # characters of the crossing record's body kept in the payload
_SAMPLE_ATTRIBUTES = 20
_SAMPLE_VALUE = 200


@dataclass(frozen=True, slots=True)
class Notification:
    """One state change of one rule and group: what notifiers send.

    Attributes:
        rule: the rule.
        status: ``"firing"`` or ``"resolved"``.
        group: the ``group_by`` keys and their values (``None`` when missing).
        value: at firing, the count (``count``), rate (``rate``, records/s) or lost
            share (``drop_rate``) that crossed the threshold; at resolution, the value
            that fell below it.
        started_ns: when the group started firing (ns since the epoch).
        ended_ns: when it resolved (``None`` while firing).
        matched: records matched (``drop_rate``: events lost) since it started firing,
            the crossing ones included.
        suppressed: firing notifications of this rule the rate limit held back since
            the last one sent.
        sample: the record that crossed the threshold (trimmed), or ``None``.
        resource: the crossing record's resource attributes.
    """

    rule: AlertRule
    status: Literal["firing", "resolved"]
    group: Mapping[str, str | None]
    value: float
    started_ns: int
    ended_ns: int | None = None
    matched: int = 0
    suppressed: int = 0
    sample: Mapping[str, Any] | None = None
    resource: Mapping[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """Stable for one firing of one group (the same in its ``resolved``)."""
        group = ",".join(f"{k}={v}" for k, v in self.group.items())
        return f"{self.rule.name}/{group}/{self.started_ns}"

    def describe_value(self) -> str:
        """The value as a phrase: ``12 matching records in 60 s``."""
        rule = self.rule
        window = f"{rule.window:g} s"
        if rule.kind == "drop_rate":
            return (
                f"{self.value:.2%} of emitted events lost in {window} "
                f"(threshold {rule.threshold:.2%})"
            )
        if rule.kind == "rate":
            return (
                f"{self.value:.3g} matching records/s over {window} "
                f"(threshold {rule.threshold:g}/s)"
            )
        return f"{self.value:g} matching records in {window} (threshold {rule.threshold:g})"

    def summary(self) -> str:
        """One line for people: ``[FIRING] errors (service.name=shop): 10 matching ...``."""
        group = ", ".join(f"{k}={v}" for k, v in self.group.items())
        head = f"[{self.status.upper()}] {self.rule.name}" + (f" ({group})" if group else "")
        text = f"{head}: {self.describe_value()}"
        if self.status == "resolved":
            text += f"; {self.matched} while firing"
        if self.suppressed:
            text += f"; {self.suppressed} notification(s) of this rule held back by its rate limit"
        return text

    def as_dict(self) -> dict[str, Any]:
        """The generic webhook payload (schema :data:`SCHEMA`, see docs/alerting.md)."""
        rule = self.rule
        return {
            "schema": SCHEMA,
            "id": self.id,
            "status": self.status,
            "rule": rule.name,
            "kind": rule.kind,
            "description": rule.description,
            "group": dict(self.group),
            "value": int(self.value) if rule.kind == "count" else self.value,
            "threshold": rule.threshold,
            "window_seconds": rule.window,
            "started_at": format_rfc3339(self.started_ns),
            "ended_at": None if self.ended_ns is None else format_rfc3339(self.ended_ns),
            "matched": self.matched,
            "suppressed": self.suppressed,
            "summary": self.summary(),
            "sample": None if self.sample is None else dict(self.sample),
            "resource": dict(self.resource),
        }


def _short(value: Any, limit: int) -> Any:
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _sample(event: LogEvent) -> dict[str, Any]:
    body = event.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    attributes = {
        key: _short(value, _SAMPLE_VALUE)
        for key, value in list(event.attributes.items())[:_SAMPLE_ATTRIBUTES]
    }
    return {
        "time": format_rfc3339(event.timestamp),
        "severity_text": event.severity_text,
        "logger": event.scope_name,
        "body": _short(body, _SAMPLE_BODY),
        "attributes": attributes,
        "trace_id": f"{event.trace_id:032x}" if event.trace_id else None,
    }


def _resource(event: LogEvent) -> dict[str, Any]:
    attributes = getattr(event.resource, "attributes", None) or {}
    return {key: _short(value, _SAMPLE_VALUE) for key, value in attributes.items()}


class _Group:
    """One group's window (the last ``count_threshold`` match times) and state."""

    __slots__ = ("base", "firing", "matched", "sent", "started_ns", "times")

    def __init__(self, size: int) -> None:
        self.times: deque[float] = deque(maxlen=size)
        self.base = 0  # drop_rate: the lost count the firing window started from
        self.firing = False
        self.sent = False
        self.matched = 0
        self.started_ns = 0


class _RuleState:
    __slots__ = ("groups", "overflow", "rule", "samples", "sent_at", "suppressed")

    def __init__(self, rule: AlertRule) -> None:
        self.rule = rule
        self.groups: dict[tuple[str | None, ...], _Group] = {}
        self.sent_at: deque[float] = deque()  # firing notifications sent, for the rate limit
        self.suppressed = 0
        self.overflow = 0
        # drop_rate: (time, emitted, lost) samples of the pipeline's stats
        self.samples: deque[tuple[float, int, int]] = deque()


class RuleEngine:
    """Evaluates rules over observed events and stats samples; returns notifications.

    Args:
        rules: the rules (names unique).
        clock: monotonic seconds (windows and rate limits).
        wall_ns: wall-clock nanoseconds since the epoch (payload times).
    """

    def __init__(
        self,
        rules: Sequence[AlertRule],
        *,
        clock: Callable[[], float],
        wall_ns: Callable[[], int],
    ) -> None:
        self.rules = tuple(rules)
        self._clock = clock
        self._wall_ns = wall_ns
        self._lock = threading.Lock()
        self._states = [_RuleState(rule) for rule in self.rules]
        self._matching = [s for s in self._states if s.rule.kind != "drop_rate"]
        self._drops = [s for s in self._states if s.rule.kind == "drop_rate"]
        self.suppressed_total = 0
        self.overflow_total = 0

    @property
    def watches_drops(self) -> bool:
        """Whether any rule reads the pipeline's stats."""
        return bool(self._drops)

    def firing(self) -> int:
        """Groups firing now, over all rules."""
        with self._lock:
            return sum(1 for s in self._states for g in s.groups.values() if g.firing)

    def reset(self) -> None:
        """Forget every window and state (a forked child starts afresh)."""
        with self._lock:
            self._states[:] = [_RuleState(s.rule) for s in self._states]
            self._matching = [s for s in self._states if s.rule.kind != "drop_rate"]
            self._drops = [s for s in self._states if s.rule.kind == "drop_rate"]

    # -- events --------------------------------------------------------------------------

    def observe(self, batch: Sequence[LogEvent]) -> list[Notification]:
        """Count the matching records of ``batch``; the notifications of groups that fire."""
        if not self._matching:
            return []
        out: list[Notification] = []
        with self._lock:
            now = self._clock()
            for state in self._matching:
                rule = state.rule
                for event in batch:
                    if rule.matches(event):
                        self._count(state, event, now, out)
        return out

    def _count(
        self, state: _RuleState, event: LogEvent, now: float, out: list[Notification]
    ) -> None:
        rule = state.rule
        key = rule.group_of(event)
        group = state.groups.get(key)
        if group is None:
            if len(state.groups) >= rule.max_groups:
                state.overflow += 1
                self.overflow_total += 1
                if state.overflow == 1:
                    report(
                        f"alerting:groups:{rule.name}",
                        f"fapilog alerting: rule {rule.name!r} tracks {rule.max_groups} groups "
                        "already (max_groups); records of further groups are not counted",
                    )
                return
            group = state.groups[key] = _Group(rule.count_threshold)
        group.times.append(now)
        if group.firing:
            group.matched += 1
            return
        times = group.times
        if len(times) == times.maxlen and now - times[0] < rule.window:
            value = float(len(times)) if rule.kind == "count" else len(times) / rule.window
            group.firing = True
            group.matched = len(times)
            group.started_ns = self._wall_ns()
            note = self._fire(state, group, now, dict(zip(rule.group_by, key, strict=True)), value)
            if note is not None:
                out.append(_with_sample(note, _sample(event), _resource(event)))

    def _fire(
        self,
        state: _RuleState,
        group: _Group,
        now: float,
        labels: dict[str, str | None],
        value: float,
    ) -> Notification | None:
        """Apply the rule's rate limit to a group that started firing."""
        rule = state.rule
        sent_at = state.sent_at
        while sent_at and now - sent_at[0] >= rule.notify_period:
            sent_at.popleft()
        if len(sent_at) >= rule.notify_limit:
            state.suppressed += 1
            self.suppressed_total += 1
            group.sent = False
            return None
        sent_at.append(now)
        group.sent = True
        suppressed, state.suppressed = state.suppressed, 0
        return Notification(
            rule=rule,
            status="firing",
            group=labels,
            value=value,
            started_ns=group.started_ns,
            matched=group.matched,
            suppressed=suppressed,
        )

    # -- time passing and stats ---------------------------------------------------------------

    def tick(self, stats: Callable[[], Any] | None = None) -> list[Notification]:
        """Resolve groups whose window fell below the threshold; evaluate drop rates.

        Args:
            stats: returns the pipeline's :class:`~fapilog.PipelineStats` (read only when a
                ``drop_rate`` rule exists); ``None`` skips drop-rate rules.

        Returns:
            The notifications to send (``resolved`` ones, ``drop_rate`` firings).
        """
        snapshot: Any = None
        if self._drops and stats is not None:
            try:
                snapshot = stats()
            except Exception as exc:  # a broken stats source must not stop evaluation
                report(
                    "alerting:stats",
                    f"fapilog alerting: reading the pipeline's stats failed: {type(exc).__name__}",
                )
        out: list[Notification] = []
        with self._lock:
            now = self._clock()
            for state in self._matching:
                self._expire(state, now, out)
            if snapshot is not None:
                for state in self._drops:
                    self._drop_rate(state, snapshot, now, out)
        return out

    def _expire(self, state: _RuleState, now: float, out: list[Notification]) -> None:
        rule = state.rule
        for key in list(state.groups):
            group = state.groups[key]
            times = group.times
            below = len(times) < (times.maxlen or 0) or now - times[0] >= rule.window
            if group.firing and below:
                group.firing = False
                value = float(sum(1 for t in times if now - t < rule.window))
                if rule.kind == "rate":
                    value /= rule.window
                if group.sent and rule.resolve:
                    out.append(
                        Notification(
                            rule=rule,
                            status="resolved",
                            group=dict(zip(rule.group_by, key, strict=True)),
                            value=float(value),
                            started_ns=group.started_ns,
                            ended_ns=self._wall_ns(),
                            matched=group.matched,
                        )
                    )
                group.sent = False
            if not group.firing and (not times or now - times[-1] >= rule.window):
                del state.groups[key]  # idle: forget it (bounded memory)

    def _drop_rate(
        self, state: _RuleState, snapshot: Any, now: float, out: list[Notification]
    ) -> None:
        rule = state.rule
        try:
            emitted = int(snapshot.emitted)
            dropped: Mapping[str, int] = snapshot.dropped
            if rule.reasons is None:
                lost = sum(n for r, n in dropped.items() if r not in DELIBERATE_DROPS)
            else:
                lost = sum(dropped.get(r, 0) for r in rule.reasons)
        except Exception:
            return
        samples = state.samples
        samples.append((now, emitted, lost))
        # Keep one sample at or before the window's start as the baseline.
        while len(samples) > 1 and now - samples[1][0] >= rule.window:
            samples.popleft()
        _, emitted0, lost0 = samples[0]
        d_lost = max(0, lost - lost0)
        d_emitted = max(0, emitted - emitted0)
        share = (d_lost / d_emitted if d_emitted else 1.0) if d_lost else 0.0
        share = min(share, 1.0)
        group = state.groups.get(())
        if group is None:
            group = state.groups[()] = _Group(1)
        over = d_lost >= rule.min_drops and share >= rule.threshold
        if over and not group.firing:
            group.firing = True
            group.started_ns = self._wall_ns()
            group.base = lost - d_lost
            group.matched = d_lost
            note = self._fire(state, group, now, {}, share)
            if note is not None:
                out.append(note)
        elif over:
            group.matched = max(0, lost - group.base)
        elif group.firing:
            group.matched = max(0, lost - group.base)
            group.firing = False
            if group.sent and rule.resolve:
                out.append(
                    Notification(
                        rule=rule,
                        status="resolved",
                        group={},
                        value=share,
                        started_ns=group.started_ns,
                        ended_ns=self._wall_ns(),
                        matched=group.matched,
                    )
                )
            group.sent = False


def _with_sample(
    note: Notification, sample: dict[str, Any], resource: dict[str, Any]
) -> Notification:
    return Notification(
        rule=note.rule,
        status=note.status,
        group=note.group,
        value=note.value,
        started_ns=note.started_ns,
        matched=note.matched,
        suppressed=note.suppressed,
        sample=sample,
        resource=resource,
    )
