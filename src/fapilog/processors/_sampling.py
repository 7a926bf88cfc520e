"""Sampling: keep a share of the events, whole traces at a time, never the ones that matter.

A record with a trace id is kept when its trace is sampled by the rule of the OTel
SDK's ``TraceIdRatioBased`` sampler at the same ratio: the low 64 bits of the trace
id below ``round(ratio * 2**64)``. Every record of a trace, in every service using
the same ratio, gets the same decision, and it is the decision the SDK's sampler
makes for that trace id. A record without a trace id is kept by a dithered counter:
exactly ``ratio`` of them (within two events, however many), at randomised places.

Records at or above ``keep_level`` (WARN by default), audit events and the rate
limiter's summary records (``fapilog.suppressed_count``) are always
kept. Per-logger rules give other ratios to loggers by dotted prefix (the longest
matching prefix wins). What is left out is dropped under the reason ``sampled``,
which is a decision, never a loss.
"""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING, Any

from fapilog import _severity
from fapilog.errors import ConfigError
from fapilog.processors._base import Processor

if TYPE_CHECKING:
    from collections.abc import Mapping

    from fapilog._event import LogEvent
    from fapilog.config import Settings

__all__ = ["SamplingProcessor", "parse_ratio_rules", "trace_bound", "trace_sampled"]

#: The low 64 bits of a trace id are what the decision reads (as the SDK does, for
#: compatibility with 64-bit trace ids).
_LOW_64 = (1 << 64) - 1

#: Most logger names whose rule is remembered; beyond it the memo starts over.
_MEMO_LIMIT = 4096

#: ``keep_level`` values that turn the level exemption off.
_NO_LEVEL = frozenset({"off", "none", ""})


def trace_bound(ratio: float) -> int:
    """The bound a trace id's low 64 bits must stay below to be sampled at ``ratio``.

    The same number as ``opentelemetry.sdk.trace.sampling.TraceIdRatioBased
    .get_bound_for_rate(ratio)``: ``round(ratio * 2**64)``.
    """
    return round(ratio * (_LOW_64 + 1))


def trace_sampled(trace_id: int, ratio: float) -> bool:
    """Whether the trace ``trace_id`` is sampled at ``ratio``, as the SDK decides it."""
    return (trace_id & _LOW_64) < trace_bound(ratio)


class _Rate:
    """One ratio and its state: the trace-id bound and the dithered counter."""

    __slots__ = ("bound", "credit", "ratio", "threshold")

    def __init__(self, ratio: float, rng: random.Random) -> None:
        self.ratio = ratio
        self.bound = trace_bound(ratio)
        self.credit = 0.0
        self.threshold = rng.random()


class SamplingProcessor(Processor):
    """Keeps ``ratio`` of the events, trace-consistently, and always the important ones.

    Args:
        ratio: the share of events kept, from 0 (none) to 1 (all), for loggers no
            rule names.
        keep_level: records at or above this level are always kept (``"warn"``);
            ``"off"`` (or ``None``) keeps none for their level alone.
        rules: per-logger ratios by dotted prefix: ``{"shop.db": 0.01}`` applies to
            ``shop.db`` and ``shop.db.pool`` but not ``shop.dbx``; the longest
            matching prefix wins; ``""`` is the root (the same as ``ratio``).
        keep_sampled_traces: also keep every record whose W3C trace flags say the
            trace is sampled (the tracer records it), whatever the ratio; records of
            traces the tracer dropped follow the ratio by trace id. Off by default:
            the SDK's default sampler samples every trace, which would keep all
            traced records.
        seed: seeds the generator behind the counter of untraced records (tests).

    Raises:
        ConfigError: a ratio is not a number from 0 to 1, or the level is unknown.
    """

    api_version = "1.1"  # the fapilog.plugin API it is written for (drop_reason)

    #: It only drops, so the pipeline keeps the size it estimated at intake.
    keeps_size = True

    #: Events it leaves out are counted as ``sampled`` (a decision, not a loss).
    drop_reason = "sampled"

    def __init__(
        self,
        ratio: float = 1.0,
        *,
        keep_level: str | int | None = "warn",
        rules: Mapping[str, float] | str | None = None,
        keep_sampled_traces: bool = False,
        seed: int | None = None,
    ) -> None:
        self._rng = random.Random(seed)
        self.ratio = check_ratio(ratio, "sampling ratio")
        self.keep_level = _keep_level_number(keep_level)
        self.rules: dict[str, float] = (
            parse_ratio_rules(rules) if isinstance(rules, str) else _checked_rules(rules or {})
        )
        self.keep_sampled_traces = bool(keep_sampled_traces)
        self._default = _Rate(self.rules.get("", self.ratio), self._rng)
        self._rates: dict[str, _Rate] = {
            prefix: _Rate(value, self._rng) for prefix, value in self.rules.items() if prefix
        }
        self._memo: dict[str, _Rate] = {}
        self.kept = 0
        self.sampled = 0

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        ratio: float | None = None,
        keep_level: str | int | None = None,
        rules: Mapping[str, float] | str | None = None,
        keep_sampled_traces: bool | None = None,
        seed: int | None = None,
    ) -> SamplingProcessor:
        """Build from the ``sampling_*`` settings; options given here win over them."""
        return cls(
            settings.sampling_ratio if ratio is None else ratio,
            keep_level=settings.sampling_keep_level if keep_level is None else keep_level,
            rules=settings.sampling_rules if rules is None else rules,
            keep_sampled_traces=(
                settings.sampling_keep_sampled_traces
                if keep_sampled_traces is None
                else keep_sampled_traces
            ),
            seed=seed,
        )

    def __repr__(self) -> str:
        return (
            f"SamplingProcessor(ratio={self.ratio}, keep_level={self.keep_level}, "
            f"rules={self.rules!r}, keep_sampled_traces={self.keep_sampled_traces})"
        )

    def on_emit(self, event: LogEvent) -> bool:
        """Keep (True) or leave out (False, counted as ``sampled``) one event."""
        if self.keep(event):
            self.kept += 1
            return True
        self.sampled += 1
        return False

    def keep(self, event: LogEvent) -> bool:
        """The decision for ``event``, without counting it."""
        if event.severity_number >= self.keep_level:
            return True
        if event.event_name == "audit" or event.attributes.get("fapilog.audit") is True:
            return True
        if "fapilog.suppressed_count" in event.attributes:
            return True  # a rate limiter's summary: the count of what it left out
        rate = self._rate_for(event.scope_name) if self._rates else self._default
        if rate.ratio >= 1.0:
            return True
        trace_id = event.trace_id
        if trace_id:
            if self.keep_sampled_traces and event.trace_flags & 1:
                return True
            return (trace_id & _LOW_64) < rate.bound
        # No trace: a counter that earns `ratio` per event and spends 1 per kept
        # event, at a random threshold, so exactly `ratio` is kept (to within two
        # events) and never at a fixed stride a periodic pattern could alias with.
        credit = rate.credit + rate.ratio
        if credit >= rate.threshold and rate.ratio > 0.0:
            rate.credit = credit - 1.0
            rate.threshold = self._rng.random()
            return True
        rate.credit = credit
        return False

    def _rate_for(self, name: str) -> _Rate:
        rate = self._memo.get(name)
        if rate is not None:
            return rate
        rate = self._default
        probe = name
        while probe:
            found = self._rates.get(probe)
            if found is not None:
                rate = found
                break
            cut = probe.rfind(".")
            probe = probe[:cut] if cut > 0 else ""
        if len(self._memo) >= _MEMO_LIMIT:
            self._memo.clear()
        self._memo[name] = rate
        return rate

    def counts(self) -> Mapping[str, int]:
        """``sampling.kept`` and ``sampling.sampled`` (events left out) so far."""
        return {"sampling.kept": self.kept, "sampling.sampled": self.sampled}


def check_ratio(value: Any, what: str) -> float:
    """``value`` as a float from 0 to 1.

    Raises:
        ConfigError: it is not a number (a bool is not one), not finite, or outside 0..1.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise ConfigError(
                    f"{what} ({value!r}) is not a number; use a ratio from 0 to 1 such as 0.1",
                    fields=("sampling_ratio",),
                ) from None
        else:
            raise ConfigError(
                f"{what} must be a number from 0 to 1, not {type(value).__name__}",
                fields=("sampling_ratio",),
            )
    ratio = float(value)
    if not math.isfinite(ratio) or not 0.0 <= ratio <= 1.0:
        raise ConfigError(
            f"{what} ({value!r}) is outside 0..1; use e.g. 0.1 to keep one event in ten",
            fields=("sampling_ratio",),
        )
    return ratio


def parse_ratio_rules(text: str) -> dict[str, float]:
    """Parse ``"shop.db=0.01,urllib3=0"`` into ``{"shop.db": 0.01, "urllib3": 0.0}``.

    Raises:
        ConfigError: an entry has no ``=``, an empty or repeated logger name, or a
            ratio that is not a number from 0 to 1.
    """
    rules: dict[str, str] = {}
    for part in text.split(","):
        entry = part.strip()
        if not entry:
            continue
        name, sep, value = entry.partition("=")
        if not sep:
            raise ConfigError(
                f"sampling rule {entry!r} has no '='; write logger=ratio, "
                'e.g. "shop.db=0.01,urllib3=0"',
                fields=("sampling_rules",),
            )
        if name.strip() in rules:
            raise ConfigError(
                f"sampling rule {name.strip()!r} is given twice", fields=("sampling_rules",)
            )
        rules[name.strip()] = value.strip()
    return _checked_rules(rules)


def _checked_rules(rules: Mapping[Any, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, value in rules.items():
        if not isinstance(name, str):
            raise ConfigError(
                f"sampling rule key {name!r} is not a logger name (a str)",
                fields=("sampling_rules",),
            )
        key = name.strip()
        if key == "*":
            key = ""
        if key.startswith(".") or key.endswith(".") or ".." in key:
            raise ConfigError(
                f"sampling rule {name!r} is not a dotted logger name such as 'shop.db'",
                fields=("sampling_rules",),
            )
        if key in out:
            raise ConfigError(f"sampling rule {name!r} is given twice", fields=("sampling_rules",))
        try:
            out[key] = check_ratio(value, f"sampling ratio for logger {key or '(root)'!r}")
        except ConfigError as exc:
            raise ConfigError(str(exc), fields=("sampling_rules",)) from None
    return out


def _keep_level_number(level: str | int | None) -> int:
    """The severity number from which records are always kept (25: none are)."""
    if level is None or (isinstance(level, str) and level.strip().lower() in _NO_LEVEL):
        return 25  # above FATAL's range: no record is kept for its level alone
    try:
        if isinstance(level, str) and level.strip().isdigit():
            return _severity.parse_level(int(level.strip()))
        return _severity.parse_level(level)
    except ValueError:
        raise ConfigError(
            f"sampling keep level {level!r} is unknown; use TRACE, DEBUG, INFO, WARN, "
            "ERROR, FATAL or off",
            fields=("sampling_keep_level",),
        ) from None
