"""FapilogMiddleware in-process: request context, access records, errors, streaming, WebSockets."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import textwrap
from typing import Any

import pytest
from fastapi import FastAPI, HTTPException, Response
from fastapi.responses import StreamingResponse
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket

import fapilog
from asgi_support import _asgi_clean_state, by_logger, client, drive, http_scope
from fapilog.testing import capture_logs
from fapilog_instrumentation_asgi import (
    DEFAULT_SENSITIVE_HEADERS,
    REDACTED,
    FapilogMiddleware,
    MiddlewareOptions,
    instrument_app,
)
from fapilog_instrumentation_asgi._headers import HeaderCapture

__all__ = ["_asgi_clean_state"]

log = fapilog.get_logger("app")
CONTEXT_KEYS = {
    "http.request.method",
    "url.path",
    "url.scheme",
    "client.address",
    "user_agent.original",
    "http.request.id",
}


def make_app(**options: Any) -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        log.info("looking up", item_id=item_id)
        await asyncio.sleep(0)
        log.info("found")
        return {"item_id": item_id}

    @app.get("/missing")
    async def missing() -> None:
        raise HTTPException(status_code=404)

    @app.get("/unavailable")
    async def unavailable() -> Response:
        return Response(status_code=503)

    @app.get("/boom")
    async def boom() -> None:
        log.info("about to fail")
        raise ValueError("kaput")

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def chunks() -> Any:
            for i in range(3):
                yield f"chunk{i}\n".encode()
                await asyncio.sleep(0)
            log.info("last chunk produced")

        return StreamingResponse(chunks())

    @app.get("/health")
    async def health() -> dict[str, str]:
        log.info("health checked")
        return {"ok": "yes"}

    @app.get("/static/{name}")
    async def static(name: str) -> dict[str, str]:
        return {"name": name}

    @app.get("/set-id")
    async def set_id() -> Response:
        return Response("x", headers={"x-request-id": "from-app", "x-cache": "HIT"})

    options.setdefault("route_server_loggers", False)
    instrument_app(app, **options)
    return app


async def test_every_log_in_a_request_carries_the_request_context() -> None:
    """Logs inside the handler carry method, path, scheme, client, user agent and request id."""
    app = make_app()
    with capture_logs() as logs:
        async with client(app) as c:
            response = await c.get("/items/7", headers={"user-agent": "probe/1"})
    assert response.status_code == 200
    mine = by_logger(logs, "app")
    assert [e.body for e in mine] == ["looking up", "found"]
    for event in mine:
        assert event.attributes.keys() >= CONTEXT_KEYS
        assert event.attributes["http.request.method"] == "GET"
        assert event.attributes["url.path"] == "/items/7"
        assert event.attributes["user_agent.original"] == "probe/1"
        assert event.attributes["client.address"] == "127.0.0.1"
    assert mine[0].attributes["http.request.id"] == response.headers["x-request-id"]


async def test_context_does_not_leak_after_the_request() -> None:
    """Once the request is over, logs no longer carry its fields."""
    app = make_app()
    with capture_logs() as logs:
        async with client(app) as c:
            await c.get("/items/1")
        log.info("after")
    assert "url.path" not in logs.find("after")[0].attributes


async def test_access_record_fields() -> None:
    """One access record per request with status, duration, size, route, method and path."""
    app = make_app()
    with capture_logs() as logs:
        async with client(app) as c:
            await c.get("/items/7")
    (access,) = by_logger(logs, "fapilog.access")
    a = access.attributes
    assert access.body == "GET /items/7 200"
    assert access.severity_text == "INFO"
    assert a["http.response.status_code"] == 200
    assert a["http.route"] == "/items/{item_id}"
    assert a["http.request.method"] == "GET"
    assert a["url.path"] == "/items/7"
    assert isinstance(a["http.server.request.duration"], float)
    assert 0 < a["http.server.request.duration"] < 60
    assert a["http.response.body.size"] == len(b'{"item_id":7}')
    assert "error.type" not in a


@pytest.mark.parametrize(
    ("path", "status", "level"),
    [("/items/1", 200, "INFO"), ("/missing", 404, "WARN"), ("/unavailable", 503, "ERROR")],
)
async def test_access_level_follows_the_status(path: str, status: int, level: str) -> None:
    """5xx is logged as ERROR, 4xx as WARN, anything else as INFO."""
    app = make_app()
    with capture_logs() as logs:
        async with client(app) as c:
            assert (await c.get(path)).status_code == status
    (access,) = by_logger(logs, "fapilog.access")
    assert access.severity_text == level
    assert access.attributes["http.response.status_code"] == status


async def test_unhandled_exception_is_logged_once_with_stack_and_access_shows_500() -> None:
    """An exception escaping the app is one ERROR record with the stack; the access record says 500."""
    app = make_app()
    with capture_logs() as logs:
        async with client(app) as c:
            assert (await c.get("/boom")).status_code == 500
    # FastAPI's own telemetry (scope "fastapi") also emits a record for the exception
    # whenever a global OpenTelemetry LoggerProvider is set, as an earlier test in the
    # same process may have done; that record is FastAPI's, not the middleware's.
    errors = [e for e in logs if "exception.type" in e.attributes and e.scope_name != "fastapi"]
    assert len(errors) == 1
    (error,) = errors
    assert error.scope_name == "fapilog.asgi"
    assert error.attributes["exception.type"] == "ValueError"
    assert "kaput" in error.attributes["exception.message"]
    assert 'raise ValueError("kaput")' in error.attributes["exception.stacktrace"]
    assert error.attributes["url.path"] == "/boom"  # logged inside the request context
    (access,) = by_logger(logs, "fapilog.access")
    assert access.attributes["http.response.status_code"] == 500
    assert access.attributes["error.type"] == "ValueError"
    assert access.severity_text == "ERROR"


async def test_exception_after_the_response_started_keeps_the_sent_status() -> None:
    """An exception mid-response: the access record keeps the status sent, at ERROR."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        raise RuntimeError("mid-stream")

    with capture_logs() as logs:
        _, error = await drive(FapilogMiddleware(app, route_server_loggers=False), http_scope(), [])
    assert isinstance(error, RuntimeError)
    (access,) = by_logger(logs, "fapilog.access")
    assert access.attributes["http.response.status_code"] == 200
    assert access.attributes["error.type"] == "RuntimeError"
    assert access.attributes["http.response.body.size"] == 4
    assert access.severity_text == "ERROR"
    assert len(by_logger(logs, "fapilog.asgi")) == 1


async def test_streaming_response_is_timed_to_the_last_chunk() -> None:
    """The access record of a streaming response is written after its last chunk, with the full size."""
    app = make_app()
    with capture_logs() as logs:
        async with client(app) as c:
            response = await c.get("/stream")
    assert response.text == "chunk0\nchunk1\nchunk2\n"
    bodies = [e.body for e in logs]
    assert bodies.index("last chunk produced") < bodies.index("GET /stream 200")
    (access,) = by_logger(logs, "fapilog.access")
    assert access.attributes["http.response.body.size"] == len(response.content)
    assert logs.find("last chunk produced")[0].attributes["url.path"] == "/stream"


async def test_client_disconnect_before_a_response_is_logged_as_499() -> None:
    """A client that goes away before any response gets a 499 access record marked disconnected."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        assert message["type"] == "http.disconnect"

    with capture_logs() as logs:
        sent, error = await drive(
            FapilogMiddleware(app, route_server_loggers=False),
            http_scope("/slow"),
            [{"type": "http.disconnect"}],
        )
    assert error is None and sent == []
    (access,) = by_logger(logs, "fapilog.access")
    assert access.attributes["http.response.status_code"] == 499
    assert access.attributes["client.disconnected"] is True
    assert access.severity_text == "WARN"


async def test_app_that_sends_no_response_is_logged_as_500() -> None:
    """An app returning without a response (the server answers 500) is logged as 500."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        return None

    with capture_logs() as logs:
        await drive(FapilogMiddleware(app, route_server_loggers=False), http_scope(), [])
    (access,) = by_logger(logs, "fapilog.access")
    assert access.attributes["http.response.status_code"] == 500


async def _ws_echo(websocket: WebSocket) -> None:
    await websocket.accept()
    text = await websocket.receive_text()
    log.info("ws got", text=text)
    await websocket.send_text(text.upper())
    await websocket.close(code=1000)


async def _ws_reject(websocket: WebSocket) -> None:
    await websocket.close(code=1008)


def ws_scope(path: str) -> dict[str, Any]:
    scope = http_scope(path)
    scope.update(type="websocket", scheme="ws")
    del scope["method"]
    return scope


async def test_websocket_session_logs_accept_and_close_with_context() -> None:
    """A WebSocket gets an "accepted" and a "closed" record; logs inside carry the context."""
    app = Starlette(routes=[WebSocketRoute("/ws/{room}", _ws_echo)])
    instrument_app(app, route_server_loggers=False)
    with capture_logs() as logs:
        sent, error = await drive(
            app,
            ws_scope("/ws/lobby"),
            [{"type": "websocket.connect"}, {"type": "websocket.receive", "text": "hi"}],
        )
    assert error is None
    assert [m["type"] for m in sent] == ["websocket.accept", "websocket.send", "websocket.close"]
    access = by_logger(logs, "fapilog.access")
    assert [e.body for e in access] == [
        "WebSocket /ws/lobby accepted",
        "WebSocket /ws/lobby closed",
    ]
    closed = access[1].attributes
    assert closed["websocket.close.code"] == 1000
    assert closed["http.route"] == "/ws/{room}"
    assert closed["url.scheme"] == "ws"
    assert "http.request.method" not in closed
    (inner,) = logs.find("ws got")
    assert inner.attributes["url.path"] == "/ws/lobby"
    assert inner.attributes["http.request.id"] == closed["http.request.id"]


async def test_rejected_websocket_is_a_warning() -> None:
    """A WebSocket closed before being accepted is logged once, as a 403 warning."""
    app = Starlette(routes=[WebSocketRoute("/ws", _ws_reject)])
    instrument_app(app, route_server_loggers=False)
    with capture_logs() as logs:
        await drive(app, ws_scope("/ws"), [{"type": "websocket.connect"}])
    (record,) = by_logger(logs, "fapilog.access")
    assert record.body == "WebSocket /ws rejected"
    assert record.severity_text == "WARN"
    assert record.attributes["http.response.status_code"] == 403
    assert record.attributes["websocket.close.code"] == 1008


async def test_lifespan_passes_through_without_access_records() -> None:
    """Lifespan events reach the app untouched and produce no access record."""
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "lifespan"
        while True:
            message = await receive()
            seen.append(message["type"])
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return

    with capture_logs() as logs:
        sent, error = await drive(
            FapilogMiddleware(app, route_server_loggers=False),
            {"type": "lifespan", "asgi": {"version": "3.0"}},
            [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}],
        )
    assert error is None
    assert seen == ["lifespan.startup", "lifespan.shutdown"]
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert list(logs) == []


async def test_excluded_paths_exact_glob_and_regex() -> None:
    """Excluded requests get neither context nor an access record; others are unaffected."""
    app = make_app(exclude_paths=["/health", "/static/*", re.compile(r"^/items/9\d+$")])
    with capture_logs() as logs:
        async with client(app) as c:
            for path in ("/health", "/static/a.css", "/items/90", "/items/9"):
                assert (await c.get(path)).status_code == 200
    access = by_logger(logs, "fapilog.access")
    assert [e.attributes["url.path"] for e in access] == ["/items/9"]
    assert "url.path" not in logs.find("health checked")[0].attributes


async def test_otel_excluded_urls_environment_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    """OTEL_PYTHON_ASGI_EXCLUDED_URLS (regexes searched in the URL) excludes requests."""
    monkeypatch.setenv("OTEL_PYTHON_EXCLUDED_URLS", "items")  # overridden by the ASGI one
    monkeypatch.setenv("OTEL_PYTHON_ASGI_EXCLUDED_URLS", "health,testserver/static")
    app = make_app()
    with capture_logs() as logs:
        async with client(app) as c:
            for path in ("/health", "/static/x", "/items/1"):
                await c.get(path)
    assert [e.attributes["url.path"] for e in by_logger(logs, "fapilog.access")] == ["/items/1"]


def test_invalid_otel_excluded_urls_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A regex that does not compile names the variable."""
    monkeypatch.setenv("OTEL_PYTHON_ASGI_EXCLUDED_URLS", "(unclosed")
    with pytest.raises(ValueError, match="OTEL_PYTHON_ASGI_EXCLUDED_URLS"):
        FapilogMiddleware(make_app())


async def test_header_capture_redacts_sensitive_headers() -> None:
    """Allow-listed headers are captured as lists; sensitive ones are masked, others ignored."""
    app = make_app(
        capture_request_headers=["X-Tenant", "Authorization", "cookie"],
        capture_response_headers=["x-cache", "content-length"],
    )
    with capture_logs() as logs:
        async with client(app) as c:
            await c.get(
                "/set-id",
                headers=[
                    ("x-tenant", "t1"),
                    ("x-tenant", "t2"),
                    ("authorization", "Bearer s3cr3t"),
                    ("cookie", "session=abc"),
                    ("x-other", "not captured"),
                ],
            )
    (access,) = by_logger(logs, "fapilog.access")
    a = access.attributes
    assert a["http.request.header.x-tenant"] == ["t1", "t2"]
    # Masked by the middleware (a list), or as a whole by fapilog's key redaction too.
    assert a["http.request.header.authorization"] in ([REDACTED], REDACTED)
    assert a["http.request.header.cookie"] in ([REDACTED], REDACTED)
    assert a["http.response.header.x-cache"] == ["HIT"]
    assert a["http.response.header.content-length"] == ["1"]
    assert not any("x-other" in key for key in a)
    assert "s3cr3t" not in repr(list(logs)) and "session=abc" not in repr(list(logs))


def test_header_capture_masks_configured_sensitive_headers() -> None:
    """HeaderCapture masks every value of a sensitive header and keeps repeated values."""
    capture = HeaderCapture(["x-sig", "x-tenant"], {"x-sig"}, "p.")
    found = capture.capture([(b"X-Sig", b"abc"), (b"x-sig", b"def"), (b"x-tenant", b"t")])
    assert found == {"p.x-sig": [REDACTED, REDACTED], "p.x-tenant": ["t"]}


def test_sensitive_defaults_cover_the_usual_credentials() -> None:
    """The default masked headers include the credential-bearing ones."""
    assert {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"} <= (
        DEFAULT_SENSITIVE_HEADERS
    )


async def test_request_id_is_taken_from_the_header_and_echoed() -> None:
    """A usable incoming request id is bound and echoed in the response."""
    app = make_app()
    with capture_logs() as logs:
        async with client(app) as c:
            response = await c.get("/items/1", headers={"x-request-id": "req-42"})
    assert response.headers["x-request-id"] == "req-42"
    assert all(e.attributes["http.request.id"] == "req-42" for e in logs)


@pytest.mark.parametrize("bad", ["", "has space", "x" * 129, "line\nbreak"])
async def test_unusable_request_ids_are_replaced(bad: str) -> None:
    """Empty, overlong or non-printable request ids are replaced by a generated one."""
    app = make_app()
    raw = [(b"x-request-id", bad.encode())]
    with capture_logs() as logs:
        sent, _ = await drive(app, http_scope("/items/1", headers=raw), [{"type": "http.request"}])
    generated = by_logger(logs, "fapilog.access")[0].attributes["http.request.id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert (b"x-request-id", generated.encode()) in start["headers"]


async def test_request_id_headers_are_configurable() -> None:
    """The request and response headers are configurable; the app's own header wins."""
    app = make_app(request_id_header="X-Correlation-Id", response_request_id_header="x-trace-ref")
    with capture_logs() as logs:
        async with client(app) as c:
            r1 = await c.get("/items/1", headers={"x-correlation-id": "c-1", "x-request-id": "no"})
            r2 = await c.get("/set-id")
    assert r1.headers["x-trace-ref"] == "c-1"
    assert by_logger(logs, "fapilog.access")[0].attributes["http.request.id"] == "c-1"
    assert r2.headers["x-request-id"] == "from-app"


async def test_request_id_can_be_switched_off() -> None:
    """With no header and no generation there is no request id and nothing is echoed."""
    app = make_app(
        request_id_header=None, generate_request_id=False, response_request_id_header=None
    )
    with capture_logs() as logs:
        async with client(app) as c:
            response = await c.get("/items/1", headers={"x-request-id": "ignored"})
    assert "x-request-id" not in response.headers
    assert all("http.request.id" not in e.attributes for e in logs)


async def test_access_log_can_be_switched_off() -> None:
    """access_log=False keeps the context but writes no access record."""
    app = make_app(access_log=False)
    with capture_logs() as logs:
        async with client(app) as c:
            await c.get("/items/1")
    assert by_logger(logs, "fapilog.access") == []
    assert logs.find("found")[0].attributes["url.path"] == "/items/1"


async def test_route_inside_a_mount_includes_the_mount_prefix() -> None:
    """http.route of a route inside a Mount is the full template."""
    inner = Starlette(routes=[Route("/users/{uid:int}", lambda r: PlainTextResponse("u"))])
    app = Starlette(routes=[Mount("/api", app=inner)])
    instrument_app(app, route_server_loggers=False)
    with capture_logs() as logs:
        async with client(app) as c:
            await c.get("/api/users/5")
            await c.get("/nowhere")
    routes = [e.attributes.get("http.route") for e in by_logger(logs, "fapilog.access")]
    assert routes == ["/api/users/{uid}", None]


async def test_unknown_http_method_is_reported_as_other() -> None:
    """Methods outside the known set become _OTHER with the original kept."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    with capture_logs() as logs:
        await drive(FapilogMiddleware(app), http_scope(method="FROB"), [])
    (access,) = by_logger(logs, "fapilog.access")
    assert access.attributes["http.request.method"] == "_OTHER"
    assert access.attributes["http.request.method_original"] == "FROB"


def test_options_are_validated_with_clear_errors() -> None:
    """Unknown options and invalid header names fail at construction, naming the field."""
    with pytest.raises(ValidationError, match="exclude_path"):
        MiddlewareOptions(exclude_path=["/x"])  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="not a valid HTTP header name"):
        MiddlewareOptions(capture_request_headers=["bad header"])
    with pytest.raises(TypeError, match="either"):
        FapilogMiddleware(make_app(), options=MiddlewareOptions(), access_log=False)


def test_the_middleware_imports_and_runs_without_starlette(tmp_path: Any) -> None:
    """Pure ASGI: importing the package and serving a raw ASGI app needs no Starlette/FastAPI."""
    script = textwrap.dedent(
        """
        import asyncio, sys

        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("starlette", "fastapi"):
                    raise ImportError("blocked " + name)
                return None

        sys.meta_path.insert(0, Block())
        from fapilog.testing import capture_logs
        from fapilog_instrumentation_asgi import FapilogMiddleware, FapilogASGIInstrumentor

        async def app(scope, receive, send):
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})

        async def main():
            sent = []
            async def receive():
                return {"type": "http.request"}
            async def send(m):
                sent.append(m)
            scope = {"type": "http", "method": "GET", "path": "/p", "headers": []}
            with capture_logs() as logs:
                await FapilogMiddleware(app)(scope, receive, send)
            FapilogASGIInstrumentor().instrument(skip_dep_check=True)
            assert not any(m.startswith(("starlette", "fastapi")) for m in sys.modules)
            print(logs[-1].body, logs[-1].attributes["http.response.status_code"])

        asyncio.run(main())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "GET /p 200 200"
