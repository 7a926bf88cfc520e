"""The public surface of fapilog_instrumentation_asgi: exactly what __all__ promises."""

from __future__ import annotations
import __future__

import types

import fapilog_instrumentation_asgi as pkg


def test_all_lists_exactly_the_public_names() -> None:
    """__all__ matches every public module attribute that is not a submodule."""
    public = {
        name
        for name, value in vars(pkg).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType | __future__._Feature)
    }
    assert set(pkg.__all__) == public  # (its order is ruff's RUF022 isort-style order)


def test_every_public_callable_has_a_docstring() -> None:
    """Every exported class and function documents itself."""
    for name in pkg.__all__:
        obj = getattr(pkg, name)
        if callable(obj):
            assert obj.__doc__, name
