"""``benchmarks/before_after.py``: two source trees, one interleaved run, one table.

The smoke runs are tiny (one round, 2,000 W1 events); the figures are not checked,
only that both sides ran from the tree they were given, the table has its rows, and
the temporary worktree is gone afterwards. The noise verdict is checked on numbers.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "before_after.py"


def _module() -> ModuleType:
    name = "_fapilog_bench_before_after"
    spec = importlib.util.spec_from_file_location(name, SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


ba = _module()


def _summary(median: float, lo: float, hi: float) -> dict[str, float]:
    return {"median": median, "min": lo, "max": hi}


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", "--no-optional-locks", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def _in_git_checkout() -> bool:
    try:
        return _git("rev-parse", "--is-inside-work-tree").strip() == "true"
    except (OSError, subprocess.CalledProcessError):
        return False


def _run(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    out = tmp_path / "result.json"
    md = tmp_path / "table.md"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args, f"--json={out}", f"--markdown={md}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.exists(), done.stderr[-2000:]
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    result["_markdown"] = md.read_text(encoding="utf-8")
    return done, result


# -- the verdict -------------------------------------------------------------------------------


def test_the_noise_band_is_the_union_of_both_sides_relative_spreads() -> None:
    before = _summary(100.0, 95.0, 110.0)  # 0.95 .. 1.10
    after = _summary(200.0, 180.0, 204.0)  # 0.90 .. 1.02
    assert ba.noise_band(before, after) == pytest.approx((0.90, 1.10))


@pytest.mark.parametrize(
    ("ratio", "higher_is_better", "expected"),
    [
        (1.05, False, "within noise"),
        (0.95, True, "within noise"),
        (0.90, False, "within noise"),  # on the edge: inside
        (0.89, False, "better"),  # ns/call fell beyond the band
        (1.11, False, "worse"),
        (1.11, True, "better"),  # events/s rose beyond the band
        (0.89, True, "worse"),
    ],
)
def test_a_ratio_outside_the_band_is_better_or_worse_by_the_metrics_direction(
    ratio: float, higher_is_better: bool, expected: str
) -> None:
    assert ba.verdict(ratio, (0.90, 1.10), 3, higher_is_better) == expected


def test_one_round_gives_no_verdict_since_there_is_no_spread() -> None:
    assert ba.verdict(1.5, (1.0, 1.0), 1, False) == "no verdict (1 round)"


def test_the_rows_compare_medians_of_the_good_runs_only() -> None:
    raw = {
        "w1": {
            "before": [
                {"caller_ns": 100.0, "total_s": 1.0},
                {"caller_ns": 110.0, "total_s": 1.2},
                {"error": "boom"},
            ],
            "after": [{"caller_ns": 50.0, "total_s": 1.1}, {"caller_ns": 52.0, "total_s": 1.1}],
        }
    }
    rows = {r["metric"]: r for r in ba.compare(raw)}
    assert set(rows) == {"caller_ns", "total_s"}  # W2 did not run: no W2 row
    caller = rows["caller_ns"]
    assert caller["before"]["median"] == pytest.approx(105.0)
    assert caller["ratio"] == pytest.approx(51.0 / 105.0)
    assert caller["verdict"] == "better"
    assert rows["total_s"]["verdict"] == "within noise"
    assert ba.problems_of(raw) == ["w1 before round 3: boom"]


def test_an_import_from_another_tree_is_not_the_trees_own(tmp_path: Path) -> None:
    tree = ba.Tree("before", "x", str(tmp_path), None, None, temporary=False)
    own = tmp_path / "src" / "fapilog" / "__init__.py"
    assert ba.imported_own_tree(tree, str(own))
    assert not ba.imported_own_tree(tree, str(ROOT / "src" / "fapilog" / "__init__.py"))
    assert not ba.imported_own_tree(tree, None)


# -- end to end (subprocesses: the main interpreter only) -------------------------------------


@pytest.mark.once
def test_head_against_the_working_tree_each_side_imports_its_own_source(
    tmp_path: Path,
) -> None:
    if not _in_git_checkout():
        pytest.skip("needs a git checkout to make a worktree")
    done, result = _run(tmp_path, "--before=HEAD", "--rounds=1", "--events=2000", "--workloads=w1")
    assert done.returncode == 0, (done.stderr[-2000:], result["problems"])
    before, after = result["trees"]["before"], result["trees"]["after"]
    assert before["temporary"] and before["commit"] == _git("rev-parse", "HEAD").strip()
    assert Path(after["root"]) == ROOT and not after["temporary"]
    assert result["fapilog_file"] == {
        "before": [str(Path(before["root"]) / "src" / "fapilog" / "__init__.py")],
        "after": [str(ROOT / "src" / "fapilog" / "__init__.py")],
    }
    assert result["import_ok"] and result["ok"]
    for side in ("before", "after"):
        [run] = result["raw"]["w1"][side]
        assert run["caller_ns"] > 0 and run["dropped"] == 0
    md = result["_markdown"]
    assert "| metric | before | after | after/before | noise band | verdict |" in md
    assert "| W1 caller, thread CPU ns/call |" in md
    assert "| W1 total, s (wall, until flushed) |" in md
    assert "W2" not in md.split("| --- |")[-1]  # no W2 row when W2 did not run
    assert "no verdict (1 round)" in md
    # The temporary worktree is gone, from the disk and from git's list.
    assert not Path(before["root"]).exists()
    assert before["root"] not in _git("worktree", "list", "--porcelain")


@pytest.mark.once
def test_a_side_that_imports_another_trees_fapilog_stops_the_run(tmp_path: Path) -> None:
    fake = tmp_path / "fake"
    (fake / "src" / "fapilog").mkdir(parents=True)
    (fake / "src" / "fapilog" / "__init__.py").write_text("")
    # Runs at start-up of every worker given PYTHONPATH=fake/src, and puts the real
    # source first: the wrong tree is imported, as a stray path entry would cause.
    (fake / "src" / "sitecustomize.py").write_text(
        f"import sys\nsys.path.insert(0, {str(ROOT / 'src')!r})\n"
    )
    done, result = _run(
        tmp_path, f"--before={fake}", "--rounds=3", "--events=500", "--workloads=w1"
    )
    assert done.returncode == 2
    assert not result["import_ok"]
    assert result["fapilog_file"]["before"] == [str(ROOT / "src" / "fapilog" / "__init__.py")]
    [run] = result["raw"]["w1"]["before"]  # stopped after the first run
    assert result["raw"]["w1"]["after"] == []
    assert "imported fapilog from" in run["error"]
    assert "imported fapilog from" in result["_markdown"]
    assert "| W1 caller, thread CPU ns/call | n/a |" in result["_markdown"]
