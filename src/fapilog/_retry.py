"""RetryPolicy: how long to wait between two attempts of one batch.

One implementation serves every place that retries an export: each lane of a
pipeline (:mod:`fapilog.pipeline._batch`) and the OTel SDK adapter
(:mod:`fapilog.otel`). The deadline is not part of the policy: it stays the export
timeout of whoever retries, and the last attempt is made just before it.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Literal

__all__ = ["JITTERS", "RetryPolicy"]

#: The jitter modes :class:`RetryPolicy` accepts.
JITTERS = ("full", "equal", "none")

# A private generator: retry jitter must not advance (or race with) the application's
# global random state.
_JITTER = random.Random()


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter, a ceiling and an optional attempt limit.

    The pause before retry ``n`` (counted from 0) is drawn from
    ``min(max_backoff, initial_backoff * multiplier**n)`` (the *cap*) according to
    ``jitter``; a ``retry_after`` the backend asked for is a minimum on top of that.
    Policies are immutable and cheap; compare and share them freely.

    Args:
        initial_backoff: the cap before the first retry, in seconds (>= 0).
        max_backoff: the largest cap, in seconds (>= ``initial_backoff``): a
            destination that comes back is used again within about this long.
        multiplier: growth of the cap per retry (>= 1).
        jitter: ``"full"`` draws uniformly from ``[0, cap]`` (spreads clients out
            best), ``"equal"`` from ``[cap/2, cap]``, ``"none"`` waits exactly ``cap``.
        max_attempts: the most export calls for one batch, the first included
            (>= 1); ``None`` retries until the export timeout.

    Raises:
        ValueError: when an argument is out of range; the message names it.
    """

    initial_backoff: float = 0.1
    max_backoff: float = 1.0
    multiplier: float = 2.0
    jitter: Literal["full", "equal", "none"] = "full"
    max_attempts: int | None = None

    def __post_init__(self) -> None:
        _check_seconds("initial_backoff", self.initial_backoff)
        _check_seconds("max_backoff", self.max_backoff)
        if self.max_backoff < self.initial_backoff:
            raise ValueError(
                f"RetryPolicy: max_backoff ({self.max_backoff!r}) must be >= "
                f"initial_backoff ({self.initial_backoff!r})"
            )
        if (
            isinstance(self.multiplier, bool)
            or not isinstance(self.multiplier, (int, float))
            or not math.isfinite(self.multiplier)
            or self.multiplier < 1
        ):
            raise ValueError(
                f"RetryPolicy: multiplier must be a finite number >= 1, got {self.multiplier!r}"
            )
        if self.jitter not in JITTERS:
            raise ValueError(
                f"RetryPolicy: jitter must be one of {', '.join(map(repr, JITTERS))}, "
                f"got {self.jitter!r}"
            )
        if self.max_attempts is not None and (
            isinstance(self.max_attempts, bool)
            or not isinstance(self.max_attempts, int)
            or self.max_attempts < 1
        ):
            raise ValueError(
                f"RetryPolicy: max_attempts must be None or an integer >= 1, "
                f"got {self.max_attempts!r}"
            )

    def cap(self, attempt: int) -> float:
        """The longest backoff before retry number ``attempt`` (0 for the first retry).

        Args:
            attempt: how many retries were made before this one.

        Returns:
            ``min(max_backoff, initial_backoff * multiplier**attempt)`` in seconds.
        """
        if attempt < 0:
            raise ValueError(f"RetryPolicy: attempt must be >= 0, got {attempt!r}")
        try:
            grown = self.initial_backoff * self.multiplier**attempt
        except OverflowError:
            return self.max_backoff
        return min(self.max_backoff, grown)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (0 for the first retry).

        Args:
            attempt: how many retries were made before this one: 0 after the first
                attempt failed, 1 after the second, and so on.
            retry_after: seconds the backend asked to wait (from a ``Retry-After``
                header or :attr:`ExportResult.retry_after`); a minimum, never cut to
                ``max_backoff``. ``None`` when it did not ask.

        Returns:
            The pause in seconds (>= 0). The caller still bounds it by its deadline.

        Raises:
            ValueError: when ``attempt`` is negative.
        """
        cap = self.cap(attempt)
        if self.jitter == "full":
            pause = _JITTER.uniform(0.0, cap)
        elif self.jitter == "equal":
            pause = _JITTER.uniform(cap / 2, cap)
        else:
            pause = cap
        if retry_after is not None and retry_after > pause:
            pause = float(retry_after)
        return pause

    def allows_retry(self, attempts: int) -> bool:
        """Whether another attempt may follow ``attempts`` calls made for one batch.

        Args:
            attempts: export calls made so far for the batch (>= 1).

        Returns:
            False once ``max_attempts`` calls were made; always True without a limit
            (the deadline still ends the retries).
        """
        return self.max_attempts is None or attempts < self.max_attempts

    @classmethod
    def from_settings(cls, settings: object) -> RetryPolicy:
        """The policy the ``retry_*`` settings describe.

        Reads ``retry_initial_backoff_ms`` (default 100), ``retry_max_backoff_ms``
        (default 1000) and ``retry_max_attempts`` (default ``None``) from
        ``settings`` (a :class:`fapilog.Settings`); a missing field takes its default.
        A ``retry_max_backoff_ms`` below the initial backoff is raised to it.

        Args:
            settings: the settings object.

        Returns:
            A validated policy with full jitter and a multiplier of 2.
        """
        initial = getattr(settings, "retry_initial_backoff_ms", 100) / 1000
        ceiling = getattr(settings, "retry_max_backoff_ms", 1000) / 1000
        return cls(
            initial_backoff=initial,
            max_backoff=max(initial, ceiling),
            max_attempts=getattr(settings, "retry_max_attempts", None),
        )


def _check_seconds(name: str, value: object) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(
            f"RetryPolicy: {name} must be a finite number of seconds >= 0, got {value!r}"
        )
