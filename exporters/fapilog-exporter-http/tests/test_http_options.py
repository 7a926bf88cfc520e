"""Options: keyword arguments over FAPILOG_HTTP_* variables, validation, secrecy."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

import fapilog
import fapilog_exporter_http
from fapilog_exporter_http import HTTPExporter, HTTPExporterOptions

SECRET = "sk-live-9d8c7b6a5f4e3d2c1b0a"
URL = "https://logs.example.com/ingest"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("FAPILOG_HTTP_"):
            monkeypatch.delenv(name)


def test_the_package_exports_exactly_its_public_names() -> None:
    assert sorted(fapilog_exporter_http.__all__) == [
        "HTTPExporter",
        "HTTPExporterOptions",
        "HTTPLogRecordExporter",
    ]
    for name in fapilog_exporter_http.__all__:
        assert getattr(fapilog_exporter_http, name) is not None
    with pytest.raises(AttributeError):
        fapilog_exporter_http.nothing_here  # noqa: B018


def test_every_setting_is_read_from_its_environment_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    env = {
        "URL": URL + "?stream=app",
        "METHOD": "put",
        "FORMAT": "JSON",
        "COMPRESSION": "gzip",
        "HEADERS": f"X-Api-Key={SECRET},X-Tenant=a%2Cb",
        "MAX_REQUEST_BYTES": "65536",
        "TIMEOUT": "3.5",
        "VERIFY": "false",
        "CA_FILE": str(ca),
        "INCLUDE_RESOURCE": "true",
        "IDEMPOTENCY_HEADER": "X-Request-Id",
    }
    for key, value in env.items():
        monkeypatch.setenv(f"FAPILOG_HTTP_{key}", value)
    opts = HTTPExporterOptions.resolve()
    assert opts.url == URL + "?stream=app"
    assert (opts.method, opts.format, opts.compression) == ("PUT", "json", "gzip")
    assert {k: v.get_secret_value() for k, v in opts.headers.items()} == {
        "x-api-key": SECRET,
        "x-tenant": "a,b",
    }
    assert (opts.max_request_bytes, opts.timeout) == (65536, 3.5)
    assert opts.verify is False and opts.ca_file == ca
    assert opts.include_resource is True
    assert opts.idempotency_header == "X-Request-Id"


@pytest.mark.parametrize("auth", ["BEARER_TOKEN", "BASIC_AUTH"])
def test_credentials_are_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, auth: str
) -> None:
    monkeypatch.setenv("FAPILOG_HTTP_URL", URL)
    monkeypatch.setenv(f"FAPILOG_HTTP_{auth}", f"user:{SECRET}")
    authorization = HTTPExporterOptions.resolve().authorization()
    assert authorization is not None
    assert authorization.get_secret_value().startswith(
        "Bearer " if auth == "BEARER_TOKEN" else "Basic "
    )


def test_headers_may_be_a_json_object_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAPILOG_HTTP_URL", URL)
    monkeypatch.setenv("FAPILOG_HTTP_HEADERS", '{"X-Api-Key": "a,b=c"}')
    (value,) = HTTPExporterOptions.resolve().headers.values()
    assert value.get_secret_value() == "a,b=c"


def test_defaults() -> None:
    opts = HTTPExporterOptions.resolve(url=URL)
    assert (opts.method, opts.format, opts.compression) == ("POST", "ndjson", "none")
    assert opts.headers == {} and opts.bearer_token is None and opts.basic_auth is None
    assert opts.max_request_bytes == 1_000_000 and opts.timeout == 10.0
    assert opts.verify is True and opts.ca_file is None
    assert opts.include_resource is False
    assert opts.idempotency_header == "Idempotency-Key"


def test_keyword_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAPILOG_HTTP_URL", "https://from-env/ingest")
    monkeypatch.setenv("FAPILOG_HTTP_FORMAT", "json")
    exporter = HTTPExporter(url=URL)
    assert exporter.options.url == URL
    assert exporter.options.format == "json"


def test_a_token_pasted_with_its_scheme_is_accepted() -> None:
    opts = HTTPExporterOptions.resolve(url=URL, bearer_token=f"Bearer {SECRET}")
    assert opts.bearer_token is not None
    assert opts.bearer_token.get_secret_value() == SECRET


def test_no_argument_construction_names_the_missing_variable() -> None:
    """The registry builds the exporter with only the configured options."""
    with pytest.raises(fapilog.ConfigError, match="FAPILOG_HTTP_URL is not set"):
        HTTPExporter()


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"url": "logs.example.com"}, "url= argument: must be an http:// or https:// URL"),
        ({"url": "https://user:pw@logs.example.com"}, "must not contain credentials"),
        ({"url": "https://logs:99999"}, "port must be a number"),
        ({"method": "PATCH"}, "method= argument"),
        ({"format": "xml"}, "format= argument"),
        ({"compression": "zstd"}, "compression= argument"),
        ({"max_request_bytes": 10}, "max_request_bytes= argument"),
        ({"timeout": 0}, "timeout= argument"),
        ({"ca_file": "/nonexistent/ca.pem"}, "does not exist"),
        ({"headers": {"bad header": "x"}}, "is not a valid HTTP token"),
        ({"headers": {"content-length": "1"}}, "set by the exporter"),
        ({"headers": {"x-key": "a\nb"}}, "control characters"),
        ({"headers": "novalue"}, "entry 1 is not name=value"),
        ({"basic_auth": "nocolon"}, "must be user:password"),
        ({"bearer_token": SECRET, "basic_auth": "u:p"}, "give one authorization"),
        ({"bearer_token": SECRET, "headers": {"Authorization": "x"}}, "give one authorization"),
        ({"idempotency_header": "bad name"}, "valid HTTP header name"),
        ({"bogus": 1}, "unknown HTTP exporter option(s) bogus"),
    ],
)
def test_invalid_values_name_the_setting(kwargs: dict[str, object], fragment: str) -> None:
    values: dict[str, object] = {"url": URL, **kwargs}
    with pytest.raises(fapilog.ConfigError) as info:
        HTTPExporter(**values)  # type: ignore[arg-type]
    assert fragment in str(info.value)
    assert info.value.__cause__ is None and info.value.__context__ is None


@pytest.mark.parametrize(
    ("variable", "value"),
    [("VERIFY", "maybe"), ("TIMEOUT", "soon"), ("FORMAT", "xml"), ("HEADERS", "{not json")],
)
def test_an_invalid_environment_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv("FAPILOG_HTTP_URL", URL)
    monkeypatch.setenv(f"FAPILOG_HTTP_{variable}", value)
    with pytest.raises(fapilog.ConfigError, match=f"FAPILOG_HTTP_{variable}"):
        HTTPExporter()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"bearer_token": f"bad token {SECRET}"},
        {"basic_auth": f"user:{SECRET}\n"},
        {"headers": {"x-key": f"{SECRET}\r\nX-Injected: 1"}},
        {"headers": f"x-key={SECRET},broken"},
        {"headers": {"bad name": SECRET}},
    ],
)
def test_a_credential_never_appears_in_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(fapilog.ConfigError) as info:
        HTTPExporter(url=URL, **kwargs)  # type: ignore[arg-type]
    assert SECRET not in str(info.value)


def test_credentials_never_appear_in_reprs_and_are_not_pickled() -> None:
    exporters = [
        HTTPExporter(url=URL + f"?api_key={SECRET}", bearer_token=SECRET),
        HTTPExporter(url=URL, basic_auth=f"ingest:{SECRET}", headers={"X-Key": SECRET}),
    ]
    for exporter in exporters:
        opts = exporter.options
        for text in (repr(exporter), str(exporter), repr(opts), str(opts), str(opts.model_dump())):
            assert SECRET not in text
        assert opts.redact(f"echo {SECRET}!") == "echo ***!"
        with pytest.raises(TypeError, match="holds a secret"):
            pickle.dumps(opts)
    assert "url='https://logs.example.com/ingest?***'" in repr(exporters[0])
    assert "headers=['x-key']" in repr(exporters[1]) and "auth='basic'" in repr(exporters[1])


def test_options_object_and_keywords_are_exclusive() -> None:
    opts = HTTPExporterOptions.resolve(url=URL)
    assert HTTPExporter(opts).options is opts
    with pytest.raises(TypeError):
        HTTPExporter(opts, format="json")
