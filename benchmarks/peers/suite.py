"""Side-by-side benchmark of fapilog against the loggers users would pick instead.

Usage::

    python benchmarks/peers/suite.py [--quick] [--rounds R] [--src PATH] [--json PATH] \
        [--markdown PATH]

(``python3 dev.py bench`` runs it too and puts its table into ``docs/performance.md``;
the method is described in ``docs/benchmarks.md``.)

Every measurement is a fresh worker process (``worker.py``); rounds are interleaved
(all contenders of a workload, then the next workload, then the next round), and
each figure is the median over rounds with min-max. Nothing is assumed: a run that
fails, or that lost events, is reported as such. fapilog's headline contender runs
with its defaults; ``--src PATH`` runs fapilog's contenders from another checkout's
``src/`` (before/after in the same harness).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import imports  # noqa: E402
import legacy  # noqa: E402
import targets  # noqa: E402
from _common import summarize  # noqa: E402
from contenders import FAPILOG_V3, LABELS, OTLP_CONTENDERS, SETUPS  # noqa: E402

ROOT = HERE.parents[1]
WORKLOADS = ("w1", "w3", "w2", "import")
W1_CONTENDERS = tuple(c for c in SETUPS if c != "fapilog-sync")  # = fapilog in W1
W3_CONTENDERS = ("control", *SETUPS)
METRICS = {
    "w1": ("caller_wall_ns", "caller_ns", "total_s", "peak_rss_mib"),
    "w3": ("total_s", "logging_phase_s", "lag_p99_ms", "lag_max_ms"),
    "w2": ("delivered_per_s", "delivered_s", "emit_s"),
    "import": ("ms", "rss_mib", "import_ms", "call_ms"),
    "floors": ("bare_call_wall_ns", "bare_call_ns", "orjson_ns", "proto_ns"),
}
IMPORT_LABELS = {
    "pass": "bare interpreter (`python -c pass`)",
    "logging": "`import logging` (stdlib)",
    "structlog": "`import structlog`",
    "loguru": "`import loguru`",
    "fapilog": "`import fapilog`",
    "fapilog-first-call": '`import fapilog; fapilog.get_logger().info("x")` (first call)',
}


@dataclass(frozen=True)
class Sizes:
    """How much each workload does per run."""

    w1_events: int = 200_000
    w3_tasks: int = 100
    w3_per_task: int = 1_000
    w2_events: int = 200_000
    floor_events: int = 100_000
    import_repeats: int = 5
    rounds: int = 3
    timeout: float = 600.0


QUICK = Sizes(
    w1_events=2_000,
    w3_tasks=20,
    w3_per_task=50,
    w2_events=2_000,
    floor_events=5_000,
    import_repeats=1,
    rounds=1,
    timeout=120.0,
)


def contenders_for(workload: str) -> tuple[str, ...]:
    """Who runs ``workload`` (the others are "n/a" there)."""
    if workload == "w3":
        return W3_CONTENDERS
    if workload == "w2":
        return OTLP_CONTENDERS
    if workload == "import":
        return imports.CASES
    return W1_CONTENDERS


def source_tree(src: Path | None) -> dict[str, Any]:
    """Which fapilog source the fapilog contenders ran: the path and its ``git describe``."""
    path = (src or ROOT / "src").resolve()
    try:
        done = subprocess.run(
            ["git", "--no-optional-locks", "describe", "--tags", "--always", "--dirty"],
            cwd=path,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        describe = done.stdout.strip() if done.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired):
        describe = None
    return {"src": str(path), "describe": describe, "given": src is not None}


def _is_fapilog(workload: str, contender: str) -> bool:
    """Whether ``contender`` imports this project's fapilog (``--src`` applies to it)."""
    if workload == "import":
        return contender in imports.FAPILOG_CASES
    return contender in FAPILOG_V3


def _wrong_tree(src: str, fapilog_file: str | None) -> bool:
    """Whether a run imported ``fapilog`` from anywhere but ``src``."""
    if not fapilog_file:
        return False
    return not Path(fapilog_file).resolve().is_relative_to(Path(src) / "fapilog")


def machine() -> dict[str, Any]:
    """What the page says about where it was measured."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "cores_usable": usable,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "system": f"{platform.system()} {platform.release()}",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _loadavg() -> list[float] | None:
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def _versions(legacy_python: Path | None) -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for dist in (
        "fapilog",
        "python-json-logger",
        "structlog",
        "orjson",
        "loguru",
        "picologging",
        "opentelemetry-sdk",
        "opentelemetry-exporter-otlp-proto-grpc",
        "rotel",
    ):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            out[dist] = "not installed"
    out["fapilog-0.18"] = legacy.VERSION if legacy_python else "not installed"
    return out


class Runner:
    """Starts one worker per measurement and collects its JSON."""

    def __init__(
        self, sizes: Sizes, legacy_python: Path | None, tmp: Path, src: Path | None = None
    ) -> None:
        self.sizes = sizes
        self.legacy_python = legacy_python
        self.tmp = tmp
        self.src = src
        self.count = 0

    def env(self, workload: str, contender: str) -> dict[str, str]:
        """The worker's environment: no venv marker, no developer FAPILOG_*/OTEL_* settings.

        With ``--src``, fapilog's contenders get that tree first on ``PYTHONPATH``.
        """
        env = {
            k: v
            for k, v in os.environ.items()
            if k != "VIRTUAL_ENV" and not k.startswith(("FAPILOG_", "OTEL_"))
        }
        if self.src is not None and _is_fapilog(workload, contender):
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(self.src), env.get("PYTHONPATH", "")) if p
            )
        return env

    def run_imports(self, case: str) -> list[dict[str, Any]]:
        """``import_repeats`` fresh interpreters running the import case ``case``."""
        env = self.env("import", case)
        return [
            imports.run_case(case, sys.executable, env, self.sizes.timeout)
            for _ in range(self.sizes.import_repeats)
        ]

    def run(self, workload: str, contender: str) -> dict[str, Any]:
        s = self.sizes
        python = self.legacy_python if contender == "fapilog-0.18" else Path(sys.executable)
        if python is None:
            return {"error": "not installed"}
        events = {"w1": s.w1_events, "w2": s.w2_events}.get(workload, s.floor_events)
        self.count += 1
        out = self.tmp / f"{self.count}.json"
        argv = [
            str(python),
            str(HERE / "worker.py"),
            workload,
            contender,
            "--events",
            str(events),
            "--tasks",
            str(s.w3_tasks),
            "--per-task",
            str(s.w3_per_task),
            "--timeout",
            str(s.timeout),
            "--out",
            str(out),
        ]
        try:
            done = subprocess.run(
                argv,
                cwd=HERE,
                env=self.env(workload, contender),
                capture_output=True,
                text=True,
                timeout=s.timeout * 2,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return {"error": f"worker timed out after {s.timeout * 2:g}s"}
        if not out.exists():
            tail = " / ".join(done.stderr.strip().splitlines()[-3:])
            return {"error": f"worker exited {done.returncode} without a result: {tail}"}
        result: dict[str, Any] = json.loads(out.read_text())
        return result


def _summarize_runs(
    workload: str, runs: list[dict[str, Any]], src: str | None = None
) -> dict[str, Any]:
    ok_runs = [r for r in runs if "error" not in r]
    out: dict[str, Any] = {"runs": runs}
    for metric in METRICS[workload]:
        out[metric] = summarize([float(r[metric]) for r in ok_runs if metric in r])
    if workload == "floors":
        return out
    wrong = sorted(
        {r["fapilog_file"] for r in ok_runs if src and _wrong_tree(src, r.get("fapilog_file"))}
    )
    if workload == "import":
        problems = [r["error"] for r in runs if "error" in r]
        problems += [f"imported fapilog from {f}, not from {src}" for f in wrong]
        for module in ("pydantic", "pydantic_settings"):
            seen = {bool(r.get(module)) for r in ok_runs if module in r}
            out[module] = seen.pop() if len(seen) == 1 else ("sometimes" if seen else None)
        out.update(
            failed=len(runs) - len(ok_runs), ok=not problems and bool(ok_runs), problems=problems
        )
        out["notes"] = []
        return out
    out["emitted"] = sum(r.get("emitted", 0) for r in ok_runs)
    out["dropped"] = sum(max(0, r.get("dropped", 0)) for r in ok_runs)
    extra = sum(max(0, -r.get("dropped", 0)) for r in ok_runs)
    problems = [r["error"] for r in runs if "error" in r]
    if out["dropped"]:
        problems.append(f"{out['dropped']:,} of {out['emitted']:,} events did not arrive")
    if extra:
        problems.append(f"{extra:,} lines/records more than events were emitted (corrupt output?)")
    counted = sum((r.get("accounting") or {}).get("dropped", 0) for r in ok_runs)
    if counted:
        problems.append(f"its own accounting counted {counted:,} drops")
    duplicates = sum(
        max(0, r.get("final_count", 0) - r.get("arrived", 0)) for r in ok_runs if workload == "w2"
    )
    if duplicates:
        problems.append(f"the collector counted {duplicates:,} records more than were sent")
    problems += [f"imported fapilog from {f}, not from {src}" for f in wrong]
    notes = sorted({n for r in ok_runs for n in r.get("notes", [])})
    out.update(
        failed=len(runs) - len(ok_runs),
        ok=not problems and bool(ok_runs),
        problems=problems,
        notes=notes,
    )
    return out


def _ratios(summary: dict[str, Any], baseline: str) -> dict[str, dict[str, float]]:
    """Each contender's medians divided by ``baseline``'s, per metric."""
    base = summary.get(baseline)
    out: dict[str, dict[str, float]] = {}
    if not base:
        return out
    for name, data in summary.items():
        out[name] = {}
        for metric, value in data.items():
            ref = base.get(metric)
            if isinstance(value, dict) and "median" in value and isinstance(ref, dict) and ref:
                out[name][metric] = value["median"] / ref["median"] if ref["median"] else 0.0
    return out


def run(
    sizes: Sizes, workloads: tuple[str, ...] = WORKLOADS, src: Path | None = None
) -> dict[str, Any]:
    """Run the suite; returns everything the page and the JSON file hold."""
    legacy_python, legacy_reason = legacy.ensure()
    if legacy_python is None:
        print(f"peers: fapilog 0.18 unavailable: {legacy_reason}", file=sys.stderr)
    source = source_tree(src)
    print(
        f"peers: fapilog's contenders run {source['src']} ({source['describe'] or 'not git'})",
        file=sys.stderr,
    )
    result: dict[str, Any] = {
        "machine": machine(),
        "source": source,
        "versions": _versions(legacy_python),
        "sizes": asdict(sizes),
        "loadavg_before": _loadavg(),
        "labels": LABELS,
        "import_labels": IMPORT_LABELS,
        "unavailable": {} if legacy_python else {"fapilog-0.18": legacy_reason},
    }
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        w: {c: [] for c in contenders_for(w)} for w in ("floors", *workloads)
    }
    runs["floors"] = {"floors": []}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fapilog-peers-") as tmp:
        runner = Runner(sizes, legacy_python, Path(tmp), src)
        if "import" in workloads:
            for case in imports.CASES:  # unmeasured: byte-compiles and warms the page cache
                imports.run_case(case, sys.executable, runner.env("import", case), sizes.timeout)
        for r in range(sizes.rounds):
            runs["floors"]["floors"].append(runner.run("floors", "floors"))
            for workload in workloads:
                for contender in contenders_for(workload):
                    if workload == "import":
                        batch = runner.run_imports(contender)
                        runs[workload][contender] += batch
                        for res in batch:
                            _progress(r, sizes.rounds, workload, contender, res)
                        continue
                    res = runner.run(workload, contender)
                    runs[workload][contender].append(res)
                    _progress(r, sizes.rounds, workload, contender, res)
    result["elapsed_s"] = time.perf_counter() - started
    result["loadavg_after"] = _loadavg()
    result["raw"] = runs
    return summarize_result(result)


def summarize_result(result: dict[str, Any]) -> dict[str, Any]:
    """Medians, ratios, targets and the overall verdict, from ``result["raw"]`` runs.

    The verdict (``ok``) is false when a run failed, or one of fapilog v3's contenders
    lost an event or imported the wrong source tree; a peer that loses events is a
    finding shown on the page, not a broken suite.
    """
    raw = result["raw"]
    src = result.get("source", {}).get("src")
    result["floors"] = _summarize_runs("floors", raw["floors"]["floors"])
    result["workloads"] = {}
    for workload in (w for w in WORKLOADS if w in raw):
        summary = {
            c: _summarize_runs(workload, rs, src if _is_fapilog(workload, c) else None)
            for c, rs in raw[workload].items()
        }
        baseline = {"w1": "stdlib", "w3": "stdlib", "w2": "otel-emit", "import": "structlog"}.get(
            workload, ""
        )
        result["workloads"][workload] = {
            "contenders": summary,
            "baseline": baseline,
            "ratios": _ratios(summary, baseline) if baseline else {},
        }
    result["targets"] = targets.evaluate(result)
    result["ok"] = all(
        not c["failed"] and (c["ok"] or not _is_fapilog(wname, name))
        for wname, w in result["workloads"].items()
        for name, c in w["contenders"].items()
        if name not in result["unavailable"]
    )
    return result


def _progress(r: int, rounds: int, workload: str, contender: str, res: dict[str, Any]) -> None:
    if "error" in res:
        text = "FAILED: " + res["error"]
    else:
        shown = [f"{m}={res[m]:,.4g}" for m in METRICS[workload] if m in res]
        text = " ".join(shown) + f" dropped={res.get('dropped', 0)}"
    print(
        f"  [round {r + 1}/{rounds}] {workload} {contender:18} {text}", file=sys.stderr, flush=True
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small runs, one round (a smoke run)")
    parser.add_argument("--rounds", type=int, help="override the number of rounds")
    parser.add_argument("--events", type=int, help="override W1 and W2 events per run")
    parser.add_argument("--w3-tasks", type=int, help="override W3's task count")
    parser.add_argument("--w3-per-task", type=int, help="override W3's events per task")
    parser.add_argument(
        "--import-repeats", type=int, help="override the fresh interpreters per import case"
    )
    parser.add_argument(
        "--workloads",
        default=",".join(WORKLOADS),
        help="comma-separated subset of " + ",".join(WORKLOADS),
    )
    parser.add_argument(
        "--src",
        type=Path,
        help="run fapilog's contenders from this source tree (another checkout's src/)",
    )
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument("--markdown", help="write the markdown section to this file")
    parser.add_argument(
        "--from-json", help="render a previous run's JSON (from --json) instead of running"
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else Sizes()
    overrides: dict[str, Any] = {}
    if args.rounds:
        overrides["rounds"] = args.rounds
    if args.events:
        overrides.update(w1_events=args.events, w2_events=args.events, floor_events=args.events)
    if args.w3_tasks:
        overrides["w3_tasks"] = args.w3_tasks
    if args.w3_per_task:
        overrides["w3_per_task"] = args.w3_per_task
    if args.import_repeats:
        overrides["import_repeats"] = args.import_repeats
    if overrides:
        sizes = Sizes(**{**asdict(sizes), **overrides})
    workloads = tuple(w for w in args.workloads.split(",") if w)
    unknown = set(workloads) - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workload(s): {', '.join(sorted(unknown))}")
    if args.src is not None and not (args.src / "fapilog" / "__init__.py").is_file():
        parser.error(f"--src {args.src}: no fapilog/__init__.py there (give a checkout's src/)")
    if args.from_json:
        result = summarize_result(json.loads(Path(args.from_json).read_text(encoding="utf-8")))
    else:
        result = run(sizes, workloads, args.src.resolve() if args.src else None)
    import render

    section = render.section(result)
    print("\n".join(section))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2), encoding="utf-8")
    if args.markdown:
        Path(args.markdown).write_text("\n".join(section) + "\n", encoding="utf-8")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
