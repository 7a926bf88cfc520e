"""RetryPolicy: the backoff every lane and the OTel adapter use between attempts."""

from __future__ import annotations

import dataclasses
import math
import random
from types import SimpleNamespace

import pytest

from fapilog._retry import RetryPolicy


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
