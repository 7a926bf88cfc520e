"""Bridges that route other logging libraries into fapilog's pipeline.

* :class:`FapilogStructlogProcessor` — the last processor of a structlog chain.
* :class:`FapilogLoguruSink` — a loguru sink (``logger.add(FapilogLoguruSink())``),
  with :func:`loguru_context_patcher` for ``enqueue=True``.

The standard :mod:`logging` bridge is :class:`fapilog.FapilogHandler`. Importing
this package needs neither structlog nor loguru; creating a bridge needs its
library (``pip install 'fapilog[structlog]'`` or ``'fapilog[loguru]'``).
"""

from __future__ import annotations

from fapilog.bridges._loguru import FapilogLoguruSink, loguru_context_patcher
from fapilog.bridges._structlog import FapilogStructlogProcessor

__all__ = ["FapilogLoguruSink", "FapilogStructlogProcessor", "loguru_context_patcher"]
