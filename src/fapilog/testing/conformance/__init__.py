"""A conformance kit for fapilog plugins: one pytest suite every exporter and processor runs.

Subclass :class:`ExporterConformance` or :class:`ProcessorConformance` in a test module,
name the subclass ``Test...``, and provide what the kit cannot guess: how to build the
plugin and, for an exporter, a test backend it can make fail (:class:`Backend`). The
inherited tests then check what every plugin promises fapilog (``docs/plugins.md``):

* exact accounting under retries and partial failures, inside a real
  :class:`fapilog.Pipeline`: ``emitted == exported + dropped``, what the backend received
  is what the pipeline counts exported, nothing twice, a retry resumes the batch;
* shutdown within its bound;
* no secret in ``repr``/``str``, export results, exceptions or diagnostics;
* thread safety (exporting while another thread flushes) and fork safety;
* never raising into the pipeline, whatever the events look like;
* a declared, compatible ``api_version``.

Each failure says what was lost or leaked, under which condition, and what to fix.
"""

from __future__ import annotations

from fapilog.testing.conformance._backend import Backend, Unsupported
from fapilog.testing.conformance._events import conformance_body, odd_events
from fapilog.testing.conformance._exporter import ExporterConformance
from fapilog.testing.conformance._processor import ProcessorConformance

__all__ = [
    "Backend",
    "ExporterConformance",
    "ProcessorConformance",
    "Unsupported",
    "conformance_body",
    "odd_events",
]
