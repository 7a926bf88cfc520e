"""What both services share: OpenTelemetry tracing, fapilog logging, instrumentation.

Everything is configured from the environment the runner (``run.py``) sets:

* fapilog: ``FAPILOG_EXPORTERS=otlp``, ``OTEL_EXPORTER_OTLP_ENDPOINT`` (the collector),
  ``FAPILOG_BAGGAGE_KEYS=tenant.id`` (the allow-listed baggage key logged as an
  attribute);
* spans: ``CROSS_SERVICE_SPANS_FILE``, a JSON-lines file the service appends each
  finished span to (the runner reads it to check that log records point at the
  right spans; see ``docs/examples.md`` for why spans go to a file).
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

import fapilog
from fapilog_instrumentation_asgi import instrument_app

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from fastapi import FastAPI

SPANS_FILE_ENV = "CROSS_SERVICE_SPANS_FILE"


def _one_line(span: ReadableSpan) -> str:
    return str(span.to_json(indent=None)) + "\n"


def setup_telemetry(service_name: str) -> TracerProvider:
    """Install this process's tracer provider and fapilog's default pipeline.

    Args:
        service_name: the ``service.name`` of spans and log records.

    Returns:
        The tracer provider (shut down by :func:`lifespan`).
    """
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    spans_file = os.environ.get(SPANS_FILE_ENV)
    if spans_file:
        out = open(spans_file, "a", encoding="utf-8")  # noqa: SIM115  # closed at shutdown
        provider.add_span_processor(
            SimpleSpanProcessor(ConsoleSpanExporter(out=out, formatter=_one_line))
        )
    trace.set_tracer_provider(provider)
    # Exporter, collector endpoint and baggage allow-list come from the environment.
    fapilog.configure(service_name=service_name)
    return provider


def instrument(app: FastAPI, provider: TracerProvider) -> None:
    """Server spans for every request, and fapilog's ASGI middleware inside them.

    The middleware binds the request's attributes (``http.request.id`` from the
    ``x-request-id`` header, ``url.path``, ...) to every record logged while the
    request runs and logs one access record per request on ``fapilog.access``.

    Args:
        app: the FastAPI application.
        provider: the tracer provider from :func:`setup_telemetry`.
    """
    # exclude_spans: no per-message "http send"/"http receive" child spans, so a
    # handler's log records sit directly on the server span.
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=provider, exclude_spans=["receive", "send"]
    )
    instrument_app(app)


def lifespan(
    provider: TracerProvider,
) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[Any]]:
    """A FastAPI lifespan that flushes logs and spans when uvicorn shuts down (SIGTERM)."""

    @contextlib.asynccontextmanager
    async def run(app: FastAPI) -> AsyncIterator[None]:
        yield
        await fapilog.ashutdown(timeout=5)
        provider.shutdown()

    return run
