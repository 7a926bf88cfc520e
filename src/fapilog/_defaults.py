"""The default settings without pydantic: what a zero-configuration pipeline runs on.

:class:`fapilog.Settings` is a pydantic-settings model; importing pydantic and building
the model costs about as much as the rest of ``import fapilog`` and a first log call
together. When there is nothing to validate (no keyword argument, no ``FAPILOG_<SETTING>``
variable, none of the ``OTEL_*`` variables of ``fapilog.config.OTEL_ENV``; Settings reads no
``.env`` file), the settings are the defaults, and :func:`load_settings` returns a
:class:`DefaultSettings` holding them instead: same attributes, same values, same
:meth:`~DefaultSettings.source` and :attr:`~DefaultSettings.level_number`. Anything
else goes through the full model, as before (docs/architecture.md, "Import cost").

``tests/test_import_cost.py`` compares every field of ``Settings.model_fields`` with
:data:`DEFAULTS`: a field added to Settings needs its default here too.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, ClassVar, cast

from fapilog._settings_common import OTEL_ENV, env_variable, level_number

if TYPE_CHECKING:
    from collections.abc import Callable

    from fapilog.config import Settings

__all__ = [
    "DEFAULTS",
    "DefaultSettings",
    "configured_in_environment",
    "load_settings",
    "settings_for_defaults",
]

#: Every setting and a function returning its default (a fresh list or dict each time,
#: as the model's ``default_factory`` gives), in the order of :class:`fapilog.Settings`.
DEFAULTS: dict[str, Callable[[], object]] = {
    "level": lambda: "INFO",
    "service_name": lambda: None,
    "exporters": lambda: ["console"],
    "processors": list,
    "console_format": lambda: "auto",
    "console_stream": lambda: "stderr",
    "console_time": lambda: "local",
    "console_colors": lambda: None,
    "console_locals": lambda: False,
    "callsite": lambda: "auto",
    "file_path": lambda: None,
    "file_max_bytes": lambda: None,
    "file_rotate_every": lambda: None,
    "file_backup_count": lambda: 7,
    "file_max_age": lambda: None,
    "file_compress": lambda: "none",
    "max_queue_size": lambda: 20_000,
    "max_queue_bytes": lambda: 64 * 1024 * 1024,
    "max_export_batch_size": lambda: 512,
    "schedule_delay_ms": lambda: 200,
    "export_timeout_ms": lambda: 30_000,
    "retry_initial_backoff_ms": lambda: 100,
    "retry_max_backoff_ms": lambda: 1_000,
    "retry_max_attempts": lambda: None,
    "overflow": lambda: "block",
    "block_timeout_ms": lambda: 100,
    "spool_dir": lambda: None,
    "spool_max_bytes": lambda: 1024**3,
    "spool_max_age_s": lambda: 7 * 24 * 3600.0,
    "spool_fsync": lambda: "batch",
    "spool_overflow": lambda: "drop_oldest",
    "baggage_keys": list,
    "shutdown_timeout_ms": lambda: 5_000,
    "redaction": lambda: True,
    "redaction_hmac_key": lambda: None,
    "redaction_allow_keys": list,
    "redaction_max_scan_bytes": lambda: 65_536,
    "compliance": list,
    "compliance_mode": lambda: "flag",
    "metrics": lambda: True,
    "sampling_ratio": lambda: 1.0,
    "sampling_keep_level": lambda: "warn",
    "sampling_rules": dict,
    "sampling_keep_sampled_traces": lambda: False,
    "dedup_window_ms": lambda: None,
    "alert_rules": lambda: None,
    "levels": dict,
    "rate_limit": lambda: None,
    "rate_limit_burst": lambda: None,
    "rate_limits": dict,
}


#: ``FAPILOG_<SETTING>`` for every setting (upper case).
_VARIABLES = frozenset(f"FAPILOG_{name.upper()}" for name in DEFAULTS)


class DefaultSettings:
    """:class:`fapilog.Settings` as built with no argument in an environment that sets none.

    Read-only, like the model. Its pydantic methods (``model_dump()``,
    ``model_fields_set``...) are those of ``Settings.defaults()``, built on first use;
    ``isinstance(obj, fapilog.Settings)`` is false for it.
    """

    __slots__ = ("__dict__", "_full")

    #: The setting names, as the keys of ``Settings.model_fields`` (which maps them to
    #: pydantic's field descriptions): what the exporter factories read off the class.
    model_fields: ClassVar[dict[str, None]] = dict.fromkeys(DEFAULTS)
    #: No setting was given in code (see :meth:`fapilog.Settings.source`).
    _arguments: ClassVar[frozenset[str]] = frozenset()

    def __init__(self) -> None:
        values = {name: default() for name, default in DEFAULTS.items()}
        object.__setattr__(self, "__dict__", values)
        object.__setattr__(self, "_full", None)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"settings are read-only; cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"settings are read-only; cannot delete {name!r}")

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in self.__dict__.items())
        return f"Settings({fields})"

    def __getattr__(self, name: str) -> object:
        """The pydantic API (``model_*``), from the model built with the same defaults."""
        if not name.startswith("model_"):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        full = self._full
        if full is None:
            from fapilog.config import Settings

            full = Settings.defaults()
            object.__setattr__(self, "_full", full)
        return getattr(full, name)

    @classmethod
    def model_validate(cls, obj: object) -> Settings:
        """``Settings.model_validate(obj)``: settings with more than the defaults are a model."""
        from fapilog.config import Settings

        return Settings.model_validate(obj)

    @property
    def level_number(self) -> int:
        """:attr:`level` as an OTel severity number (as :attr:`fapilog.Settings.level_number`)."""
        return level_number(str(self.__dict__["level"]))

    def source(self, name: str) -> str:
        """Where the value of setting ``name`` came from (see :meth:`fapilog.Settings.source`)."""
        variable = env_variable(name)
        return variable if variable is not None else "default"


def configured_in_environment() -> bool:
    """Whether the environment sets a setting: then :class:`~fapilog.Settings` reads it.

    True when a variable ``FAPILOG_<SETTING>`` (in any case, as pydantic-settings
    matches them) or one of the ``OTEL_*`` variables of ``fapilog.config.OTEL_ENV`` is
    set, whatever its value (an empty one included): deciding whether a value is valid
    is the model's job. Other ``FAPILOG_*`` variables (``FAPILOG_PURE_PYTHON``...) are
    not settings; the model ignores them too.
    """
    return any(name in OTEL_ENV or name.upper() in _VARIABLES for name in os.environ)


def settings_for_defaults() -> Settings:
    """A :class:`DefaultSettings`, typed as the :class:`~fapilog.Settings` it stands for."""
    return cast("Settings", DefaultSettings())


def load_settings() -> Settings:
    """``Settings.load()``, without pydantic when the environment configures nothing.

    Raises:
        ConfigError: a variable is invalid (from :meth:`fapilog.Settings.load`).
    """
    if not configured_in_environment():
        return settings_for_defaults()
    from fapilog.config import Settings

    return Settings.load()
