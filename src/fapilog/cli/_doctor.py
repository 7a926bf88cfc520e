"""``fapilog doctor``: check the installation, the settings and every exporter.

Checks, in order: the installed version and optional extras; that the settings are
valid; that every configured exporter resolves (built in, or an entry point that
loads); for OTLP, that the endpoint accepts connections and speaks what the
configuration expects — TLS or plain text, HTTP/2 for gRPC or HTTP/1.1 for OTLP/HTTP —
(found by :func:`fapilog.exporters.otlp._diagnose.probe`, explained by its
:func:`~fapilog.exporters.otlp._diagnose.explain`); finally one test record exported
through a fresh exporter, which passes only when the collector answers success.

Each problem is one ``FAIL`` line naming the fix; the exit code is 1 when there is any.
Nothing printed holds a secret: endpoints are shown without their password and
header values never appear.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, entry_points, version
from typing import TYPE_CHECKING, Literal

from fapilog import _native
from fapilog._version import __version__
from fapilog.cli._app import AppConfig, AppError, load_app
from fapilog.cli._config import OTLP_NAMES, Effective, ExporterView, add_app_argument, effective
from fapilog.config import ConfigError

if TYPE_CHECKING:
    import argparse

    from fapilog._event import LogEvent
    from fapilog.config import Settings
    from fapilog.exporters._base import Exporter
    from fapilog.exporters.otlp._config import OTLPExporterOptions
    from fapilog.exporters.otlp._diagnose import Peer

__all__ = ["Check", "add_parser", "diagnose", "run"]

Status = Literal["ok", "FAIL", "warn", "skip", "info"]

TEST_BODY = "fapilog doctor: test record"
"""The body of the record ``doctor`` exports (attribute ``fapilog.doctor=true``)."""

_EXTRA_MODULES = {
    "otlp": ("grpc", "httpx", "opentelemetry.proto.logs.v1.logs_pb2", "google.protobuf"),
}


@dataclass(frozen=True, slots=True)
class Check:
    """The outcome of one check."""

    name: str
    """What was checked: ``settings``, ``exporter otlp``, ``otlp endpoint``..."""
    status: Status
    """``ok``, ``FAIL`` (a problem), ``warn`` (worth knowing, not failing), ``skip``,
    ``info``."""
    text: str
    """One line; for ``FAIL`` it names the fix."""

    def line(self) -> str:
        """The check as one line of the report."""
        return f"{self.status:<5} {self.name}: {self.text}"


# -- the command ---------------------------------------------------------------------


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``doctor`` to the ``fapilog`` command's subcommands."""
    parser = sub.add_parser(
        "doctor",
        help="check the installation, the settings and that each exporter's endpoint works",
        description=(
            "Check imports and extras, the settings, that every configured exporter "
            "resolves, that each OTLP endpoint accepts connections and speaks what is "
            "configured (TLS or plain text, gRPC or HTTP/1.1), and export one test record "
            "to each network exporter. Every problem is one FAIL line naming the fix. "
            "Exit code 0: no problem; 1: problems; 2: --app cannot be loaded."
        ),
    )
    add_app_argument(parser)
    parser.add_argument(
        "--no-send",
        action="store_true",
        help="do not export the test record (check reachability and protocol only)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="bound on each network check (default: 5)",
    )
    parser.add_argument("--json", action="store_true", help="print the checks as JSON")


def run(args: argparse.Namespace) -> int:
    """Run ``fapilog doctor``; print one line per check and return the exit code."""
    app: AppConfig | None = None
    if args.app:
        try:
            app = load_app(args.app)
        except AppError as exc:
            print(f"fapilog doctor: {exc}", file=sys.stderr)
            return 2
    try:
        config = effective(app)
    finally:
        if app is not None:
            app.close()  # the checks use exporters of their own
    checks = diagnose(config, send=not args.no_send, timeout=max(args.timeout, 0.1))
    problems = [check for check in checks if check.status == "FAIL"]
    if args.json:
        payload = {
            "version": __version__,
            "ok": not problems,
            "checks": [
                {"name": c.name, "status": c.status.lower(), "text": c.text} for c in checks
            ],
        }
        print(json.dumps(payload, indent=2))
    else:
        print(f"fapilog doctor {__version__} (Python {platform.python_version()})")
        for check in checks:
            print(check.line())
        if problems:
            print(f"{len(problems)} problem(s): each FAIL line above names its fix")
        else:
            print("no problems found")
    return 1 if problems else 0


def diagnose(config: Effective, *, send: bool = True, timeout: float = 5.0) -> list[Check]:
    """Run every check against ``config``.

    Args:
        config: the effective configuration (see :func:`fapilog.cli._config.effective`).
        send: export a test record through each network exporter.
        timeout: seconds allowed for each network check.

    Returns:
        The checks, in the order they ran.
    """
    checks = [*_imports(config)]
    if config.error or config.settings is None:
        fallback = (
            "; until it is fixed, an application configured from the environment logs to "
            "the console on stderr (the fallback pipeline)"
            if config.app is None
            else ""
        )
        return [*checks, Check("settings", "FAIL", _one_line(config.error) + fallback)]
    settings = config.settings
    where = config.values["exporters"].where()
    names = ",".join(view.name for view in config.exporters) or "none"
    checks.append(Check("settings", "ok", f"valid (exporters: {names}, from {where})"))
    checks += _entry_points(config)
    if not config.exporters:
        checks.append(
            Check("exporters", "warn", "none configured: events are counted and discarded")
        )
    checks += asyncio.run(_exporters(config, settings, send=send, timeout=timeout))
    return checks


# -- imports and resolution ----------------------------------------------------------


def _imports(config: Effective) -> list[Check]:
    checks = []
    try:
        installed = version("fapilog")
    except PackageNotFoundError:
        checks.append(
            Check("fapilog", "info", f"{__version__}, imported from a source tree (not installed)")
        )
    else:
        if installed != __version__:
            checks.append(
                Check(
                    "fapilog",
                    "FAIL",
                    f"the installed distribution says {installed} but the code imported is "
                    f"{__version__} (a stale or mixed install); fix: pip install --force-"
                    f"reinstall 'fapilog=={installed}'",
                )
            )
        else:
            checks.append(Check("fapilog", "ok", f"{__version__} from {_package_dir()}"))
    checks.append(_worker_path())
    for extra, modules in _EXTRA_MODULES.items():
        missing = []
        for module in modules:
            try:
                importlib.import_module(module)
            except ImportError:
                missing.append(module.partition(".")[0])
        needed = extra == "otlp" and any(view.name in OTLP_NAMES for view in config.exporters)
        if not missing:
            checks.append(Check(f"{extra} extra", "ok", "installed"))
        elif needed:  # the exporter check fails with the same fix
            checks.append(Check(f"{extra} extra", "info", f"missing: {', '.join(missing)}"))
        else:
            checks.append(
                Check(
                    f"{extra} extra",
                    "info",
                    f"not installed ({', '.join(missing)} missing); needed only by the "
                    f"{extra} exporter: pip install 'fapilog[{extra}]'",
                )
            )
    return checks


def _worker_path() -> Check:
    """Which implementation of the worker path runs (docs/compiled.md)."""
    state = _native.status()
    if state.implementation == "compiled":
        return Check(
            "worker path",
            "ok",
            f"compiled ({state.compiler}, {len(state.modules)} modules)",
        )
    if state.manifest is not None:  # installed, but not usable
        return Check(
            "worker path",
            "warn",
            f"pure Python: {state.reason}; fix: reinstall fapilog (from a checkout: "
            "python3 dev.py sync)",
        )
    return Check("worker path", "info", f"pure Python: {state.reason}")


def _package_dir() -> str:
    import fapilog

    return os.path.dirname(fapilog.__file__ or "") or "?"


def _entry_points(config: Effective) -> list[Check]:
    """Installed ``fapilog.exporters`` plugins that fail to load (configured or not)."""
    from fapilog.exporters._registry import ENTRY_POINT_GROUP

    configured = {view.name for view in config.exporters}
    checks = []
    found = []
    for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        found.append(entry.name)
        if entry.name in configured:
            continue  # the exporter's own check loads it
        try:
            entry.load()
        except Exception as exc:
            checks.append(
                Check(
                    f"plugin {entry.name}",
                    "warn",
                    f"the entry point {entry.value} does not load ({_describe(exc)}); not "
                    f"configured, so harmless; reinstall {_dist(entry)} or uninstall it",
                )
            )
    if found:
        checks.insert(0, Check("plugins", "info", f"{ENTRY_POINT_GROUP}: {', '.join(found)}"))
    return checks


def _dist(entry: object) -> str:
    dist = getattr(entry, "dist", None)
    return f"{dist.name} {dist.version}" if dist is not None else "its distribution"


def _resolution(name: str) -> str:
    """Where exporter ``name`` comes from, for the report."""
    from fapilog.exporters._registry import _BUILTIN, ENTRY_POINT_GROUP, OTEL_ENTRY_POINT_GROUP

    if name in _BUILTIN:
        return "built in"
    for group in (ENTRY_POINT_GROUP, OTEL_ENTRY_POINT_GROUP):
        for entry in entry_points(group=group):
            if entry.name == name:
                return f"entry point {group}: {entry.value} ({_dist(entry)})"
    return "unknown"


def _build(view: ExporterView, settings: Settings) -> tuple[Exporter | None, Check]:
    """Build (resolve) the exporter a view names; a FAIL check when that fails."""
    from fapilog.exporters._registry import exporter_by_name

    label = f"exporter {view.name}"
    if view.exporter is not None:
        return None, Check(label, "ok", f"{type(view.exporter).__qualname__} object given in code")
    if view.error:
        return None, Check(label, "FAIL", _one_line(view.error))
    try:
        exporter = exporter_by_name(view.name, settings, source=view.source.origin)
    except ConfigError as exc:
        return None, Check(label, "FAIL", _one_line(str(exc)))
    except Exception as exc:
        return None, Check(
            label,
            "FAIL",
            f"{_resolution(view.name)} failed to load or build ({_describe(exc)}); fix: "
            "reinstall the distribution that provides it, and check its settings",
        )
    return exporter, Check(label, "ok", f"resolves ({_resolution(view.name)})")


# -- network checks ------------------------------------------------------------------


async def _exporters(
    config: Effective, settings: Settings, *, send: bool, timeout: float
) -> list[Check]:
    checks: list[Check] = []
    for view in config.exporters:
        exporter, check = _build(view, settings)
        checks.append(check)
        if check.status == "FAIL":
            continue
        label = f"exporter {view.name}"
        if view.otlp is not None:
            if exporter is not None:
                await _close(exporter, timeout)  # a fresh one is built for the test record
            checks += await _otlp(view.otlp, label, settings, send=send, timeout=timeout)
        elif exporter is None:
            checks.append(
                Check(label, "skip", "given as an object in code: no test record sent through it")
            )
        elif _local(exporter):
            await _close(exporter, timeout)
        elif send:
            checks.append(await _round_trip(exporter, label, settings, timeout, where=""))
        else:
            await _close(exporter, timeout)
            checks.append(Check(label, "skip", "test record not sent (--no-send)"))
    return checks


def _local(exporter: Exporter) -> bool:
    """Whether ``exporter`` writes locally (console, file, memory): nothing to reach."""
    from fapilog.exporters.console import ConsoleExporter
    from fapilog.exporters.file import FileExporter
    from fapilog.exporters.memory import InMemoryExporter

    return isinstance(exporter, (ConsoleExporter, FileExporter, InMemoryExporter))


async def _otlp(
    options: OTLPExporterOptions,
    label: str,
    settings: Settings,
    *,
    send: bool,
    timeout: float,
) -> list[Check]:
    from fapilog.exporters.otlp import OTLPExporter
    from fapilog.exporters.otlp._diagnose import _host_port, probe, proxied, split_host_port

    where = _host_port(options)
    host, port = split_host_port(where)
    wanted = _wanted(options)
    checks: list[Check] = []
    if proxied(host):
        checks.append(
            Check(
                label,
                "info",
                f"a proxy variable applies to {host}: {where} is not probed directly; "
                "the test record goes through the proxy",
            )
        )
    else:
        peer = await probe(host, port, timeout)
        problem = _peer_problem(options, peer, where)
        if problem:
            checks.append(Check(label, "FAIL", problem))
            if send:
                checks.append(
                    Check(label, "skip", "test record not sent: fix the problem above first")
                )
            return checks
        checks.append(Check(label, "ok", f"{where} {_spoken(peer)}, as {wanted} needs"))
    if not send:
        checks.append(Check(label, "skip", "test record not sent (--no-send)"))
        return checks
    exporter = OTLPExporter(options)
    checks.append(await _round_trip(exporter, label, settings, timeout, where=where))
    return checks


def _wanted(options: OTLPExporterOptions) -> str:
    protocol = "OTLP/gRPC" if options.protocol == "grpc" else "OTLP/HTTP"
    return f"{protocol} over {'TLS' if options.tls else 'plain text'}"


def _spoken(peer: Peer) -> str:
    tls = {True: "speaks TLS", False: "speaks plain text", None: "answers"}[peer.tls]
    http = {"h1": "HTTP/1.1", "h2": "HTTP/2", None: "an unknown protocol"}[peer.http]
    return f"accepts connections, {tls} and {http}"


def _peer_problem(options: OTLPExporterOptions, peer: Peer, where: str) -> str:
    """What the probe found wrong, with the fix; ``""`` when it matches the configuration."""
    from fapilog.exporters.otlp._diagnose import explain

    variable = _endpoint_variable(options)
    shown = f"endpoint {options.display_endpoint}, {_source(options)}"
    if peer.error == "connection refused":
        return (
            f"nothing accepts connections at {where} (connection refused; {shown}); fix: "
            f"start the collector, or point {variable} at the address it listens on"
        )
    if "resolve" in peer.error:
        host = where.rpartition(":")[0]
        return f"the host name {host!r} does not resolve ({shown}); fix: correct it in {variable}"
    if peer.error:
        return (
            f"cannot connect to {where}: {peer.error} ({shown}); fix: check the host, the "
            f"port and any firewall in between, or point {variable} elsewhere"
        )
    explained = explain(options, "", peer)
    if explained:
        return explained
    if options.protocol == "grpc" and peer.http is None:
        return (
            f"{where} accepts connections but does not answer as an HTTP/2 (gRPC) server "
            f"({shown}); fix: point {variable} at the collector's OTLP/gRPC port (usually 4317)"
        )
    return ""


def _endpoint_variable(options: OTLPExporterOptions) -> str:
    source = options.endpoint_source
    if source == "default":
        return "OTEL_EXPORTER_OTLP_ENDPOINT"
    return source


def _source(options: OTLPExporterOptions) -> str:
    source = options.endpoint_source
    if source == "default":
        return "the default"
    return f"set by {source}"


def doctor_record(settings: Settings) -> LogEvent:
    """The record ``doctor`` exports: INFO, :data:`TEST_BODY`, ``fapilog.doctor=true``."""
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    from fapilog._event import LogEvent
    from fapilog.pipeline._pipeline import default_resource

    return LogEvent(
        timestamp=time.time_ns(),
        severity_text="INFO",
        severity_number=9,
        body=TEST_BODY,
        attributes={"fapilog.doctor": True},
        resource=default_resource(settings),
        instrumentation_scope=InstrumentationScope("fapilog.doctor", __version__),
    )


async def _round_trip(
    exporter: Exporter, label: str, settings: Settings, timeout: float, *, where: str
) -> Check:
    """Export one test record through ``exporter`` (then shut it down)."""
    started = time.monotonic()
    try:
        await asyncio.wait_for(exporter.start(), timeout)
        result = await asyncio.wait_for(exporter.export([doctor_record(settings)]), timeout)
    except TimeoutError:
        return Check(
            label,
            "FAIL",
            f"the test record got no answer within {timeout:g}s; fix: check that the "
            "endpoint is the collector's and that it is not overloaded (or raise --timeout)",
        )
    except Exception as exc:
        return Check(
            label,
            "FAIL",
            f"exporting the test record raised {_describe(exc)}; fix: check the exporter's "
            "settings",
        )
    finally:
        await _close(exporter, timeout)
    elapsed = (time.monotonic() - started) * 1000
    at = f" at {where}" if where else ""
    if result.ok:
        return Check(label, "ok", f"test record accepted{at} ({elapsed:.0f} ms)")
    reason = _one_line(result.reason) or result.status.value
    return Check(label, "FAIL", f"test record not accepted{at}: {reason}{_fix_for(reason)}")


def _fix_for(reason: str) -> str:
    """A fix for a raw failure (one the exporter's own diagnosis did not explain)."""
    if not reason.startswith(("gRPC ", "HTTP ", "timed out", "cannot")):
        return ""  # it begins with the diagnosis, which names the fix
    auth = ("UNAUTHENTICATED", "PERMISSION_DENIED", "HTTP 401", "HTTP 403")
    if reason.startswith(auth) or any(word in reason for word in auth):
        return (
            "; fix: check the credentials (OTEL_EXPORTER_OTLP_HEADERS, headers=, or the "
            "exporter's token setting)"
        )
    return "; fix: the collector refused the record: its own log says why"


async def _close(exporter: Exporter, timeout: float) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(exporter.shutdown(), timeout)


def _describe(exc: BaseException) -> str:
    """An error for the report: the message only where it cannot hold a secret."""
    if isinstance(exc, (ConfigError, ImportError)):
        return f"{type(exc).__name__}: {_one_line(str(exc))}"
    return type(exc).__name__


def _one_line(text: str) -> str:
    return " ".join(text.split())
