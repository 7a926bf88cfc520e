"""Exporter names → exporter instances, for settings and ``OTEL_LOGS_EXPORTER``."""

from __future__ import annotations

import sys
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from fapilog.config import ConfigError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from fapilog.config import Settings
    from fapilog.exporters._base import Exporter

__all__ = [
    "ENTRY_POINT_GROUP",
    "OTEL_ENTRY_POINT_GROUP",
    "as_exporter",
    "exporter_by_name",
    "exporters_from_settings",
    "resolve_exporters",
]

ENTRY_POINT_GROUP = "fapilog.exporters"
#: Consulted after fapilog's own names: OTel SDK log exporters, adapted.
OTEL_ENTRY_POINT_GROUP = "opentelemetry_logs_exporter"


def _console(settings: Settings) -> Exporter:
    from fapilog.exporters.console import ConsoleExporter

    stream = sys.stdout if settings.console_stream == "stdout" else None
    return ConsoleExporter(stream=stream, format=settings.console_format)


def _file(settings: Settings) -> Exporter:
    if settings.file_path is None:
        raise ConfigError(
            "the 'file' exporter needs a path: set FAPILOG_FILE_PATH=/var/log/app.jsonl "
            "or configure(file_path=...)"
        )
    from fapilog.exporters.file import FileExporter

    return FileExporter(
        settings.file_path,
        max_bytes=settings.file_max_bytes,
        rotate_every=settings.file_rotate_every,
        backup_count=settings.file_backup_count,
        max_age=settings.file_max_age,
    )


def _memory(settings: Settings) -> Exporter:
    from fapilog.exporters.memory import InMemoryExporter

    return InMemoryExporter()


def _otlp(settings: Settings, **options: Any) -> Exporter:
    try:
        from fapilog.exporters.otlp import OTLPExporter
    except ImportError as exc:  # the optional extra is missing
        raise ConfigError(
            f"the 'otlp' exporter needs the otlp extra ({exc.name} is missing): "
            "pip install 'fapilog[otlp]'"
        ) from None
    exporter: Exporter = OTLPExporter(**options)
    return exporter


def _otlp_grpc(settings: Settings) -> Exporter:
    return _otlp(settings, protocol="grpc")


def _otlp_http(settings: Settings) -> Exporter:
    return _otlp(settings, protocol="http/protobuf")


_BUILTIN = {
    "console": _console,
    "file": _file,
    "memory": _memory,
    "otlp": _otlp,
    # The OTel SDK's names for its OTLP exporters, so OTEL_LOGS_EXPORTER values
    # written for the SDK select fapilog's own OTLP exporter with that protocol.
    "otlp_proto_grpc": _otlp_grpc,
    "otlp_proto_http": _otlp_http,
}


def exporters_from_settings(settings: Settings) -> list[Exporter]:
    """Instantiate the exporters named in ``settings.exporters``.

    Raises:
        ConfigError: a name is unknown, or an exporter's own settings are missing.
    """
    return resolve_exporters(settings.exporters, settings)


def resolve_exporters(items: Iterable[Any], settings: Settings) -> list[Exporter]:
    """Turn names (``"console"``, ``"otlp"``...) and exporter objects into exporters.

    ``"none"`` anywhere means no exporters at all.

    Raises:
        ConfigError: a name is unknown, or an exporter's own settings are missing.
        TypeError: an object is not an exporter.
    """
    items = list(items)
    if any(isinstance(i, str) and i.strip().lower() == "none" for i in items):
        return []
    return [
        exporter_by_name(item, settings) if isinstance(item, str) else as_exporter(item)
        for item in items
    ]


def exporter_by_name(name: str, settings: Settings) -> Exporter:
    """Build the exporter registered as ``name``.

    Looked up in order: fapilog's built-in names, the ``fapilog.exporters`` entry
    points, then the OTel SDK's ``opentelemetry_logs_exporter`` entry points (built
    without arguments, as the SDK does, and adapted; one that wraps a fapilog
    exporter is unwrapped).

    Raises:
        ConfigError: no exporter has that name.
    """
    name = name.strip().lower()
    factory = _BUILTIN.get(name)
    if factory is not None:
        return factory(settings)
    registered = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    entry = registered.get(name)
    if entry is not None:
        return as_exporter(entry.load()())
    otel = {ep.name: ep for ep in entry_points(group=OTEL_ENTRY_POINT_GROUP)}
    entry = otel.get(name)
    if entry is None:
        known = sorted({*_BUILTIN, "none", *registered, *otel})
        raise ConfigError(
            f"unknown exporter {name!r} (from FAPILOG_EXPORTERS, OTEL_LOGS_EXPORTER or "
            f"exporters=); use one of: {', '.join(known)}"
        )
    return as_exporter(entry.load()())


def as_exporter(obj: Any) -> Exporter:
    """Accept a fapilog exporter or an OTel SDK ``LogRecordExporter`` (adapted).

    Raises:
        TypeError: ``obj`` is neither.
    """
    from opentelemetry.sdk._logs.export import LogRecordExporter

    from fapilog.exporters._base import Exporter
    from fapilog.exporters._otel import OTelExporter
    from fapilog.otel._exporter import FapilogLogRecordExporter

    if isinstance(obj, Exporter):
        return obj
    if isinstance(obj, FapilogLogRecordExporter):
        return obj.exporter  # its private loop starts on first use: nothing to stop
    if isinstance(obj, LogRecordExporter):
        return OTelExporter(obj)
    raise TypeError(
        f"{type(obj).__name__} is not an exporter: subclass fapilog.exporters.Exporter "
        "or pass an OpenTelemetry LogRecordExporter"
    )
