"""Helpers around log calls: :func:`catch` (log an exception once) and ``Logger.timed``.

Both are context managers (``with`` and ``async with``) and decorators (sync and
async functions). Neither is on the hot path: they build the captured call with
:func:`fapilog._logger._helper_record` and enqueue it like a log method does.
"""

from __future__ import annotations

import functools
import inspect
from time import perf_counter_ns
from typing import TYPE_CHECKING, Any, Generic, Literal, NoReturn, ParamSpec, TypeVar, overload

from fapilog import _severity
from fapilog._diagnostics import reporter
from fapilog._logger import Logger, _helper_record, _level_or_info

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine
    from types import CodeType, TracebackType

    from opentelemetry.trace import Tracer

    from fapilog.pipeline._materialize import CapturedRecord

__all__ = ["Catch", "Timed", "catch"]

P = ParamSpec("P")
R = TypeVar("R")
D = TypeVar("D")

#: Set on an exception once a :func:`catch` logged it, so outer ones do not log it again.
_LOGGED = "__fapilog_logged__"

Site = tuple["CodeType", int]


def _put(logger: Logger, rec: CapturedRecord | None) -> None:
    if rec is not None:
        logger._ref.intake.enqueue(rec)


async def _aput(logger: Logger, rec: CapturedRecord | None) -> None:
    if rec is None:
        return
    intake = logger._ref.intake
    ring = intake.ring
    if len(ring) < intake.capacity:
        ring.append(rec)
    else:  # full (or not started): wait for space like the ``a``-methods
        await intake.aput(rec)


def _function_site(func: Callable[..., Any]) -> Site | None:
    code = getattr(inspect.unwrap(func), "__code__", None)
    return None if code is None else (code, code.co_firstlineno)


def _error_type(exc: BaseException) -> str:
    """``error.type``: the exception's fully qualified class name (builtins unqualified)."""
    cls = type(exc)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


# -- timed ----------------------------------------------------------------------------------


class Timed:
    """What :meth:`fapilog.Logger.timed` returns: a timing context manager and decorator."""

    __slots__ = ("_fields", "_logger", "_name", "_running", "_severity", "_site", "_span")

    def __init__(
        self,
        logger: Logger,
        name: str,
        severity: int,
        span: bool | Tracer,
        fields: dict[str, Any],
        site: Site | None,
    ) -> None:
        self._logger = logger
        self._name = name
        self._severity = severity
        self._span = span
        self._fields = fields
        self._site = site
        self._running: list[tuple[int, Any]] = []

    def __repr__(self) -> str:
        return f"<fapilog.Timed {self._name!r}>"

    # One timing: (start, open span context manager or None).

    def _start(self) -> tuple[int, Any]:
        span_cm = None
        if self._span is not False:
            try:
                tracer = self._span
                if tracer is True:
                    from opentelemetry import trace

                    tracer = trace.get_tracer("fapilog")
                attributes = {
                    k: v for k, v in self._fields.items() if type(v) in (str, int, float, bool)
                }
                span_cm = tracer.start_as_current_span(self._name, attributes=attributes)
                span_cm.__enter__()
            except Exception as exc:  # never into the application
                reporter.report("timed_span", f"timed() could not open a span: {exc!r}")
                span_cm = None
        return perf_counter_ns(), span_cm

    def _record(self, start: int, exc: BaseException | None, site: Site | None) -> Any:
        elapsed = perf_counter_ns() - start
        try:
            fields = dict(self._fields)
            fields["duration_ms"] = round(elapsed / 1e6, 3)
            if exc is None:
                fields["outcome"] = "ok"
                severity = self._severity
            else:
                fields["outcome"] = "error"
                fields["error.type"] = _error_type(exc)
                severity = max(self._severity, _severity.ERROR)
            return _helper_record(self._logger, severity, self._name, fields, None, site)
        except Exception as error:  # never into the application
            reporter.report("timed", f"timed() could not log: {error!r}")
            return None

    @staticmethod
    def _end_span(span_cm: Any, exc: BaseException | None) -> None:
        if span_cm is None:
            return
        try:
            if exc is None:
                span_cm.__exit__(None, None, None)
            else:
                span_cm.__exit__(type(exc), exc, exc.__traceback__)
        except Exception as error:
            reporter.report("timed_span", f"timed() could not close its span: {error!r}")

    def __enter__(self) -> Timed:
        self._running.append(self._start())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        start, span_cm = self._running.pop()
        _put(self._logger, self._record(start, exc, self._site))  # inside the span
        self._end_span(span_cm, exc)

    async def __aenter__(self) -> Timed:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        start, span_cm = self._running.pop()
        await _aput(self._logger, self._record(start, exc, self._site))
        self._end_span(span_cm, exc)

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        """Decorate ``func`` (sync or async): every call is timed and logged."""
        site = _function_site(func) if self._logger._ref.callsite else None
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def timed_async(*args: Any, **kwargs: Any) -> Any:
                start, span_cm = self._start()
                try:
                    result = await func(*args, **kwargs)
                except BaseException as exc:
                    await _aput(self._logger, self._record(start, exc, site))
                    self._end_span(span_cm, exc)
                    raise
                await _aput(self._logger, self._record(start, None, site))
                self._end_span(span_cm, None)
                return result

            return timed_async  # type: ignore[return-value]  # the same signature

        @functools.wraps(func)
        def timed_sync(*args: P.args, **kwargs: P.kwargs) -> R:
            start, span_cm = self._start()
            try:
                result = func(*args, **kwargs)
            except BaseException as exc:
                _put(self._logger, self._record(start, exc, site))
                self._end_span(span_cm, exc)
                raise
            _put(self._logger, self._record(start, None, site))
            self._end_span(span_cm, None)
            return result

        return timed_sync


# -- catch ----------------------------------------------------------------------------------


class Catch(Generic[D]):
    """What :func:`fapilog.catch` returns: a context manager and a decorator.

    ``D`` is the type of ``default``, what a decorated function returns instead of
    raising when ``reraise=False``.
    """

    __slots__ = ("_default", "_exception", "_level", "_logger", "_message", "_reraise")

    def __init__(
        self,
        logger: Logger | None,
        level: int | str,
        message: str | None,
        reraise: bool,
        default: D,
        exception: type[BaseException] | tuple[type[BaseException], ...],
    ) -> None:
        self._logger = logger
        self._level = _level_or_info(level)
        self._message = message
        self._reraise = reraise
        self._default = default
        self._exception = exception

    def __repr__(self) -> str:
        return f"<fapilog.Catch reraise={self._reraise}>"

    def _record(self, exc: BaseException, code: CodeType | None, line: int, module: str) -> Any:
        """The event for ``exc``, or None when it is not ours to log (or already logged)."""
        if not isinstance(exc, self._exception) or getattr(exc, _LOGGED, False):
            return None
        try:
            try:
                setattr(exc, _LOGGED, True)
            except Exception:  # an exception class that refuses attributes: logged again
                pass
            logger = self._logger
            if logger is None:
                from fapilog._api import get_logger

                logger = get_logger(module)
            where = code.co_qualname if code is not None else "<unknown>"
            message = self._message or f"exception caught in {where}"
            site = (code, line) if code is not None else None
            rec = _helper_record(logger, self._level, message, {}, exc, site)
            return None if rec is None else (logger, rec)
        except Exception as error:  # never into the application
            reporter.report("catch", f"catch() could not log: {error!r}")
            return None

    def _from_traceback(self, exc: BaseException, tb: TracebackType | None) -> Any:
        """The event for an exception leaving a ``with`` block (``tb`` starts at its frame)."""
        if tb is None:
            return self._record(exc, None, 0, "root")
        frame = tb.tb_frame
        return self._record(
            exc, frame.f_code, tb.tb_lineno, frame.f_globals.get("__name__", "root")
        )

    def _from_function(self, exc: BaseException, func: Callable[..., Any]) -> Any:
        """The event for an exception leaving ``func``: the line in ``func`` it went through."""
        code = getattr(inspect.unwrap(func), "__code__", None)
        line = code.co_firstlineno if code is not None else 0
        tb = exc.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code is code:
                line = tb.tb_lineno
                break
            tb = tb.tb_next
        return self._record(exc, code, line, getattr(func, "__module__", None) or "root")

    def __enter__(self) -> Catch[D]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if exc is None or not isinstance(exc, self._exception):
            return False
        found = self._from_traceback(exc, tb)
        if found is not None:
            _put(*found)
        return not self._reraise

    async def __aenter__(self) -> Catch[D]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if exc is None or not isinstance(exc, self._exception):
            return False
        found = self._from_traceback(exc, tb)
        if found is not None:
            await _aput(*found)
        return not self._reraise

    @overload
    def __call__(
        self, func: Callable[P, Coroutine[Any, Any, R]]
    ) -> Callable[P, Coroutine[Any, Any, R | D]]: ...

    @overload
    def __call__(self, func: Callable[P, R]) -> Callable[P, R | D]: ...

    def __call__(self, func: Callable[P, Any]) -> Callable[P, Any]:
        """Decorate ``func`` (sync or async)."""
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def catching_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                try:
                    return await func(*args, **kwargs)
                except self._exception as exc:
                    found = self._from_function(exc, func)
                    if found is not None:
                        await _aput(*found)
                    if self._reraise:
                        raise
                    return self._default

            return catching_async

        @functools.wraps(func)
        def catching(*args: P.args, **kwargs: P.kwargs) -> Any:
            try:
                return func(*args, **kwargs)
            except self._exception as exc:
                found = self._from_function(exc, func)
                if found is not None:
                    _put(*found)
                if self._reraise:
                    raise
                return self._default

        return catching


@overload
def catch(func: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def catch(
    *,
    logger: Logger | None = None,
    level: int | str = "error",
    message: str | None = None,
    reraise: Literal[True] = True,
    exception: type[BaseException] | tuple[type[BaseException], ...] = Exception,
) -> Catch[NoReturn]: ...


@overload
def catch(
    *,
    logger: Logger | None = None,
    level: int | str = "error",
    message: str | None = None,
    reraise: Literal[False],
    default: D,
    exception: type[BaseException] | tuple[type[BaseException], ...] = Exception,
) -> Catch[D]: ...


@overload
def catch(
    *,
    logger: Logger | None = None,
    level: int | str = "error",
    message: str | None = None,
    reraise: Literal[False],
    exception: type[BaseException] | tuple[type[BaseException], ...] = Exception,
) -> Catch[None]: ...


def catch(
    func: Callable[..., Any] | None = None,
    /,
    *,
    logger: Logger | None = None,
    level: int | str = "error",
    message: str | None = None,
    reraise: bool = True,
    default: Any = None,
    exception: type[BaseException] | tuple[type[BaseException], ...] = Exception,
) -> Any:
    """Log an exception, with its stack, once: a decorator and a context manager.

    The exception leaving the decorated function (sync or async) or the ``with`` /
    ``async with`` block is logged at ERROR with ``exception.type``,
    ``exception.message`` and ``exception.stacktrace``, and then re-raised, unless
    ``reraise=False``: a decorated function then returns ``default`` and a block
    swallows the exception. An exception is logged by the innermost ``catch`` it
    leaves; outer ones re-raise or swallow it without logging it again::

        @fapilog.catch
        def handle(job: Job) -> None: ...

        @fapilog.catch(reraise=False, default=0)
        async def price(order: Order) -> int: ...

        with fapilog.catch(message="cleanup failed", reraise=False):
            cleanup()

    Args:
        func: the function, when used as ``@fapilog.catch`` without arguments.
        logger: where to log; default: the logger named after the function's module
            (or the module of the ``with`` block) on the default pipeline.
        level: the level of the event (default ERROR).
        message: the body (default ``"exception caught in <function>"``).
        reraise: re-raise the exception after logging it (default True).
        default: what a decorated function returns instead, with ``reraise=False``.
        exception: the exception class(es) to catch; others pass through unlogged.
            Default :class:`Exception`: ``KeyboardInterrupt``, ``SystemExit`` and
            ``asyncio.CancelledError`` pass.

    Returns:
        The decorated function, or a :class:`~fapilog.Catch` to use as a decorator
        or context manager.
    """
    handler: Catch[Any] = Catch(logger, level, message, reraise, default, exception)
    if func is not None:
        return handler(func)
    return handler
