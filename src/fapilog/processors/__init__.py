"""Processors: enrich, redact, filter, sample and de-duplicate events on the pipeline worker."""

from __future__ import annotations

from fapilog.processors._base import Processor
from fapilog.processors._builtin import (
    BaggageProcessor,
    BoundContextProcessor,
    LevelFilter,
    SpanContextProcessor,
)
from fapilog.processors._dedup import DedupProcessor
from fapilog.processors._otel import FapilogLogRecordProcessor, OTelProcessor
from fapilog.processors._sampling import SamplingProcessor

__all__ = [
    "BaggageProcessor",
    "BoundContextProcessor",
    "DedupProcessor",
    "FapilogLogRecordProcessor",
    "LevelFilter",
    "OTelProcessor",
    "Processor",
    "SamplingProcessor",
    "SpanContextProcessor",
]
