"""Each install command the docs show, run verbatim in a clean virtualenv, installs this tree.

Among them: every sub-distribution installed alone (``pip install fapilog-exporter-splunk``
...), which must resolve the core from this tree, never the unrelated 0.18 line that
shares the name ``fapilog`` on the package index.
"""

from __future__ import annotations

import re
import subprocess
from typing import TYPE_CHECKING

import pytest
from user_install_support import UserVenv, core_version, documented_install_commands

if TYPE_CHECKING:
    from pathlib import Path

COMMANDS = sorted(documented_install_commands())
OURS = {
    "fapilog",
    "fapilog-exporter-splunk",
    "fapilog-exporter-elasticsearch",
    "fapilog-exporter-siem",
    "fapilog-exporter-http",
    "fapilog-instrumentation-asgi",
}
#: Entry-point groups fapilog's distributions register in.
GROUPS = (
    "fapilog.exporters",
    "fapilog.processors",
    "opentelemetry_distro",
    "opentelemetry_configurator",
    "opentelemetry_logs_exporter",
    "opentelemetry_instrumentor",
)


def named_distributions(command: str) -> set[str]:
    """fapilog's distributions a pip command asks for by name."""
    names = set()
    for word in command.split()[2:]:
        name = re.split(r"[\[<>=!~;]", word.strip("'\""), maxsplit=1)[0].lower()
        if name in OURS:
            names.add(name)
    return names


def test_the_docs_show_an_install_command_for_every_distribution() -> None:
    shown = set().union(*(named_distributions(c) for c in COMMANDS))
    assert shown == OURS


def test_every_command_bounds_the_core_to_3x() -> None:
    for command in COMMANDS:
        for word in command.split()[2:]:
            if re.match(r"'?fapilog(\[|[<>=]|'|$)", word):
                assert ">=3.0.0.dev0,<4" in word, f"{command!r}: without the bound pip takes 0.18"


@pytest.mark.parametrize("command", COMMANDS)
def test_the_command_installs_this_trees_distributions(
    command: str, installed: dict[str, tuple[UserVenv, subprocess.CompletedProcess[str]]]
) -> None:
    venv, done = installed[command]
    assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    got = venv.distributions()
    version = core_version()
    assert got.get("fapilog") == version, f"{command} installed fapilog {got.get('fapilog')}"
    for name in named_distributions(command):
        assert got.get(name) == version, name
    check = venv.run(["python", "-m", "pip", "check"])
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.parametrize("command", COMMANDS)
def test_every_entry_point_of_ours_loads(
    command: str,
    installed: dict[str, tuple[UserVenv, subprocess.CompletedProcess[str]]],
    tmp_path: Path,
) -> None:
    venv, done = installed[command]
    if done.returncode:
        pytest.fail("the install failed (see the test above)")
    code = f"""
import importlib.metadata as m, importlib.util
ours = {sorted(OURS)!r}
loaded = []
# The CLI's groups matter only where the CLI (opentelemetry-instrumentation) is installed.
cli = importlib.util.find_spec("opentelemetry.instrumentation") is not None
for group in {GROUPS!r}:
    if group not in ("fapilog.exporters", "opentelemetry_logs_exporter") and not cli:
        continue
    for ep in m.entry_points(group=group):
        if ep.dist is not None and ep.dist.name.replace("_", "-").lower() in ours:
            ep.load()
            loaded.append(group + ":" + ep.name)
print(len(loaded))
"""
    run = venv.run(["python", "-c", code], cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert int(run.stdout) >= 1
