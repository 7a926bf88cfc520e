"""Self-metrics (``fapilog._metrics``): what a metric reader sees equals ``stats()``.

* an in-memory reader, after a run with drops of several reasons (``queue_full`` from a
  tiny buffer in front of a stuck exporter, ``filtered``, a failing exporter): every
  counter equals its ``stats()`` figure; the export duration histogram has one point per
  export call, with ``error.type`` on the calls that did not deliver; bytes are the
  delivered events' size estimates;
* ``metrics=False`` registers nothing; the global meter provider works when set before
  or after the pipeline was created (a fresh interpreter each);
* a real Prometheus scrape over HTTP, and the example that prints one (both need the
  dev group's ``opentelemetry-exporter-prometheus``: no skip when it is missing);
* under ``opentelemetry-instrument`` with ``OTEL_METRICS_EXPORTER=otlp``, the metrics reach
  a real collector (rotel).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

import fapilog
from fapilog import ExportResult, LogEvent, Pipeline, PipelineStats, _metrics
from fapilog.pipeline._size import estimate_size
from fapilog.processors import LevelFilter
from support import ROOT, GatedExporter, RecordingExporter, identity_holds

#: name -> {attributes without fapilog.pipeline: value}; histograms: (count, sum).
Points = dict[str, dict[frozenset[tuple[str, Any]], Any]]


@pytest.fixture
def reader() -> Iterator[InMemoryMetricReader]:
    """An in-memory reader on a meter provider that fapilog also reports to."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    unbind = _metrics.bind(provider)
    yield reader
    unbind()
    provider.shutdown()


def collect(reader: InMemoryMetricReader, pipeline: Pipeline) -> Points:
    """One collection: the fapilog points of ``pipeline``, by instrument name."""
    points: Points = {}
    data = reader.get_metrics_data()
    assert data is not None
    serial = str(pipeline.serial)
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            if scope.scope.name != "fapilog":
                continue
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    attributes = dict(point.attributes or {})
                    if attributes.pop(_metrics.ATTR_PIPELINE, None) != serial:
                        continue
                    key = frozenset(attributes.items())
                    value = getattr(point, "value", None)
                    if value is None:  # a histogram point
                        value = (point.count, point.sum)  # type: ignore[union-attr]
                    points.setdefault(metric.name, {})[key] = value
    return points


def expected(stats: PipelineStats) -> Points:
    """What the counters and gauges must say, from a ``stats()`` snapshot."""
    ex, rs = _metrics.ATTR_EXPORTER, _metrics.ATTR_REASON
    lanes = stats.exporters.items()
    return {
        "fapilog.events.emitted": {frozenset(): stats.emitted},
        "fapilog.events.exported": {frozenset(): stats.exported},
        "fapilog.events.dropped": {
            frozenset({(rs, reason)}): n for reason, n in {"queue_full": 0, **stats.dropped}.items()
        },
        "fapilog.events.in_flight": {frozenset(): stats.in_flight},
        "fapilog.queue.size": {frozenset(): stats.queued},
        "fapilog.exporter.events.exported": {frozenset({(ex, k)}): s.exported for k, s in lanes},
        "fapilog.exporter.events.in_flight": {frozenset({(ex, k)}): s.in_flight for k, s in lanes},
        "fapilog.exporter.retries": {frozenset({(ex, k)}): s.retries for k, s in lanes},
        "fapilog.exporter.events.dropped": {
            frozenset({(ex, k), (rs, reason)}): n
            for k, s in lanes
            for reason, n in s.dropped.items()
        },
    }


def durations(points: Points, exporter: str) -> Counter[str]:
    """Export calls recorded in the duration histogram for ``exporter``, by error.type."""
    calls: Counter[str] = Counter()
    for key, (count, total) in points["fapilog.exporter.export.duration"].items():
        attributes = dict(key)
        if attributes[_metrics.ATTR_EXPORTER] == exporter:
            assert total >= 0
            calls[attributes.get("error.type", "ok")] += count
    return calls


class CountingGate(GatedExporter):
    """A gated exporter that counts its export calls."""

    name = "gate"

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    async def export(self, batch: Sequence[LogEvent]) -> ExportResult:
        self.calls += 1
        return await super().export(batch)


def test_counts_equal_stats_after_drops_of_several_reasons(reader: InMemoryMetricReader) -> None:
    """queue_full, filtered and export failures: every counter equals stats(); the
    histogram has one point per export call, classified by error.type."""
    gated = CountingGate()
    flaky = RecordingExporter(
        [
            ExportResult.retryable("busy"),
            ExportResult.failure("bad request"),
            ExportResult.partial(1, "one refused"),
        ],
        name="flaky",
    )
    pipeline = Pipeline(
        exporters=[gated, flaky],
        processors=[LevelFilter("warn")],
        max_queue_size=4,
        max_export_batch_size=2,
        overflow="drop_newest",
        schedule_delay_ms=5,
        redaction=False,
    )
    try:
        log = pipeline.get_logger("shop")
        for i in range(200):  # the gated exporter holds everything up: the ring overflows
            (log.warning if i % 3 else log.info)("order", i=i)
        gated.gate.set()
        assert pipeline.flush(10)
        for i in range(20):  # one batch at a time: filtered, failed, rejected, delivered
            log.info("order", i=i)
            log.warning("order", i=i)
            log.warning("order", i=i)
            assert pipeline.flush(10)
        stats = pipeline.stats()
        points = collect(reader, pipeline)
    finally:
        pipeline.shutdown(timeout=5)

    assert stats.dropped["queue_full"] > 0
    assert stats.dropped["filtered"] > 0
    assert stats.exporters["flaky"].dropped["failed"] == 2
    assert stats.exporters["flaky"].dropped["rejected"] == 1
    assert stats.exporters["flaky"].retries == 1
    assert identity_holds(stats) and stats.in_flight == 0
    for name, want in expected(stats).items():
        assert points[name] == want, name
    # one histogram point per export call, with error.type when it did not deliver
    assert durations(points, "flaky") == {
        "retryable": 1,
        "failed": 1,
        "rejected": 1,
        "ok": flaky.calls - 3,
    }
    assert durations(points, "gate") == {"ok": gated.calls}


def test_bytes_sent_are_the_delivered_events_size_estimates(
    reader: InMemoryMetricReader,
) -> None:
    """fapilog.exporter.sent adds each delivered event's estimate_size(); a failed
    batch adds nothing."""
    good = RecordingExporter(name="good")
    bad = RecordingExporter([ExportResult.failure("no")] * 1000, name="bad")
    pipeline = Pipeline(exporters=[good, bad], schedule_delay_ms=5, redaction=False)
    try:
        log = pipeline.get_logger("shop")
        for i in range(50):
            log.info("order placed", order_id=i, note="x" * i)
        assert pipeline.flush(10)
        points = collect(reader, pipeline)
    finally:
        pipeline.shutdown(timeout=5)
    sent = points["fapilog.exporter.sent"]
    ex = _metrics.ATTR_EXPORTER
    assert sent[frozenset({(ex, "good")})] == sum(estimate_size(e) for e in good.events)
    assert sent[frozenset({(ex, "good")})] > 50 * 100
    assert sent[frozenset({(ex, "bad")})] == 0


def test_each_collection_reads_one_snapshot(reader: InMemoryMetricReader) -> None:
    """A second collection sees later events (no stale snapshot), and within one
    collection emitted == exported + dropped + in_flight."""
    exporter = RecordingExporter()
    pipeline = Pipeline(exporters=[exporter], schedule_delay_ms=5)
    try:
        log = pipeline.get_logger("shop")
        log.info("one")
        assert pipeline.flush(5)
        first = collect(reader, pipeline)
        log.info("two")
        log.info("three")
        assert pipeline.flush(5)
        second = collect(reader, pipeline)
    finally:
        pipeline.shutdown(timeout=5)
    assert first["fapilog.events.emitted"] == {frozenset(): 1}
    assert second["fapilog.events.emitted"] == {frozenset(): 3}
    assert second["fapilog.events.exported"] == {frozenset(): 3}


def test_figures_stay_after_shutdown(reader: InMemoryMetricReader) -> None:
    """A shut-down pipeline keeps reporting its final figures (a reader that collects
    at exit still sees the last events)."""
    exporter = RecordingExporter()
    pipeline = Pipeline(exporters=[exporter], schedule_delay_ms=5)
    log = pipeline.get_logger("shop")
    for _ in range(7):
        log.info("bye")
    pipeline.shutdown(timeout=5)
    points = collect(reader, pipeline)
    assert points["fapilog.events.exported"] == {frozenset(): 7}


def test_pipelines_are_told_apart(reader: InMemoryMetricReader) -> None:
    """Two pipelines: each one's series carry its own serial and its own counts."""
    a = Pipeline(exporters=[RecordingExporter()], schedule_delay_ms=5)
    b = Pipeline(exporters=[RecordingExporter()], schedule_delay_ms=5)
    try:
        a.get_logger().info("a")
        for _ in range(3):
            b.get_logger().info("b")
        assert a.flush(5) and b.flush(5)
        points_a, points_b = collect(reader, a), collect(reader, b)
    finally:
        a.shutdown(timeout=5)
        b.shutdown(timeout=5)
    assert points_a["fapilog.events.emitted"] == {frozenset(): 1}
    assert points_b["fapilog.events.emitted"] == {frozenset(): 3}


def test_metrics_off_registers_nothing_for_that_pipeline(reader: InMemoryMetricReader) -> None:
    """metrics=False: no series for the pipeline, no recorder on its lanes."""
    exporter = RecordingExporter()
    pipeline = Pipeline(exporters=[exporter], schedule_delay_ms=5, metrics=False)
    try:
        pipeline.get_logger().info("quiet")
        assert pipeline.flush(5)
        assert collect(reader, pipeline) == {}
        assert pipeline.batch_options.metrics is None
    finally:
        pipeline.shutdown(timeout=5)


def test_metrics_setting_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAPILOG_METRICS", "false")
    assert fapilog.Settings.load().metrics is False
    monkeypatch.delenv("FAPILOG_METRICS")
    assert fapilog.Settings.load().metrics is True


def test_instrument_table_is_complete() -> None:
    """docs/metrics.md lists every instrument with its kind and unit."""
    text = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    for name, (kind, unit, _) in _metrics.INSTRUMENTS.items():
        row = next((line for line in text.splitlines() if line.startswith(f"| `{name}` |")), "")
        assert row, name
        assert f"| {kind} |" in row and f"`{unit}`" in row, row


# -- the global meter provider, in a fresh interpreter ------------------------------------

_GLOBAL_SCRIPT = r"""
import json, sys
import fapilog
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

def fapilog_points(reader):
    data = reader.get_metrics_data()
    out = {}
    for rm in (data.resource_metrics if data else []):
        for sm in rm.scope_metrics:
            if sm.scope.name == "fapilog":
                for m in sm.metrics:
                    for p in m.data.data_points:
                        key = m.name + json.dumps(dict(p.attributes), sort_keys=True)
                        out[key] = p.value if hasattr(p, "value") else p.count
    return out

reader = InMemoryMetricReader()
mode = sys.argv[1]
if mode == "off":
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    fapilog.configure(exporters=["memory"], metrics=False, schedule_delay_ms=5)
else:  # "later": the pipeline exists before the application sets its provider
    fapilog.configure(exporters=["memory"], schedule_delay_ms=5)
    fapilog.get_logger().info("before the provider")
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
for _ in range(4):
    fapilog.get_logger().info("after")
fapilog.flush(5)
print(json.dumps({"points": fapilog_points(reader), "stats": fapilog.stats().as_dict()}))
"""


def _run_global(*modes: str) -> list[dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAPILOG_", "OTEL_"))}
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", _GLOBAL_SCRIPT, mode],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        for mode in modes
    ]
    results = []
    for run in runs:
        out, err = run.communicate(timeout=60)
        assert run.returncode == 0, err
        results.append(json.loads(out.splitlines()[-1]))
    return results


def test_global_provider_set_later_and_metrics_off() -> None:
    """The global meter provider gets the metrics even when the application sets it
    after the pipeline was created (the API's proxy); with metrics=False there is no
    fapilog instrument at all."""
    later, off = _run_global("later", "off")
    assert off["points"] == {}
    points, stats = later["points"], later["stats"]
    assert stats["emitted"] == stats["exported"] == 5
    assert points['fapilog.events.emitted{"fapilog.pipeline": "1"}'] == 5
    key = 'fapilog.exporter.events.exported{"fapilog.exporter": "memory", "fapilog.pipeline": "1"}'
    assert points[key] == 5
    histogram = (
        'fapilog.exporter.export.duration{"fapilog.exporter": "memory", "fapilog.pipeline": "1"}'
    )
    assert points[histogram] >= 1  # export calls made after the provider was set


# -- Prometheus ---------------------------------------------------------------------------

_SERIES = re.compile(r"^(fapilog_\w+)\{([^}]*)\} (\S+)$", re.MULTILINE)


def scrape_series(text: str, serial: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The fapilog series of one pipeline in a Prometheus text exposition."""
    series = {}
    for name, labels, value in _SERIES.findall(text):
        pairs = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        if pairs.pop("fapilog_pipeline", None) != str(serial):
            continue
        pairs = {k: v for k, v in pairs.items() if not k.startswith("otel_scope_")}
        series[(name, frozenset(pairs.items()))] = float(value)
    return series


def test_prometheus_scrape_equals_stats() -> None:
    """A real scrape of /metrics over HTTP shows the fapilog series at stats() values."""
    import httpx
    import prometheus_client
    from opentelemetry.exporter import prometheus

    registry = prometheus_client.CollectorRegistry()
    # a private registry: this test's series only, and nothing left behind
    provider = MeterProvider(metric_readers=[prometheus.PrometheusMetricReader(registry=registry)])
    unbind = _metrics.bind(provider)
    server, thread = prometheus_client.start_http_server(0, addr="127.0.0.1", registry=registry)
    failing = RecordingExporter([ExportResult.failure("no")] * 2, name="failing")
    pipeline = Pipeline(exporters=["memory", failing], schedule_delay_ms=5, redaction=False)
    try:
        log = pipeline.get_logger("shop")
        for i in range(30):
            log.info("order", i=i)
        assert pipeline.flush(5)
        stats = pipeline.stats()
        response = httpx.get(f"http://127.0.0.1:{server.server_port}/metrics", timeout=5)
    finally:
        pipeline.shutdown(timeout=5)
        server.shutdown()
        server.server_close()
        thread.join(5)
        unbind()
        provider.shutdown()
    assert response.status_code == 200
    series = scrape_series(response.text, pipeline.serial)
    assert series[("fapilog_events_emitted_total", frozenset())] == stats.emitted == 30
    assert series[("fapilog_events_exported_total", frozenset())] == stats.exported
    dropped = {
        dict(labels)["fapilog_reason"]: value
        for (name, labels), value in series.items()
        if name == "fapilog_events_dropped_total"
    }
    assert dropped == {"queue_full": 0, **stats.dropped}
    assert dropped["export_failed"] > 0
    lane = frozenset({("fapilog_exporter", "memory")})
    assert series[("fapilog_exporter_events_exported_total", lane)] == 30
    assert series[("fapilog_exporter_sent_bytes_total", lane)] > 0
    # Prometheus gives every series of a metric the same labels: error_type="" = success
    count = "fapilog_exporter_export_duration_seconds_count"
    assert series[(count, lane | {("error_type", "")})] >= 1
    failing_calls = frozenset({("fapilog_exporter", "failing"), ("error_type", "failed")})
    assert series[(count, failing_calls)] == failing.calls
    failed = frozenset({("fapilog_exporter", "failing"), ("fapilog_reason", "failed")})
    assert (
        series[("fapilog_exporter_events_dropped_total", failed)]
        == (stats.exporters["failing"].dropped["failed"])
    )


def test_prometheus_example_prints_its_scrape() -> None:
    """examples/prometheus_metrics.py serves /metrics on loopback and prints the scrape."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAPILOG_", "OTEL_"))}
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "prometheus_metrics.py"), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    series = scrape_series(done.stdout, 1)
    assert series[("fapilog_events_emitted_total", frozenset())] == 100
    assert series[("fapilog_events_exported_total", frozenset())] == 100


# -- opentelemetry-instrument -> a real collector -----------------------------------------

_APP = """
import fapilog

log = fapilog.get_logger("shop")
for i in range(25):
    log.info("order placed", order_id=i)
fapilog.flush(5)
print(fapilog.stats().emitted)
"""


_METRIC_NAME = re.compile(r"^\s*-> Name: (\S+)$", re.MULTILINE)
_ATTRIBUTE = re.compile(r"^\s*-> ([\w.]+): \w+\((.*)\)$", re.MULTILINE)
_POINT_VALUE = re.compile(r"^(?:Value|Count): (\S+)$", re.MULTILINE)


def collected_metrics(output: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """The metrics rotel printed (``--debug-log metrics``): per name, each data point's
    attributes and value (a histogram point's count)."""
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for block in re.split(r"^Metric #\d+$", output, flags=re.MULTILINE)[1:]:
        block = re.split(r"^(?:ResourceMetrics|ScopeMetrics) #", block, flags=re.MULTILINE)[0]
        name = _METRIC_NAME.search(block)
        if name is None:
            continue
        points = found.setdefault(name[1], [])
        for point in re.split(r"^\w*DataPoints #\d+$", block, flags=re.MULTILINE)[1:]:
            value = _POINT_VALUE.search(point)
            if value is not None:
                points.append((dict(_ATTRIBUTE.findall(point)), float(value[1])))
    return found


@pytest.mark.e2e
@pytest.mark.once
def test_metrics_reach_the_collector_under_opentelemetry_instrument(tmp_path: Path) -> None:
    pytest.importorskip("rotel", reason="end-to-end tests need the rotel collector")
    from fapilog.testing import RotelCollector

    (tmp_path / "app.py").write_text(_APP, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAPILOG_", "OTEL_"))}
    with RotelCollector(metrics=True, extra_args=["--debug-log", "metrics"]) as collector:
        done = subprocess.run(
            [
                str(Path(sys.executable).parent / "opentelemetry-instrument"),
                sys.executable,
                "app.py",
            ],
            cwd=tmp_path,
            env={
                **env,
                "OTEL_SERVICE_NAME": "shop",
                "OTEL_TRACES_EXPORTER": "none",
                "OTEL_METRICS_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_ENDPOINT": collector.grpc_endpoint,
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                "FAPILOG_SCHEDULE_DELAY_MS": "20",
            },
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "25"
        assert collector.wait_for(25, timeout=10) >= 25
    metrics = collected_metrics(collector.output)
    assert {
        "fapilog.events.emitted",
        "fapilog.events.exported",
        "fapilog.events.dropped",
        "fapilog.exporter.events.exported",
        "fapilog.exporter.export.duration",
    } <= set(metrics), collector.output[-3000:]
    # the final collection (the pipeline's shutdown flushes the meter provider) has all
    assert ({"fapilog.pipeline": "1"}, 25.0) in metrics["fapilog.events.emitted"]
    assert ({"fapilog.pipeline": "1"}, 25.0) in metrics["fapilog.events.exported"]
