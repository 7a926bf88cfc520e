"""The fapilog conformance kit against SplunkHECExporter and the fake HEC."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

from fapilog.testing.conformance import Backend, ExporterConformance
from fapilog_exporter_splunk import SplunkHECExporter
from splunk_hec_server import TOKEN, Busy, HECServer, Pass, Status


class HECBackend(Backend):
    """The fake HEC as the kit drives it (it refuses whole requests, not single events)."""

    def __init__(self, server: HECServer) -> None:
        self.server = server

    def received(self) -> Sequence[str]:
        return [e["event"]["body"] for e in list(self.server.events)]

    def fail_next(self, requests: int, *, retryable: bool = True, after: int = 0) -> None:
        fault = Busy() if retryable else Status(400, code=6, text="Invalid data format")
        self.server.script([Pass()] * after + [fault] * requests)


class TestSplunkHECConformance(ExporterConformance):
    @contextlib.contextmanager
    def backend(self) -> Iterator[Backend]:
        with HECServer() as server:
            yield HECBackend(server)

    def make_exporter(self, backend: Backend) -> SplunkHECExporter:
        assert isinstance(backend, HECBackend)
        # ~5 events a request: a batch takes several requests, so a retry must resume.
        return SplunkHECExporter(
            url=backend.server.url, token=TOKEN, timeout=5.0, max_request_bytes=2048
        )

    def secrets(self) -> Sequence[str]:
        return [TOKEN]
