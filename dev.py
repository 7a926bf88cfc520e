#!/usr/bin/env python3
"""Bootstrap and task runner: the only entry point the README asks for.

Usage::

    python3 dev.py demo     # run the demo service through the whole pipeline
    python3 dev.py test     # lint, type-check, the suite on every supported CPython
                            # found (3.11-3.13) and against the oldest dependencies;
                            # with pytest arguments: just those, on this interpreter
    python3 dev.py bench    # run the benchmark suite (writes docs/performance.md)
    python3 dev.py cross-service  # two FastAPI services, one trace, into a real collector
    python3 dev.py compat   # the test suite against the oldest supported dependencies
    python3 dev.py wheels   # build the wheels of every distribution into dist/
    python3 dev.py docs     # build the docs site strictly into site/ (--serve: preview it)
    python3 dev.py sync     # just create/refresh the environment

It needs nothing but Python 3.11+ and git: on first use it creates ``.tools/`` (a
virtual environment holding ``uv``) and then lets uv build ``.venv/`` from ``uv.lock``.
"""

from __future__ import annotations

import ast
import glob
import os
import shutil
import subprocess
import sys
import time
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
    env.setdefault("NO_MKDOCS_2_WARNING", "1")  # mkdocs-material's banner on every build
    env.pop("VIRTUAL_ENV", None)
    return env


def sync() -> None:
    """Create or refresh ``.venv`` from the lock file (all workspace members)."""
    sync_env(ROOT / ".venv", sys.executable)


#: Asks an environment whether its compiled modules need building: "missing" (none for
#: this interpreter), the names of those older than their source, or nothing.
_STALE = (
    "import fapilog._native as n; f = n._manifest(); "
    "print('missing' if f is None else ' '.join(n.stale_modules())); "
    "print(' '.join(sorted(n._built(f[1]))) if f is not None else '')"
)


def _native_names() -> set[str]:
    """The modules and C extensions hatch_build.py compiles, by module name."""
    names: set[str] = set()
    for node in ast.parse((ROOT / "hatch_build.py").read_text()).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id == "MODULES":
                paths = ast.literal_eval(node.value)
                names |= {path.removesuffix(".py").replace("/", ".") for path in paths}
            elif node.targets[0].id == "EXTENSIONS":
                names |= set(ast.literal_eval(node.value))
    return names


def sync_env(venv: Path, python: str, *, quiet: bool = False) -> None:
    """``uv sync`` one environment; (re)build fapilog's compiled modules if needed.

    fapilog's build compiles its worker path with mypyc (hatch_build.py). uv does not
    rebuild an editable install when a source file changes, and it reuses one
    interpreter's editable build for another (an editable wheel is tagged
    ``py3-none-any``): so when this environment has no compiled modules for its
    interpreter, or some are older than their source, fapilog is rebuilt for it
    (meanwhile it runs the pure-Python modules, see fapilog._native). Where
    ``FAPILOG_BUILD_NATIVE=no`` there is nothing to build.
    """
    locked = ["--locked"] if (ROOT / "uv.lock").exists() else []
    env = _env()
    if venv != ROOT / ".venv":
        env["UV_PROJECT_ENVIRONMENT"] = str(venv)
    argv = [str(_uv()), "sync", "--all-packages", "--python", python, *locked]
    argv += ["--quiet"] if quiet else []
    subprocess.run(argv, cwd=ROOT, env=env, check=True)
    if env.get("FAPILOG_BUILD_NATIVE", "").strip().lower() == "no":
        return
    probe = subprocess.run(
        [str(venv / BIN / "python"), "-c", _STALE],
        cwd=ROOT,
        env={**env, "FAPILOG_PURE_PYTHON": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    lines = (probe.stdout + "\n\n").splitlines()
    need = lines[0].split()
    if probe.returncode == 0 and not need:
        if set(lines[1].split()) == _native_names():
            return
        need = ["the build's list of modules changed"]
    why = "none built for this interpreter" if need == ["missing"] else " ".join(need)
    print(f"dev.py: building fapilog's compiled modules for {venv.name} ({why})", flush=True)
    rebuild = ["--reinstall-package", "fapilog", "--refresh-package", "fapilog"]
    subprocess.run([*argv, *rebuild], cwd=ROOT, env=env, check=True)


#: Every CPython fapilog supports and tests; the classifiers list exactly these.
PYTHONS = ("3.11", "3.12", "3.13")


def find_python(version: str) -> str | None:
    """An interpreter for ``version`` ("3.12"): the running one, on PATH, or under pyenv."""
    if f"{sys.version_info.major}.{sys.version_info.minor}" == version:
        return sys.executable
    candidates = [shutil.which(f"python{version}")]
    candidates += sorted(
        glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}*/bin/python{version}")),
        reverse=True,
    )
    for candidate in candidates:
        if candidate is None:
            continue
        probe = subprocess.run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
    return None


#: What the suite leaves out on the other interpreters and the oldest dependencies: the
#: user-install tests (they install from wheels, not from these environments) and the
#: slow end-to-end tests marked ``once`` (interpreter-agnostic; the main run has them).
EXTRA_MARKERS = "not user_install and not once"


def other_pythons() -> list[tuple[str, list[str], dict[str, str]]] | None:
    """Sync ``.venv-py3.X`` for every other supported CPython; their test commands.

    A missing interpreter is skipped with a note, or is an error (None) when
    ``FAPILOG_REQUIRE_ALL_PYTHONS=1`` (CI).
    """
    current = f"{sys.version_info.major}.{sys.version_info.minor}"
    runs: list[tuple[str, list[str], dict[str, str]]] = []
    for version in PYTHONS:
        if version == current:
            continue
        python = find_python(version)
        if python is None:
            if os.environ.get("FAPILOG_REQUIRE_ALL_PYTHONS") == "1":
                print(f"dev.py: Python {version} is required but not found", flush=True)
                return None
            print(f"dev.py: Python {version} not found; skipped", flush=True)
            continue
        target = ROOT / f".venv-py{version}"
        print(f"dev.py: syncing {target.name} ({python})", flush=True)
        sync_env(target, python, quiet=True)
        runs.append(
            (
                f"the test suite on Python {version}",
                [str(target / BIN / "python"), "-m", "pytest", "-m", EXTRA_MARKERS],
                {},
            )
        )
    return runs


def oldest() -> tuple[str, list[str], dict[str, str]]:
    """Prepare ``.venv-oldest`` with the oldest supported dependencies; its test command.

    The pins are in ``compat/oldest.txt``: the lower bounds pyproject.toml declares
    (OpenTelemetry, pydantic, pydantic-settings, orjson, httpx, grpcio), so what is
    declared is what is tested. The user-install tests are left out: they install
    from the package index, not from these pins.
    """
    uv = str(_uv())
    target = ROOT / ".venv-oldest"
    python = target / BIN / "python"
    if not python.exists():
        subprocess.run(
            [uv, "venv", "--python", sys.executable, str(target)], env=_env(), check=True
        )
    # This environment is also the pure-Python one: fapilog is built with the C
    # compiler hidden, so its build falls back to the pure wheel (hatch_build.py) and
    # the suite runs on the pure modules, as it would where no compiler exists.
    hidden = {**_env(), "CC": str(ROOT / ".no-compiler" / "cc"), "FAPILOG_BUILD_NATIVE": "auto"}
    install = [uv, "pip", "install", "--quiet", "--python", str(python), "-r", "compat/oldest.txt"]
    subprocess.run(
        [*install, "--reinstall-package", "fapilog", "--refresh-package", "fapilog"],
        cwd=ROOT,
        env=hidden,
        check=True,
    )
    show = (
        "import importlib.metadata as m, fapilog._native as n; print(', '.join(n + ' ' + "
        "m.version(n) for n in ('opentelemetry-sdk', 'pydantic', 'pydantic-settings', 'orjson',"
        " 'httpx', 'grpcio')), '| worker path:', n.status().implementation)"
    )
    subprocess.run([str(python), "-c", show], check=True)
    return (
        "the test suite against the oldest supported dependencies, pure Python",
        [str(python), "-m", "pytest", "-m", EXTRA_MARKERS],
        {"FAPILOG_EXPECT_NATIVE": "pure"},
    )


def compat(args: list[str]) -> int:
    """Run the test suite in ``.venv-oldest`` against the oldest supported dependencies."""
    _, argv, env = oldest()
    return subprocess.run([*argv, *args], cwd=ROOT, env={**os.environ, **env}).returncode


def run_parallel(runs: list[tuple[str, list[str], dict[str, str]]], jobs: int) -> int:
    """Run test commands ``jobs`` at a time, each into its own log; 0 if all passed.

    The suites mostly wait (on collectors, subprocesses, timeouts): on two cores the
    three extra suites together take about 4 minutes, one alone about 3 (measured).
    Each log is printed whole when its run ends, so the output reads as if they ran one
    after the other.
    """
    logs = ROOT / ".test-logs"
    logs.mkdir(exist_ok=True)
    pending = list(runs)
    running: list[tuple[str, subprocess.Popen[bytes], Path, float]] = []
    failed: list[str] = []
    while pending or running:
        while pending and len(running) < jobs:
            name, argv, extra = pending.pop(0)
            log = logs / (name.replace(" ", "-").replace("/", "-") + ".log")
            print(f"dev.py: {name} (started; log {log.relative_to(ROOT)})", flush=True)
            with log.open("wb") as out:
                proc = subprocess.Popen(
                    argv,
                    cwd=ROOT,
                    env={**os.environ, **extra},
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            running.append((name, proc, log, time.monotonic()))
        time.sleep(0.5)
        for item in list(running):
            name, proc, log, started = item
            if proc.poll() is None:
                continue
            running.remove(item)
            seconds = time.monotonic() - started
            print(f"dev.py: ---- {name}: exit {proc.returncode} in {seconds:.0f} s ----")
            sys.stdout.write(log.read_text(errors="replace"))
            sys.stdout.flush()
            if proc.returncode:
                failed.append(name)
    for name in failed:
        print(f"dev.py: FAILED: {name}", flush=True)
    return 1 if failed else 0


#: The docs site, built with --strict: a broken link, anchor or API reference fails it.
DOCS_BUILD = ("mkdocs", "build", "--strict", "--quiet", "--site-dir", "site")


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
            DOCS_BUILD,
        ):
            print("dev.py: $", " ".join(step), flush=True)
            rc = _run(*step)
            if rc:
                return rc
        rc = _run("pytest", *rest)
        if rc or rest:  # with arguments: a quick run on this interpreter only
            return rc
        runs = other_pythons()
        if runs is None:
            return 1
        runs.append(oldest())
        jobs = int(os.environ.get("FAPILOG_TEST_JOBS", "3"))
        return run_parallel(runs, max(1, jobs))
    if task == "cross-service":
        sync()
        return _run("python", "examples/cross_service/run.py", *rest)
    if task == "bench":
        sync()
        return _run("python", "benchmarks/run.py", *rest)
    if task == "compat":
        return compat(rest)
    if task == "docs":
        sync()
        if "--serve" in rest:
            return _run("mkdocs", "serve", "--strict", *(a for a in rest if a != "--serve"))
        return _run(*DOCS_BUILD, *rest)
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
