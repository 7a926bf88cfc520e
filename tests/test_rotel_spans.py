"""RotelCollector(traces=True): spans are received and parsed next to log records."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from fapilog.testing._rotel_output import _DebugLogParser, _SpanParser

if TYPE_CHECKING:
    from collections.abc import Iterator

    from fapilog.testing import RotelCollector

pytest.importorskip("rotel", reason="needs the rotel collector")

# rotel's detailed trace output, verbatim (some lines end in a space).
SPAN_OUTPUT = "".join(
    line + "\n"
    for line in [
        "ResourceSpans #0",
        "Resource SchemaURL: ",
        "Resource attributes:",
        "     -> service.name: Str(shop)",
        "ScopeSpans #0",
        "ScopeSpans SchemaURL: ",
        "InstrumentationScope opentelemetry.instrumentation.asgi 0.64b0",
        "Span #0",
        "    Trace ID       : 0af7651916cd43dd8448eb211c80319c",
        "    Parent ID      : b7ad6b7169203331",
        "    ID             : 082a08ee4a82d583",
        "    Name           : GET /order/{n}",
        "    Kind           : SPAN_KIND_SERVER",
        "Start time: 1796435918800971096",
        "End time: 1796435918801209041",
        "    Status code    : STATUS_CODE_UNSET",
        "    Status message : ",
        "Attributes:",
        "     -> http.route: Str(/order/{n})",
        "     -> http.status_code: Int(200)",
        "Events:",
        "SpanEvent #0",
        "     -> Name: exception",
        "     -> Attributes::",
        "          -> exception.type: Str(ValueError)",
        "Span #1",
        "    Trace ID       : 0af7651916cd43dd8448eb211c80319c",
        "    Parent ID      : 082a08ee4a82d583",
        "    ID             : 1111111111111111",
        "    Name           : GET /order/{n} http send",
        "    Kind           : SPAN_KIND_INTERNAL",
    ]
)


def test_span_blocks_parse_into_collected_spans() -> None:
    parser = _SpanParser()
    parser.feed(SPAN_OUTPUT)
    parser.close()
    first, second = parser.spans
    assert (first.name, first.kind, first.scope_name) == (
        "GET /order/{n}",
        "SERVER",
        "opentelemetry.instrumentation.asgi",
    )
    assert (first.trace_id, first.parent_span_id, first.span_id) == (
        "0af7651916cd43dd8448eb211c80319c",
        "b7ad6b7169203331",
        "082a08ee4a82d583",
    )
    assert first.attributes == {"http.route": "/order/{n}", "http.status_code": 200}
    assert first.resource_attributes == {"service.name": "shop"}
    assert (second.kind, second.parent_span_id) == ("INTERNAL", "082a08ee4a82d583")


def test_the_log_parser_skips_span_output_between_log_blocks() -> None:
    logs = (
        "ResourceLog #0\nResource attributes:\n     -> service.name: Str(shop)\n"
        "ScopeLogs #0\nInstrumentationScope shop \nLogRecord #0\nBody: Str(hello)\n"
        "Attributes:\n     -> a: Int(1)\nFlags: 0\n"
    )
    parser = _DebugLogParser()
    parser.feed(logs + SPAN_OUTPUT + logs.replace("hello", "again"))
    assert [(r.body, r.attributes, r.resource_attributes) for r in parser.records] == [
        ("hello", {"a": 1}, {"service.name": "shop"}),
        ("again", {"a": 1}, {"service.name": "shop"}),
    ]


@pytest.fixture(scope="module")
def collector() -> Iterator[RotelCollector]:
    from fapilog.testing import RotelCollector

    with RotelCollector(traces=True, metrics=True) as started:
        yield started


def test_a_real_collector_receives_spans_and_logs_on_one_endpoint(
    collector: RotelCollector,
) -> None:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.trace import SpanKind

    import fapilog
    from fapilog.exporters.otlp import OTLPExporter
    from fapilog.testing import RotelCollector

    provider = TracerProvider(resource=Resource({"service.name": "spans-test"}))
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=collector.grpc_endpoint, insecure=True))
    )
    pipeline = fapilog.Pipeline(
        exporters=[OTLPExporter(endpoint=collector.grpc_endpoint)], service_name="spans-test"
    )
    try:
        tracer = provider.get_tracer("t")
        with tracer.start_as_current_span("handle", kind=SpanKind.SERVER) as span:
            pipeline.get_logger("t").info("inside")
            trace_id = f"{span.get_span_context().trace_id:032x}"
    finally:
        provider.shutdown()
        assert pipeline.shutdown(timeout=10)
    assert collector.wait_for(1, timeout=10) >= 1
    [record] = [r for r in collector.records() if r.body == "inside"]
    [server] = [s for s in collector.spans() if s.trace_id == trace_id]
    assert (server.name, server.kind) == ("handle", "SERVER")
    assert server.resource_attributes["service.name"] == "spans-test"
    assert record.span_id == server.span_id
    with pytest.raises(Exception, match="traces=True"):
        RotelCollector().spans()
