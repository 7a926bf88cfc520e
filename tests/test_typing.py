"""The public API as type checkers see it: mypy and basedpyright on sample files.

``typing_samples/good.py`` holds correct calls (no error allowed); every line of
``typing_samples/bad.py`` that ends in ``# expect: <mypy code> <pyright rule>`` must
get that error from both checkers, and no other line any.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import typing
from collections.abc import Sequence
from pathlib import Path

import pytest
from pydantic import SecretStr

import fapilog
from fapilog._api import SettingsOverrides

SAMPLES = Path(__file__).parent / "typing_samples"
GOOD = SAMPLES / "good.py"
BAD = SAMPLES / "bad.py"
BIN = Path(sys.executable).parent


def _expected() -> dict[int, tuple[str, str]]:
    out = {}
    for number, line in enumerate(BAD.read_text().splitlines(), 1):
        found = re.search(r"# expect: (\S+) (\S+)$", line)
        if found:
            out[number] = (found[1], found[2])
    return out


def _by_line(errors: list[tuple[str, int, str]], path: Path) -> dict[int, set[str]]:
    lines: dict[int, set[str]] = {}
    for file, line, code in errors:
        if Path(file).resolve() == path.resolve():
            lines.setdefault(line, set()).add(code)
    return lines


@pytest.fixture(scope="module")
def mypy_errors(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, int, str]]:
    cache = tmp_path_factory.mktemp("mypy-cache")
    run = subprocess.run(
        [
            BIN / "mypy",
            "--strict",
            "--cache-dir",
            str(cache),
            "--no-error-summary",
            str(GOOD),
            str(BAD),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    errors = [
        (m[1], int(m[2]), m[3])
        for m in re.finditer(r"^(.+?):(\d+): error: .*\[([\w-]+)\]$", run.stdout, re.MULTILINE)
    ]
    assert errors, run.stdout + run.stderr  # the run worked and saw bad.py
    return errors


@pytest.fixture(scope="module")
def pyright_errors() -> list[tuple[str, int, str]]:
    run = subprocess.run(
        [
            BIN / "basedpyright",
            "-p",
            str(SAMPLES / "pyrightconfig.json"),
            "--pythonpath",
            sys.executable,
            "--outputjson",
            str(GOOD),
            str(BAD),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = json.loads(run.stdout)
    errors = [
        (d["file"], d["range"]["start"]["line"] + 1, d.get("rule", "?"))
        for d in report["generalDiagnostics"]
        if d["severity"] == "error"
    ]
    assert errors, run.stdout + run.stderr
    return errors


@pytest.mark.once
def test_mypy_accepts_correct_calls_and_reports_each_wrong_one(mypy_errors) -> None:
    """mypy --strict: good.py is clean; each marked line of bad.py has its error code."""
    assert _by_line(mypy_errors, GOOD) == {}
    got = _by_line(mypy_errors, BAD)
    expected = _expected()
    assert sorted(got) == sorted(expected)
    for line, (code, _) in expected.items():
        assert code in got[line], (line, got[line])


@pytest.mark.once
def test_basedpyright_accepts_correct_calls_and_reports_each_wrong_one(pyright_errors) -> None:
    """basedpyright (standard mode): the same verdicts, with pyright's rule names."""
    assert _by_line(pyright_errors, GOOD) == {}
    got = _by_line(pyright_errors, BAD)
    expected = _expected()
    assert sorted(got) == sorted(expected)
    for line, (_, rule) in expected.items():
        assert rule in got[line], (line, got[line])


def test_settings_overrides_has_one_key_per_setting_that_accepts_its_values() -> None:
    """configure()'s typed keywords follow Settings (exporters, processors: parameters)."""
    fields = fapilog.Settings.model_fields
    hints = typing.get_type_hints(
        SettingsOverrides,
        localns={
            "Sequence": Sequence,
            "SecretStr": SecretStr,
            "os": __import__("os"),
            "timedelta": __import__("datetime").timedelta,
        },
    )
    assert set(hints) == set(fields) - {"exporters", "processors"}
    # A Literal setting offers exactly its choices.
    for name, hint in hints.items():
        annotation = fields[name].annotation
        if typing.get_origin(annotation) is typing.Literal:
            assert set(typing.get_args(hint)) == set(typing.get_args(annotation)), name
