"""A real rsyslog in the foreground, receiving on 127.0.0.1, writing every parsed field.

rsyslog runs with its own config, pid file and work directory in a temp dir (no
imuxsock/imklog, nothing written outside the temp dir). Every message it receives is
parsed by rsyslog's RFC 5424 parser and written by an ``omfile`` action as one JSON
object per line: pri, timereported, hostname, app-name, procid, msgid, the raw
structured data, msg, and the structured data as rsyslog's ``mmpstrucdata`` unescaped
it. Certificates for TLS are generated here with ``cryptography``.

Tests that need rsyslog call :func:`require_rsyslog`: it skips with instructions when
``rsyslogd`` is missing, unless ``FAPILOG_REQUIRE_RSYSLOG=1`` (as in CI), where it fails.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import json
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

_MODULE_DIRS = ("/usr/lib/x86_64-linux-gnu/rsyslog", "/usr/lib/aarch64-linux-gnu/rsyslog")


def rsyslogd_path() -> str | None:
    """``$FAPILOG_RSYSLOGD`` if set (and only that), else the installed rsyslogd."""
    explicit = os.environ.get("FAPILOG_RSYSLOGD")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    if os.access("/usr/sbin/rsyslogd", os.X_OK):
        return "/usr/sbin/rsyslogd"
    return shutil.which("rsyslogd")


def has_gtls() -> bool:
    return any(Path(d, "lmnsd_gtls.so").exists() for d in _MODULE_DIRS)


def require_rsyslog(*, tls: bool = False) -> str:
    """Return rsyslogd's path, or skip (fail under FAPILOG_REQUIRE_RSYSLOG=1)."""
    path = rsyslogd_path()
    missing = None
    if path is None:
        missing = "rsyslogd is not installed"
    elif tls and not has_gtls():
        missing = "rsyslog's gnutls netstream driver (lmnsd_gtls) is not installed"
    if missing is None:
        assert path is not None
        return path
    message = f"{missing}; enable these tests with: apt-get install rsyslog rsyslog-gnutls"
    if os.environ.get("FAPILOG_REQUIRE_RSYSLOG") == "1":
        pytest.fail(f"FAPILOG_REQUIRE_RSYSLOG=1 but {message}")
    pytest.skip(message)


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- certificates -----------------------------------------------------------------------


CLIENT_NAME = "client.fapilog.test"


@dataclass
class TlsFiles:
    ca: Path
    cert: Path
    key: Path
    fingerprint: str  # SHA-256 of the server certificate's DER, hex
    client_cert: Path | None = None  # for CLIENT_NAME, signed by the CA
    client_key: Path | None = None


def make_certs(directory: Path, *, self_signed: bool = False) -> TlsFiles:
    """A CA and a server certificate for ``localhost``/127.0.0.1 (or a self-signed one)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def build(
        subject: str, key: Any, issuer: str, issuer_key: Any, ca: bool, client: bool = False
    ) -> Any:
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(subject))
            .issuer_name(name(issuer))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            # Key identifiers, as a real CA issues them: Python 3.13's default TLS
            # context verifies strictly (VERIFY_X509_STRICT) and refuses certificates
            # without an Authority Key Identifier.
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                critical=False,
            )
        )
        if ca:
            builder = builder.add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
        elif client:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(CLIENT_NAME)]), critical=False
            ).add_extension(
                x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
        else:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.DNSName("localhost"),
                        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    ]
                ),
                critical=False,
            ).add_extension(
                x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                critical=False,
            )
        return builder.sign(issuer_key, hashes.SHA256())

    server_key = ec.generate_private_key(ec.SECP256R1())
    if self_signed:
        server_cert = build("localhost", server_key, "localhost", server_key, False)
        ca_cert = server_cert
    else:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = build("fapilog test CA", ca_key, "fapilog test CA", ca_key, True)
        server_cert = build("localhost", server_key, "fapilog test CA", ca_key, False)
    pem = serialization.Encoding.PEM
    files = TlsFiles(
        ca=directory / "ca.pem",
        cert=directory / "server.pem",
        key=directory / "server-key.pem",
        fingerprint=hashlib.sha256(
            server_cert.public_bytes(serialization.Encoding.DER)
        ).hexdigest(),
    )
    files.ca.write_bytes(ca_cert.public_bytes(pem))
    files.cert.write_bytes(server_cert.public_bytes(pem))
    files.key.write_bytes(
        server_key.private_bytes(
            pem, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
    )
    if not self_signed:
        client_key = ec.generate_private_key(ec.SECP256R1())
        client_cert = build(CLIENT_NAME, client_key, "fapilog test CA", ca_key, False, True)
        files.client_cert = directory / "client.pem"
        files.client_key = directory / "client-key.pem"
        files.client_cert.write_bytes(client_cert.public_bytes(pem))
        files.client_key.write_bytes(
            client_key.private_bytes(
                pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return files


# -- rsyslog ----------------------------------------------------------------------------

_TEMPLATE = """
template(name="fields" type="list" option.jsonf="on") {
  property(outname="pri" name="pri" format="jsonf")
  property(outname="timereported" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="hostname" name="hostname" format="jsonf")
  property(outname="app_name" name="app-name" format="jsonf")
  property(outname="procid" name="procid" format="jsonf")
  property(outname="msgid" name="msgid" format="jsonf")
  property(outname="structured_data" name="structured-data" format="jsonf")
  property(outname="msg" name="msg" format="jsonf")
  property(outname="sd" name="$!rfc5424-sd" format="jsonf")
}
"""


class Rsyslog:
    """rsyslogd with imtcp (optionally TLS) and optionally imudp, on 127.0.0.1.

    Args:
        directory: the temp dir for config, pid file, work dir and output.
        tls: certificates to serve TLS with (gtls driver).
        client_auth: require a client certificate from the CA naming CLIENT_NAME
            (``authMode="x509/name"``); else clients are anonymous.
        udp: also listen on UDP (on :attr:`udp_port`).
        tcp_port: a fixed TCP port; 0 lets rsyslog pick one (reported in a file).
    """

    def __init__(
        self,
        directory: Path,
        *,
        tls: TlsFiles | None = None,
        udp: bool = False,
        tcp_port: int = 0,
        client_auth: bool = False,
    ) -> None:
        self.path = require_rsyslog(tls=tls is not None)
        self.directory = directory
        self.tls = tls
        self.udp_port = free_port(socket.SOCK_DGRAM) if udp else 0
        self.tcp_port = tcp_port
        self.client_auth = client_auth
        self.output = directory / "out.jsonl"
        self._process: subprocess.Popen[bytes] | None = None

    def _config(self) -> str:
        d = self.directory
        lines = [
            f'global(workDirectory="{d}" maxMessageSize="256k"',
            '  parser.escapeControlCharactersOnReceive="off"',
            '  parser.dropTrailingLFOnReception="off"',
        ]
        if self.tls is not None:
            lines += [
                '  defaultNetstreamDriver="gtls"',
                f'  defaultNetstreamDriverCAFile="{self.tls.ca}"',
                f'  defaultNetstreamDriverCertFile="{self.tls.cert}"',
                f'  defaultNetstreamDriverKeyFile="{self.tls.key}"',
            ]
        lines.append(")")
        if self.tls is not None:
            auth = (
                f'streamDriver.authMode="x509/name" permittedPeer=["{CLIENT_NAME}"]'
                if self.client_auth
                else 'streamDriver.authMode="anon"'
            )
            lines.append(
                f'module(load="imtcp" streamDriver.name="gtls" streamDriver.mode="1" {auth})'
            )
        else:
            lines.append('module(load="imtcp")')
        lines.append('module(load="mmpstrucdata")')
        lines.append(
            f'input(type="imtcp" address="127.0.0.1" port="{self.tcp_port}" '
            f'listenPortFileName="{d / "tcp-port"}")'
        )
        if self.udp_port:
            lines.append('module(load="imudp")')
            lines.append(f'input(type="imudp" address="127.0.0.1" port="{self.udp_port}")')
        lines.append(_TEMPLATE)
        lines.append('action(type="mmpstrucdata" sd_name.lowercase="off")')
        lines.append(f'action(type="omfile" file="{self.output}" template="fields")')
        return "\n".join(lines) + "\n"

    def start(self, timeout: float = 15.0) -> Rsyslog:
        conf = self.directory / "rsyslog.conf"
        conf.write_text(self._config())
        port_file = self.directory / "tcp-port"
        port_file.unlink(missing_ok=True)
        fixed = self.tcp_port != 0  # else rsyslog picks one and writes it to port_file
        with open(self.directory / "rsyslogd.log", "ab") as log:  # the child keeps a copy
            self._process = subprocess.Popen(
                [self.path, "-n", "-f", str(conf), "-i", str(self.directory / "rsyslogd.pid")],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                cwd=self.directory,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"rsyslogd exited: {self.log()}")
            if not fixed and port_file.exists() and (text := port_file.read_text().strip()):
                self.tcp_port = int(text)
            if self.tcp_port and self._accepts():
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"rsyslogd did not start listening: {self.log()}")

    def _accepts(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.tcp_port), timeout=0.5):
                return True
        except OSError:
            return False

    def log(self) -> str:
        path = self.directory / "rsyslogd.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
        self._process = None

    def kill(self) -> None:
        """Stop at once, as a crash would (no flushing of queued messages)."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(5)
        self._process = None

    def __enter__(self) -> Rsyslog:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def records(self) -> list[dict[str, Any]]:
        """Every message written so far, with ``sd`` decoded to a dict."""
        if not self.output.exists():
            return []
        out = []
        # rsyslog may be mid-write (even mid-character): only complete,
        # newline-terminated lines count.
        data = self.output.read_bytes()
        complete = data[: data.rfind(b"\n") + 1].decode("utf-8")
        for line in complete.split("\n"):
            if not line.strip():
                continue
            record = json.loads(line)
            sd = record.get("sd")
            record["sd"] = json.loads(sd) if isinstance(sd, str) and sd.startswith("{") else {}
            out.append(record)
        return out

    def wait_for(self, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
        """Wait until at least ``count`` messages were written; return them all."""
        deadline = time.monotonic() + timeout
        while True:
            records = self.records()
            if len(records) >= count or time.monotonic() > deadline:
                return records
            time.sleep(0.02)
