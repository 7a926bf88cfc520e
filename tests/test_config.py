"""Settings: precedence, OTEL_* mapping and error messages that name the fix."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fapilog import ConfigError, Pipeline, Settings


def test_defaults_are_sensible() -> None:
    """Without env or kwargs: INFO, console exporter, block policy, OTel-like batching."""
    s = Settings.load()
    assert s.level_number == 9
    assert s.exporters == ["console"]
    assert s.overflow == "block"
    assert s.max_export_batch_size == 512


def test_precedence_is_kwargs_then_fapilog_env_then_otel_env(monkeypatch) -> None:
    """kwargs > FAPILOG_* > OTEL_* > defaults, field by field."""
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-otel")
    monkeypatch.setenv("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "64")
    monkeypatch.setenv("OTEL_BLRP_SCHEDULE_DELAY", "750")
    monkeypatch.setenv("FAPILOG_MAX_EXPORT_BATCH_SIZE", "128")
    s = Settings.load()
    assert s.service_name == "from-otel"
    assert s.max_export_batch_size == 128
    assert s.schedule_delay_ms == 750
    assert Settings.load(max_export_batch_size=7).max_export_batch_size == 7
    monkeypatch.setenv("FAPILOG_SERVICE_NAME", "from-fapilog")
    assert Settings.load().service_name == "from-fapilog"


def test_otel_logs_exporter_is_a_comma_separated_list(monkeypatch) -> None:
    """OTEL_LOGS_EXPORTER=console,file maps onto exporters."""
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", "console, file")
    assert Settings.load().exporters == ["console", "file"]


def test_durations_accept_seconds_and_iso8601(monkeypatch) -> None:
    """file_rotate_every accepts 3600 and PT1H."""
    monkeypatch.setenv("FAPILOG_FILE_ROTATE_EVERY", "PT1H")
    assert Settings.load().file_rotate_every == timedelta(hours=1)
    assert Settings.load(file_rotate_every=60).file_rotate_every == timedelta(minutes=1)


def test_invalid_env_value_names_the_variable_and_the_fix(monkeypatch) -> None:
    """A bad FAPILOG_LEVEL fails naming FAPILOG_LEVEL, the value, and valid choices."""
    monkeypatch.setenv("FAPILOG_LEVEL", "LOUD")
    with pytest.raises(ConfigError) as info:
        Settings.load()
    text = str(info.value)
    assert "FAPILOG_LEVEL" in text and "'LOUD'" in text and "INFO" in text


def test_invalid_kwarg_names_the_argument() -> None:
    """A bad keyword argument is reported as an argument, with the allowed values."""
    with pytest.raises(ConfigError) as info:
        Settings.load(overflow="explode")
    assert "overflow= argument" in str(info.value)
    assert "drop_oldest" in str(info.value)


def test_invalid_otel_value_mentions_the_otel_variable(monkeypatch) -> None:
    """A bad OTEL_BLRP_* value names the OTEL variable too."""
    monkeypatch.setenv("OTEL_BLRP_MAX_QUEUE_SIZE", "-5")
    with pytest.raises(ConfigError, match="OTEL_BLRP_MAX_QUEUE_SIZE"):
        Settings.load()


def test_unknown_setting_lists_known_ones() -> None:
    """A misspelt keyword fails and lists the real settings."""
    with pytest.raises(ConfigError, match="known settings"):
        Settings.load(levle="info")


def test_unknown_exporter_name_lists_known_ones() -> None:
    """An unknown exporter name fails with the available names."""
    with pytest.raises(ConfigError, match="console"):
        Pipeline(exporters=["carrier-pigeon"])


def test_file_exporter_without_path_says_how_to_set_it() -> None:
    """exporters=file without file_path fails naming FAPILOG_FILE_PATH."""
    with pytest.raises(ConfigError, match="FAPILOG_FILE_PATH"):
        Pipeline(exporters=["file"])


def test_settings_are_frozen() -> None:
    """Settings cannot be mutated after validation."""
    s = Settings.load()
    with pytest.raises(Exception, match="frozen"):
        s.level = "DEBUG"  # type: ignore[misc]


def test_service_name_reaches_the_resource(monkeypatch) -> None:
    """service_name and OTEL_RESOURCE_ATTRIBUTES end up in the pipeline's Resource."""
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod")
    pipeline = Pipeline(exporters=[], service_name="checkout")
    attrs = pipeline.resource.attributes
    assert attrs["service.name"] == "checkout"
    assert attrs["deployment.environment"] == "prod"
    assert "host.name" in attrs and "process.pid" in attrs
    pipeline.shutdown()


def test_exporter_names_from_env_are_resolved(monkeypatch) -> None:
    """FAPILOG_EXPORTERS=memory builds an in-memory exporter; none builds nothing."""
    monkeypatch.setenv("FAPILOG_EXPORTERS", "memory")
    pipeline = Pipeline()
    assert [e.name for e in pipeline.exporters] == ["memory"]
    pipeline.shutdown()
    monkeypatch.setenv("FAPILOG_EXPORTERS", "memory,none")
    pipeline = Pipeline()
    assert pipeline.exporters == []
    pipeline.shutdown()


def test_logging_level_numbers_are_accepted_as_int_or_digits(monkeypatch) -> None:
    """level=logging.DEBUG and FAPILOG_LEVEL=10 mean DEBUG; the number is kept as digits."""
    import logging

    assert Settings.load(level=logging.DEBUG).level == "10"
    assert Settings.load(level=logging.DEBUG).level_number == 5
    monkeypatch.setenv("FAPILOG_LEVEL", " 30 ")
    assert Settings.load().level_number == 13


def test_an_error_names_the_variable_that_was_actually_set(monkeypatch) -> None:
    """FAPILOG_* wins over OTEL_*: the message names the one in effect, not both."""
    monkeypatch.setenv("OTEL_BLRP_MAX_QUEUE_SIZE", "-5")
    with pytest.raises(ConfigError) as info:
        Settings.load()
    assert "OTEL_BLRP_MAX_QUEUE_SIZE:" in str(info.value)
    assert "FAPILOG_MAX_QUEUE_SIZE" not in str(info.value)
    assert info.value.fields == ("max_queue_size",)
    monkeypatch.setenv("FAPILOG_MAX_QUEUE_SIZE", "0")
    with pytest.raises(ConfigError) as info:
        Settings.load()
    assert "FAPILOG_MAX_QUEUE_SIZE:" in str(info.value)


def test_source_says_where_a_value_came_from(monkeypatch) -> None:
    """Argument, FAPILOG_*, OTEL_* or default: used to name the setting in messages."""
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", "memory")
    monkeypatch.setenv("FAPILOG_LEVEL", "debug")
    s = Settings.load(service_name="shop")
    assert s.source("service_name") == "service_name= argument"
    assert s.source("exporters") == "OTEL_LOGS_EXPORTER"
    assert s.source("level") == "FAPILOG_LEVEL"
    assert s.source("overflow") == "default"


def test_defaults_ignore_the_environment(monkeypatch) -> None:
    """Settings.defaults() (the last-resort fallback) reads no variable at all."""
    monkeypatch.setenv("FAPILOG_LEVEL", "LOUD")
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", "otpl")
    s = Settings.defaults(redaction=True)
    assert s.level == "INFO" and s.exporters == ["console"]
    assert isinstance(s, Settings) and repr(s).startswith("Settings(")


def test_config_error_keeps_its_fields_through_pickling() -> None:
    """ConfigError.fields survives a round trip (multiprocessing, logging of errors)."""
    import pickle

    error = pickle.loads(pickle.dumps(ConfigError("bad", fields=("level",))))
    assert str(error) == "bad" and error.fields == ("level",)
