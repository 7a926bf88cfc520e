"""Run every benchmark and write their measured figures to ``docs/performance.md``.

Usage: ``python3 dev.py bench`` (or ``python benchmarks/run.py [--quick]``).

Each benchmark runs in its own process, one after the other, and writes JSON; this
script turns that JSON into the summary page. Nothing on the page is typed by hand:
rerun the command to refresh it on your machine.
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (a smoke test)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        caller_args = ["--calls", "10000", "--rounds", "3"] if args.quick else []
        otlp_args = ["--protocol", "both"]
        if args.quick:
            otlp_args += ["--events", "20000", "--rounds", "1", "--no-ceiling"]
        caller = _run("caller_cost.py", caller_args, Path(tmp) / "caller.json")
        otlp = _run("otlp_throughput.py", otlp_args, Path(tmp) / "otlp.json")
    machine = (
        f"CPython {caller['python']} on {otlp.get('machine', caller['machine'])},"
        f" {otlp.get('cpus_usable', '?')} CPUs"
    )
    page = [
        "# Performance",
        "",
        f"Measured by `python3 dev.py bench` on {datetime.now(UTC):%Y-%m-%d},"
        f" {machine}. Figures are ratios against peers measured in the same run;"
        " absolute numbers depend on the machine.",
        "",
        *_caller_section(caller),
        *_throughput_section(otlp),
    ]
    PAGE.write_text("\n".join(page) + "\n", encoding="utf-8")
    print(f"bench: wrote {PAGE.relative_to(HERE.parent)}")
    return 0 if otlp["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
