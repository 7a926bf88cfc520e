"""FapilogConfigurator: SDK traces/metrics as the SDK sets them up, fapilog for logs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry.sdk.resources import Resource

from fapilog.otel._configurator import _logs_resource, _stdlib_level, init_logs

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def probe() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "FAPILOG_"))}
    env.update(
        OTEL_SERVICE_NAME="probe",
        OTEL_RESOURCE_ATTRIBUTES="deployment.environment.name=test",
        OTEL_EXPERIMENTAL_RESOURCE_DETECTORS="os",
        OTEL_TRACES_EXPORTER="console",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="memory",
        FAPILOG_SCHEDULE_DELAY_MS="5",
    )
    done = subprocess.run(
        [sys.executable, str(HERE / "otel_configure_probe.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    [line] = [line for line in done.stdout.splitlines() if line.startswith("RESULT:")]
    result = json.loads(line.removeprefix("RESULT:"))
    result["stdout"] = done.stdout
    return result


def test_traces_are_configured_by_the_sdk_from_the_standard_env(probe) -> None:
    trace_id, span_id = probe["span"]
    assert f'"trace_id": "0x{trace_id}"' in probe["stdout"], "the console span exporter ran"
    assert f'"span_id": "0x{span_id}"' in probe["stdout"]
    resource = probe["tracer_resource"]
    assert resource["service.name"] == "probe"
    assert resource["deployment.environment.name"] == "test"
    assert resource["telemetry.auto.version"] == "9.9"
    assert "os.type" in resource, "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS is honoured"


def test_logs_from_all_three_apis_arrive_once_each_with_the_span(probe) -> None:
    events = probe["events"]
    assert sorted((e["scope"], e["body"]) for e in events) == [
        ("probe.api", "api call"),
        ("probe.app", "fapilog call"),
        ("probe.library", "stdlib call"),
    ]
    assert all(e["ids"] == probe["span"] for e in events)


def test_logs_share_the_sdk_resource_over_fapilogs_host_facts(probe) -> None:
    for event in probe["events"]:
        resource = event["resource"]
        for key, value in probe["tracer_resource"].items():
            assert resource[key] == value
        assert "host.name" in resource and "process.pid" in resource


def test_fapilog_processors_run_first_then_the_distros_otel_processors(probe) -> None:
    [app] = [e for e in probe["events"] if e["scope"] == "probe.app"]
    assert app["attributes"]["card"] == "**** **** **** 1111", "redaction is on by default"
    assert all(e["attributes"].get("stamped") is True for e in probe["events"])


def test_the_global_provider_and_the_root_bridge_are_fapilogs(probe) -> None:
    assert probe["logger_provider"] == "FapilogLoggerProvider"
    assert probe["root_handlers"] == ["DedupFapilogHandler"]
    assert probe["root_level"] == 20, "root lowered to the pipeline's level (INFO)"
    assert probe["exporters"] == ["InMemoryExporter"]


def test_a_bad_exporter_name_falls_back_to_the_console_with_one_line(monkeypatch) -> None:
    """A mistake in the environment costs neither the logs nor the start-up."""
    from fapilog._diagnostics import reporter

    lines: list[str] = []
    monkeypatch.setattr(reporter, "report", lambda key, message: lines.append(message))
    monkeypatch.delenv("FAPILOG_EXPORTERS", raising=False)
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", "nope")
    pipeline = init_logs(Resource.create())
    try:
        assert [e.name for e in pipeline.exporters] == ["console"]
        assert pipeline.settings.redaction
        [line] = lines
        assert "unknown exporter 'nope'" in line
        assert "OTEL_LOGS_EXPORTER" in line
    finally:
        pipeline.shutdown()


def test_fapilog_service_name_wins_for_logs() -> None:
    from fapilog import Settings

    sdk = Resource({"service.name": "from-otel", "a": 1})
    facts = Resource({"host.name": "h", "a": 0})
    merged = _logs_resource(Settings(service_name="from-fapilog"), sdk, facts)
    assert dict(merged.attributes) == {"service.name": "from-fapilog", "a": 1, "host.name": "h"}


@pytest.mark.parametrize(
    ("severity", "level"), [(1, 1), (5, 10), (9, 20), (12, 20), (13, 30), (17, 40), (21, 50)]
)
def test_the_stdlib_capture_level_matches_the_pipeline_level(severity, level) -> None:
    assert _stdlib_level(severity) == level


def test_stdlib_capture_follows_a_later_configure_and_ends_with_the_last_pipeline() -> None:
    import logging

    import fapilog
    from fapilog.exporters.memory import InMemoryExporter
    from fapilog.otel._configurator import _capture_root

    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    first = fapilog.configure(exporters=[InMemoryExporter()], schedule_delay_ms=5)
    _capture_root(first, first.settings)
    second_memory = InMemoryExporter()
    fapilog.configure(exporters=[second_memory], schedule_delay_ms=5)
    logging.getLogger("test.otel.handover").warning("after reconfigure")
    assert fapilog.flush(5)
    assert [e.body for e in second_memory.events] == ["after reconfigure"]
    fapilog.shutdown(timeout=5)
    assert (list(root.handlers), root.level) == before
