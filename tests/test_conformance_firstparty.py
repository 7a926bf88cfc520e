"""The conformance kit run against the core's own plugins: file and memory exporters, redaction."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from typing import Any

from fapilog.exporters.file import FileExporter
from fapilog.exporters.memory import InMemoryExporter
from fapilog.redaction import RedactionProcessor
from fapilog.testing.conformance import Backend, ExporterConformance, ProcessorConformance


class MemoryStore(Backend):
    """The memory exporter is its own backend: what it stored is what was received."""

    observes_children = False  # a forked child stores into its own copy

    def __init__(self) -> None:
        self.exporters: list[InMemoryExporter] = []

    def received(self) -> Sequence[str]:
        return [e.body for x in self.exporters for e in x.events if isinstance(e.body, str)]


class TestInMemoryExporter(ExporterConformance):
    @contextlib.contextmanager
    def backend(self) -> Iterator[Backend]:
        yield MemoryStore()

    def make_exporter(self, backend: Backend) -> InMemoryExporter:
        assert isinstance(backend, MemoryStore)
        exporter = InMemoryExporter()
        backend.exporters.append(exporter)
        return exporter


class JsonLinesFile(Backend):
    """The file the file exporter writes; received() reads the bodies back."""

    def __init__(self, path: Any) -> None:
        self.path = path

    def received(self) -> Sequence[str]:
        if not self.path.exists():
            return []
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return [
            body
            for body in (json.loads(line).get("body") for line in lines)
            if isinstance(body, str)
        ]


class TestFileExporter(ExporterConformance):
    @contextlib.contextmanager
    def backend(self) -> Iterator[Backend]:
        yield JsonLinesFile(self.tmp_path / "app.jsonl")

    def make_exporter(self, backend: Backend) -> FileExporter:
        assert isinstance(backend, JsonLinesFile)
        return FileExporter(backend.path)


class TestRedactionProcessor(ProcessorConformance):
    def make_processor(self) -> RedactionProcessor:
        return RedactionProcessor(hmac_key="conformance-hmac-key-0123456789")

    def secrets(self) -> Sequence[str]:
        return ["conformance-hmac-key-0123456789"]
