"""HTTP exporter options: keyword arguments over ``FAPILOG_HTTP_*`` variables."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

import orjson
from pydantic import Field, SecretStr, field_serializer, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from fapilog.plugin import Secret, load_options, safe_reason, secret_words

__all__ = ["DEFAULT_MAX_REQUEST_BYTES", "ENV_PREFIX", "HTTPExporterOptions"]

ENV_PREFIX = "FAPILOG_HTTP_"
DEFAULT_MAX_REQUEST_BYTES = 1_000_000
"""1 MB: below the default body limit of common proxies and ingest endpoints."""

_MIN_MASKED = 4
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an RFC 9110 header name
#: Headers the exporter computes itself for every request.
_RESERVED = frozenset({"content-length", "content-encoding", "transfer-encoding", "host"})


class HTTPExporterOptions(BaseSettings):
    """Resolved settings of an :class:`~fapilog_exporter_http.HTTPExporter`.

    Every field is read from ``FAPILOG_HTTP_<FIELD>`` unless given as a keyword
    argument (keywords win). Build it with :meth:`resolve` to get a
    :class:`fapilog.ConfigError` naming the variable or argument on bad input.
    Header values, the bearer token and the basic-auth credential are
    :class:`fapilog.plugin.Secret` values: they never appear in ``repr``, ``str``,
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
    """Where batches go, e.g. ``https://logs.example.com/ingest``. Query parameters
    are kept (and treated as secret in diagnostics); credentials in the URL are not
    accepted (use ``basic_auth``)."""

    method: Literal["POST", "PUT"] = "POST"
    """HTTP method of every request."""

    format: Literal["ndjson", "json"] = "ndjson"
    """``ndjson``: one JSON object per line (``application/x-ndjson``). ``json``: one
    JSON array of objects per request (``application/json``)."""

    compression: Literal["none", "gzip"] = "none"
    """``gzip`` compresses each request body (``Content-Encoding: gzip``)."""

    headers: Annotated[dict[str, SecretStr], NoDecode] = Field(default_factory=dict)
    """Extra request headers. Every value is kept secret. In the environment:
    ``name=value`` pairs separated by commas, values percent-encoded as in
    ``OTEL_EXPORTER_OTLP_HEADERS`` (``X-Api-Key=abc%2C1,X-Tenant=shop``), or a JSON
    object."""

    bearer_token: SecretStr | None = None
    """Sent as ``Authorization: Bearer <token>``."""

    basic_auth: SecretStr | None = None
    """``user:password``, sent as ``Authorization: Basic <base64>``."""

    max_request_bytes: int = Field(default=DEFAULT_MAX_REQUEST_BYTES, ge=1024)
    """Largest uncompressed request body; a bigger batch is split into several
    requests. A record that alone exceeds it is dropped and counted."""

    timeout: float = Field(default=10.0, gt=0)
    """Seconds for one HTTP request (connect, send, wait for the answer)."""

    verify: bool = True
    """Verify the server's TLS certificate and host name. Turn off only for a test
    endpoint: without it anyone on the path can read the credentials."""

    ca_file: Path | None = None
    """PEM file of CA certificates to trust instead of the system's."""

    include_resource: bool = False
    """Add every resource attribute to each record under ``resource``."""

    idempotency_header: str | None = "Idempotency-Key"
    """Header carrying a key unique to each request and the same on its retries, so a
    receiver that supports it can drop a repeated request; empty to send none."""

    # -- validation ----------------------------------------------------------------

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        value = value.strip()
        parts = urlsplit(value)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        if parts.username is not None or parts.password is not None:
            raise ValueError("must not contain credentials; give them as basic_auth=")
        try:
            parts.port  # noqa: B018  # urllib validates the port only when it is read
        except ValueError:
            raise ValueError("the port must be a number from 0 to 65535") from None
        if _CONTROL.search(value) or " " in value:
            raise ValueError("must not contain spaces or control characters")
        return parts._replace(fragment="").geturl()

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("format", "compression", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("headers", mode="before")
    @classmethod
    def _parse_headers(cls, value: object) -> object:
        if isinstance(value, str):
            return _header_text(value)
        return value

    @field_validator("headers")
    @classmethod
    def _check_headers(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        out: dict[str, SecretStr] = {}
        for name, secret in value.items():
            key = name.strip().lower()
            if not _TOKEN.fullmatch(key):
                raise ValueError(f"header name {name.strip()[:40]!r} is not a valid HTTP token")
            if key in _RESERVED:
                raise ValueError(f"header {key!r} is set by the exporter; remove it")
            plain = secret.get_secret_value().strip()
            if _CONTROL.search(plain):
                raise ValueError(f"the value of header {key!r} contains control characters")
            out[key] = Secret(plain)
        return out

    @field_validator("bearer_token")
    @classmethod
    def _check_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        secret = value.get_secret_value().strip()
        if secret[:7].lower() == "bearer ":  # pasted with its scheme
            secret = secret[7:].strip()
        if not secret:
            raise ValueError("must not be empty")
        if _CONTROL.search(secret) or " " in secret:
            raise ValueError("must not contain spaces or control characters")
        return Secret(secret)

    @field_validator("basic_auth")
    @classmethod
    def _check_basic(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        secret = value.get_secret_value()
        user, sep, _ = secret.partition(":")
        if not sep or not user:
            raise ValueError("must be user:password")
        if _CONTROL.search(secret):
            raise ValueError("must not contain control characters")
        return Secret(secret)

    @field_validator("ca_file")
    @classmethod
    def _check_ca_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"file {str(value)!r} does not exist; give the path of a PEM file")
        return value

    @field_validator("idempotency_header")
    @classmethod
    def _check_idempotency(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if not _TOKEN.fullmatch(value):
            raise ValueError("must be a valid HTTP header name, e.g. Idempotency-Key")
        return value

    @model_validator(mode="after")
    def _check_authorization(self) -> HTTPExporterOptions:
        given = [
            name
            for name, present in (
                ("bearer_token", self.bearer_token is not None),
                ("basic_auth", self.basic_auth is not None),
                ("headers['authorization']", "authorization" in self.headers),
            )
            if present
        ]
        if len(given) > 1:
            raise ValueError(f"give one authorization, not {' and '.join(given)}")
        return self

    # The query may hold a key (``?api_key=...``): shown masked, like the secrets.
    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            yield name, self.display_url if name == "url" else value

    @field_serializer("url")
    def _dump_url(self, value: str) -> str:
        return self.display_url

    # -- derived -------------------------------------------------------------------

    @property
    def display_url(self) -> str:
        """The URL for reprs and messages: its query (which may hold a key) masked."""
        parts = urlsplit(self.url)
        return parts._replace(query="***" if parts.query else "").geturl()

    def authorization(self) -> Secret | None:
        """The ``Authorization`` header value from ``bearer_token`` or ``basic_auth``."""
        if self.bearer_token is not None:
            return Secret(f"Bearer {self.bearer_token.get_secret_value()}")
        if self.basic_auth is not None:
            encoded = base64.b64encode(self.basic_auth.get_secret_value().encode("utf-8"))
            return Secret(f"Basic {encoded.decode('ascii')}")
        return None

    def secrets(self) -> list[str]:
        """Every form of every credential a server or library might echo back."""
        values = [v.get_secret_value() for v in self.headers.values()]
        auth = self.authorization()
        if auth is not None:
            values.append(auth.get_secret_value())
        if self.basic_auth is not None:
            plain = self.basic_auth.get_secret_value()
            values += [plain, plain.partition(":")[2]]
        query = urlsplit(self.url).query
        values += [v for _, v in parse_qsl(query, keep_blank_values=False)]
        words = [word for value in values for word in secret_words(value)]
        # A value of a few characters (a tenant "eu") is no secret, and masking it
        # would garble every reason it occurs in.
        return list(dict.fromkeys(w for w in words if len(w) >= _MIN_MASKED))

    def redact(self, text: str) -> str:
        """Make ``text`` (e.g. a server's error message) safe for diagnostics.

        Args:
            text: any text that may echo request data.

        Returns:
            The text with every credential masked, control characters flattened,
            the length capped.
        """
        return safe_reason(text, self.secrets())

    # -- construction --------------------------------------------------------------

    @classmethod
    def resolve(cls, **overrides: Any) -> HTTPExporterOptions:
        """Build options from ``overrides`` over the ``FAPILOG_HTTP_*`` environment.

        Args:
            **overrides: any field of this model; these win over the environment.

        Returns:
            The validated options.

        Raises:
            ConfigError: a value is missing or invalid; the message names the keyword
                argument or environment variable and how to fix it, and never
                contains a credential.
        """
        return load_options(
            cls,
            overrides,
            what="HTTP exporter",
            env_prefix=ENV_PREFIX,
            show_input=_SHOW_INPUT.__contains__,
            hints=_HINTS,
        )


def _header_text(text: str) -> dict[str, str]:
    """``a=1,b=x%2Cy`` (or a JSON object) as a mapping; ValueError names no value."""
    text = text.strip()
    if text.startswith("{"):
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise ValueError("is not a JSON object of header names to values") from None
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise ValueError("must map header names to string values")
        return data
    out: dict[str, str] = {}
    for index, pair in enumerate(part for part in text.split(",") if part.strip()):
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"entry {index + 1} is not name=value")
        out[unquote(name.strip())] = unquote(value.strip())
    return out


_SHOW_INPUT = frozenset(
    {
        "method",
        "format",
        "compression",
        "max_request_bytes",
        "timeout",
        "verify",
        "ca_file",
        "include_resource",
        "idempotency_header",
    }
)
_HINTS = {
    "url": "; e.g. https://logs.example.com/ingest",
    "method": "; use POST or PUT",
    "format": "; use ndjson or json",
    "compression": "; use none or gzip",
    "headers": "; e.g. X-Api-Key=abc,X-Tenant=shop",
    "basic_auth": "; give user:password",
    "max_request_bytes": "; e.g. 1000000 (1 MB)",
    "timeout": "; e.g. 10 (seconds)",
}
