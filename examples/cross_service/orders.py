"""The ``orders`` service: creates orders; its logs carry the caller's ``tenant.id``.

It never reads ``tenant.id`` itself: the gateway put it in W3C baggage, the FastAPI
instrumentation extracted it with the trace context, and fapilog copies the
allow-listed key (``FAPILOG_BAGGAGE_KEYS=tenant.id``) into every record's attributes.
"""

from __future__ import annotations

import itertools

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field
from telemetry import instrument, lifespan, setup_telemetry

import fapilog

provider = setup_telemetry("orders")
log = fapilog.get_logger("orders.api")
app = FastAPI(title="orders", lifespan=lifespan(provider))
instrument(app, provider)

_ids = itertools.count(1001)
STOCK = {"sku-1": 5, "sku-2": 2}


class OrderIn(BaseModel):
    """An order request from the gateway."""

    sku: str
    quantity: int = Field(gt=0)


@app.post("/orders", status_code=201)
async def create_order(order: OrderIn) -> dict[str, object]:
    """Reserve stock and create an order (409 when there is not enough stock)."""
    log.info("order received", sku=order.sku, quantity=order.quantity)
    available = STOCK.get(order.sku, 0)
    if order.quantity > available:
        log.warning("insufficient stock", sku=order.sku, available=available)
        raise HTTPException(status_code=409, detail="insufficient stock")
    STOCK[order.sku] = available - order.quantity
    order_id = next(_ids)
    log.info("order stored", order_id=order_id, remaining=STOCK[order.sku])
    return {"order_id": order_id, "sku": order.sku, "quantity": order.quantity}
