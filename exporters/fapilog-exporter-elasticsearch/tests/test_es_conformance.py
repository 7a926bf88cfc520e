"""The fapilog conformance kit against ElasticsearchExporter and the fake bulk endpoint."""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterator, Sequence

from es_bulk_server import UNAVAILABLE, EsBulkServer, Ok, Status
from fapilog.testing.conformance import Backend, ExporterConformance
from fapilog_exporter_elasticsearch import ElasticsearchExporter

API_KEY = "Y29uZm9ybWFuY2U6c2VjcmV0LWtleQ=="  # base64 of conformance:secret-key


class BulkBackend(Backend):
    """The fake cluster as the kit drives it."""

    def __init__(self, server: EsBulkServer) -> None:
        self.server = server

    def received(self) -> Sequence[str]:
        return [doc["message"] for doc in self.server.documents()]

    def fail_next(self, requests: int, *, retryable: bool = True, after: int = 0) -> None:
        fault = (
            Status(UNAVAILABLE[0], UNAVAILABLE[1], UNAVAILABLE[2])
            if retryable
            else Status(400, "illegal_argument_exception", "request malformed")
        )
        self.server.script([Ok()] * after + [fault] * requests)

    def reject(self, bodies: Collection[str]) -> None:
        refused = set(bodies)
        self.server.reject_when(
            lambda source: source.get("message") in refused,
            400,
            "document_parsing_exception",
            "failed to parse field [message]",
        )


class TestElasticsearchConformance(ExporterConformance):
    @contextlib.contextmanager
    def backend(self) -> Iterator[Backend]:
        with EsBulkServer(api_key=API_KEY) as server:
            yield BulkBackend(server)

    def make_exporter(self, backend: Backend) -> ElasticsearchExporter:
        assert isinstance(backend, BulkBackend)
        # A few documents a request: a batch takes several requests, so a retry must resume.
        return ElasticsearchExporter(
            url=backend.server.url, api_key=API_KEY, timeout=5.0, max_request_bytes=2048
        )

    def secrets(self) -> Sequence[str]:
        return [API_KEY, "secret-key"]
