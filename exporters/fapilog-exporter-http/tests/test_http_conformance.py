"""The fapilog conformance kit against HTTPExporter and the loopback receiver."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

from fapilog.testing.conformance import Backend, ExporterConformance
from fapilog_exporter_http import HTTPExporter
from http_sink_server import Pass, SinkServer, Status

TOKEN = "conformance-bearer-7f3a9c2e51d84b06"
API_KEY = "conformance-apikey-0b1c2d3e4f5a6978"


class SinkBackend(Backend):
    """The receiver as the kit drives it.

    ``reject`` is not implemented: a generic JSON endpoint has no way to refuse single
    records of a request, so the kit skips its partial-rejection test (the exporter's
    own tests cover a request refused with 400).
    """

    def __init__(self, server: SinkServer) -> None:
        self.server = server

    def received(self) -> Sequence[str]:
        return self.server.bodies()

    def fail_next(self, requests: int, *, retryable: bool = True, after: int = 0) -> None:
        fault = Status(503) if retryable else Status(400, body='{"error":"bad request"}')
        self.server.script(*([Pass()] * after + [fault] * requests))

    def hang(self) -> None:
        self.server.hang()

    def release(self) -> None:
        self.server.release()


class TestHTTPExporterConformance(ExporterConformance):
    # The hung-backend test waits this long; every healthy shutdown takes milliseconds.
    shutdown_bound = 2.0

    @contextlib.contextmanager
    def backend(self) -> Iterator[Backend]:
        with SinkServer() as server:
            yield SinkBackend(server)

    def make_exporter(self, backend: Backend) -> HTTPExporter:
        assert isinstance(backend, SinkBackend)
        # ~5 records a request: a batch takes several requests, so a retry must resume.
        return HTTPExporter(
            url=backend.server.url,
            bearer_token=TOKEN,
            headers={"x-api-key": API_KEY},
            timeout=1.0,
            max_request_bytes=2048,
        )

    def secrets(self) -> Sequence[str]:
        return [TOKEN, API_KEY]
