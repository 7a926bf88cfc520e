"""The pipeline: buffering, processing, batching and exporting, off the caller's thread."""

from __future__ import annotations

from fapilog.pipeline._batch import AsyncBatchProcessor
from fapilog.pipeline._pipeline import Pipeline
from fapilog.pipeline._stats import ExporterStats, PipelineStats

__all__ = ["AsyncBatchProcessor", "ExporterStats", "Pipeline", "PipelineStats"]
