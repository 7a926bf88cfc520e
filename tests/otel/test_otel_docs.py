"""docs/opentelemetry-instrument.md: its app and snippets run as the page says."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "opentelemetry-instrument.md"
BIN = Path(sys.executable).parent
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def python_blocks() -> list[str]:
    return _BLOCK.findall(DOC.read_text(encoding="utf-8"))


def hermetic_env(**extra: str) -> dict[str, str]:
    proxies = {"http_proxy", "https_proxy", "all_proxy", "grpc_proxy", "no_proxy"}
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "FAPILOG_")) and k.lower() not in proxies
    }
    env.pop("PYTHONPATH", None)
    return {**env, **extra}


@pytest.mark.once
@pytest.mark.e2e
def test_the_tiny_app_under_the_cli_sends_three_correlated_records(
    tmp_path: Path, rotel_collector
) -> None:
    app, *_ = python_blocks()
    (tmp_path / "app.py").write_text(app, encoding="utf-8")
    assert "OTEL_SERVICE_NAME=shop opentelemetry-instrument python app.py" in DOC.read_text()
    done = subprocess.run(
        [str(BIN / "opentelemetry-instrument"), sys.executable, "app.py"],
        cwd=tmp_path,
        env=hermetic_env(
            OTEL_SERVICE_NAME="shop",
            OTEL_TRACES_EXPORTER="none",
            OTEL_METRICS_EXPORTER="none",
            OTEL_EXPORTER_OTLP_ENDPOINT=rotel_collector.grpc_endpoint,
        ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert rotel_collector.wait_for(3, timeout=15) == 3
    records = rotel_collector.records()
    assert sorted(str(r.body) for r in records) == [
        "library saw order 7",
        "order placed",
        "otel api saw order 7",
    ]
    assert len({(r.trace_id, r.span_id) for r in records}) == 1
    assert records[0].trace_id
    assert {r.resource_attributes["service.name"] for r in records} == {"shop"}
    [placed] = [r for r in records if r.body == "order placed"]
    assert placed.attributes["card"] == "**** **** **** 1111"


def test_the_plain_sdk_snippet_runs(tmp_path: Path) -> None:
    [snippet] = [b for b in python_blocks() if "FapilogLogRecordExporter(" in b]
    done = subprocess.run(
        [sys.executable, "-c", snippet],
        cwd=tmp_path,
        env=hermetic_env(FAPILOG_CONSOLE_FORMAT="json"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "through a plain SDK provider" in done.stderr
