"""Helpers of the user-install suite: the docs' commands and clean virtualenvs."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
BIN = "Scripts" if os.name == "nt" else "bin"
#: Where users read install commands: the README, docs/, each distribution's README.
DOC_FILES = sorted(
    [
        ROOT / "README.md",
        *ROOT.glob("docs/**/*.md"),
        *ROOT.glob("exporters/*/README.md"),
        *ROOT.glob("instrumentation/*/README.md"),
    ]
)
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.DOTALL | re.MULTILINE)
_SHELL = {"bash", "sh", "shell", "console", ""}


def core_version() -> str:
    """The version of the core distribution in this tree."""
    with (ROOT / "pyproject.toml").open("rb") as f:
        return str(tomllib.load(f)["project"]["version"])


def code_blocks(doc: Path, language: str) -> list[str]:
    """The fenced code blocks of ``doc`` in ``language`` ("bash" covers the shells)."""
    wanted = _SHELL if language == "bash" else {language}
    return [body for lang, body in _FENCE.findall(doc.read_text("utf-8")) if lang in wanted]


def documented_install_commands() -> dict[str, list[str]]:
    """Every ``pip install`` line in a shell block of the docs -> the docs that show it."""
    found: dict[str, list[str]] = {}
    for doc in DOC_FILES:
        for block in code_blocks(doc, "bash"):
            for line in block.splitlines():
                # The trailing comment is not part of the command (bash drops it too).
                line = line.split(" #", 1)[0].strip()
                if line.startswith("pip install "):
                    found.setdefault(line, []).append(str(doc.relative_to(ROOT)))
    return found


def block_with(doc: Path, language: str, marker: str) -> str:
    """The one ``language`` block of ``doc`` that contains ``marker``."""
    [block] = [b for b in code_blocks(doc, language) if marker in b]
    return block


def split_command(line: str) -> tuple[dict[str, str], list[str]]:
    """``A=1 B=2 prog args`` -> ({"A": "1", "B": "2"}, ["prog", "args"])."""
    words = shlex.split(line, comments=True)
    env: dict[str, str] = {}
    while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    return env, words


def hermetic_environ() -> dict[str, str]:
    """This process's environment without anything that would leak into a user's venv."""
    drop_prefixes = ("OTEL_", "FAPILOG_", "PIP_", "UV_", "UVICORN_", "PYTHON")
    proxies = {"http_proxy", "https_proxy", "all_proxy", "grpc_proxy", "no_proxy"}
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(drop_prefixes) and k.lower() not in proxies and k != "VIRTUAL_ENV"
    }


@dataclass
class UserVenv:
    """A virtualenv made from the base interpreter, as a user would make it."""

    path: Path
    wheelhouse: Path

    @classmethod
    def create(cls, path: Path, wheelhouse: Path) -> UserVenv:
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", str(path)], check=True, timeout=300)
        return cls(path, wheelhouse)

    @property
    def bin(self) -> Path:
        return self.path / BIN

    def env(self, **extra: str) -> dict[str, str]:
        env = hermetic_environ()
        env.update(
            PATH=f"{self.bin}{os.pathsep}{env.get('PATH', '')}",
            VIRTUAL_ENV=str(self.path),
            PIP_FIND_LINKS=str(self.wheelhouse),
            PIP_DISABLE_PIP_VERSION_CHECK="1",
            PIP_NO_INPUT="1",
        )
        env.update(extra)
        return env

    def shell(
        self, command: str, cwd: Path, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """Run a documented command line exactly as written, in this venv."""
        return subprocess.run(
            ["bash", "-c", command],
            cwd=cwd,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def run(
        self, argv: list[str], cwd: Path | None = None, timeout: float = 120, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` (its first word looked up in the venv first)."""
        program = self.bin / argv[0]
        command = [str(program) if program.exists() else argv[0], *argv[1:]]
        return subprocess.run(
            command,
            cwd=cwd,
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def distributions(self) -> dict[str, str]:
        """Installed distribution name (normalised) -> version."""
        code = (
            "import importlib.metadata as m, json, re\n"
            "print(json.dumps({re.sub(r'[-_.]+', '-', d.metadata['Name']).lower(): d.version"
            " for d in m.distributions()}))"
        )
        done = self.run(["python", "-c", code])
        assert done.returncode == 0, done.stderr
        import json

        return dict(json.loads(done.stdout))


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_listening(process: subprocess.Popen[str], port: int, timeout: float = 60) -> None:
    """Wait until ``process`` accepts connections on ``port`` (fails if it exits first)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            assert process.poll() is None, process.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "the app did not start"
            time.sleep(0.1)


@contextlib.contextmanager
def uvicorn_serving(
    venv: UserVenv, argv: list[str], cwd: Path, **env: str
) -> Iterator[tuple[subprocess.Popen[str], httpx.Client]]:
    """Run a documented uvicorn command line in ``venv`` on a free port, once it listens.

    Yields the process and a client for it; the process is killed on the way out if
    the test did not end it (:func:`terminate`).
    """
    port = free_port()
    process = subprocess.Popen(
        [str(venv.bin / argv[0]), *argv[1:]],
        cwd=cwd,
        env=venv.env(**env, UVICORN_PORT=str(port)),  # uvicorn reads UVICORN_* options
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until_listening(process, port)
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=30, trust_env=False) as client:
            yield process, client
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def terminate(process: subprocess.Popen[str], timeout: float = 30) -> tuple[str, str]:
    """SIGTERM ``process`` and collect its output."""
    process.send_signal(signal.SIGTERM)
    try:
        return process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
