"""The issue's targets, checked against one run's medians (pass, fail, or no data)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SUBJECT = "fapilog"


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
) -> dict[str, Any]:
    ok = None if measured is None or limit is None else holds(measured, limit)
    return {
        "id": ident,
        "target": text,
        "measured": measured,
        "limit": limit,
        "unit": unit,
        "pass": ok,
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def evaluate(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target with the measured figure, the limit and pass/fail (``None``: not run)."""

    def m(workload: str, contender: str, metric: str) -> float | None:
        return _median(result, workload, contender, metric)

    le: Callable[[float, float], bool] = lambda a, b: a <= b  # noqa: E731
    ge: Callable[[float, float], bool] = lambda a, b: a >= b  # noqa: E731
    w2 = m("w2", SUBJECT, "delivered_per_s")
    drops = sum(
        w["contenders"][SUBJECT].get("dropped", 0)
        for w in result.get("workloads", {}).values()
        if SUBJECT in w["contenders"]
    )
    return [
        _check(
            "W1 caller",
            "caller ns/call <= 1.5x the bare-call floor",
            _ratio(m("w1", SUBJECT, "caller_ns"), m("floors", "", "bare_call_ns")),
            1.5,
            "x floor",
            le,
        ),
        _check(
            "W1 total",
            "total time <= structlog+orjson's",
            _ratio(m("w1", SUBJECT, "total_s"), m("w1", "structlog", "total_s")),
            1.0,
            "x structlog",
            le,
        ),
        _check(
            "W2 vs SDK",
            ">= 15x the OTel SDK's lossless Logger.emit configuration",
            _ratio(w2, m("w2", "otel-emit", "delivered_per_s")),
            15.0,
            "x OTel SDK",
            ge,
        ),
        _check("W2 absolute", ">= 150,000 events/s delivered", w2, 150_000.0, "events/s", ge),
        _check(
            "W3 lag",
            "loop-lag p99 <= 2x the no-logging control",
            _ratio(m("w3", SUBJECT, "lag_p99_ms"), m("w3", "control", "lag_p99_ms")),
            2.0,
            "x control",
            le,
        ),
        _check(
            "W3 total",
            "total time <= structlog's",
            _ratio(m("w3", SUBJECT, "total_s"), m("w3", "structlog", "total_s")),
            1.0,
            "x structlog",
            le,
        ),
        _check(
            "W4 RSS",
            "peak RSS of the W1 process <= 40 MiB",
            m("w1", SUBJECT, "peak_rss_mib"),
            40.0,
            "MiB",
            le,
        ),
        _check(
            "W5",
            "delivered events/s with default redaction + enrichers within 1.5x of W2",
            _ratio(w2, m("w5", SUBJECT, "delivered_per_s")),
            1.5,
            "x slower than W2",
            le,
        ),
        _check(
            "zero drops",
            "fapilog v3 delivered every event it was given (all workloads)",
            float(drops) if result.get("workloads") else None,
            0.0,
            "events lost",
            le,
        ),
    ]
