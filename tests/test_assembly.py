"""Pipeline assembly: what settings and code's arguments turn into."""

from __future__ import annotations

import pytest

from fapilog import ConfigError, Pipeline, Settings
from fapilog._retry import RetryPolicy
from fapilog.pipeline._assembly import assemble


def test_processors_argument_replaces_the_processors_setting() -> None:
    settings = Settings.load(processors=["no-such-processor"])
    with pytest.raises(ConfigError, match="no-such-processor"):
        assemble(settings, exporters=[], processors=None, resource=None)
    parts = assemble(settings, exporters=[], processors=[], resource=None)
    assert parts.processors[:2] == [parts.span_processor, parts.bound_processor]


def test_batch_options_carry_the_retry_policy_of_the_settings() -> None:
    settings = Settings.load(retry_initial_backoff_ms=20, retry_max_backoff_ms=300)
    pipeline = Pipeline(settings, exporters=[])
    try:
        assert pipeline.batch_options.retry == RetryPolicy.from_settings(settings)
        assert pipeline.batch_options.retry.max_backoff == 0.3
    finally:
        pipeline.shutdown(5)


def test_exporters_by_name_with_options() -> None:
    pipeline = Pipeline(exporters={"memory": {}})
    try:
        assert [type(e).__name__ for e in pipeline.exporters] == ["InMemoryExporter"]
    finally:
        pipeline.shutdown(5)
