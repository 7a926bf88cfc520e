"""docs/fastapi.md's app with ``instrument_app``, installed and served as the page says.

Plain ``uvicorn shop:app`` (no ``opentelemetry-instrument``), shipping to a real
collector over OTLP as the page's command does; SIGTERM follows the last response at
once. The stdlib record of each request and uvicorn's own final lines must arrive.
"""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

import pytest
from user_install_support import (
    ROOT,
    UserVenv,
    block_with,
    split_command,
    terminate,
    uvicorn_serving,
)

if TYPE_CHECKING:
    from fapilog.testing import CollectedLog, RotelCollector

DOC = ROOT / "docs" / "fastapi.md"
ORDERS = (7, 8)


def commands() -> tuple[str, str]:
    install, run = block_with(DOC, "bash", "OTEL_LOGS_EXPORTER=otlp").strip().splitlines()
    return install.strip(), run.strip()


@pytest.fixture(scope="module")
def served(
    installed: dict[str, tuple[UserVenv, subprocess.CompletedProcess[str]]],
    collector: RotelCollector,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[list[CollectedLog], str, int]:
    venv, done = installed[commands()[0]]
    assert done.returncode == 0, done.stderr[-3000:]
    workdir = tmp_path_factory.mktemp("shop")
    app = block_with(DOC, "python", "instrument_app(app)\n")
    (workdir / "shop.py").write_text(app, encoding="utf-8")
    env, argv = split_command(commands()[1])
    assert set(env) == {"OTEL_SERVICE_NAME", "OTEL_LOGS_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT"}
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = collector.grpc_endpoint
    collector.reset()
    with uvicorn_serving(venv, argv, workdir, **env) as (process, client):
        for n in ORDERS:
            response = client.get(f"/orders/{n}", headers={"x-request-id": f"req-{n}"})
            assert response.json() == {"order_id": n}
        _, stderr = terminate(process)
    for _ in range(150):
        if any(str(r.body).startswith("Finished server process") for r in collector.records()):
            break
        collector.wait_for(collector.count() + 1, timeout=0.1)
    return collector.records(), stderr, process.returncode


def bodies(records: list[CollectedLog]) -> list[str]:
    return [str(r.body) for r in records]


def test_the_server_ends_by_the_signal_as_without_fapilog(
    served: tuple[list[CollectedLog], str, int],
) -> None:
    _, stderr, returncode = served
    assert returncode == -15, stderr[-3000:]


def test_app_stdlib_and_access_records_arrive_once_per_request(
    served: tuple[list[CollectedLog], str, int],
) -> None:
    records, _, _ = served
    for n in ORDERS:
        mine = [r for r in records if r.attributes.get("http.request.id") == f"req-{n}"]
        assert sorted(bodies(mine)) == sorted(
            [f"GET /orders/{n} 200", "order looked up", f"stock checked for order {n}"]
        )
        [stock] = [r for r in mine if r.scope_name == "shop.stock"]
        assert stock.severity_text == "INFO"
    assert {r.resource_attributes["service.name"] for r in records} == {"shop"}


def test_uvicorns_final_lines_arrive_after_sigterm(
    served: tuple[list[CollectedLog], str, int],
) -> None:
    records, stderr, _ = served
    got = bodies(records)
    assert got.count("Application shutdown complete.") == 1, stderr[-3000:]
    assert sum(b.startswith("Finished server process") for b in got) == 1, stderr[-3000:]


def test_nothing_is_printed_bare_on_stderr(served: tuple[list[CollectedLog], str, int]) -> None:
    _, stderr, _ = served
    assert "stock checked" not in stderr
    assert "Finished server process" not in stderr
    assert "Traceback" not in stderr
