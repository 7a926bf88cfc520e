"""Syslog exporter options: keyword arguments over ``FAPILOG_SYSLOG_*`` variables."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from fapilog.plugin import Secret, load_options, safe_reason, wrap_secret

__all__ = ["DEFAULT_ENTERPRISE_NUMBER", "ENV_PREFIX", "FACILITIES", "SyslogOptions"]

ENV_PREFIX = "FAPILOG_SYSLOG_"
DEFAULT_ENTERPRISE_NUMBER = 32473
"""The private enterprise number RFC 5612 reserves for documentation and examples."""

FACILITIES: dict[str, int] = {
    "kern": 0,
    "user": 1,
    "mail": 2,
    "daemon": 3,
    "auth": 4,
    "syslog": 5,
    "lpr": 6,
    "news": 7,
    "uucp": 8,
    "cron": 9,
    "authpriv": 10,
    "ftp": 11,
    "ntp": 12,
    "security": 13,
    "console": 14,
    "solaris-cron": 15,
    **{f"local{i}": 16 + i for i in range(8)},
}

_PRINTUSASCII = re.compile(r"[\x21-\x7e]+")
_SD_NAME_FORBIDDEN = frozenset('= ]"@')
_HEX = re.compile(r"[0-9a-f]{64}")
_HEADER_LIMITS = {"hostname": 255, "app_name": 48, "procid": 128}
_UDP_MAX = 65507
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


class SyslogOptions(BaseSettings):
    """Resolved settings of a :class:`~fapilog_exporter_siem.SyslogExporter`.

    Every field is read from ``FAPILOG_SYSLOG_<FIELD>`` unless given as a keyword
    argument (keywords win). Build it with :meth:`resolve` to get a
    :class:`fapilog.ConfigError` naming the variable or argument on bad input.
    ``client_key_password`` is a :class:`~pydantic.SecretStr`: it never appears in
    ``repr``, ``str``, ``model_dump()``, errors or export results, and pickling
    options that hold one raises :class:`TypeError`.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        frozen=True,
        extra="forbid",
        hide_input_in_errors=True,
        validate_default=True,
    )

    host: str
    """Host name or IP address of the syslog receiver (required)."""

    port: int | None = Field(default=None, ge=1, le=65535)
    """Receiver port; unset means 6514 for ``tls`` (RFC 5425), 514 otherwise."""

    transport: Literal["tls", "tcp", "udp"] = "tls"
    """``tls`` (RFC 5425, the default), ``tcp`` (plain text, RFC 6587 octet
    counting) or ``udp`` (RFC 5426, one message per datagram, no delivery guarantee)."""

    format: Literal["rfc5424", "cef", "leef"] = "rfc5424"
    """Payload: ``rfc5424`` (structured data + message), ``cef`` or ``leef`` (as the
    MSG part of an RFC 5424 message)."""

    facility: int = Field(default=1, ge=0, le=23)
    """Syslog facility, a number 0-23 or a name (``user``, ``local0`` ... ``local7``,
    ``auth``, ``security``...). Default ``user`` (1)."""

    app_name: str | None = None
    """APP-NAME header field; unset means the resource's ``service.name``."""

    hostname: str | None = None
    """HOSTNAME header field; unset means the resource's ``host.name``, else this
    machine's name."""

    procid: str | None = None
    """PROCID header field; unset means the resource's ``process.pid``, else the
    current process id."""

    enterprise_number: int = Field(default=DEFAULT_ENTERPRISE_NUMBER, ge=1)
    """Private enterprise number of the structured-data ids (``fapilog@32473``)."""

    sd_name: str = "fapilog"
    """Name part of the structured-data ids: ``<sd_name>@<enterprise_number>`` holds
    the event's metadata, ``<sd_name>.attrs@<enterprise_number>`` its attributes."""

    max_message_bytes: int | None = Field(default=None, ge=480)
    """Largest message in bytes (without framing); longer ones are shortened and
    counted. Unset means 2048 for ``udp`` and 8192 for ``tcp``/``tls``."""

    timeout: float = Field(default=10.0, gt=0)
    """Seconds one export (connect, TLS handshake and writing) may take."""

    ca_file: Path | None = None
    """PEM file of CA certificates to trust instead of the system's."""

    verify: bool = True
    """Verify the receiver's certificate chain and host name. With it off, pin the
    certificate with ``cert_fingerprint`` or anyone on the path can read the logs."""

    cert_fingerprint: str | None = None
    """SHA-256 fingerprint of the receiver's certificate (64 hex digits, colons and a
    ``sha256:`` prefix allowed); when set, any other certificate is refused."""

    server_name: str | None = None
    """Name to send as SNI and to check the certificate against; unset means ``host``."""

    client_cert: Path | None = None
    """PEM client certificate (chain) for mutual TLS, with ``client_key``."""

    client_key: Path | None = None
    """PEM private key of ``client_cert``."""

    client_key_password: SecretStr | None = None
    """Password of an encrypted ``client_key``."""

    vendor: str = "fapilog"
    """CEF ``Device Vendor`` / LEEF ``Vendor``."""

    product: str | None = None
    """CEF ``Device Product`` / LEEF ``Product``; unset means the resource's
    ``service.name``, else ``fapilog``."""

    product_version: str = "3"
    """CEF ``Device Version`` / LEEF ``Version``."""

    leef_delimiter: str = "\t"
    """LEEF attribute delimiter: one character, or its hex code as ``x5E``/``0x5E``.
    Default TAB (written as ``x09`` in the header)."""

    # -- validation ----------------------------------------------------------------

    @field_validator("host")
    @classmethod
    def _check_host(cls, value: str) -> str:
        value = value.strip()
        if value.startswith("[") and value.endswith("]"):
            value = value[1:-1]
        if not value or _CONTROL.search(value) or " " in value or "/" in value:
            raise ValueError("must be a host name or IP address, without scheme or port")
        return value

    @field_validator("facility", mode="before")
    @classmethod
    def _facility_name(cls, value: object) -> object:
        if isinstance(value, str):
            name = value.strip().lower()
            if name.isdigit():
                return int(name)
            if name not in FACILITIES:
                raise ValueError(
                    f"unknown facility {value!r}; use 0-23 or one of {', '.join(FACILITIES)}"
                )
            return FACILITIES[name]
        return value

    @field_validator("app_name", "hostname", "procid")
    @classmethod
    def _check_header(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        limit = _HEADER_LIMITS[str(info.field_name)]
        if not _PRINTUSASCII.fullmatch(value) or len(value) > limit:
            raise ValueError(
                f"must be 1-{limit} printable ASCII characters without spaces (RFC 5424)"
            )
        return value

    @field_validator("sd_name")
    @classmethod
    def _check_sd_name(cls, value: str) -> str:
        if not _PRINTUSASCII.fullmatch(value) or set(value) & _SD_NAME_FORBIDDEN or len(value) > 20:
            raise ValueError(
                "must be 1-20 printable ASCII characters without space, '=', ']', '\"' or '@'"
            )
        return value

    @field_validator("cert_fingerprint")
    @classmethod
    def _check_fingerprint(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        text = value.strip().lower().removeprefix("sha256:").replace(":", "")
        if not _HEX.fullmatch(text):
            raise ValueError(
                "must be the SHA-256 fingerprint of the certificate: 64 hex digits, "
                "e.g. from 'openssl x509 -noout -fingerprint -sha256 -in cert.pem'"
            )
        return text

    @field_validator("server_name")
    @classmethod
    def _check_server_name(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if _CONTROL.search(value) or " " in value:
            raise ValueError("must be a host name")
        return value

    @field_validator("ca_file", "client_cert", "client_key")
    @classmethod
    def _check_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"file {str(value)!r} does not exist; give the path of a PEM file")
        return value

    @field_validator("client_key_password")
    @classmethod
    def _wrap_password(cls, value: SecretStr | None) -> Secret | None:
        return None if value is None else wrap_secret(value)

    @field_validator("vendor", "product", "product_version")
    @classmethod
    def _check_text(cls, value: str | None) -> str | None:
        if value is not None and (_CONTROL.search(value) or not value.strip()):
            raise ValueError("must be non-empty text without control characters")
        return value

    @field_validator("leef_delimiter", mode="before")
    @classmethod
    def _check_delimiter(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        text = value
        if len(text) > 1:
            code = text.lower().removeprefix("0x").removeprefix("x")
            if not re.fullmatch(r"[0-9a-f]{1,2}", code):
                raise ValueError("must be one character or its hex code, e.g. ^ or x5E")
            text = chr(int(code, 16))
        if len(text) != 1 or text.isalnum() or text in "\\=_.\r\n\x00":
            raise ValueError(
                "must be one character that is not a letter, digit, '\\', '=', '_', '.', "
                "CR, LF or NUL"
            )
        return text

    @model_validator(mode="after")
    def _check_udp_size(self) -> SyslogOptions:
        if self.transport == "udp" and (self.max_message_bytes or 0) > _UDP_MAX:
            raise ValueError(
                f"max_message_bytes ({ENV_PREFIX}MAX_MESSAGE_BYTES) cannot exceed "
                f"{_UDP_MAX}, the largest UDP datagram; use tcp or tls for larger messages"
            )
        return self

    @model_validator(mode="after")
    def _check_client_tls(self) -> SyslogOptions:
        if (self.client_cert is None) != (self.client_key is None):
            raise ValueError(
                f"client_cert ({ENV_PREFIX}CLIENT_CERT) and client_key "
                f"({ENV_PREFIX}CLIENT_KEY) must be set together for mutual TLS"
            )
        return self

    # -- derived -------------------------------------------------------------------

    @property
    def resolved_port(self) -> int:
        """The port to use: :attr:`port`, else 6514 for TLS and 514 otherwise."""
        if self.port is not None:
            return self.port
        return 6514 if self.transport == "tls" else 514

    @property
    def message_limit(self) -> int:
        """The largest message in bytes: :attr:`max_message_bytes` or its default."""
        if self.max_message_bytes is not None:
            return self.max_message_bytes
        return 2048 if self.transport == "udp" else 8192

    @property
    def address(self) -> str:
        """``host:port`` for messages (IPv6 addresses in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.resolved_port}"

    @staticmethod
    def safe_reason(text: str) -> str:
        """Flatten control characters and cap the length of ``text`` for diagnostics."""
        return safe_reason(text)

    # -- construction --------------------------------------------------------------

    @classmethod
    def resolve(cls, **overrides: Any) -> SyslogOptions:
        """Build options from ``overrides`` over the ``FAPILOG_SYSLOG_*`` environment.

        Args:
            **overrides: any field of this model; these win over the environment.

        Returns:
            The validated options.

        Raises:
            ConfigError: a value is missing or invalid; the message names the keyword
                argument or environment variable and how to fix it, and never
                contains the key password.
        """
        return load_options(
            cls,
            overrides,
            what="syslog exporter",
            env_prefix=ENV_PREFIX,
            show_input=lambda name: name not in _HIDE_INPUT,
            hints=_HINTS,
        )


_HIDE_INPUT = frozenset({"client_key_password"})
_HINTS = {
    "host": "; e.g. siem.example.com",
    "transport": "; use tls, tcp or udp",
    "format": "; use rfc5424, cef or leef",
    "facility": "; e.g. user, local0 or 16",
    "timeout": "; e.g. 10 (seconds)",
    "max_message_bytes": "; at least 480, e.g. 8192",
}
