"""Request-scoped fields carried in the OpenTelemetry Context.

Bound fields live in the OTel Context rather than in a separate contextvar, so
they travel exactly like the active span: into ``asyncio`` tasks, through
``contextvars.copy_context()`` for executors, and nowhere else. The caller then
captures one object (the Context) per log call.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context

from fapilog._context_key import BOUND_KEY

if TYPE_CHECKING:
    from collections.abc import Mapping
    from types import TracebackType

    from opentelemetry.context import Context

__all__ = ["BOUND_KEY", "bind_context", "bound_fields"]

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def bound_fields(ctx: Context | None = None) -> Mapping[str, Any]:
    """Return the fields bound in ``ctx`` (default: the current Context)."""
    value = otel_context.get_value(BOUND_KEY, ctx)
    return value if value is not None else _EMPTY  # type: ignore[return-value]  # we only store mappings


class bind_context:  # used like a function, reads like contextlib's helpers
    """Bind request-scoped fields seen by every logger in this task or thread.

    The binding takes effect immediately. Used as a context manager, it is undone
    on exit; called plainly, it lasts until the current task, thread or
    :func:`contextvars.copy_context` scope ends. Concurrent asyncio tasks each see
    only their own bindings.

    Example::

        with fapilog.bind_context(request_id="r-1", user="u1"):
            log.info("charged")  # carries request_id and user

    Args:
        **fields: names and values to add; they override earlier bindings.
    """

    __slots__ = ("_token",)

    def __init__(self, **fields: Any) -> None:
        merged = dict(bound_fields())
        # Bound values are read whenever an event is built, on the worker: keep them as
        # they are at binding time (a request dict the handler changes later is not
        # rewritten in events already logged).
        from fapilog.pipeline._materialize import snapshot_call

        snapshot_call(None, (), fields)
        merged.update(fields)
        new_ctx = otel_context.set_value(BOUND_KEY, MappingProxyType(merged))
        self._token: object | None = otel_context.attach(new_ctx)

    def __enter__(self) -> bind_context:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.unbind()

    def unbind(self) -> None:
        """Restore the bindings that were in place before this one."""
        if self._token is not None:
            otel_context.detach(self._token)  # type: ignore[arg-type]  # the token attach returned
            self._token = None
