"""Fixtures for the user-install suite: wheels built from the tree, clean virtualenvs.

Green tests inside the development workspace prove little about what a user gets: its
dev group installs everything. These tests build the wheels of every distribution,
create fresh virtualenvs from the base interpreter, and run the install commands the
docs show, verbatim, with pip. The only thing added is ``PIP_FIND_LINKS`` pointing at
the freshly built wheels: the environment form of the ``--find-links dist/`` that the
docs tell users to add until 3.0 is on the package index. Everything else (OpenTelemetry,
pydantic, grpcio, FastAPI ...) comes from the package index as it would for a user.
"""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from user_install_support import ROOT, UserVenv, documented_install_commands

if TYPE_CHECKING:
    from collections.abc import Iterator

    from fapilog.testing import RotelCollector

#: CI sets this: there, a missing prerequisite is a failure, never a skip.
IN_CI = os.environ.get("FAPILOG_REQUIRE_RSYSLOG") == "1"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.user_install)
            # The first test pays for building the wheels and every virtualenv.
            item.add_marker(pytest.mark.timeout(900))


def _uv() -> str | None:
    local = ROOT / ".tools" / "bin" / "uv"
    return str(local) if local.exists() else shutil.which("uv")


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheels of all five distributions, built from the working tree."""
    uv = _uv()
    if uv is None:
        if IN_CI:
            pytest.fail("uv is needed to build the wheels")
        pytest.skip("uv is not available to build the wheels")
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        # This interpreter's build: fapilog's wheel carries modules compiled for it.
        [
            uv,
            "build",
            "--all-packages",
            "--wheel",
            "--python",
            sys.executable,
            "--out-dir",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    wheels = sorted(p.name.split("-")[0] for p in out.glob("*.whl"))
    assert wheels == [
        "fapilog",
        "fapilog_exporter_elasticsearch",
        "fapilog_exporter_http",
        "fapilog_exporter_siem",
        "fapilog_exporter_splunk",
        "fapilog_instrumentation_asgi",
    ], wheels
    return out


@pytest.fixture(scope="session")
def installed(
    wheelhouse: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[UserVenv, subprocess.CompletedProcess[str]]]:
    """One fresh virtualenv per documented install command, the command run in it.

    The venvs are built concurrently: the work is mostly waiting on downloads.
    """
    base = tmp_path_factory.mktemp("venvs")
    commands = sorted(documented_install_commands())

    def build(index_command: tuple[int, str]) -> tuple[UserVenv, subprocess.CompletedProcess[str]]:
        index, command = index_command
        venv = UserVenv.create(base / f"venv{index}", wheelhouse)
        return venv, venv.shell(command, cwd=wheelhouse.parent, timeout=600)

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(build, enumerate(commands)))
    return dict(zip(commands, results, strict=True))


@pytest.fixture(scope="module")
def collector() -> Iterator[RotelCollector]:
    """A real collector receiving logs, traces and metrics on one OTLP endpoint."""
    pytest.importorskip("rotel", reason="the user-install suite needs the rotel collector")
    from fapilog.testing import RotelCollector

    with RotelCollector(traces=True, metrics=True) as started:
        yield started
