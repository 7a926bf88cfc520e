"""Which exporters and processors this installation provides, for ``fapilog plugins``.

The built-in exporters and every entry point of the ``fapilog.exporters`` and
``fapilog.processors`` groups, each with its distribution, the ``fapilog.plugin`` API
version it declares and whether this fapilog serves that version. Discovery loads
each entry point (that is how its ``api_version`` is read) but builds nothing; an
entry point that fails to load is listed with its error, never raised.
"""

from __future__ import annotations

import importlib
from dataclasses import asdict, dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

__all__ = ["GROUPS", "PluginInfo", "discover", "find"]

Kind = Literal["exporter", "processor"]

#: Entry-point group of each kind of plugin.
GROUPS: dict[Kind, str] = {"exporter": "fapilog.exporters", "processor": "fapilog.processors"}

#: fapilog's own exporters: name -> ``module:attr``.
_BUILTIN_EXPORTERS = {
    "console": "fapilog.exporters.console:ConsoleExporter",
    "file": "fapilog.exporters.file:FileExporter",
    "memory": "fapilog.exporters.memory:InMemoryExporter",
    "otlp": "fapilog.exporters.otlp:OTLPExporter",
}


@dataclass(frozen=True)
class PluginInfo:
    """One exporter or processor that can be named in ``configure()``."""

    name: str
    """The name used in ``configure(exporters=...)`` / ``FAPILOG_EXPORTERS``."""
    kind: Kind
    """``"exporter"`` or ``"processor"``."""
    distribution: str
    """The distribution that provides it (``fapilog`` for built-ins)."""
    version: str
    """That distribution's version."""
    target: str
    """``module:attr`` of the object the name builds."""
    builtin: bool
    """Part of fapilog itself."""
    api_version: str | None = None
    """The ``fapilog.plugin`` API version the class declares (None: not declared)."""
    compatible: bool = True
    """Whether this fapilog serves that API version (and the plugin loads)."""
    reason: str = ""
    """Why it is (in)compatible, or what stops it from loading; one sentence."""
    error: str | None = None
    """The exception type (and missing module) when loading failed, else None."""

    def as_dict(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict."""
        return asdict(self)


def discover() -> list[PluginInfo]:
    """Every exporter and processor available by name, built-ins first, then by kind and name.

    Never raises for a broken plugin: it is listed with ``compatible=False`` and its
    ``error``.
    """
    from fapilog._version import __version__

    found: list[PluginInfo] = []
    for name, target in _BUILTIN_EXPORTERS.items():
        found.append(_describe(name, "exporter", "fapilog", __version__, target, builtin=True))
    for kind, group in GROUPS.items():
        for entry in sorted(entry_points(group=group), key=lambda e: e.name.lower()):
            found.append(_from_entry_point(entry, kind))
    return found


def find(name: str, kind: Kind | None = None) -> list[PluginInfo]:
    """The plugins named ``name`` (any case), of ``kind`` if given; built-ins first."""
    wanted = name.strip().lower()
    return [p for p in discover() if p.name.lower() == wanted and (kind is None or p.kind == kind)]


def _from_entry_point(entry: EntryPoint, kind: Kind) -> PluginInfo:
    dist = getattr(entry, "dist", None)
    distribution = dist.name if dist is not None else "?"
    version = dist.version if dist is not None else "?"
    info = _describe(entry.name, kind, distribution, version, entry.value, builtin=False)
    if kind == "exporter" and entry.name.lower() in _BUILTIN_EXPORTERS:
        return _replace(
            info,
            compatible=False,
            reason=f"shadowed: the built-in exporter {entry.name.lower()!r} is used by that name",
        )
    return info


def _describe(
    name: str, kind: Kind, distribution: str, version: str, target: str, *, builtin: bool
) -> PluginInfo:
    from fapilog.plugin import check_api_version

    base = PluginInfo(name, kind, distribution, version, target, builtin)
    try:
        obj = _load(target)
    except Exception as exc:  # a broken plugin is a row, never a crash
        error = type(exc).__name__
        missing = getattr(exc, "name", None) if isinstance(exc, ImportError) else None
        if missing:
            error += f" (no module named {missing!r})"
        hint = (
            "; install the otlp extra: pip install 'fapilog[otlp]'"
            if builtin and name == "otlp"
            else "; is its distribution installed completely?"
        )
        return _replace(base, compatible=False, reason=f"does not load: {error}{hint}", error=error)
    declared = getattr(obj, "api_version", None)
    if declared is not None and not isinstance(declared, str):
        declared = repr(declared)
    compatible, reason = check_api_version(declared)
    if builtin and declared is None:
        compatible, reason = True, "built in"
    return _replace(base, api_version=declared, compatible=compatible, reason=reason)


def _load(target: str) -> Any:
    """Import ``module:attr`` (attr may be dotted), as an entry point's load() does."""
    module_name, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module_name.strip())
    for part in attr.strip().split(".") if attr.strip() else ():
        obj = getattr(obj, part)
    return obj


def _replace(info: PluginInfo, **changes: Any) -> PluginInfo:
    return PluginInfo(**{**asdict(info), **changes})
