"""Request context under load: overlapping requests never see each other's fields."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI

import fapilog
from asgi_support import _asgi_clean_state, by_logger, client
from fapilog.testing import capture_logs
from fapilog_instrumentation_asgi import instrument_app

__all__ = ["_asgi_clean_state"]

N = 200
log = fapilog.get_logger("app")


async def test_200_overlapping_requests_keep_their_own_context() -> None:
    """With 200 requests in flight at once, every log carries its own request's id and path."""
    app = FastAPI()
    arrived = 0
    all_in = asyncio.Event()
    in_flight_max = 0

    @app.get("/r/{i}")
    async def handler(i: int) -> dict[str, int]:
        nonlocal arrived, in_flight_max
        log.info("arrived", i=i)
        arrived += 1
        in_flight_max = max(in_flight_max, arrived)
        if arrived == N:
            all_in.set()
        await asyncio.wait_for(all_in.wait(), timeout=60)  # every request is inside now
        log.info("released", i=i)
        await asyncio.to_thread(lambda: log.info("in a thread", i=i))
        return {"i": i}

    instrument_app(app, route_server_loggers=False)
    with capture_logs() as logs:
        async with client(app) as c:

            async def call(i: int) -> Any:
                return await c.get(f"/r/{i}", headers={"x-request-id": f"req-{i}"})

            responses = await asyncio.gather(*(call(i) for i in range(N)))
    assert in_flight_max == N
    assert [r.status_code for r in responses] == [200] * N
    assert [r.headers["x-request-id"] for r in responses] == [f"req-{i}" for i in range(N)]
    inner = by_logger(logs, "app")
    assert len(inner) == 3 * N
    for event in inner:
        i = event.attributes["i"]
        assert event.attributes["http.request.id"] == f"req-{i}"
        assert event.attributes["url.path"] == f"/r/{i}"
    access = by_logger(logs, "fapilog.access")
    assert len(access) == N
    assert sorted(e.attributes["http.request.id"] for e in access) == sorted(
        f"req-{i}" for i in range(N)
    )
    for event in access:
        assert event.attributes["url.path"] == "/r/" + event.attributes["http.request.id"][4:]
