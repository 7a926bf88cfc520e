"""Built-in processors and the OTel processor adapters in both directions."""

from __future__ import annotations

from opentelemetry.sdk._logs import LoggerProvider, LogRecordProcessor, ReadWriteLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

from fapilog import LogEvent, Pipeline, Processor
from fapilog.processors import FapilogLogRecordProcessor, LevelFilter, OTelProcessor
from support import RecordingExporter


class AddTeam(LogRecordProcessor):
    """An OTel SDK processor that adds an attribute and upper-cases the body."""

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        log_record.log_record.attributes["team"] = "payments"  # type: ignore[index]
        log_record.log_record.body = str(log_record.log_record.body).upper()

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class DropHealthChecks(Processor):
    def on_emit(self, event: LogEvent) -> bool:
        return event.attributes.get("path") != "/health"


def test_otel_processors_run_inside_a_fapilog_pipeline() -> None:
    """An OTel LogRecordProcessor's changes show up in exported events."""
    exporter = RecordingExporter()
    pipeline = Pipeline(exporters=[exporter], processors=[OTelProcessor(AddTeam())])
    pipeline.get_logger("x").info("paid", order=1)
    assert pipeline.flush(5)
    (event,) = exporter.events
    assert event.body == "PAID"
    assert event.attributes == {"order": 1, "team": "payments"}
    pipeline.shutdown()


def test_fapilog_processors_run_inside_a_plain_otel_logger_provider() -> None:
    """A fapilog processor filters and mutates records in an OTel LoggerProvider."""
    memory = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(
        FapilogLogRecordProcessor(DropHealthChecks(), SimpleLogRecordProcessor(memory))
    )
    logger = provider.get_logger("web")
    logger.emit(body="GET /health", attributes={"path": "/health"})
    logger.emit(body="GET /orders", attributes={"path": "/orders"})
    bodies = [r.log_record.body for r in memory.get_finished_logs()]
    assert bodies == ["GET /orders"]
    provider.shutdown()


def test_level_filter_uses_the_longest_logger_prefix() -> None:
    """LevelFilter applies per-logger thresholds by longest dotted prefix."""
    rules = LevelFilter("info", {"db": "warning", "db.migrations": "debug"})
    assert rules.threshold("app") == 9
    assert rules.threshold("db.pool") == 13
    assert rules.threshold("db.migrations.v2") == 5
    assert rules.threshold("dbx") == 9
    exporter = RecordingExporter()
    pipeline = Pipeline(exporters=[exporter], level="debug", processors=[rules])
    pipeline.get_logger("db.pool").info("hidden")
    pipeline.get_logger("db.pool").warning("shown")
    pipeline.get_logger("db.migrations").debug("shown too")
    assert pipeline.flush(5)
    assert [e.body for e in exporter.events] == ["shown", "shown too"]
    assert pipeline.stats().dropped == {"filtered": 1}
    pipeline.shutdown()
