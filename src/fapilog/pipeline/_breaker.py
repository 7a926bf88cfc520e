"""A circuit breaker per exporter lane: stop hammering a destination that keeps failing.

``closed`` (normal) → ``open`` after :data:`FAILURE_THRESHOLD` batches in a row were
lost (timed out, retries exhausted or refused); while open the lane makes no export
call and keeps its (bounded) backlog; after the cool-down it goes ``half_open`` and
sends one probe: a single attempt with the batch at the head of its backlog. A
delivered probe closes the circuit; a failed one reopens it with twice the cool-down
(up to :data:`MAX_COOLDOWN`). The probe's batch is not lost when the probe fails: it
stays at the head of the backlog.
"""

from __future__ import annotations

__all__ = ["BASE_COOLDOWN", "FAILURE_THRESHOLD", "MAX_COOLDOWN", "CircuitBreaker"]

#: Lost batches in a row that open the circuit.
FAILURE_THRESHOLD = 3
#: Seconds the circuit stays open the first time.
BASE_COOLDOWN = 1.0
#: The cool-down doubles with each failed probe, up to this many seconds.
MAX_COOLDOWN = 10.0


class CircuitBreaker:
    """The state of one lane's circuit; driven by the lane's task (one event loop)."""

    __slots__ = ("_cooldown", "_failures", "opened", "reopen_at", "state")

    def __init__(self) -> None:
        self.state = "closed"
        #: How many times the circuit opened (for stats).
        self.opened = 0
        #: Loop time at which an open circuit lets a probe through.
        self.reopen_at = 0.0
        self._failures = 0
        self._cooldown = BASE_COOLDOWN

    @property
    def is_closed(self) -> bool:
        """True while exports run normally."""
        return self.state == "closed"

    def batch_done(self, delivered: bool, now: float) -> None:
        """Record the outcome of one batch exported while the circuit was closed."""
        if delivered:
            self._failures = 0
            return
        self._failures += 1
        if self._failures >= FAILURE_THRESHOLD:
            self._open(now)

    def probe_due(self, now: float) -> float:
        """Seconds until an open circuit may probe (0: now; the state becomes ``half_open``)."""
        if self.state == "open":
            wait = self.reopen_at - now
            if wait > 0:
                return wait
            self.state = "half_open"
        return 0.0

    def probe_done(self, delivered: bool, now: float) -> None:
        """Record the outcome of the half-open probe."""
        if delivered:
            self.state = "closed"
            self._failures = 0
            self._cooldown = BASE_COOLDOWN
            return
        self._cooldown = min(self._cooldown * 2, MAX_COOLDOWN)
        self._open(now, again=True)

    def _open(self, now: float, *, again: bool = False) -> None:
        if not again:
            self._cooldown = BASE_COOLDOWN
        self.state = "open"
        self.opened += 1
        self.reopen_at = now + self._cooldown
