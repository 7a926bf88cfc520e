"""The fake HEC answers as Splunk documents, so the exporter tests test something real."""

from __future__ import annotations

import gzip
import json
import socket
from collections.abc import Iterator

import httpx
import pytest

from splunk_hec_server import ACK_TOKEN, TOKEN, HECServer

CHANNEL = "0b4f1f6e-9a1c-4f43-9d36-3c0e5b7a8c21"


@pytest.fixture
def server() -> Iterator[HECServer]:
    with HECServer() as s:
        yield s


@pytest.fixture
def client(server: HECServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url) as c:
        yield c


def post(
    client: httpx.Client, body: bytes, token: str | None = TOKEN, **headers: str
) -> httpx.Response:
    if token is not None:
        headers["Authorization"] = f"Splunk {token}"
    return client.post("/services/collector/event", content=body, headers=headers)


def answer(response: httpx.Response) -> tuple[int, int, str]:
    body = response.json()
    return response.status_code, body.get("code"), body.get("text")


@pytest.mark.parametrize(
    ("auth", "expected"),
    [
        (None, (401, 2, "Token is required")),
        ("Bearer " + TOKEN, (401, 3, "Invalid authorization")),
        ("Splunk wrong", (403, 4, "Invalid token")),
    ],
)
def test_token_checks(
    client: httpx.Client, auth: str | None, expected: tuple[int, int, str]
) -> None:
    headers = {} if auth is None else {"Authorization": auth}
    response = client.post("/services/collector/event", content=b'{"event":"x"}', headers=headers)
    assert answer(response) == expected


@pytest.mark.parametrize(
    ("body", "expected", "number"),
    [
        (b"", (400, 5, "No data"), None),
        (b"  \n", (400, 5, "No data"), None),
        (b'{"event":"a"} nope', (400, 6, "Invalid data format"), 1),
        (b"[1,2]", (400, 6, "Invalid data format"), 0),
        (b'{"time":"noon","event":"a"}', (400, 6, "Invalid data format"), 0),
        (b'{"event":"a"}{"host":"h"}', (400, 12, "Event field is required"), 1),
        (b'{"event":""}', (400, 13, "Event field cannot be blank"), 0),
        (b'{"event":"a","index":"secret"}', (400, 7, "Incorrect index"), 0),
        (
            b'{"event":"a","fields":{"k":{"nested":1}}}',
            (400, 15, "Error in handling indexed fields"),
            0,
        ),
    ],
)
def test_envelope_validation(
    server: HECServer,
    client: httpx.Client,
    body: bytes,
    expected: tuple[int, int, str],
    number: int | None,
) -> None:
    response = post(client, body)
    assert answer(response) == expected
    assert response.json().get("invalid-event-number") == number
    assert server.events == []  # a bad request indexes nothing


def test_concatenated_envelopes_gzip_and_keep_alive(
    server: HECServer, client: httpx.Client
) -> None:
    body = b'{"time":1.5,"event":"a"}\n{"event":{"k":1},"index":"main"}'
    first = post(client, gzip.compress(body), **{"Content-Encoding": "gzip"})
    second = post(client, b'{"event":"b"}')
    assert answer(first) == (200, 0, "Success") == answer(second)
    assert [e["event"] for e in server.events] == ["a", {"k": 1}, "b"]
    assert server.requests[0].wire_body != server.requests[0].body


def test_broken_gzip_is_invalid_data(client: httpx.Client) -> None:
    response = post(client, b"not gzip", **{"Content-Encoding": "gzip"})
    assert answer(response) == (400, 6, "Invalid data format")


def test_ack_tokens_need_a_guid_channel_and_get_ack_ids_per_channel(client: httpx.Client) -> None:
    assert answer(post(client, b'{"event":"a"}', ACK_TOKEN)) == (400, 10, "Data channel is missing")
    bad = post(client, b'{"event":"a"}', ACK_TOKEN, **{"X-Splunk-Request-Channel": "x"})
    assert answer(bad) == (400, 11, "Invalid data channel")
    ids = [
        post(client, b'{"event":"a"}', ACK_TOKEN, **{"X-Splunk-Request-Channel": CHANNEL}).json()[
            "ackId"
        ]
        for _ in range(3)
    ]
    assert ids == [0, 1, 2]
    polled = client.post(
        "/services/collector/ack",
        params={"channel": CHANNEL},
        json={"acks": [0, 2, 9]},
        headers={"Authorization": f"Splunk {ACK_TOKEN}"},
    )
    assert polled.json() == {"acks": {"0": True, "2": True, "9": False}}


def test_the_raw_endpoint_needs_a_channel_and_splits_lines(
    server: HECServer, client: httpx.Client
) -> None:
    headers = {"Authorization": f"Splunk {TOKEN}"}
    missing = client.post("/services/collector/raw", content=b"a\nb", headers=headers)
    assert answer(missing) == (400, 10, "Data channel is missing")
    ok = client.post("/services/collector/raw", params={"channel": CHANNEL, "index": "logs"},
                     content=b"line 1\nline 2\n", headers=headers)  # fmt: skip
    assert answer(ok) == (200, 0, "Success")
    assert [line for _, line in server.raw] == [b"line 1", b"line 2"]


def test_chunked_bodies_and_unknown_paths(server: HECServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(
            b"POST /services/collector/event HTTP/1.1\r\nHost: x\r\n"
            + f"Authorization: Splunk {TOKEN}\r\n".encode()
            + b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            + b'6\r\n{"even\r\n8\r\nt":"ok"}\r\n0\r\n\r\n'
        )
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200 OK")
    assert json.loads(reply.split(b"\r\n\r\n", 1)[1]) == {"text": "Success", "code": 0}
    assert server.events == [{"event": "ok"}]
    with httpx.Client(base_url=server.url) as client:
        assert client.post("/services/collector/nothing").status_code == 404
