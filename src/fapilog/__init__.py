"""fapilog: OpenTelemetry-native, async-first structured logging.

Quick start::

    from fapilog import get_logger

    log = get_logger()
    log.info("hi", user="u1")
"""

from __future__ import annotations

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
from fapilog._event import LogEvent
from fapilog._helpers import Catch, Timed, catch
from fapilog._levels import LevelWatcher
from fapilog._logger import Logger
from fapilog._version import __version__
from fapilog.config import ConfigError, Settings
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
