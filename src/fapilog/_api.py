"""Module-level API: the default pipeline, configure(), get_logger() and friends."""

from __future__ import annotations

import collections
import sys
import threading
from typing import TYPE_CHECKING, Any, Literal, TypedDict, cast

from fapilog import _levels, _severity
from fapilog._defaults import load_settings
from fapilog._diagnostics import flush_at_exit, reporter
from fapilog._logger import Logger, PipelineRef, add_callsite
from fapilog.errors import ConfigError

# The pipeline, the settings model (pydantic) and the exporters are imported where
# they are used: importing fapilog and creating loggers must not load them (the first
# event that needs a pipeline does; docs/architecture.md, "Import cost").
if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from datetime import timedelta
    from typing import Unpack

    from opentelemetry.sdk.resources import Resource
    from pydantic import SecretStr

    from fapilog._levels import LevelWatcher
    from fapilog.config import Settings
    from fapilog.exporters._base import Exporter
    from fapilog.pipeline._materialize import CapturedRecord
    from fapilog.pipeline._pipeline import Pipeline
    from fapilog.pipeline._stats import PipelineStats
    from fapilog.processors._base import Processor

__all__ = [
    "FALLBACK_SETTINGS",
    "SettingsOverrides",
    "aflush",
    "ashutdown",
    "configure",
    "configure_from_environment",
    "default_pipeline",
    "flush",
    "get_level",
    "get_logger",
    "set_level",
    "shutdown",
    "stats",
    "watch_levels",
]

_lock = threading.RLock()


class _LazyIntake:
    """The lazy default's intake: its first accepted event builds the default pipeline.

    ``capacity`` is -1, so the hot path always falls through to :meth:`slow_put`.
    """

    ring: collections.deque[CapturedRecord] = collections.deque()  # never appended to
    capacity = -1
    level = 0

    def enabled(self, severity: int) -> bool:
        return True

    def gate(self, name: str) -> tuple[int, Any]:
        """The runtime rules only (the pipeline's own are not known yet); no limit."""
        return _levels.lookup(name, {}, 0), None

    def accepts(self, name: str | None, severity: int) -> bool:
        return severity >= _levels.lookup(name or "", {}, 0)

    def admit(self, name: str | None, msg: Any, severity: int) -> bool:
        return True

    def caller_drop(self, reason: str) -> None:
        """Nothing to count: no pipeline exists yet (none is built for a drop)."""

    def slow_put(self, rec: CapturedRecord) -> None:
        pipeline = _default_or_report()
        if pipeline is not None and _wanted(pipeline, rec):
            if _DEFAULT.callsite:  # known now: the call site of this first event
                add_callsite(rec, sys._getframe(1))
            pipeline.intake.enqueue(rec)

    enqueue = slow_put

    async def aput(self, rec: CapturedRecord) -> None:
        pipeline = _default_or_report()
        if pipeline is not None and _wanted(pipeline, rec):
            if _DEFAULT.callsite:
                add_callsite(rec, sys._getframe(1))
            await pipeline.intake.aput(rec)


def _wanted(pipeline: Pipeline, rec: CapturedRecord) -> bool:
    """Whether the default pipeline, just built, wants a record captured before it was."""
    from fapilog.pipeline._materialize import REC_LOGGER, REC_SEVERITY

    scope = getattr(rec[REC_LOGGER], "_scope", None)
    return pipeline.intake.accepts(getattr(scope, "name", None), rec[REC_SEVERITY])


class _LazyDefault:
    """Stands in for the default pipeline until the first event needs it.

    Importing fapilog or creating loggers starts no thread; the first accepted
    event builds the zero-config pipeline from the environment.
    """

    intake = _LazyIntake()


def _default_or_report() -> Pipeline | None:
    """The default pipeline, or ``None`` (reported) if not even the fallback starts.

    A log call must never raise: this only fails when no pipeline can run at all
    (e.g. no thread can be started while the interpreter shuts down).
    """
    try:
        return default_pipeline()
    except Exception as exc:
        reporter.report(
            "default_pipeline_failed",
            f"no pipeline could be started ({type(exc).__name__}: {exc}); "
            "events logged now are lost",
            plain="no pipeline could be started; events logged now are lost",
        )
        if not threading.main_thread().is_alive():
            # An exit hook logging for the first time (the pipeline's modules no longer
            # import then): the reporter's own exit flush has run already.
            flush_at_exit()
        return None


_LAZY = _LazyDefault()
_DEFAULT = PipelineRef(_LAZY)


def _built() -> Pipeline | None:
    """The default pipeline if it was built (or configured); never builds one.

    ``_DEFAULT`` follows either the lazy stand-in or a pipeline :func:`_install`
    installed, so this needs no ``isinstance`` (nor the pipeline module loaded).
    """
    current = _DEFAULT.pipeline
    return None if current is _LAZY else cast("Pipeline", current)


def _install(pipeline: Pipeline) -> None:
    def restore() -> None:
        with _lock:
            if _DEFAULT.pipeline is pipeline:
                _DEFAULT.set(_LAZY)

    pipeline.add_shutdown_hook(restore)
    _DEFAULT.set(pipeline)


def default_pipeline() -> Pipeline:
    """The default pipeline, built from the environment on first use.

    An invalid environment does not raise here (nor from the log call that got
    here): the fallback pipeline is used, and one line on stderr names the variable
    and the fix (see :func:`configure_from_environment`).
    """
    current = _built()
    if current is not None:
        return current
    with _lock:
        current = _built()
        if current is not None:
            return current
        pipeline = _from_environment()
        _install(pipeline)
        return pipeline


#: What the fallback pipeline forces, over the valid part of the environment.
FALLBACK_SETTINGS: dict[str, Any] = {
    "exporters": ["console"],
    "console_stream": "stderr",
    "redaction": True,
}


def configure_from_environment(
    *,
    exporters: Iterable[str | Exporter | Any] = (),
    processors: Iterable[Processor | Any]
    | Mapping[str, Mapping[str, Any]]
    | Processor
    | None = None,
    resource: Resource | Callable[[Settings], Resource] | None = None,
) -> Pipeline:
    """:func:`configure` from the environment only, without raising for it.

    Settings come from ``FAPILOG_*`` and ``OTEL_*`` variables. If they (or the
    exporters they name) are invalid, the *fallback pipeline* is installed instead:
    the valid settings of the environment, with the console exporter on stderr and
    redaction on (:data:`FALLBACK_SETTINGS`); one line on stderr names the variable
    at fault and the fix. Events are then delivered to, and counted by, the fallback.
    The lazily built default pipeline works the same way.

    Args:
        exporters: exporter names (or objects) to use before the names of the
            settings, duplicates dropped (e.g. those given to
            ``opentelemetry-instrument``). Names are treated as environment.
        processors: extra processors, as for :func:`configure`. Given in code, so a
            mistake here raises.
        resource: the OTel Resource, or a function of the settings returning it
            (default: detected).

    Returns:
        The new default :class:`~fapilog.Pipeline`: the configured one or the fallback.

    Raises:
        ConfigTypeError: a processor is not a processor.
    """
    from fapilog.exporters._registry import resolve_processors

    checked = None if processors is None else resolve_processors(processors)
    return _make_default(
        _from_environment(exporters=exporters, processors=checked, resource=resource)
    )


def _from_environment(
    *,
    exporters: Iterable[str | Exporter | Any] = (),
    processors: list[Processor] | None = None,
    resource: Resource | Callable[[Settings], Resource] | None = None,
) -> Pipeline:
    """A pipeline built from the environment, or the fallback pipeline (reported).

    With nothing in the environment to validate, the settings are the defaults,
    built without pydantic (:func:`fapilog._defaults.load_settings`).
    """
    from fapilog.exporters._registry import resolve_exporters
    from fapilog.pipeline._pipeline import Pipeline

    try:
        settings = load_settings()
        extra = [name.strip().lower() if isinstance(name, str) else name for name in exporters]
        names = list(dict.fromkeys([*extra, *settings.exporters]))
        built = resolve_exporters(names, settings, source=settings.source("exporters"))
        return Pipeline(
            settings, exporters=built, processors=processors, resource=_resource(resource, settings)
        )
    except Exception as exc:
        error = exc
    pipeline = _fallback(error, processors, resource)
    reporter.report("config_fallback", _fallback_line(error))
    return pipeline


def _resource(
    resource: Resource | Callable[[Settings], Resource] | None, settings: Settings
) -> Resource | None:
    return resource(settings) if callable(resource) else resource


def _fallback(
    error: Exception,
    processors: list[Processor] | None,
    resource: Resource | Callable[[Settings], Resource] | None,
) -> Pipeline:
    """The fallback pipeline: what is valid in the environment, console, redaction."""
    from fapilog.config import Settings
    from fapilog.pipeline._pipeline import Pipeline

    fields = Settings.model_fields
    reset = {
        name: fields[name].get_default(call_default_factory=True)
        for name in getattr(error, "fields", ())
        if name in fields and name not in FALLBACK_SETTINGS
    }
    try:
        settings = Settings.load(**reset, **FALLBACK_SETTINGS)
        return Pipeline(settings, processors=processors, resource=_resource(resource, settings))
    except Exception:  # the environment is wrong in more ways: defaults only
        return Pipeline(Settings.defaults(**FALLBACK_SETTINGS), processors=processors)


def _fallback_line(error: Exception) -> str:
    """One line: what was wrong (variable, value, fix), and where events go meanwhile."""
    text = str(error).removeprefix("invalid fapilog configuration:")
    parts = [part.strip().removeprefix("- ") for part in text.splitlines() if part.strip()]
    what = ""
    for part in parts:  # "header:" lines run on into their first item
        what += part if not what else (" " if what.endswith(":") else "; ") + part
    what = what or type(error).__name__
    if not isinstance(error, ConfigError):
        what = f"{type(error).__name__}: {what}"
    return (
        f"invalid logging configuration in the environment ({what}); "
        "until it is fixed, events go to the console on stderr with redaction on"
    )


class SettingsOverrides(TypedDict, total=False):
    """The settings :func:`configure` takes as keywords, typed for editors and checkers.

    One key per :class:`~fapilog.Settings` field (except ``exporters``, a parameter of
    its own), with the values the field accepts in code; a test keeps the two in step.
    """

    level: str | int
    levels: dict[str, str | int] | str
    rate_limit: float | None
    rate_limit_burst: int | None
    rate_limits: dict[str, float | None] | str
    service_name: str | None
    console_format: Literal["auto", "pretty", "json"]
    console_stream: Literal["stderr", "stdout"]
    console_time: Literal["local", "utc"]
    console_colors: bool | None
    console_locals: bool
    file_path: str | os.PathLike[str] | None
    file_max_bytes: int | None
    file_rotate_every: timedelta | int | float | str | None
    file_backup_count: int
    file_max_age: timedelta | int | float | str | None
    file_compress: Literal["none", "gzip"]
    max_queue_size: int
    max_queue_bytes: int
    max_export_batch_size: int
    schedule_delay_ms: int
    export_timeout_ms: int
    retry_initial_backoff_ms: int
    retry_max_backoff_ms: int
    retry_max_attempts: int | None
    overflow: Literal["block", "drop_newest", "drop_oldest"]
    block_timeout_ms: int
    spool_dir: str | os.PathLike[str] | None
    spool_max_bytes: int
    spool_max_age_s: float
    spool_fsync: Literal["batch", "interval", "never"]
    spool_overflow: Literal["block", "drop_newest", "drop_oldest"]
    baggage_keys: Sequence[str] | str
    shutdown_timeout_ms: int
    redaction: bool
    redaction_hmac_key: str | SecretStr | None
    redaction_allow_keys: Sequence[str] | str
    redaction_max_scan_bytes: int
    compliance: Sequence[str] | str
    compliance_mode: Literal["flag", "drop"]
    callsite: Literal["auto", "on", "off"]
    # Issue 18's other settings (config.py blocks of helpers metrics, volume, alerts).
    metrics: bool
    sampling_ratio: float
    sampling_keep_level: str
    sampling_rules: dict[str, float] | str
    sampling_keep_sampled_traces: bool
    dedup_window_ms: int | None
    alert_rules: str | os.PathLike[str] | None


def configure(
    settings: Settings | None = None,
    *,
    exporters: Iterable[Exporter | Any] | Mapping[str, Mapping[str, Any]] | None = None,
    processors: Iterable[Processor | Any] | Mapping[str, Mapping[str, Any]] | None = None,
    resource: Resource | None = None,
    spool: str | os.PathLike[str] | None = None,
    **overrides: Unpack[SettingsOverrides],
) -> Pipeline:
    """Build a pipeline and make it the default one used by :func:`get_logger` loggers.

    The previous default pipeline, if any, is flushed and shut down first.
    Loggers created earlier follow the new default. ``pipeline.shutdown()``
    restores the zero-config default.

    Args:
        settings: a :class:`~fapilog.Settings`; by default read from ``FAPILOG_*``
            and ``OTEL_*`` environment variables.
        exporters: exporters to use instead of those named by the settings: names,
            one comma-separated string of names (``"console,file"``), exporter
            objects, a single exporter object, or a mapping of exporter name to its
            options (``{"otlp": {"endpoint": "http://collector:4318"}}``).
        processors: the application's processors, after the built-in enrichers and
            redaction (a list, a single processor, names, or a mapping of name to
            options); replaces those the ``processors`` setting names.
        resource: the OTel Resource (default: detected).
        spool: shorthand for ``spool_dir=``: the directory of the durable disk spool
            (``docs/durability.md``), e.g. ``configure(spool="/var/lib/app/spool")``.
        **overrides: individual settings, e.g. ``level="debug"`` (every
            :class:`~fapilog.Settings` field, typed in :class:`SettingsOverrides`).

    Returns:
        The new default :class:`~fapilog.Pipeline`.

    Raises:
        ConfigError: a setting is invalid; the message names it and the fix.
        ConfigTypeError: an exporter or processor object is not one (also a
            :class:`TypeError`).
    """
    from fapilog.pipeline._pipeline import Pipeline

    extra: dict[str, Any] = dict(overrides)
    if spool is not None:
        extra["spool_dir"] = spool
    if settings is None and not extra:  # nothing given in code: the environment's
        settings = load_settings()
    return _make_default(
        Pipeline(settings, exporters=exporters, processors=processors, resource=resource, **extra)
    )


def _make_default(pipeline: Pipeline) -> Pipeline:
    """Make ``pipeline`` the default one, then shut the previous one down."""
    with _lock:
        previous = _built()
        _install(pipeline)
    if previous is not None:
        previous.shutdown()
    return pipeline


def get_logger(name: str | None = None) -> Logger:
    """Return a logger on the default pipeline.

    Args:
        name: the logger (instrumentation scope) name; defaults to the calling
            module's ``__name__``.
    """
    if name is None:
        try:
            name = sys._getframe(1).f_globals.get("__name__", "root")
        except (AttributeError, ValueError):
            name = "root"
    return Logger(name or "root", _DEFAULT)


def flush(timeout: float | None = None) -> bool:
    """Flush the default pipeline (see :meth:`Pipeline.flush`)."""
    current = _built()
    return current.flush(timeout) if current is not None else True


async def aflush(timeout: float | None = None) -> bool:
    """Awaitable :func:`flush`."""
    current = _built()
    return await current.aflush(timeout) if current is not None else True


def shutdown(timeout: float | None = None) -> bool:
    """Shut the default pipeline down (see :meth:`Pipeline.shutdown`)."""
    current = _built()
    return current.shutdown(timeout) if current is not None else True


async def ashutdown(timeout: float | None = None) -> bool:
    """Awaitable :func:`shutdown`."""
    current = _built()
    return await current.ashutdown(timeout) if current is not None else True


def stats() -> PipelineStats:
    """Accounting snapshot of the default pipeline (all zero before first use)."""
    current = _built()
    if current is not None:
        return current.stats()
    from fapilog.pipeline._stats import PipelineStats

    return PipelineStats(emitted=0, exported=0, dropped={}, in_flight=0, queued=0)


def set_level(name: str | None, level: int | str | None) -> None:
    """Set the level of logger ``name`` and the loggers below it, at run time.

    Takes effect in every pipeline of the process before it returns: a call made after
    it returned (on any thread) is checked against the new level, on the caller, with
    the same single comparison as before. The longest dotted prefix wins
    (``"shop"`` covers ``"shop.db"`` unless ``"shop.db"`` has a level of its own); at
    the same name, this runtime level wins over the ``levels`` setting. Stdlib records
    (:class:`~fapilog.FapilogHandler`) and the structlog and loguru bridges follow the
    same levels by their logger name. The change survives :func:`configure`; undo it
    with ``level=None``::

        fapilog.set_level("shop.db", "DEBUG")   # e.g. from an admin endpoint
        fapilog.set_level("shop.db", None)      # back to the configured level
        fapilog.set_level(None, "WARN")         # the global level, every pipeline

    Args:
        name: a logger name or prefix; ``None``, ``""`` or ``"*"``: the global level
            (over every pipeline's ``level`` setting).
        level: a level name (``"debug"``, ``"WARN"``...) or :mod:`logging` number;
            ``None`` removes the runtime level of ``name``.

    Raises:
        ValueError: ``level`` is not a level.
        TypeError: ``name`` is not a str or None.
    """
    _levels.set_level(name, level)


def get_level(name: str | None = None) -> str:
    """The level that applies to logger ``name`` on the default pipeline now.

    Runtime levels (:func:`set_level`, :func:`watch_levels`), then the ``levels``
    setting (longest dotted prefix), then the ``level`` setting. Before the default
    pipeline exists, its settings are read from the environment.

    Args:
        name: a logger name; ``None``: the global level.

    Returns:
        The level's name: ``"TRACE"``, ``"DEBUG"``, ``"INFO"``, ``"WARN"``, ``"ERROR"``
        or ``"FATAL"``.
    """
    key = "" if name is None else name.strip()
    key = "" if key in _levels.ROOT_NAMES else key
    current = _built()
    if current is not None:
        root, rules = current.intake.level, current.intake.levels
    else:
        try:
            settings = load_settings()
            root = settings.level_number
            rules = {k: _levels.parse_level(v) for k, v in settings.levels.items()}
        except Exception:  # the fallback pipeline's level is the default one
            root, rules = _severity.INFO, {}
    return _severity.severity_text(_levels.lookup(key, rules, root))


def watch_levels(path: str | os.PathLike[str], *, interval: float = 5.0) -> LevelWatcher:
    """Apply the levels in file ``path`` now and whenever the file changes.

    The file holds rules in the ``FAPILOG_LEVELS`` format, one a line or comma
    separated, ``#`` comments, ``*=LEVEL`` for the global level::

        # /etc/shop/levels
        shop.db=DEBUG
        urllib3=WARNING

    They are applied like :func:`set_level` (runtime levels, every pipeline). A daemon
    thread checks the file's modification time, size and inode every ``interval``
    seconds, so editing (or atomically replacing) the file changes the levels of a
    running service without a restart and without a signal handler. A new version
    replaces the file's previous rules as a whole: a rule deleted from the file is
    removed; a deleted file removes them all. A file that does not parse changes
    nothing and is reported on stderr once.

    Args:
        path: the levels file (it may not exist yet).
        interval: seconds between checks; 0: no thread, call ``check()`` yourself.

    Returns:
        The :class:`~fapilog.LevelWatcher`: ``check()`` applies a change now,
        ``stop()`` stops watching (``stop(keep=False)`` also removes the file's rules).
    """
    return _levels.watch_levels(path, interval=interval)
