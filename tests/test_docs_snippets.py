"""Every Python snippet in the README and the quickstart runs, as a reader would run it.

The snippets of one document run in order in one fresh interpreter (later snippets use
names from earlier ones, like a reader's session). The environment points the OTLP
exporter at a real collector, so the README's "ship to a collector" snippet is checked
by what actually arrives there.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fapilog.testing import RotelCollector

ROOT = Path(__file__).resolve().parent.parent
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def snippets(doc: str) -> list[str]:
    return _BLOCK.findall((ROOT / doc).read_text(encoding="utf-8"))


def run(doc: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "snippets.py"
    script.write_text("\n\n".join(snippets(doc)), encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env={**os.environ, "FAPILOG_SCHEDULE_DELAY_MS": "20", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_readme_has_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "python3 dev.py demo" in text
    assert "python3 dev.py test" in text
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "dev.py test" in ci


@pytest.mark.e2e
def test_readme_snippets_run_and_reach_the_collector(tmp_path: Path) -> None:
    assert len(snippets("README.md")) >= 3
    with RotelCollector() as collector:
        done = run(
            "README.md",
            tmp_path,
            OTEL_EXPORTER_OTLP_ENDPOINT=collector.grpc_endpoint,
            OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
        )
        assert done.returncode == 0, done.stderr
        collector.wait_for(2, timeout=10)
        records = {r.body: r for r in collector.records()}
    assert "PipelineStats(" in done.stdout
    placed = records["order placed"]
    assert placed.resource_attributes["service.name"] == "checkout"
    assert placed.attributes["request_id"] == "r-42"
    assert placed.attributes["order_id"] == 7
    assert len(placed.trace_id) == 32
    failed = records["pricing failed"]
    assert failed.trace_id == placed.trace_id
    assert failed.attributes["exception.type"] == "ZeroDivisionError"
    # the zero-config snippet logged to stderr as JSON lines (not a TTY)
    assert '"hi"' in done.stderr
    assert '"user":"u1"' in done.stderr.replace(" ", "")


def test_quickstart_snippets_run(tmp_path: Path) -> None:
    assert len(snippets("docs/quickstart.md")) >= 6
    done = run("docs/quickstart.md", tmp_path)
    assert done.returncode == 0, done.stderr
    assert '"event_name":"user.signup"' in done.stderr
    assert '"exception.type":"KeyError"' in done.stderr
    assert '"request_id":"r-42"' in done.stderr
    assert '"configured"' in (tmp_path / "logs" / "app.jsonl").read_text(encoding="utf-8")
