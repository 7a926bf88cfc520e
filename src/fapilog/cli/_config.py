"""``fapilog config``: the effective settings, and where each value came from.

Every :class:`~fapilog.Settings` field is shown with its source: ``default``, ``env``
(naming the variable: ``FAPILOG_LEVEL``, ``OTEL_SERVICE_NAME``...) or ``code`` (a
keyword argument of ``fapilog.configure()`` / ``Pipeline()`` in the module given with
``--app``). Each OTLP exporter's options follow, resolved from ``OTEL_EXPORTER_OTLP_*``
as the exporter resolves them. Secrets (the redaction HMAC key, OTLP header values, a
password in the endpoint URL, variables whose names say they hold one) are shown as
``***``.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from fapilog._version import __version__
from fapilog.cli._app import AppConfig, AppError, load_app
from fapilog.config import OTEL_ENV, ConfigError, Settings, env_variable

if TYPE_CHECKING:
    import argparse

    from fapilog.exporters._base import Exporter
    from fapilog.exporters.otlp._config import OTLPExporterOptions

__all__ = [
    "MASK",
    "Effective",
    "ExporterView",
    "Value",
    "add_parser",
    "effective",
    "mask_variable",
    "run",
]

MASK = "***"
"""How a secret is shown."""

#: Exporter names that select fapilog's OTLP exporter, and the protocol each implies.
OTLP_NAMES: dict[str, dict[str, Any]] = {
    "otlp": {},
    "otlp_proto_grpc": {"protocol": "grpc"},
    "otlp_proto_http": {"protocol": "http/protobuf"},
}

_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
_SECRET_NAME = re.compile(
    r"KEY|TOKEN|SECRET|PASSW|AUTH|CREDENTIAL|HEADERS|COOKIE|SIGNATURE", re.IGNORECASE
)
_URL_PASSWORD = re.compile(r"(://[^/@\s:]*:)[^/@\s]*@")


@dataclass(frozen=True, slots=True)
class Value:
    """One effective value and where it came from."""

    value: Any
    """The value as JSON would hold it, secrets already masked."""
    source: str
    """``default``, ``env`` or ``code``."""
    origin: str | None = None
    """The variable (``FAPILOG_LEVEL``) for ``env``; the argument (``level=``) for ``code``."""
    overrides: str | None = None
    """For ``code``: a variable that is set too, and loses to the argument."""

    def where(self) -> str:
        """The source for people: ``default``, ``env FAPILOG_LEVEL``, ``code level=``."""
        text = self.source if self.origin is None else f"{self.source} {self.origin}"
        return text if self.overrides is None else f"{text} (overrides {self.overrides})"

    def as_json(self) -> dict[str, Any]:
        """``{"value": ..., "source": ..., "origin": ..., "overrides": ...}`` (the last
        two only when known)."""
        data: dict[str, Any] = {"value": self.value, "source": self.source}
        if self.origin is not None:
            data["origin"] = self.origin
        if self.overrides is not None:
            data["overrides"] = self.overrides
        return data


@dataclass
class ExporterView:
    """One configured exporter, as ``config`` shows it and ``doctor`` checks it."""

    name: str
    """Its name in the settings (``otlp``), or its ``name`` attribute when an object."""
    source: Value
    """Where it came from (the ``exporters`` setting, or an object in code)."""
    exporter: Exporter | None = None
    """The object given in code (``None`` for exporters named in the settings)."""
    otlp: OTLPExporterOptions | None = None
    """The resolved options of an OTLP exporter."""
    otlp_sources: dict[str, Value] = field(default_factory=dict)
    """Each OTLP option with its source."""
    error: str = ""
    """Why the options could not be resolved (``""``: they were)."""

    def as_json(self) -> dict[str, Any]:
        """The exporter as a JSON object."""
        data: dict[str, Any] = {"name": self.name, **self.source.as_json()}
        data.pop("value")
        if self.otlp_sources:
            data["otlp"] = {name: value.as_json() for name, value in self.otlp_sources.items()}
        if self.error:
            data["error"] = self.error
        return data


@dataclass
class Effective:
    """The effective configuration: settings, exporters and other variables."""

    app: AppConfig | None
    settings: Settings | None = None
    values: dict[str, Value] = field(default_factory=dict)
    exporters: list[ExporterView] = field(default_factory=list)
    unused_otlp: dict[str, str] = field(default_factory=dict)
    """``OTEL_EXPORTER_OTLP_*`` variables set while no OTLP exporter is configured."""
    other: dict[str, str] = field(default_factory=dict)
    """Other ``FAPILOG_*`` / ``OTEL_*`` variables (read by exporters or other tools)."""
    error: str = ""
    """Why the settings are invalid (``""``: they are valid)."""

    def as_json(self) -> dict[str, Any]:
        """The whole configuration as a JSON object."""
        return {
            "version": __version__,
            "app": None if self.app is None else self.app.spec,
            "error": self.error or None,
            "settings": {name: value.as_json() for name, value in self.values.items()},
            "exporters": [view.as_json() for view in self.exporters],
            "unused_otlp_variables": self.unused_otlp,
            "other_variables": self.other,
        }


# -- building it ---------------------------------------------------------------------


def effective(app: AppConfig | None = None) -> Effective:
    """Resolve the configuration an application would get, with every value's source.

    Args:
        app: what ``--app`` found; without it, the environment alone (as for an
            application that calls ``fapilog.configure()`` without arguments, or
            none at all).

    Returns:
        The configuration; ``error`` is set when the settings are invalid.
    """
    result = Effective(app)
    settings = app.settings if app is not None else None
    if settings is None:
        try:
            settings = Settings.load()
        except ConfigError as exc:
            result.error = str(exc)
    result.settings = settings
    if settings is not None:
        dumped = settings.model_dump(mode="json")
        for name in Settings.model_fields:
            shown = MASK if isinstance(getattr(settings, name), SecretStr) else dumped[name]
            result.values[name] = _source(settings, name, shown)
        result.exporters = _exporters(settings, app)
        if app is not None and app.exporters_in_code:
            # configure(exporters=...) replaces the setting without changing it.
            names = [view.name for view in result.exporters]
            result.values["exporters"] = Value(names, "code", "exporters=")
    used = _used_variables()
    for name in sorted(os.environ):
        raw = os.environ[name]
        if not name.startswith(("FAPILOG_", "OTEL_")) or name in used or not raw.strip():
            continue
        result.other[name] = mask_variable(name, raw)
    if not any(view.otlp_sources or view.error for view in result.exporters):
        for name in sorted(os.environ):
            if _otlp_variable(name) and os.environ[name].strip():
                result.unused_otlp[name] = mask_variable(name, os.environ[name])
    return result


def _source(settings: Settings, name: str, shown: Any) -> Value:
    where = settings.source(name)
    if where == "default":
        return Value(shown, "default")
    if where.endswith("= argument"):
        return Value(shown, "code", where.removesuffix(" argument"), env_variable(name))
    return Value(shown, "env", where)


def _exporters(settings: Settings, app: AppConfig | None) -> list[ExporterView]:
    names_source = _source(settings, "exporters", settings.exporters)
    if app is not None and app.pipeline is not None and app.exporters_in_code:
        views = []
        for exporter in app.pipeline.exporters:
            view = ExporterView(exporter.name, Value(None, "code", "exporters="), exporter)
            options = _otlp_options(exporter)
            if options is not None:
                view.otlp = options
                view.otlp_sources = otlp_sources(options, in_code=True)
            views.append(view)
        return views
    if any(name.strip().lower() == "none" for name in settings.exporters):
        return []
    views = []
    for raw in settings.exporters:
        name = raw.strip().lower()
        view = ExporterView(name, names_source)
        if name in OTLP_NAMES:
            try:
                from fapilog.exporters.otlp._config import OTLPExporterOptions

                view.otlp = OTLPExporterOptions.from_env(**OTLP_NAMES[name])
            except ImportError as exc:
                view.error = (
                    f"the otlp extra is not installed ({exc.name} is missing): "
                    "pip install 'fapilog[otlp]'"
                )
            except ConfigError as exc:
                view.error = str(exc)
            else:
                view.otlp_sources = otlp_sources(view.otlp)
                if OTLP_NAMES[name]:  # the name implies the protocol
                    origin = f"{names_source.origin or 'exporters='} ({name})"
                    view.otlp_sources["protocol"] = Value(
                        view.otlp.protocol, names_source.source, origin
                    )
        views.append(view)
    return views


def _otlp_options(exporter: Exporter) -> OTLPExporterOptions | None:
    """The options of an OTLP exporter object, ``None`` for any other exporter."""
    try:
        from fapilog.exporters.otlp._config import OTLPExporterOptions
    except ImportError:
        return None
    options = getattr(exporter, "options", None)
    return options if isinstance(options, OTLPExporterOptions) else None


def otlp_sources(options: OTLPExporterOptions, *, in_code: bool = False) -> dict[str, Value]:
    """Each OTLP option of ``options`` with its value (secrets masked) and source.

    Args:
        options: resolved options.
        in_code: the options belong to an exporter object built in code, so a value
            no variable explains was given there.

    Returns:
        Option name to :class:`Value`, in the order of the options' fields.
    """
    from fapilog.exporters.otlp._config import (
        _ENV,
        MAX_CONCURRENT_EXPORTS_ENV,
        MAX_REQUEST_BYTES_ENV,
    )

    out: dict[str, Value] = {}
    for name in type(options).model_fields:
        shown = _otlp_shown(options, name)
        if name == "endpoint":
            where = options.endpoint_source
            if where == "default":
                out[name] = Value(shown, "default")
            elif where == "endpoint=":
                variable = next(
                    (v for v in _ENDPOINT_VARIABLES if os.environ.get(v, "").strip()), None
                )
                out[name] = Value(shown, "code", "endpoint=", variable)
            else:
                out[name] = Value(shown, "env", where)
            continue
        if name in _ENV:
            suffix = _ENV[name][0]
            candidates = [f"OTEL_EXPORTER_OTLP_LOGS_{suffix}", f"OTEL_EXPORTER_OTLP_{suffix}"]
        else:
            candidates = [
                MAX_REQUEST_BYTES_ENV if name == "max_request_bytes" else MAX_CONCURRENT_EXPORTS_ENV
            ]
        variable = next((v for v in candidates if os.environ.get(v, "").strip()), None)
        if name not in options.model_fields_set:
            out[name] = Value(shown, "default")
        elif in_code and (variable is None or not _env_gives(options, name)):
            out[name] = Value(shown, "code", f"{name}=", variable)
        elif variable is not None:
            out[name] = Value(shown, "env", variable)
        else:
            out[name] = Value(shown, "code", f"{name}=")
    return out


def _env_gives(options: OTLPExporterOptions, name: str) -> bool:
    """Whether the environment alone resolves option ``name`` to the same value."""
    try:
        alone = type(options).from_env(protocol=options.protocol)
    except (ConfigError, ValueError):
        return False
    mine, theirs = getattr(options, name), getattr(alone, name)
    if name == "headers":
        return {k: v.get_secret_value() for k, v in mine.items()} == {
            k: v.get_secret_value() for k, v in theirs.items()
        }
    return bool(mine == theirs)


def _otlp_shown(options: OTLPExporterOptions, name: str) -> Any:
    if name == "endpoint":
        return options.display_endpoint
    if name == "headers":
        return dict.fromkeys(sorted(options.headers), MASK)
    value = getattr(options, name)
    return str(value) if value is not None and not isinstance(value, (bool, int, float)) else value


def _otlp_variable(name: str) -> bool:
    return name.startswith(("OTEL_EXPORTER_OTLP_", "FAPILOG_OTLP_"))


def _used_variables() -> set[str]:
    """Variables the settings and the OTLP options read (shown in their own sections)."""
    used = {f"FAPILOG_{name.upper()}" for name in Settings.model_fields} | set(OTEL_ENV)
    used |= {name for name in os.environ if _otlp_variable(name)}
    return used


def mask_variable(name: str, value: str) -> str:
    """``value`` fit to show: ``***`` if ``name`` suggests a secret, URL passwords masked."""
    if _SECRET_NAME.search(name.removeprefix("FAPILOG_").removeprefix("OTEL_")):
        return MASK
    return _URL_PASSWORD.sub(rf"\g<1>{MASK}@", value)


# -- the command ---------------------------------------------------------------------


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``config`` to the ``fapilog`` command's subcommands."""
    parser = sub.add_parser(
        "config",
        help="show the effective configuration and where each value came from",
        description=(
            "Show every fapilog setting with its value and source (default, env VARIABLE, "
            "or code ARGUMENT= with --app), then each exporter and, for OTLP, its options "
            "resolved from OTEL_EXPORTER_OTLP_*. Secrets are shown as ***. "
            "Exit code 0: valid; 1: invalid configuration; 2: --app cannot be loaded."
        ),
    )
    add_app_argument(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def add_app_argument(parser: argparse.ArgumentParser) -> None:
    """The ``--app module[:attr]`` option shared by ``config`` and ``doctor``."""
    parser.add_argument(
        "--app",
        metavar="MODULE[:ATTR]",
        help=(
            "import this module (from the current directory or PYTHONPATH) as the "
            "application does, and include what it passes to fapilog.configure(); ATTR "
            "may name a Pipeline, a Settings or a function that configures fapilog"
        ),
    )


def run(args: argparse.Namespace) -> int:
    """Run ``fapilog config``; print the configuration and return the exit code."""
    app: AppConfig | None = None
    if args.app:
        try:
            app = load_app(args.app)
        except AppError as exc:
            print(f"fapilog config: {exc}", file=sys.stderr)
            return 2
    try:
        result = effective(app)
    finally:
        if app is not None:
            app.close()
    if args.json:
        print(json.dumps(result.as_json(), indent=2))
    else:
        print(render(result))
    if result.error:
        if not args.json:
            print(f"fapilog config: {result.error}", file=sys.stderr)
        return 1
    return 0


def render(result: Effective) -> str:
    """The configuration as aligned text."""
    title = f"fapilog {__version__}: effective configuration"
    if result.app is not None:
        title += f" (environment and --app {result.app.spec})"
        if result.app.settings is None:
            title += f"\n{result.app.spec} configures nothing in code: the environment applies"
    lines = [title, ""]
    if result.error:
        lines.append("the settings are invalid (see the error below)")
        return "\n".join(lines)
    lines.append(_row("setting", "value", "source"))
    for name, value in result.values.items():
        lines.append(_row(name, _text(value.value), value.where()))
    for view in result.exporters:
        lines += ["", f"exporter {view.name} ({view.source.where()})"]
        if view.error:
            lines.append(f"  error: {' '.join(view.error.split())}")
        for name, value in view.otlp_sources.items():
            lines.append(_row(f"  {name}", _text(value.value), value.where()))
    if not result.exporters:
        lines += ["", "no exporters (exporters=none)"]
    if result.unused_otlp:
        lines += ["", "OTLP variables set, but no OTLP exporter is configured (not used)"]
        lines += [_row(f"  {k}", v, "") for k, v in result.unused_otlp.items()]
    if result.other:
        lines += ["", "other variables (read by other exporters or tools)"]
        lines += [_row(f"  {k}", v, "") for k, v in result.other.items()]
    return "\n".join(line.rstrip() for line in lines)


def _row(name: str, value: str, source: str) -> str:
    return f"{name:<28} {value:<34} {source}"


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return ",".join(map(str, value)) or "-"
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items()) or "-"
    return str(value)
