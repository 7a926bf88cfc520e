"""No import cycles between the modules of ``src/fapilog``.

The graph is built from the source (AST), not by importing anything:

* an edge ``a -> b`` is an ``import``/``from ... import`` in module ``a`` that loads
  module ``b``, at module level **and inside functions** (a lazy import only hides a
  cycle until the function runs; it is still a dependency both ways);
* imports in the body of ``if TYPE_CHECKING:`` are **excluded**: they never run, and
  annotations-only imports are the sanctioned way to name a type from a module that
  depends on you;
* ``from pkg import name`` is an edge to the submodule ``pkg.name`` when there is one,
  else to ``pkg`` itself (its ``__init__``);
* the implicit import of parent packages (``import fapilog.a.b`` runs
  ``fapilog/__init__`` and ``fapilog/a/__init__`` first) is not an edge: the
  top-level package re-exports the public API, so counting it would put every module
  in one cycle and hide the real ones.

A cycle is a strongly connected component of two or more modules. Those listed in
:data:`KNOWN` are cycles in code still being taken apart (each entry says where);
any other cycle fails, printed as a chain of imports with their line numbers, and an
entry of :data:`KNOWN` that is no longer a cycle fails too, so the list only shrinks.
"""

from __future__ import annotations

import ast
import functools
import itertools
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "fapilog"

#: Cycles not removed yet, each the set of modules of one strongly connected
#: component (a cycle found inside one of these sets is tolerated).
KNOWN: dict[frozenset[str], str] = {
    frozenset(
        {
            "fapilog._api",
            "fapilog._helpers",
            "fapilog._logger",
            "fapilog.pipeline._capture",
            "fapilog.pipeline._intake",
            "fapilog.pipeline._lifecycle",
            "fapilog.pipeline._pipeline",
            "fapilog.pipeline._worker",
        }
    ): (
        "the logger, the default-pipeline API and the pipeline's parts import each "
        "other lazily (Logger <-> Pipeline, _helpers <-> _logger/_api, lifecycle <-> "
        "pipeline)"
    ),
}


def _modules() -> dict[str, tuple[Path, bool]]:
    """Every module of the package: dotted name -> (file, is a package __init__)."""
    found: dict[str, tuple[Path, bool]] = {}
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        found[".".join(parts)] = (path, is_package)
    return found


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of every node inside the body of an ``if TYPE_CHECKING:``."""
    hidden: set[int] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.If):
            continue
        test = node.test
        name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
        if name == "TYPE_CHECKING":
            for statement in node.body:
                hidden.update(id(inner) for inner in ast.walk(statement))
    return hidden


@functools.cache
def import_graph() -> dict[str, dict[str, int]]:
    """module -> {imported module of the package: line of the first such import}."""
    modules = _modules()

    def owner(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, dict[str, int]] = {}
    for module, (path, is_package) in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        hidden = _type_checking_nodes(tree)
        edges: dict[str, int] = {}

        def add(
            target: str | None, line: int, module: str = module, edges: dict[str, int] = edges
        ) -> None:
            if target is not None and target != module:
                edges.setdefault(target, line)

        for node in ast.walk(tree):
            if id(node) in hidden:
                continue
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == PACKAGE:
                        add(owner(alias.name), node.lineno)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = module.split(".") if is_package else module.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    source = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    source = node.module or ""
                if source.split(".")[0] != PACKAGE:
                    continue
                for alias in node.names:
                    submodule = f"{source}.{alias.name}"
                    add(submodule if submodule in modules else owner(source), node.lineno)
        graph[module] = edges
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[frozenset[str]]:
    """The strongly connected components of two or more modules (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, sorted(graph[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, pending = work[-1]
            if pending:
                child = pending.pop()
                if child not in graph:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, sorted(graph[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


def describe(component: frozenset[str], graph: dict[str, dict[str, int]]) -> str:
    """One concrete cycle through ``component``, as imports with their lines."""
    start = min(component)
    # Breadth-first from start back to start, inside the component.
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for child in sorted(graph[node]):
                if child not in component:
                    continue
                if child == start:
                    chain = [node]
                    while chain[-1] != start:
                        chain.append(previous[chain[-1]])
                    chain.reverse()
                    chain.append(start)
                    steps = [
                        f"{a} (line {graph[a][b]}) -> {b}" for a, b in itertools.pairwise(chain)
                    ]
                    return "\n    ".join(steps)
                if child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    return ", ".join(sorted(component))  # pragma: no cover - an SCC always has a cycle


def test_the_graph_sees_lazy_imports_and_skips_type_checking_ones() -> None:
    """The rules of the docstring, on the real package."""
    graph = import_graph()
    # otel._exporter imports the registry inside __init__ only: still an edge.
    otel_exporter = ast.parse((SRC / "fapilog/otel/_exporter.py").read_text(encoding="utf-8"))
    assert "fapilog.exporters._registry" not in _top_level(otel_exporter)
    assert "fapilog.exporters._registry" in graph["fapilog.otel._exporter"]
    # pipeline._lifecycle names Pipeline under TYPE_CHECKING only (and imports the
    # pipeline module lazily elsewhere): the TYPE_CHECKING import adds no edge of its own.
    lifecycle = ast.parse((SRC / "fapilog/pipeline/_lifecycle.py").read_text(encoding="utf-8"))
    hidden = _type_checking_nodes(lifecycle)
    assert any(
        isinstance(node, ast.ImportFrom) and id(node) in hidden for node in ast.walk(lifecycle)
    )


def _top_level(tree: ast.Module) -> set[str]:
    return {node.module or "" for node in tree.body if isinstance(node, ast.ImportFrom)}


def test_the_cycles_named_in_issue_16_are_gone() -> None:
    graph = import_graph()
    found = cycles(graph)
    for pair in (
        {"fapilog.config", "fapilog.compliance._profiles"},
        {"fapilog.exporters._registry", "fapilog.otel._exporter"},
    ):
        assert not any(pair <= component for component in found), pair
    # The leaf module of errors imports nothing of the package.
    assert graph["fapilog.errors"] == {}
    assert set(graph["fapilog._validation"]) == {"fapilog.errors"}


def test_no_import_cycle_but_the_known_ones() -> None:
    graph = import_graph()
    new = [c for c in cycles(graph) if not any(c <= known for known in KNOWN)]
    report = "\n\n".join(f"import cycle:\n    {describe(c, graph)}" for c in new)
    assert not new, report


def test_every_known_cycle_still_exists() -> None:
    """A known cycle that was broken is taken off :data:`KNOWN`, so it cannot return."""
    found = cycles(import_graph())
    stale = [
        sorted(known)
        for known in KNOWN
        if not any(len(component & known) > 1 for component in found)
    ]
    assert not stale, f"no longer cycles; remove them from KNOWN: {stale}"
