"""fapilog.otel's public surface: exactly the promised names, importable and documented."""

from __future__ import annotations

import types

import fapilog.otel


def test_all_is_sorted_and_every_name_resolves_with_a_docstring() -> None:
    assert list(fapilog.otel.__all__) == sorted(fapilog.otel.__all__)
    for name in fapilog.otel.__all__:
        obj = getattr(fapilog.otel, name)
        assert obj.__doc__, name


def test_all_lists_exactly_the_public_names() -> None:
    eager = {
        name
        for name, value in vars(fapilog.otel).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name not in ("annotations", "TYPE_CHECKING", "Any")
    }
    lazy = {"FapilogConfigurator", "FapilogDistro"}  # loaded on first access
    assert set(fapilog.otel.__all__) == eager | lazy
