"""``FapilogMiddleware``: request context, trace context and access logs for any ASGI app."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

import fapilog
from fapilog.plugin import install_process_hooks
from fapilog_instrumentation_asgi import _servers
from fapilog_instrumentation_asgi._exclude import Excluder, otel_excluded_urls
from fapilog_instrumentation_asgi._headers import (
    HeaderCapture,
    HeadersGetter,
    header,
    new_request_id,
    usable_request_id,
)
from fapilog_instrumentation_asgi._options import MiddlewareOptions

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, MutableMapping

    Scope = MutableMapping[str, Any]
    Message = MutableMapping[str, Any]
    Receive = Callable[[], Awaitable[Message]]
    Send = Callable[[Message], Awaitable[None]]
    ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

__all__ = ["FapilogMiddleware"]

_GETTER = HeadersGetter()
_KNOWN_METHODS = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE", "QUERY"}
)
_HANDLED = "fapilog.handled"  # scope key set by the outermost FapilogMiddleware
_CLIENT_CLOSED_REQUEST = 499  # nginx's status for "the client went away first"


class FapilogMiddleware:
    """Pure ASGI middleware: request context on every log, one access record per request.

    For each HTTP request and WebSocket it binds (with :func:`fapilog.bind_context`,
    so concurrent requests never mix) ``http.request.method``, ``url.path``,
    ``url.scheme``, ``client.address``, ``client.port``, ``user_agent.original``,
    ``network.protocol.version``, ``http.request.id`` and any captured request headers;
    without an active server span it attaches the caller's W3C trace context and
    baggage. After the response it logs one access record on ``fapilog.access``
    (see :class:`MiddlewareOptions` and ``docs/fastapi.md``). Lifespan events pass through.

    Example::

        app = FapilogMiddleware(my_asgi_app, exclude_paths=["/health"])

    Args:
        app: the ASGI application to wrap.
        options: a :class:`MiddlewareOptions`; or give its fields as keywords.
        **kwargs: fields of :class:`MiddlewareOptions`.

    Raises:
        pydantic.ValidationError: an option is unknown or invalid.
        TypeError: both ``options`` and keywords were given.
    """

    def __init__(self, app: ASGIApp, options: MiddlewareOptions | None = None, **kwargs: Any):
        if options is not None and kwargs:
            raise TypeError("pass either options=MiddlewareOptions(...) or keywords, not both")
        self.app = app
        self.options = opts = options if options is not None else MiddlewareOptions(**kwargs)
        url_pattern = otel_excluded_urls() if opts.honour_otel_excluded_urls else None
        self._excluder = Excluder(opts.exclude_paths, url_pattern)
        self._request_headers = HeaderCapture(
            opts.capture_request_headers, opts.sensitive_headers, "http.request.header."
        )
        self._response_headers = HeaderCapture(
            opts.capture_response_headers, opts.sensitive_headers, "http.response.header."
        )
        self._id_header = opts.request_id_header.encode() if opts.request_id_header else None
        self._echo_header = (
            opts.response_request_id_header.encode() if opts.response_request_id_header else None
        )
        self._access = fapilog.get_logger(opts.access_logger_name)
        self._errors = fapilog.get_logger(opts.error_logger_name)
        self._servers_checked = False
        self._enter_failed = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http" or kind == "websocket":
            if not self._servers_checked:
                self._check_server_loggers()
            if _HANDLED in scope or (self._excluder.active and self._excluder.excluded(scope)):
                # Excluded, or an outer FapilogMiddleware (e.g. of an app this sub-app is
                # mounted in) already handles this request: log it once, not twice.
                await self.app(scope, receive, send)
            elif kind == "http":
                await self._http(scope, receive, send)
            else:
                await self._websocket(scope, receive, send)
            return
        if kind == "lifespan":
            # The server configured its logging before starting the app, possibly
            # undoing a routing done at import time: check again now.
            self._check_server_loggers()
            if self.options.flush_on_shutdown:
                send = _flushing_send(send, self.options.flush_timeout)
        await self.app(scope, receive, send)

    def _check_server_loggers(self) -> None:
        self._servers_checked = True
        try:
            if self.options.route_server_loggers:
                _servers.ensure_routed(disable_access_logs=self.options.access_log)
            if self.options.capture_stdlib:
                _servers.capture_root_logger()
            # In a server that installed its signal handlers after the app was imported
            # (a gunicorn worker after --preload), chain fapilog's SIGTERM hook now.
            install_process_hooks()
        except Exception as exc:  # logging setup must never break serving
            self._errors.warning("could not route server loggers", exc_info=exc)

    # -- request context ----------------------------------------------------------------

    def _safe_enter(self, scope: Scope) -> tuple[list[object], str | None, str] | None:
        """:meth:`_enter`, or ``None`` (request served without context) if it failed."""
        tokens: list[object] = []
        try:
            request_id, method = self._enter(scope, tokens)
        except Exception as exc:  # e.g. a custom propagator raising: never fail the request
            self._exit(tokens)
            if not self._enter_failed:
                self._enter_failed = True
                self._errors.warning("request context unavailable", exc_info=exc)
            return None
        return tokens, request_id, method

    def _enter(self, scope: Scope, tokens: list[object]) -> tuple[str | None, str]:
        """Attach trace context and bind the request fields, appending undo tokens."""
        scope[_HANDLED] = True
        headers: list[tuple[bytes, bytes]] = scope.get("headers") or []
        first: dict[bytes, bytes] = {}  # ASGI header names are lower-case bytes
        for name, value in headers:
            if name not in first:
                first[name] = value
        if self.options.extract_trace_context and _carries_propagation(first):
            current = otel_context.get_current()
            if not trace.get_current_span(current).get_span_context().is_valid:
                extracted = propagate.extract(headers, context=current, getter=_GETTER)
                if extracted is not current:  # the propagators found a header
                    tokens.append(otel_context.attach(extracted))
        fields: dict[str, Any] = {"url.path": scope.get("path", "")}
        method = ""
        if scope["type"] == "http":
            raw_method = scope.get("method", "")
            method = raw_method if raw_method in _KNOWN_METHODS else "_OTHER"
            fields["http.request.method"] = method
            if method == "_OTHER":
                fields["http.request.method_original"] = raw_method
        fields["url.scheme"] = scope.get("scheme") or (
            "ws" if scope["type"] == "websocket" else "http"
        )
        client = scope.get("client")
        if client:
            fields["client.address"] = client[0]
            if len(client) > 1 and client[1] is not None:
                fields["client.port"] = client[1]
        http_version = scope.get("http_version")
        if http_version:
            fields["network.protocol.version"] = http_version
        agent = first.get(b"user-agent")
        if agent is not None:
            fields["user_agent.original"] = agent.decode("latin-1")
        request_id = None
        if self._id_header is not None:
            raw = first.get(self._id_header)
            request_id = usable_request_id(raw) if raw is not None else None
        if request_id is None and self.options.generate_request_id:
            request_id = new_request_id()
        if request_id is not None:
            fields["http.request.id"] = request_id
        if self._request_headers:
            fields.update(self._request_headers.capture(headers))
        tokens.append(fapilog.bind_context(**fields))
        return request_id, method

    @staticmethod
    def _exit(tokens: list[object]) -> None:
        for token in reversed(tokens):
            if isinstance(token, fapilog.bind_context):
                token.unbind()
            else:
                otel_context.detach(token)  # type: ignore[arg-type]  # what attach returned

    def _log_exception(self, exc: BaseException) -> None:
        if _servers.already_logged(exc):  # an inner middleware (or app) logged it
            return
        self._errors.exception("Exception in ASGI application", exc_info=exc)
        _servers.mark_logged(exc)

    # -- HTTP -------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        entered = self._safe_enter(scope)
        if entered is None:
            await self.app(scope, receive, send)
            return
        tokens, request_id, method = entered
        try:
            state = _HttpState()
            echo = self._echo_header if request_id is not None else None
            capture = self._response_headers

            async def send_wrapper(message: Message) -> None:
                kind = message["type"]
                if kind == "http.response.start":
                    state.status = message["status"]
                    if echo is not None or capture:
                        response_headers = list(message.get("headers") or ())
                        if echo is not None and header(response_headers, echo) is None:
                            response_headers.append((echo, request_id.encode()))  # type: ignore[union-attr]  # echo implies an id
                            message = {**message, "headers": response_headers}
                        if capture:
                            state.response_attributes = capture.capture(response_headers)
                elif kind == "http.response.body":
                    state.body_size += len(message.get("body", b""))
                    if not message.get("more_body", False):
                        state.end = time.perf_counter()
                elif kind == "http.response.pathsend":  # ASGI extension: the server sends a file
                    state.end = time.perf_counter()
                await send(message)

            async def receive_wrapper() -> Message:
                message = await receive()
                if message["type"] == "http.disconnect" and state.end is None:
                    state.disconnected = True
                return message

            try:
                await self.app(scope, receive_wrapper, send_wrapper)
            except Exception as exc:
                state.error = exc
                self._log_exception(exc)
                raise
            except BaseException as exc:  # cancelled (server shutdown, disconnect)
                state.error = exc
                raise
            finally:
                if self.options.access_log:
                    self._log_access(scope, method, state)
        finally:
            self._exit(tokens)

    def _log_access(self, scope: Scope, method: str, state: _HttpState) -> None:
        end = state.end if state.end is not None else time.perf_counter()
        status = state.status
        if status is None:
            status = _CLIENT_CLOSED_REQUEST if state.disconnected and state.error is None else 500
        fields: dict[str, Any] = {
            "http.response.status_code": status,
            "http.server.request.duration": end - state.start,
            "http.response.body.size": state.body_size,
        }
        route = route_of(scope)
        if route:
            fields["http.route"] = route
        if state.error is not None:
            fields["error.type"] = type(state.error).__qualname__
        elif status >= 500:
            fields["error.type"] = str(status)
        if state.disconnected:
            fields["client.disconnected"] = True
        if state.response_attributes:
            fields.update(state.response_attributes)
        message = f"{method} {scope.get('path', '')} {status}"
        if status >= 500 or isinstance(state.error, Exception):
            self._access.error(message, **fields)
        elif status >= 400:
            self._access.warning(message, **fields)
        else:
            self._access.info(message, **fields)

    # -- WebSocket --------------------------------------------------------------------

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        entered = self._safe_enter(scope)
        if entered is None:
            await self.app(scope, receive, send)
            return
        tokens = entered[0]
        start = time.perf_counter()
        path = scope.get("path", "")
        state: dict[str, Any] = {"accepted": False, "code": None, "status": None}
        log_it = self.options.access_log

        async def send_wrapper(message: Message) -> None:
            kind = message["type"]
            if kind == "websocket.accept":
                state["accepted"] = True
                if log_it:
                    route = route_of(scope)
                    extra: dict[str, Any] = {"http.route": route} if route else {}
                    self._access.info(f"WebSocket {path} accepted", **extra)
            elif kind == "websocket.close" and state["code"] is None:
                state["code"] = message.get("code", 1000)
            elif kind == "websocket.http.response.start":
                state["status"] = message["status"]
            await send(message)

        async def receive_wrapper() -> Message:
            message = await receive()
            if message["type"] == "websocket.disconnect" and state["code"] is None:
                state["code"] = message.get("code", 1005)
            return message

        error: BaseException | None = None
        try:
            await self.app(scope, receive_wrapper, send_wrapper)
        except Exception as exc:
            error = exc
            self._log_exception(exc)
            raise
        finally:
            if log_it:
                fields: dict[str, Any] = {
                    "http.server.request.duration": time.perf_counter() - start
                }
                route = route_of(scope)
                if route:
                    fields["http.route"] = route
                if state["code"] is not None:
                    fields["websocket.close.code"] = state["code"]
                if error is not None:
                    fields["error.type"] = type(error).__qualname__
                if state["accepted"]:
                    self._access.info(f"WebSocket {path} closed", **fields)
                else:
                    fields["http.response.status_code"] = state["status"] or 403
                    self._access.warning(f"WebSocket {path} rejected", **fields)
            self._exit(tokens)


def _flushing_send(send: Send, timeout: float) -> Send:
    """Wrap a lifespan ``send`` to flush fapilog before reporting shutdown complete.

    uvicorn (also as a gunicorn worker) ends on SIGTERM by re-raising the signal after
    shutdown, so interpreter-exit hooks never run. Everything the application logged
    is delivered here; the server's own later lines are flushed as they are written
    (fapilog's SIGTERM hook, see ``fapilog.pipeline._lifecycle``).
    """

    async def flushing_send(message: Message) -> None:
        if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
            try:
                await fapilog.aflush(timeout)
            except Exception:  # a failing exporter must not fail the shutdown
                pass
        await send(message)

    return flushing_send


def _carries_propagation(first: dict[bytes, bytes]) -> bool:
    """Whether any header the global propagators read is present (skip them if not)."""
    fields = propagate.get_global_textmap().fields
    return any(f.encode("latin-1") in first for f in fields)


class _HttpState:
    """What the access record needs to know about one request."""

    __slots__ = (
        "body_size",
        "disconnected",
        "end",
        "error",
        "response_attributes",
        "start",
        "status",
    )

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.end: float | None = None
        self.status: int | None = None
        self.body_size = 0
        self.disconnected = False
        self.error: BaseException | None = None
        self.response_attributes: dict[str, list[str]] | None = None


def route_of(scope: Scope) -> str | None:
    """The matched route template (``http.route``), once a framework has routed ``scope``.

    Starlette and FastAPI put the matched route object in ``scope["route"]``; a route
    inside a ``Mount`` gets the mount prefix (``root_path`` beyond ``app_root_path``).
    Other frameworks may set the template as a string in ``scope["http.route"]``.
    """
    explicit = scope.get("http.route")
    if isinstance(explicit, str):
        return explicit
    route = scope.get("route")
    if route is None:
        return None
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not isinstance(template, str):
        return None
    app_root = scope.get("app_root_path")
    root = scope.get("root_path", "")
    if isinstance(app_root, str) and isinstance(root, str) and root.startswith(app_root):
        template = root[len(app_root) :] + template
    return template
