"""Issue 20's targets, checked against one run's medians (pass, fail, or no data).

Judged on fapilog with its defaults (``fapilog``; W3 also ``fapilog-sync``), never on
``fapilog-tuned``. Each target carries the figure it is compared with (``reference``:
the floor, the peer or the control, with its own value) so the page can show both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SUBJECT = "fapilog"
HEADLINE = ("fapilog", "fapilog-sync")


def _median(result: dict[str, Any], workload: str, contender: str, metric: str) -> float | None:
    if workload == "floors":
        data = result.get("floors", {}).get(metric)
    else:
        w = result.get("workloads", {}).get(workload)
        data = (w or {}).get("contenders", {}).get(contender, {}).get(metric)
    return float(data["median"]) if data else None


def _check(
    ident: str,
    text: str,
    measured: float | None,
    limit: float | None,
    unit: str,
    holds: Callable[[float, float], bool],
    figure: str = "",
    reference: str = "",
) -> dict[str, Any]:
    ok = None if measured is None or limit is None else holds(measured, limit)
    return {
        "id": ident,
        "target": text,
        "measured": measured,
        "limit": limit,
        "unit": unit,
        "pass": ok,
        "figure": figure,
        "reference": reference,
    }


def _f(value: float | None, unit: str, scale: float = 1.0, digits: int = 0) -> str:
    """A median for the page's "figure" columns ("n/a" when not run)."""
    return "n/a" if value is None else f"{value * scale:,.{digits}f} {unit}"


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def evaluate(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target with the measured figure, the limit and pass/fail (``None``: not run)."""

    def m(workload: str, contender: str, metric: str) -> float | None:
        return _median(result, workload, contender, metric)

    le: Callable[[float, float], bool] = lambda a, b: a <= b  # noqa: E731
    ge: Callable[[float, float], bool] = lambda a, b: a >= b  # noqa: E731
    wall, floor = m("w1", SUBJECT, "caller_wall_ns"), m("floors", "", "bare_call_wall_ns")
    total, structlog_total = m("w1", SUBJECT, "total_s"), m("w1", "structlog", "total_s")
    w2, sdk = m("w2", SUBJECT, "delivered_per_s"), m("w2", "otel-emit", "delivered_per_s")
    control = m("w3", "control", "lag_p99_ms")
    rss = m("w1", SUBJECT, "peak_rss_mib")
    imp, imp_structlog = m("import", "fapilog", "ms"), m("import", "structlog", "ms")
    workloads = result.get("workloads", {})
    drops = sum(
        w["contenders"][name].get("dropped", 0)
        for wname, w in workloads.items()
        if wname != "import"
        for name in HEADLINE
        if name in w["contenders"]
    )
    checks = [
        _check(
            "W1 caller",
            "wall ns/call during the burst <= 1.5x the bare call into a deque (wall)",
            _ratio(wall, floor),
            1.5,
            "x floor",
            le,
            _f(wall, "ns"),
            f"bare call {_f(floor, 'ns')}",
        ),
        _check(
            "W1 total",
            "total time (until every line is written) <= 0.5x structlog+orjson's",
            _ratio(total, structlog_total),
            0.5,
            "x structlog",
            le,
            _f(total, "ms", 1000),
            f"structlog {_f(structlog_total, 'ms', 1000)}",
        ),
        _check(
            "W2 absolute",
            "delivered >= 500,000 events/s over OTLP/gRPC",
            w2,
            500_000.0,
            "events/s",
            ge,
            _f(w2, "events/s"),
            f"OTel SDK {_f(sdk, 'events/s')}",
        ),
        _check(
            "W2 vs SDK",
            "delivered >= 30x the OTel SDK's lossless Logger.emit configuration",
            _ratio(w2, sdk),
            30.0,
            "x OTel SDK",
            ge,
            _f(w2, "events/s"),
            f"OTel SDK {_f(sdk, 'events/s')}",
        ),
    ]
    for name, how in (("fapilog", "await log.ainfo"), ("fapilog-sync", "log.info")):
        lag = m("w3", name, "lag_p99_ms")
        checks.append(
            _check(
                f"W3 lag ({how})",
                "event-loop lag p99 <= 2x the no-logging control",
                _ratio(lag, control),
                2.0,
                "x control",
                le,
                _f(lag, "ms", digits=1),
                f"control {_f(control, 'ms', digits=1)}",
            )
        )
    checks += [
        _check(
            "W4 RSS",
            "peak RSS of the W1 process <= 30 MiB",
            rss,
            30.0,
            "MiB",
            le,
            _f(rss, "MiB", digits=1),
            f"structlog {_f(m('w1', 'structlog', 'peak_rss_mib'), 'MiB', digits=1)}",
        ),
        _check(
            "import",
            "`import fapilog` time <= `import structlog`'s",
            _ratio(imp, imp_structlog),
            1.0,
            "x structlog",
            le,
            _f(imp, "ms", digits=1),
            f"structlog {_f(imp_structlog, 'ms', digits=1)}",
        ),
        _check(
            "zero drops",
            "fapilog with its defaults delivered every event (W1, W2, W3; both W3 styles)",
            float(drops) if any(w != "import" for w in workloads) else None,
            0.0,
            "events lost",
            le,
            f"{drops:,} lost",
            "",
        ),
    ]
    return checks
