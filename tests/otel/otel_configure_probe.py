"""Run FapilogConfigurator in a fresh interpreter and print what it set up, as JSON.

Used by test_otel_configurator.py: the configurator sets process-wide OTel globals
(they can be set once per process), so it runs here rather than in the test process.
"""

from __future__ import annotations

import json
import logging
import sys

from opentelemetry import trace
from opentelemetry._logs import SeverityNumber, get_logger, get_logger_provider
from opentelemetry.sdk._logs import LogRecordProcessor

import fapilog
from fapilog.otel import FapilogConfigurator


class Stamp(LogRecordProcessor):
    """An OTel processor a distro might pass: it stamps an attribute."""

    def on_emit(self, log_record):  # type: ignore[no-untyped-def]
        log_record.log_record.attributes = {
            **(log_record.log_record.attributes or {}),
            "stamped": True,
        }

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


FapilogConfigurator().configure(auto_instrumentation_version="9.9", log_record_processors=[Stamp()])

pipeline = fapilog.default_pipeline()
[memory] = pipeline.exporters
with trace.get_tracer("probe").start_as_current_span("work") as span:
    fapilog.get_logger("probe.app").info("fapilog call", card="4111 1111 1111 1111")
    logging.getLogger("probe.library").info("stdlib call")
    get_logger("probe.api").emit(body="api call", severity_number=SeverityNumber.INFO)
    logging.getLogger("probe.library").debug("below the level")
assert pipeline.flush(10)
trace.get_tracer_provider().force_flush()  # type: ignore[attr-defined]
ctx = span.get_span_context()
result = {
    "span": [f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"],
    "tracer_resource": dict(trace.get_tracer_provider().resource.attributes),  # type: ignore[attr-defined]
    "logger_provider": type(get_logger_provider()).__name__,
    "root_handlers": [type(h).__name__ for h in logging.getLogger().handlers],
    "root_level": logging.getLogger().level,
    "exporters": [type(e).__name__ for e in pipeline.exporters],
    "events": [
        {
            "body": e.body,
            "scope": e.scope_name,
            "ids": [f"{e.trace_id:032x}", f"{e.span_id:016x}"],
            "attributes": {k: v for k, v in e.attributes.items() if k in ("card", "stamped")},
            "resource": dict(e.resource.attributes),
        }
        for e in memory.events
    ],
}
sys.stdout.write("RESULT:" + json.dumps(result) + "\n")
