"""Options: keyword arguments over FAPILOG_SPLUNK_* variables, validation, secrecy."""

from __future__ import annotations

from pathlib import Path

import pytest

import fapilog
import fapilog_exporter_splunk
from fapilog.exporters._registry import exporter_by_name
from fapilog_exporter_splunk import SplunkHECExporter, SplunkHECOptions

SECRET = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("FAPILOG_SPLUNK_"):
            monkeypatch.delenv(name)


def test_the_package_exports_exactly_its_public_names() -> None:
    assert sorted(fapilog_exporter_splunk.__all__) == [
        "SplunkHECExporter",
        "SplunkHECLogRecordExporter",
        "SplunkHECOptions",
    ]
    for name in fapilog_exporter_splunk.__all__:
        assert getattr(fapilog_exporter_splunk, name) is not None
    with pytest.raises(AttributeError):
        fapilog_exporter_splunk.nothing_here  # noqa: B018


def test_every_setting_is_read_from_its_environment_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    env = {
        "URL": "https://splunk.example.com:8088",
        "TOKEN": SECRET,
        "ENDPOINT": "raw",
        "INDEX": "main",
        "SOURCE": "shop",
        "SOURCETYPE": "_json",
        "HOST": "web-1",
        "GZIP": "false",
        "MAX_REQUEST_BYTES": "65536",
        "TIMEOUT": "3.5",
        "INDEXED_ATTRIBUTES": "tenant, order_id",
        "INCLUDE_RESOURCE": "true",
        "ACK": "true",
        "CHANNEL": "0B4F1F6E-9A1C-4F43-9D36-3C0E5B7A8C21",
        "ACK_TIMEOUT": "7",
        "ACK_POLL_INTERVAL": "0.25",
        "MAX_PENDING_ACKS": "8",
        "CA_FILE": str(ca),
        "VERIFY": "true",
    }
    for key, value in env.items():
        monkeypatch.setenv(f"FAPILOG_SPLUNK_{key}", value)
    opts = SplunkHECOptions.resolve()
    assert opts.url == "https://splunk.example.com:8088"
    assert opts.token.get_secret_value() == SECRET
    assert (opts.endpoint, opts.index, opts.source, opts.sourcetype, opts.host) == (
        "raw", "main", "shop", "_json", "web-1",
    )  # fmt: skip
    assert opts.gzip is False
    assert (opts.max_request_bytes, opts.timeout) == (65536, 3.5)
    assert opts.indexed_attributes == ("tenant", "order_id")
    assert opts.include_resource and opts.ack and opts.verify
    assert opts.channel == "0b4f1f6e-9a1c-4f43-9d36-3c0e5b7a8c21"
    assert (opts.ack_timeout, opts.ack_poll_interval, opts.max_pending_acks) == (7, 0.25, 8)
    assert opts.ca_file == ca
    assert opts.endpoint_url == "https://splunk.example.com:8088/services/collector/raw"


def test_keyword_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAPILOG_SPLUNK_URL", "https://from-env:8088")
    monkeypatch.setenv("FAPILOG_SPLUNK_TOKEN", SECRET)
    monkeypatch.setenv("FAPILOG_SPLUNK_INDEX", "env_index")
    exporter = SplunkHECExporter(url="https://from-kwargs:8088", index="main")
    assert exporter.options.url == "https://from-kwargs:8088"
    assert exporter.options.index == "main"
    assert exporter.options.token.get_secret_value() == SECRET


def test_defaults() -> None:
    opts = SplunkHECOptions.resolve(url="http://127.0.0.1:8088", token=SECRET)
    assert opts.endpoint == "event"
    assert opts.gzip is True
    assert opts.max_request_bytes == 1_000_000
    assert opts.verify is True and opts.ca_file is None
    assert opts.ack is False and opts.channel is None
    assert opts.index is opts.source is opts.sourcetype is opts.host is None


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://splunk:8088/", "https://splunk:8088"),
        ("https://splunk:8088/services/collector/event", "https://splunk:8088"),
        ("https://lb.example.com/splunk/services/collector", "https://lb.example.com/splunk"),
    ],
)
def test_a_url_ending_in_the_collector_path_is_cut_back_to_its_base(
    given: str, expected: str
) -> None:
    assert SplunkHECOptions.resolve(url=given, token=SECRET).url == expected


def test_a_token_pasted_with_its_scheme_is_accepted() -> None:
    opts = SplunkHECOptions.resolve(url="http://h:8088", token=f"Splunk {SECRET}")
    assert opts.token.get_secret_value() == SECRET


@pytest.mark.parametrize("missing", ["URL", "TOKEN"])
def test_no_argument_construction_names_the_missing_variable(
    monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    """The registry builds the exporter with no arguments: the error must say what to set."""
    values = {"URL": "https://splunk:8088", "TOKEN": SECRET}
    for key, value in values.items():
        if key != missing:
            monkeypatch.setenv(f"FAPILOG_SPLUNK_{key}", value)
    with pytest.raises(fapilog.ConfigError, match=f"FAPILOG_SPLUNK_{missing} is not set"):
        SplunkHECExporter()


def test_the_registry_builds_the_exporter_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAPILOG_SPLUNK_URL", "https://splunk:8088")
    monkeypatch.setenv("FAPILOG_SPLUNK_TOKEN", SECRET)
    exporter = exporter_by_name("splunk_hec", fapilog.Settings.load())
    assert isinstance(exporter, SplunkHECExporter)
    assert exporter.name == "splunk_hec"


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"url": "splunk:8088"}, "url= argument: must be an http:// or https:// URL"),
        ({"url": "https://user:pw@splunk:8088"}, "must not contain credentials"),
        ({"url": "https://splunk:99999"}, "port must be a number"),
        ({"endpoint": "batch"}, "endpoint= argument"),
        ({"max_request_bytes": 10}, "max_request_bytes= argument"),
        ({"channel": "not-a-guid"}, "channel= argument: must be a GUID"),
        ({"ca_file": "/nonexistent/ca.pem"}, "does not exist"),
        ({"index": "bad\nindex"}, "control characters"),
        ({"ack": True, "ack_timeout": 1, "ack_poll_interval": 2}, "ack_poll_interval must be"),
        ({"bogus": 1}, "unknown Splunk HEC exporter option(s) bogus"),
    ],
)
def test_invalid_values_name_the_setting(kwargs: dict[str, object], fragment: str) -> None:
    values: dict[str, object] = {"url": "https://splunk:8088", "token": SECRET, **kwargs}
    with pytest.raises(fapilog.ConfigError) as info:
        SplunkHECExporter(**values)
    assert fragment in str(info.value)


def test_an_invalid_environment_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAPILOG_SPLUNK_URL", "https://splunk:8088")
    monkeypatch.setenv("FAPILOG_SPLUNK_TOKEN", SECRET)
    monkeypatch.setenv("FAPILOG_SPLUNK_GZIP", "maybe")
    with pytest.raises(fapilog.ConfigError, match="FAPILOG_SPLUNK_GZIP"):
        SplunkHECExporter()


@pytest.mark.parametrize("token", ["bad token with spaces " + SECRET, "   "])
def test_the_token_never_appears_in_errors(token: str) -> None:
    with pytest.raises(fapilog.ConfigError) as info:
        SplunkHECExporter(url="https://splunk:8088", token=token)
    assert SECRET not in str(info.value)
    assert "token= argument" in str(info.value)


def test_the_token_never_appears_in_reprs() -> None:
    exporter = SplunkHECExporter(url="https://splunk:8088", token=SECRET, index="main")
    for text in (repr(exporter), str(exporter), repr(exporter.options), str(exporter.options)):
        assert SECRET not in text
    assert "index='main'" in repr(exporter)
    assert exporter.options.redact(f"echo {SECRET}!") == "echo ***!"


def test_options_object_and_keywords_are_exclusive() -> None:
    opts = SplunkHECOptions.resolve(url="https://splunk:8088", token=SECRET)
    assert SplunkHECExporter(opts).options is opts
    with pytest.raises(TypeError):
        SplunkHECExporter(opts, index="main")


def test_each_exporter_gets_its_own_channel_unless_one_is_configured() -> None:
    a = SplunkHECExporter(url="https://splunk:8088", token=SECRET)
    b = SplunkHECExporter(url="https://splunk:8088", token=SECRET)
    assert a.channel != b.channel
    fixed = "0b4f1f6e-9a1c-4f43-9d36-3c0e5b7a8c21"
    assert (
        SplunkHECExporter(url="https://splunk:8088", token=SECRET, channel=fixed).channel == fixed
    )


def test_after_fork_replaces_a_generated_channel_and_keeps_a_configured_one() -> None:
    generated = SplunkHECExporter(url="https://splunk:8088", token=SECRET)
    before = generated.channel
    generated.after_fork()
    assert generated.channel != before
    fixed = "0b4f1f6e-9a1c-4f43-9d36-3c0e5b7a8c21"
    configured = SplunkHECExporter(url="https://splunk:8088", token=SECRET, channel=fixed)
    configured.after_fork()
    assert configured.channel == fixed
