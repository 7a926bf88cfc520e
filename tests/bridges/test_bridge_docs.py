"""Every Python snippet in docs/bridges.md runs, in order, in one fresh interpreter."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("structlog")
pytest.importorskip("loguru")

DOC = Path(__file__).resolve().parents[2] / "docs" / "bridges.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def test_bridges_doc_snippets_run(tmp_path: Path) -> None:
    """The snippets run without error and their events reach the zero-config console."""
    snippets = _BLOCK.findall(DOC.read_text(encoding="utf-8"))
    assert len(snippets) >= 5
    script = tmp_path / "bridges_snippets.py"
    script.write_text("\n\n".join(snippets), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "FAPILOG_"))}
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env={**env, "FAPILOG_SCHEDULE_DELAY_MS": "20"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    # zero-config console: JSON lines on stderr (not a TTY)
    for body in (
        "paid",
        "shown by structlog, shipped by fapilog",
        "paid 12.5 in EUR",
        "still correlated",
    ):
        assert f'"{body}"' in done.stderr, done.stderr
    # the enqueued loguru record kept its span thanks to the patcher
    (queued,) = [line for line in done.stderr.splitlines() if '"still correlated"' in line]
    assert '"trace_id":"' in queued.replace(" ", ""), queued
    # passthrough: structlog's own renderer printed it too
    assert "shown by structlog, shipped by fapilog" in done.stdout


def test_bridges_all_lists_exactly_the_public_names_sorted_and_documented() -> None:
    """fapilog.bridges exports exactly its public names, sorted, each with a docstring."""
    import types

    import fapilog.bridges as bridges

    public = {
        name
        for name, value in vars(bridges).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    } - {"annotations"}
    assert set(bridges.__all__) == public
    assert list(bridges.__all__) == sorted(bridges.__all__)
    for name in bridges.__all__:
        assert getattr(bridges, name).__doc__, name
