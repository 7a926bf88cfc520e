"""fapilog 0.18.1, the previous major, in a throwaway virtualenv of its own.

It shares our distribution name, so it cannot live in the workspace's ``.venv``.
The suite creates ``.bench-cache/fapilog-0.18/`` (git-ignored) with uv, the tool
``dev.py`` already bootstraps, and installs the pinned release there once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

VERSION = "0.18.1"
ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".bench-cache"
VENV = CACHE / "fapilog-0.18"


def _python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _uv() -> str | None:
    local = ROOT / ".tools" / ("Scripts/uv.exe" if os.name == "nt" else "bin/uv")
    return str(local) if local.exists() else shutil.which("uv")


def _installed(python: Path) -> bool:
    probe = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('fapilog'))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return probe.returncode == 0 and probe.stdout.strip() == VERSION


def ensure() -> tuple[Path | None, str]:
    """The interpreter of a virtualenv holding fapilog 0.18.1, or ``None`` and why not.

    Returns:
        ``(python, "")`` when ready, else ``(None, reason)``; never raises, so one
        missing contender cannot stop the suite.
    """
    python = _python(VENV)
    if python.exists() and _installed(python):
        return python, ""
    uv = _uv()
    if uv is None:
        return None, "uv not found (run `python3 dev.py sync` once to bootstrap .tools/)"
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env.setdefault("UV_PYTHON_DOWNLOADS", "never")
    steps = [
        [uv, "venv", "--quiet", "--python", sys.executable, str(VENV)],
        [uv, "pip", "install", "--quiet", "--python", str(python), f"fapilog=={VERSION}"],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            return None, f"`{' '.join(step[:3])}` failed: {' / '.join(tail)}"
    if not _installed(python):
        return None, f"fapilog {VERSION} did not import from {VENV}"
    return python, ""
