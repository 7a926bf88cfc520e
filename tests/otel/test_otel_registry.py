"""Exporter names as OTEL_LOGS_EXPORTER gives them: fapilog's first, then the SDK's."""

from __future__ import annotations

import os

import pytest

from fapilog import ConfigError, Settings
from fapilog.exporters._otel import OTelExporter
from fapilog.exporters._registry import as_exporter, exporter_by_name, resolve_exporters
from fapilog.exporters.console import ConsoleExporter
from fapilog.exporters.memory import InMemoryExporter
from fapilog.otel import FapilogLogRecordExporter


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("OTEL_", "FAPILOG_")):
            monkeypatch.delenv(name)


def test_console_means_fapilogs_console_exporter() -> None:
    assert isinstance(exporter_by_name("console", Settings()), ConsoleExporter)


def test_the_sdk_otlp_names_select_fapilogs_otlp_exporter_with_that_protocol() -> None:
    pytest.importorskip("grpc")
    from fapilog.exporters.otlp import OTLPGrpcExporter, OTLPHttpExporter

    grpc = exporter_by_name("otlp_proto_grpc", Settings())
    http = exporter_by_name("OTLP_PROTO_HTTP", Settings())
    assert isinstance(grpc, OTLPGrpcExporter)
    assert isinstance(http, OTLPHttpExporter)


def test_a_name_only_the_sdk_knows_is_built_and_adapted(monkeypatch) -> None:
    # The SDK's own console exporter is registered as "console" too, but fapilog's
    # name wins; its other names resolve through the opentelemetry_logs_exporter group.
    exporters = resolve_exporters(["fapilog_console"], Settings())
    assert len(exporters) == 1
    assert isinstance(exporters[0], ConsoleExporter), "a fapilog exporter is unwrapped"


def test_an_otel_log_record_exporter_object_is_adapted_and_a_fapilog_one_unwrapped() -> None:
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter

    assert isinstance(as_exporter(InMemoryLogRecordExporter()), OTelExporter)
    inner = InMemoryExporter()
    assert as_exporter(FapilogLogRecordExporter(inner)) is inner


def test_an_unknown_name_lists_every_known_name() -> None:
    with pytest.raises(ConfigError) as info:
        exporter_by_name("nope", Settings())
    message = str(info.value)
    for name in ("console", "otlp", "otlp_proto_http", "fapilog_console", "memory", "none"):
        assert name in message
