"""Processors: enrich, redact and filter events on the pipeline worker."""

from __future__ import annotations

from fapilog.processors._base import Processor
from fapilog.processors._builtin import (
    BaggageProcessor,
    BoundContextProcessor,
    LevelFilter,
    SpanContextProcessor,
)
from fapilog.processors._otel import FapilogLogRecordProcessor, OTelProcessor

__all__ = [
    "BaggageProcessor",
    "BoundContextProcessor",
    "FapilogLogRecordProcessor",
    "LevelFilter",
    "OTelProcessor",
    "Processor",
    "SpanContextProcessor",
]
