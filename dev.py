#!/usr/bin/env python3
"""Bootstrap and task runner: the only entry point the README asks for.

Usage::

    python3 dev.py demo     # run the demo service through the whole pipeline
    python3 dev.py test     # lint, type-check and run the test suite
    python3 dev.py bench    # run the benchmark suite (writes docs/performance.md)
    python3 dev.py cross-service  # two FastAPI services, one trace, into a real collector
    python3 dev.py compat   # the test suite against the oldest supported OpenTelemetry
    python3 dev.py wheels   # build the wheels of every distribution into dist/
    python3 dev.py sync     # just create/refresh the environment

It needs nothing but Python 3.11+ and git: on first use it creates ``.tools/`` (a
virtual environment holding ``uv``) and then lets uv build ``.venv/`` from ``uv.lock``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
TOOLS = ROOT / ".tools"
BIN = "Scripts" if os.name == "nt" else "bin"


def _uv() -> Path:
    uv = TOOLS / BIN / "uv"
    if not uv.exists():
        print("dev.py: bootstrapping uv into .tools/ ...", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(TOOLS)
        subprocess.run(
            [str(TOOLS / BIN / "python"), "-m", "pip", "install", "--quiet", "uv>=0.5"],
            check=True,
        )
    return uv


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("UV_PYTHON_DOWNLOADS", "never")
    env.pop("VIRTUAL_ENV", None)
    return env


def sync() -> None:
    """Create or refresh ``.venv`` from the lock file (all workspace members)."""
    locked = ["--locked"] if (ROOT / "uv.lock").exists() else []
    subprocess.run(
        [str(_uv()), "sync", "--all-packages", "--python", sys.executable, *locked],
        cwd=ROOT,
        env=_env(),
        check=True,
    )


def compat(args: list[str]) -> int:
    """Run the test suite in ``.venv-oldest`` against the oldest supported OpenTelemetry.

    The pins are in ``compat/oldest-otel.txt``: the lower bounds pyproject.toml
    declares, so what is declared is what is tested.
    """
    uv = str(_uv())
    target = ROOT / ".venv-oldest"
    python = target / BIN / "python"
    if not python.exists():
        subprocess.run(
            [uv, "venv", "--python", sys.executable, str(target)], env=_env(), check=True
        )
    subprocess.run(
        [uv, "pip", "install", "--quiet", "--python", str(python), "-r", "compat/oldest-otel.txt"],
        cwd=ROOT,
        env=_env(),
        check=True,
    )
    show = (
        "import importlib.metadata as m; print('opentelemetry-sdk', m.version('opentelemetry-sdk'))"
    )
    subprocess.run([str(python), "-c", show], check=True)
    return subprocess.run([str(python), "-m", "pytest", *args], cwd=ROOT).returncode


def _run(*argv: str) -> int:
    return subprocess.run([str(_uv()), "run", "--no-sync", *argv], cwd=ROOT, env=_env()).returncode


def main(argv: list[str]) -> int:
    task = argv[0] if argv else "help"
    rest = argv[1:]
    if task == "sync":
        sync()
        return 0
    if task == "demo":
        sync()
        return _run("python", "examples/demo_service.py", *rest)
    if task == "test":
        sync()
        for step in (
            ("ruff", "check", "."),
            ("ruff", "format", "--check", "."),
            ("mypy",),
        ):
            print("dev.py: $", " ".join(step), flush=True)
            rc = _run(*step)
            if rc:
                return rc
        return _run("pytest", *rest)
    if task == "cross-service":
        sync()
        return _run("python", "examples/cross_service/run.py", *rest)
    if task == "bench":
        sync()
        return _run("python", "benchmarks/run.py", *rest)
    if task == "compat":
        return compat(rest)
    if task == "wheels":
        return subprocess.run(
            [str(_uv()), "build", "--all-packages", "--wheel", "--out-dir", "dist", *rest],
            cwd=ROOT,
            env=_env(),
        ).returncode
    print(__doc__)
    return 0 if task == "help" else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
