"""Options: keywords over FAPILOG_SYSLOG_* variables, clear errors, secrets kept out of sight."""

from __future__ import annotations

from pathlib import Path

import pytest

import fapilog_exporter_siem
from fapilog import ConfigError, ExportStatus, LogEvent
from fapilog_exporter_siem import SyslogExporter, SyslogOptions
from fapilog_exporter_siem._severity import cef_severity, syslog_severity
from rsyslog_receiver import make_certs, require_rsyslog


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("FAPILOG_SYSLOG_"):
            monkeypatch.delenv(name)


def test_public_names() -> None:
    assert fapilog_exporter_siem.__all__ == sorted(fapilog_exporter_siem.__all__)
    for name in fapilog_exporter_siem.__all__:
        assert getattr(fapilog_exporter_siem, name) is not None


def test_no_argument_construction_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAPILOG_SYSLOG_HOST", "siem.example.com")
    monkeypatch.setenv("FAPILOG_SYSLOG_TRANSPORT", "UDP".lower())
    monkeypatch.setenv("FAPILOG_SYSLOG_FACILITY", "local4")
    monkeypatch.setenv("FAPILOG_SYSLOG_FORMAT", "leef")
    monkeypatch.setenv("FAPILOG_SYSLOG_LEEF_DELIMITER", "x5E")
    monkeypatch.setenv("FAPILOG_SYSLOG_ENTERPRISE_NUMBER", "99999")
    opts = SyslogExporter().options
    assert (opts.host, opts.transport, opts.format) == ("siem.example.com", "udp", "leef")
    assert (opts.facility, opts.leef_delimiter, opts.enterprise_number) == (20, "^", 99999)
    assert (opts.resolved_port, opts.message_limit) == (514, 2048)


def test_keywords_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAPILOG_SYSLOG_HOST", "from-env")
    monkeypatch.setenv("FAPILOG_SYSLOG_PORT", "1514")
    opts = SyslogExporter(host="from-kwarg").options
    assert (opts.host, opts.port) == ("from-kwarg", 1514)


def test_secure_defaults() -> None:
    opts = SyslogOptions.resolve(host="h")
    assert (opts.transport, opts.verify, opts.resolved_port, opts.message_limit) == (
        "tls",
        True,
        6514,
        8192,
    )
    assert (opts.facility, opts.enterprise_number, opts.format) == (1, 32473, "rfc5424")


def test_missing_host_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="FAPILOG_SYSLOG_HOST is not set"):
        SyslogExporter()


@pytest.mark.parametrize(
    ("env", "value", "needle"),
    [
        ("FAPILOG_SYSLOG_TRANSPORT", "sctp", "use tls, tcp or udp"),
        ("FAPILOG_SYSLOG_PORT", "70000", "FAPILOG_SYSLOG_PORT"),
        ("FAPILOG_SYSLOG_FACILITY", "bogus", "unknown facility"),
        ("FAPILOG_SYSLOG_APP_NAME", "has space", "printable ASCII"),
        ("FAPILOG_SYSLOG_CERT_FINGERPRINT", "abc", "64 hex digits"),
        ("FAPILOG_SYSLOG_CA_FILE", "/nonexistent.pem", "does not exist"),
        ("FAPILOG_SYSLOG_MAX_MESSAGE_BYTES", "100", "at least 480"),
        ("FAPILOG_SYSLOG_SD_NAME", "a@b", "'@'"),
        ("FAPILOG_SYSLOG_LEEF_DELIMITER", "=", "one character"),
    ],
)
def test_invalid_values_name_the_variable_and_the_fix(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, needle: str
) -> None:
    monkeypatch.setenv("FAPILOG_SYSLOG_HOST", "h")
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as info:
        SyslogExporter()
    assert env in str(info.value)
    assert needle in str(info.value)


def test_keyword_errors_name_the_keyword() -> None:
    with pytest.raises(ConfigError, match="port= argument"):
        SyslogExporter(host="h", port=0)
    with pytest.raises(ConfigError, match="unknown syslog exporter option"):
        SyslogExporter(host="h", colour="blue")
    with pytest.raises(TypeError):
        SyslogExporter(SyslogOptions.resolve(host="h"), host="x")


def test_udp_messages_cannot_exceed_a_datagram() -> None:
    with pytest.raises(ConfigError, match="largest UDP datagram"):
        SyslogExporter(host="h", transport="udp", max_message_bytes=70_000)
    assert SyslogExporter(host="h", transport="tcp", max_message_bytes=70_000)


def test_client_cert_needs_its_key(tmp_path: Path) -> None:
    certs = make_certs(tmp_path)
    with pytest.raises(ConfigError, match="must be set together"):
        SyslogExporter(host="h", client_cert=certs.cert)


def test_key_password_never_shows(tmp_path: Path) -> None:
    certs = make_certs(tmp_path)
    secret = "hunter2-very-secret"
    with pytest.raises(ConfigError) as info:
        SyslogExporter(
            host="h",
            client_cert=certs.cert,
            client_key=certs.ca,  # not the key of that certificate
            client_key_password=secret,
        )
    assert secret not in str(info.value)
    assert "FAPILOG_SYSLOG_CLIENT_KEY" in str(info.value)
    opts = SyslogOptions.resolve(host="h", client_key_password=secret)
    assert secret not in repr(opts) and secret not in str(opts)
    with pytest.raises(ConfigError) as info:
        SyslogOptions.resolve(host="h", client_key_password=secret, port="x")
    assert secret not in str(info.value)


def test_mutual_tls_loads_the_client_certificate(tmp_path: Path) -> None:
    certs = make_certs(tmp_path)
    exporter = SyslogExporter(host="h", client_cert=certs.cert, client_key=certs.key)
    assert exporter.options.client_key == certs.key


def test_fingerprint_is_normalised() -> None:
    pin = "AB:" * 31 + "AB"
    opts = SyslogOptions.resolve(host="h", cert_fingerprint=f"SHA256:{pin}")
    assert opts.cert_fingerprint == "ab" * 32


def test_repr_shows_where_and_how_not_secrets() -> None:
    exporter = SyslogExporter(
        host="siem", cert_fingerprint="ab" * 32, client_key_password="pw-secret-1"
    )
    text = repr(exporter)
    assert text == (
        "SyslogExporter(address='siem:6514', transport='tls', format='rfc5424', "
        "verify=True, pinned=True)"
    )
    assert "pw-secret-1" not in text


@pytest.mark.parametrize(
    ("number", "syslog", "cef"),
    [
        (0, 6, 3),
        (1, 7, 0),
        (5, 7, 1),
        (9, 6, 3),
        (10, 5, 4),
        (13, 4, 5),
        (17, 3, 7),
        (21, 2, 9),
        (23, 1, 10),
        (24, 0, 10),
    ],
)
def test_severity_mapping(number: int, syslog: int, cef: int) -> None:
    assert (syslog_severity(number), cef_severity(number)) == (syslog, cef)


async def test_an_unencodable_event_is_rejected_not_the_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    exporter = SyslogExporter(host="127.0.0.1", port=9, transport="udp")
    good = LogEvent(timestamp=1, body="fine")
    bad = LogEvent(timestamp=1, body="broken")
    bad.attributes = None  # type: ignore[assignment]  # a corrupted event
    try:
        result = await exporter.export([good, bad])
    finally:
        await exporter.shutdown()
    assert result.status is ExportStatus.PARTIAL
    assert result.rejected == 1
    assert exporter.stats().unencodable == 1
    assert exporter.stats().messages_sent == 1


def test_after_fork_forgets_the_parents_connection_without_closing_it() -> None:
    class ParentConnection:
        forgotten = closed = False

        def forget(self) -> None:
            self.forgotten = True

        def abort(self) -> None:
            self.closed = True

    exporter = SyslogExporter(host="h", transport="tcp")
    parent = ParentConnection()
    exporter._stream = parent  # type: ignore[assignment]  # stand-in for the parent's socket
    exporter.after_fork()
    assert parent.forgotten and not parent.closed
    assert exporter._stream is None and exporter._encoded is None


def test_rsyslog_tests_skip_with_instructions_or_fail_when_required(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without rsyslogd the receiver tests skip, telling how to enable them; CI fails them."""
    monkeypatch.setenv("FAPILOG_RSYSLOGD", "/nonexistent/rsyslogd")
    monkeypatch.delenv("FAPILOG_REQUIRE_RSYSLOG", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install rsyslog rsyslog-gnutls"):
        require_rsyslog()
    monkeypatch.setenv("FAPILOG_REQUIRE_RSYSLOG", "1")
    with pytest.raises(pytest.fail.Exception, match="FAPILOG_REQUIRE_RSYSLOG=1"):
        require_rsyslog()
