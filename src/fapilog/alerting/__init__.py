"""Alerting: rules over the event stream and fapilog's own drops, sent to webhooks.

An :class:`AlertExporter` is an exporter like any other, so the pipeline gives it
its own lane: a slow or unreachable receiver changes nothing for the application or
the other exporters. It counts the records each :class:`AlertRule` matches in a
sliding window (per group of attribute values), and when a rule fires it queues one
notification per rule and group for its notifiers (:class:`WebhookNotifier`, the
generic JSON payload; :class:`SlackNotifier`, Slack's incoming-webhook format), which
send it from their own tasks with retries. Rules come from code or from a TOML/JSON
file (:func:`load_rules`, the ``alert_rules`` setting, the ``alerts`` exporter name).

Example:
    ::

        import fapilog
        from fapilog.alerting import AlertExporter, AlertRule, SlackNotifier

        fapilog.configure(
            exporters=[
                "console",
                AlertExporter(
                    rules=[AlertRule("errors", threshold=10, window=60, level="ERROR",
                                     group_by=["service.name"])],
                    notifiers=[SlackNotifier(os.environ["SLACK_WEBHOOK_URL"])],
                ),
            ]
        )

See ``docs/alerting.md``.
"""

from __future__ import annotations

from fapilog.alerting._config import AlertConfig, load_rules
from fapilog.alerting._engine import SCHEMA, Notification
from fapilog.alerting._exporter import AlertExporter
from fapilog.alerting._notifiers import DEFAULT_RETRY, Notifier, SlackNotifier, WebhookNotifier
from fapilog.alerting._rules import DELIBERATE_DROPS, AlertRule

__all__ = [
    "DEFAULT_RETRY",
    "DELIBERATE_DROPS",
    "SCHEMA",
    "AlertConfig",
    "AlertExporter",
    "AlertRule",
    "Notification",
    "Notifier",
    "SlackNotifier",
    "WebhookNotifier",
    "load_rules",
]
