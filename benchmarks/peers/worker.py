"""One measurement in a fresh process: ``worker.py WORKLOAD CONTENDER --out PATH``.

Started by ``suite.py`` (never imported by it), with the interpreter of the
contender's virtualenv. Writes one JSON object to ``--out``; a failure is written
as ``{"error": ...}`` so the suite reports it instead of stopping.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
import warnings
from typing import Any


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", choices=("w1", "w2", "w3", "floors"))
    parser.add_argument("contender")
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--per-task", type=int, default=1_000)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    # Libraries' deprecation notices are not the subject here and must not reach
    # the measured streams.
    warnings.simplefilter("ignore")
    import workloads

    result: dict[str, Any]
    try:
        if args.workload == "w1":
            result = workloads.run_w1(args.contender, args.events)
        elif args.workload == "w3":
            result = workloads.run_w3(args.contender, args.tasks, args.per_task)
        elif args.workload == "w2":
            result = workloads.run_otlp(args.contender, args.events, args.timeout)
        else:
            result = workloads.run_floors(args.events)
    except Exception as exc:  # reported per run, the suite goes on
        result = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(result, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
