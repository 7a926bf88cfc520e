"""No module outside ``fapilog.pipeline`` reads a private attribute of a pipeline or intake.

Callers (loggers, the stdlib handler, the bridges, the OTel provider, the helpers,
the pytest plugin) go through the intake's and the pipeline's public API only, so the
pipeline can change inside without breaking them. A static check over the source:
an attribute ``_x`` read from an expression that names a pipeline or an intake
(``pipeline._x``, ``self._pipeline._x``, ``ref.pipeline._x``, ``intake._x``,
``provider._pipeline()._x``...) is a reach.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

SRC = pathlib.Path(__file__).resolve().parent.parent / "src" / "fapilog"

#: Names (of variables, attributes or called functions) that denote a pipeline or intake.
_HOLDERS = {"pipeline", "_pipeline", "pipe", "intake", "_intake", "default_pipeline", "_target"}


def _names_holder(node: ast.expr) -> bool:
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Name):
        return node.id in _HOLDERS
    if isinstance(node, ast.Attribute):
        root = node
        while isinstance(root, ast.Attribute):
            root = root.value  # type: ignore[assignment]
        if isinstance(root, ast.Name) and root.id == "fapilog":
            return False  # a module path: fapilog.pipeline._materialize
        return node.attr in _HOLDERS
    return False


def reaches(source: str) -> list[str]:
    """The private attribute reads of pipelines/intakes in ``source``: ``line: text``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and _names_holder(node.value)
        ):
            found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


@pytest.mark.parametrize(
    "snippet",
    [
        # What the callers did before the intake existed.
        "if len(ring) < pipeline._capacity: ring.append(rec)",
        "pipeline._acct.caller_drop('recursion')",
        "self._ref.pipeline._enqueue(rec)",
        "return self._provider._pipeline()._min_level",
        "await logger._ref.pipeline._aput(rec)",
        "intake._space.notify_all()",
        "self._pipeline._refresh_gate()",
    ],
)
def test_the_check_catches_a_reach(snippet: str) -> None:
    assert reaches(snippet), snippet


@pytest.mark.parametrize(
    "snippet",
    [
        "intake = self._ref.intake; intake.enqueue(rec)",
        "if len(ring) < intake.capacity: ring.append(rec)",
        "from fapilog.pipeline._materialize import capture_record",
        "mod = fapilog.pipeline._lifecycle",
        "self._pipeline.intake.caller_drop('recursion')",
        "pipeline.__class__",
    ],
)
def test_public_use_is_not_a_reach(snippet: str) -> None:
    assert not reaches(snippet), snippet


def test_no_module_outside_the_pipeline_package_reaches_into_a_pipeline() -> None:
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        if (SRC / "pipeline") in path.parents:
            continue
        for hit in reaches(path.read_text(encoding="utf-8")):
            offenders.append(f"{path.relative_to(SRC.parent)}:{hit}")
    assert not offenders, "\n".join(offenders)
