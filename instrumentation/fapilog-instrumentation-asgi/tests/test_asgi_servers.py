"""uvicorn and gunicorn: server loggers routed into fapilog, one access record per request."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from asgi_support import _asgi_clean_state, free_port
from fapilog import FapilogHandler
from fapilog.testing import capture_logs
from fapilog_instrumentation_asgi import restore_server_loggers, route_server_loggers
from fapilog_instrumentation_asgi._servers import mark_logged

__all__ = ["_asgi_clean_state"]

NAMES = ("uvicorn", "uvicorn.error", "uvicorn.access", "gunicorn.error", "gunicorn.access")


@pytest.fixture
def server_loggers() -> Iterator[dict[str, logging.Logger]]:
    """The server loggers set up like uvicorn's default config, restored afterwards."""
    loggers = {name: logging.getLogger(name) for name in NAMES}
    before = {n: (lg.handlers, lg.propagate, lg.level, lg.disabled) for n, lg in loggers.items()}
    loggers["uvicorn"].handlers = [logging.StreamHandler(sys.stderr)]
    loggers["uvicorn"].propagate = False
    loggers["uvicorn"].setLevel(logging.INFO)
    loggers["uvicorn.error"].handlers = []
    loggers["uvicorn.error"].propagate = True
    loggers["uvicorn.access"].handlers = [logging.StreamHandler(sys.stdout)]
    loggers["uvicorn.access"].propagate = False
    yield loggers
    restore_server_loggers()
    for name, (handlers, propagate, level, disabled) in before.items():
        lg = loggers[name]
        lg.handlers, lg.propagate, lg.disabled = handlers, propagate, disabled
        lg.setLevel(level)


def _ours(logger: logging.Logger) -> list[logging.Handler]:
    return [h for h in logger.handlers if isinstance(h, FapilogHandler)]


def test_route_server_loggers_replaces_console_handlers_and_silences_access(
    server_loggers: dict[str, logging.Logger],
) -> None:
    """uvicorn logs go to fapilog (once), uvicorn's access log is off, restore undoes it all."""
    original_uvicorn_handlers = server_loggers["uvicorn"].handlers
    route_server_loggers()
    route_server_loggers()  # idempotent
    uvicorn = server_loggers["uvicorn"]
    assert len(_ours(uvicorn)) == 1
    assert not [h for h in uvicorn.handlers if type(h) is logging.StreamHandler]
    assert _ours(server_loggers["uvicorn.error"]) == []  # reaches fapilog through "uvicorn"
    access = server_loggers["uvicorn.access"]
    assert access.disabled and not access.hasHandlers()
    with capture_logs() as logs:
        server_loggers["uvicorn.error"].info("Started server process [%d]", 42)
    (record,) = logs
    assert record.scope_name == "uvicorn.error" and record.body == "Started server process [42]"
    restore_server_loggers()
    assert uvicorn.handlers is original_uvicorn_handlers
    assert not access.disabled and access.handlers


def test_access_logs_stay_when_asked(server_loggers: dict[str, logging.Logger]) -> None:
    """disable_access_logs=False leaves the servers' access loggers alone."""
    route_server_loggers(disable_access_logs=False)
    assert not server_loggers["uvicorn.access"].disabled
    assert server_loggers["uvicorn.access"].handlers


def test_gunicorn_worker_shared_handler_list(server_loggers: dict[str, logging.Logger]) -> None:
    """Under gunicorn's uvicorn worker (shared handler list, no propagation) each logger gets
    fapilog once; console handlers go, file handlers stay."""
    file_handler = logging.FileHandler(os.devnull)
    shared: list[logging.Handler] = [logging.StreamHandler(sys.stderr), file_handler]
    for name in ("gunicorn.error", "uvicorn.error"):
        server_loggers[name].handlers = shared
        server_loggers[name].propagate = False
    try:
        route_server_loggers()
        for name in ("gunicorn.error", "uvicorn.error"):
            handlers = server_loggers[name].handlers
            assert len(_ours(server_loggers[name])) == 1
            assert file_handler in handlers
            assert not any(type(h) is logging.StreamHandler for h in handlers)
        restore_server_loggers()
        assert server_loggers["gunicorn.error"].handlers is shared
        assert len(shared) == 2
    finally:
        file_handler.close()


def test_exceptions_the_middleware_logged_are_not_logged_again(
    server_loggers: dict[str, logging.Logger],
) -> None:
    """The server's own report of an exception the middleware logged is dropped; others pass."""
    route_server_loggers()
    seen, fresh = RuntimeError("seen"), RuntimeError("fresh")
    mark_logged(seen)
    with capture_logs() as logs:
        for exc in (seen, fresh):
            server_loggers["uvicorn.error"].error("Exception in ASGI application\n", exc_info=exc)
    assert [e.attributes["exception.message"] for e in logs] == ["fresh"]


# -- real servers ----------------------------------------------------------------------

APP = """
import os
import fapilog
from fastapi import FastAPI
from fapilog_instrumentation_asgi import instrument_app

app = FastAPI()
log = fapilog.get_logger("srvapp")


@app.get("/ok")
async def ok():
    log.info("handled", pid=os.getpid())
    return {"pid": os.getpid()}


@app.get("/boom")
async def boom():
    raise RuntimeError("kaboom")


instrument_app(app)
"""


def _start(cmd: list[str], tmp_path: Path, out: Path) -> subprocess.Popen[bytes]:
    (tmp_path / "srvapp.py").write_text(APP)
    env = {
        **os.environ,
        "FAPILOG_EXPORTERS": "file",
        "FAPILOG_FILE_PATH": str(out),
        "PYTHONPATH": str(tmp_path),
        "PYTHONWARNINGS": "ignore::DeprecationWarning",
    }
    with (
        open(tmp_path / "stdout.txt", "wb") as stdout,
        open(tmp_path / "stderr.txt", "wb") as stderr,
    ):
        return subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=stdout, stderr=stderr)


def _wait_listening(proc: subprocess.Popen[bytes], port: int, tmp_path: Path) -> None:
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited early: {(tmp_path / 'stderr.txt').read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    proc.kill()
    pytest.fail("server did not start listening")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail("server did not stop on SIGTERM")


def _records(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_real_uvicorn_logs_each_request_once_and_routes_its_own_logs(tmp_path: Path) -> None:
    """Under uvicorn: one access record per request and no uvicorn access lines; uvicorn's
    logs reach fapilog; an unhandled exception is logged once; logs survive SIGTERM."""
    port, out = free_port(), tmp_path / "logs.jsonl"
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "srvapp:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    proc = _start(cmd, tmp_path, out)
    try:
        _wait_listening(proc, port, tmp_path)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as c:
            for i in range(3):
                assert c.get("/ok", headers={"x-request-id": f"ok-{i}"}).status_code == 200
            assert c.get("/boom", headers={"x-request-id": "boom"}).status_code == 500
    finally:
        _stop(proc)
    records = _records(out)
    access = [r for r in records if r["logger"] == "fapilog.access"]
    assert sorted(r["attributes"]["http.request.id"] for r in access) == [
        "boom",
        "ok-0",
        "ok-1",
        "ok-2",
    ]
    assert not [r for r in records if r["logger"] == "uvicorn.access"]
    console = (tmp_path / "stdout.txt").read_text() + (tmp_path / "stderr.txt").read_text()
    assert "GET /ok" not in console  # uvicorn printed no access line
    server = [r["body"] for r in records if r["logger"] == "uvicorn.error"]
    assert any(b.startswith("Started server process") for b in server)
    assert "Application startup complete." in server
    errors = [r for r in records if r["attributes"].get("exception.type") == "RuntimeError"]
    assert len(errors) == 1
    assert errors[0]["logger"] == "fapilog.asgi"
    assert errors[0]["attributes"]["http.request.id"] == "boom"


@pytest.mark.parametrize("preload", [False, True], ids=["import-in-worker", "preload"])
def test_real_gunicorn_with_two_workers_logs_each_request_exactly_once(
    tmp_path: Path, preload: bool
) -> None:
    """gunicorn + uvicorn workers (forked, also after --preload): logs from both workers
    arrive, each exactly once."""
    port, out = free_port(), tmp_path / "logs.jsonl"
    cmd = [
        sys.executable, "-m", "gunicorn", "srvapp:app",
        "-k", "uvicorn.workers.UvicornWorker", "-w", "2",
        "-b", f"127.0.0.1:{port}", "--graceful-timeout", "10",
    ] + (["--preload"] if preload else [])  # fmt: skip
    proc = _start(cmd, tmp_path, out)
    pid_of: dict[str, int] = {}
    try:
        _wait_listening(proc, port, tmp_path)
        # A new connection each time, until both workers answered (the second may still
        # be booting at first): bounded by a deadline, not a fixed count.
        deadline = time.monotonic() + 45
        i = 0
        while time.monotonic() < deadline:
            response = httpx.get(
                f"http://127.0.0.1:{port}/ok",
                headers={"x-request-id": f"r{i}", "connection": "close"},
                timeout=60,
            )
            assert response.status_code == 200
            pid_of[f"r{i}"] = response.json()["pid"]
            i += 1
            if len(set(pid_of.values())) == 2 and i >= 6:
                break
    finally:
        _stop(proc)
    assert len(set(pid_of.values())) == 2, "only one worker ever answered"
    records = _records(out)
    handled = [r for r in records if r["body"] == "handled"]
    access = [r for r in records if r["logger"] == "fapilog.access"]
    assert sorted(r["attributes"]["http.request.id"] for r in handled) == sorted(pid_of)
    assert sorted(r["attributes"]["http.request.id"] for r in access) == sorted(pid_of)
    for record in handled:
        assert record["attributes"]["pid"] == pid_of[record["attributes"]["http.request.id"]]
    assert not [r for r in records if r["logger"] in ("uvicorn.access", "gunicorn.access")]
    booted = {r["body"] for r in records if r["logger"] in ("uvicorn.error", "gunicorn.error")}
    assert sum(b.startswith("Started server process") for b in booted) == 2
