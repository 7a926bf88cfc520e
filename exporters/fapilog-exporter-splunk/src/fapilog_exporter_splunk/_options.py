"""Splunk HEC exporter options: keyword arguments over ``FAPILOG_SPLUNK_*`` variables."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from fapilog.plugin import Secret, load_options, safe_reason, secret_words

__all__ = ["DEFAULT_MAX_REQUEST_BYTES", "ENV_PREFIX", "SplunkHECOptions"]

ENV_PREFIX = "FAPILOG_SPLUNK_"
DEFAULT_MAX_REQUEST_BYTES = 1_000_000
"""1 MB: well under HEC's default ``max_content_length`` and friendly to proxies."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


class SplunkHECOptions(BaseSettings):
    """Resolved settings of a :class:`~fapilog_exporter_splunk.SplunkHECExporter`.

    Every field is read from ``FAPILOG_SPLUNK_<FIELD>`` unless given as a keyword
    argument (keywords win). Build it with :meth:`resolve` to get a
    :class:`fapilog.ConfigError` naming the variable or argument on bad input. The
    token is a :class:`~pydantic.SecretStr`: it never appears in ``repr``, ``str``,
    ``model_dump()``, errors or export results, and pickling the options raises
    :class:`TypeError`.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        frozen=True,
        extra="forbid",
        hide_input_in_errors=True,
        validate_default=True,
    )

    url: str
    """Base URL of the HEC listener, e.g. ``https://splunk.example.com:8088``. A URL
    that already ends in ``/services/collector...`` is cut back to its base."""

    token: SecretStr
    """The HEC token (sent as ``Authorization: Splunk <token>``)."""

    endpoint: Literal["event", "raw"] = "event"
    """``event``: ``/services/collector/event`` with one JSON envelope per record.
    ``raw``: ``/services/collector/raw`` with one JSON line per record, metadata as
    query parameters."""

    index: str | None = None
    """Target index; unset means the token's default index."""

    source: str | None = None
    """``source`` of every event; unset means HEC's default (``http:<token name>``)."""

    sourcetype: str | None = None
    """``sourcetype`` of every event; unset means the token's default. ``_json`` makes
    Splunk extract the event's JSON fields at index time."""

    host: str | None = None
    """``host`` of every event; unset means the resource's ``host.name`` when present,
    else what HEC derives from the connection."""

    gzip: bool = True
    """Compress request bodies with gzip (``Content-Encoding: gzip``)."""

    max_request_bytes: int = Field(default=DEFAULT_MAX_REQUEST_BYTES, ge=1024)
    """Largest uncompressed request body; bigger batches are split. A record that
    alone exceeds it is dropped and counted."""

    timeout: float = Field(default=10.0, gt=0)
    """Seconds for one HTTP request (connect, send, read)."""

    indexed_attributes: Annotated[tuple[str, ...], NoDecode] = ()
    """Attribute keys to copy into ``fields`` (indexed fields), comma separated in the
    environment. ``severity``, ``trace_id``, ``span_id`` and ``service.name`` always are."""

    include_resource: bool = False
    """Add every resource attribute to the event under ``resource``."""

    ack: bool = False
    """Use indexer acknowledgement: a batch counts as delivered only once Splunk
    acknowledges it, and is re-sent if that does not happen within ``ack_timeout``."""

    channel: str | None = None
    """Channel GUID (``X-Splunk-Request-Channel``); unset means a random one per
    exporter (and per forked process)."""

    ack_timeout: float = Field(default=20.0, gt=0)
    """Seconds to wait for acknowledgements before re-sending the unacknowledged
    requests. Keep it below the pipeline's ``export_timeout_ms``."""

    ack_poll_interval: float = Field(default=0.5, gt=0)
    """Seconds between polls of ``/services/collector/ack``."""

    max_pending_acks: int = Field(default=64, ge=1)
    """Most requests awaiting acknowledgement at once; when reached, sending waits
    for acknowledgements instead of growing the table."""

    ca_file: Path | None = None
    """PEM file of CA certificates to trust instead of the system's."""

    verify: bool = True
    """Verify the server's TLS certificate and host name. Turn off only for a test
    instance: without it anyone on the path can read the token."""

    # -- validation ----------------------------------------------------------------

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        value = value.strip()
        parts = urlsplit(value)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        if parts.username is not None or parts.password is not None:
            raise ValueError("must not contain credentials; give the token as token=")
        try:
            parts.port  # noqa: B018  # urllib validates the port only when it is read
        except ValueError:
            raise ValueError("the port must be a number from 0 to 65535") from None
        path = parts.path.rstrip("/")
        marker = path.find("/services/collector")
        if marker >= 0:
            path = path[:marker]
        return parts._replace(path=path, query="", fragment="").geturl()

    @field_validator("token")
    @classmethod
    def _check_token(cls, value: SecretStr) -> SecretStr:
        secret = value.get_secret_value().strip()
        if secret[:7].lower() == "splunk ":  # pasted with its scheme
            secret = secret[7:].strip()
        if not secret:
            raise ValueError("must not be empty")
        if _CONTROL.search(secret) or " " in secret:
            raise ValueError("must not contain spaces or control characters")
        return Secret(secret)

    @field_validator("index", "source", "sourcetype", "host")
    @classmethod
    def _check_metadata(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if _CONTROL.search(value):
            raise ValueError("must not contain control characters")
        return value or None

    @field_validator("indexed_attributes", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(key.strip() for key in value.split(",") if key.strip())
        return value

    @field_validator("channel")
    @classmethod
    def _check_channel(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        try:
            return str(uuid.UUID(value.strip()))
        except ValueError:
            raise ValueError(
                "must be a GUID such as 0b4f1f6e-9a1c-4f43-9d36-3c0e5b7a8c21"
            ) from None

    @field_validator("ca_file")
    @classmethod
    def _check_ca_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"file {str(value)!r} does not exist; give the path of a PEM file")
        return value

    @model_validator(mode="after")
    def _check_ack(self) -> SplunkHECOptions:
        if self.ack and self.ack_poll_interval >= self.ack_timeout:
            raise ValueError("ack_poll_interval must be shorter than ack_timeout")
        return self

    # -- derived -------------------------------------------------------------------

    @property
    def endpoint_url(self) -> str:
        """The full URL records are posted to."""
        return f"{self.url}/services/collector/{self.endpoint}"

    @property
    def ack_url(self) -> str:
        """The URL acknowledgements are polled on."""
        return f"{self.url}/services/collector/ack"

    def redact(self, text: str) -> str:
        """Make ``text`` (e.g. a server's error message) safe for diagnostics.

        Masks the token (in any case, URL-encoded too), flattens control characters
        and caps the length.

        Args:
            text: any text that may echo request data.

        Returns:
            The sanitised text.
        """
        return safe_reason(text, secret_words(self.token.get_secret_value()))

    # -- construction --------------------------------------------------------------

    @classmethod
    def resolve(cls, **overrides: Any) -> SplunkHECOptions:
        """Build options from ``overrides`` over the ``FAPILOG_SPLUNK_*`` environment.

        Args:
            **overrides: any field of this model; these win over the environment.

        Returns:
            The validated options.

        Raises:
            ConfigError: a value is missing or invalid; the message names the keyword
                argument or environment variable and how to fix it, and never
                contains the token.
        """
        return load_options(
            cls,
            overrides,
            what="Splunk HEC exporter",
            env_prefix=ENV_PREFIX,
            show_input=_SHOW_INPUT.__contains__,
            hints=_HINTS,
        )


_SHOW_INPUT = frozenset(
    {
        "endpoint",
        "gzip",
        "max_request_bytes",
        "timeout",
        "ack",
        "ack_timeout",
        "ack_poll_interval",
        "max_pending_acks",
        "verify",
        "include_resource",
        "ca_file",
        "channel",
    }
)
_HINTS = {
    "url": "; e.g. https://splunk.example.com:8088",
    "token": "; give the HEC token (a GUID), without the 'Splunk ' prefix",
    "endpoint": "; use event or raw",
    "max_request_bytes": "; e.g. 1000000 (1 MB)",
    "timeout": "; e.g. 10 (seconds)",
    "ack_timeout": "; e.g. 20 (seconds)",
}
