"""A protocol-faithful Elasticsearch ``_bulk`` endpoint on 127.0.0.1, for tests.

It behaves as Elasticsearch 8 documents the bulk API, as far as an exporter can see:

* ``POST /_bulk`` and ``POST /<target>/_bulk``; NDJSON bodies (``application/x-ndjson``
  or ``application/json``), which must end with a newline; ``Content-Encoding: gzip``;
  ``filter_path`` response filtering (arrays transparent, ``*`` wildcards);
* ``create`` and ``index`` actions; an id that exists fails a ``create`` with 409
  ``version_conflict_engine_exception``; targets matching ``logs-*-*`` are data streams:
  they accept only ``create`` and need ``@timestamp`` (400
  ``document_parsing_exception`` otherwise); other targets are plain indices;
* dynamic mapping: the first value seen at a field path fixes its type, and a later
  document that conflicts (a word into a ``long``, a value where an object is mapped)
  fails with 400 ``document_parsing_exception`` like the real thing;
* authentication (``ApiKey`` or ``Basic``) with 401 ``security_exception`` and the
  ``WWW-Authenticate`` header, 403 for an unauthorised user, 413 above
  ``max_content_length``;
* scriptable faults, consumed one per request: whole-request statuses with
  ``Retry-After``, per-item statuses, a dropped connection after indexing.

Every request is recorded with the exact bytes received.
"""

from __future__ import annotations

import base64
import datetime
import fnmatch
import gzip
import itertools
import json
import socket
import ssl
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

# -- scriptable faults ------------------------------------------------------------------


@dataclass(frozen=True)
class Ok:
    """Process the request normally."""


@dataclass(frozen=True)
class Status:
    """Answer the whole request with ``code`` and an Elasticsearch error body."""

    code: int
    error_type: str = "es_rejected_execution_exception"
    reason: str = "rejected execution of coordinating operation"
    retry_after: str | None = None


@dataclass(frozen=True)
class ItemStatuses:
    """Fail the items at these positions of the request; process the others.

    ``statuses`` maps a position to ``(status, error type, reason)``.
    """

    statuses: dict[int, tuple[int, str, str]]


@dataclass(frozen=True)
class DropAfterIndexing:
    """Index the documents, then close the connection without answering."""


Fault = Ok | Status | ItemStatuses | DropAfterIndexing

TOO_MANY = (429, "es_rejected_execution_exception", "rejected execution of primary operation")
UNAVAILABLE = (503, "unavailable_shards_exception", "primary shard is not active")


# -- records ----------------------------------------------------------------------------


@dataclass
class BulkRequest:
    """One request as received, and what was answered."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]
    raw: bytes
    """The body exactly as sent (compressed if it was)."""
    body: bytes
    """The body after decompression."""
    received_at: float
    status: int = 0
    response: dict[str, Any] | None = None

    @property
    def lines(self) -> list[bytes]:
        return self.body.split(b"\n")[:-1]

    @property
    def actions(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines[0::2]]

    @property
    def sources(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines[1::2]]

    @property
    def ids(self) -> list[str]:
        return [next(iter(a.values())).get("_id", "") for a in self.actions]


@dataclass
class _Target:
    is_data_stream: bool
    docs: dict[str, dict[str, Any]] = field(default_factory=dict)
    mapping: dict[str, str] = field(default_factory=dict)


# -- the server -------------------------------------------------------------------------


class EsBulkServer:
    """The fake cluster. Use as a context manager; ``url`` is its base URL.

    Args:
        api_key: the encoded API key to require (``Authorization: ApiKey <key>``).
        basic: ``(user, password)`` to require (``Authorization: Basic``).
        forbidden: answer every authenticated request 403.
        tls: serve HTTPS with this server context.
        max_content_length: bodies above this many bytes get 413.
        data_streams: target patterns that are data streams.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        basic: tuple[str, str] | None = None,
        forbidden: bool = False,
        tls: ssl.SSLContext | None = None,
        max_content_length: int = 100 * 1024 * 1024,
        data_streams: Iterable[str] = ("logs-*-*",),
    ) -> None:
        self.api_key = api_key
        self.basic = basic
        self.forbidden = forbidden
        self.tls = tls
        self.max_content_length = max_content_length
        self.data_streams = tuple(data_streams)
        self.requests: list[BulkRequest] = []
        self.targets: dict[str, _Target] = {}
        self.rejections: list[tuple[Callable[[dict[str, Any]], bool], tuple[int, str, str]]] = []
        self.port = 0
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._seq = itertools.count()
        self._auto_ids = itertools.count(1)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------

    def start(self) -> EsBulkServer:
        """Listen (again, on the same port after :meth:`stop`)."""
        server = self

        class Handler(_Handler):
            owner = server

        httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        httpd.daemon_threads = True
        if self.tls is not None:
            httpd.socket = self.tls.wrap_socket(httpd.socket, server_side=True)
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening; connections are then refused."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> EsBulkServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    # -- scripting and inspection ---------------------------------------------------

    def script(self, faults: Iterable[Fault]) -> None:
        """Queue faults; each request consumes one (then they are processed normally)."""
        with self._lock:
            self._faults.extend(faults)

    def reject_when(
        self, predicate: Callable[[dict[str, Any]], bool], status: int, error_type: str, reason: str
    ) -> None:
        """Fail every document for which ``predicate(source)`` holds."""
        self.rejections.append((predicate, (status, error_type, reason)))

    def documents(self, target: str = "logs-generic-default") -> list[dict[str, Any]]:
        """The stored sources of ``target``, in indexing order."""
        with self._lock:
            t = self.targets.get(target)
            return list(t.docs.values()) if t else []

    def document_ids(self, target: str = "logs-generic-default") -> list[str]:
        with self._lock:
            t = self.targets.get(target)
            return list(t.docs) if t else []

    def next_fault(self) -> Fault:
        with self._lock:
            return self._faults.popleft() if self._faults else Ok()

    # -- the bulk API ----------------------------------------------------------------

    def handle_bulk(
        self, target: str | None, body: bytes, fault: Fault
    ) -> tuple[int, dict[str, Any]]:
        """Process a decompressed body; returns (status, response)."""
        started = time.monotonic()
        if not body:
            return 400, _error(
                "action_request_validation_exception", "Validation Failed: 1: no requests added;"
            )
        if not body.endswith(b"\n"):
            return 400, _error(
                "illegal_argument_exception",
                "The bulk request must be terminated by a newline [\\n]",
            )
        lines = body.split(b"\n")[:-1]
        ops: list[tuple[str, dict[str, Any], bytes | None]] = []
        i = 0
        while i < len(lines):
            try:
                action = json.loads(lines[i])
            except ValueError:
                return 400, _error(
                    "illegal_argument_exception",
                    f"Malformed action/metadata line [{i + 1}], expected START_OBJECT or "
                    "END_OBJECT but found [VALUE_STRING]",
                )
            if not isinstance(action, dict) or len(action) != 1:
                return 400, _error(
                    "illegal_argument_exception",
                    f"Malformed action/metadata line [{i + 1}], expected a simple value "
                    "for field [create] but found [START_OBJECT]",
                )
            ((op, meta),) = action.items()
            if op not in ("create", "index", "update", "delete"):
                return 400, _error(
                    "illegal_argument_exception",
                    f"Malformed action/metadata line [{i + 1}], expected one of "
                    f"[create, delete, index, update] but found [{op}]",
                )
            if op == "delete":
                ops.append((op, meta, None))
                i += 1
                continue
            if i + 1 >= len(lines):
                return 400, _error(
                    "action_request_validation_exception",
                    "Validation Failed: 1: source is missing;",
                )
            ops.append((op, meta, lines[i + 1]))
            i += 2
        if any(not (meta.get("_index") or target) for _, meta, _ in ops):
            return 400, _error(
                "action_request_validation_exception", "Validation Failed: 1: index is missing;"
            )
        statuses = fault.statuses if isinstance(fault, ItemStatuses) else {}
        items = []
        with self._lock:
            for position, (op, meta, source) in enumerate(ops):
                name = meta.get("_index") or target
                assert name is not None
                forced = statuses.get(position)
                items.append({op: self._one(op, name, meta, source, forced)})
        errors = any("error" in next(iter(item.values())) for item in items)
        took = int((time.monotonic() - started) * 1000)
        return 200, {"errors": errors, "took": took, "items": items}

    def _one(
        self,
        op: str,
        name: str,
        meta: dict[str, Any],
        source: bytes | None,
        forced: tuple[int, str, str] | None,
    ) -> dict[str, Any]:
        target = self.targets.get(name)
        if target is None:
            is_ds = any(fnmatch.fnmatchcase(name, p) for p in self.data_streams)
            target = self.targets[name] = _Target(is_data_stream=is_ds)
        index = _backing_index(name) if target.is_data_stream else name
        doc_id = meta.get("_id")
        if doc_id is None:
            doc_id = f"auto{next(self._auto_ids):016d}"
        doc_id = str(doc_id)
        head = {"_index": index, "_id": doc_id}
        if forced is not None:
            return {**head, "status": forced[0], "error": _item_error(forced[1], forced[2], index)}
        if op not in ("create", "index"):
            return {
                **head,
                "status": 400,
                "error": _item_error(
                    "illegal_argument_exception", f"{op} is not supported by this fake", index
                ),
            }
        if target.is_data_stream and op != "create":
            return {
                **head,
                "status": 400,
                "error": _item_error(
                    "illegal_argument_exception",
                    "only write ops with an op_type of create are allowed in data streams",
                    index,
                ),
            }
        try:
            doc = json.loads(source or b"")
        except ValueError:
            return {
                **head,
                "status": 400,
                "error": _item_error("document_parsing_exception", "[1:1] failed to parse", index),
            }
        if not isinstance(doc, dict):
            return {
                **head,
                "status": 400,
                "error": _item_error(
                    "document_parsing_exception",
                    "[1:1] failed to parse: expected START_OBJECT",
                    index,
                ),
            }
        if target.is_data_stream and "@timestamp" not in doc:
            return {
                **head,
                "status": 400,
                "error": _item_error(
                    "document_parsing_exception",
                    "[1:2] failed to parse: data stream timestamp field [@timestamp] is missing",
                    index,
                ),
            }
        for predicate, (status, error_type, reason) in self.rejections:
            if predicate(doc):
                return {**head, "status": status, "error": _item_error(error_type, reason, index)}
        if doc_id in target.docs and op == "create":
            return {
                **head,
                "status": 409,
                "error": _item_error(
                    "version_conflict_engine_exception",
                    f"[{doc_id}]: version conflict, document already exists (current version [1])",
                    index,
                ),
            }
        conflict = _map_document(target.mapping, doc, doc_id)
        if conflict is not None:
            return {
                **head,
                "status": 400,
                "error": _item_error("document_parsing_exception", conflict, index),
            }
        created = doc_id not in target.docs
        target.docs[doc_id] = doc
        return {
            **head,
            "_version": 1,
            "result": "created" if created else "updated",
            "_shards": {"total": 2, "successful": 1, "failed": 0},
            "_seq_no": next(self._seq),
            "_primary_term": 1,
            "status": 201 if created else 200,
        }

    def check_auth(self, header: str | None) -> tuple[int, dict[str, Any]] | None:
        if self.api_key is None and self.basic is None:
            return None
        scheme, _, credential = (header or "").partition(" ")
        if not header:
            return 401, _error(
                "security_exception", "missing authentication credentials for REST request"
            )
        ok = (self.api_key is not None and scheme == "ApiKey" and credential == self.api_key) or (
            self.basic is not None
            and scheme == "Basic"
            and credential == base64.b64encode(":".join(self.basic).encode()).decode()
        )
        if not ok:
            return 401, _error(
                "security_exception", "unable to authenticate with provided credentials"
            )
        if self.forbidden:
            return 403, _error(
                "security_exception",
                "action [indices:data/write/bulk] is unauthorized for user [fapilog] "
                "with effective roles [viewer]",
            )
        return None


def _error(error_type: str, reason: str) -> dict[str, Any]:
    return {
        "error": {
            "root_cause": [{"type": error_type, "reason": reason}],
            "type": error_type,
            "reason": reason,
        }
    }


def _item_error(error_type: str, reason: str, index: str) -> dict[str, Any]:
    return {
        "type": error_type,
        "reason": reason,
        "index_uuid": "aAsFqTI0Tc2W0LCWgPNrOA",
        "shard": "0",
        "index": index,
    }


def _backing_index(name: str) -> str:
    day = datetime.datetime.now(datetime.UTC).strftime("%Y.%m.%d")
    return f".ds-{name}-{day}-000001"


_KIND = {bool: "boolean", int: "long", float: "float", str: "keyword"}


def _map_document(mapping: dict[str, str], doc: dict[str, Any], doc_id: str) -> str | None:
    """Apply dynamic mapping; return a parse error on a conflict (nothing is mapped then)."""
    bad = _bad_field_name(doc)
    if bad is not None:
        return bad
    new: dict[str, str] = {}
    for path, value in _leaves(doc, ""):
        kind = "object" if isinstance(value, dict) else _KIND.get(type(value))
        if kind is None:  # null: no mapping
            continue
        known = mapping.get(path) or new.get(path)
        if known is None:
            new[path] = kind
            continue
        if known == kind or (known == "keyword" and kind != "object"):
            continue
        if known == "float" and kind == "long":
            continue
        if known in ("long", "float") and kind == "keyword" and _numeric(value):
            continue
        if known == "object" or kind == "object":
            return (
                f"[1:2] object mapping for [{path}] tried to parse field [{path}] as "
                f"{'object' if kind == 'object' else 'concrete value'}, but found a "
                f"{'concrete value' if kind == 'object' else 'object'}"
            )
        return (
            f"[1:2] failed to parse field [{path}] of type [{known}] in document with id "
            f"'{doc_id}'. Preview of field's value: '{value}'"
        )
    mapping.update(new)
    return None


def _bad_field_name(value: Any) -> str | None:
    if isinstance(value, list):
        for item in value:
            if (bad := _bad_field_name(item)) is not None:
                return bad
    if not isinstance(value, dict):
        return None
    for key, item in value.items():
        if any(not part.strip() for part in str(key).split(".")):
            if not str(key).strip():
                return "[1:2] field name cannot be an empty string"
            return f"[1:2] field name cannot contain only whitespace: ['{key}']"
        if (bad := _bad_field_name(item)) is not None:
            return bad
    return None


def _leaves(value: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            # Elasticsearch expands dotted field names into objects.
            parts = str(key).split(".")
            path = prefix
            for part in parts[:-1]:
                path = f"{path}.{part}" if path else part
                yield path, {}
            path = f"{path}.{parts[-1]}" if path else parts[-1]
            yield path, item if not isinstance(item, dict) else {}
            if isinstance(item, dict):
                yield from _leaves(item, path)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item, prefix)


def _numeric(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def filter_response(value: Any, patterns: list[list[str]]) -> Any:
    """Elasticsearch ``filter_path``: keep what the dotted patterns select."""
    if isinstance(value, list):
        kept = [filter_response(item, patterns) for item in value]
        return [k for k in kept if k not in (None, {}, [])]
    if not isinstance(value, dict):
        return None
    out: dict[str, Any] = {}
    for key, item in value.items():
        rest = [p[1:] for p in patterns if p and fnmatch.fnmatchcase(key, p[0])]
        if not rest:
            continue
        if any(not r for r in rest):
            out[key] = item
            continue
        kept = filter_response(item, rest)
        if kept not in (None, {}, []):
            out[key] = kept
    return out


# -- HTTP -------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    owner: EsBulkServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        owner = self.owner
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length)
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        headers = {k.lower(): v for k, v in self.headers.items()}
        record = BulkRequest(parts.path, query, headers, raw, b"", time.monotonic())
        with owner._lock:
            owner.requests.append(record)
        status, response, extra = self._process(record)
        record.status, record.response = status, response
        if status == -1:  # drop the connection
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if response is not None and "filter_path" in query:
            patterns = [p.split(".") for p in query["filter_path"].split(",") if p]
            response = filter_response(response, patterns)
        self._reply(status, response, extra)

    def _process(self, record: BulkRequest) -> tuple[int, dict[str, Any] | None, dict[str, str]]:
        owner = self.owner
        segments = [unquote(s) for s in record.path.split("/") if s]
        if not segments or segments[-1] != "_bulk" or len(segments) > 2:
            return 404, _error("invalid_index_name_exception", "no handler found"), {}
        denied = owner.check_auth(record.headers.get("authorization"))
        if denied is not None:
            extra = {"WWW-Authenticate": 'Basic realm="security", charset="UTF-8", ApiKey'}
            return denied[0], {**denied[1], "status": denied[0]}, extra if denied[0] == 401 else {}
        content_type = record.headers.get("content-type", "").split(";")[0].strip()
        if content_type not in ("application/x-ndjson", "application/json"):
            return (
                406,
                {"error": f"Content-Type header [{content_type}] is not supported", "status": 406},
                {},
            )
        if len(record.raw) > owner.max_content_length:
            return 413, None, {}
        body = record.raw
        if record.headers.get("content-encoding", "").lower() == "gzip":
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError, zlib.error):
                return 400, _error("parse_exception", "failed to decompress the body"), {}
        if len(body) > owner.max_content_length:
            return 413, None, {}
        record.body = body
        fault = owner.next_fault()
        if isinstance(fault, Status):
            extra = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            return (
                fault.code,
                {**_error(fault.error_type, fault.reason), "status": fault.code},
                extra,
            )
        target = segments[0] if len(segments) == 2 else None
        status, response = owner.handle_bulk(target, body, fault)
        if isinstance(fault, DropAfterIndexing):
            return -1, response, {}
        return status, response, {}

    def _reply(self, status: int, response: dict[str, Any] | None, extra: dict[str, str]) -> None:
        data = b"" if response is None else json.dumps(response).encode()
        self.send_response(status)
        if response is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in extra.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


# -- TLS material -----------------------------------------------------------------------


@dataclass
class Certificates:
    """A CA and a server certificate it signed, as PEM files."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def make_certificates(
    directory: Path, *, hostname: str = "127.0.0.1", self_signed: bool = False
) -> Certificates:
    """Generate a CA and a server certificate for ``hostname`` (an IP or a DNS name).

    With ``self_signed`` the server certificate signs itself (``ca_file`` is then the
    server certificate too).
    """
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    validity = (now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=1))

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(name("fapilog test CA"))
        .issuer_name(name("fapilog test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    try:
        san: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(hostname))
    except ValueError:
        san = x509.DNSName(hostname)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name(hostname))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(x509.SubjectAlternativeName([san]), critical=False)
    )
    if self_signed:
        cert = builder.issuer_name(name(hostname)).sign(key, hashes.SHA256())
    else:
        cert = (
            builder.issuer_name(ca_cert.subject)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
            .add_extension(
                x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
    pem = serialization.Encoding.PEM
    ca_file = directory / "ca.pem"
    cert_file = directory / "server.pem"
    key_file = directory / "server.key"
    ca_file.write_bytes((cert if self_signed else ca_cert).public_bytes(pem))
    cert_file.write_bytes(cert.public_bytes(pem))
    key_file.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return Certificates(ca_file, cert_file, key_file)
