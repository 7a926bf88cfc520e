"""The OTel Context key bound fields live under (a leaf: no fapilog imports).

Kept apart from :mod:`fapilog._context` so the built-in processors can read it
without importing the module whose ``bind_context`` imports the pipeline.
"""

from __future__ import annotations

from opentelemetry import context as otel_context

__all__ = ["BOUND_KEY"]

BOUND_KEY = otel_context.create_key("fapilog.bound_context")
