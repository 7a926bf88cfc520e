"""``fapilog plugins``: list, check and create exporter and processor plugins.

* ``list``: every exporter and processor available by name (built in or from an
  entry point), its distribution, version and ``fapilog.plugin`` API compatibility;
* ``check NAME``: loads it, builds it with ``--option`` values, and runs the
  conformance kit's quick checks in-process, without exporting anything (nothing
  reaches a network): API version, no secret in ``repr``, a bounded ``shutdown``,
  and for a processor, odd events and ``counts()``;
* ``new exporter|processor NAME``: writes a plugin distribution (``_scaffold/``).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import argparse

    from fapilog._plugins import PluginInfo

__all__ = ["add_parser", "run"]

Status = Literal["ok", "FAIL", "warn", "skip", "info"]

#: Option names whose values are credentials: ``check`` verifies they are never shown.
_SECRET_NAME = re.compile(r"token|key|secret|passw|auth|credential|cookie|signature", re.I)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``plugins`` (``list``, ``check``, ``new``) to the ``fapilog`` command."""
    parser = sub.add_parser(
        "plugins",
        help="list, check and create exporter and processor plugins",
        description="Exporter and processor plugins: see docs/plugins.md.",
    )
    actions = parser.add_subparsers(dest="plugins_command")
    listing = actions.add_parser(
        "list",
        help="every exporter and processor available by name",
        description=(
            "Every exporter and processor that can be named in configure() or "
            "FAPILOG_EXPORTERS / FAPILOG_PROCESSORS: built in, or from the entry-point "
            "groups fapilog.exporters and fapilog.processors, with its distribution, "
            "version and plugin API compatibility. A plugin that fails to load is listed "
            "with its error."
        ),
    )
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    check = actions.add_parser(
        "check",
        help="load and build one plugin and run quick conformance checks",
        description=(
            "Load the plugin, build it with the settings from the environment and the "
            "--option values, and check: its api_version is served by this fapilog, its "
            "repr shows no value of a secret option (token, key, password...), shutdown() "
            "returns within --timeout; for a processor also odd events and counts(). "
            "Nothing is exported. Exit code 0: every check passed; 1: a check failed."
        ),
    )
    check.add_argument("name", help="the plugin's name, as in configure()")
    check.add_argument(
        "--kind", choices=("exporter", "processor"), help="when both kinds use the name"
    )
    check.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an option to build it with (repeatable); give a fake token to check it is hidden",
    )
    check.add_argument(
        "--timeout",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="bound on shutdown() (default: 5)",
    )
    check.add_argument("--json", action="store_true", help="print one JSON object")
    new = actions.add_parser(
        "new",
        help="write a new plugin distribution (pyproject, typed source, tests, docs)",
        description=(
            "Write the distribution fapilog-<kind>-<name> under --dir: pyproject.toml with "
            "its entry point, typed source using fapilog.plugin only, tests that run the "
            "conformance kit, a README and a docs page. It installs and passes its tests "
            "as written."
        ),
    )
    new.add_argument("kind", choices=("exporter", "processor"))
    new.add_argument("name", help="the plugin's name: lower case, digits and _ (e.g. acme)")
    new.add_argument(
        "--dir", type=Path, default=Path("."), help="where to create it (default: here)"
    )


def run(args: argparse.Namespace) -> int:
    """Run ``fapilog plugins ...``; returns the exit code."""
    command = getattr(args, "plugins_command", None)
    if command == "list":
        return _list(args)
    if command == "check":
        return _check(args)
    if command == "new":
        return _new(args)
    print("usage: fapilog plugins {list,check,new} ...; see fapilog plugins --help")
    return 2


# -- list ---------------------------------------------------------------------------


def _list(args: argparse.Namespace) -> int:
    from fapilog._plugins import discover
    from fapilog._version import __version__
    from fapilog.plugin import API_VERSION

    plugins = discover()
    if args.json:
        out = {
            "version": __version__,
            "api_version": API_VERSION,
            "plugins": [p.as_dict() for p in plugins],
        }
        print(json.dumps(out, indent=2))
        return 0
    print(f"fapilog {__version__}, plugin API {API_VERSION}\n")
    rows = [("name", "kind", "distribution", "version", "api")]
    rows += [(p.name, p.kind, p.distribution, p.version, _api_column(p)) for p in plugins]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4])
    return 0


def _api_column(plugin: PluginInfo) -> str:
    if plugin.error is not None or not plugin.compatible:
        return f"INCOMPATIBLE: {plugin.reason}"
    if plugin.builtin:
        return "built in"
    if plugin.api_version is None:
        return f"ok ({plugin.reason})"
    return f"ok ({plugin.api_version})"


# -- check --------------------------------------------------------------------------


@dataclass
class _Check:
    status: Status
    text: str

    def line(self) -> str:
        return f"{self.status:<5} {self.text}"


def _check(args: argparse.Namespace) -> int:
    checks: list[_Check] = []
    try:
        options = _parse_options(args.option)
    except ValueError as exc:
        checks.append(_Check("FAIL", str(exc)))
        options = None
    if options is not None:
        _run_checks(args.name, args.kind, options, args.timeout, checks)
    failed = [c for c in checks if c.status == "FAIL"]
    if args.json:
        print(
            json.dumps(
                {
                    "name": args.name,
                    "ok": not failed,
                    "checks": [{"status": c.status.lower(), "text": c.text} for c in checks],
                },
                indent=2,
            )
        )
    else:
        print(f"fapilog plugins check {args.name}")
        for check in checks:
            print(check.line())
        print(f"{len(failed)} problem(s)" if failed else "all checks passed")
    return 1 if failed else 0


def _parse_options(items: list[str]) -> dict[str, str]:
    options: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--option {item.split('=')[0]!r}: write KEY=VALUE, e.g. token=t0k3n")
        options[key.strip()] = value
    return options


def _run_checks(
    name: str, kind: str | None, options: dict[str, str], bound: float, out: list[_Check]
) -> None:
    from fapilog._plugins import discover

    plugins = [
        p
        for p in discover()
        if p.name.lower() == name.strip().lower() and (kind is None or p.kind == kind)
    ]
    if not plugins:
        known = sorted({p.name for p in discover()})
        out.append(_Check("FAIL", f"no plugin named {name!r}; installed: {', '.join(known)}"))
        return
    kinds = sorted({p.kind for p in plugins})
    if len(kinds) > 1:
        out.append(_Check("FAIL", f"{name!r} is both an exporter and a processor: add --kind"))
        return
    plugin = plugins[0]
    origin = "built in" if plugin.builtin else f"{plugin.distribution} {plugin.version}"
    out.append(_Check("info", f"{plugin.kind} {plugin.name}: {plugin.target} ({origin})"))
    if plugin.error is not None:
        out.append(_Check("FAIL", f"does not load: {plugin.reason}"))
        return
    out.append(_Check("ok", "loads"))
    if not plugin.compatible:
        out.append(_Check("FAIL", f"plugin API: {plugin.reason}"))
    elif plugin.api_version is None and not plugin.builtin:
        out.append(_Check("warn", f"plugin API: {plugin.reason}; declare api_version"))
    else:
        out.append(_Check("ok", f"plugin API: {plugin.api_version or 'built in'} is served"))
    built = _build(plugin, options, out)
    if built is None:
        return
    _check_repr(built, options, out)
    if plugin.kind == "processor":
        _check_processor(built, out)
    _check_shutdown(built, plugin.kind, bound, out)


def _build(plugin: PluginInfo, options: dict[str, str], out: list[_Check]) -> Any:
    from fapilog.config import ConfigError, Settings
    from fapilog.exporters._registry import exporter_by_name, processor_by_name

    try:
        settings = Settings.load()
        if plugin.kind == "exporter":
            built: Any = exporter_by_name(plugin.name, settings, **options)
        else:
            built = processor_by_name(plugin.name, settings, **options)
    except ConfigError as exc:
        given = f"with {', '.join(sorted(options))}" if options else "with default options"
        out.append(
            _Check(
                "FAIL",
                f"does not build {given}: {' '.join(str(exc).split())}; pass its options as "
                "--option KEY=VALUE",
            )
        )
        return None
    except Exception as exc:  # its text may quote an option's value: the type only
        out.append(_Check("FAIL", f"building it raised {type(exc).__name__}"))
        return None
    out.append(_Check("ok", f"builds: {type(built).__qualname__}"))
    return built


def _check_repr(built: Any, options: dict[str, str], out: list[_Check]) -> None:
    secret = {k: v for k, v in options.items() if _SECRET_NAME.search(k) and len(v) >= 4}
    if not secret:
        out.append(
            _Check(
                "skip",
                "secrets in repr: no secret option given (pass a fake one, e.g. "
                "--option token=fake-secret-123)",
            )
        )
        return
    for label, text in (("repr", _safe(repr, built)), ("str", _safe(str, built))):
        shown = sorted(k for k, v in secret.items() if v in text)
        if shown:
            out.append(
                _Check(
                    "FAIL",
                    f"{label}() shows the value of option {', '.join(shown)}: keep credentials "
                    "in fapilog.plugin.Secret (or pydantic SecretStr) and leave them out of "
                    "__repr__",
                )
            )
            return
    out.append(_Check("ok", f"secrets in repr: {', '.join(sorted(secret))} not shown"))


def _safe(function: Any, obj: Any) -> str:
    try:
        return str(function(obj))
    except Exception as exc:
        return f"<{type(exc).__name__}>"


def _check_processor(processor: Any, out: list[_Check]) -> None:
    from fapilog.testing.conformance._events import odd_events

    for what, event in odd_events():
        try:
            processor.on_emit(event)
        except Exception as exc:
            out.append(_Check("FAIL", f"on_emit raised {type(exc).__name__} on an event {what}"))
            return
    out.append(_Check("ok", "on_emit: handles odd events (non-str bodies, huge, nested, None)"))
    counts = getattr(processor, "counts", None)
    if counts is None:
        return
    try:
        value = counts()
    except Exception as exc:
        out.append(_Check("FAIL", f"counts() raised {type(exc).__name__}"))
        return
    good = isinstance(value, Mapping) and all(
        isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool)
        for k, v in value.items()
    )
    if good:
        out.append(_Check("ok", "counts(): a Mapping[str, int]"))
    else:
        kind = type(value).__name__
        out.append(_Check("FAIL", f"counts() returned {kind}, not a Mapping[str, int]"))


def _check_shutdown(built: Any, kind: str, bound: float, out: list[_Check]) -> None:
    from fapilog.testing.conformance._run import LoopThread, run_bounded

    if kind == "exporter":
        loop = LoopThread()
        try:
            outcome = loop.call(built.shutdown(), bound)
        finally:
            loop.close()
    else:
        outcome = run_bounded(built.shutdown, bound)
    if not outcome.done:
        out.append(_Check("FAIL", f"shutdown() did not return within {bound:g} s"))
    elif outcome.error is not None:
        out.append(_Check("FAIL", f"shutdown() raised {type(outcome.error).__name__}"))
    else:
        out.append(_Check("ok", f"shutdown(): returned within {bound:g} s"))


# -- new ----------------------------------------------------------------------------


def _new(args: argparse.Namespace) -> int:
    from fapilog.cli._scaffold import ScaffoldError, write_distribution

    try:
        root, written = write_distribution(args.kind, args.name, args.dir)
    except ScaffoldError as exc:
        print(f"fapilog plugins new: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {root} ({len(written)} files):")
    for path in written:
        print(f"  {path.relative_to(root)}")
    print(
        f"\nnext: cd {root} && pip install -e '.[test]' && pytest\n"
        f"      fapilog plugins list   # shows {args.kind} {args.name}"
    )
    return 0
