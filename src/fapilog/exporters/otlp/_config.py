"""OTLP exporter options: keyword arguments over the standard ``OTEL_EXPORTER_OTLP_*`` env.

Each option is read from, highest first: the keyword argument, the logs-specific
variable (``OTEL_EXPORTER_OTLP_LOGS_<NAME>``), the generic one
(``OTEL_EXPORTER_OTLP_<NAME>``), then the default. Empty variables count as unset.
The semantics follow the OpenTelemetry exporter specification; see
``docs/exporters/otlp.md`` for the table.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import re
import string
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from fapilog._validation import check_known, explain
from fapilog.errors import ConfigError
from fapilog.exporters._http_util import safe_reason, secret_words
from fapilog.exporters._secret import Secret
from fapilog.exporters.otlp._encode import DEFAULT_MAX_REQUEST_BYTES

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["DEFAULT_GRPC_ENDPOINT", "DEFAULT_HTTP_ENDPOINT", "OTLPExporterOptions", "Protocol"]

Protocol = Literal["grpc", "http/protobuf"]

DEFAULT_GRPC_ENDPOINT = "http://localhost:4317"
DEFAULT_HTTP_ENDPOINT = "http://localhost:4318/v1/logs"
MAX_REQUEST_BYTES_ENV = "FAPILOG_OTLP_MAX_REQUEST_BYTES"
MAX_CONCURRENT_EXPORTS_ENV = "FAPILOG_OTLP_MAX_CONCURRENT_EXPORTS"
DEFAULT_MAX_CONCURRENT_EXPORTS = 4

_TOKEN_CHARS = frozenset(string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


class OTLPExporterOptions(BaseModel):
    """Resolved settings of an OTLP log exporter (gRPC or HTTP/protobuf).

    Construct it directly to ignore the environment, or with :meth:`from_env` to
    apply the ``OTEL_EXPORTER_OTLP_*`` variables under the keyword arguments.
    Header values are :class:`~pydantic.SecretStr`, and a password in the endpoint URL
    is taken out of :attr:`endpoint` and kept apart, wrapped the same way: neither
    appears in ``repr``, ``str``, ``model_dump()``, errors or export results, and
    pickling the options raises :class:`TypeError` while they hold either.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    protocol: Protocol = "grpc"
    """``grpc`` (fapilog's default) or ``http/protobuf``. ``http/json`` is not supported."""

    endpoint: str = Field(default="", validate_default=True)
    """Where to send. Empty means the protocol's default: ``http://localhost:4317``
    (gRPC) or ``http://localhost:4318/v1/logs`` (HTTP, used as the full URL). A
    password in the URL (``https://user:password@host``) is not kept here: the field
    holds ``https://user@host`` and the password is kept as a secret (HTTP sends it
    as basic authentication, as given)."""

    headers: dict[str, SecretStr] = Field(default_factory=dict)
    """Extra request headers (gRPC metadata), names lower-cased; values are secret."""

    compression: Literal["gzip", "none"] = "none"
    """Compress requests with gzip, or send them as they are."""

    timeout: float = Field(default=10.0, gt=0)
    """Seconds one ``export`` call may take, all its requests included (the env
    variables give milliseconds)."""

    certificate_file: Path | None = None
    """PEM file of CA certificates to trust instead of the system's."""

    client_key_file: Path | None = None
    """PEM private key for mutual TLS (with :attr:`client_certificate_file`)."""

    client_certificate_file: Path | None = None
    """PEM certificate chain for mutual TLS (with :attr:`client_key_file`)."""

    insecure: bool = False
    """gRPC only, for an endpoint without a scheme: True sends in plain text. An
    ``https://`` endpoint always uses TLS and an ``http://`` one never does."""

    max_request_bytes: int = Field(default=DEFAULT_MAX_REQUEST_BYTES, ge=1024)
    """Largest serialised (uncompressed) request; bigger batches are split."""

    max_concurrent_exports: int = Field(default=DEFAULT_MAX_CONCURRENT_EXPORTS, ge=1, le=64)
    """Batches exported at once, overlapping round trips to the collector (1: one at
    a time, in order)."""

    # The endpoint as given, password included, when it has one.
    _secret_endpoint: Secret | None = PrivateAttr(default=None)
    # Where the endpoint came from (see endpoint_source).
    _endpoint_source: str = PrivateAttr(default="endpoint=")

    # -- validation ----------------------------------------------------------------

    @model_validator(mode="wrap")
    @classmethod
    def _keep_endpoint_password_apart(
        cls, data: Any, handler: ModelWrapValidatorHandler[OTLPExporterOptions]
    ) -> OTLPExporterOptions:
        secret = None
        if isinstance(data, Mapping) and isinstance(data.get("endpoint"), str):
            endpoint, secret = _split_password(data["endpoint"])
            if secret is not None:
                data = {**data, "endpoint": endpoint}
        options = handler(data)
        if secret is not None:
            options._secret_endpoint = secret
        return options

    @field_validator("protocol", "compression", mode="before")
    @classmethod
    def _lower(cls, value: object, info: ValidationInfo) -> object:
        if not isinstance(value, str):
            return value
        value = value.strip().lower()
        if info.field_name == "protocol" and value == "http/json":
            raise ValueError("http/json is not supported by fapilog's OTLP exporter")
        return value

    @field_validator("endpoint")
    @classmethod
    def _check_endpoint(cls, value: str, info: ValidationInfo) -> str:
        protocol = info.data.get("protocol", "grpc")
        value = value.strip()
        if not value:
            return DEFAULT_GRPC_ENDPOINT if protocol == "grpc" else DEFAULT_HTTP_ENDPOINT
        check_endpoint(value, protocol)
        return value

    @field_validator("headers", mode="before")
    @classmethod
    def _check_headers(cls, value: object) -> object:
        if isinstance(value, str):
            value = _parse_headers(value)
        if not isinstance(value, Mapping):
            return value
        checked: dict[str, SecretStr] = {}
        for key, item in value.items():
            name = str(key).strip().lower()
            if not name or not set(name) <= _TOKEN_CHARS:
                raise ValueError(
                    "a header name must be a non-empty HTTP token (letters, digits, -)"
                )
            secret = item.get_secret_value() if isinstance(item, SecretStr) else item
            if not isinstance(secret, str):
                raise ValueError(f"the value of header {name!r} must be a string")
            if _CONTROL.search(secret.strip()):
                raise ValueError(
                    f"the value of header {name!r} contains a control character (e.g. a newline)"
                )
            checked[name] = Secret(secret.strip())
        return checked

    @model_validator(mode="after")
    def _check_client_tls(self) -> OTLPExporterOptions:
        if (self.client_key_file is None) != (self.client_certificate_file is None):
            raise ValueError(
                "client_key_file (OTEL_EXPORTER_OTLP_CLIENT_KEY) and client_certificate_file "
                "(OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE) must be set together for mutual TLS"
            )
        for path in (self.certificate_file, self.client_key_file, self.client_certificate_file):
            if path is not None and not path.is_file():
                raise ValueError(
                    f"TLS file {str(path)!r} does not exist; give the path of a PEM file"
                )
        return self

    # -- derived -------------------------------------------------------------------

    @property
    def tls(self) -> bool:
        """Whether the connection uses TLS (decided by the scheme, else by ``insecure``)."""
        if "://" in self.endpoint:
            return self.endpoint.split("://", 1)[0].lower() == "https"
        return not self.insecure

    @property
    def grpc_target(self) -> str:
        """The ``host:port`` gRPC connects to (443 is implied when the port is absent)."""
        if "://" not in self.endpoint:
            return self.endpoint
        return urlsplit(self.endpoint).netloc.rpartition("@")[2]

    @property
    def endpoint_source(self) -> str:
        """Where :attr:`endpoint` came from, for messages: ``endpoint=`` (the argument,
        or options built directly), the environment variable's name, or ``default``."""
        return self._endpoint_source

    @property
    def grpc_path(self) -> str:
        """The path of a gRPC endpoint URL (``""`` if none): gRPC ignores it."""
        if self.protocol != "grpc" or "://" not in self.endpoint:
            return ""
        path = urlsplit(self.endpoint).path
        return "" if path in ("", "/") else path

    @property
    def display_endpoint(self) -> str:
        """:attr:`endpoint`, with ``:***`` where the URL had a password."""
        if self._secret_endpoint is None:
            return self.endpoint
        parts = urlsplit(self.endpoint)
        user, _, host = parts.netloc.rpartition("@")
        return parts._replace(netloc=f"{user}:***@{host}").geturl()

    @property
    def transport_endpoint(self) -> SecretStr:
        """The endpoint URL as given, password included: for the transport only."""
        if self._secret_endpoint is not None:
            return self._secret_endpoint
        return Secret(self.endpoint)

    def redact(self, text: str) -> str:
        """Make ``text`` (e.g. a server's error message) safe for diagnostics.

        Masks every header value and endpoint password, flattens control characters
        to spaces and cuts the result to a few hundred characters.

        Args:
            text: any text that may echo request data.

        Returns:
            The sanitised text.
        """
        secrets = []
        for value in self.headers.values():
            secrets.extend(secret_words(value.get_secret_value()))
        if self._secret_endpoint is not None:
            parts = urlsplit(self._secret_endpoint.get_secret_value())
            user, password = unquote(parts.username or ""), parts.password or ""
            # As sent: HTTP basic authentication, from the decoded user and password.
            basic = base64.b64encode(f"{user}:{unquote(password)}".encode()).decode("ascii")
            secrets.extend(secret_words(password) + secret_words(unquote(password)))
            secrets.extend(secret_words(f"Basic {basic}"))
        return safe_reason(text, secrets)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, (self.display_endpoint if name == "endpoint" else value)

    # -- environment ---------------------------------------------------------------

    @classmethod
    def from_env(
        cls, *, environ: Mapping[str, str] | None = None, **overrides: Any
    ) -> OTLPExporterOptions:
        """Resolve options from ``overrides`` over the environment.

        Args:
            environ: the variables to read (default: ``os.environ``).
            **overrides: any field of this model; these win over the environment.

        Returns:
            The validated options.

        Raises:
            ConfigError: a value is invalid; the message names the keyword argument or
                environment variable it came from, and how to fix it. It never
                contains a header value.
        """
        env = os.environ if environ is None else environ
        check_known(overrides, list(cls.model_fields), what="OTLP exporter")
        data: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for name, (suffix, parse) in _ENV.items():
            if name in overrides:
                data[name] = overrides[name]
                sources[name] = f"{name}= argument"
                continue
            for var in (f"OTEL_EXPORTER_OTLP_LOGS_{suffix}", f"OTEL_EXPORTER_OTLP_{suffix}"):
                raw = env.get(var, "").strip()
                if raw:
                    data[name] = parse(raw, var)
                    sources[name] = var
                    break
        if "max_request_bytes" in overrides:
            data["max_request_bytes"] = overrides["max_request_bytes"]
            sources["max_request_bytes"] = "max_request_bytes= argument"
        elif raw := env.get(MAX_REQUEST_BYTES_ENV, "").strip():
            data["max_request_bytes"] = _parse_int(raw, MAX_REQUEST_BYTES_ENV)
            sources["max_request_bytes"] = MAX_REQUEST_BYTES_ENV
        if "max_concurrent_exports" in overrides:
            data["max_concurrent_exports"] = overrides["max_concurrent_exports"]
            sources["max_concurrent_exports"] = "max_concurrent_exports= argument"
        elif raw := env.get(MAX_CONCURRENT_EXPORTS_ENV, "").strip():
            data["max_concurrent_exports"] = _parse_int(raw, MAX_CONCURRENT_EXPORTS_ENV)
            sources["max_concurrent_exports"] = MAX_CONCURRENT_EXPORTS_ENV
        _resolve_endpoint(data, sources, overrides, env)
        try:
            options = cls(**data)
        except ValidationError as exc:
            message, _ = explain(
                "invalid OTLP exporter configuration:",
                exc,
                fields=cls.model_fields,
                source=lambda name: sources.get(name, f"{name}= argument"),
                # Only inputs that cannot hold a secret are echoed back.
                show_input=_SHOW_INPUT.__contains__,
                hints=_HINTS,
            )
        else:
            options._endpoint_source = sources.get("endpoint", "default").removesuffix(" argument")
            return options
        # Raised outside the handler: the ValidationError (whose errors() keep every
        # input, header values included) is not chained as the context.
        raise ConfigError(message)


# -- endpoint syntax -----------------------------------------------------------------

_HOST = re.compile(r"[\w.-]+")  # a DNS name or an IPv4 address (\w: letters, digits, _)


def check_endpoint(value: str, protocol: str) -> None:
    """Refuse an endpoint that cannot be connected to, saying how to write it.

    gRPC takes an ``http://`` or ``https://`` URL or a bare ``host:port``; HTTP takes a
    URL. Hosts must be names or IP addresses (IPv6 in brackets), ports 1 to 65535.

    Args:
        value: the endpoint, stripped, password already taken out.
        protocol: ``grpc`` or ``http/protobuf``.

    Raises:
        ValueError: the endpoint is malformed; the message shows it (unless it may
            hold a credential) and the fix.
    """
    shown = f" ({value[:120]!r})" if "@" not in value else ""
    if _CONTROL.search(value) or " " in value:
        raise ValueError(f"the endpoint contains a space or control character{shown}")
    if "://" not in value:
        if protocol != "grpc":
            raise ValueError(f"the endpoint needs an http:// or https:// scheme{shown}")
        if "/" in value:
            raise ValueError(f"use host:port or an http:// or https:// URL{shown}")
        host, sep, port = value.rpartition(":")
        if not sep or not host or host.endswith(":"):
            raise ValueError(
                f"the endpoint is neither a URL nor host:port{shown}; write host:port "
                "(TLS unless OTEL_EXPORTER_OTLP_INSECURE=true), http://host:port (plain "
                "text) or https://host:port (TLS)"
            )
        _check_host(host, shown)
        _check_port(port, shown)
        return
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. an unbalanced "["
        raise ValueError(f"the endpoint is not a valid URL{shown}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError(f"the endpoint must be an http:// or https:// URL{shown}")
    host_port = parts.netloc.rpartition("@")[2]
    if not host_port:
        raise ValueError(f"the endpoint URL has no host{shown}")
    if host_port.endswith("]") or ":" not in host_port.rpartition("]")[2]:
        _check_host(host_port, shown)  # no port: 443 for https, 80 for http
        return
    host, _, port = host_port.rpartition(":")
    _check_host(host, shown)
    _check_port(port, shown)


def _check_host(host: str, shown: str) -> None:
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise ValueError(f"the endpoint's IPv6 address is not valid{shown}") from None
        return
    if ":" in host:
        raise ValueError(
            f"the endpoint's host is not valid{shown}; write an IPv6 address in "
            "brackets, e.g. [::1]:4317"
        )
    if not _HOST.fullmatch(host):
        raise ValueError(f"the endpoint's host is not a host name or IP address{shown}")


def _check_port(port: str, shown: str) -> None:
    if not (port.isascii() and port.isdigit()) or not 1 <= int(port) <= 65535:
        raise ValueError(f"the endpoint's port must be a number from 1 to 65535{shown}")


# -- env parsing -------------------------------------------------------------------


def _parse_word(raw: str, var: str) -> str:
    return raw.lower()


def _parse_headers(raw: str, var: str = "headers") -> dict[str, SecretStr]:
    """Parse W3C-baggage-style ``k=v,k2=v2``; keys and values are URL-decoded.

    Error messages give the entry's position, never its text: it may hold a token.
    """
    headers: dict[str, SecretStr] = {}
    for position, entry in enumerate(raw.split(","), start=1):
        if not entry.strip():
            continue
        key, sep, value = entry.partition("=")
        name = unquote(key).strip().lower()
        if not sep or not name or not set(name) <= _TOKEN_CHARS:
            raise ConfigError(
                f"{var}: entry {position} is not a valid key=value pair; write "
                f"comma-separated pairs such as {var}=authorization=Bearer%20<token>,"
                "x-tenant=acme (URL-encode spaces, commas and '=' in values)"
            )
        headers[name] = Secret(unquote(value).strip())
    return headers


def _split_password(value: str) -> tuple[str, Secret | None]:
    """``value`` without the password of its URL, and the whole URL as a secret.

    A value that is no URL with a password comes back as it is, with ``None``.
    """
    text = value.strip()
    if "://" not in text:
        return value, None
    try:
        parts = urlsplit(text)
        password = parts.password
    except ValueError:  # e.g. an unbalanced "[": the field validator reports it
        return value, None
    if password is None:
        return value, None
    user, _, host = parts.netloc.rpartition("@")
    username = user.partition(":")[0]
    netloc = f"{username}@{host}" if username else host
    return parts._replace(netloc=netloc).geturl(), Secret(text)


def _parse_timeout(raw: str, var: str) -> float:
    try:
        millis = float(raw)
    except ValueError:
        raise ConfigError(
            f"{var}={raw!r} is not a number of milliseconds; e.g. {var}=10000"
        ) from None
    if not millis > 0 or millis == float("inf"):
        raise ConfigError(
            f"{var}={raw!r} must be a positive number of milliseconds; e.g. {var}=10000"
        )
    return millis / 1000


def _parse_bool(raw: str, var: str) -> bool:
    value = raw.lower()
    if value not in ("true", "false"):
        raise ConfigError(f"{var}={raw!r} is not a boolean; set {var}=true or {var}=false")
    return value == "true"


def _parse_path(raw: str, var: str) -> Path:
    path = Path(raw)
    if not path.is_file():
        raise ConfigError(f"{var}: file {raw!r} does not exist; give the path of a PEM file")
    return path


def _parse_int(raw: str, var: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(
            f"{var}={raw!r} is not an integer number of bytes; e.g. {var}=4194304"
        ) from None


_ENV: dict[str, tuple[str, Callable[[str, str], Any]]] = {
    "protocol": ("PROTOCOL", _parse_word),
    "headers": ("HEADERS", _parse_headers),
    "compression": ("COMPRESSION", _parse_word),
    "timeout": ("TIMEOUT", _parse_timeout),
    "certificate_file": ("CERTIFICATE", _parse_path),
    "client_key_file": ("CLIENT_KEY", _parse_path),
    "client_certificate_file": ("CLIENT_CERTIFICATE", _parse_path),
    "insecure": ("INSECURE", _parse_bool),
}


def _resolve_endpoint(
    data: dict[str, Any],
    sources: dict[str, str],
    overrides: Mapping[str, Any],
    env: Mapping[str, str],
) -> None:
    """Pick the endpoint per the spec: the logs variable as-is, the generic one + path."""
    if "endpoint" in overrides:
        data["endpoint"] = overrides["endpoint"]
        sources["endpoint"] = "endpoint= argument"
        return
    if specific := env.get("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "").strip():
        data["endpoint"] = specific
        sources["endpoint"] = "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"
        return
    if generic := env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip():
        # The generic variable names the base URL of all signals; HTTP appends the
        # signal's path, gRPC has none.
        protocol = data.get("protocol", "grpc")
        if protocol == "http/protobuf":
            generic = generic.rstrip("/") + "/v1/logs"
        data["endpoint"] = generic
        sources["endpoint"] = "OTEL_EXPORTER_OTLP_ENDPOINT"


_SHOW_INPUT = frozenset(
    {
        "protocol",
        "compression",
        "timeout",
        "insecure",
        "max_request_bytes",
        "max_concurrent_exports",
        "certificate_file",
    }
)
_HINTS = {
    "protocol": "; use grpc or http/protobuf",
    "endpoint": "; e.g. https://collector:4317 (gRPC) or https://collector:4318/v1/logs (HTTP)",
    "compression": "; use gzip or none",
    "timeout": "; e.g. timeout=10.0 (seconds) or OTEL_EXPORTER_OTLP_TIMEOUT=10000 (ms)",
    "max_request_bytes": "; e.g. 4194304 (4 MiB)",
    "max_concurrent_exports": "; from 1 to 64, e.g. 4",
}
