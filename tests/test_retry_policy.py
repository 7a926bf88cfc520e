"""RetryPolicy: the backoff every lane and the OTel adapter use between attempts."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import math
import random
import time
from types import SimpleNamespace
from typing import TYPE_CHECKING

import pytest

from fapilog import Exporter, ExportResult, Pipeline
from fapilog._diagnostics import reporter
from fapilog._retry import RetryPolicy

if TYPE_CHECKING:
    from collections.abc import Sequence

    from fapilog import LogEvent


def test_defaults_match_the_lane_backoff_of_before() -> None:
    policy = RetryPolicy()
    assert (policy.initial_backoff, policy.max_backoff, policy.multiplier) == (0.1, 1.0, 2.0)
    assert policy.jitter == "full"
    assert policy.max_attempts is None


def test_cap_grows_by_the_multiplier_up_to_max_backoff() -> None:
    policy = RetryPolicy(initial_backoff=0.1, max_backoff=1.0, multiplier=3.0)
    assert [round(policy.cap(n), 6) for n in range(4)] == [0.1, 0.3, 0.9, 1.0]


def test_cap_of_a_huge_attempt_is_max_backoff_not_an_overflow() -> None:
    assert RetryPolicy(multiplier=10.0).cap(10_000) == 1.0


def test_no_jitter_waits_exactly_the_cap() -> None:
    policy = RetryPolicy(initial_backoff=0.25, max_backoff=2.0, jitter="none")
    assert [policy.delay(n) for n in range(5)] == [0.25, 0.5, 1.0, 2.0, 2.0]


@pytest.mark.parametrize(("jitter", "low_share"), [("full", 0.0), ("equal", 0.5)])
def test_jittered_delays_stay_within_their_range_and_vary(jitter: str, low_share: float) -> None:
    policy = RetryPolicy(initial_backoff=0.2, max_backoff=0.8, jitter=jitter)  # type: ignore[arg-type]
    for attempt in range(6):
        cap = policy.cap(attempt)
        delays = [policy.delay(attempt) for _ in range(200)]
        assert all(cap * low_share <= d <= cap for d in delays)
        assert len(set(delays)) > 100  # drawn, not fixed


def test_jitter_does_not_touch_the_global_random_state() -> None:
    random.seed(7)
    expected = random.random()
    random.seed(7)
    RetryPolicy().delay(3)
    assert random.random() == expected


def test_retry_after_is_a_minimum_even_beyond_max_backoff() -> None:
    policy = RetryPolicy(initial_backoff=0.1, max_backoff=1.0, jitter="none")
    assert policy.delay(0, retry_after=7.5) == 7.5
    assert policy.delay(0, retry_after=0.05) == 0.1  # the backoff is longer: it wins
    assert policy.delay(0, retry_after=None) == 0.1


def test_max_attempts_counts_the_first_call() -> None:
    assert RetryPolicy(max_attempts=1).allows_retry(1) is False
    three = RetryPolicy(max_attempts=3)
    assert [three.allows_retry(n) for n in (1, 2, 3, 4)] == [True, True, False, False]
    assert RetryPolicy().allows_retry(10**6) is True


def test_policy_is_frozen_and_comparable() -> None:
    policy = RetryPolicy()
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.max_backoff = 5.0  # type: ignore[misc]
    assert policy == RetryPolicy()
    assert hash(policy) == hash(RetryPolicy())


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        ({"initial_backoff": -0.1}, "initial_backoff"),
        ({"initial_backoff": math.nan}, "initial_backoff"),
        ({"max_backoff": math.inf}, "max_backoff"),
        ({"max_backoff": "1"}, "max_backoff"),
        ({"initial_backoff": 2.0, "max_backoff": 1.0}, "max_backoff"),
        ({"multiplier": 0.5}, "multiplier"),
        ({"multiplier": True}, "multiplier"),
        ({"jitter": "random"}, "jitter"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": 2.5}, "max_attempts"),
        ({"max_attempts": True}, "max_attempts"),
    ],
)
def test_invalid_arguments_raise_a_value_error_naming_them(
    kwargs: dict[str, object], names: str
) -> None:
    with pytest.raises(ValueError, match=rf"RetryPolicy: {names}") as info:
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
    assert repr(kwargs[names]) in str(info.value)  # the offending value is shown


def test_negative_attempt_is_refused() -> None:
    with pytest.raises(ValueError, match="attempt must be >= 0"):
        RetryPolicy().delay(-1)


def test_from_settings_reads_the_retry_settings_in_milliseconds() -> None:
    settings = SimpleNamespace(
        retry_initial_backoff_ms=250, retry_max_backoff_ms=4000, retry_max_attempts=5
    )
    assert RetryPolicy.from_settings(settings) == RetryPolicy(
        initial_backoff=0.25, max_backoff=4.0, max_attempts=5
    )


def test_from_settings_without_the_fields_gives_the_defaults() -> None:
    assert RetryPolicy.from_settings(object()) == RetryPolicy()


def test_from_settings_raises_a_ceiling_below_the_initial_backoff() -> None:
    settings = SimpleNamespace(retry_initial_backoff_ms=500, retry_max_backoff_ms=100)
    policy = RetryPolicy.from_settings(settings)
    assert policy.max_backoff == policy.initial_backoff == 0.5


def test_from_real_settings() -> None:
    from fapilog.config import Settings

    policy = RetryPolicy.from_settings(Settings())
    assert policy.initial_backoff >= 0
    assert policy.max_backoff >= policy.initial_backoff


# -- the policy in a pipeline's lane ------------------------------------------------------


class _Scripted(Exporter):
    """Answers retryable ``fails`` times (with ``retry_after``), then delivers."""

    name = "scripted"

    def __init__(self, fails: int, retry_after: float | None = None) -> None:
        self.fails = fails
        self.retry_after = retry_after
        self.calls: list[float] = []  # loop time of each call
        self.delivered = 0

    async def export(self, batch: Sequence[LogEvent]) -> ExportResult:
        self.calls.append(asyncio.get_running_loop().time())
        if len(self.calls) <= self.fails:
            return ExportResult.retryable("busy", retry_after=self.retry_after)
        self.delivered += len(batch)
        return ExportResult.success()


def _gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


def test_an_exporters_own_policy_spaces_its_retries() -> None:
    exporter = _Scripted(fails=3)
    exporter.retry_policy = RetryPolicy(
        initial_backoff=0.04, max_backoff=0.1, multiplier=2.0, jitter="none"
    )
    pipeline = Pipeline(exporters=[exporter], schedule_delay_ms=5)
    pipeline.get_logger("x").info("m")
    assert pipeline.flush(timeout=5)
    stats = pipeline.stats()
    pipeline.shutdown()
    assert exporter.delivered == 1
    assert stats.exporters["scripted"].retries == 3
    gaps = _gaps(exporter.calls)
    assert len(gaps) == 3
    for gap, wanted in zip(gaps, [0.04, 0.08, 0.1], strict=True):
        assert wanted - 0.005 <= gap < wanted + 0.5


def test_max_attempts_ends_the_retries_before_the_export_timeout() -> None:
    exporter = _Scripted(fails=100)
    exporter.retry_policy = RetryPolicy(initial_backoff=0.0, max_backoff=0.0, max_attempts=3)
    pipeline = Pipeline(exporters=[exporter], schedule_delay_ms=5, export_timeout_ms=30_000)
    pipeline.get_logger("x").info("m")
    started = time.monotonic()
    assert pipeline.flush(timeout=5)
    assert time.monotonic() - started < 2
    stats = pipeline.stats()
    pipeline.shutdown()
    assert len(exporter.calls) == 3
    assert stats.exporters["scripted"].retries == 2
    assert stats.exporters["scripted"].dropped == {"retry_exhausted": 1}
    assert stats.dropped == {"export_retry_exhausted": 1}


def test_retry_after_beyond_max_backoff_is_still_waited_for() -> None:
    exporter = _Scripted(fails=1, retry_after=0.3)
    exporter.retry_policy = RetryPolicy(initial_backoff=0.0, max_backoff=0.01)
    pipeline = Pipeline(exporters=[exporter], schedule_delay_ms=5)
    pipeline.get_logger("x").info("m")
    assert pipeline.flush(timeout=5)
    pipeline.shutdown()
    assert exporter.delivered == 1
    (gap,) = _gaps(exporter.calls)
    assert gap >= 0.3 - 0.005


def test_a_retry_policy_that_is_not_one_falls_back_to_the_pipelines_and_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    said: list[tuple[str, str]] = []
    monkeypatch.setattr(reporter, "report", lambda key, message: said.append((key, message)))
    exporter = _Scripted(fails=2)
    exporter.retry_policy = {"max_attempts": 1}  # type: ignore[assignment]
    pipeline = Pipeline(exporters=[exporter], schedule_delay_ms=5)
    pipeline.get_logger("x").info("m")
    assert pipeline.flush(timeout=5)
    pipeline.shutdown()
    assert exporter.delivered == 1  # retried by the default policy, not limited to 1 call
    assert len(exporter.calls) == 3
    notes = [message for key, message in said if key == "retry_policy:scripted"]
    assert notes
    assert "not a RetryPolicy" in notes[0]
