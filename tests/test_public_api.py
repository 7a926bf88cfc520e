"""The public surface: exactly the names we promise, all importable and documented."""

from __future__ import annotations
import __future__

import tomllib
from pathlib import Path

import fapilog


def test_all_lists_exactly_the_public_names() -> None:
    """__all__ matches every public (non-underscore) module attribute that is not a submodule."""
    import types

    for name in fapilog.__all__:  # the lazy ones (PEP 562) are module attributes once read
        getattr(fapilog, name)
    public = {
        name
        for name, value in vars(fapilog).items()
        if not name.startswith("_")
        and not isinstance(value, (types.ModuleType, __future__._Feature))
    }
    assert set(fapilog.__all__) - {"__version__"} == public


def test_all_is_sorted() -> None:
    """__all__ is kept sorted so diffs stay readable."""
    assert list(fapilog.__all__) == sorted(fapilog.__all__)


def test_every_public_callable_has_a_docstring() -> None:
    """Every exported class and function documents itself."""
    for name in fapilog.__all__:
        obj = getattr(fapilog, name)
        if callable(obj):
            assert obj.__doc__, name


def test_version_matches_pyproject() -> None:
    """fapilog.__version__ is the version in pyproject.toml."""
    root = Path(__file__).resolve().parents[1]
    meta = tomllib.loads((root / "pyproject.toml").read_text())
    assert fapilog.__version__ == meta["project"]["version"]
