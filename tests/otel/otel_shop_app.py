"""A tiny FastAPI app for the ``opentelemetry-instrument`` end-to-end tests.

It logs three ways on every order: fapilog's logger, a stdlib "library" logger and
the OpenTelemetry Logs API, each exactly once, with the order number in the body.
Run as ``opentelemetry-instrument uvicorn otel_shop_app:app --fd 3``.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI
from opentelemetry._logs import SeverityNumber, get_logger

import fapilog

log = fapilog.get_logger("shop.app")
library = logging.getLogger("shop.library")
otel_api = get_logger("shop.otel_api", "1.0")

app = FastAPI()


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/handlers")
async def handlers() -> list[str]:
    """The root logger's handlers, so a test can see which stdlib bridges are active."""
    return [f"{type(h).__module__}.{type(h).__qualname__}" for h in logging.getLogger().handlers]


@app.get("/order/{n}")
async def order(n: int) -> dict[str, int]:
    log.info("order placed", order_id=n, card="4111 1111 1111 1111")
    library.info("library saw order %s", n)
    otel_api.emit(
        body=f"otel api saw order {n}",
        severity_number=SeverityNumber.INFO,
        attributes={"order_id": n},
    )
    return {"n": n}
