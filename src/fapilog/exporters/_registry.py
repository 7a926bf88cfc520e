"""Exporter names → exporter instances, for settings and ``OTEL_LOGS_EXPORTER``.

Also the checks of what code passes as ``exporters=`` and ``processors=``: a mistake
is rejected where it is made (in ``configure()`` / ``Pipeline()``) with the fix named,
not discovered on the worker as dropped events.
"""

from __future__ import annotations

import os
import sys
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from fapilog.config import ConfigError, ConfigTypeError

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from fapilog.config import Settings
    from fapilog.exporters._base import Exporter
    from fapilog.processors._base import Processor

__all__ = [
    "ENTRY_POINT_GROUP",
    "OTEL_ENTRY_POINT_GROUP",
    "as_exporter",
    "as_processor",
    "check_file_path",
    "exporter_by_name",
    "exporters_from_settings",
    "resolve_exporters",
    "resolve_processors",
]

ENTRY_POINT_GROUP = "fapilog.exporters"
#: Consulted after fapilog's own names: OTel SDK log exporters, adapted.
OTEL_ENTRY_POINT_GROUP = "opentelemetry_logs_exporter"


def _console(settings: Settings) -> Exporter:
    from fapilog.exporters.console import ConsoleExporter

    stream = sys.stdout if settings.console_stream == "stdout" else None
    return ConsoleExporter.from_settings(settings, stream)


def _file(settings: Settings) -> Exporter:
    if settings.file_path is None:
        raise ConfigError(
            "the 'file' exporter needs a path: set FAPILOG_FILE_PATH=/var/log/app.jsonl "
            "or configure(file_path=...)",
            fields=("file_path",),
        )
    check_file_path(
        settings.file_path,
        source=settings.source("file_path"),
        rotates=settings.file_max_bytes is not None or settings.file_rotate_every is not None,
    )
    from fapilog.exporters.file import FileExporter

    return FileExporter(
        settings.file_path,
        max_bytes=settings.file_max_bytes,
        rotate_every=settings.file_rotate_every,
        backup_count=settings.file_backup_count,
        max_age=settings.file_max_age,
        compress=settings.file_compress,
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
    return resolve_exporters(settings.exporters, settings, source=settings.source("exporters"))


def _as_list(items: Any) -> list[Any]:
    """A list of ``items``: a string is comma-separated names, a lone object one item."""
    if isinstance(items, str):
        return [part.strip() for part in items.split(",") if part.strip()]
    if isinstance(items, (bytes, bytearray)):
        return [items]
    try:
        return list(items)
    except TypeError:  # one exporter or processor object rather than a list of them
        return [items]


def resolve_exporters(
    items: Iterable[Any] | str | Any, settings: Settings, *, source: str | None = None
) -> list[Exporter]:
    """Turn names (``"console"``, ``"otlp"``...) and exporter objects into exporters.

    ``items`` may also be one string of comma-separated names (``"console,file"``) or
    a single exporter object. ``"none"`` anywhere means no exporters at all.

    Args:
        items: names and exporter objects.
        settings: the settings exporters built by name take their options from.
        source: where the names came from (``"OTEL_LOGS_EXPORTER"``), for messages.

    Raises:
        ConfigError: a name is unknown, or an exporter's own settings are missing.
        ConfigTypeError: an object is not an exporter (also a :class:`TypeError`).
    """
    items = _as_list(items)
    if any(isinstance(i, str) and i.strip().lower() == "none" for i in items):
        return []
    return [
        exporter_by_name(item, settings, source=source)
        if isinstance(item, str)
        else as_exporter(item)
        for item in items
    ]


def exporter_by_name(name: str, settings: Settings, *, source: str | None = None) -> Exporter:
    """Build the exporter registered as ``name``.

    Looked up in order: fapilog's built-in names, the ``fapilog.exporters`` entry
    points, then the OTel SDK's ``opentelemetry_logs_exporter`` entry points (built
    without arguments, as the SDK does, and adapted; one that wraps a fapilog
    exporter is unwrapped).

    Args:
        name: the exporter's name.
        settings: the settings it takes its options from.
        source: where the name came from (``"OTEL_LOGS_EXPORTER"``), for messages.

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
        where = source or "FAPILOG_EXPORTERS, OTEL_LOGS_EXPORTER or exporters="
        raise ConfigError(
            f"unknown exporter {name!r} (from {where}); use one of: {', '.join(known)}",
            fields=("exporters",),
        )
    return as_exporter(entry.load()())


def as_exporter(obj: Any) -> Exporter:
    """Accept a fapilog exporter or an OTel SDK ``LogRecordExporter`` (adapted).

    Raises:
        ConfigTypeError: ``obj`` is neither (also a :class:`TypeError`).
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
    if isinstance(obj, type) and issubclass(obj, (Exporter, LogRecordExporter)):
        raise ConfigTypeError(
            f"exporters=: {obj.__qualname__} is a class; pass an instance: {obj.__qualname__}(...)",
            fields=("exporters",),
        )
    raise ConfigTypeError(
        f"exporters=: {_describe(obj)} is not an exporter; subclass "
        "fapilog.exporters.Exporter or pass an OpenTelemetry LogRecordExporter",
        fields=("exporters",),
    )


def resolve_processors(items: Iterable[Any] | Any | None) -> list[Processor]:
    """Check what code passes as ``processors=``: a list, or a single processor.

    Raises:
        ConfigTypeError: an item is not a processor (also a :class:`TypeError`).
    """
    if items is None:
        return []
    return [as_processor(item) for item in _as_list(items)]


def as_processor(obj: Any) -> Processor:
    """Accept a :class:`fapilog.Processor` or an OTel ``LogRecordProcessor`` (wrapped).

    Raises:
        ConfigTypeError: ``obj`` is neither (also a :class:`TypeError`); the message
            names its type and the fix.
    """
    from opentelemetry.sdk._logs import LogRecordProcessor

    from fapilog.processors._base import Processor
    from fapilog.processors._otel import OTelProcessor

    if isinstance(obj, Processor):
        return obj
    if isinstance(obj, LogRecordProcessor):
        return OTelProcessor(obj)
    if isinstance(obj, type) and issubclass(obj, (Processor, LogRecordProcessor)):
        raise ConfigTypeError(
            f"processors=: {obj.__qualname__} is a class; pass an instance: "
            f"{obj.__qualname__}(...)",
            fields=("processors",),
        )
    shape = (
        " (it has on_emit but does not subclass fapilog.Processor)"
        if callable(getattr(obj, "on_emit", None))
        else ""
    )
    raise ConfigTypeError(
        f"processors=: {_describe(obj)} is not a processor{shape}; subclass "
        "fapilog.Processor and implement on_emit(event), or pass an OpenTelemetry "
        "LogRecordProcessor",
        fields=("processors",),
    )


def _describe(obj: Any) -> str:
    """``obj`` by its type only: a repr could carry a credential."""
    if isinstance(obj, str):
        return "a string"
    cls = type(obj)
    module = getattr(cls, "__module__", "")
    name = getattr(cls, "__qualname__", "object")
    qualified = name if module in ("builtins", "", None) else f"{module}.{name}"
    if callable(obj) and not isinstance(obj, type):
        return f"the callable {getattr(obj, '__qualname__', qualified)}"
    return f"an object of type {qualified!r}"


def check_file_path(path: Path, *, source: str = "file_path", rotates: bool = False) -> None:
    """Reject a file path the file exporter could never write, before it is used.

    The path must be a regular file or not exist yet; its nearest existing ancestor
    must be a writable directory (the exporter creates the missing directories).
    With rotation, the file's directory must be writable too (rotation renames).

    Args:
        path: the file path.
        source: where it came from (``"FAPILOG_FILE_PATH"``), for the message.
        rotates: size or time rotation is configured.

    Raises:
        ConfigError: the path cannot be written; the message names the reason and fix.
    """
    fix = "; set it to a file in a writable directory, e.g. /var/log/app/app.jsonl"

    def fail(reason: str) -> ConfigError:
        return ConfigError(f"{source}: {str(path)!r} {reason}{fix}", fields=("file_path",))

    try:
        if path.is_dir():
            raise fail("is a directory, not a file")
        if path.exists():
            if not os.access(path, os.W_OK):
                raise fail("is not writable by this process")
            directory = path.parent
            if rotates and not os.access(directory, os.W_OK | os.X_OK):
                raise fail(f"cannot be rotated: {str(directory)!r} is not writable")
            return
        ancestor = path.parent
        while not ancestor.exists() and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            raise fail(f"cannot be created: {str(ancestor)!r} is a file, not a directory")
        if not os.access(ancestor, os.W_OK | os.X_OK):
            raise fail(f"cannot be created: {str(ancestor)!r} is not writable")
    except OSError as exc:
        raise fail(f"cannot be checked ({exc.strerror or type(exc).__name__})") from None
