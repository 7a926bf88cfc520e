"""The Python snippets of docs/fastapi.md run, in order, as a reader would run them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "fastapi.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def test_docs_snippets_run_and_print_what_the_page_says(tmp_path: Path) -> None:
    """All snippets run in one interpreter; the quickstart prints the two records shown."""
    snippets = _BLOCK.findall(DOC.read_text(encoding="utf-8"))
    assert len(snippets) >= 5
    script = tmp_path / "fastapi_snippets.py"
    script.write_text("\n\n".join(snippets), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-W", "error", str(script)],
        cwd=tmp_path,
        env={**os.environ, "FAPILOG_EXPORTERS": "none"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "shop | order looked up | req-1",
        "shop.stock | stock checked for order 7 | req-1",
        "fapilog.access | GET /orders/7 200 | req-1",
    ]
