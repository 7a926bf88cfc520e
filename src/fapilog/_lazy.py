"""Public names imported on first access (PEP 562), for packages whose parts are heavy."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping

__all__ = ["lazy_dir", "lazy_getattr"]


def lazy_getattr(
    namespace: dict[str, Any], names: Mapping[str, str], submodules: Collection[str] = ()
) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``names[name]`` and takes ``name`` from it,
    or imports the package's submodule ``name`` when it is one of ``submodules``.

    The value is then stored in ``namespace`` (the module's globals), so each name is
    looked up once; any other name raises :class:`AttributeError`.
    """
    module_name = namespace["__name__"]

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is not None:
            value = getattr(importlib.import_module(module), name)
        elif name in submodules:
            value = importlib.import_module(f"{module_name}.{name}")
        else:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        namespace[name] = value
        return value

    return __getattr__


def lazy_dir(namespace: dict[str, Any]) -> Callable[[], list[str]]:
    """A module ``__dir__`` listing what is loaded and every public name, lazy or not."""

    def __dir__() -> list[str]:
        return sorted({*namespace, *namespace["__all__"]})

    return __dir__
