"""Configuration: one validated settings model, fed by kwargs, FAPILOG_* and OTEL_* env.

Precedence, highest first: keyword arguments, ``FAPILOG_*`` environment variables,
the standard ``OTEL_*`` environment variables, then the defaults below.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from fapilog._settings_common import FIELD_TO_OTEL as _FIELD_TO_OTEL
from fapilog._settings_common import OTEL_ENV as OTEL_ENV  # re-exported (fapilog.cli)
from fapilog._settings_common import env_variable as env_variable
from fapilog._settings_common import level_number as _level_number
from fapilog._validation import explain
from fapilog.errors import ConfigError, ConfigTypeError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from pydantic.fields import FieldInfo

__all__ = ["ConfigError", "ConfigTypeError", "Settings"]

OverflowPolicy = Literal["block", "drop_newest", "drop_oldest"]

# OTEL_ENV (the OTEL_* variables and the setting each one feeds, after FAPILOG_*),
# env_variable() and the level parser live in fapilog._settings_common: the default
# pipeline uses them without importing pydantic (docs/architecture.md, "Import cost").


class _OtelEnvSource(PydanticBaseSettingsSource):
    """Reads the standard OTEL_* variables that map onto fapilog settings."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        env_name = _FIELD_TO_OTEL.get(field_name)
        if env_name is None:
            return None, field_name, False
        value = os.environ.get(env_name)
        return (value if value not in (None, "") else None), field_name, False

    def __call__(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for name, field in self.settings_cls.model_fields.items():
            value, key, _ = self.get_field_value(field, name)
            if value is not None:
                data[key] = value
        return data


class Settings(BaseSettings):
    """Every fapilog setting. Each field is also read from ``FAPILOG_<NAME>``."""

    model_config = SettingsConfigDict(
        env_prefix="FAPILOG_",
        frozen=True,
        extra="forbid",
        validate_default=True,
        hide_input_in_errors=False,
    )

    level: str = "INFO"
    """Minimum level of events the pipeline accepts: TRACE, DEBUG, INFO, WARN, ERROR, FATAL
    (any case; also WARNING and CRITICAL), or a :mod:`logging` level number, as an int
    (``logging.DEBUG``) or digits (``"10"``): 5 is TRACE, 10 DEBUG, 20 INFO, 30 WARN,
    40 ERROR, 50 FATAL, numbers in between as :func:`fapilog._severity.from_stdlib`
    maps them. A number is stored as its digits."""

    service_name: str | None = None
    """``service.name`` of the resource (else ``OTEL_SERVICE_NAME``, else OTel's default)."""

    exporters: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["console"])
    """Exporter names, comma separated in env: ``console``, ``file``, ``otlp`` (also as the
    SDK's ``otlp_proto_grpc``/``otlp_proto_http``), ``memory``, ``none``, or a name
    registered under the ``fapilog.exporters`` or ``opentelemetry_logs_exporter``
    entry-point group (looked up in that order)."""

    processors: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Processor names, comma separated in env: each one registered under the
    ``fapilog.processors`` entry-point group (enrichers, filters, samplers, redactors
    from installed plugins). They run after the built-in enrichers and redaction.
    ``processors=`` given to ``configure()``/``Pipeline()`` replaces this list."""

    console_format: Literal["auto", "pretty", "json"] = "auto"
    """``auto``: pretty (coloured) on a TTY, JSON lines otherwise."""

    console_stream: Literal["stderr", "stdout"] = "stderr"
    """Where the console exporter writes."""

    console_time: Literal["local", "utc"] = "local"
    """Clock of pretty console times: ``local`` (with its UTC offset, ``+01:00``) or
    ``utc`` (marked ``Z``). JSON lines are always UTC."""

    console_colors: bool | None = None
    """ANSI colours in pretty console output. Unset (or ``auto``): off with ``NO_COLOR``,
    on with ``FORCE_COLOR``, off for ``TERM=dumb``, else on for a TTY; true/false override."""

    console_locals: bool = False
    """List each traceback frame's local variables in pretty console output (redacted
    with the default rules, cut to the terminal width)."""

    callsite: Literal["auto", "on", "off"] = "auto"
    """Record where each fapilog log call was made (``code.file.path``, ``code.line.number``,
    ``code.function.name``): ``on``, ``off``, or ``auto``: on when a console exporter
    renders pretty lines (``console_format=pretty``, or ``auto`` on a terminal). Costs
    the caller about 0.1 us per call when on (see ``docs/logging-api.md``)."""

    file_path: Path | None = None
    """Path of the JSON-lines file written by the ``file`` exporter."""

    file_max_bytes: int | None = Field(default=None, gt=0)
    """Rotate the file before it would exceed this size."""

    file_rotate_every: timedelta | None = None
    """Rotate the file at this interval (e.g. ``PT1H`` or ``3600`` seconds)."""

    file_backup_count: int = Field(default=7, ge=0)
    """Rotated files to keep."""

    file_max_age: timedelta | None = None
    """Delete rotated files older than this."""

    file_compress: Literal["none", "gzip"] = "none"
    """Compress each rotated file: ``gzip`` (to ``<rotated name>.gz``, off the export
    path) or ``none``."""

    max_queue_size: int = Field(default=20_000, gt=0)
    """Events the caller-side ring buffer holds, and each exporter's backlog bound."""

    max_queue_bytes: int = Field(default=64 * 1024 * 1024, gt=0)
    """Bytes (estimated) everything buffered may hold: a quarter for the intake ring,
    half for each exporter's backlog and exports in flight, one 32nd for a batch
    (``docs/memory.md``)."""

    max_export_batch_size: int = Field(default=512, gt=0)
    """Events per export call."""

    schedule_delay_ms: int = Field(default=200, ge=0)
    """Longest time an event waits for its batch to fill before export."""

    export_timeout_ms: int = Field(default=30_000, gt=0)
    """Bound on one export including its retries."""

    retry_initial_backoff_ms: int = Field(default=100, gt=0)
    """Longest pause before the first retry of a failed export (full jitter: the pause
    is drawn from 0 to this); each further retry doubles it, up to
    ``retry_max_backoff_ms``. A ``Retry-After`` the backend sends is a minimum."""

    retry_max_backoff_ms: int = Field(default=1_000, gt=0)
    """Ceiling of the pause between two retries of one batch (at least
    ``retry_initial_backoff_ms``)."""

    retry_max_attempts: int | None = Field(default=None, gt=0)
    """Most export calls for one batch, the first included; unset retries until
    ``export_timeout_ms`` runs out. An exporter's own ``retry_policy`` wins."""

    overflow: OverflowPolicy = "block"
    """What a full buffer does: ``block`` (wait up to ``block_timeout_ms``, then drop;
    never on an event-loop thread), ``drop_newest`` or ``drop_oldest``. Drops are counted."""

    block_timeout_ms: int = Field(default=100, ge=0)
    """Longest a synchronous log call waits for buffer space under ``block``."""

    spool_dir: Path | None = None
    """Directory of the durable disk spool (``docs/durability.md``); unset: memory only.
    Events are written there after redaction, before the exporters, and survive a
    collector outage or a crash of the process."""

    spool_max_bytes: int = Field(default=1024**3, gt=0)
    """Most bytes the spool holds on disk; beyond it ``spool_overflow`` applies."""

    spool_max_age_s: float = Field(default=7 * 24 * 3600.0, gt=0)
    """Records older than this are deleted undelivered (counted ``spool_expired``)."""

    spool_fsync: Literal["batch", "interval", "never"] = "batch"
    """When spooled events reach the disk: ``batch`` (fsync before the events are
    handed to the exporters), ``interval`` (at most a second later) or ``never``
    (the operating system decides; survives a crash of the process, not of the host)."""

    spool_overflow: OverflowPolicy = "drop_oldest"
    """What a full spool does: ``drop_oldest`` (delete the oldest records),
    ``drop_newest`` (do not spool new events, counted as ``spool_full``) or ``block``
    (the worker never waits on the disk: what does not fit is refused as
    ``spool_full``). Drops are counted."""

    baggage_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """W3C baggage keys copied into attributes (``*`` for all)."""

    shutdown_timeout_ms: int = Field(default=5_000, gt=0)
    """Bound on ``shutdown()`` without an explicit timeout, and on the flush at exit."""

    redaction: bool = True
    """Redact secrets and personal data on the worker, before user processors and
    exporters see an event (see ``docs/redaction.md``)."""

    redaction_hmac_key: SecretStr | None = None
    """Key for rules whose action is ``hash`` (HMAC-SHA256); without one they mask."""

    redaction_allow_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """If set, only these attribute keys pass redaction (``http.*`` = a prefix); others
    are dropped and noted."""

    redaction_max_scan_bytes: int = Field(default=65_536, gt=0)
    """Longest string scanned for secrets; the rest is cut (fail closed)."""

    compliance: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Compliance profiles to enforce: ``pci-dss``, ``hipaa``, ``gdpr``, ``sox``, ``soc2``
    (see ``docs/compliance.md``)."""

    compliance_mode: Literal["flag", "drop"] = "flag"
    """What a compliance violation does: ``flag`` the event
    (``fapilog.compliance.violations``) or ``drop`` it (counted as ``filtered``)."""

    # -- metrics --
    metrics: bool = True
    """Report the pipeline's own health (events emitted, exported, dropped, buffered,
    export durations, retries, bytes) through the OpenTelemetry metrics API, to the
    global meter provider (see ``docs/metrics.md``); ``false`` registers nothing."""

    # -- volume --
    sampling_ratio: float = Field(default=1.0, ge=0.0, le=1.0)
    """Share of events kept (``0.1`` keeps one in ten); below 1 a sampling processor runs
    after redaction and compliance. Records of a trace are kept or dropped together, as
    the OTel SDK's ``TraceIdRatioBased`` sampler decides at this ratio; records at or
    above ``sampling_keep_level`` and audit events are always kept. Left-out events are
    counted as ``sampled``, never as a loss (see ``docs/sampling.md``)."""

    sampling_keep_level: str = "warn"
    """Records at or above this level are never sampled out (``off``: no exemption)."""

    sampling_rules: Annotated[dict[str, float], NoDecode] = Field(default_factory=dict)
    """Per-logger ratios by dotted prefix, the longest match winning; in env
    ``FAPILOG_SAMPLING_RULES="shop.db=0.01,urllib3=0"``. Any rule turns sampling on."""

    sampling_keep_sampled_traces: bool = False
    """Also keep every record whose W3C trace flags say its trace is sampled."""

    dedup_window_ms: int | None = Field(default=None, gt=0)
    """Collapse identical events repeated within this many milliseconds into the first
    one plus a summary record (``fapilog.repeat_count``); repeats are counted as
    ``deduplicated``. Unset: off."""

    @field_validator("sampling_keep_level")
    @classmethod
    def _check_sampling_keep_level(cls, value: str) -> str:
        from fapilog.processors._sampling import _keep_level_number

        _keep_level_number(value)
        return value

    @field_validator("sampling_rules", mode="before")
    @classmethod
    def _parse_sampling_rules(cls, value: Any) -> Any:
        from fapilog.processors._sampling import _checked_rules, parse_ratio_rules

        if isinstance(value, str):
            return parse_ratio_rules(value)
        if isinstance(value, dict):
            return _checked_rules(value)
        return value

    # -- alerts --
    alert_rules: Path | None = None
    """A TOML (``.toml``) or JSON (``.json``) file of alert rules and notifiers, read by
    the ``alerts`` exporter (``FAPILOG_EXPORTERS=console,alerts``); see
    ``docs/alerting.md``. Naming the file alone starts no alerting."""

    # -- caller --
    levels: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)
    """Per-logger levels by dotted prefix, the longest match winning over ``level``,
    checked on the caller; in env ``FAPILOG_LEVELS="shop.db=DEBUG,urllib3=WARNING"``.
    :func:`fapilog.set_level` changes levels at run time (see ``docs/levels.md``)."""

    rate_limit: float | None = Field(default=None, gt=0)
    """Events per second each logger may log per message template (the message before
    ``%``-formatting), checked on the caller; the excess is dropped, counted as
    ``rate_limited`` and summed up in a summary record (see ``docs/rate-limits.md``).
    Unset: no limit."""

    rate_limit_burst: int | None = Field(default=None, gt=0)
    """Events a template may log at once before the rate applies (unset: one second's
    worth of the rate, at least 1)."""

    rate_limits: Annotated[dict[str, float | None], NoDecode] = Field(default_factory=dict)
    """Per-logger rates by dotted prefix, the longest match winning over ``rate_limit``
    (``off``: no limit); in env ``FAPILOG_RATE_LIMITS="shop.db=100,chatty=off"``."""

    @field_validator("levels", mode="before")
    @classmethod
    def _parse_levels(cls, value: Any) -> Any:
        from fapilog._levels import parse_level, parse_levels

        if isinstance(value, str):
            return parse_levels(value)
        if isinstance(value, dict):
            for level in value.values():
                parse_level(level)
            return {str(name).strip(): str(level) for name, level in value.items()}
        return value

    @field_validator("rate_limits", mode="before")
    @classmethod
    def _parse_rate_limits(cls, value: Any) -> Any:
        from fapilog._ratelimit import parse_rate_rules

        if isinstance(value, str | dict):
            return parse_rate_rules(value)
        return value

    # Settings given in code (configure(...), Settings.load(...)); see source().
    _arguments: frozenset[str] = PrivateAttr(default=frozenset())

    @field_validator("redaction_hmac_key")
    @classmethod
    def _never_pickled(cls, value: SecretStr | None) -> SecretStr | None:
        """Hold the key as a secret that refuses pickling (a ``SecretStr`` pickles it)."""
        from fapilog.exporters._secret import Secret

        return None if value is None else Secret(value.get_secret_value())

    @field_validator("level", mode="before")
    @classmethod
    def _level_number_as_text(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("a level is a name or a logging number, not a bool")
        if isinstance(value, int):
            return str(value)
        return value

    @field_validator("level")
    @classmethod
    def _check_level(cls, value: str) -> str:
        _level_number(value)
        return value

    @field_validator("compliance")
    @classmethod
    def _check_profiles(cls, value: list[str]) -> list[str]:
        from fapilog.compliance._profiles import PROFILES

        names = [name.lower() for name in value]
        unknown = [name for name in names if name not in PROFILES]
        if unknown:
            valid = ", ".join(sorted(PROFILES))
            raise ValueError(f"unknown compliance profile(s) {', '.join(unknown)}; use {valid}")
        return names

    @field_validator(
        "exporters",
        "processors",
        "baggage_keys",
        "redaction_allow_keys",
        "compliance",
        mode="before",
    )
    @classmethod
    def _split_csv(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("console_colors", mode="before")
    @classmethod
    def _colors_auto(cls, value: Any) -> Any:
        """``auto`` (or an empty variable) leaves colours to the stream and environment."""
        if isinstance(value, str) and value.strip().lower() in ("", "auto"):
            return None
        return value

    @model_validator(mode="after")
    def _batch_fits_the_queue(self) -> Settings:
        # As the OTel SDK requires of OTEL_BLRP_*. Only a batch size that was chosen
        # is checked: a small queue alone keeps the default batch size (a batch then
        # fills from several drains of the queue, or leaves on the schedule delay).
        if (
            "max_export_batch_size" in self.model_fields_set
            and self.max_export_batch_size > self.max_queue_size
        ):
            raise PydanticCustomError(
                "batch_exceeds_queue",
                "max_export_batch_size {batch} is larger than max_queue_size {queue}",
                {"batch": self.max_export_batch_size, "queue": self.max_queue_size},
            )
        return self

    @model_validator(mode="after")
    def _backoff_in_order(self) -> Settings:
        if self.retry_initial_backoff_ms > self.retry_max_backoff_ms:
            raise PydanticCustomError(
                "backoff_out_of_order",
                "retry_initial_backoff_ms {initial} is larger than retry_max_backoff_ms {ceiling}",
                {"initial": self.retry_initial_backoff_ms, "ceiling": self.retry_max_backoff_ms},
            )
        return self

    @property
    def level_number(self) -> int:
        """:attr:`level` as an OTel severity number."""
        return _level_number(self.level)

    def source(self, name: str) -> str:
        """Where the value of setting ``name`` came from, for messages.

        Returns:
            ``"<name>= argument"`` (given to :meth:`load`, ``configure()`` or
            ``Pipeline()``), the environment variable that holds it
            (``"FAPILOG_LEVEL"``, ``"OTEL_LOGS_EXPORTER"``), or ``"default"``.
        """
        if name in self._arguments:
            return f"{name}= argument"
        variable = env_variable(name)
        if variable is not None:
            return variable
        return f"{name}= argument" if name in self.model_fields_set else "default"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _OtelEnvSource(settings_cls))

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Build settings from ``overrides`` and the environment.

        Raises:
            ConfigError: a value is invalid; the message says which and how to fix it.
        """
        try:
            settings = cls(**overrides)
        except ValidationError as exc:
            message, fields = _explain(exc, overrides)
            raise ConfigError(message, fields=fields) from None
        settings._arguments = frozenset(overrides)
        return settings

    @classmethod
    def defaults(cls, **overrides: Any) -> Settings:
        """Build settings from ``overrides`` and the defaults, ignoring the environment.

        Raises:
            ConfigError: a value is invalid; the message says which and how to fix it.
        """
        return _DefaultsOnly.load(**overrides)


class _DefaultsOnly(Settings):
    """:class:`Settings` that read no environment variable (:meth:`Settings.defaults`)."""

    def __repr_name__(self) -> str:
        return "Settings"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def _where(name: str, overrides: dict[str, Any]) -> str:
    if name in overrides:
        return f"{name}= argument"
    variable = env_variable(name)
    if variable is not None:
        return variable
    if name in _FIELD_TO_OTEL:
        return f"FAPILOG_{name.upper()} (or {_FIELD_TO_OTEL[name]})"
    return f"FAPILOG_{name.upper()}"


def _explain(exc: ValidationError, overrides: dict[str, Any]) -> tuple[str, list[str]]:
    fields = Settings.model_fields

    def secret(name: str) -> bool:
        annotation = fields[name].annotation
        return annotation is SecretStr or "SecretStr" in str(annotation)

    def batch_exceeds_queue(ctx: Mapping[str, Any]) -> tuple[str, list[str]]:
        queue = ctx.get("queue")
        return (
            f"max_export_batch_size ({ctx.get('batch')}, from "
            f"{_where('max_export_batch_size', overrides)}) is larger than "
            f"max_queue_size ({queue}, from {_where('max_queue_size', overrides)}): "
            f"a batch is taken from the queue; set the batch size to at most {queue} "
            "or raise the queue size"
        ), ["max_export_batch_size", "max_queue_size"]

    def backoff_out_of_order(ctx: Mapping[str, Any]) -> tuple[str, list[str]]:
        initial, ceiling = ctx.get("initial"), ctx.get("ceiling")
        return (
            f"retry_initial_backoff_ms ({initial}, from "
            f"{_where('retry_initial_backoff_ms', overrides)}) is larger than "
            f"retry_max_backoff_ms ({ceiling}, from {_where('retry_max_backoff_ms', overrides)}): "
            f"the first pause cannot exceed the ceiling; set the initial backoff to at most "
            f"{ceiling} or raise the maximum"
        ), ["retry_initial_backoff_ms", "retry_max_backoff_ms"]

    return explain(
        "invalid fapilog configuration:",
        exc,
        fields=fields,
        source=lambda name: _where(name, overrides),
        show_input=lambda name: not secret(name),
        hints=_HINTS,
        special={
            "batch_exceeds_queue": batch_exceeds_queue,
            "backoff_out_of_order": backoff_out_of_order,
        },
        noun="setting",
    )


_HINTS = {
    "level": "; e.g. FAPILOG_LEVEL=INFO, or a logging number such as 20",
    "overflow": "; use block, drop_newest or drop_oldest",
    "console_format": "; use auto, pretty or json",
    "console_time": "; use local or utc",
    "console_colors": "; use true, false or auto",
    "file_rotate_every": "; use seconds (3600) or ISO 8601 (PT1H)",
    "compliance": "; e.g. FAPILOG_COMPLIANCE=pci-dss,gdpr",
    "compliance_mode": "; use flag or drop",
    "callsite": "; use auto, on or off",
    "processors": "; e.g. FAPILOG_PROCESSORS=sampler,tenant (names of fapilog.processors plugins)",
    "retry_max_attempts": "; e.g. FAPILOG_RETRY_MAX_ATTEMPTS=5, or unset: retry until the timeout",
    "levels": "; e.g. FAPILOG_LEVELS=shop.db=DEBUG,urllib3=WARNING",
    "rate_limits": "; e.g. FAPILOG_RATE_LIMITS=shop.db=100,chatty=off (events per second)",
    "spool_fsync": "; use batch, interval or never",
    "spool_overflow": "; use drop_oldest, drop_newest or block",
}
