"""The cross-service example (examples/cross_service) runs with one command and correlates.

``run.py`` starts a real collector and the gateway and orders services under uvicorn,
sends its requests and checks correlation itself; this test runs that one command
and checks the JSON it writes independently of the example's own checker: per
request, both services' records share one trace id, each record sits on its
service's server span, the spans chain across the hop, and orders records carry
the gateway's ``tenant.id`` baggage.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.once]

pytest.importorskip("rotel", reason="end-to-end tests need the rotel collector")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

RUNNER = Path(__file__).resolve().parent.parent / "examples" / "cross_service" / "run.py"


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run the example once for the whole module; its JSON output, plus exit status."""
    out = tmp_path_factory.mktemp("cross_service") / "result.json"
    done = subprocess.run(
        [sys.executable, str(RUNNER), "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=90,
        env={k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "FAPILOG_"))},
    )
    payload: dict[str, Any] = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {}
    payload["returncode"] = done.returncode
    payload["stdout"] = done.stdout
    payload["stderr"] = done.stderr
    return payload


def spans_by_id(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {span["context"]["span_id"].removeprefix("0x"): span for span in result["spans"]}


def test_the_one_command_succeeds(result: dict[str, Any]) -> None:
    """run.py exits 0, reports no problems, and prints the records grouped by trace."""
    assert result["returncode"] == 0, result["stderr"]
    assert result["problems"] == []
    assert result["stdout"].count("\ntrace ") == len(result["requests"]) == 3
    assert [r["status"] for r in result["requests"]] == [201, 201, 409]


def test_each_request_has_one_trace_across_both_services(result: dict[str, Any]) -> None:
    """All records of one request, in gateway and orders, share one trace id; requests differ.

    fapilog's ASGI middleware binds the forwarded ``x-request-id`` as ``http.request.id``:
    the ground truth of which request a record belongs to.
    """
    by_request: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in result["records"]:
        by_request[record["attributes"]["http.request.id"]].append(record)
    assert sorted(by_request) == ["req-1", "req-2", "req-3"]
    traces = set()
    for request_id, records in by_request.items():
        services = {r["resource_attributes"]["service.name"] for r in records}
        assert services == {"gateway", "orders"}, request_id
        trace_ids = {r["trace_id"] for r in records}
        assert len(trace_ids) == 1 and len(next(iter(trace_ids))) == 32, (request_id, trace_ids)
        traces |= trace_ids
    assert len(traces) == 3
    # exactly once: per request and service, two handler records and one access record,
    # and the gateway's httpx client logs its call through the stdlib ("HTTP Request: ..."),
    # which instrument_app routes into the pipeline
    for request_id, records in by_request.items():
        for service in ("gateway", "orders"):
            scopes = sorted(
                r["scope_name"]
                for r in records
                if r["resource_attributes"]["service.name"] == service
            )
            library = ["httpx"] if service == "gateway" else []
            expected = ["fapilog.access", f"{service}.api", f"{service}.api", *library]
            assert scopes == expected, request_id
    keys = {(r["trace_id"], r["span_id"], r["body"]) for r in result["records"]}
    assert len(keys) == len(result["records"]) == 21


def test_record_span_ids_match_each_hops_spans(result: dict[str, Any]) -> None:
    """Each record sits on its service's server span; orders' server span is the child
    of the gateway's httpx client span, itself the child of the gateway's server span."""
    spans = spans_by_id(result)
    for record in result["records"]:
        service = record["resource_attributes"]["service.name"]
        span = spans[record["span_id"]]
        assert span["service"] == service
        assert span["kind"] == "SpanKind.SERVER"
        assert span["context"]["trace_id"].removeprefix("0x") == record["trace_id"]
        if service == "orders":
            client = spans[span["parent_id"].removeprefix("0x")]
            assert (client["service"], client["kind"]) == ("gateway", "SpanKind.CLIENT")
            gateway_server = spans[client["parent_id"].removeprefix("0x")]
            assert (gateway_server["service"], gateway_server["kind"]) == (
                "gateway",
                "SpanKind.SERVER",
            )
            assert gateway_server["parent_id"] is None


def test_orders_logs_the_gateways_baggage_as_an_attribute(result: dict[str, Any]) -> None:
    """tenant.id, set as baggage at the gateway, is an attribute of every orders record."""
    tenants = {"req-1": "acme", "req-2": "globex", "req-3": "acme"}
    orders = [r for r in result["records"] if r["resource_attributes"]["service.name"] == "orders"]
    assert len(orders) == 9
    for record in orders:
        assert record["attributes"]["tenant.id"] == tenants[record["attributes"]["http.request.id"]]
