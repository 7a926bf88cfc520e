"""The README's quickstart, installed with the README's command, runs as the README says."""

from __future__ import annotations

import json
import subprocess
from typing import TYPE_CHECKING

import pytest
from user_install_support import ROOT, UserVenv, code_blocks

if TYPE_CHECKING:
    from pathlib import Path

    from fapilog.testing import RotelCollector

README = ROOT / "README.md"


def readme_install_command() -> str:
    quickstart = README.read_text("utf-8").split("## Quickstart", 1)[1]
    [line] = [line for line in quickstart.splitlines() if line.strip().startswith("pip install ")][
        :1
    ]
    return line.strip()


@pytest.fixture(scope="module")
def venv(installed: dict[str, tuple[UserVenv, subprocess.CompletedProcess[str]]]) -> UserVenv:
    venv, done = installed[readme_install_command()]
    assert done.returncode == 0, done.stderr[-3000:]
    return venv


def snippet(marker: str) -> str:
    [block] = [b for b in code_blocks(README, "python") if marker in b]
    return block


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_the_first_snippet_logs_hi_to_stderr(venv: UserVenv, tmp_path: Path) -> None:
    done = venv.run(["python", "-c", snippet('log.info("hi"')], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    [event] = json_lines(done.stderr)
    assert event["body"] == "hi"
    assert event["attributes"] == {"user": "u1"}


def test_the_collector_snippet_ships_correlated_records(
    venv: UserVenv, tmp_path: Path, collector: RotelCollector
) -> None:
    collector.reset()
    done = venv.run(
        ["python", "-c", snippet("fapilog.configure(")],
        cwd=tmp_path,
        OTEL_EXPORTER_OTLP_ENDPOINT=collector.grpc_endpoint,
    )
    assert done.returncode == 0, done.stderr
    assert "emitted" in done.stdout, "the snippet prints fapilog.stats()"
    assert collector.wait_for(2, timeout=15) == 2
    by_body = {str(r.body): r for r in collector.records()}
    assert sorted(by_body) == ["order placed", "pricing failed"]
    placed, failed = by_body["order placed"], by_body["pricing failed"]
    assert placed.attributes["order_id"] == 7
    assert placed.attributes["request_id"] == "r-42"
    assert placed.resource_attributes["service.name"] == "checkout"
    assert len(placed.trace_id) == 32 and placed.trace_id != "0" * 32
    assert (failed.trace_id, failed.span_id) == (placed.trace_id, placed.span_id)
    assert failed.attributes["exception.type"] == "ZeroDivisionError"
    assert "Traceback" in str(failed.attributes["exception.stacktrace"])


def test_the_async_snippet_logs_job_done(venv: UserVenv, tmp_path: Path) -> None:
    done = venv.run(["python", "-c", snippet("await log.ainfo(")], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    [event] = json_lines(done.stderr)
    assert event["body"] == "job done"
    assert event["attributes"] == {"job_id": "j-1", "duration_ms": 8.2}
