"""fapilog: OpenTelemetry-native, async-first structured logging.

Quick start::

    from fapilog import get_logger

    log = get_logger()
    log.info("hi", user="u1")

``import fapilog`` loads only what creating loggers needs; the pipeline, the OTel SDK,
the settings model (pydantic) and the exporters are imported by the first event that
needs them, and the names below that live there (``Pipeline``, ``Settings``...) on
first access (docs/architecture.md, "Import cost").
"""

from __future__ import annotations

import typing

# First: chooses the compiled or the pure-Python worker path (docs/compiled.md).
from fapilog import _native  # noqa: F401
from fapilog._api import (
    aflush,
    ashutdown,
    configure,
    default_pipeline,
    flush,
    get_level,
    get_logger,
    set_level,
    shutdown,
    stats,
    watch_levels,
)
from fapilog._context import bind_context
from fapilog._lazy import lazy_dir as _lazy_dir
from fapilog._lazy import lazy_getattr as _lazy_getattr
from fapilog._levels import LevelWatcher
from fapilog._logger import Logger
from fapilog._version import __version__
from fapilog.errors import ConfigError

if typing.TYPE_CHECKING:
    from fapilog._event import LogEvent
    from fapilog._helpers import Catch, Timed, catch
    from fapilog.config import Settings
    from fapilog.exporters import Exporter, ExportResult, ExportStatus
    from fapilog.pipeline import ExporterStats, Pipeline, PipelineStats
    from fapilog.processors import Processor
    from fapilog.stdlib import FapilogHandler, capture_stdlib

__all__ = [
    "Catch",
    "ConfigError",
    "ExportResult",
    "ExportStatus",
    "Exporter",
    "ExporterStats",
    "FapilogHandler",
    "LevelWatcher",
    "LogEvent",
    "Logger",
    "Pipeline",
    "PipelineStats",
    "Processor",
    "Settings",
    "Timed",
    "__version__",
    "aflush",
    "ashutdown",
    "bind_context",
    "capture_stdlib",
    "catch",
    "configure",
    "default_pipeline",
    "flush",
    "get_level",
    "get_logger",
    "set_level",
    "shutdown",
    "stats",
    "watch_levels",
]

#: The public names imported on first access, and the module each one comes from.
_LAZY = {
    "Catch": "fapilog._helpers",
    "Timed": "fapilog._helpers",
    "catch": "fapilog._helpers",
    "LogEvent": "fapilog._event",
    "Settings": "fapilog.config",
    "Exporter": "fapilog.exporters",
    "ExportResult": "fapilog.exporters",
    "ExportStatus": "fapilog.exporters",
    "ExporterStats": "fapilog.pipeline",
    "Pipeline": "fapilog.pipeline",
    "PipelineStats": "fapilog.pipeline",
    "Processor": "fapilog.processors",
    "FapilogHandler": "fapilog.stdlib",
    "capture_stdlib": "fapilog.stdlib",
}

#: Public submodules that ``import fapilog`` used to load as a side effect: still
#: reachable as attributes (``fapilog.config.Settings``), imported on first access.
_SUBMODULES = frozenset({"config", "errors", "exporters", "pipeline", "processors", "stdlib"})

if not typing.TYPE_CHECKING:  # type checkers see the imports above, and no catch-all
    __getattr__ = _lazy_getattr(globals(), _LAZY, _SUBMODULES)

__dir__ = _lazy_dir(globals())
