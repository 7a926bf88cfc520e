"""Elasticsearch exporter options: keyword arguments over ``FAPILOG_ELASTICSEARCH_*``.

Each option is read from, highest first: the keyword argument, the environment
variable ``FAPILOG_ELASTICSEARCH_<NAME>``, then the default. Empty variables count
as unset. See ``docs/exporters/elasticsearch.md`` for the table.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from fapilog.plugin import Secret, decoded_credential, load_options, safe_reason, secret_words

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["DEFAULT_MAX_REQUEST_BYTES", "ENV_PREFIX", "ElasticsearchExporterOptions"]

ENV_PREFIX = "FAPILOG_ELASTICSEARCH_"
DEFAULT_MAX_REQUEST_BYTES = 5 * 1024 * 1024
"""5 MiB: inside Elastic's advice for bulk sizes, far below ``http.max_content_length``."""

# Elastic's data stream naming scheme: <type>-<dataset>-<namespace>, neither part may
# contain "-", both lower-case, at most 100 characters, none of \ / * ? " < > | , # :
# or a space.
_PART = re.compile(r'^[^-\\/*?"<>|,#:\sA-Z]{1,100}$')
_INDEX_FORBIDDEN = re.compile(r'[\\/*?"<>|,#:\sA-Z]')
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


class ElasticsearchExporterOptions(BaseSettings):
    """Resolved settings of the Elasticsearch / OpenSearch ``_bulk`` exporter.

    ``ElasticsearchExporterOptions(url=...)`` applies the ``FAPILOG_ELASTICSEARCH_*``
    variables under the keyword arguments, as any pydantic-settings model does;
    :meth:`from_env` does the same but raises :class:`fapilog.ConfigError` with a
    message naming the argument or variable at fault. Secrets (``api_key``,
    ``password``) are :class:`~pydantic.SecretStr`: never in ``repr``, ``str``,
    ``model_dump()``, errors or export results; pickling options that hold one
    raises :class:`TypeError`.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_ignore_empty=True,
        frozen=True,
        extra="forbid",
        hide_input_in_errors=True,
    )

    url: str = Field(default="", validate_default=True)
    """Base URL of the cluster, e.g. ``https://es.internal:9200`` (a path prefix, for a
    proxy, is kept). Required."""

    api_key: SecretStr | None = None
    """API key: the ``encoded`` value Elasticsearch returns, or ``id:api_key`` (encoded
    for you). Sent as ``Authorization: ApiKey <encoded>``."""

    username: str | None = None
    """User for HTTP basic authentication (with :attr:`password`)."""

    password: SecretStr | None = None
    """Password for HTTP basic authentication (with :attr:`username`)."""

    data_stream: str | None = None
    """Full data stream name ``logs-<dataset>-<namespace>``; an alternative to
    :attr:`dataset` and :attr:`namespace`."""

    dataset: str = "generic"
    """Data stream dataset: documents go to ``logs-<dataset>-<namespace>``."""

    namespace: str = "default"
    """Data stream namespace: documents go to ``logs-<dataset>-<namespace>``."""

    index: str | None = None
    """Write to this index, alias or data stream instead (no ``data_stream.*`` fields
    are added). Excludes :attr:`data_stream`, :attr:`dataset` and :attr:`namespace`."""

    gzip: bool = False
    """Compress request bodies with gzip (``Content-Encoding: gzip``)."""

    max_request_bytes: int = Field(default=DEFAULT_MAX_REQUEST_BYTES, ge=1024)
    """Largest uncompressed ``_bulk`` body; bigger batches are split into requests."""

    timeout: float = Field(default=10.0, gt=0)
    """Seconds one ``export`` call may take, all its requests included."""

    ca_file: Path | None = None
    """PEM file of CA certificates to trust instead of the system's."""

    verify: bool = True
    """Verify the server's TLS certificate and host name. Turn off only for tests."""

    filter_path: bool = True
    """Ask the cluster to trim ``_bulk`` responses to the fields the exporter reads."""

    # -- validation ----------------------------------------------------------------

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("the cluster URL is required")
        parts = urlsplit(value)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ValueError("the URL must be an http:// or https:// URL with a host")
        if parts.username is not None or parts.password is not None:
            raise ValueError("put credentials in username/password or api_key, not in the URL")
        if parts.query or parts.fragment:
            raise ValueError("the URL must not have a query or fragment")
        try:
            parts.port  # noqa: B018  # urllib validates the port only when it is read
        except ValueError:
            raise ValueError("the URL's port must be a number from 0 to 65535") from None
        return value.rstrip("/")

    @field_validator("api_key", "password")
    @classmethod
    def _check_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        secret = value.get_secret_value().strip()
        if not secret:
            return None
        if _CONTROL.search(secret):
            raise ValueError("contains a control character (e.g. a newline)")
        return Secret(secret)

    @field_validator("dataset", "namespace")
    @classmethod
    def _check_part(cls, value: str) -> str:
        value = value.strip()
        if not _PART.match(value):
            raise ValueError(
                "must be 1-100 lower-case characters without '-', spaces or \\ / * ? \" < > | , # :"
            )
        return value

    @field_validator("data_stream")
    @classmethod
    def _check_data_stream(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        kind, _, rest = value.partition("-")
        dataset, _, namespace = rest.partition("-")
        if kind != "logs" or not _PART.match(dataset) or not _PART.match(namespace):
            raise ValueError(
                "must follow the naming scheme logs-<dataset>-<namespace> (lower case, "
                "no '-' inside a part); use index for any other target"
            )
        return value

    @field_validator("index")
    @classmethod
    def _check_index(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if (
            value in (".", "..")
            or value[0] in "-_+"
            or _INDEX_FORBIDDEN.search(value)
            or len(value.encode()) > 255
        ):
            raise ValueError(
                "is not a valid index name: lower case, at most 255 bytes, not starting "
                'with - _ +, without spaces or \\ / * ? " < > | , # :'
            )
        return value

    @model_validator(mode="after")
    def _check_combinations(self) -> ElasticsearchExporterOptions:
        if self.api_key is not None and (self.username or self.password is not None):
            raise ValueError(
                "give either api_key or username/password, not both "
                "(FAPILOG_ELASTICSEARCH_API_KEY or FAPILOG_ELASTICSEARCH_USERNAME/PASSWORD)"
            )
        if bool(self.username) != (self.password is not None):
            raise ValueError(
                "username and password (FAPILOG_ELASTICSEARCH_USERNAME, "
                "FAPILOG_ELASTICSEARCH_PASSWORD) must be set together"
            )
        chosen = {"dataset", "namespace"} & self.model_fields_set
        if self.index is not None and (self.data_stream is not None or chosen):
            raise ValueError(
                "index excludes data_stream, dataset and namespace: set either the "
                "index or the data stream"
            )
        if self.data_stream is not None and chosen:
            _, dataset, namespace = self.data_stream.split("-", 2)
            if (self.dataset, self.namespace) != (dataset, namespace):
                raise ValueError(
                    f"data_stream {self.data_stream!r} disagrees with dataset/namespace; "
                    "set one or the other"
                )
        if self.ca_file is not None and not self.ca_file.is_file():
            raise ValueError(
                f"CA file {str(self.ca_file)!r} does not exist; give the path of a PEM file"
            )
        return self

    # -- derived -------------------------------------------------------------------

    @property
    def target(self) -> str:
        """Where documents go: the index, or the data stream name."""
        if self.index is not None:
            return self.index
        if self.data_stream is not None:
            return self.data_stream
        return f"logs-{self.dataset}-{self.namespace}"

    @property
    def data_stream_parts(self) -> tuple[str, str, str] | None:
        """``(type, dataset, namespace)`` when writing to a data stream, else ``None``."""
        if self.index is not None:
            return None
        kind, dataset, namespace = self.target.split("-", 2)
        return kind, dataset, namespace

    @property
    def auth_kind(self) -> Literal["api_key", "basic", "none"]:
        """Which authentication the requests carry."""
        if self.api_key is not None:
            return "api_key"
        return "basic" if self.username else "none"

    def authorization(self) -> SecretStr | None:
        """The ``Authorization`` header value (wrapped), or ``None`` without credentials."""
        if self.api_key is not None:
            return Secret(f"ApiKey {encode_api_key(self.api_key.get_secret_value())}")
        if self.username and self.password is not None:
            pair = f"{self.username}:{self.password.get_secret_value()}".encode()
            return Secret(f"Basic {base64.b64encode(pair).decode('ascii')}")
        return None

    def redact(self, text: str) -> str:
        """Make ``text`` (e.g. a server's error reason) safe for diagnostics.

        Masks the API key (both forms, and the key part of ``id:api_key``), the
        password and the ``Authorization`` credential wherever they appear, in any
        case or URL-encoded, flattens control characters and caps the length.

        Args:
            text: any text that may echo request data.

        Returns:
            The sanitised text.
        """
        secrets: list[str] = []
        for value in (self.api_key, self.password):
            if value is not None:
                secrets.extend(secret_words(value.get_secret_value(), r"\s:"))
        header = self.authorization()
        if header is not None:
            credential = header.get_secret_value().split(" ", 1)[1]
            secrets.extend(secret_words(credential))
            # The encoded API key decodes to id:api_key (the id is no secret).
            secrets.extend(decoded_credential(credential)[1:])
        return safe_reason(text, secrets)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # SecretStr already masks itself; drop unset secrets to keep the repr short.
        for name, value in super().__repr_args__():
            if name in ("api_key", "password") and value is None:
                continue
            yield name, value

    # -- environment ---------------------------------------------------------------

    @classmethod
    def from_env(cls, **overrides: Any) -> ElasticsearchExporterOptions:
        """Resolve options from ``overrides`` over the ``FAPILOG_ELASTICSEARCH_*`` env.

        Args:
            **overrides: any field of this model; these win over the environment.

        Returns:
            The validated options.

        Raises:
            ConfigError: an option is missing or invalid; the message names the
                keyword argument or environment variable and the fix, never a secret.
        """
        return load_options(
            cls,
            overrides,
            what="Elasticsearch exporter",
            env_prefix=ENV_PREFIX,
            show_input=_SHOW_INPUT.__contains__,
            hints=_HINTS,
        )


def encode_api_key(key: str) -> str:
    """The base64 credential of ``Authorization: ApiKey``.

    Args:
        key: the ``encoded`` form Elasticsearch returns, or ``id:api_key``.

    Returns:
        The encoded form.
    """
    if ":" in key:
        return base64.b64encode(key.encode()).decode("ascii")
    return key


_SHOW_INPUT = frozenset(
    {
        "username",
        "dataset",
        "namespace",
        "data_stream",
        "index",
        "gzip",
        "max_request_bytes",
        "timeout",
        "ca_file",
        "verify",
        "filter_path",
    }
)
_HINTS = {
    "url": "; set FAPILOG_ELASTICSEARCH_URL=https://es.internal:9200 or pass url=",
    "max_request_bytes": "; e.g. 5242880 (5 MiB), at least 1024",
    "timeout": "; a positive number of seconds, e.g. 10",
    "gzip": "; use true or false",
    "verify": "; use true or false",
    "filter_path": "; use true or false",
}
