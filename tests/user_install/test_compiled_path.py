"""The compiled worker path as users get it, and the pure fallback where no compiler is.

The wheel built from the tree carries the mypyc-compiled worker path (``hatch_build.py``);
a user who installs it with the README's command runs the compiled modules, and
``fapilog doctor`` and ``stats()`` say so. Built where no C compiler can be found, the
wheel is pure Python (``py3-none-any``), installs the same way and works the same.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from typing import TYPE_CHECKING

import pytest
from test_readme_quickstart import readme_install_command, snippet
from user_install_support import ROOT, UserVenv

if TYPE_CHECKING:
    from pathlib import Path

STATUS = (
    "import json, fapilog, fapilog._native as n\n"
    "log = fapilog.get_logger('check'); log.info('hi', user='u1'); fapilog.flush()\n"
    "s = n.status()\n"
    "print(json.dumps({'implementation': s.implementation, 'reason': s.reason,\n"
    "    'loaded': list(s.loaded), 'stats': fapilog.stats().implementation,\n"
    "    'untrack': fapilog._logger._untrack is not None}))\n"
)


def _fapilog_wheel(directory: Path) -> Path:
    [wheel] = sorted(directory.glob("fapilog-3*.whl"))
    return wheel


@pytest.fixture(scope="module")
def venv(installed: dict[str, tuple[UserVenv, subprocess.CompletedProcess[str]]]) -> UserVenv:
    venv, done = installed[readme_install_command()]
    assert done.returncode == 0, done.stderr[-3000:]
    return venv


def test_the_wheel_from_the_tree_carries_the_compiled_worker_path(wheelhouse: Path) -> None:
    wheel = _fapilog_wheel(wheelhouse)
    assert not wheel.name.endswith("-py3-none-any.whl"), wheel.name  # platform-specific
    names = zipfile.ZipFile(wheel).namelist()
    [manifest] = [n for n in names if n.startswith("fapilog_native/") and n.endswith(".json")]
    data = json.loads(zipfile.ZipFile(wheel).read(manifest))
    assert len(data["modules"]) == 5
    assert sorted(data["extensions"]) == ["fapilog._untrack", "fapilog.exporters.otlp._wirerec"]
    for info in data["modules"].values():
        assert f"fapilog_native/{info['file']}" in names
        assert info["source"] in names  # the pure-Python reference ships too
    for info in data["extensions"].values():
        assert f"fapilog_native/{info['file']}" in names


def test_a_user_install_runs_the_compiled_modules(venv: UserVenv, tmp_path: Path) -> None:
    done = venv.run(["python", "-c", STATUS], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    state = json.loads(done.stdout)
    assert state["implementation"] == state["stats"] == "compiled", state
    assert "fapilog.pipeline._materialize" in state["loaded"]
    assert state["untrack"] is True  # the C extension of docs/compiled.md, "Untracked records"
    assert '"body":"hi"' in done.stderr
    doctor = venv.run(["fapilog", "doctor", "--no-send"], cwd=tmp_path)
    assert "ok    worker path: compiled (mypyc" in doctor.stdout, doctor.stdout


def test_without_a_compiler_the_pure_wheel_installs_and_works(
    tmp_path: Path, wheelhouse: Path
) -> None:
    """The build falls back instead of failing; the README's snippet runs on it."""
    uv = ROOT / ".tools" / "bin" / "uv"
    out = tmp_path / "dist"
    # setuptools compiles with $CC: a compiler that does not exist is one that is absent.
    hidden = {"CC": str(tmp_path / "no-compiler" / "cc"), "FAPILOG_BUILD_NATIVE": "auto"}
    build = [str(uv), "build", "--package", "fapilog", "--wheel", "--python", sys.executable]
    done = subprocess.run(
        [*build, "--out-dir", str(out)],
        cwd=ROOT,
        env={**os.environ, **hidden},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "building the pure-Python wheel instead" in done.stderr
    wheel = _fapilog_wheel(out)
    assert wheel.name.endswith("-py3-none-any.whl"), wheel.name
    assert not [n for n in zipfile.ZipFile(wheel).namelist() if n.startswith("fapilog_native/")]
    # Installed as the README says, with this wheel found first (the others from the tree).
    for other in wheelhouse.glob("*.whl"):
        if not other.name.startswith("fapilog-3"):
            (out / other.name).symlink_to(other)
    venv = UserVenv.create(tmp_path / "venv", out)
    installed = venv.shell(readme_install_command(), cwd=tmp_path, timeout=600)
    assert installed.returncode == 0, installed.stderr[-3000:]
    state = venv.run(["python", "-c", STATUS], cwd=tmp_path)
    assert state.returncode == 0, state.stderr
    assert json.loads(state.stdout)["implementation"] == "pure"
    assert json.loads(state.stdout)["untrack"] is False
    hi = venv.run(["python", "-c", snippet('log.info("hi"')], cwd=tmp_path)
    assert hi.returncode == 0, hi.stderr
    assert '"attributes":{"user":"u1"}' in hi.stderr
    doctor = venv.run(["fapilog", "doctor", "--no-send"], cwd=tmp_path)
    assert "info  worker path: pure Python: no compiled modules" in doctor.stdout, doctor.stdout
