"""fapilog.plugin: API versioning, the diagnostics hook and the plugin base classes' hooks."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

import fapilog
import fapilog.config
from fapilog import plugin
from fapilog._diagnostics import reporter
from fapilog.plugin import Exporter, ExportResult, LogEvent, Processor, RetryPolicy

if TYPE_CHECKING:
    from collections.abc import Sequence


@pytest.mark.parametrize(
    ("declared", "compatible", "says"),
    [
        (None, True, "does not declare api_version; assumed 1.0"),
        ("1.0", True, "written for plugin API 1.0; this fapilog provides 1.1"),
        ("1", True, "provides 1.1"),
        ("1.0.7", True, "provides 1.1"),
        ("1.1", True, "written for plugin API 1.1; this fapilog provides 1.1"),
        ("1.2", False, "newer than this fapilog's 1.1; upgrade fapilog"),
        ("0.9", False, "different major version"),
        ("2.0", False, "different major version"),
        ("one", False, "not a version like '1.1'"),
        ("", False, "not a version like '1.1'"),
        ("1.x", False, "not a version like '1.1'"),
    ],
)
def test_check_api_version(declared: str | None, compatible: bool, says: str) -> None:
    ok, reason = plugin.check_api_version(declared)
    assert ok is compatible
    assert says in reason


def test_check_api_version_never_raises_on_a_declaration_of_the_wrong_type() -> None:
    ok, reason = plugin.check_api_version(1.0)  # type: ignore[arg-type]
    assert not ok
    assert "1.0" in reason


def test_api_version_is_major_dot_minor() -> None:
    major, minor = plugin.API_VERSION.split(".")
    assert major.isdigit()
    assert minor.isdigit()


def test_report_goes_through_the_rate_limited_reporter_under_its_own_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[str, str]] = []
    monkeypatch.setattr(reporter, "report", lambda key, message: seen.append((key, message)))
    plugin.report("rejected:mine", "3 records rejected")
    assert seen == [("plugin:rejected:mine", "3 records rejected")]


def test_report_never_raises_into_the_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(key: str, message: str) -> None:
        raise RuntimeError("stderr is gone")

    monkeypatch.setattr(reporter, "report", broken)
    plugin.report("k", "m")  # no exception


def test_public_names_are_the_core_objects_themselves() -> None:
    assert plugin.ConfigError is fapilog.config.ConfigError
    assert plugin.ConfigTypeError is fapilog.config.ConfigTypeError
    assert plugin.LogEvent is fapilog.LogEvent
    assert plugin.Exporter is fapilog.exporters.Exporter
    assert plugin.Processor is fapilog.processors.Processor


class _Plain(Processor):
    def on_emit(self, event: LogEvent) -> bool | None:
        return None


class _Masking(Processor):
    api_version = "1.0"
    keeps_size = True

    def on_emit(self, event: LogEvent) -> bool | None:
        return None

    def counts(self) -> dict[str, int]:
        return {"masked": 2}


def test_processor_hooks_default_to_not_declared_may_grow_and_no_counts() -> None:
    assert _Plain.api_version is None
    assert _Plain.keeps_size is False
    assert dict(_Plain().counts()) == {}


def test_processor_hooks_are_overridden_by_a_subclass() -> None:
    assert _Masking.api_version == "1.0"
    assert _Masking.keeps_size is True
    assert _Masking().counts() == {"masked": 2}


class _Sink(Exporter):
    async def export(self, batch: Sequence[LogEvent]) -> ExportResult:
        return ExportResult.success()


def test_exporter_has_no_policy_or_version_unless_it_sets_one() -> None:
    sink = _Sink()
    assert sink.retry_policy is None
    assert _Sink.api_version is None
    sink.retry_policy = RetryPolicy(max_attempts=2)
    assert sink.retry_policy.max_attempts == 2
    assert _Sink.retry_policy is None  # the instance attribute does not leak to the class
