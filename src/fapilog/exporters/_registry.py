"""Names → exporters and processors, for settings, ``configure()`` and ``OTEL_LOGS_EXPORTER``.

Every exporter named in configuration is built by one factory from the settings plus
keyword options: ``factory(settings, **options)``. fapilog's own names have a factory
here; a plugin registered in the ``fapilog.exporters`` (or ``fapilog.processors``)
entry-point group is built with ``obj.from_settings(settings, **options)`` when the
loaded object has that method, else ``obj(**options)``. So these all work::

    configure(exporters=["console", "otlp"])
    configure(exporters={"otlp": {"endpoint": "http://127.0.0.1:4317"}})
    configure(exporters=[("file", {"path": "app.jsonl"}), "console"])

Also the checks of what code passes as ``exporters=`` and ``processors=``: a mistake
is rejected where it is made (in ``configure()`` / ``Pipeline()``) with the fix named,
not discovered on the worker as dropped events.

This module never imports :mod:`fapilog.otel._exporter` (which imports this one to
build its default exporter): it recognises that adapter through ``sys.modules``, as
an instance of it can only exist once its module is imported.
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, TypeAlias

from fapilog._validation import check_known, explain
from fapilog.errors import ConfigError, ConfigTypeError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from importlib.metadata import EntryPoint
    from pathlib import Path

    from fapilog.config import Settings
    from fapilog.exporters._base import Exporter
    from fapilog.processors._base import Processor

__all__ = [
    "ENTRY_POINT_GROUP",
    "OTEL_ENTRY_POINT_GROUP",
    "PROCESSOR_ENTRY_POINT_GROUP",
    "ExporterFactory",
    "as_exporter",
    "as_processor",
    "builtin_exporter_names",
    "check_file_path",
    "exporter_by_name",
    "processor_by_name",
    "resolve_exporters",
    "resolve_processors",
]

ENTRY_POINT_GROUP = "fapilog.exporters"
#: Entry points of processors (enrichers, filters, samplers, redactors) by name.
PROCESSOR_ENTRY_POINT_GROUP = "fapilog.processors"
#: Consulted after fapilog's own names: OTel SDK log exporters, adapted.
OTEL_ENTRY_POINT_GROUP = "opentelemetry_logs_exporter"

#: ``factory(settings, **options) -> Exporter``: how every named exporter is built.
ExporterFactory: TypeAlias = "Callable[..., Exporter]"

_ADAPTER_MODULE = "fapilog.otel._exporter"


# -- the built-in factories -----------------------------------------------------------


def _with_options(
    settings: Settings, exporter: str, prefix: str, options: Mapping[str, Any]
) -> Settings:
    """``settings`` with ``options`` as the ``<prefix><option>`` fields, validated.

    Raises:
        ConfigError: an option is not one of the exporter's, or its value is invalid;
            the message names the exporter, the option and the known options.
    """
    fields = type(settings).model_fields
    known = [name.removeprefix(prefix) for name in fields if name.startswith(prefix)]
    check_known(options, known, what=f"{exporter!r} exporter")
    if not options:
        return settings
    from pydantic import ValidationError

    update = {prefix + name: value for name, value in options.items()}
    try:
        built = type(settings).model_validate({**settings.model_dump(exclude_unset=True), **update})
    except ValidationError as exc:
        message, _ = explain(
            f"invalid options of the {exporter!r} exporter (known options: {', '.join(known)}):",
            exc,
            fields=fields,
            source=lambda name: f"{name.removeprefix(prefix)}= option",
            show_input=lambda name: name in update and "secret" not in name,
        )
    else:
        built._arguments = settings._arguments | update.keys()
        return built
    raise ConfigError(message, fields=("exporters",))


def _console(settings: Settings, /, **options: Any) -> Exporter:
    from fapilog.exporters.console import ConsoleExporter

    stream = options.get("stream")
    if stream is not None and not isinstance(stream, str):
        if not callable(getattr(stream, "write", None)):
            raise ConfigError(
                "invalid options of the 'console' exporter: stream= must be 'stderr', "
                f"'stdout' or a text stream with write(), not {_describe(stream)}",
                fields=("exporters",),
            )
        options = {name: value for name, value in options.items() if name != "stream"}
    else:
        stream = None
    settings = _with_options(settings, "console", "console_", options)
    if stream is None and settings.console_stream == "stdout":
        stream = sys.stdout
    return ConsoleExporter.from_settings(settings, stream)


def _file(settings: Settings, /, **options: Any) -> Exporter:
    settings = _with_options(settings, "file", "file_", options)
    source = "path= option" if "path" in options else settings.source("file_path")
    if settings.file_path is None:
        raise ConfigError(
            "the 'file' exporter needs a path: set FAPILOG_FILE_PATH=/var/log/app.jsonl, "
            "configure(file_path=...) or exporters={'file': {'path': ...}}",
            fields=("file_path",),
        )
    check_file_path(
        settings.file_path,
        source=source,
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


def _memory(settings: Settings, /, **options: Any) -> Exporter:
    from fapilog.exporters.memory import InMemoryExporter

    _check_keywords(InMemoryExporter, options, what="'memory' exporter")
    return InMemoryExporter(**options)


def _otlp(settings: Settings, /, **options: Any) -> Exporter:
    try:
        from fapilog.exporters.otlp import OTLPExporter
    except ImportError as exc:  # the optional extra is missing
        raise ConfigError(
            f"the 'otlp' exporter needs the otlp extra ({exc.name} is missing): "
            "pip install 'fapilog[otlp]'"
        ) from None
    exporter: Exporter = OTLPExporter(**options)
    return exporter


def _otlp_with(protocol: str, name: str) -> ExporterFactory:
    def factory(settings: Settings, /, **options: Any) -> Exporter:
        given = options.get("protocol", protocol)
        if given != protocol:
            raise ConfigError(
                f"the {name!r} exporter sends with protocol {protocol!r}, not {given!r}; "
                "name the 'otlp' exporter to choose the protocol",
                fields=("exporters",),
            )
        return _otlp(settings, **{**options, "protocol": protocol})

    return factory


_BUILTIN: dict[str, ExporterFactory] = {
    "console": _console,
    "file": _file,
    "memory": _memory,
    "otlp": _otlp,
    # The OTel SDK's names for its OTLP exporters, so OTEL_LOGS_EXPORTER values
    # written for the SDK select fapilog's own OTLP exporter with that protocol.
    "otlp_proto_grpc": _otlp_with("grpc", "otlp_proto_grpc"),
    "otlp_proto_http": _otlp_with("http/protobuf", "otlp_proto_http"),
}


def builtin_exporter_names() -> list[str]:
    """fapilog's own exporter names (``none`` included), sorted."""
    return sorted({*_BUILTIN, "none"})


# -- shapes ---------------------------------------------------------------------------


def _as_list(items: Any) -> list[Any]:
    """A list of ``items``: a string is comma-separated names, a lone object one item.

    A mapping is ``{name: options}`` (one item per name); a ``(name, options)`` pair
    is one item.
    """
    if isinstance(items, str):
        return [part.strip() for part in items.split(",") if part.strip()]
    if isinstance(items, (bytes, bytearray)) or _is_pair(items):
        return [items]
    if isinstance(items, Mapping):
        return [(name, options) for name, options in items.items()]
    try:
        return list(items)
    except TypeError:  # one exporter or processor object rather than a list of them
        return [items]


def _is_pair(item: Any) -> bool:
    return (
        isinstance(item, tuple)
        and len(item) == 2
        and isinstance(item[0], str)
        and (item[1] is None or isinstance(item[1], Mapping))
    )


def _named(items: list[Any], kind: str) -> list[tuple[str, dict[str, Any]] | Any]:
    """Each item as ``(name, options)`` when it names something, else as it is.

    Raises:
        ConfigTypeError: options that are not a mapping of keyword names.
    """
    out: list[Any] = []
    for item in items:
        if isinstance(item, str):
            out.append((item, {}))
        elif isinstance(item, Mapping):
            out.extend(_pair(name, options, kind) for name, options in item.items())
        elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
            out.append(_pair(item[0], item[1], kind))
        else:
            out.append(item)
    return out


def _pair(name: Any, options: Any, kind: str) -> tuple[str, dict[str, Any]]:
    if not isinstance(name, str):
        raise ConfigTypeError(
            f"{kind}s=: a mapping's keys are {kind} names, not {_describe(name)}",
            fields=(f"{kind}s",),
        )
    if options is None:
        return name, {}
    if not isinstance(options, Mapping) or not all(isinstance(k, str) for k in options):
        raise ConfigTypeError(
            f"{kind}s=: the options of {kind} {name!r} must be a mapping of option names "
            f"to values ({{{name!r}: {{'option': value}}}}), not {_describe(options)}",
            fields=(f"{kind}s",),
        )
    return name, dict(options)


# -- exporters ------------------------------------------------------------------------


def resolve_exporters(
    items: Iterable[Any] | Mapping[str, Any] | str | Any,
    settings: Settings,
    *,
    source: str | None = None,
) -> list[Exporter]:
    """Turn names, ``{name: options}``, ``(name, options)`` and objects into exporters.

    ``items`` may be a list mixing names (``"console"``), ``(name, options)`` pairs,
    ``{name: options}`` mappings and exporter objects; one string of comma-separated
    names (``"console,file"``); one mapping ``{"otlp": {"endpoint": ...}}``; or a
    single exporter object. The name ``"none"`` anywhere means no exporters at all.

    Args:
        items: what to build.
        settings: the settings exporters built by name take their defaults from.
        source: where the names came from (``"OTEL_LOGS_EXPORTER"``), for messages.

    Raises:
        ConfigError: a name is unknown, an option is unknown or invalid, an
            exporter's own settings are missing, or a plugin failed to build.
        ConfigTypeError: an object is not an exporter (also a :class:`TypeError`).
    """
    named = _named(_as_list(items), "exporter")
    if any(isinstance(i, tuple) and i[0].strip().lower() == "none" for i in named):
        return []
    return [
        exporter_by_name(item[0], settings, source=source, **item[1])
        if isinstance(item, tuple)
        else as_exporter(item)
        for item in named
    ]


def exporter_by_name(
    name: str, settings: Settings, /, *, source: str | None = None, **options: Any
) -> Exporter:
    """Build the exporter registered as ``name``, with keyword ``options``.

    Looked up in order: fapilog's built-in names, the ``fapilog.exporters`` entry
    points, then the OTel SDK's ``opentelemetry_logs_exporter`` entry points (adapted;
    one that wraps a fapilog exporter is unwrapped).

    Args:
        name: the exporter's name (any case).
        settings: the settings it takes its defaults from.
        source: where the name came from (``"OTEL_LOGS_EXPORTER"``), for messages.
        **options: the exporter's keyword options (``endpoint=``, ``path=``...).

    Raises:
        ConfigError: no exporter has that name, an option is unknown or invalid, or
            the plugin failed to build.
    """
    name = name.strip().lower()
    factory = _BUILTIN.get(name)
    if factory is not None:
        return factory(settings, **options)
    registered = _entry_points(ENTRY_POINT_GROUP)
    entry = registered.get(name)
    if entry is None:
        otel = _entry_points(OTEL_ENTRY_POINT_GROUP)
        entry = otel.get(name)
        if entry is None:
            known = sorted({*_BUILTIN, "none", *registered, *otel})
            where = source or "FAPILOG_EXPORTERS, OTEL_LOGS_EXPORTER or exporters="
            raise ConfigError(
                f"unknown exporter {name!r} (from {where}); use one of: {', '.join(known)}",
                fields=("exporters",),
            )
    built = _build_plugin("exporter", name, entry, settings, options)
    try:
        return as_exporter(built)
    except ConfigTypeError:
        raise ConfigTypeError(
            f"exporter {name!r} ({_target(entry)}) built {_describe(built)}, which is not an "
            "exporter; its factory must return a fapilog Exporter or an OpenTelemetry "
            "LogRecordExporter",
            fields=("exporters",),
        ) from None


def as_exporter(obj: Any) -> Exporter:
    """Accept a fapilog exporter or an OTel SDK ``LogRecordExporter`` (adapted).

    Raises:
        ConfigTypeError: ``obj`` is neither (also a :class:`TypeError`).
    """
    from fapilog.exporters._base import Exporter

    if isinstance(obj, Exporter):
        return obj
    # Only now the OTel SDK's logs module: a pipeline of fapilog exporters never loads it.
    from opentelemetry.sdk._logs.export import LogRecordExporter

    from fapilog.exporters._otel import OTelExporter

    # fapilog's own exporter served as an OTel one (FapilogLogRecordExporter): use it
    # directly. Its module imports this one, so it is looked up, not imported; an
    # instance exists only once the module is loaded.
    adapter = sys.modules.get(_ADAPTER_MODULE)
    if adapter is not None and isinstance(obj, adapter.FapilogLogRecordExporter):
        inner: Exporter = obj.exporter  # its private loop starts on first use
        return inner
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


# -- processors -----------------------------------------------------------------------


def resolve_processors(
    items: Iterable[Any] | Mapping[str, Any] | str | Any | None,
    settings: Settings | None = None,
) -> list[Processor]:
    """Turn what code or settings give as ``processors=`` into processors.

    ``items`` may be a list mixing processor objects, OTel ``LogRecordProcessor`` objects
    (wrapped), names registered in the ``fapilog.processors`` entry-point group,
    ``(name, options)`` pairs and ``{name: options}`` mappings; one string of
    comma-separated names; one mapping; or a single processor.

    Args:
        items: what to build; ``None`` means none.
        settings: the settings a processor built by name receives in
            ``from_settings(settings, **options)``; by default :meth:`Settings.load`
            (read only when a name needs it).

    Raises:
        ConfigError: a name is unknown (the message lists the known ones), an option
            is unknown, or a plugin failed to build.
        ConfigTypeError: an item is not a processor (also a :class:`TypeError`).
    """
    if items is None:
        return []
    out: list[Processor] = []
    for item in _named(_as_list(items), "processor"):
        if isinstance(item, tuple):
            if settings is None:
                from fapilog.config import Settings

                settings = Settings.load()
            out.append(processor_by_name(item[0], settings, **item[1]))
        else:
            out.append(as_processor(item))
    return out


def processor_by_name(name: str, settings: Settings, /, **options: Any) -> Processor:
    """Build the processor registered as ``name`` in ``fapilog.processors``.

    Args:
        name: the processor's name (any case).
        settings: passed to the plugin's ``from_settings(settings, **options)``.
        **options: the processor's keyword options.

    Raises:
        ConfigError: no processor has that name (the message lists the known ones),
            an option is unknown, or the plugin failed to build.
        ConfigTypeError: the plugin built something that is not a processor.
    """
    name = name.strip().lower()
    registered = _entry_points(PROCESSOR_ENTRY_POINT_GROUP)
    entry = registered.get(name)
    if entry is None:
        known = ", ".join(sorted(registered)) or (
            f"none installed (a plugin registers one in the {PROCESSOR_ENTRY_POINT_GROUP!r} "
            "entry-point group)"
        )
        raise ConfigError(
            f"unknown processor {name!r} (from FAPILOG_PROCESSORS or processors=); "
            f"known processors: {known}",
            fields=("processors",),
        )
    built = _build_plugin("processor", name, entry, settings, options)
    try:
        return as_processor(built)
    except ConfigTypeError:
        raise ConfigTypeError(
            f"processor {name!r} ({_target(entry)}) built {_describe(built)}, which is not a "
            "processor; its factory must return a fapilog.Processor or an OpenTelemetry "
            "LogRecordProcessor",
            fields=("processors",),
        ) from None


def as_processor(obj: Any) -> Processor:
    """Accept a :class:`fapilog.Processor` or an OTel ``LogRecordProcessor`` (wrapped).

    Raises:
        ConfigTypeError: ``obj`` is neither (also a :class:`TypeError`); the message
            names its type and the fix.
    """
    from fapilog.processors._base import Processor

    if isinstance(obj, Processor):
        return obj
    from opentelemetry.sdk._logs import LogRecordProcessor

    from fapilog.processors._otel import OTelProcessor

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


# -- plugins --------------------------------------------------------------------------


def _entry_points(group: str) -> dict[str, EntryPoint]:
    """The entry points of ``group`` by lower-case name (the first one wins)."""
    found: dict[str, EntryPoint] = {}
    for entry in entry_points(group=group):
        found.setdefault(entry.name.strip().lower(), entry)
    return found


def _build_plugin(
    kind: str, name: str, entry: EntryPoint, settings: Settings, options: dict[str, Any]
) -> Any:
    """Load ``entry`` and build it: ``from_settings(settings, **options)`` or ``obj(**options)``.

    A plugin's own :class:`ConfigError` passes through (its message is written for
    users and holds no secret). Any other exception becomes a :class:`ConfigError`
    naming the plugin and the exception type; the exception's text is scrubbed like
    a diagnostic, with every option value masked, since it may quote a credential.

    Raises:
        ConfigError: the entry point does not load, an option is unknown to the
            factory's signature, or the factory raised.
    """
    what = f"{kind} {name!r}"
    target = _target(entry)
    try:
        obj = entry.load()
    except Exception as exc:
        raise ConfigError(
            f"{what}: its entry point {target} does not load: "
            f"{_safe_error(exc, options)}; is its distribution installed completely?",
            fields=(f"{kind}s",),
        ) from None
    from_settings = getattr(obj, "from_settings", None)
    args: tuple[Any, ...] = ()
    if callable(from_settings):
        factory, args = from_settings, (settings,)
    elif callable(obj):
        factory = obj
    elif not options:
        return obj  # the entry point names a ready-made object
    else:
        raise ConfigError(
            f"{what} ({target}) is {_describe(obj)}, which takes no options; "
            f"remove the options given to it ({', '.join(sorted(options))})",
            fields=(f"{kind}s",),
        )
    _check_keywords(factory, options, what=what, positional=len(args))
    try:
        return factory(*args, **options)
    except ConfigError:
        raise
    except Exception as exc:
        error = _safe_error(exc, options)
    # Raised outside the handler: the original exception (whose text may hold a
    # secret) is not chained to the ConfigError as its context.
    raise ConfigError(
        f"{what} ({target}) failed to build: {error}; check its options and settings, "
        f"or run `fapilog plugins check {name}`",
        fields=(f"{kind}s",),
    )


def _check_keywords(
    factory: Callable[..., Any], options: Mapping[str, Any], *, what: str, positional: int = 0
) -> None:
    """Reject options that ``factory``'s signature cannot take, listing those it can.

    A factory taking ``**kwargs`` validates its options itself.
    """
    if not options:
        return
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # no signature to read: the call will tell
        return
    params = list(signature.parameters.values())
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return
    keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    known = [p.name for p in params[positional:] if p.kind in keyword]
    check_known(options, known, what=what)


def _safe_error(exc: BaseException, options: Mapping[str, Any]) -> str:
    """``Type: text`` of ``exc`` with secrets masked: diagnostic scrubbing, option values."""
    from fapilog._diagnostics import scrub
    from fapilog.exporters._http_util import safe_reason, secret_words

    secrets: list[str] = []
    for value in _strings(options):
        secrets.extend(secret_words(value))
    text = safe_reason(scrub(str(exc)), secrets)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _strings(value: Any) -> Iterable[str]:
    """Every string in ``value`` (nested mappings and sequences included)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from _strings(item)
    else:
        secret = getattr(value, "get_secret_value", None)
        if callable(secret):
            yield from _strings(secret())


def _target(entry: EntryPoint) -> str:
    """``module:attr from distribution version``, for messages."""
    dist = getattr(entry, "dist", None)
    if dist is None:
        return entry.value
    return f"{entry.value} from {dist.name} {dist.version}"


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
