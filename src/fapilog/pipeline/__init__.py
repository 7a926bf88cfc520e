"""The pipeline: buffering, processing, batching and exporting, off the caller's thread.

The names below are imported on first access (PEP 562): the caller-side capture
helpers of :mod:`fapilog.pipeline._materialize` are needed by ``Logger.bind()`` and the
first log call without the worker, asyncio and the exporters (docs/architecture.md,
"Import cost").
"""

from __future__ import annotations

import typing

from fapilog._lazy import lazy_dir as _lazy_dir
from fapilog._lazy import lazy_getattr as _lazy_getattr

if typing.TYPE_CHECKING:
    from fapilog.pipeline._batch import AsyncBatchProcessor
    from fapilog.pipeline._pipeline import Pipeline
    from fapilog.pipeline._stats import ExporterStats, PipelineStats

__all__ = ["AsyncBatchProcessor", "ExporterStats", "Pipeline", "PipelineStats"]

_LAZY = {
    "AsyncBatchProcessor": "fapilog.pipeline._batch",
    "ExporterStats": "fapilog.pipeline._stats",
    "Pipeline": "fapilog.pipeline._pipeline",
    "PipelineStats": "fapilog.pipeline._stats",
}

if not typing.TYPE_CHECKING:  # type checkers see the imports above, and no catch-all
    __getattr__ = _lazy_getattr(globals(), _LAZY)

__dir__ = _lazy_dir(globals())
