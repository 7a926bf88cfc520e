"""Rate limits on the caller: a token bucket per logger name and message template.

A limited event is dropped in the level method, before anything is captured, so it
costs about what a filtered call costs. The bucket of a logger name and template (the
message before ``%``-formatting; for a message that is not a ``str``, its type) admits
``burst`` events at once and ``rate`` per second after that, as a generic cell rate
algorithm: one integer per bucket, the earliest time the next event is admitted.

Counting: each bucket counts what it dropped (no lock on the drop path: one
increment, not split by a thread switch under the GIL), and :meth:`RateLimits.dropped`
sums them, with what earlier summaries reported, for :meth:`~fapilog.Pipeline.stats`
(``dropped["rate_limited"]``, also counted as emitted). When a template's limit lifts
(its bucket refilled completely) or at least :data:`SUMMARY_SECONDS` after its
suppression window opened, the next admitted event is
preceded by one summary record, enqueued on the caller: ``suppressed 1,234 similar
events in 10 s``, same logger name, the highest level among the suppressed events,
attributes ``fapilog.suppressed_count``, ``fapilog.suppressed_seconds`` and
``fapilog.suppressed_template``. Pending summaries are enqueued when the pipeline
shuts down.

Memory: at most :data:`MAX_TEMPLATES` buckets per logger name; a new template beyond
that clears the logger's buckets (their pending summaries are enqueued first) and is
counted in ``rate_limit.evicted``. At most :data:`MAX_NAMES` logger names get a
limiter of their own; further names share one.
"""

from __future__ import annotations

import math
import threading
import time
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from fapilog.pipeline._materialize import capture_record

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from fapilog.pipeline._intake import Intake

__all__ = [
    "MAX_NAMES",
    "MAX_TEMPLATES",
    "SUMMARY_SECONDS",
    "NameLimiter",
    "RateLimits",
    "parse_rate_rules",
]

#: A suppression window closes with a summary at least this often under a steady flood.
SUMMARY_SECONDS = 10
_SUMMARY_NS = SUMMARY_SECONDS * 1_000_000_000
#: Buckets (templates) tracked per logger name.
MAX_TEMPLATES = 1000
#: Logger names with a limiter of their own, per pipeline.
MAX_NAMES = 10_000
#: The scope of the limiter shared by the logger names beyond MAX_NAMES.
OVERFLOW_NAME = "fapilog.ratelimit.overflow"


class Bucket:
    """One template's token bucket and its suppression window."""

    __slots__ = ("allow_at", "dropped", "first", "severity", "tat")

    def __init__(self, tat: int, allow_at: int) -> None:
        #: Theoretical arrival time of the next event (the bucket is full once passed).
        self.tat = tat
        #: The earliest time the next event is admitted (``tat`` minus the burst).
        self.allow_at = allow_at
        #: Events suppressed since the last summary.
        self.dropped = 0
        #: When the suppression window opened: the last event admitted before the
        #: first suppressed one (the clock's ns; the drop path stays free of it).
        self.first = 0
        #: The highest severity among them.
        self.severity = 0


class _Scope:
    """What the worker reads of a record's logger: a scope and no bound fields."""

    __slots__ = ("_fields", "_scope")

    def __init__(self, name: str) -> None:
        self._scope = InstrumentationScope(name)
        self._fields: dict[str, Any] = {}


class NameLimiter(dict[Any, Bucket]):
    """The buckets of one logger name on one pipeline: template -> :class:`Bucket`.

    The level methods inline the drop of an event whose bucket is empty (see
    :mod:`fapilog._logger`): ``limiter[msg]`` (``None`` for a new template, see
    :meth:`__missing__`), then the clock; they call :meth:`admit` otherwise.
    """

    __slots__ = (
        "_intake",
        "_scope",
        "clock",
        "evicted",
        "interval",
        "lock",
        "summaries",
        "summarized",
        "tolerance",
    )

    def __init__(
        self, intake: Intake, name: str, rate: float, burst: int, clock: Callable[[], int]
    ) -> None:
        super().__init__()
        self.clock = clock
        #: ns between two admitted events at the steady rate.
        self.interval = max(1, round(1e9 / rate))
        #: how far ahead of the steady rate a burst may run.
        self.tolerance = (burst - 1) * self.interval
        #: Dropped events reported in summary records (the rest: in the buckets).
        self.summarized = 0
        self.summaries = 0
        self.evicted = 0
        self.lock = threading.Lock()
        self._intake = intake
        self._scope = _Scope(name)

    def __missing__(self, key: Any) -> None:
        """A template without a bucket (yet): ``None``, no exception on the hot path."""
        return None

    def __repr__(self) -> str:
        return f"<NameLimiter {self._scope._scope.name!r} templates={len(self)}>"

    def admit(self, msg: Any, severity: int) -> bool:
        """Whether an event of template ``msg`` is admitted now (summary first if due)."""
        key = msg if type(msg) is str else type(msg)
        now = self.clock()
        bucket = self.get(key)
        if bucket is None:
            if len(self) >= MAX_TEMPLATES:
                self._evict()
            tat = now + self.interval
            bucket = self[key] = Bucket(tat, tat - self.tolerance)
            bucket.first = now
            return True
        if now < bucket.allow_at:
            bucket.dropped += 1
            if severity > bucket.severity:
                bucket.severity = severity
            return False
        tat = bucket.tat
        if bucket.dropped:
            if now >= tat or now - bucket.first >= _SUMMARY_NS:
                with self.lock:
                    self._summary(key, bucket, now)
                bucket.first = now
        else:
            bucket.first = now
        tat = (tat if tat > now else now) + self.interval
        bucket.tat = tat
        bucket.allow_at = tat - self.tolerance
        return True

    def dropped(self) -> int:
        """Events this limiter dropped so far (every template)."""
        with self.lock:
            return self.summarized + sum(b.dropped for b in list(self.values()))

    def _summary(self, key: Any, bucket: Bucket, now: int) -> None:
        """Enqueue the summary of ``bucket``'s suppressed events (holding ``lock``)."""
        count = bucket.dropped
        if not count:
            return
        # The two statements run without a thread switch between them under the GIL:
        # dropped() (holding the lock) sees the count in one place or the other.
        bucket.dropped = 0
        self.summarized += count
        seconds = round(max(0, now - bucket.first) / 1e9, 3)
        severity, bucket.severity = bucket.severity, 0
        self.summaries += 1
        template = key if type(key) is str else getattr(key, "__qualname__", str(key))
        shown = f"{seconds:.1f}".rstrip("0").rstrip(".")
        fields: dict[str, Any] = {
            "fapilog.suppressed_count": count,
            "fapilog.suppressed_seconds": seconds,
            "fapilog.suppressed_template": template,
        }
        self._intake.enqueue(
            capture_record(
                time.time_ns(),
                severity,
                f"suppressed {count:,} similar events in {shown} s",
                (),
                fields,
                self._scope,
                None,
            )
        )

    def _evict(self) -> None:
        with self.lock:
            now = self.clock()
            for key, bucket in list(self.items()):
                self._summary(key, bucket, now)
            self.evicted += len(self)
            self.clear()

    def flush(self) -> None:
        """Enqueue the summaries still pending (at shutdown)."""
        with self.lock:
            now = self.clock()
            for key, bucket in list(self.items()):
                self._summary(key, bucket, now)


class RateLimits:
    """The rate limits of one pipeline's intake: the settings and a limiter per name.

    Args:
        intake: where summary records go.
        rate: events per second per logger and template; ``None``: no limit unless a
            rule gives one.
        burst: events admitted at once; ``None``: one second's worth (at least 1).
        rules: per logger-name prefix, its rate (``None``: no limit); the longest
            dotted prefix wins over ``rate``.
        clock: monotonic nanoseconds (tests inject a fake one).
    """

    def __init__(
        self,
        intake: Intake,
        rate: float | None,
        burst: int | None = None,
        rules: Mapping[str, float | None] | None = None,
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self._intake = intake
        self.rate = rate
        self.burst = burst
        self.rules = dict(rules or {})
        self.clock = clock
        self._limiters: dict[str, NameLimiter] = {}
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        """Whether any logger may be limited."""
        return self.rate is not None or any(r is not None for r in self.rules.values())

    def rate_for(self, name: str) -> float | None:
        """The rate that applies to ``name`` (longest dotted prefix of the rules)."""
        key = name
        while True:
            if key in self.rules:
                return self.rules[key]
            dot = key.rfind(".")
            if dot < 0:
                return self.rate
            key = key[:dot]

    def for_name(self, name: str) -> NameLimiter | None:
        """The limiter of logger ``name``, or ``None`` when no limit applies to it."""
        limiter = self._limiters.get(name)
        if limiter is not None:
            return limiter
        rate = self.rate_for(name)
        if rate is None:
            return None
        with self._lock:
            limiter = self._limiters.get(name)
            if limiter is None:
                if len(self._limiters) >= MAX_NAMES:
                    name = OVERFLOW_NAME
                    limiter = self._limiters.get(name)
                if limiter is None:
                    burst = self.burst if self.burst is not None else max(1, math.ceil(rate))
                    limiter = NameLimiter(self._intake, name, rate, burst, self.clock)
                    self._limiters[name] = limiter
            return limiter

    def reset(self) -> None:
        """Forget every bucket and count (a forked child starts its books at zero)."""
        self._lock = threading.Lock()  # another thread may have held it at the fork
        for limiter in list(self._limiters.values()):
            limiter.clear()
            limiter.summarized = limiter.summaries = limiter.evicted = 0
            limiter.lock = threading.Lock()

    def set_clock(self, clock: Callable[[], int]) -> None:
        """Use ``clock`` (monotonic ns) from now on, in every limiter (tests)."""
        self.clock = clock
        for limiter in list(self._limiters.values()):
            limiter.clock = clock

    def dropped(self) -> int:
        """Events dropped by every limiter of this pipeline so far."""
        return sum(limiter.dropped() for limiter in list(self._limiters.values()))

    def counts(self) -> dict[str, int]:
        """``rate_limit.summaries`` (records enqueued), ``rate_limit.evicted`` (buckets
        cleared to stay bounded), ``rate_limit.loggers`` (names with a limiter)."""
        limiters = list(self._limiters.values())
        return {
            "rate_limit.summaries": sum(limiter.summaries for limiter in limiters),
            "rate_limit.evicted": sum(limiter.evicted for limiter in limiters),
            "rate_limit.loggers": len(limiters),
        }

    def flush(self) -> None:
        """Enqueue every pending summary (the pipeline is shutting down)."""
        for limiter in list(self._limiters.values()):
            limiter.flush()


def _rate(value: object) -> float | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("off", "none")):
        return None
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a rate")
    rate = float(value)  # type: ignore[arg-type]  # str, int or float; ValueError otherwise
    if not rate > 0 or math.isinf(rate):
        raise ValueError(f"a rate is events per second above 0 (or off), not {value!r}")
    return rate


def parse_rate_rules(value: str | Mapping[str, object]) -> dict[str, float | None]:
    """``"shop.db=100,chatty=off"`` (or a mapping) as per-logger rates; ``off``: no limit.

    Raises:
        ValueError: a rule is not ``name=RATE`` or its rate is not above 0.
    """
    if not isinstance(value, str):
        return {str(name).strip(): _rate(rate) for name, rate in value.items()}
    rules: dict[str, float | None] = {}
    for part in value.split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, rate = part.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"{part!r} is not name=RATE")
        rules[name.strip()] = _rate(rate)
    return rules
