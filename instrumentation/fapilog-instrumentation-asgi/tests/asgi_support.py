"""Helpers shared by the fapilog-instrumentation-asgi tests (imported, not a conftest)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

import fapilog
from fapilog_instrumentation_asgi import restore_server_loggers


@pytest.fixture(autouse=True)
def _asgi_clean_state() -> Iterator[None]:
    """Each test ends with no default pipeline and the server loggers as they were."""
    yield
    restore_server_loggers()
    fapilog.shutdown(timeout=5)


@asynccontextmanager
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client calling ``app`` in-process (app exceptions become 500s)."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


def by_logger(logs: list[Any], name: str) -> list[Any]:
    """Captured events of one logger."""
    return [e for e in logs if e.scope_name == name]


async def drive(
    app: Any, scope: dict[str, Any], incoming: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], BaseException | None]:
    """Run one raw ASGI call: feed ``incoming`` to receive, return what was sent."""
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for message in incoming:
        queue.put_nowait(message)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return await queue.get()

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    try:
        await app(scope, receive, send)
    except Exception as exc:
        return sent, exc
    return sent, None


def http_scope(
    path: str = "/", method: str = "GET", headers: list[tuple[bytes, bytes]] | None = None
) -> dict[str, Any]:
    """A minimal ASGI HTTP scope."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers or [(b"host", b"testserver")],
        "client": ("10.0.0.7", 40000),
        "server": ("testserver", 80),
    }


def free_port() -> int:
    """An ephemeral TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
