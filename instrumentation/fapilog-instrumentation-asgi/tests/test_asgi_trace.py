"""Trace correlation: W3C trace context from the caller, or the OTel server span when present."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from opentelemetry import propagate
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

import fapilog
from asgi_support import _asgi_clean_state, by_logger, client
from fapilog.testing import InMemoryExporter, capture_logs
from fapilog_instrumentation_asgi import FapilogMiddleware, instrument_app

__all__ = ["_asgi_clean_state"]

TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C
PARENT_ID = 0xB7AD6B7169203331
TRACEPARENT = f"00-{TRACE_ID:032x}-{PARENT_ID:016x}-01"
log = fapilog.get_logger("app")


def make_app() -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        log.info("handling", item_id=item_id)
        return {"item_id": item_id}

    return app


@pytest.fixture
def spans() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


async def test_traceparent_is_extracted_without_otel_instrumentation() -> None:
    """Without a server span, logs carry the caller's trace id and parent span id, only during the request."""
    app = make_app()
    instrument_app(app, route_server_loggers=False)
    with capture_logs() as logs:
        async with client(app) as c:
            await c.get("/items/1", headers={"traceparent": TRACEPARENT})
            await c.get("/items/2")
        log.info("outside")
    first = [e for e in logs if e.attributes.get("url.path") == "/items/1"]
    assert len(first) == 2  # handler + access
    for event in first:
        assert event.trace_id == TRACE_ID
        assert event.span_id == PARENT_ID
        assert event.trace_flags == 1
    second = [e for e in logs if e.attributes.get("url.path") == "/items/2"]
    assert all(not e.trace_id for e in second)
    assert not logs.find("outside")[0].trace_id


async def test_extraction_can_be_switched_off() -> None:
    """extract_trace_context=False ignores the traceparent header."""
    app = make_app()
    instrument_app(app, route_server_loggers=False, extract_trace_context=False)
    with capture_logs() as logs:
        async with client(app) as c:
            await c.get("/items/1", headers={"traceparent": TRACEPARENT})
    assert all(not e.trace_id for e in logs)


async def test_allow_listed_baggage_reaches_the_logs() -> None:
    """W3C baggage from the caller reaches logs through fapilog's baggage_keys allow-list."""
    fapilog.configure(exporters=[InMemoryExporter()], baggage_keys=["tenant"])
    app = make_app()
    instrument_app(app, route_server_loggers=False)
    with capture_logs() as logs:
        async with client(app) as c:
            await c.get(
                "/items/1",
                headers={"traceparent": TRACEPARENT, "baggage": "tenant=acme,secret=s3"},
            )
    (handled,) = logs.find("handling")
    assert handled.attributes["tenant"] == "acme"
    assert "secret" not in handled.attributes
    assert handled.trace_id == TRACE_ID


def _server_span(exporter: InMemorySpanExporter) -> Any:
    (server,) = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
    return server


async def test_logs_carry_the_fastapi_instrumentor_server_span(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    """With FastAPIInstrumentor, handler and access logs carry the server span's ids."""
    provider, exporter = spans
    app = make_app()
    instrument_app(app, route_server_loggers=False)
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider)
    try:
        with capture_logs() as logs:
            async with client(app) as c:
                await c.get("/items/3", headers={"traceparent": TRACEPARENT})
    finally:
        FastAPIInstrumentor.uninstrument_app(app)
    server = _server_span(exporter)
    assert server.context.trace_id == TRACE_ID  # the server span continues the caller's trace
    assert server.parent is not None and server.parent.span_id == PARENT_ID
    relevant = logs.find("handling") + by_logger(logs, "fapilog.access")
    assert len(relevant) == 2
    for event in relevant:
        assert event.trace_id == server.context.trace_id
        assert event.span_id == server.context.span_id


@pytest.mark.parametrize("otel_first", [True, False])
async def test_middleware_runs_inside_an_added_otel_middleware(
    spans: tuple[TracerProvider, InMemorySpanExporter], otel_first: bool
) -> None:
    """instrument_app places the middleware inside OpenTelemetryMiddleware whatever the call order."""
    provider, exporter = spans
    app = make_app()
    if otel_first:
        app.add_middleware(OpenTelemetryMiddleware, tracer_provider=provider)
        instrument_app(app, route_server_loggers=False)
    else:
        instrument_app(app, route_server_loggers=False)
        app.add_middleware(OpenTelemetryMiddleware, tracer_provider=provider)
    classes = [m.cls for m in app.user_middleware]
    assert classes.index(OpenTelemetryMiddleware) < classes.index(FapilogMiddleware)
    with capture_logs() as logs:
        async with client(app) as c:
            await c.get("/items/4")
    server = _server_span(exporter)
    for event in logs.find("handling") + by_logger(logs, "fapilog.access"):
        assert event.span_id == server.context.span_id


class _BrokenPropagator(TextMapPropagator):
    """A propagator that fails on every extraction."""

    def extract(self, carrier: Any, context: Any = None, getter: Any = None) -> Any:
        raise RuntimeError("broken propagator")

    def inject(self, carrier: Any, context: Any = None, setter: Any = None) -> None:
        return None

    @property
    def fields(self) -> set[str]:
        return {"traceparent"}


async def test_a_failing_propagator_never_fails_the_request() -> None:
    """If context set-up fails, requests are still served and the failure is logged once."""
    app = make_app()
    instrument_app(app, route_server_loggers=False)
    previous = propagate.get_global_textmap()
    propagate.set_global_textmap(_BrokenPropagator())
    try:
        with capture_logs() as logs:
            async with client(app) as c:
                for _ in range(2):
                    response = await c.get("/items/1", headers={"traceparent": TRACEPARENT})
                    assert response.status_code == 200
    finally:
        propagate.set_global_textmap(previous)
    warnings = logs.find("request context unavailable")
    assert len(warnings) == 1
    assert warnings[0].attributes["exception.message"] == "broken propagator"
    assert by_logger(logs, "fapilog.access") == []  # served untouched
    assert len(logs.find("handling")) == 2
