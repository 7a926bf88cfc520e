"""`fapilog plugins list|check|new` in process: discovery, checks, scaffold."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest

from fapilog import _plugins
from fapilog.__main__ import main
from fapilog.exporters import Exporter, ExportResult
from fapilog.processors import Processor


class LeakyExporter(Exporter):
    api_version = "1.0"

    def __init__(self, token: str = "") -> None:
        self.token = token

    def __repr__(self) -> str:
        return f"LeakyExporter(token={self.token!r})"

    async def export(self, batch: Any) -> ExportResult:
        return ExportResult.success()


class FutureProcessor(Processor):
    api_version = "2.0"

    def on_emit(self, event: Any) -> None:
        return None


def _with_entry_points(monkeypatch: pytest.MonkeyPatch, **groups: list[EntryPoint]) -> None:
    real = _plugins.entry_points

    def fake(*, group: str) -> list[EntryPoint]:
        return [*real(group=group), *groups.get(group.replace(".", "_"), [])]

    monkeypatch.setattr(_plugins, "entry_points", fake)
    monkeypatch.setattr("fapilog.exporters._registry.entry_points", fake)


def test_list_shows_builtins_first_party_and_a_broken_entry_point(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = EntryPoint("broken", "no_such_module_xyz:Thing", "fapilog.exporters")
    _with_entry_points(monkeypatch, fapilog_exporters=[broken])
    assert main(["plugins", "list", "--json"]) == 0
    rows = {p["name"]: p for p in json.loads(capsys.readouterr().out)["plugins"]}
    assert rows["memory"]["builtin"] and rows["memory"]["compatible"]
    assert rows["splunk_hec"]["distribution"] == "fapilog-exporter-splunk"
    assert rows["broken"]["compatible"] is False
    assert rows["broken"]["error"] == "ModuleNotFoundError (no module named 'no_such_module_xyz')"
    assert main(["plugins", "list"]) == 0
    table = capsys.readouterr().out
    assert "broken" in table and "INCOMPATIBLE: does not load: ModuleNotFoundError" in table


def test_check_passes_for_a_built_in_and_fails_precisely(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plugins", "check", "memory"]) == 0
    assert "all checks passed" in capsys.readouterr().out
    assert main(["plugins", "check", "nonesuch"]) == 1
    assert "no plugin named 'nonesuch'" in capsys.readouterr().out
    leaky = EntryPoint("leaky", f"{__name__}:LeakyExporter", "fapilog.exporters")
    future = EntryPoint("future", f"{__name__}:FutureProcessor", "fapilog.processors")
    _with_entry_points(monkeypatch, fapilog_exporters=[leaky], fapilog_processors=[future])
    assert main(["plugins", "check", "leaky", "--option", "token=fake-secret-123"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  repr() shows the value of option token" in out
    assert "fake-secret-123" not in out
    assert main(["plugins", "check", "future"]) == 1
    assert "FAIL  plugin API: written for plugin API 2.0" in capsys.readouterr().out


def test_new_writes_a_distribution_and_refuses_bad_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plugins", "new", "exporter", "acme", "--dir", str(tmp_path)]) == 0
    root = tmp_path / "fapilog-exporter-acme"
    pyproject = (root / "pyproject.toml").read_text()
    assert 'acme = "fapilog_exporter_acme:AcmeExporter"' in pyproject
    assert (root / "src/fapilog_exporter_acme/py.typed").exists()
    assert (root / "docs/index.md").exists()
    for source in root.rglob("*.py"):
        compile(source.read_text(), str(source), "exec")
    assert main(["plugins", "new", "exporter", "acme", "--dir", str(tmp_path)]) == 1
    assert main(["plugins", "new", "processor", "Bad-Name", "--dir", str(tmp_path)]) == 1
    assert "is not a plugin name" in capsys.readouterr().err


@pytest.mark.once
def test_generated_sources_are_mypy_strict_and_ruff_clean(tmp_path: Path) -> None:
    for kind, name in (("exporter", "acme"), ("processor", "tagger")):
        assert main(["plugins", "new", kind, name, "--dir", str(tmp_path)]) == 0
    sources = [str(p) for p in sorted(tmp_path.glob("*/src"))]
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", *sources],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    for project in sorted(tmp_path.iterdir()):  # from its root, as its author runs it
        done = subprocess.run(
            [ruff, "check", "--no-cache", "--isolated", "."],
            cwd=project,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stdout
