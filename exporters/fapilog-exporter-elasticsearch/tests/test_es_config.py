"""Options: keyword arguments over FAPILOG_ELASTICSEARCH_*, validated, secrets kept secret."""

from __future__ import annotations

import base64
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from pydantic import SecretStr

import fapilog
from fapilog_exporter_elasticsearch import ElasticsearchExporter, ElasticsearchExporterOptions

ENV = "FAPILOG_ELASTICSEARCH_"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith(ENV):
            monkeypatch.delenv(name)


def test_entry_point_names_the_exporter_class() -> None:
    (entry,) = [e for e in entry_points(group="fapilog.exporters") if e.name == "elasticsearch"]
    assert entry.load() is ElasticsearchExporter
    (otel,) = [
        e for e in entry_points(group="opentelemetry_logs_exporter") if e.name == "elasticsearch"
    ]
    assert otel.value == "fapilog_exporter_elasticsearch:ElasticsearchLogRecordExporter"


def test_no_argument_construction_without_url_names_the_variable() -> None:
    with pytest.raises(fapilog.ConfigError, match=f"{ENV}URL") as info:
        ElasticsearchExporter()
    assert "url=" in str(info.value)


def test_environment_configures_everything(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not read until the first export")
    for key, value in {
        "URL": "https://es.internal:9200/",
        "API_KEY": "aWQ6a2V5",
        "DATASET": "shop",
        "NAMESPACE": "prod",
        "GZIP": "true",
        "MAX_REQUEST_BYTES": "1048576",
        "TIMEOUT": "3.5",
        "CA_FILE": str(ca),
        "VERIFY": "true",
        "FILTER_PATH": "false",
    }.items():
        monkeypatch.setenv(ENV + key, value)
    opts = ElasticsearchExporter().options
    assert opts.url == "https://es.internal:9200"
    assert opts.target == "logs-shop-prod"
    assert opts.data_stream_parts == ("logs", "shop", "prod")
    assert (opts.gzip, opts.max_request_bytes, opts.timeout) == (True, 1048576, 3.5)
    assert opts.ca_file == ca and opts.verify and not opts.filter_path
    assert opts.authorization() == SecretStr("ApiKey aWQ6a2V5")


def test_keyword_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV + "URL", "https://from-env:9200")
    monkeypatch.setenv(ENV + "NAMESPACE", "env")
    opts = ElasticsearchExporter(url="https://from-arg:9200", namespace="arg").options
    assert (opts.url, opts.namespace) == ("https://from-arg:9200", "arg")


def test_empty_variables_count_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV + "DATASET", "")
    assert ElasticsearchExporter(url="http://es:9200").options.target == "logs-generic-default"


def test_the_default_target_is_logs_generic_default() -> None:
    assert ElasticsearchExporterOptions(url="http://es:9200").target == "logs-generic-default"


def test_a_full_data_stream_name_is_split_into_its_parts() -> None:
    opts = ElasticsearchExporterOptions(url="http://es:9200", data_stream="logs-nginx.access-edge")
    assert opts.data_stream_parts == ("logs", "nginx.access", "edge")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"url": "es:9200"}, "url= argument: the URL must be an http:// or https:// URL"),
        ({"url": "https://u:pw@es:9200"}, "not in the URL"),
        ({"url": "http://es:9200", "dataset": "with-dash"}, "dataset= argument: must be"),
        ({"url": "http://es:9200", "namespace": "Upper"}, "namespace= argument"),
        ({"url": "http://es:9200", "data_stream": "metrics-a-b"}, "logs-<dataset>-<namespace>"),
        ({"url": "http://es:9200", "index": "_bad"}, "index= argument: is not a valid index"),
        ({"url": "http://es:9200", "index": "x", "dataset": "y"}, "index excludes"),
        ({"url": "http://es:9200", "username": "u"}, "must be set together"),
        ({"url": "http://es:9200", "api_key": "k", "username": "u", "password": "p"}, "not both"),
        ({"url": "http://es:9200", "max_request_bytes": 10}, "max_request_bytes= argument"),
        ({"url": "http://es:9200", "timeout": 0}, "timeout= argument"),
        ({"url": "http://es:9200", "ca_file": "/nonexistent/ca.pem"}, "does not exist"),
        ({"url": "http://es:9200", "bogus": 1}, "unknown Elasticsearch exporter option(s) bogus"),
    ],
)
def test_invalid_options_name_the_setting(options: dict[str, object], message: str) -> None:
    with pytest.raises(fapilog.ConfigError) as info:
        ElasticsearchExporter(**options)
    assert message in str(info.value)


def test_an_invalid_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV + "URL", "http://es:9200")
    monkeypatch.setenv(ENV + "GZIP", "perhaps")
    with pytest.raises(fapilog.ConfigError, match=f"{ENV}GZIP"):
        ElasticsearchExporter()


def test_secrets_never_appear_in_errors_or_reprs(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sup3r-s3cret-password-value"
    with pytest.raises(fapilog.ConfigError) as info:
        ElasticsearchExporter(url="http://es:9200", password=secret)  # no username
    assert secret not in str(info.value)
    monkeypatch.setenv(ENV + "API_KEY", secret + "\nX-Injected: 1")
    with pytest.raises(fapilog.ConfigError) as info:
        ElasticsearchExporter(url="http://es:9200")
    assert secret not in str(info.value)
    assert f"{ENV}API_KEY" in str(info.value)
    monkeypatch.delenv(ENV + "API_KEY")
    exporter = ElasticsearchExporter(url="http://es:9200", username="u", password=secret)
    assert secret not in repr(exporter) + repr(exporter.options) + str(exporter.options)


def test_redact_masks_credentials_in_server_text() -> None:
    key = "VuaCfGcBCdbkQm-e5aOx:ui2lp2axTNmsyakw9tvNnw"
    opts = ElasticsearchExporterOptions(url="http://es:9200", api_key=key)
    encoded = base64.b64encode(key.encode()).decode()
    text = opts.redact(f"bad key {encoded} / {key} / ui2lp2axTNmsyakw9tvNnw\nnext line")
    assert "ui2lp2" not in text and encoded not in text
    assert "\n" not in text


def test_basic_credentials_are_encoded() -> None:
    opts = ElasticsearchExporterOptions(url="http://es:9200", username="elastic", password="pw")
    assert opts.authorization() == SecretStr("Basic " + base64.b64encode(b"elastic:pw").decode())
    assert opts.auth_kind == "basic"


def test_options_object_or_keywords_not_both() -> None:
    opts = ElasticsearchExporterOptions(url="http://es:9200")
    with pytest.raises(TypeError):
        ElasticsearchExporter(opts, gzip=True)
    assert ElasticsearchExporter(opts).options is opts


def test_exported_names() -> None:
    import fapilog_exporter_elasticsearch as pkg

    assert sorted(pkg.__all__) == [
        "ElasticsearchExporter",
        "ElasticsearchExporterOptions",
        "ElasticsearchLogRecordExporter",
    ]
    with pytest.raises(AttributeError):
        pkg.Nope  # noqa: B018
