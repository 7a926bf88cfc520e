"""The ``gateway`` service: the public endpoint; calls ``orders`` over HTTP.

The caller's tenant (``X-Tenant-Id``, default ``acme``) is put into W3C baggage
as ``tenant.id``; the instrumented httpx client sends it, with ``traceparent``, to
the orders service.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI, Header, HTTPException
from opentelemetry import baggage, context
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from telemetry import instrument, lifespan, setup_telemetry

import fapilog

provider = setup_telemetry("gateway")
log = fapilog.get_logger("gateway.api")
ORDERS_URL = os.environ.get("ORDERS_URL", "http://127.0.0.1:8001")
# trust_env=False: talk to the orders service directly, whatever proxy is configured.
client = httpx.AsyncClient(base_url=ORDERS_URL, timeout=10.0, trust_env=False)
HTTPXClientInstrumentor.instrument_client(client, tracer_provider=provider)


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with client, lifespan(provider)(app):
        yield


app = FastAPI(title="gateway", lifespan=_lifespan)
instrument(app, provider)


@app.post("/checkout/{sku}", status_code=201)
async def checkout(
    sku: str,
    quantity: int = 1,
    x_tenant_id: str = Header("acme"),
    x_request_id: str | None = Header(None),
) -> dict[str, object]:
    """Place an order for ``quantity`` of ``sku`` through the orders service."""
    token = context.attach(baggage.set_baggage("tenant.id", x_tenant_id))
    try:
        log.info("checkout requested", sku=sku, quantity=quantity)
        # Forward the request id so both services' access records and logs share it
        # (fapilog's ASGI middleware binds it as http.request.id on each side).
        headers = {"x-request-id": x_request_id} if x_request_id else {}
        response = await client.post(
            "/orders", json={"sku": sku, "quantity": quantity}, headers=headers
        )
        if response.status_code != 201:
            log.warning("order rejected", status=response.status_code, sku=sku)
            raise HTTPException(status_code=response.status_code, detail=response.json())
        order: dict[str, object] = response.json()
        log.info("checkout complete", order_id=order["order_id"])
        return order
    finally:
        context.detach(token)
