"""Run every benchmark and write their measured figures to ``docs/performance.md``.

Usage: ``python3 dev.py bench [--quick] [--peers | --no-peers]`` (or
``python benchmarks/run.py ...``).

Each benchmark runs in its own process, one after the other, and writes JSON; this
script turns that JSON into the summary page. Nothing on the page is typed by hand:
rerun the command to refresh it on your machine.

``--peers`` runs only the side-by-side suite against the peers
(``benchmarks/peers/suite.py``) and replaces only its section of the page;
``--no-peers`` skips it; ``--quick`` makes every run small (a smoke run).
``--peers --src PATH`` runs the suite with fapilog's contenders importing another
checkout's ``src/`` (the "before" of a before/after pair); that run leaves the page
alone and keeps its results in ``.bench-cache/peers-<git describe>.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PAGE = HERE.parent / "docs" / "performance.md"
CACHE = HERE.parent / ".bench-cache"


def _run(script: str, args: list[str], out: Path) -> dict[str, Any]:
    print(f"bench: {script} {' '.join(args)}", flush=True)
    subprocess.run(
        [sys.executable, str(HERE / script), *args, "--json", str(out)],
        check=False,
    )
    if not out.exists():
        raise SystemExit(f"bench: {script} wrote no results")
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def _caller_section(res: dict[str, Any]) -> list[str]:
    lines = [
        "## Caller cost (`benchmarks/caller_cost.py`)",
        "",
        '`log.info("request handled", method=..., path=..., status=..., duration_ms=...,'
        " user_id=...)` against the floor: a plain Python function taking the same"
        " arguments that appends a tuple to a deque. Same process, alternating rounds,"
        f" {res['rounds']} rounds x {res['calls_per_round']:,} calls; medians (min-max).",
        "",
        "| clock | floor ns/call | fapilog ns/call | ratio |",
        "| --- | --- | --- | --- |",
    ]
    for clock in ("thread", "wall"):
        f, g = res[clock]["floor_ns"], res[clock]["fapilog_ns"]
        lines.append(
            f"| {clock} | {f['median']:.0f} ({f['min']:.0f}-{f['max']:.0f}) "
            f"| {g['median']:.0f} ({g['min']:.0f}-{g['max']:.0f}) "
            f"| **{res[clock]['ratio']:.2f}x** |"
        )
    lines += [
        "",
        "`thread` is the CPU time of the calling thread (what the application pays);"
        " `wall` includes the worker thread competing for the GIL. Accounting after the"
        f" run: emitted {res['emitted']:,}, exported {res['exported']:,},"
        f" dropped {res['dropped']:,}.",
        "",
    ]
    return lines


def _throughput_section(res: dict[str, Any]) -> list[str]:
    cfg = res["config"]
    lines = [
        "## Delivered throughput into a real collector (`benchmarks/otlp_throughput.py`)",
        "",
        f"{cfg['events']:,} records per run into `rotel`, fapilog (OTLP exporter) against the"
        " OpenTelemetry SDK (`BatchLogRecordProcessor` + `OTLPLogExporter`) with the same"
        f" batch size ({cfg['batch_size']}), {res['rounds']} alternating rounds; medians."
        " Details and method: [performance-otlp.md](performance-otlp.md).",
        "",
        "| protocol | fapilog records/s | OTel SDK records/s | delivered ratio | emit-phase ratio |",
        "| --- | --- | --- | --- | --- |",
    ]
    for protocol, data in res["protocols"].items():
        c = data["contenders"]
        r = data["ratio_fapilog_over_otel_sdk"]
        lines.append(
            f"| {protocol} | {c['fapilog']['delivered_per_s']['median']:,.0f} "
            f"| {c['otel-sdk']['delivered_per_s']['median']:,.0f} "
            f"| **{r['delivered']:.2f}x** | {r['emit']:.1f}x |"
        )
    ok = "every run delivered every record" if res["ok"] else "SOME RUNS FAILED (see output)"
    lines += ["", f"Result check: {ok}.", ""]
    return lines


def _peers(quick: bool, out: Path, src: Path | None = None) -> tuple[list[str], bool]:
    """Run the peer suite; its markdown section and whether every run was complete."""
    args = ["--quick"] if quick else []
    if src is not None:
        args += ["--src", str(src)]
    print(f"bench: peers/suite.py {' '.join(args)}", flush=True)
    md = out.with_suffix(".md")
    suite = [sys.executable, str(HERE / "peers" / "suite.py"), *args]
    done = subprocess.run(
        [*suite, "--json", str(out), "--markdown", str(md)],
        check=False,
        stdout=subprocess.DEVNULL,
    )
    if not md.exists():
        raise SystemExit("bench: peers/suite.py wrote no results")
    return md.read_text(encoding="utf-8").splitlines(), done.returncode == 0


def _peers_span(lines: list[str]) -> tuple[int, int] | None:
    """Where the generated peers section sits in the page's ``lines``, if anywhere."""
    begin = next((i for i, line in enumerate(lines) if line.startswith("<!-- peers:begin")), None)
    end = next((i for i, line in enumerate(lines) if line.startswith("<!-- peers:end")), None)
    if begin is None or end is None or end < begin:
        return None
    return begin, end


def _current_peers_section() -> list[str]:
    """The page's peers section as it is (kept by ``--no-peers``), or nothing."""
    lines = PAGE.read_text(encoding="utf-8").splitlines() if PAGE.exists() else []
    span = _peers_span(lines)
    return lines[span[0] : span[1] + 1] if span else []


def _replace_peers_section(section: list[str]) -> None:
    """Put ``section`` in place of the page's peers section (or append it)."""
    lines = PAGE.read_text(encoding="utf-8").splitlines() if PAGE.exists() else ["# Performance"]
    span = _peers_span(lines)
    if span:
        lines[span[0] : span[1] + 1] = section
    else:
        while lines and not lines[-1]:
            lines.pop()
        lines += ["", *section]
    PAGE.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _peers_elsewhere(quick: bool, src: Path) -> int:
    """``--peers --src``: run the suite on ``src``; keep JSON and markdown in the cache."""
    CACHE.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        json_out = Path(tmp) / "peers.json"
        section, ok = _peers(quick, json_out, src)
        result = json.loads(json_out.read_text(encoding="utf-8"))
    tag = (result.get("source") or {}).get("describe") or "src"
    stem = CACHE / f"peers-{tag.replace('/', '_')}{'-quick' if quick else ''}"
    # Not with_suffix: a describe like v3.0.0.dev0-5-gabc has dots of its own.
    Path(f"{stem}.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    Path(f"{stem}.md").write_text("\n".join(section) + "\n", encoding="utf-8")
    print("\n".join(section))
    print(f"bench: measured {src}; wrote {stem}.json and {stem}.md (the page is unchanged)")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (a smoke test)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--peers", action="store_true", help="run only the peer suite")
    which.add_argument("--no-peers", action="store_true", help="skip the peer suite")
    parser.add_argument(
        "--src",
        type=Path,
        help="with --peers: run fapilog's contenders from this source tree (another"
        " checkout's src/); the page is left alone, results go to .bench-cache/",
    )
    args = parser.parse_args(argv)
    if args.src is not None:
        if not args.peers:
            parser.error("--src needs --peers (only the peer suite can run another tree)")
        return _peers_elsewhere(args.quick, args.src.resolve())
    if args.peers:
        with tempfile.TemporaryDirectory() as tmp:
            section, ok = _peers(args.quick, Path(tmp) / "peers.json")
        _replace_peers_section(section)
        print(f"bench: wrote the peers section of {PAGE.relative_to(HERE.parent)}")
        return 0 if ok else 1
    with tempfile.TemporaryDirectory() as tmp:
        caller_args = ["--calls", "10000", "--rounds", "3"] if args.quick else []
        otlp_args = ["--protocol", "both"]
        if args.quick:
            otlp_args += ["--events", "20000", "--rounds", "1", "--no-ceiling"]
        caller = _run("caller_cost.py", caller_args, Path(tmp) / "caller.json")
        otlp = _run("otlp_throughput.py", otlp_args, Path(tmp) / "otlp.json")
        if args.no_peers:
            peers, peers_ok = _current_peers_section(), True
        else:
            peers, peers_ok = _peers(args.quick, Path(tmp) / "peers.json")
    machine = (
        f"CPython {caller['python']} on {otlp.get('machine', caller['machine'])},"
        f" {otlp.get('cpus_usable', '?')} CPUs"
    )
    page = [
        "# Performance",
        "",
        f"Measured by `python3 dev.py bench` on {datetime.now(UTC):%Y-%m-%d},"
        f" {machine}. Figures are ratios against peers measured in the same run;"
        " absolute numbers depend on the machine. In the side-by-side section fapilog's"
        " headline runs with its defaults (only the exporter given) and its caller cost is"
        " wall time per call; method: [benchmarks.md](benchmarks.md).",
        "",
        *_caller_section(caller),
        *_throughput_section(otlp),
        *peers,
    ]
    PAGE.write_text("\n".join(page) + "\n", encoding="utf-8")
    print(f"bench: wrote {PAGE.relative_to(HERE.parent)}")
    return 0 if otlp["ok"] and peers_ok else 1


if __name__ == "__main__":
    sys.exit(main())
