"""A scriptable OTLP logs receiver (gRPC and HTTP) for testing exporters against faults.

One :class:`FaultServer` listens on two free loopback ports and answers each
``Export`` call — over either protocol — with the next action of its script,
recording every request it receives::

    with FaultServer() as server:
        server.script([Fail(grpc.StatusCode.UNAVAILABLE), Ok()])
        ...export to server.grpc_endpoint...
        assert server.wait_for_requests(2) == 2
        assert server.requests[1].log_record_count == 10

Actions: :class:`Ok`, :class:`Fail` (a gRPC status, optionally with ``RetryInfo``),
:class:`Partial` (partial success), :class:`HttpStatus` (an HTTP status, optionally
with ``Retry-After``) and :class:`Hang` (no answer until released or the client
gives up). When the script runs out, the server answers ``default`` (:class:`Ok`).
"""

from __future__ import annotations

import gzip
import http.server
import threading
import time
import zlib
from collections import deque
from concurrent import futures
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import grpc
from google.protobuf import duration_pb2, json_format
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc

if TYPE_CHECKING:
    from collections.abc import Iterable
    from types import TracebackType

    from opentelemetry.proto.logs.v1 import logs_pb2

__all__ = [
    "Action",
    "Fail",
    "FaultServer",
    "Hang",
    "HttpStatus",
    "Ok",
    "Partial",
    "ReceivedRequest",
]

_HOST = "127.0.0.1"

# OTLP/HTTP status for a scripted gRPC failure (the OTLP spec's retryable set:
# 429, 502, 503, 504; the rest are permanent).
_HTTP_FOR_GRPC: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}
# gRPC's own HTTP-to-gRPC status mapping, for HttpStatus answered over gRPC.
_GRPC_FOR_HTTP: dict[int, grpc.StatusCode] = {
    400: grpc.StatusCode.INTERNAL,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.UNIMPLEMENTED,
    429: grpc.StatusCode.UNAVAILABLE,
    502: grpc.StatusCode.UNAVAILABLE,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.UNAVAILABLE,
}


@dataclass(frozen=True)
class Ok:
    """Accept the request (an empty ``ExportLogsServiceResponse``)."""


@dataclass(frozen=True)
class Fail:
    """Fail with a gRPC status.

    Over gRPC the call ends with ``code`` and ``message``; with ``retry_info`` the
    trailers carry a ``google.rpc.RetryInfo`` twice: inside the standard
    ``grpc-status-details-bin`` ``google.rpc.Status``, and alone as
    ``google.rpc.retryinfo-bin`` (where the OTel Python exporter looks). Over HTTP
    the answer is the matching status (503 for ``UNAVAILABLE``, 429 for
    ``RESOURCE_EXHAUSTED``, ...; 500 otherwise) with that ``google.rpc.Status`` as
    a protobuf body and no ``Retry-After`` (script :class:`HttpStatus` for that).
    """

    code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE
    """The gRPC status code."""
    retry_info: float | None = None
    """Seconds the server asks the client to wait before retrying."""
    message: str = "scripted failure"
    """The status message."""


@dataclass(frozen=True)
class Partial:
    """Accept the request, reporting ``rejected`` log records as rejected."""

    rejected: int
    """``partial_success.rejected_log_records``."""
    message: str = ""
    """``partial_success.error_message``."""


@dataclass(frozen=True)
class HttpStatus:
    """Answer with an HTTP status (over gRPC: gRPC's mapping of it, e.g. 503 -> UNAVAILABLE)."""

    status: int
    """The HTTP status code."""
    retry_after: str | float | None = None
    """The ``Retry-After`` header: seconds or an HTTP-date (HTTP only)."""
    body: bytes | None = None
    """The response body; by default a ``google.rpc.Status`` for errors, empty for 2xx."""
    content_type: str = "application/x-protobuf"
    """The ``Content-Type`` of a given ``body``."""


@dataclass(frozen=True)
class Hang:
    """Do not answer until ``seconds`` pass, :meth:`FaultServer.release` or stop.

    Over gRPC the handler also ends when the client cancels or its deadline passes.
    A request still connected when the hang ends is answered with ``then``.
    """

    seconds: float | None = None
    """How long to hang at most (``None``: until released or stopped)."""
    then: Ok | Fail | Partial | HttpStatus = field(default_factory=Ok)
    """The answer after the hang."""


Action = Ok | Fail | Partial | HttpStatus | Hang


@dataclass(frozen=True)
class ReceivedRequest:
    """One ``Export`` call as the server received it."""

    protocol: Literal["grpc", "http"]
    """How it arrived."""
    request: logs_service_pb2.ExportLogsServiceRequest
    """The decoded request (empty if it could not be decoded)."""
    headers: dict[str, str]
    """HTTP headers or gRPC metadata, keys lowercased (``-bin`` values as latin-1)."""
    body_size: int
    """HTTP: body bytes as sent (compressed if compressed). gRPC: message bytes
    (gRPC decompresses before the handler sees the message)."""
    compression: str | None
    """``Content-Encoding`` (HTTP) or ``grpc-encoding`` (gRPC), if any."""
    path: str
    """The HTTP path or the gRPC method."""
    action: Action
    """What the server answered."""
    received_at: float = field(default_factory=time.monotonic)
    """``time.monotonic()`` on arrival."""

    @property
    def log_records(self) -> list[logs_pb2.LogRecord]:
        """Every log record in the request, in order."""
        return [
            record
            for resource_logs in self.request.resource_logs
            for scope_logs in resource_logs.scope_logs
            for record in scope_logs.log_records
        ]

    @property
    def log_record_count(self) -> int:
        """How many log records the request carried."""
        return sum(
            len(scope_logs.log_records)
            for resource_logs in self.request.resource_logs
            for scope_logs in resource_logs.scope_logs
        )


class FaultServer:
    """OTLP logs receiver on loopback (gRPC and HTTP) answering from a script.

    Args:
        default: The answer once the script is exhausted.
        max_workers: Concurrent gRPC calls (hanging calls hold one each).
    """

    def __init__(self, *, default: Action | None = None, max_workers: int = 16) -> None:
        self.default: Action = Ok() if default is None else default
        self._max_workers = max_workers
        self._cond = threading.Condition()
        self._script: deque[Action] = deque()
        self._requests: list[ReceivedRequest] = []
        self._record_count = 0
        self._released = threading.Event()
        self._grpc_server: grpc.Server | None = None
        self._http_server: http.server.ThreadingHTTPServer | None = None
        self._http_thread: threading.Thread | None = None
        self._grpc_port = 0
        self._http_port = 0

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Listen on a free gRPC port and a free HTTP port on 127.0.0.1."""
        self._released.clear()
        grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=self._max_workers))
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(_Servicer(self), grpc_server)
        self._grpc_port = grpc_server.add_insecure_port(f"{_HOST}:0")
        grpc_server.start()
        self._grpc_server = grpc_server

        handler = type("_BoundHandler", (_HttpHandler,), {"fault_server": self})
        http_server = http.server.ThreadingHTTPServer((_HOST, 0), handler)
        http_server.daemon_threads = True
        self._http_port = int(http_server.server_address[1])
        self._http_thread = threading.Thread(
            target=http_server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="otlp-fault-http",
            daemon=True,
        )
        self._http_thread.start()
        self._http_server = http_server

    def stop(self) -> None:
        """Release hanging calls and stop both listeners. Safe to call twice."""
        self._released.set()
        grpc_server, self._grpc_server = self._grpc_server, None
        if grpc_server is not None:
            grpc_server.stop(grace=None).wait(5)
        http_server, self._http_server = self._http_server, None
        if http_server is not None:
            http_server.shutdown()
            http_server.server_close()
        thread, self._http_thread = self._http_thread, None
        if thread is not None:
            thread.join(5)

    def __enter__(self) -> FaultServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses -------------------------------------------------------------------

    @property
    def grpc_endpoint(self) -> str:
        """``"http://127.0.0.1:PORT"`` of the gRPC listener."""
        return f"http://{_HOST}:{self._grpc_port}"

    @property
    def grpc_target(self) -> str:
        """``"127.0.0.1:PORT"``, for ``grpc.insecure_channel``."""
        return f"{_HOST}:{self._grpc_port}"

    @property
    def http_endpoint(self) -> str:
        """Base URL of the HTTP listener, ``"http://127.0.0.1:PORT"``."""
        return f"http://{_HOST}:{self._http_port}"

    @property
    def http_logs_endpoint(self) -> str:
        """``"http://127.0.0.1:PORT/v1/logs"``."""
        return f"{self.http_endpoint}/v1/logs"

    # -- script and observations -----------------------------------------------------

    def script(self, actions: Iterable[Action]) -> None:
        """Queue answers for the next requests, in order (after any still queued)."""
        with self._cond:
            self._script.extend(actions)

    @property
    def pending_actions(self) -> list[Action]:
        """Scripted answers not used yet."""
        with self._cond:
            return list(self._script)

    def release(self) -> None:
        """End every current and future :class:`Hang` (until the next :meth:`start`)."""
        self._released.set()

    @property
    def requests(self) -> list[ReceivedRequest]:
        """Every request received so far, in arrival order."""
        with self._cond:
            return list(self._requests)

    @property
    def record_count(self) -> int:
        """Log records in all requests received so far (answered or not)."""
        with self._cond:
            return self._record_count

    def wait_for_requests(self, n: int, timeout: float = 10.0) -> int:
        """Wait until ``n`` requests arrived (or ``timeout``); return how many did."""
        with self._cond:
            self._cond.wait_for(lambda: len(self._requests) >= n, timeout)
            return len(self._requests)

    def wait_for_records(self, n: int, timeout: float = 10.0) -> int:
        """Wait until requests carrying ``n`` log records arrived; return the count."""
        with self._cond:
            self._cond.wait_for(lambda: self._record_count >= n, timeout)
            return self._record_count

    def _receive(
        self,
        protocol: Literal["grpc", "http"],
        request: logs_service_pb2.ExportLogsServiceRequest,
        headers: dict[str, str],
        body_size: int,
        compression: str | None,
        path: str,
        answer: Action | None = None,
    ) -> Action:
        """Record a request and pick its answer (``answer`` bypasses the script)."""
        with self._cond:
            if answer is not None:
                action = answer
            else:
                action = self._script.popleft() if self._script else self.default
            received = ReceivedRequest(
                protocol, request, headers, body_size, compression, path, action
            )
            self._requests.append(received)
            self._record_count += received.log_record_count
            self._cond.notify_all()
        return action

    def _hang(self, action: Hang, cancelled: threading.Event | None = None) -> None:
        """Block for a :class:`Hang` until it times out, is released, or is cancelled."""
        deadline = None if action.seconds is None else time.monotonic() + action.seconds
        while not self._released.is_set() and not (cancelled is not None and cancelled.is_set()):
            remaining = 0.05 if deadline is None else min(0.05, deadline - time.monotonic())
            if remaining <= 0:
                return
            self._released.wait(remaining)


def _status_bytes(code: grpc.StatusCode, message: str, retry_info: float | None) -> bytes:
    """A serialized ``google.rpc.Status``, with a ``RetryInfo`` detail if asked."""
    status = status_pb2.Status(code=code.value[0], message=message)
    if retry_info is not None:
        status.details.add().Pack(_retry_info(retry_info))
    return status.SerializeToString()


def _retry_info(seconds: float) -> error_details_pb2.RetryInfo:
    delay = duration_pb2.Duration()
    delay.FromNanoseconds(round(seconds * 1e9))
    return error_details_pb2.RetryInfo(retry_delay=delay)


# -- gRPC ------------------------------------------------------------------------------


class _Servicer(logs_service_pb2_grpc.LogsServiceServicer):
    def __init__(self, server: FaultServer) -> None:
        self._server = server

    def Export(
        self,
        request: logs_service_pb2.ExportLogsServiceRequest,
        context: grpc.ServicerContext,
    ) -> logs_service_pb2.ExportLogsServiceResponse:
        headers = {
            key.lower(): value.decode("latin-1") if isinstance(value, bytes) else value
            for key, value in context.invocation_metadata()
        }
        action = self._server._receive(
            "grpc",
            request,
            headers,
            request.ByteSize(),
            headers.get("grpc-encoding"),
            "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
        )
        if isinstance(action, Hang):
            cancelled = threading.Event()
            context.add_callback(cancelled.set)
            self._server._hang(action, cancelled)
            if cancelled.is_set():
                return logs_service_pb2.ExportLogsServiceResponse()
            action = action.then
        return self._answer(action, context)

    def _answer(
        self, action: Action, context: grpc.ServicerContext
    ) -> logs_service_pb2.ExportLogsServiceResponse:
        if isinstance(action, Partial):
            response = logs_service_pb2.ExportLogsServiceResponse()
            response.partial_success.rejected_log_records = action.rejected
            response.partial_success.error_message = action.message
            return response
        if isinstance(action, Fail):
            trailers: list[tuple[str, str | bytes]] = []
            if action.retry_info is not None:
                trailers.append(
                    (
                        "grpc-status-details-bin",
                        _status_bytes(action.code, action.message, action.retry_info),
                    )
                )
                trailers.append(
                    (
                        "google.rpc.retryinfo-bin",
                        _retry_info(action.retry_info).SerializeToString(),
                    )
                )
                context.set_trailing_metadata(trailers)
            context.abort(action.code, action.message)
        if isinstance(action, HttpStatus) and not 200 <= action.status < 300:
            code = _GRPC_FOR_HTTP.get(action.status, grpc.StatusCode.UNKNOWN)
            context.abort(code, f"HTTP status {action.status}")
        return logs_service_pb2.ExportLogsServiceResponse()


# -- HTTP ------------------------------------------------------------------------------


class _HttpHandler(http.server.BaseHTTPRequestHandler):
    fault_server: FaultServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path != "/v1/logs":
            self._respond(404, b"", "text/plain")
            return
        headers = {key.lower(): value for key, value in self.headers.items()}
        compression = headers.get("content-encoding")
        content_type = headers.get("content-type", "application/x-protobuf")
        request = logs_service_pb2.ExportLogsServiceRequest()
        # An undecodable body is answered 400 without using up a scripted answer.
        undecodable: Action | None = None
        try:
            body = _decompress(raw, compression)
            if content_type.startswith("application/json"):
                json_format.Parse(body, request)
            else:
                request.ParseFromString(body)
        except Exception:
            request.Clear()
            undecodable = HttpStatus(
                400, body=b"undecodable request body", content_type="text/plain"
            )
        action = self.fault_server._receive(
            "http", request, headers, len(raw), compression, self.path, undecodable
        )
        if isinstance(action, Hang):
            self.fault_server._hang(action)
            action = action.then
        self._answer(action, content_type)

    def _answer(self, action: Action, content_type: str) -> None:
        as_json = content_type.startswith("application/json")
        if isinstance(action, Ok | Partial):
            response = logs_service_pb2.ExportLogsServiceResponse()
            if isinstance(action, Partial):
                response.partial_success.rejected_log_records = action.rejected
                response.partial_success.error_message = action.message
            self._respond(200, *_encode(response, as_json))
        elif isinstance(action, Fail):
            status = _HTTP_FOR_GRPC.get(action.code, 500)
            body = _status_bytes(action.code, action.message, action.retry_info)
            self._respond(status, body, "application/x-protobuf")
        elif isinstance(action, HttpStatus):
            extra = {}
            if action.retry_after is not None:
                retry_after = action.retry_after
                if isinstance(retry_after, float) and retry_after.is_integer():
                    retry_after = int(retry_after)
                extra["Retry-After"] = str(retry_after)
            if action.body is not None:
                body, body_type = action.body, action.content_type
            elif 200 <= action.status < 300:
                body, body_type = _encode(logs_service_pb2.ExportLogsServiceResponse(), as_json)
            else:
                code = _GRPC_FOR_HTTP.get(action.status, grpc.StatusCode.UNKNOWN)
                body = _status_bytes(code, f"HTTP status {action.status}", None)
                body_type = "application/x-protobuf"
            self._respond(action.status, body, body_type, extra)

    def _respond(
        self,
        status: int,
        body: bytes,
        content_type: str,
        extra_headers: dict[str, str] | None = None,
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (extra_headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (e.g. after a Hang)


def _decompress(body: bytes, encoding: str | None) -> bytes:
    if encoding in (None, "", "identity"):
        return body
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    raise ValueError(f"unsupported Content-Encoding {encoding!r}")


def _encode(
    message: logs_service_pb2.ExportLogsServiceResponse, as_json: bool
) -> tuple[bytes, str]:
    if as_json:
        return json_format.MessageToJson(message).encode(), "application/json"
    return message.SerializeToString(), "application/x-protobuf"
