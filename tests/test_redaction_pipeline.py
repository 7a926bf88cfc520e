"""Redaction in the pipeline: on by default, before user processors and every exporter."""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING

import pytest

import fapilog
from fapilog import LogEvent, Pipeline, Processor, Settings
from fapilog.exporters.console import ConsoleExporter
from fapilog.exporters.file import FileExporter
from fapilog.redaction import MASK, REDACTED_ATTRIBUTE, RedactionProcessor
from support import RecordingExporter

if TYPE_CHECKING:
    from pathlib import Path

    from fapilog.testing._rotel import RotelCollector


class Spy(Processor):
    """A user processor that remembers the attributes it was shown."""

    def __init__(self) -> None:
        self.seen: list[dict[str, object]] = []

    def on_emit(self, event: LogEvent) -> None:
        self.seen.append(dict(event.attributes))


def test_redaction_is_on_by_default_and_runs_before_user_processors() -> None:
    """User processors and exporters only ever see redacted values."""
    spy = Spy()
    exporter = RecordingExporter()
    pipeline = Pipeline(exporters=[exporter], processors=[spy], schedule_delay_ms=5)
    with fapilog.bind_context(session="bound-secret-1"):
        pipeline.get_logger("t").info("login", password="hunter2", user="u1")
    assert pipeline.flush(5)
    pipeline.shutdown(5)
    assert spy.seen[0]["password"] == MASK
    assert spy.seen[0]["session"] == MASK  # bound context is redacted too
    (event,) = exporter.events
    assert event.attributes["password"] == MASK
    assert event.attributes["user"] == "u1"
    assert event.attributes[REDACTED_ATTRIBUTE] == ["secret_key"]
    kinds = [type(p) for p in pipeline.processors]
    assert kinds.index(RedactionProcessor) < kinds.index(Spy)


def test_redaction_can_be_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """FAPILOG_REDACTION=false leaves events as logged and adds no processor."""
    monkeypatch.setenv("FAPILOG_REDACTION", "false")
    exporter = RecordingExporter()
    pipeline = Pipeline(exporters=[exporter], schedule_delay_ms=5)
    pipeline.get_logger("t").info("login", password="hunter2")
    assert pipeline.flush(5)
    pipeline.shutdown(5)
    assert exporter.events[0].attributes == {"password": "hunter2"}
    assert not any(isinstance(p, RedactionProcessor) for p in pipeline.processors)


def test_redaction_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Allow-list and HMAC key come from FAPILOG_* variables; the key stays secret."""
    monkeypatch.setenv("FAPILOG_REDACTION_ALLOW_KEYS", "user, http.*")
    monkeypatch.setenv("FAPILOG_REDACTION_HMAC_KEY", "k3y-material")
    s = Settings.load()
    assert s.redaction is True
    assert s.redaction_allow_keys == ["user", "http.*"]
    assert s.redaction_hmac_key is not None
    assert "k3y-material" not in repr(s) and "k3y-material" not in str(s)
    exporter = RecordingExporter()
    pipeline = Pipeline(s, exporters=[exporter], schedule_delay_ms=5)
    pipeline.get_logger("t").info("x", user="u1", other="dropped", **{"http.method": "GET"})
    assert pipeline.flush(5)
    pipeline.shutdown(5)
    assert exporter.events[0].attributes == {
        "user": "u1",
        "http.method": "GET",
        REDACTED_ATTRIBUTE: ["allow_list"],
    }


# -- the corpus: every secret must be absent from every exporter's output ---------------

CARDS = ["4111111111111111", "5500005555555559", "378282246310005", "6011111111111117"]
SSNS = ["123-45-6789", "078-05-1120"]
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiJ1c2VyLTQyIiwicm9sZSI6ImFkbWluIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
AWS_ID = "AKIAZ7QRSTUVWXY23456"
AWS_SECRET = "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"
GCP_KEY = "AIzaSyB7xK9mQ2vL4nR8tW1zP5cJ3hF6gD0sA-E"
AZURE_KEY = "dGhpcyBpcyBub3QgYSByZWFsIGF6dXJlIGtleSBidXQgbG9va3MgbGlrZSBvbmU0MjQyNDI0Mg=="
KEY_SPELLINGS = [
    "password",
    "Password",
    "PASSWORD",
    "db_password",
    "userPassword",
    "passwd",
    "pwd",
    "secret",
    "client_secret",
    "token",
    "accessToken",
    "refresh-token",
    "api_key",
    "API-Key",
    "apiKey",
    "x_api_key",
    "X-Api-Key",
    "authorization",
    "Cookie",
    "set-cookie",
    "session",
    "sessionId",
    "private_key",
    "credentials",
    "ssn",
    "creditCard",
    "card_number",
    "cvv",
]
ORDER_IDS = [
    "ord-4111111111111112",
    "order_20240115_000123",
    "550e8400-e29b-41d4-a716-446655440000",
]


def _secret_for(i: int) -> str:
    return f"Zq{i:03d}xSecretVal"


def _log_corpus(log: fapilog.Logger) -> tuple[list[str], int]:
    """Log the corpus; return (secret substrings, number of events)."""
    secrets: list[str] = [*CARDS, *SSNS, JWT, AWS_ID, AWS_SECRET, GCP_KEY, AZURE_KEY, "hunter2pw"]
    n = 0
    for i, key in enumerate(KEY_SPELLINGS):
        log.info("field spelling", **{key: _secret_for(i)}, order_id=ORDER_IDS[0])
        secrets.append(_secret_for(i))
        n += 1
    for card in CARDS:
        log.info(f"payment by {card} for {ORDER_IDS[0]}", amount=12.5)
        log.info("list", cards=[card, ORDER_IDS[1]], nested={"deep": [{"pan_text": card}]})
        n += 2
    for ssn in SSNS:
        log.warning(f"applicant ssn {ssn}", applicant={"notes": f"ssn is {ssn}"})
        n += 1
    log.info("auth", header=f"Bearer {JWT}", raw=JWT, version="1.2.3")
    log.info("cloud", aws=f"{AWS_ID}:{AWS_SECRET}", gcp=GCP_KEY, request_id=ORDER_IDS[2])
    log.info("azure", conn=f"DefaultEndpointsProtocol=https;AccountName=a;AccountKey={AZURE_KEY}")
    log.info("dsn", url="postgres://app:hunter2pw@db:5432/orders")
    n += 4
    doc = {"user": "u1", "apiKey": _secret_for(900), "card": CARDS[0], "ids": ORDER_IDS}
    secrets.append(_secret_for(900))
    log.info("json in a string", payload=json.dumps(doc), body_json=json.dumps([doc]))
    n += 1
    try:
        raise ValueError(
            f"charge failed for card {CARDS[1]}, token={_secret_for(901)}, jwt {JWT}, ssn {SSNS[0]}"
        )
    except ValueError:
        log.exception("payment error", order_id=ORDER_IDS[1])
    secrets.append(_secret_for(901))
    n += 1
    with fapilog.bind_context(api_key=_secret_for(902)):
        log.info("bound")
    secrets.append(_secret_for(902))
    n += 1
    return secrets, n


def test_secret_corpus_never_reaches_console_file_or_collector(
    tmp_path: Path, rotel_collector: RotelCollector
) -> None:
    """No secret substring appears in console, file or OTLP output; non-secrets survive."""
    from fapilog.exporters.otlp import OTLPExporter

    stream = io.StringIO()
    pipeline = Pipeline(
        exporters=[
            ConsoleExporter(stream=stream, format="json"),
            FileExporter(tmp_path / "app.jsonl"),
            OTLPExporter(endpoint=rotel_collector.grpc_endpoint),
        ],
        schedule_delay_ms=5,
    )
    secrets, n = _log_corpus(pipeline.get_logger("corpus"))
    assert pipeline.flush(10)
    assert pipeline.shutdown(10)
    assert rotel_collector.wait_for(n, timeout=15) == n
    stats = pipeline.stats()
    assert sum(stats.dropped.values()) == 0, stats

    outputs = {
        "console": stream.getvalue().encode(),
        "collector": rotel_collector.output.encode(),
    }
    for path in tmp_path.rglob("*"):
        if path.is_file():
            outputs[f"file:{path.name}"] = path.read_bytes()
    assert len(outputs) >= 3
    for where, data in outputs.items():
        assert data, where
        leaked = [s for s in secrets if s.encode() in data]
        assert leaked == [], f"{where} leaked {leaked}"
        # Non-secrets come through untouched.
        for keep in (*ORDER_IDS, "1.2.3", "field spelling", "payment error"):
            assert keep.encode() in data, (where, keep)
        assert b"1111" in data  # the last four digits of a card are kept
