"""The ``opentelemetry_distro`` entry point: fapilog's defaults for ``opentelemetry-instrument``."""

from __future__ import annotations

import os
from typing import Any

# The module opts out of type checking (a file-level ``type: ignore``), so mypy sees no names.
from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]

__all__ = ["DEFAULTS", "FapilogDistro"]

#: What :class:`FapilogDistro` sets when (and only when) the variable is unset.
DEFAULTS: dict[str, str] = {
    # Same defaults as opentelemetry-distro, so swapping distros changes nothing
    # for traces and metrics: everything goes to a local collector over OTLP/gRPC.
    "OTEL_TRACES_EXPORTER": "otlp",
    "OTEL_METRICS_EXPORTER": "otlp",
    "OTEL_LOGS_EXPORTER": "otlp",
    "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
    # Choosing this distro means choosing fapilog's configurator too, even when other
    # configurators are installed (the CLI would otherwise take the first it finds).
    "OTEL_PYTHON_CONFIGURATOR": "fapilog",
}


class FapilogDistro(BaseDistro):  # type: ignore[misc]  # BaseDistro is Any to mypy (see import)
    """Sets fapilog's defaults for ``opentelemetry-instrument`` (see :data:`DEFAULTS`).

    Only ``os.environ.setdefault`` is used: a variable the user set, even to an
    empty string, always wins.
    """

    def _configure(self, **kwargs: Any) -> None:
        for name, value in DEFAULTS.items():
            os.environ.setdefault(name, value)
