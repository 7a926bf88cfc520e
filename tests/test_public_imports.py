"""The first-party distributions use only fapilog's public API, and that API is documented.

A third party copies a first-party exporter to start its own; whatever it imports from
a private core module (a path component starting with ``_``) may break in any release.
So every ``.py`` under ``exporters/*/src`` and ``instrumentation/*/src`` is read
(imports at module level, inside functions and under ``TYPE_CHECKING`` alike) and
each import of ``fapilog`` must name public modules only.
"""

from __future__ import annotations

import ast
import inspect
import itertools
from pathlib import Path

import pytest

from fapilog import plugin

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted(
    [
        *ROOT.glob("exporters/*/src/**/*.py"),
        *ROOT.glob("instrumentation/*/src/**/*.py"),
    ]
)


def private_core_imports(source: str, filename: str = "<source>") -> list[str]:
    """``line: module`` for every import in ``source`` of a private fapilog module.

    Covers ``import fapilog._x``, ``from fapilog._x import y``, ``from fapilog.a._b
    import y`` and ``from fapilog.a import _b`` (a private submodule imported by name),
    wherever the statement is. Relative imports stay inside the distribution.
    """
    found: list[str] = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
            if node.module.split(".")[0] == "fapilog" and not _private(node.module):
                # `from fapilog.exporters import _base` imports a private module too
                # (a dunder such as __version__ is an attribute, not a module).
                modules += [
                    f"{node.module}.{a.name}"
                    for a in node.names
                    if a.name.startswith("_") and not a.name.startswith("__")
                ]
        else:
            continue
        found += [f"{node.lineno}: {m}" for m in modules if _private(m)]
    return found


def _private(module: str) -> bool:
    parts = module.split(".")
    return parts[0] == "fapilog" and any(p.startswith("_") for p in parts[1:])


def test_the_distributions_are_found() -> None:
    names = {path.relative_to(ROOT).parts[1] for path in SOURCES}
    assert {
        "fapilog-exporter-splunk",
        "fapilog-exporter-elasticsearch",
        "fapilog-exporter-siem",
        "fapilog-instrumentation-asgi",
    } <= names


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_distribution_imports_only_public_core_modules(path: Path) -> None:
    private = private_core_imports(path.read_text(encoding="utf-8"), str(path))
    assert not private, (
        f"{path.relative_to(ROOT)} imports private fapilog modules (use fapilog.plugin): "
        + ", ".join(private)
    )


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from fapilog._event import LogEvent", ["1: fapilog._event"]),
        ("import fapilog._event as e", ["1: fapilog._event"]),
        ("from fapilog.exporters._base import Exporter", ["1: fapilog.exporters._base"]),
        ("from fapilog.exporters import _base", ["1: fapilog.exporters._base"]),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from fapilog._event import LogEvent",
            ["3: fapilog._event"],
        ),
        (
            "def f():\n    from fapilog.pipeline._lifecycle import x",
            ["2: fapilog.pipeline._lifecycle"],
        ),
        ("class C:\n    def m(self):\n        import fapilog._version", ["3: fapilog._version"]),
        ("from fapilog.plugin import Exporter, report", []),
        ("import fapilog\nfrom fapilog import LogEvent, __version__", []),
        ("from fapilog.otel import FapilogLogRecordExporter", []),
        ("from ._private import x\nfrom fapilog_exporter_x._y import z", []),
        ("from other._private import x", []),
    ],
)
def test_the_check_itself(source: str, expected: list[str]) -> None:
    """The walker finds private imports wherever they are, and only those."""
    assert private_core_imports(source) == expected


@pytest.mark.parametrize("name", plugin.__all__)
def test_every_plugin_api_name_resolves_and_is_documented(name: str) -> None:
    obj = getattr(plugin, name)
    if inspect.isclass(obj) or inspect.isroutine(obj):
        doc = obj.__doc__
    else:  # a constant: documented by the string right after its assignment
        doc = _attribute_docstring(inspect.getsource(plugin), name)
    assert doc
    assert doc.strip()


def test_plugin_all_has_no_duplicates_and_names_only_public_names() -> None:
    assert len(set(plugin.__all__)) == len(plugin.__all__)
    assert all(not name.startswith("_") for name in plugin.__all__)


def _attribute_docstring(source: str, name: str) -> str | None:
    body = ast.parse(source).body
    for node, after in itertools.pairwise(body):
        if (
            isinstance(node, (ast.Assign, ast.AnnAssign))
            and name in {t.id for t in _targets(node) if isinstance(t, ast.Name)}
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            return after.value.value
    return None


def _targets(node: ast.Assign | ast.AnnAssign) -> list[ast.expr]:
    return list(node.targets) if isinstance(node, ast.Assign) else [node.target]
