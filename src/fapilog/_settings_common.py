"""What :class:`fapilog.Settings` and the pydantic-free defaults share (no pydantic here).

The ``OTEL_*`` variables that feed settings, where a setting's value comes from in the
environment, and the parsing of the ``level`` setting: used by :mod:`fapilog.config`
and by :mod:`fapilog._defaults`, which must not import it.
"""

from __future__ import annotations

import os

from fapilog import _severity

__all__ = ["FIELD_TO_OTEL", "OTEL_ENV", "env_variable", "level_number"]

#: OTEL_* variables and the setting each one feeds (after FAPILOG_*).
OTEL_ENV: dict[str, str] = {
    "OTEL_SERVICE_NAME": "service_name",
    "OTEL_LOGS_EXPORTER": "exporters",
    "OTEL_BLRP_SCHEDULE_DELAY": "schedule_delay_ms",
    "OTEL_BLRP_MAX_QUEUE_SIZE": "max_queue_size",
    "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE": "max_export_batch_size",
    "OTEL_BLRP_EXPORT_TIMEOUT": "export_timeout_ms",
}
FIELD_TO_OTEL = {v: k for k, v in OTEL_ENV.items()}


def level_number(level: str) -> int:
    """The OTel severity number of a level setting: a name or a logging number's digits."""
    text = level.strip()
    try:
        number = int(text)
    except ValueError:
        return _severity.parse_level(text)
    return _severity.parse_level(number)


def env_variable(name: str) -> str | None:
    """The environment variable that currently sets setting ``name``, if any.

    ``FAPILOG_<NAME>`` wins over the ``OTEL_*`` variable that feeds the same setting,
    as in :meth:`fapilog.Settings.load`.
    """
    variable = f"FAPILOG_{name.upper()}"
    if os.environ.get(variable, "") != "":
        return variable
    otel = FIELD_TO_OTEL.get(name)
    if otel is not None and os.environ.get(otel, "") != "":
        return otel
    return None
