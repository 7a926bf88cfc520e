"""The fake cluster behaves as Elasticsearch documents the bulk API (checked with raw HTTP)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from es_bulk_server import EsBulkServer

TS = '"@timestamp":"2025-11-30T05:20:00.123456789Z"'


@pytest.fixture
def server() -> Iterator[EsBulkServer]:
    with EsBulkServer() as s:
        yield s


def bulk(server: EsBulkServer, body: bytes, path: str = "/_bulk", **headers: str) -> httpx.Response:
    return httpx.post(
        server.url + path,
        content=body,
        headers={"content-type": "application/x-ndjson", **headers},
    )


def items(response: httpx.Response) -> list[dict[str, Any]]:
    return [next(iter(i.values())) for i in response.json()["items"]]


def test_create_then_duplicate_id_conflicts(server: EsBulkServer) -> None:
    line = b'{"create":{"_index":"logs-a-b","_id":"1"}}\n{' + TS.encode() + b"}\n"
    first = bulk(server, line)
    assert first.json()["errors"] is False
    assert items(first)[0]["status"] == 201
    assert items(first)[0]["_index"].startswith(".ds-logs-a-b-")
    second = bulk(server, line)
    assert second.json()["errors"] is True
    (item,) = items(second)
    assert item["status"] == 409
    assert item["error"]["type"] == "version_conflict_engine_exception"


def test_data_streams_accept_only_create_and_need_a_timestamp(server: EsBulkServer) -> None:
    body = (
        b'{"index":{"_index":"logs-a-b"}}\n{' + TS.encode() + b"}\n"
        b'{"create":{"_index":"logs-a-b"}}\n{"message":"no time"}\n'
        b'{"index":{"_index":"plain"}}\n{"message":"fine in an index"}\n'
    )
    statuses = [
        (i["status"], i.get("error", {}).get("reason", "")) for i in items(bulk(server, body))
    ]
    assert statuses[0] == (
        400,
        "only write ops with an op_type of create are allowed in data streams",
    )
    assert statuses[1][0] == 400 and "[@timestamp] is missing" in statuses[1][1]
    assert statuses[2] == (201, "")


def test_the_target_in_the_path_applies_to_every_line(server: EsBulkServer) -> None:
    response = bulk(server, b'{"create":{}}\n{' + TS.encode() + b"}\n", "/logs-x-y/_bulk")
    assert items(response)[0]["status"] == 201
    assert len(server.documents("logs-x-y")) == 1


def test_a_missing_index_fails_the_request(server: EsBulkServer) -> None:
    response = bulk(server, b'{"create":{}}\n{}\n')
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "action_request_validation_exception"


def test_gzip_bodies_are_accepted(server: EsBulkServer) -> None:
    body = gzip.compress(b'{"create":{"_index":"i"}}\n{"a":1}\n')
    assert bulk(server, body, **{"content-encoding": "gzip"}).json()["errors"] is False


def test_unsupported_content_type_is_refused(server: EsBulkServer) -> None:
    response = httpx.post(
        server.url + "/_bulk", content=b"{}\n", headers={"content-type": "text/plain"}
    )
    assert response.status_code == 406


def test_filter_path_keeps_one_status_per_item(server: EsBulkServer) -> None:
    body = b'{"create":{"_index":"i","_id":"1"}}\n{"a":1}\n' * 2
    response = bulk(server, body, "/_bulk?filter_path=errors,items.*.status,items.*.error.type")
    assert response.json() == {
        "errors": True,
        "items": [
            {"create": {"status": 201}},
            {"create": {"status": 409, "error": {"type": "version_conflict_engine_exception"}}},
        ],
    }


def test_dynamic_mapping_conflicts_are_document_parsing_errors(server: EsBulkServer) -> None:
    body = (
        b'{"create":{"_index":"i"}}\n{"n":1,"o":{"x":1}}\n'
        b'{"create":{"_index":"i"}}\n{"n":"word"}\n'
        b'{"create":{"_index":"i"}}\n{"o":"flat"}\n'
        b'{"create":{"_index":"i"}}\n{"n":"12","o.y":true}\n'
    )
    result = items(bulk(server, body))
    assert [i["status"] for i in result] == [201, 400, 400, 201]
    assert "failed to parse field [n] of type [long]" in result[1]["error"]["reason"]
    assert "object mapping for [o]" in result[2]["error"]["reason"]


def test_authentication_is_required_when_configured() -> None:
    with EsBulkServer(api_key="a2V5OnZhbHVl") as server:
        body = b'{"create":{"_index":"i"}}\n{}\n'
        missing = bulk(server, body)
        assert missing.status_code == 401
        assert "ApiKey" in missing.headers["www-authenticate"]
        assert json.loads(missing.content)["error"]["type"] == "security_exception"
        assert bulk(server, body, authorization="ApiKey a2V5OnZhbHVl").status_code == 200


def test_too_large_bodies_get_413() -> None:
    with EsBulkServer(max_content_length=100) as server:
        assert (
            bulk(server, b'{"create":{"_index":"i"}}\n{"a":"' + b"x" * 200 + b'"}\n').status_code
            == 413
        )
