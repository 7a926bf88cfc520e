"""Notifiers: where notifications go (a generic JSON webhook, a Slack-compatible one).

A notifier holds its URL (which usually embeds a token: Slack's incoming-webhook URLs
are credentials) and its headers as :class:`~fapilog.plugin.Secret` values: they
appear in no ``repr``, error, result or diagnostic line. It turns a
:class:`~fapilog.alerting.Notification` into a request body; the exporter's delivery
task does the sending.
"""

from __future__ import annotations

import abc
import math
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

import orjson
from pydantic import SecretStr

from fapilog.plugin import (
    ConfigError,
    RetryPolicy,
    Secret,
    SecretHeaders,
    secret_words,
    wrap_secret,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from fapilog.alerting._engine import Notification

__all__ = ["DEFAULT_RETRY", "Notifier", "SlackNotifier", "WebhookNotifier", "require_httpx"]

DEFAULT_RETRY = RetryPolicy(initial_backoff=0.5, max_backoff=30.0, max_attempts=5)
"""Retries of one notification unless a notifier is given its own ``retry``."""


def require_httpx(what: str) -> None:
    """Raise a :class:`ConfigError` naming the install line when httpx is missing."""
    try:
        import httpx  # noqa: F401  # only checking that it imports
    except ImportError:
        raise ConfigError(
            f"{what} needs httpx, which is not installed; install it with the OTLP extra "
            "(pip install 'fapilog[otlp]') or on its own (pip install httpx)",
            fields=("alert_rules",),
        ) from None


def _positive(what: str, name: str, value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ConfigError(f"{what}: {name}: must be a number > 0, got {value!r}")
    return float(value)


class Notifier(abc.ABC):
    """Base class of notifiers: a secret URL, headers, timeouts and retries.

    Args:
        url: the ``http://`` or ``https://`` URL to POST to (kept secret).
        name: the name rules use in ``notify`` and diagnostics use (default: the
            notifier's type, ``"webhook"`` or ``"slack"``).
        headers: request headers; every value is kept secret (authorisation).
        timeout: seconds one request may take.
        retry: pauses between attempts and their number (default :data:`DEFAULT_RETRY`:
            up to 5 attempts, 0.5 s to 30 s apart, full jitter); 429, 408 and 5xx answers
            and connection errors are retried, ``Retry-After`` honoured.
        give_up_after: seconds after which a notification still undelivered is given
            up (a ``Retry-After`` beyond it gives up at once).
        max_pending: notifications waiting for this notifier; more are dropped and
            counted (``dropped.queue_full``).

    Raises:
        ConfigError: httpx is not installed, the URL is not an http(s) URL (the
            message never shows it), or an option is out of range.
    """

    kind: ClassVar[str] = "webhook"

    def __init__(
        self,
        url: str | SecretStr,
        *,
        name: str | None = None,
        headers: Mapping[str, str | SecretStr] | None = None,
        timeout: float = 5.0,
        retry: RetryPolicy | None = None,
        give_up_after: float = 120.0,
        max_pending: int = 100,
    ) -> None:
        what = f"{type(self).__name__} {name or self.kind!r}"
        require_httpx(what)
        if not isinstance(url, (str, SecretStr)):
            raise ConfigError(f"{what}: url: must be a string, got {type(url).__name__}")
        self.url: Secret = wrap_secret(url)
        plain = self.url.get_secret_value()
        try:
            parts = urlsplit(plain)
            ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        except ValueError:
            ok = False
        if not ok:
            raise ConfigError(
                f"{what}: url: must be an http:// or https:// URL with a host "
                "(the value is not shown: it may hold a token)"
            )
        self.name = name or self.kind
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigError(f"{what}: name: must be a non-empty string")
        self.headers = SecretHeaders(
            {str(k).lower(): wrap_secret(v) for k, v in (headers or {}).items()}
        )
        self.timeout = _positive(what, "timeout", timeout)
        self.give_up_after = _positive(what, "give_up_after", give_up_after)
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise ConfigError(f"{what}: retry: must be a fapilog.plugin.RetryPolicy")
        self.retry = retry or DEFAULT_RETRY
        if isinstance(max_pending, bool) or not isinstance(max_pending, int) or max_pending < 1:
            raise ConfigError(f"{what}: max_pending: must be an integer >= 1, got {max_pending!r}")
        self.max_pending = max_pending
        secrets = secret_words(plain, r"\s/?&=#")
        for value in self.headers.reveal().values():
            secrets.extend(secret_words(value))
        self._secrets = tuple(dict.fromkeys(secrets))

    def secret_words(self) -> tuple[str, ...]:
        """Every form of the URL and header values to mask in reasons and diagnostics."""
        return self._secrets

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, url=Secret('**********'))"

    __str__ = __repr__

    @abc.abstractmethod
    def payload(self, notification: Notification) -> dict[str, Any]:
        """The JSON object to POST for ``notification``."""

    def body(self, notification: Notification) -> bytes:
        """The request body (UTF-8 JSON) for ``notification``."""
        return orjson.dumps(self.payload(notification), default=str)


class WebhookNotifier(Notifier):
    """POSTs the generic JSON payload (``Notification.as_dict()``, schema
    ``fapilog.alert/1``, see docs/alerting.md) with ``content-type: application/json``.

    Args:
        url: see :class:`Notifier`; all other keyword arguments too.
    """

    kind: ClassVar[str] = "webhook"

    def payload(self, notification: Notification) -> dict[str, Any]:
        """The generic payload."""
        return notification.as_dict()


def _mrkdwn(text: str) -> str:
    """Escape text for Slack's mrkdwn (``&``, ``<``, ``>``: the control characters)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SlackNotifier(Notifier):
    """POSTs a Slack incoming-webhook message: ``{"text": ...}`` plus optional blocks.

    ``text`` is the one-line summary (also what notifications and clients without
    blocks show); with ``blocks=True`` a header, the summary and a context line
    (rule description, group, time, id) are added. Works with any receiver that takes
    Slack's incoming-webhook format (Mattermost, Rocket.Chat, Discord's ``/slack`` URL).

    Args:
        url: see :class:`Notifier`.
        blocks: add Block Kit blocks to the message.
        **options: the other keyword arguments of :class:`Notifier`.
    """

    kind: ClassVar[str] = "slack"

    def __init__(self, url: str | SecretStr, *, blocks: bool = True, **options: Any) -> None:
        super().__init__(url, **options)
        if not isinstance(blocks, bool):
            raise ConfigError(f"SlackNotifier {self.name!r}: blocks: must be true or false")
        self.blocks = blocks

    def payload(self, notification: Notification) -> dict[str, Any]:
        """``{"text": ..., "blocks": [...]}`` (no blocks when ``blocks=False``)."""
        icon = ":rotating_light:" if notification.status == "firing" else ":white_check_mark:"
        summary = notification.summary()
        out: dict[str, Any] = {"text": f"{icon} {_mrkdwn(summary)}"}
        if not self.blocks:
            return out
        data = notification.as_dict()
        title = f"{notification.status.upper()}: {notification.rule.name}"
        context = [f"id `{_mrkdwn(notification.id)}`", f"since {data['started_at']}"]
        if data["ended_at"]:
            context.append(f"resolved {data['ended_at']}")
        section = _mrkdwn(summary)
        if notification.rule.description:
            section += "\n" + _mrkdwn(notification.rule.description)
        sample = notification.sample
        if sample is not None and isinstance(sample.get("body"), str):
            section += f"\n> {_mrkdwn(sample['body'][:300])}"
        out["blocks"] = [
            {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": section[:3000]}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]},
        ]
        return out
