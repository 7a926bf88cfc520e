"""FapilogDistro: fapilog's defaults for opentelemetry-instrument; the user's env wins."""

from __future__ import annotations

import os
from importlib.metadata import entry_points

import pytest
from opentelemetry.instrumentation.distro import BaseDistro
from opentelemetry.sdk._configuration import _BaseConfigurator

from fapilog.otel import FapilogConfigurator, FapilogDistro
from fapilog.otel._distro import DEFAULTS


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset OTEL_*/FAPILOG_*; the distro's writes are undone after each test too."""
    for name in [*os.environ, *DEFAULTS]:
        if name.startswith(("OTEL_", "FAPILOG_")):
            # setenv first so monkeypatch remembers the variable and restores it
            # (removes it) even though the distro, not monkeypatch, sets it.
            monkeypatch.setenv(name, os.environ.get(name, ""))
            monkeypatch.delenv(name)


def test_unset_variables_get_the_documented_defaults() -> None:
    FapilogDistro().configure()
    assert {name: os.environ[name] for name in DEFAULTS} == {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_LOGS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_PYTHON_CONFIGURATOR": "fapilog",
    }


def test_variables_the_user_set_are_never_changed_even_when_empty(monkeypatch) -> None:
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", "console,file")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "")
    monkeypatch.setenv("OTEL_PYTHON_CONFIGURATOR", "configurator")
    FapilogDistro().configure()
    assert os.environ["OTEL_LOGS_EXPORTER"] == "console,file"
    assert os.environ["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
    assert os.environ["OTEL_METRICS_EXPORTER"] == ""
    assert os.environ["OTEL_PYTHON_CONFIGURATOR"] == "configurator"
    assert os.environ["OTEL_TRACES_EXPORTER"] == "otlp"


def test_the_entry_points_name_the_distro_and_the_configurator() -> None:
    [distro] = entry_points(group="opentelemetry_distro", name="fapilog")
    [configurator] = entry_points(group="opentelemetry_configurator", name="fapilog")
    assert distro.load() is FapilogDistro and issubclass(FapilogDistro, BaseDistro)
    assert configurator.load() is FapilogConfigurator
    assert issubclass(FapilogConfigurator, _BaseConfigurator)


def test_unknown_attributes_of_the_package_raise_attribute_error() -> None:
    import fapilog.otel

    with pytest.raises(AttributeError, match="Nope"):
        fapilog.otel.Nope  # noqa: B018
