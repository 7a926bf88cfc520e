"""The OTel adapter retries with the one RetryPolicy, chosen like a pipeline lane's."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, ClassVar

import pytest
from opentelemetry.sdk._logs.export import LogRecordExportResult

from fapilog import ConfigError, Exporter, ExportResult, LogEvent, Settings
from fapilog._diagnostics import reporter
from fapilog._retry import RetryPolicy
from fapilog.otel import FapilogLogRecordExporter

if TYPE_CHECKING:
    from collections.abc import Sequence

NO_PAUSE = RetryPolicy(initial_backoff=0.0, max_backoff=0.0)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("OTEL_", "FAPILOG_")):
            monkeypatch.delenv(name)


class AlwaysBusy(Exporter):
    name = "busy"

    def __init__(self) -> None:
        self.calls = 0

    async def export(self, batch: Sequence[LogEvent]) -> ExportResult:
        self.calls += 1
        return ExportResult.retryable("busy")


class OwnPolicy(AlwaysBusy):
    retry_policy: ClassVar[RetryPolicy | None] = RetryPolicy(
        initial_backoff=0.0, max_backoff=0.0, max_attempts=2
    )


def _export(exporter: FapilogLogRecordExporter) -> LogRecordExportResult:
    record = LogEvent(timestamp=1_700_000_000_000_000_000, body="x").to_readable()
    try:
        return exporter.export([record])
    finally:
        exporter.shutdown()


def test_max_attempts_of_the_given_policy_bounds_the_calls(capfd) -> None:
    reporter.reset()
    inner = AlwaysBusy()
    policy = RetryPolicy(initial_backoff=0.0, max_backoff=0.0, max_attempts=3)
    adapter = FapilogLogRecordExporter(inner, timeout=10, retry=policy)
    assert adapter.retry is policy
    assert _export(adapter) is LogRecordExportResult.FAILURE
    assert inner.calls == 3
    assert reporter.flush(5)
    assert "gave up after 3 attempt(s) within the retry policy's max_attempts: busy" in (
        capfd.readouterr().err
    )


def test_the_exporters_own_policy_wins_over_the_argument() -> None:
    inner = OwnPolicy()
    adapter = FapilogLogRecordExporter(inner, timeout=10, retry=NO_PAUSE)
    assert adapter.retry is OwnPolicy.retry_policy
    assert _export(adapter) is LogRecordExportResult.FAILURE
    assert inner.calls == 2


def test_without_either_the_retry_settings_give_the_policy(monkeypatch) -> None:
    monkeypatch.setenv("FAPILOG_RETRY_INITIAL_BACKOFF_MS", "1")
    monkeypatch.setenv("FAPILOG_RETRY_MAX_BACKOFF_MS", "2")
    monkeypatch.setenv("FAPILOG_RETRY_MAX_ATTEMPTS", "4")
    inner = AlwaysBusy()
    adapter = FapilogLogRecordExporter(inner, timeout=10)
    assert adapter.retry == RetryPolicy(initial_backoff=0.001, max_backoff=0.002, max_attempts=4)
    assert _export(adapter) is LogRecordExportResult.FAILURE
    assert inner.calls == 4


def test_retry_settings_defaults_env_and_validation(monkeypatch) -> None:
    defaults = Settings.defaults()
    assert (defaults.retry_initial_backoff_ms, defaults.retry_max_backoff_ms) == (100, 1000)
    assert defaults.retry_max_attempts is None
    assert RetryPolicy.from_settings(defaults) == RetryPolicy()
    monkeypatch.setenv("FAPILOG_RETRY_MAX_BACKOFF_MS", "50")
    with pytest.raises(ConfigError) as caught:
        Settings.load()
    assert str(caught.value) == (
        "invalid fapilog configuration:\n"
        "  - retry_initial_backoff_ms (100, from FAPILOG_RETRY_INITIAL_BACKOFF_MS) is larger "
        "than retry_max_backoff_ms (50, from FAPILOG_RETRY_MAX_BACKOFF_MS): the first pause "
        "cannot exceed the ceiling; set the initial backoff to at most 50 or raise the maximum"
    )
    assert caught.value.fields == ("retry_initial_backoff_ms", "retry_max_backoff_ms")
    for name, value in (
        ("retry_max_attempts", 0),
        ("retry_initial_backoff_ms", 0),
        ("retry_max_backoff_ms", -1),
    ):
        with pytest.raises(ConfigError, match=f"{name}= argument: Input should be greater than 0"):
            Settings.defaults(**{name: value})
