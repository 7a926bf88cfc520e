"""``--app module[:attr]``: the configuration an application sets in code.

The module is imported as the application would import it at start-up, so the
``fapilog.configure(...)`` it calls runs for real. The configuration is then read back
from the pipeline it built: its settings know which values were keyword arguments
(:meth:`fapilog.Settings.source`), and the pipeline's constructor is watched during the
import to learn whether exporters were given as objects (``exporters=[...]``), which the
settings cannot tell.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fapilog.config import ConfigError, Settings
from fapilog.pipeline._pipeline import Pipeline

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["AppConfig", "AppError", "load_app"]


class AppError(Exception):
    """``--app`` names nothing usable; the message says what and how to fix it."""


@dataclass
class AppConfig:
    """What ``--app`` found."""

    spec: str
    """The ``--app`` value, as given."""
    settings: Settings | None = None
    """The application's settings (``None``: it configures nothing; use the environment)."""
    pipeline: Pipeline | None = None
    """The pipeline it built, if any."""
    exporters_in_code: bool = False
    """Whether ``exporters=`` was given to that pipeline (objects or names in code)."""
    built: list[Pipeline] = field(default_factory=list)
    """Every pipeline built while loading, to shut down when done."""

    def close(self, timeout: float = 2.0) -> None:
        """Shut down the pipelines the application built while it was loaded."""
        for pipeline in reversed(self.built):
            pipeline.shutdown(timeout=timeout)


@contextlib.contextmanager
def _watch_pipelines() -> Iterator[list[tuple[Pipeline, bool]]]:
    """Record every pipeline built in the block, and whether ``exporters=`` was given."""
    built: list[tuple[Pipeline, bool]] = []
    original = Pipeline.__init__

    def init(self: Pipeline, *args: Any, exporters: Any = None, **kwargs: Any) -> None:
        original(self, *args, exporters=exporters, **kwargs)
        built.append((self, exporters is not None))

    Pipeline.__init__ = init  # type: ignore[method-assign]
    try:
        yield built
    finally:
        Pipeline.__init__ = original  # type: ignore[method-assign]


def load_app(spec: str) -> AppConfig:
    """Import ``module[:attr]`` and find the fapilog configuration it sets.

    ``attr`` (dotted names allowed) may be a :class:`~fapilog.Pipeline`, a
    :class:`~fapilog.Settings`, or a function without required parameters that
    returns one of them or calls :func:`fapilog.configure`. Anything else (an ASGI app,
    say) means: what importing the module configured. Without ``attr``, the default
    pipeline that importing the module configured is used.

    Args:
        spec: ``"package.module"`` or ``"package.module:attr"``.

    Returns:
        What was found; ``settings`` is ``None`` when the module configures nothing.

    Raises:
        AppError: the module cannot be imported, the attribute does not exist, or the
            configuration in code is invalid.
    """
    from fapilog import _api

    module_name, _, attr = spec.partition(":")
    if not module_name or (":" in spec and not attr):
        raise AppError(f"--app {spec!r}: write module or module:attr, e.g. myapp.main:pipeline")
    cwd = os.getcwd()
    if cwd not in sys.path:  # as `python -m` and uvicorn do: the project's modules import
        sys.path.insert(0, cwd)
    found = AppConfig(spec)
    before = _api._DEFAULT.pipeline
    with _watch_pipelines() as built:
        try:
            target: Any = importlib.import_module(module_name)
            for part in attr.split(".") if attr else ():
                target = getattr(target, part)
            if inspect.isfunction(target) and _no_required_parameters(target):
                target = target()
        except ModuleNotFoundError as exc:
            _close(built)
            if exc.name and module_name.startswith(exc.name):
                raise AppError(
                    f"--app {spec!r}: no module named {exc.name!r}; run from the directory "
                    "that contains it, or add that directory to PYTHONPATH"
                ) from None
            raise AppError(f"--app {spec!r}: importing it failed: {_one_line(exc)}") from None
        except AttributeError as exc:
            _close(built)
            raise AppError(f"--app {spec!r}: {_one_line(exc)}") from None
        except ConfigError as exc:
            _close(built)
            raise AppError(f"--app {spec!r}: {_one_line(exc)}") from None
        except Exception as exc:
            _close(built)
            # Not the message: an application's error may quote a credential.
            raise AppError(
                f"--app {spec!r}: loading it raised {type(exc).__name__} at {_where(exc)}; "
                f'run python -c "import {module_name}" to see the traceback'
            ) from None
    found.built = [pipeline for pipeline, _ in built]
    given = {id(pipeline): flag for pipeline, flag in built}
    if isinstance(target, Settings):
        found.settings = target
        return found
    pipeline: Pipeline | None = None
    if isinstance(target, Pipeline):
        pipeline = target
    elif isinstance(_api._DEFAULT.pipeline, Pipeline) and _api._DEFAULT.pipeline is not before:
        pipeline = _api._DEFAULT.pipeline
    if pipeline is not None:
        found.pipeline = pipeline
        found.settings = pipeline.settings
        found.exporters_in_code = given.get(id(pipeline), False)
    return found


def _no_required_parameters(function: Any) -> bool:
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    return all(
        p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in parameters
    )


def _close(built: list[tuple[Pipeline, bool]]) -> None:
    for pipeline, _ in reversed(built):
        pipeline.shutdown(timeout=2.0)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _where(exc: BaseException) -> str:
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return "an unknown place"
    return f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}"
