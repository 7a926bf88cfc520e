"""``AlertExporter``: rules evaluated in an exporter lane, notifications sent off it."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Any, ClassVar

from fapilog.alerting._delivery import Delivery
from fapilog.alerting._engine import RuleEngine
from fapilog.alerting._notifiers import Notifier
from fapilog.alerting._rules import AlertRule
from fapilog.plugin import ConfigError, Exporter, ExportResult, report

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from os import PathLike

    from fapilog.plugin import LogEvent

__all__ = ["AlertExporter"]


def _check_seconds(name: str, value: object, *, zero: bool = False) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or value < 0
        or (value == 0 and not zero)
        or value != value
    ):
        raise ConfigError(f"AlertExporter: {name}: must be a number of seconds > 0, got {value!r}")
    return float(value)


class AlertExporter(Exporter):
    """An exporter that evaluates alert rules over the events it is given and notifies.

    It sits in its own lane of the pipeline like any exporter, so whatever it does
    cannot hold up the application or the other exporters: ``export()`` counts the
    matching records (no I/O) and queues notifications; each notifier's own task sends
    them with retries; a full queue drops (counted), it never waits. ``export()``
    always reports success: an alerting problem never counts an event as undelivered.

    ``drop_rate`` rules read the pipeline's :meth:`~fapilog.Pipeline.stats` every
    ``evaluate_every`` seconds: by default those of the default pipeline
    (:func:`fapilog.stats`, the one :func:`fapilog.configure` installs); for another
    pipeline pass ``stats=pipeline.stats`` or call :meth:`watch`.

    Args:
        rules: the alert rules (names unique).
        notifiers: where notifications go (names unique); a rule's ``notify`` picks
            some of them by name, all by default.
        stats: returns the stats ``drop_rate`` rules read (default
            :func:`fapilog.stats`).
        evaluate_every: seconds between two evaluations of time passing (resolving
            groups whose window emptied) and of ``drop_rate`` rules.
        shutdown_grace: seconds :meth:`shutdown` gives queued notifications to go out
            before it gives up on them (counted ``dropped.shutdown``).
        clock: monotonic seconds for windows and rate limits (tests inject one).
        wall_ns: nanoseconds since the epoch for payload times.
        name: the exporter's name in stats and diagnostics (default ``"alerts"``).

    Raises:
        ConfigError: no rule or no notifier, duplicate names, a rule naming an unknown
            notifier, or an option out of range.
    """

    api_version: ClassVar[str | None] = "1.0"
    name = "alerts"

    def __init__(
        self,
        rules: Sequence[AlertRule],
        notifiers: Sequence[Notifier],
        *,
        stats: Callable[[], Any] | None = None,
        evaluate_every: float = 1.0,
        shutdown_grace: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        wall_ns: Callable[[], int] = time.time_ns,
        name: str | None = None,
    ) -> None:
        rules = tuple(rules)
        notifiers = tuple(notifiers)
        if not rules:
            raise ConfigError("AlertExporter: rules: give at least one AlertRule")
        if not notifiers:
            raise ConfigError(
                "AlertExporter: notifiers: give at least one notifier (WebhookNotifier, "
                "SlackNotifier)"
            )
        for rule in rules:
            if not isinstance(rule, AlertRule):
                raise ConfigError(
                    f"AlertExporter: rules: expected AlertRule objects, got {type(rule).__name__}"
                )
        for notifier in notifiers:
            if not isinstance(notifier, Notifier):
                raise ConfigError(
                    "AlertExporter: notifiers: expected notifiers (WebhookNotifier, "
                    f"SlackNotifier), got {type(notifier).__name__}"
                )
        _unique("rule", [r.name for r in rules])
        _unique("notifier", [n.name for n in notifiers])
        known = {n.name for n in notifiers}
        for rule in rules:
            unknown = [n for n in rule.notify if n not in known]
            if unknown:
                raise ConfigError(
                    f"alert rule {rule.name!r}: notify: no notifier named "
                    f"{', '.join(map(repr, unknown))}; known: {', '.join(sorted(known))}",
                    fields=("alert_rules",),
                )
        self.rules = rules
        self.notifiers = notifiers
        self.evaluate_every = _check_seconds("evaluate_every", evaluate_every)
        self.shutdown_grace = _check_seconds("shutdown_grace", shutdown_grace, zero=True)
        if name:
            self.name = name
        self._stats = stats
        self._engine = RuleEngine(rules, clock=clock, wall_ns=wall_ns)
        self._delivery = Delivery(notifiers)
        self._ticker: asyncio.Task[None] | None = None
        self._ticker_loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def from_settings(
        cls,
        settings: object,
        *,
        rules: str | PathLike[str] | None = None,
        evaluate_every: float = 1.0,
        shutdown_grace: float = 2.0,
    ) -> AlertExporter:
        """Build from a rules file: ``rules=`` or the ``alert_rules`` setting.

        This is how ``configure(exporters={"alerts": {...}})`` and
        ``FAPILOG_EXPORTERS=alerts`` build it (entry point ``alerts``).

        Args:
            settings: the :class:`fapilog.Settings`; its ``alert_rules``
                (``FAPILOG_ALERT_RULES``) names the file unless ``rules=`` does.
            rules: the rules file (TOML or JSON), overriding the setting.
            evaluate_every: see the class.
            shutdown_grace: see the class.

        Raises:
            ConfigError: no file named, or the file is invalid (the message names the
                file, the rule or notifier, and the field).
        """
        from fapilog.alerting._config import load_rules

        path = rules if rules is not None else getattr(settings, "alert_rules", None)
        if path is None:
            raise ConfigError(
                "the alerts exporter needs a rules file: set FAPILOG_ALERT_RULES (the "
                "alert_rules setting) or pass rules='alerts.toml' in its options",
                fields=("alert_rules",),
            )
        config = load_rules(path)
        return cls(
            config.rules,
            config.notifiers,
            evaluate_every=evaluate_every,
            shutdown_grace=shutdown_grace,
        )

    def __repr__(self) -> str:
        return (
            f"AlertExporter(rules={[r.name for r in self.rules]!r}, "
            f"notifiers={list(self.notifiers)!r})"
        )

    __str__ = __repr__

    # -- public helpers --------------------------------------------------------------------

    def watch(self, pipeline: Any) -> None:
        """Read ``drop_rate`` rules from ``pipeline.stats()`` instead of the default's."""
        self._stats = pipeline.stats

    def evaluate_now(self) -> None:
        """Evaluate time passing and ``drop_rate`` rules now (any thread; tests use it)."""
        self._evaluate()

    def counts(self) -> dict[str, int]:
        """What alerting did so far: notifications ``sent``, ``failed``, ``retries``,
        ``suppressed`` (rate limit), ``dropped.queue_full``, ``dropped.shutdown``,
        ``pending``, groups ``firing`` now and records of untracked groups
        (``groups_overflow``)."""
        out = self._delivery.counts()
        out["suppressed"] = self._engine.suppressed_total
        out["groups_overflow"] = self._engine.overflow_total
        out["firing"] = self._engine.firing()
        return out

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no notification is queued or in flight; False on timeout.

        For tests and tools; never call it on the pipeline's worker loop.
        """
        return self._delivery.wait_idle(timeout)

    # -- the exporter protocol -------------------------------------------------------------

    async def start(self) -> None:
        """Start the notifiers' tasks and the periodic evaluation on the worker loop."""
        self._ensure_started()

    def _ensure_started(self) -> None:
        loop = asyncio.get_running_loop()
        self._delivery.start()
        if self._ticker_loop is not loop or self._ticker is None or self._ticker.done():
            self._ticker_loop = loop
            self._ticker = loop.create_task(self._tick_loop(), name="fapilog-alerts-evaluate")

    async def export(self, batch: Sequence[LogEvent]) -> ExportResult:
        """Count matching records and queue the notifications of groups that fire.

        Always returns success: alerting never makes an event count as undelivered.
        """
        try:
            self._ensure_started()
            notes = self._engine.observe(batch)
            if notes:
                self._delivery.submit(notes)
        except Exception as exc:  # never fail the lane over alerting
            report(
                "alerting:export",
                f"fapilog alerting: evaluating rules failed: {type(exc).__name__}",
            )
        return ExportResult.success()

    async def force_flush(self, timeout: float | None = None) -> bool:
        """Returns at once: notifications are sent by their own tasks, and a flush of
        the pipeline must not wait on a receiver (see docs/alerting.md)."""
        return True

    async def shutdown(self) -> None:
        """Stop evaluating; give queued notifications ``shutdown_grace`` s, then stop."""
        ticker, self._ticker = self._ticker, None
        if ticker is not None:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await ticker
        await self._delivery.close(self.shutdown_grace)

    def after_fork(self) -> None:
        """In a forked child: start afresh (windows, queues; the parent sends its own)."""
        self._ticker = None
        self._ticker_loop = None
        self._engine.reset()
        self._delivery.reset_after_fork()

    # -- internals ---------------------------------------------------------------------------

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.evaluate_every)
            try:
                self._evaluate()
            except Exception as exc:
                report(
                    "alerting:evaluate",
                    f"fapilog alerting: periodic evaluation failed: {type(exc).__name__}",
                )

    def _evaluate(self) -> None:
        stats = self._stats
        if stats is None and self._engine.watches_drops:
            import fapilog

            stats = fapilog.stats
        notes = self._engine.tick(stats)
        if notes:
            self._delivery.submit(notes)


def _unique(what: str, names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ConfigError(
                f"AlertExporter: two {what}s are named {name!r}; names must be unique",
                fields=("alert_rules",),
            )
        seen.add(name)
