"""Packaging metadata of the five distributions agrees with itself and with what is tested."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECTS = [
    ROOT,
    *sorted(ROOT.glob("exporters/*/")),
    *sorted(ROOT.glob("instrumentation/*/")),
]


def project(folder: Path) -> dict[str, object]:
    with (folder / "pyproject.toml").open("rb") as f:
        data: dict[str, object] = tomllib.load(f)["project"]
    return data


def supported_pythons() -> tuple[str, ...]:
    """``PYTHONS`` of dev.py: the interpreters the README's test command runs on."""
    tree = ast.parse((ROOT / "dev.py").read_text("utf-8"))
    for node in tree.body:
        if isinstance(node, ast.AnnAssign | ast.Assign):
            targets = [node.target] if isinstance(node, ast.AnnAssign) else node.targets
            if any(isinstance(t, ast.Name) and t.id == "PYTHONS" for t in targets):
                assert node.value is not None
                return tuple(ast.literal_eval(node.value))
    raise AssertionError("dev.py has no PYTHONS")


CORE_VERSION = str(project(ROOT)["version"])
MAJOR = int(CORE_VERSION.split(".")[0])


def test_there_are_six_distributions() -> None:
    assert [project(p)["name"] for p in PROJECTS] == [
        "fapilog",
        "fapilog-exporter-elasticsearch",
        "fapilog-exporter-http",
        "fapilog-exporter-siem",
        "fapilog-exporter-splunk",
        "fapilog-instrumentation-asgi",
    ]


@pytest.mark.parametrize("folder", PROJECTS[1:], ids=lambda p: p.name)
def test_each_sub_distribution_requires_this_major_of_the_core(folder: Path) -> None:
    """Never a bare "fapilog": that resolves to the unrelated 0.18 line on the index."""
    meta = project(folder)
    assert meta["version"] == CORE_VERSION, "released in step with the core"
    deps = [d for d in meta["dependencies"] if re.match(r"fapilog\b(?!-)", str(d))]
    assert deps == [f"fapilog>={CORE_VERSION},<{MAJOR + 1}"]


@pytest.mark.parametrize("folder", PROJECTS, ids=lambda p: p.name)
def test_each_distribution_ships_the_license_and_urls(folder: Path) -> None:
    meta = project(folder)
    assert meta["license"] == "Apache-2.0"
    assert (folder / "LICENSE").read_bytes() == (ROOT / "LICENSE").read_bytes()
    urls = meta["urls"]
    assert isinstance(urls, dict)
    assert {"Homepage", "Documentation", "Changelog", "Issues"} <= set(urls)
    assert all(str(u).startswith("https://") for u in urls.values())


@pytest.mark.parametrize("folder", PROJECTS, ids=lambda p: p.name)
def test_python_support_is_exactly_what_is_tested(folder: Path) -> None:
    meta = project(folder)
    assert meta["requires-python"] == f">={supported_pythons()[0]}", "no upper cap"
    classified = tuple(
        c.rsplit(" :: ", 1)[1]
        for c in meta["classifiers"]
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", str(c))
    )
    assert classified == supported_pythons()


@pytest.mark.parametrize("folder", PROJECTS, ids=lambda p: p.name)
def test_each_readme_renders_outside_the_repository(folder: Path) -> None:
    """The README is the package's page on the index: relative links break there."""
    text = (folder / str(project(folder)["readme"])).read_text("utf-8")
    relative = [
        link
        for link in re.findall(r"\]\(([^)\s]+)\)", text)
        if not link.startswith(("https://", "http://", "#", "mailto:"))
    ]
    assert relative == []


def test_the_compat_pins_are_the_declared_floors() -> None:
    """compat/oldest.txt tests the lower bounds pyproject.toml declares, not others."""
    declared: dict[str, str] = {}
    for folder in PROJECTS:
        meta = project(folder)
        extras = meta.get("optional-dependencies", {})
        assert isinstance(extras, dict)
        for dep in [*meta["dependencies"], *(d for ds in extras.values() for d in ds)]:
            match = re.match(r"([A-Za-z0-9_.-]+)(?:\[[^]]*\])?\s*>=\s*([^,;\s]+)", str(dep))
            if match:
                declared.setdefault(match[1].lower(), match[2])
    pins = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)$", (ROOT / "compat/oldest.txt").read_text(), re.M)
    assert {"pydantic", "pydantic-settings", "orjson", "httpx", "grpcio"} <= {n for n, _ in pins}
    for name, version in pins:
        if name.lower() in declared:
            floor = declared[name.lower()]
            assert version.startswith(floor) or version == floor + ".0", (name, version, floor)
