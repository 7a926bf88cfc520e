"""Before/after benchmark of a change to fapilog: W1 and W2 on two source trees, one run.

Usage::

    python benchmarks/before_after.py --before REV [--after REV|DIR] [--rounds N] \\
        [--events N] [--workloads w1,w2] [--timeout S] [--json PATH] [--markdown PATH]

``--before`` (required) is a git revision, materialised into a temporary
``git worktree add --detach`` that is removed afterwards; ``--after`` is another
revision or a directory holding ``src/fapilog`` (default: this working tree,
uncommitted changes included). Either option also accepts a directory.

Both sides run the same workload code, this tree's ``benchmarks/peers/worker.py``
with the ``fapilog`` contender (W1: JSON lines onto a counting ``/dev/null``; W2:
OTLP/gRPC into a fresh ``rotel``), with ``PYTHONPATH=<tree>/src`` and this
interpreter, so each side imports its own ``fapilog`` source with the current
``.venv``'s dependencies. Each worker reports the ``fapilog.__file__`` it actually
imported; a side that imported another tree stops the run (exit status 2).

Rounds are interleaved (round 1: W1 before, W1 after, W2 before, W2 after; round
2: the same; ...), every measurement a fresh process. Per metric the table shows
each side's median over its rounds with min-max, and the ratio of the medians,
after / before.

**Within noise**, precisely: let each side's *relative spread* be the interval
``[min / median, max / median]`` of its own rounds. The *noise band* is the union
of the two sides' relative spreads, ``[lo, hi]`` with
``lo = min(before.min / before.median, after.min / after.median)`` and
``hi = max(before.max / before.median, after.max / after.median)``. The change is
"within noise" when ``lo <= after.median / before.median <= hi``: the medians
moved apart by no more than a single round of unchanged code strayed from its own
median. Outside the band the verdict is "better" or "worse" by the metric's
direction (lower ns/call and seconds, higher events/s). With fewer than two good
rounds on a side there is no spread to compare with, and no verdict.

Exit status: 0 when every run completed without losing an event, 1 when a run
failed or lost events, 2 when a side imported the wrong ``fapilog`` (or a tree could
not be materialised). A "worse" verdict does not change the exit status: the table
is the evidence, the judgement is the reader's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEERS = HERE / "peers"
WORKER_SHIM = "_worker"
CONTENDER = "fapilog"
WORKLOADS = ("w1", "w2")


@dataclass(frozen=True)
class Metric:
    """One row of the table: a figure a workload's worker reports."""

    workload: str
    key: str
    label: str
    higher_is_better: bool
    fmt: str


METRICS = (
    Metric("w1", "caller_ns", "W1 caller, thread CPU ns/call", False, "{:,.0f}"),
    Metric("w1", "total_s", "W1 total, s (wall, until flushed)", False, "{:.4g}"),
    Metric("w2", "delivered_per_s", "W2 delivered events/s", True, "{:,.0f}"),
)
"""W1 caller here is thread CPU time (``run_w1`` also reports wall time per call,
``caller_wall_ns``, kept in the JSON's raw runs); W1 total is wall time."""


@dataclass
class Tree:
    """One side: where its ``fapilog`` source is and which commit it is."""

    side: str
    spec: str
    root: str
    commit: str | None
    dirty: bool | None
    temporary: bool

    @property
    def src(self) -> Path:
        return Path(self.root) / "src"

    def describe(self) -> str:
        where = "temporary worktree" if self.temporary else f"`{self.root}`"
        commit = f"`{self.commit[:12]}`" if self.commit else "no git commit"
        dirty = " + uncommitted changes in src/" if self.dirty else ""
        return f"`{self.spec}`: {commit}{dirty} ({where})"


# -- the worker shim (runs in the measured process) ------------------------------------------


def _worker_shim(argv: list[str]) -> int:
    """Run ``peers/worker.py``'s ``main`` here, then add what was imported to its result."""
    sys.path[0] = str(PEERS)
    import worker  # the peers suite's worker, this tree's copy

    code: int = worker.main(argv)
    out = Path(argv[argv.index("--out") + 1])
    if out.exists():
        result = json.loads(out.read_text(encoding="utf-8"))
        module = sys.modules.get("fapilog")
        result["fapilog_file"] = getattr(module, "__file__", None)
        out.write_text(json.dumps(result), encoding="utf-8")
    return code


# -- trees -----------------------------------------------------------------------------------


def _git(*args: str, cwd: Path = ROOT) -> str:
    done = subprocess.run(
        ["git", "--no-optional-locks", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def _describe_dir(side: str, spec: str, path: Path) -> Tree:
    try:
        commit: str | None = _git("rev-parse", "HEAD", cwd=path)
        dirty: bool | None = bool(_git("status", "--porcelain", "--", "src", cwd=path))
    except (RuntimeError, OSError):
        commit, dirty = None, None
    return Tree(side, spec, str(path), commit, dirty, temporary=False)


def materialise(side: str, spec: str, tmp: Path, made: list[Tree]) -> Tree:
    """A directory as it is, or a git revision checked out into a temporary worktree.

    A worktree is appended to ``made`` as soon as it exists, so the caller removes it
    even when a check below fails.
    """
    path = Path(spec)
    if path.is_dir():
        path = path.resolve()
        if not (path / "src" / "fapilog" / "__init__.py").exists():
            raise RuntimeError(f"{spec}: no src/fapilog/__init__.py in this directory")
        return _describe_dir(side, spec, path)
    try:
        commit = _git("rev-parse", "--verify", "--quiet", f"{spec}^{{commit}}")
    except RuntimeError:
        raise RuntimeError(f"{spec!r} is neither a directory nor a git revision") from None
    target = tmp / side
    _git("worktree", "add", "--detach", str(target), commit)
    tree = Tree(side, spec, str(target), commit, False, temporary=True)
    made.append(tree)
    if not (tree.src / "fapilog" / "__init__.py").exists():
        raise RuntimeError(f"{spec}: revision {commit[:12]} has no src/fapilog/__init__.py")
    # Compile once now, so the first round of this side does not pay for it.
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(tree.src)],
        check=False,
        stdout=subprocess.DEVNULL,
    )
    return tree


def remove(tree: Tree) -> None:
    """Remove a temporary worktree (and git's record of it)."""
    if not tree.temporary:
        return
    try:
        _git("worktree", "remove", "--force", tree.root)
    except RuntimeError as exc:
        print(f"before_after: {exc}", file=sys.stderr)
        shutil.rmtree(tree.root, ignore_errors=True)
        _git("worktree", "prune")


def imported_own_tree(tree: Tree, fapilog_file: str | None) -> bool:
    """Whether the ``fapilog`` a worker imported is ``tree``'s source."""
    if not fapilog_file:
        return False
    package = (tree.src / "fapilog").resolve()
    return Path(fapilog_file).resolve().parent == package


# -- running ---------------------------------------------------------------------------------


def run_one(tree: Tree, workload: str, events: int, timeout: float, out: Path) -> dict[str, Any]:
    """One measurement of ``workload`` on ``tree``, in a fresh process."""
    argv = [
        sys.executable,
        str(Path(__file__).resolve()),
        WORKER_SHIM,
        workload,
        CONTENDER,
        "--events",
        str(events),
        "--timeout",
        str(timeout),
        "--out",
        str(out),
    ]
    # As in the peer suite: no virtualenv marker, no developer FAPILOG_*/OTEL_* settings;
    # and PYTHONPATH naming only this side's source, ahead of the .venv's editable path.
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("VIRTUAL_ENV", "PYTHONPATH") and not k.startswith(("FAPILOG_", "OTEL_"))
    }
    env["PYTHONPATH"] = str(tree.src)
    try:
        done = subprocess.run(
            argv,
            cwd=PEERS,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout * 2,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"worker timed out after {timeout * 2:g}s"}
    if not out.exists():
        tail = " / ".join(done.stderr.strip().splitlines()[-3:])
        return {"error": f"worker exited {done.returncode} without a result: {tail}"}
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return result


def summarize(values: list[float]) -> dict[str, float] | None:
    """Median, min and max of ``values`` (``None`` when there are none), as the suite's."""
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def noise_band(before: dict[str, float], after: dict[str, float]) -> tuple[float, float]:
    """The union of both sides' ``[min / median, max / median]`` (see the module docstring)."""
    lo = min(before["min"] / before["median"], after["min"] / after["median"])
    hi = max(before["max"] / before["median"], after["max"] / after["median"])
    return lo, hi


def verdict(ratio: float, band: tuple[float, float], rounds: int, higher_is_better: bool) -> str:
    """ "within noise", "better", "worse", or why there is no verdict."""
    if rounds < 2:
        return "no verdict (1 round)"
    lo, hi = band
    if lo <= ratio <= hi:
        return "within noise"
    improved = ratio > hi if higher_is_better else ratio < lo
    return "better" if improved else "worse"


def compare(raw: dict[str, dict[str, list[dict[str, Any]]]]) -> list[dict[str, Any]]:
    """One row per metric of the workloads that ran: medians, spreads, ratio, verdict."""
    rows: list[dict[str, Any]] = []
    for m in METRICS:
        if m.workload not in raw:
            continue
        sides: dict[str, Any] = {}
        good: dict[str, int] = {}
        for side in ("before", "after"):
            runs = [r for r in raw[m.workload][side] if "error" not in r and m.key in r]
            good[side] = len(runs)
            sides[side] = summarize([float(r[m.key]) for r in runs])
        row: dict[str, Any] = {
            "metric": m.key,
            "workload": m.workload,
            "label": m.label,
            "higher_is_better": m.higher_is_better,
            **sides,
            "ratio": None,
            "band": None,
            "verdict": "no verdict (a side has no good run)",
        }
        b, a = sides["before"], sides["after"]
        if b and a and b["median"] and a["median"]:
            row["ratio"] = a["median"] / b["median"]
            row["band"] = noise_band(b, a)
            row["verdict"] = verdict(
                row["ratio"], row["band"], min(good.values()), m.higher_is_better
            )
        rows.append(row)
    return rows


def problems_of(raw: dict[str, dict[str, list[dict[str, Any]]]]) -> list[str]:
    """Failed runs and lost events, per workload and side."""
    out = []
    for workload, sides in raw.items():
        for side, runs in sides.items():
            for i, run in enumerate(runs, 1):
                if "error" in run:
                    out.append(f"{workload} {side} round {i}: {run['error']}")
                elif run.get("dropped", 0):
                    out.append(
                        f"{workload} {side} round {i}: {run['dropped']:,} of"
                        f" {run.get('emitted', 0):,} events did not arrive"
                    )
    return out


def _loadavg() -> list[float] | None:
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def run(
    before: Tree, after: Tree, rounds: int, events: int, workloads: tuple[str, ...], timeout: float
) -> dict[str, Any]:
    """Interleaved rounds on both trees; everything the table and the JSON file hold."""
    sys.path.insert(0, str(PEERS))
    from suite import machine

    trees = {"before": before, "after": after}
    raw: dict[str, dict[str, list[dict[str, Any]]]] = {
        w: {"before": [], "after": []} for w in workloads
    }
    imports: dict[str, set[str]] = {"before": set(), "after": set()}
    wrong: list[str] = []  # the sides that imported another tree's fapilog
    result: dict[str, Any] = {
        "machine": machine(),
        "trees": {side: asdict(t) for side, t in trees.items()},
        "sizes": {"rounds": rounds, "events": events, "workloads": list(workloads)},
        "loadavg_before": _loadavg(),
    }
    started = time.perf_counter()
    count = 0
    with tempfile.TemporaryDirectory(prefix="fapilog-before-after-runs-") as tmp:
        for r, workload in ((r, w) for r in range(rounds) for w in workloads):
            for side, tree in trees.items():
                count += 1
                res = run_one(tree, workload, events, timeout, Path(tmp) / f"{count}.json")
                raw[workload][side].append(res)
                file = res.get("fapilog_file")
                if file:
                    imports[side].add(file)
                if (file or "error" not in res) and not imported_own_tree(tree, file):
                    # Not this side's figure: kept in the JSON, left out of the table.
                    res["error"] = (
                        f"imported fapilog from {file!r}, not from {str(tree.src)!r} (run stopped)"
                    )
                    wrong.append(side)
                _progress(r, rounds, workload, side, res)
                if wrong:
                    break
            if wrong:
                break
    result["elapsed_s"] = time.perf_counter() - started
    result["loadavg_after"] = _loadavg()
    result["fapilog_file"] = {side: sorted(files) for side, files in imports.items()}
    result["import_ok"] = not wrong
    result["raw"] = raw
    result["rows"] = compare(raw)
    result["problems"] = problems_of(raw)
    result["ok"] = not result["problems"]
    return result


def _progress(r: int, rounds: int, workload: str, side: str, res: dict[str, Any]) -> None:
    if "error" in res:
        text = "FAILED: " + res["error"]
    else:
        shown = [f"{m.key}={res[m.key]:,.4g}" for m in METRICS if m.key in res]
        text = " ".join(shown) + f" dropped={res.get('dropped', 0)}"
    print(f"  [round {r + 1}/{rounds}] {workload} {side:6} {text}", file=sys.stderr, flush=True)


# -- rendering -------------------------------------------------------------------------------


def _cell(summary: dict[str, float] | None, fmt: str) -> str:
    if not summary:
        return "n/a"
    med, lo, hi = (fmt.format(summary[k]) for k in ("median", "min", "max"))
    return f"{med} ({lo}-{hi})"


def _rounds(n: int) -> str:
    return "1 round" if n == 1 else f"{n} interleaved rounds"


def markdown(result: dict[str, Any]) -> list[str]:
    """The comparison as a markdown section."""
    trees, sizes, mach = result["trees"], result["sizes"], result["machine"]
    lines = ["## Before and after", ""]
    for side in ("before", "after"):
        t = Tree(**trees[side])
        files = result["fapilog_file"][side]
        imported = ", ".join(f"`{f}`" for f in files) if files else "nothing (no run reported it)"
        lines.append(f"- **{side}**: {t.describe()}; imported {imported}")
    lines += [
        "",
        f"{_rounds(sizes['rounds'])} of {', '.join(sizes['workloads']).upper()},"
        f" {sizes['events']:,} events per run, contender `fapilog`, each run a fresh process;"
        f" {mach['cpu']}, {mach['cores_usable']} usable cores, {mach['python']},"
        f" load average {result['loadavg_before']} before, {result['loadavg_after']} after,"
        f" {mach['date']}. Medians (min-max).",
        "",
        "| metric | before | after | after/before | noise band | verdict |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    fmts = {m.key: m.fmt for m in METRICS}
    for row in result["rows"]:
        fmt = fmts[row["metric"]]
        ratio = f"{row['ratio']:.3f}" if row["ratio"] is not None else "n/a"
        band = f"{row['band'][0]:.3f}-{row['band'][1]:.3f}" if row["band"] else "n/a"
        lines.append(
            f"| {row['label']} | {_cell(row['before'], fmt)} | {_cell(row['after'], fmt)}"
            f" | {ratio} | {band} | {row['verdict']} |"
        )
    lines += [
        "",
        "Noise band: the union of both sides' [min/median, max/median]; a ratio inside it"
        " is within noise (see `benchmarks/before_after.py`). W1 caller cost is the calling"
        " thread's CPU time (the raw runs also hold wall time per call, `caller_wall_ns`; the"
        " contender is `fapilog` with its defaults; W1 total is wall time).",
    ]
    if result["problems"]:
        lines += ["", "**Problems:**", ""] + [f"- {p}" for p in result["problems"]]
    return lines


# -- command line ----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="git revision (or directory) before")
    parser.add_argument(
        "--after", default=str(ROOT), help="git revision or directory after (default: this tree)"
    )
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--events", type=int, default=50_000, help="events per run (W1 and W2)")
    parser.add_argument(
        "--workloads", default=",".join(WORKLOADS), help="comma-separated subset of w1,w2"
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds a W2 run may wait")
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument("--markdown", help="write the markdown table to this file")
    args = parser.parse_args(argv)
    workloads = tuple(w for w in args.workloads.split(",") if w)
    unknown = set(workloads) - set(WORKLOADS)
    if unknown or not workloads:
        parser.error(f"--workloads: choose from {', '.join(WORKLOADS)}")
    if args.rounds < 1 or args.events < 1:
        parser.error("--rounds and --events must be positive")

    trees: list[Tree] = []
    with tempfile.TemporaryDirectory(prefix="fapilog-before-after-") as tmp:
        try:
            before = materialise("before", args.before, Path(tmp), trees)
            after = materialise("after", args.after, Path(tmp), trees)
            result = run(before, after, args.rounds, args.events, workloads, args.timeout)
        except RuntimeError as exc:
            print(f"before_after: {exc}", file=sys.stderr)
            return 2
        finally:
            for tree in trees:
                remove(tree)
    section = markdown(result)
    print("\n".join(section))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2), encoding="utf-8")
    if args.markdown:
        Path(args.markdown).write_text("\n".join(section) + "\n", encoding="utf-8")
    if not result["import_ok"]:
        return 2
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == WORKER_SHIM:
        sys.exit(_worker_shim(sys.argv[2:]))
    sys.exit(main())
