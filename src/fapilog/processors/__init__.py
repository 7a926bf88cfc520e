"""Processors: enrich, redact, filter, sample and de-duplicate events on the pipeline worker."""

from __future__ import annotations

import typing

from fapilog._lazy import lazy_dir as _lazy_dir
from fapilog._lazy import lazy_getattr as _lazy_getattr
from fapilog.processors._base import Processor
from fapilog.processors._builtin import (
    BaggageProcessor,
    BoundContextProcessor,
    LevelFilter,
    SpanContextProcessor,
)
from fapilog.processors._dedup import DedupProcessor
from fapilog.processors._sampling import SamplingProcessor

if typing.TYPE_CHECKING:
    from fapilog.processors._otel import FapilogLogRecordProcessor, OTelProcessor

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

#: The adapters to OpenTelemetry SDK processors, imported on first access (PEP 562):
#: they load the SDK's logs module, which a pipeline without them never needs.
_LAZY = {
    "FapilogLogRecordProcessor": "fapilog.processors._otel",
    "OTelProcessor": "fapilog.processors._otel",
}

if not typing.TYPE_CHECKING:  # type checkers see the imports above
    __getattr__ = _lazy_getattr(globals(), _LAZY)

__dir__ = _lazy_dir(globals())
