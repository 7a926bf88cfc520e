"""instrument_app / uninstrument_app and the opentelemetry_instrumentor entry point."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import fastapi
import pytest
import starlette.applications
from fastapi import FastAPI
from opentelemetry.instrumentation.dependencies import get_dependency_conflicts
from starlette.applications import Starlette

import fapilog
from asgi_support import _asgi_clean_state, by_logger, client
from fapilog import FapilogHandler
from fapilog.testing import capture_logs
from fapilog_instrumentation_asgi import (
    FapilogASGIInstrumentor,
    FapilogMiddleware,
    instrument_app,
    is_instrumented,
    restore_server_loggers,
    uninstrument_app,
)

__all__ = ["_asgi_clean_state"]


def _count(app: Starlette) -> int:
    return sum(1 for m in app.user_middleware if m.cls is FapilogMiddleware)


def test_instrument_app_is_idempotent() -> None:
    """A second instrument_app call adds nothing."""
    app = FastAPI()
    instrument_app(app, route_server_loggers=False)
    instrument_app(app, route_server_loggers=False)
    assert _count(app) == 1 and is_instrumented(app)


async def test_instrument_app_defaults_work() -> None:
    """instrument_app(app) with no options gives access records and request ids."""
    app = FastAPI()

    @app.get("/")
    async def root() -> dict[str, str]:
        return {}

    instrument_app(app)
    with capture_logs() as logs:
        async with client(app) as c:
            response = await c.get("/")
    assert "x-request-id" in response.headers
    assert len(by_logger(logs, "fapilog.access")) == 1


def test_uninstrument_app_removes_the_middleware() -> None:
    """uninstrument_app undoes instrument_app, also after the app started."""
    app = FastAPI()
    instrument_app(app, route_server_loggers=False)
    uninstrument_app(app)
    assert _count(app) == 0 and not is_instrumented(app)
    instrument_app(app, route_server_loggers=False)
    app.middleware_stack = app.build_middleware_stack()  # as on the first request
    uninstrument_app(app)
    assert _count(app) == 0


def test_instrument_app_rejects_what_it_cannot_instrument() -> None:
    """Non-Starlette apps and started apps get a clear error."""

    async def raw(scope: object, receive: object, send: object) -> None:
        return None

    with pytest.raises(TypeError, match="FapilogMiddleware"):
        instrument_app(raw)
    app = FastAPI()
    app.middleware_stack = app.build_middleware_stack()
    with pytest.raises(RuntimeError, match="before the application starts"):
        instrument_app(app)


def test_the_instrumentor_is_registered_as_an_entry_point() -> None:
    """opentelemetry-instrument finds FapilogASGIInstrumentor under the name fapilog_asgi."""
    (ep,) = [
        e for e in entry_points(group="opentelemetry_instrumentor") if e.name == "fapilog_asgi"
    ]
    assert ep.load() is FapilogASGIInstrumentor


def test_dependencies_need_only_starlette() -> None:
    """The declared dependency is Starlette alone, so a FastAPI-free install still loads."""
    deps = FapilogASGIInstrumentor().instrumentation_dependencies()
    assert list(deps) == ["starlette"]
    assert get_dependency_conflicts(deps) is None


def test_instrumentor_instruments_new_apps_and_uninstruments() -> None:
    """While instrumented, new FastAPI and Starlette apps get the middleware (classes keep
    their identity, imported-earlier names included); uninstrument undoes it."""
    fastapi_init, starlette_init = FastAPI.__init__, Starlette.__init__
    instrumentor = FapilogASGIInstrumentor()
    instrumentor.instrument(route_server_loggers=False, exclude_paths=["/health"])
    try:
        app = FastAPI(title="t")  # the name was imported before instrument()
        plain = starlette.applications.Starlette()
        assert fastapi.FastAPI is FastAPI and isinstance(plain, Starlette)
        assert app.title == "t"
        assert is_instrumented(app) and is_instrumented(plain)
        (entry,) = [m for m in app.user_middleware if m.cls is FapilogMiddleware]
        assert entry.kwargs["options"].exclude_paths == ("/health",)
        assert FapilogASGIInstrumentor() is instrumentor  # OTel instrumentors are singletons
    finally:
        instrumentor.uninstrument()
    assert FastAPI.__init__ is fastapi_init and Starlette.__init__ is starlette_init
    assert not is_instrumented(app)
    assert not is_instrumented(FastAPI())


async def test_a_mounted_instrumented_sub_app_logs_each_request_once() -> None:
    """With the middleware on an app and on a sub-app mounted in it, a request is logged once."""
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    sub = Starlette(routes=[Route("/hello", lambda r: PlainTextResponse("hi"))])
    instrument_app(sub, route_server_loggers=False)
    app = FastAPI()
    app.mount("/sub", sub)
    instrument_app(app, route_server_loggers=False)
    with capture_logs() as logs:
        async with client(app) as c:
            response = await c.get("/sub/hello")
    (access,) = by_logger(logs, "fapilog.access")
    assert access.attributes["http.request.id"] == response.headers["x-request-id"]
    assert access.attributes["http.route"] == "/sub/hello"
    assert response.headers.get_list("x-request-id") == [access.attributes["http.request.id"]]


def test_instrumentor_works_with_starlette_alone() -> None:
    """With FastAPI not importable, Starlette apps are still instrumented."""
    script = textwrap.dedent(
        """
        import sys

        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "fastapi":
                    raise ImportError("blocked " + name)
                return None

        sys.meta_path.insert(0, Block())
        from fapilog_instrumentation_asgi import FapilogASGIInstrumentor, is_instrumented
        FapilogASGIInstrumentor().instrument(route_server_loggers=False)
        from starlette.applications import Starlette
        print(is_instrumented(Starlette()))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"


APP = """
import asyncio
import httpx
from fastapi import FastAPI
from opentelemetry import trace
import fapilog
from fapilog.testing import capture_logs
from fapilog_instrumentation_asgi import is_instrumented

app = FastAPI()
seen = {}

@app.get("/x")
async def x():
    seen["span"] = trace.get_current_span().get_span_context().span_id
    fapilog.get_logger("app").info("inside")
    return {}

async def main():
    with capture_logs() as logs:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            await c.get("/x")
    inside = logs.find("inside")[0]
    same_span = seen["span"] != 0 and inside.span_id == seen["span"]
    print("RESULT", is_instrumented(app), same_span)

asyncio.run(main())
"""


@pytest.mark.parametrize(
    ("disabled", "expected"),
    [("", "RESULT True True"), ("fapilog_asgi", "RESULT False True")],
)
def test_opentelemetry_instrument_adds_the_middleware_inside_the_otel_span(
    tmp_path: Path, disabled: str, expected: str
) -> None:
    """Under opentelemetry-instrument apps are instrumented (logs on the server span) unless
    OTEL_PYTHON_DISABLED_INSTRUMENTATIONS names fapilog_asgi."""
    script = tmp_path / "auto_app.py"
    script.write_text(APP)
    env = {
        **os.environ,
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": disabled,
    }
    cli = Path(sys.executable).with_name("opentelemetry-instrument")
    done = subprocess.run(
        [str(cli), sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results = [line for line in done.stdout.splitlines() if line.startswith("RESULT")]
    assert results == [expected]


# -- stdlib records and process hooks ---------------------------------------------------


def _root_captures() -> list[logging.Handler]:
    return [h for h in logging.getLogger().handlers if isinstance(h, FapilogHandler)]


async def test_stdlib_records_of_a_route_reach_fapilog_once_with_the_request_context() -> None:
    """instrument_app captures the root logger; instrumenting twice and capture_stdlib()
    afterwards add no second handler, so each record arrives once."""
    app = FastAPI()

    @app.get("/")
    async def root() -> dict[str, str]:
        logging.getLogger("shop.db").warning("slow query")
        return {}

    instrument_app(app)
    instrument_app(app)
    handle = fapilog.capture_stdlib()
    try:
        assert len(_root_captures()) == 1
        with capture_logs() as logs:
            async with client(app) as c:
                await c.get("/", headers={"x-request-id": "r-1"})
        (record,) = by_logger(logs, "shop.db")
        assert record.body == "slow query"
        assert record.attributes["http.request.id"] == "r-1"
    finally:
        handle.uninstall()


def test_capture_stdlib_before_instrument_app_is_not_doubled() -> None:
    """A root capture already in place (fapilog.capture_stdlib()) is reused."""
    handle = fapilog.capture_stdlib()
    try:
        instrument_app(FastAPI())
        assert _root_captures() == [handle.handler]
    finally:
        handle.uninstall()


def test_capture_stdlib_false_leaves_the_root_logger_alone() -> None:
    """The opt-out: no handler on the root logger, its level unchanged."""
    root = logging.getLogger()
    level = root.level
    instrument_app(FastAPI(), capture_stdlib=False)
    assert _root_captures() == [] and root.level == level


def test_unconfigured_root_is_lowered_to_info_and_restored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With logging not configured (no root handler) the root goes to INFO, uvicorn's
    level; restore_server_loggers undoes it. A configured root keeps its level."""
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", logging.WARNING)
    instrument_app(FastAPI())
    assert root.level == logging.INFO and len(_root_captures()) == 1
    restore_server_loggers()
    assert root.level == logging.WARNING and root.handlers == []
    own = logging.NullHandler()
    root.handlers = [own]
    instrument_app(FastAPI())
    assert root.level == logging.WARNING and len(_root_captures()) == 1


def test_instrument_app_chains_the_sigterm_hook_without_starting_a_pipeline() -> None:
    """Under ``uvicorn app:app`` the server's SIGTERM handler is in place when the app is
    imported: instrument_app wraps it at once, before anything is logged."""
    script = textwrap.dedent(
        """
        import signal
        def server_handler(signum, frame):
            pass
        signal.signal(signal.SIGTERM, server_handler)
        from fastapi import FastAPI
        from fapilog import _api
        from fapilog_instrumentation_asgi import instrument_app
        instrument_app(FastAPI(), route_server_loggers=False, capture_stdlib=False)
        hook = signal.getsignal(signal.SIGTERM)
        print(type(hook).__name__, hook.previous is server_handler)
        print(type(_api._DEFAULT.pipeline).__name__)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["SigtermHook", "True", "_LazyDefault"]
