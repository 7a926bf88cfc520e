"""``FapilogASGIInstrumentor``: the ``opentelemetry-instrument`` entry point.

Like OpenTelemetry's FastAPI instrumentor, it hooks application construction so
that apps created afterwards call :func:`instrument_app`. It wraps ``__init__`` of
``fastapi.FastAPI`` and ``starlette.applications.Starlette`` in place rather than
swapping the classes a module exports: ``isinstance`` checks keep working, and apps
whose class was imported before instrumentation are covered too. The hook exists
only while the instrumentor is enabled; :meth:`uninstrument` removes it.
"""

from __future__ import annotations

import functools
import importlib
import weakref
from typing import TYPE_CHECKING, Any

from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]  # untyped module
    BaseInstrumentor,
)

from fapilog_instrumentation_asgi import _servers
from fapilog_instrumentation_asgi._app import (
    apply_process_options,
    instrument_app,
    uninstrument_app,
)
from fapilog_instrumentation_asgi._options import MiddlewareOptions

if TYPE_CHECKING:
    from collections.abc import Callable, Collection

__all__ = ["FapilogASGIInstrumentor"]

# (module, class) whose constructor is hooked; FastAPI does not call Starlette.__init__.
_TARGETS = (("fastapi", "FastAPI"), ("starlette.applications", "Starlette"))
# Arguments distros pass to every instrumentor; they do not concern this one.
_GENERIC_KWARGS = frozenset(
    {
        "skip_dep_check",
        "raise_exception_on_conflict",
        "tracer_provider",
        "meter_provider",
        "logger_provider",
        "event_logger_provider",
    }
)


def _instrumenting_init(
    original: Callable[..., None], options: MiddlewareOptions, apps: weakref.WeakSet[Any]
) -> Callable[..., None]:
    """``original`` (an app class's ``__init__``) followed by :func:`instrument_app`."""

    @functools.wraps(original)
    def __init__(app: Any, *args: Any, **kwargs: Any) -> None:
        original(app, *args, **kwargs)
        instrument_app(app, options=options)
        apps.add(app)

    __init__.__fapilog_original__ = original  # type: ignore[attr-defined]  # marker for undo
    return __init__


class FapilogASGIInstrumentor(BaseInstrumentor):  # type: ignore[misc]  # BaseInstrumentor is untyped
    """Adds :class:`FapilogMiddleware` to every FastAPI/Starlette app created after
    :meth:`instrument`, routes the uvicorn/gunicorn loggers and the root logger into
    fapilog, and installs fapilog's exit and SIGTERM hooks.

    Loaded by ``opentelemetry-instrument`` through the ``opentelemetry_instrumentor``
    entry point ``fapilog_asgi`` (disable it with
    ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=fapilog_asgi``), or used directly::

        FapilogASGIInstrumentor().instrument(exclude_paths=["/health"])

    ``instrument(**options)`` takes the fields of :class:`MiddlewareOptions`.
    """

    def __init__(self) -> None:
        # BaseInstrumentor makes this a singleton: __init__ runs on every call.
        if not hasattr(self, "_hooked"):
            self._hooked: list[tuple[type[Any], Callable[..., None]]] = []
            self._apps: weakref.WeakSet[Any] = weakref.WeakSet()

    def instrumentation_dependencies(self) -> Collection[str]:
        """Starlette, with or without FastAPI (FastAPI always brings Starlette)."""
        return ("starlette",)

    def _instrument(self, **kwargs: Any) -> None:
        options = MiddlewareOptions(**{k: v for k, v in kwargs.items() if k not in _GENERIC_KWARGS})
        for module_name, class_name in _TARGETS:
            try:
                cls: type[Any] = getattr(importlib.import_module(module_name), class_name)
            except ImportError:  # e.g. Starlette without FastAPI
                continue
            original = cls.__dict__["__init__"]
            cls.__init__ = _instrumenting_init(original, options, self._apps)
            self._hooked.append((cls, original))
        apply_process_options(options)

    def _uninstrument(self, **kwargs: Any) -> None:
        for cls, original in reversed(self._hooked):
            current = cls.__dict__.get("__init__")
            # Only undo our own hook; someone may have wrapped it since.
            if getattr(current, "__fapilog_original__", None) is original:
                cls.__init__ = original
        self._hooked.clear()
        for app in list(self._apps):
            try:
                uninstrument_app(app)
            except Exception:  # an app torn down oddly must not block the others
                pass
        self._apps.clear()
        _servers.restore_server_loggers()
