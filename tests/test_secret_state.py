"""No secret in object state: every credential-holding object keeps its secrets wrapped.

Each object is built with realistic secrets set, then everything reachable from it
(attributes, ``__slots__``, dict entries, list items, pydantic fields and private
attributes, a few levels deep) is checked: no ``repr``/``str`` of anything reached,
no ``model_dump()``/``model_dump_json()``, no ``pickle.dumps`` output (pickling a
holder of secrets raises instead) and no raised error contains a secret, in any case,
URL-encoded, or as the base64 ``user:password`` of HTTP basic authentication.

A secret wrapper (a ``SecretStr``, or any object with ``get_secret_value`` or
``reveal``, such as the exporters' ``SecretHeaders`` or the audit log's ``SecretKey``)
is the boundary: its value is reachable only by calling that method, so the walk
checks its ``repr``/``str`` (and pickling) and does not look inside it.

Loopback servers echo the credentials they received back in error texts (lower
case, upper case, only the token, decoded, URL-encoded): the exporters' reasons mask
them, and the servers prove each secret still reaches the wire.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import pickle
import types
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import grpc
import grpc.aio
import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from google.rpc.status_pb2 import Status
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from pydantic import BaseModel, SecretStr, ValidationError

from fapilog import ConfigError, LogEvent
from fapilog.audit import AuditExporter
from fapilog.exporters import ExportStatus
from fapilog.exporters._http_util import safe_reason, secret_words
from fapilog.exporters._secret import Secret, SecretHeaders
from fapilog.exporters.otlp import OTLPExporterOptions, OTLPGrpcExporter, OTLPHttpExporter
from fapilog.redaction import RedactionProcessor
from fapilog_exporter_elasticsearch import ElasticsearchExporter, ElasticsearchExporterOptions
from fapilog_exporter_siem import SyslogExporter, SyslogOptions
from fapilog_exporter_splunk import SplunkHECExporter, SplunkHECOptions

# -- realistic secrets -------------------------------------------------------------

OTLP_TOKEN = "otlp_9Fq2LxV7tRzK4mWp8sYb3nHcQe"  # sent as "Bearer <token>"
OTLP_API_KEY = "ak-Live-7hG2kLm9QxR4vT8wZ1"
OTLP_USER = "ingest-bot"
OTLP_PASSWORD = "Pa55/w0rd!Endpoint+Q"  # URL-encoded in the endpoint
SPLUNK_TOKEN = "5F3A9C2E-7B14-4D8E-9A61-0C2B7E4F1D93"
ES_KEY_ID = "VuaCfGcBCdbkQm-e5aOx"
ES_KEY_SECRET = "ui2lp2axTNmsyakw9tvNnw"
ES_API_KEY = base64.b64encode(f"{ES_KEY_ID}:{ES_KEY_SECRET}".encode()).decode()
ES_USER = "elastic"
ES_PASSWORD = "El4stic-Secr3t-Pw9"
SYSLOG_KEY_PASSWORD = "K3y-Passphr4se-Syslog"
REDACTION_KEY = "redaction-HMAC-k3y-0123456789abcdef"
AUDIT_KEY = "audit-HMAC-K3y-0123456789ABCDEF"
AUDIT_ENCRYPT_KEY = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def basic(user: str, password: str) -> str:
    """The credential of ``Authorization: Basic`` for ``user`` and ``password``."""
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def forms(*secrets: str) -> list[str]:
    """Every form of ``secrets`` that must not be found (compared case-insensitively)."""
    out: list[str] = []
    for secret in secrets:
        out += [secret, quote(secret, safe=""), quote_plus(secret)]
    return list(dict.fromkeys(out))


OTLP_SECRETS = forms(OTLP_TOKEN, OTLP_API_KEY, OTLP_PASSWORD, basic(OTLP_USER, OTLP_PASSWORD))
SPLUNK_SECRETS = forms(SPLUNK_TOKEN)
ES_API_KEY_SECRETS = forms(ES_API_KEY, ES_KEY_SECRET)
ES_BASIC_SECRETS = forms(ES_PASSWORD, basic(ES_USER, ES_PASSWORD))
SYSLOG_SECRETS = forms(SYSLOG_KEY_PASSWORD)
REDACTION_SECRETS = forms(REDACTION_KEY)
AUDIT_SECRETS = [
    *forms(AUDIT_KEY, AUDIT_ENCRYPT_KEY),
    # The AES key is held as 32 raw bytes: their repr and their base64.
    repr(bytes.fromhex(AUDIT_ENCRYPT_KEY))[2:-1],
    base64.b64encode(bytes.fromhex(AUDIT_ENCRYPT_KEY)).decode(),
]


# -- finding secrets ---------------------------------------------------------------


def found(text: str | bytes | bytearray, secrets: list[str]) -> list[int]:
    """Indices (never the values) of the secrets ``text`` contains, in any case."""
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("latin-1")
    lowered = text.lower()
    return [i for i, secret in enumerate(secrets) if secret.lower() in lowered]


_LEAVES = (
    str,
    bytes,
    bytearray,
    int,
    float,
    complex,
    type,
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.CodeType,
    types.FrameType,
)


def _is_secret_wrapper(value: object) -> bool:
    """A ``SecretStr``, or a wrapper that hands its value out only through a method."""
    cls = type(value)
    return isinstance(value, SecretStr) or any(
        callable(getattr(cls, name, None)) for name in ("get_secret_value", "reveal")
    )


def _children(value: object) -> Iterator[tuple[str, object]]:
    if isinstance(value, Mapping):
        for key, item in list(value.items()):
            yield f"[{key!r}]", key
            yield f"[{key!r}]", item
        return
    if isinstance(value, list | tuple | set | frozenset | deque):
        for index, item in enumerate(list(value)):
            yield f"[{index}]", item
        return
    try:
        attrs = vars(value)
    except TypeError:
        attrs = {}
    for name, item in list(attrs.items()):
        yield f".{name}", item
    for cls in type(value).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        for name in (slots,) if isinstance(slots, str) else slots:
            if name in ("__dict__", "__weakref__"):
                continue
            try:
                item = getattr(value, name)
            except AttributeError:
                continue
            yield f".{name}", item


def reachable(root: object, depth: int = 6) -> Iterator[tuple[str, object]]:
    """``(path, value)`` of everything reachable from ``root``, breadth first."""
    seen: set[int] = set()
    queue: deque[tuple[str, object, int]] = deque([("root", root, 0)])
    while queue:
        path, value, level = queue.popleft()
        if id(value) in seen:
            continue
        seen.add(id(value))
        yield path, value
        if level >= depth or value is None or isinstance(value, _LEAVES):
            continue
        if _is_secret_wrapper(value):
            continue
        for step, child in _children(value):
            queue.append((path + step, child, level + 1))


def _texts(value: object) -> Iterator[tuple[str, str | bytes | bytearray]]:
    if isinstance(value, str | bytes | bytearray):
        yield "value", value
    for kind, render in (("repr", repr), ("str", str)):
        try:
            yield kind, render(value)
        except Exception as exc:  # a broken repr of a third-party object is no leak
            yield kind, f"<{type(exc).__name__}>"
    if isinstance(value, BaseModel):
        yield "model_dump", repr(value.model_dump())
        yield "model_dump(json)", repr(value.model_dump(mode="json"))
        yield "model_dump_json", value.model_dump_json()


def error_texts(exc: BaseException) -> Iterator[str]:
    """The text of ``exc`` and of every error chained to it."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield str(current)
        yield repr(current)
        yield repr(current.args)
        yield repr(getattr(current, "__notes__", ""))
        if current is not exc and isinstance(current, ValidationError):
            yield current.json()  # a chained one keeps the inputs: it must have none
        current = current.__cause__ or current.__context__


def leaks_in_state(obj: object, secrets: list[str]) -> list[str]:
    """Where in ``obj``'s state (or its pickle) a secret shows; empty when nowhere."""
    problems = []
    for path, value in reachable(obj):
        for kind, text in _texts(value):
            if hits := found(text, secrets):
                problems.append(f"{kind} of {path} ({type(value).__name__}): secrets {hits}")
    try:
        data = pickle.dumps(obj)
    except Exception as exc:
        for text in error_texts(exc):
            if hits := found(text, secrets):
                problems.append(f"pickling error: secrets {hits}")
    else:
        if hits := found(data, secrets):
            problems.append(f"pickle.dumps output: secrets {hits}")
    return problems


# -- the objects -------------------------------------------------------------------


def events(n: int = 1) -> list[LogEvent]:
    resource = Resource({"service.name": "shop"})
    scope = InstrumentationScope("shop.orders", "1.0")
    return [
        LogEvent(
            timestamp=1_700_000_000_000_000_000 + i,
            severity_text="ERROR",
            severity_number=17,
            body=f"payment {i} failed",
            resource=resource,
            instrumentation_scope=scope,
        )
        for i in range(n)
    ]


def otlp_headers() -> dict[str, str]:
    return {"authorization": f"Bearer {OTLP_TOKEN}", "api-key": OTLP_API_KEY}


def otlp_endpoint(port: int = 4318, path: str = "/v1/logs") -> str:
    password = quote(OTLP_PASSWORD, safe="")
    return f"http://{OTLP_USER}:{password}@127.0.0.1:{port}{path}"


def syslog_client_files(directory: Path) -> tuple[Path, Path]:
    """A client certificate and its key, encrypted with :data:`SYSLOG_KEY_PASSWORD`."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fapilog-client")])
    import datetime

    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "client.pem", directory / "client.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(SYSLOG_KEY_PASSWORD.encode()),
        )
    )
    return cert_path, key_path


def build_otlp_grpc(tmp_path: Path) -> list[object]:
    endpoint = f"https://{OTLP_USER}:{quote(OTLP_PASSWORD, safe='')}@collector:4317"
    exporter = OTLPGrpcExporter(endpoint=endpoint, headers=otlp_headers())
    return [exporter, exporter.options]


def build_otlp_http(tmp_path: Path) -> list[object]:
    options = OTLPExporterOptions(
        protocol="http/protobuf", endpoint=otlp_endpoint(), headers=otlp_headers()
    )
    return [OTLPHttpExporter(options), options]


def build_otlp_from_env(tmp_path: Path) -> list[object]:
    environ = {
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_endpoint(path=""),
        "OTEL_EXPORTER_OTLP_HEADERS": (
            f"authorization=Bearer%20{OTLP_TOKEN},api-key={quote(OTLP_API_KEY)}"
        ),
    }
    options = OTLPExporterOptions.from_env(environ=environ)
    return [OTLPHttpExporter(options), options]


def build_splunk(tmp_path: Path) -> list[object]:
    exporter = SplunkHECExporter(url="https://splunk.example.com:8088", token=SPLUNK_TOKEN)
    return [exporter, exporter.options]


def build_es_api_key(tmp_path: Path) -> list[object]:
    exporter = ElasticsearchExporter(url="https://es.example.com:9200", api_key=ES_API_KEY)
    return [exporter, exporter.options]


def build_es_api_key_pair(tmp_path: Path) -> list[object]:
    exporter = ElasticsearchExporter(
        url="https://es.example.com:9200", api_key=f"{ES_KEY_ID}:{ES_KEY_SECRET}"
    )
    return [exporter, exporter.options]


def build_es_basic(tmp_path: Path) -> list[object]:
    exporter = ElasticsearchExporter(
        url="https://es.example.com:9200", username=ES_USER, password=ES_PASSWORD
    )
    return [exporter, exporter.options]


def build_syslog(tmp_path: Path) -> list[object]:
    cert, key = syslog_client_files(tmp_path)
    exporter = SyslogExporter(
        host="siem.example.com",
        client_cert=cert,
        client_key=key,
        client_key_password=SYSLOG_KEY_PASSWORD,
    )
    return [exporter, exporter.options]


def build_redaction(tmp_path: Path) -> list[object]:
    return [
        RedactionProcessor(hmac_key=REDACTION_KEY),
        RedactionProcessor(hmac_key=SecretStr(REDACTION_KEY)),
        RedactionProcessor(hmac_key=REDACTION_KEY.encode()),
    ]


def build_settings(tmp_path: Path) -> list[object]:
    from fapilog import Settings

    return [
        Settings(redaction_hmac_key=REDACTION_KEY),
        Settings(redaction_hmac_key=SecretStr(REDACTION_KEY)),
    ]


def build_audit(tmp_path: Path) -> list[object]:
    return [
        AuditExporter(tmp_path / "audit", key=AUDIT_KEY, encrypt_key=AUDIT_ENCRYPT_KEY),
        AuditExporter(tmp_path / "audit2", key=SecretStr(AUDIT_KEY)),
    ]


BUILDERS: list[Any] = [
    pytest.param(build_otlp_grpc, OTLP_SECRETS, id="otlp-grpc"),
    pytest.param(build_otlp_http, OTLP_SECRETS, id="otlp-http"),
    pytest.param(build_otlp_from_env, OTLP_SECRETS, id="otlp-env"),
    pytest.param(build_splunk, SPLUNK_SECRETS, id="splunk"),
    pytest.param(build_es_api_key, ES_API_KEY_SECRETS, id="es-api-key"),
    pytest.param(build_es_api_key_pair, ES_API_KEY_SECRETS, id="es-api-key-pair"),
    pytest.param(build_es_basic, ES_BASIC_SECRETS, id="es-basic"),
    pytest.param(build_syslog, SYSLOG_SECRETS, id="syslog"),
    pytest.param(build_redaction, REDACTION_SECRETS, id="redaction"),
    pytest.param(build_settings, REDACTION_SECRETS, id="settings"),
    pytest.param(build_audit, AUDIT_SECRETS, id="audit"),
]


# -- state ---------------------------------------------------------------------------


@pytest.mark.parametrize(("build", "secrets"), BUILDERS)
def test_no_secret_is_reachable_from_the_object(
    build: Callable[[Path], list[object]], secrets: list[str], tmp_path: Path
) -> None:
    """repr, str, vars (recursively), model_dump(_json) and pickle show no secret."""
    problems = [problem for obj in build(tmp_path) for problem in leaks_in_state(obj, secrets)]
    assert problems == []


@pytest.mark.parametrize(
    ("build", "secrets"), [p for p in BUILDERS if p.id not in ("redaction", "audit")]
)
def test_exporters_and_options_refuse_to_be_pickled(
    build: Callable[[Path], list[object]], secrets: list[str], tmp_path: Path
) -> None:
    """Pickling raises a TypeError that names the type and no secret."""
    for obj in build(tmp_path):
        with pytest.raises(TypeError, match=r"cannot pickle .*holds a secret") as info:
            pickle.dumps(obj)
        assert not any(found(text, secrets) for text in error_texts(info.value))


def test_options_copy_keeps_the_secrets_usable() -> None:
    """copy/deepcopy/model_copy work (a Secret copies as itself) and keep the values."""
    options = OTLPExporterOptions(
        protocol="http/protobuf", endpoint=otlp_endpoint(), headers=otlp_headers()
    )
    for twin in (copy.copy(options), copy.deepcopy(options), options.model_copy(deep=True)):
        assert twin == options
        assert twin.transport_endpoint.get_secret_value() == otlp_endpoint()
        assert twin.headers["api-key"].get_secret_value() == OTLP_API_KEY
    splunk = SplunkHECOptions(url="https://splunk:8088", token=SPLUNK_TOKEN)
    assert copy.deepcopy(splunk).token.get_secret_value() == SPLUNK_TOKEN


def test_endpoint_password_is_kept_apart_from_the_endpoint_field() -> None:
    """options.endpoint keeps the user, not the password; the transport gets both."""
    options = OTLPExporterOptions(protocol="http/protobuf", endpoint=otlp_endpoint())
    assert options.endpoint == f"http://{OTLP_USER}@127.0.0.1:4318/v1/logs"
    assert options.display_endpoint == f"http://{OTLP_USER}:***@127.0.0.1:4318/v1/logs"
    assert options.model_dump()["endpoint"] == options.endpoint
    assert options.transport_endpoint.get_secret_value() == otlp_endpoint()
    plain = OTLPExporterOptions(endpoint="https://collector:4317")
    assert plain.transport_endpoint.get_secret_value() == "https://collector:4317"


def test_secret_headers_reveal_only_on_request() -> None:
    """SecretHeaders masks secret values in repr and hands plain ones to the transport."""
    headers = SecretHeaders(
        {"user-agent": "fapilog/3", "authorization": SecretStr(f"Bearer {OTLP_TOKEN}")}
    )
    assert repr(headers) == (
        "SecretHeaders({'user-agent': 'fapilog/3', 'authorization': '**********'})"
    )
    assert headers.names() == ["user-agent", "authorization"]
    assert headers.reveal({"content-type": "x"}) == {
        "user-agent": "fapilog/3",
        "authorization": f"Bearer {OTLP_TOKEN}",
        "content-type": "x",
    }
    binary = SecretHeaders({"key-bin": SecretStr("abc")})
    assert binary.metadata() == (("key-bin", b"abc"),)
    public = SecretHeaders({"user-agent": "fapilog/3"})
    assert pickle.loads(pickle.dumps(public)).reveal() == {"user-agent": "fapilog/3"}
    assert Secret("a") == SecretStr("a") and SecretStr("a") == Secret("a")


# -- errors --------------------------------------------------------------------------


def _raise_all(tmp_path: Path) -> Iterator[tuple[str, Callable[[], object], list[str]]]:
    yield (
        "otlp-validation",
        lambda: OTLPExporterOptions(headers=otlp_headers(), timeout=-1),
        OTLP_SECRETS,
    )
    yield (
        "otlp-config",
        lambda: OTLPExporterOptions.from_env(environ={}, headers=otlp_headers(), timeout=-1),
        OTLP_SECRETS,
    )
    yield (
        "otlp-header-injection",
        lambda: OTLPExporterOptions.from_env(
            environ={}, headers={"authorization": f"Bearer {OTLP_TOKEN}\r\nx-evil: 1"}
        ),
        OTLP_SECRETS,
    )
    yield (
        "otlp-header-entry",
        lambda: OTLPExporterOptions.from_env(
            environ={"OTEL_EXPORTER_OTLP_HEADERS": f"x=1,authorization{OTLP_TOKEN}"}
        ),
        OTLP_SECRETS,
    )
    yield (
        "otlp-endpoint-port",
        lambda: OTLPExporterOptions.from_env(
            environ={}, endpoint=otlp_endpoint(port=99999), protocol="http/protobuf"
        ),
        OTLP_SECRETS,
    )
    yield (
        "otlp-endpoint-port-direct",
        lambda: OTLPExporterOptions(endpoint=otlp_endpoint(port=99999), protocol="http/protobuf"),
        OTLP_SECRETS,
    )
    yield (
        "otlp-protocol-mismatch",
        lambda: OTLPGrpcExporter(
            OTLPExporterOptions(
                protocol="http/protobuf", endpoint=otlp_endpoint(), headers=otlp_headers()
            )
        ),
        OTLP_SECRETS,
    )
    yield (
        "splunk-timeout",
        lambda: SplunkHECOptions.resolve(url="https://s:8088", token=SPLUNK_TOKEN, timeout=-1),
        SPLUNK_SECRETS,
    )
    yield (
        "splunk-token",
        lambda: SplunkHECOptions.resolve(url="https://s:8088", token=f"{SPLUNK_TOKEN} x"),
        SPLUNK_SECRETS,
    )
    yield (
        "splunk-url-credentials",
        lambda: SplunkHECOptions.resolve(
            url=f"https://admin:{SPLUNK_TOKEN}@s:8088", token=SPLUNK_TOKEN
        ),
        SPLUNK_SECRETS,
    )
    yield (
        "splunk-direct",
        lambda: SplunkHECOptions(url="https://s:8088", token=SPLUNK_TOKEN, timeout=-1),
        SPLUNK_SECRETS,
    )
    yield (
        "es-both-credentials",
        lambda: ElasticsearchExporterOptions.from_env(
            url="https://es:9200", api_key=ES_API_KEY, username=ES_USER, password=ES_PASSWORD
        ),
        ES_API_KEY_SECRETS + ES_BASIC_SECRETS,
    )
    yield (
        "es-password-control",
        lambda: ElasticsearchExporterOptions.from_env(
            url="https://es:9200", username=ES_USER, password=f"{ES_PASSWORD}\nx-evil: 1"
        ),
        ES_BASIC_SECRETS,
    )
    yield (
        "es-url-credentials",
        lambda: ElasticsearchExporterOptions(url=f"https://{ES_USER}:{ES_PASSWORD}@es:9200"),
        ES_BASIC_SECRETS,
    )
    yield (
        "syslog-port",
        lambda: SyslogOptions.resolve(host="h", client_key_password=SYSLOG_KEY_PASSWORD, port="x"),
        SYSLOG_SECRETS,
    )
    cert, key = syslog_client_files(tmp_path)
    yield (
        "syslog-wrong-key-password",
        lambda: SyslogExporter(
            host="h",
            client_cert=cert,
            client_key=key,
            client_key_password=SYSLOG_KEY_PASSWORD[::-1],
        ),
        forms(SYSLOG_KEY_PASSWORD, SYSLOG_KEY_PASSWORD[::-1]),
    )


def test_no_raised_error_holds_a_secret(tmp_path: Path) -> None:
    """Configuration errors (and what they chain) name the field, never its secret."""
    problems = []
    for name, call, secrets in _raise_all(tmp_path):
        try:
            call()
        except (ConfigError, ValidationError) as exc:
            for text in error_texts(exc):
                if hits := found(text, secrets):
                    problems.append(f"{name}: secrets {hits}")
        else:
            problems.append(f"{name}: raised nothing")
    assert problems == []


# -- echoed secrets --------------------------------------------------------------------


def _credential(auth: str) -> str:
    return auth.partition(" ")[2]


def _decoded(auth: str) -> str:
    try:
        return base64.b64decode(_credential(auth)).decode()
    except ValueError:
        return _credential(auth)


ECHOES: dict[str, Callable[[str], str]] = {
    "lower": str.lower,
    "upper": str.upper,
    "token-only": lambda auth: _credential(auth).swapcase(),
    "decoded": lambda auth: _decoded(auth).lower(),
    "url-encoded": lambda auth: quote(auth, safe="").lower(),
}


class EchoServer:
    """An HTTP server on 127.0.0.1 that answers 401 echoing the credentials it got.

    The answer is in the form of the protocol the path belongs to (OTLP ``Status``,
    HEC JSON, Elasticsearch error JSON). ``received`` keeps each ``Authorization``.
    """

    def __init__(self, echo: Callable[[str], str]) -> None:
        self.echo = echo
        self.received: list[str] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> EchoServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        # The exporter closed its connections: each handler ends at end of stream.
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=10)
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                lines = head.split("\r\n")
                path = lines[0].split(" ")[1]
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                await reader.readexactly(int(headers.get("content-length", "0")))
                auth = headers.get("authorization", "")
                self.received.append(auth)
                content_type, body = self._reply(path, self.echo(auth))
                writer.write(
                    f"HTTP/1.1 401 Unauthorized\r\ncontent-type: {content_type}\r\n"
                    f"content-length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    @staticmethod
    def _reply(path: str, echo: str) -> tuple[str, bytes]:
        if path.startswith("/v1/logs"):
            status = Status(code=16, message=f"unauthenticated: {echo} is not valid")
            return "application/x-protobuf", status.SerializeToString()
        if path.startswith("/services/collector"):
            return "application/json", orjson.dumps(
                {"text": f"Invalid authorization {echo}", "code": 3}
            )
        error = {"type": "security_exception", "reason": f"unable to authenticate {echo}"}
        return "application/json", orjson.dumps({"error": error, "status": 401})


def _http_exporter(kind: str, port: int) -> tuple[Any, str, list[str]]:
    """An exporter pointed at the echo server, the Authorization it must send, secrets."""
    base = f"http://127.0.0.1:{port}"
    if kind == "otlp-http-bearer":
        exporter: Any = OTLPHttpExporter(
            endpoint=f"{base}/v1/logs", headers={"authorization": f"Bearer {OTLP_TOKEN}"}
        )
        return exporter, f"Bearer {OTLP_TOKEN}", OTLP_SECRETS
    if kind == "otlp-http-userinfo":
        exporter = OTLPHttpExporter(endpoint=otlp_endpoint(port))
        return exporter, f"Basic {basic(OTLP_USER, OTLP_PASSWORD)}", OTLP_SECRETS
    if kind == "splunk":
        exporter = SplunkHECExporter(url=base, token=SPLUNK_TOKEN, gzip=False)
        return exporter, f"Splunk {SPLUNK_TOKEN}", SPLUNK_SECRETS
    if kind == "es-api-key":
        exporter = ElasticsearchExporter(url=base, api_key=ES_API_KEY)
        return exporter, f"ApiKey {ES_API_KEY}", ES_API_KEY_SECRETS
    exporter = ElasticsearchExporter(url=base, username=ES_USER, password=ES_PASSWORD)
    return exporter, f"Basic {basic(ES_USER, ES_PASSWORD)}", ES_BASIC_SECRETS


@pytest.mark.parametrize("echo", list(ECHOES))
@pytest.mark.parametrize(
    "kind", ["otlp-http-bearer", "otlp-http-userinfo", "splunk", "es-api-key", "es-basic"]
)
async def test_http_exporters_mask_echoed_credentials(kind: str, echo: str) -> None:
    """A 401 text echoing the credentials in any form has them masked in the reason."""
    async with EchoServer(ECHOES[echo]) as server:
        exporter, sent, secrets = _http_exporter(kind, server.port)
        try:
            result = await exporter.export(events())
            state_problems = leaks_in_state(exporter, secrets)
        finally:
            await exporter.shutdown()
    assert server.received == [sent]  # the credentials still reach the wire, exactly
    assert result.status is ExportStatus.FAILURE
    assert "***" in result.reason  # the echo made it into the reason, masked
    assert found(result.reason, secrets) == []
    assert found(repr(result), secrets) == []
    assert state_problems == []


_EXPORT_METHOD = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"


class _EchoGrpc(grpc.GenericRpcHandler):
    def __init__(self, echo: Callable[[str], str], received: list[str]) -> None:
        self.echo = echo
        self.received = received

    def service(self, handler_call_details: Any) -> Any:
        if handler_call_details.method != _EXPORT_METHOD:
            return None

        async def export(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            auth = dict(context.invocation_metadata() or ()).get("authorization", "")
            self.received.append(str(auth))
            await context.abort(
                grpc.StatusCode.UNAUTHENTICATED, f"token {self.echo(str(auth))} rejected"
            )
            raise AssertionError("abort returns only by raising")

        return grpc.unary_unary_rpc_method_handler(export)


@pytest.mark.parametrize("echo", list(ECHOES))
async def test_grpc_exporter_masks_echoed_credentials(echo: str) -> None:
    """gRPC status details echoing the metadata in any form have it masked."""
    received: list[str] = []
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((_EchoGrpc(ECHOES[echo], received),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    exporter = OTLPGrpcExporter(endpoint=f"http://127.0.0.1:{port}", headers=otlp_headers())
    try:
        result = await exporter.export(events())
        state_problems = leaks_in_state(exporter, OTLP_SECRETS)
    finally:
        await exporter.shutdown()
        await server.stop(None)
    assert received == [f"Bearer {OTLP_TOKEN}"]
    assert result.status is ExportStatus.FAILURE
    assert "***" in result.reason
    assert found(result.reason, OTLP_SECRETS) == []
    assert state_problems == []


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"denied: {OTLP_TOKEN.lower()}", f"Bearer {OTLP_TOKEN}"),
        (f"denied: {OTLP_TOKEN.upper()}", f"Bearer {OTLP_TOKEN}"),
        (f"denied: BEARER {OTLP_TOKEN.swapcase()}", f"Bearer {OTLP_TOKEN}"),
        (f"denied: {quote(OTLP_PASSWORD, safe='').lower()}", OTLP_PASSWORD),
        (f"denied: {quote_plus(OTLP_PASSWORD)}", OTLP_PASSWORD),
        (f"denied: {ES_USER}:{ES_PASSWORD}", f"Basic {basic(ES_USER, ES_PASSWORD)}"),
        (f"denied: {ES_PASSWORD.lower()}", f"Basic {basic(ES_USER, ES_PASSWORD)}"),
    ],
    ids=["lower", "upper", "scheme-and-token", "url-encoded", "quote-plus", "decoded", "pw"],
)
def test_safe_reason_masks_every_form_of_a_secret(text: str, secret: str) -> None:
    """Case changes, the token of a scheme, URL-encoding and decoded Basic are masked."""
    masked = safe_reason(text, secret_words(secret))
    assert masked.startswith("denied: ")
    assert "***" in masked
    assert found(masked, forms(OTLP_TOKEN, OTLP_PASSWORD, ES_PASSWORD)) == []
