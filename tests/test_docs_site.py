"""The docs site builds with ``mkdocs build --strict`` and holds what a reader looks for.

One strict build of the real configuration (``mkdocs.yml``) goes into a temporary
directory; the tests open its home page, the API reference and the search index. A
small second project with the same validation settings and hooks shows that the strict
build really fails on a broken anchor, a page missing from the navigation and a link
out of ``docs/`` to a file that does not exist.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REPO_BLOB = "https://github.com/chris-haste/fapilog/blob/main/"

pytestmark = pytest.mark.once


def mkdocs_build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    done = mkdocs_build(ROOT / "mkdocs.yml", out)
    assert done.returncode == 0, done.stderr
    assert "WARNING" not in done.stderr, done.stderr
    return out


def page(site: Path, path: str) -> str:
    return (site / path).read_text(encoding="utf-8")


def test_home_page_leads_each_audience_to_its_start_page(site: Path) -> None:
    home = page(site, "index.html")
    assert "<title>fapilog</title>" in home
    for start in ("developer", "fastapi-service", "platform", "compliance"):
        assert f'href="start/{start}/"' in home
        assert (site / "start" / start / "index.html").is_file()
    assert 'id="about-these-docs"' in home
    assert 'href="reference/"' in home


def test_api_page_shows_the_public_functions_with_signatures(site: Path) -> None:
    api = page(site, "reference/fapilog/index.html")
    for name in ("get_logger", "configure", "bind_context", "stats", "flush", "shutdown"):
        assert f'id="fapilog.{name}"' in api
    text = re.sub(r"<[^>]+>", "", api)
    assert re.search(r"get_logger\(\s*name", text), "get_logger's signature is rendered"
    assert "Returns:" in text or "Returns" in text
    logger = page(site, "reference/logger/index.html")
    for method in ("info", "bind", "exception", "ainfo"):
        assert f'id="fapilog.Logger.{method}"' in logger


@pytest.mark.parametrize(
    "module",
    [
        "fapilog",
        "fapilog.exporters",
        "fapilog.exporters.otlp",
        "fapilog.processors",
        "fapilog.redaction",
        "fapilog.compliance",
        "fapilog.audit",
        "fapilog.stdlib",
        "fapilog.bridges",
        "fapilog.otel",
        "fapilog.testing",
        "fapilog.testing.conformance",
        "fapilog.plugin",
        "fapilog.alerting",
        "fapilog.spool",
        "fapilog_exporter_splunk",
        "fapilog_exporter_elasticsearch",
        "fapilog_exporter_siem",
        "fapilog_exporter_http",
        "fapilog_instrumentation_asgi",
    ],
)
def test_every_exported_name_is_in_the_api_reference(site: Path, module: str) -> None:
    """A name added to a public ``__all__`` must get a place in docs/reference/.

    Under this module's name, or under another public module that exports the same
    object (``fapilog.Exporter`` is documented as ``fapilog.exporters.Exporter``).
    """
    anchors: set[str] = set()
    for html in (site / "reference").rglob("index.html"):
        anchors.update(re.findall(r'id="([A-Za-z_][\w.]*)"', html.read_text(encoding="utf-8")))
    exported = importlib.import_module(module)

    def documented(name: str) -> bool:
        if f"{module}.{name}" in anchors:
            return True
        for anchor in anchors:
            owner, _, last = anchor.rpartition(".")
            if last == name and owner.count(".") <= 2:
                try:
                    if getattr(importlib.import_module(owner), name) is getattr(exported, name):
                        return True
                except (ImportError, AttributeError):
                    continue
        return False

    missing = [n for n in exported.__all__ if not n.startswith("_") and not documented(n)]
    assert not missing, f"not in docs/reference/: {missing}"


def test_docstring_roles_are_rendered_not_left_raw(site: Path) -> None:
    reference = "".join(
        p.read_text(encoding="utf-8") for p in (site / "reference").rglob("index.html")
    )
    assert ":class:`" not in reference
    assert ":func:`" not in reference
    assert ":meth:`" not in reference
    # fapilog.exporters' docstring names :class:`~fapilog.LogEvent`: now a link
    exporters = page(site, "reference/exporters/index.html")
    assert re.search(r'<a [^>]*href="\.\./logger/#fapilog\.LogEvent"', exporters)


def test_search_index_covers_guides_and_api(site: Path) -> None:
    index = json.loads(page(site, "search/search_index.json"))
    locations = {doc["location"].split("#")[0] for doc in index["docs"]}
    assert {"", "quickstart/", "start/platform/", "reference/fapilog/"} <= locations
    assert any("fapilog.get_logger" in doc["location"] for doc in index["docs"])


def test_links_out_of_docs_point_at_the_repository(site: Path) -> None:
    collector = page(site, "collector/index.html")
    assert f'href="{REPO_BLOB}otel-collector-config.yaml"' in collector
    assert 'href="../otel-collector-config.yaml"' not in collector
    assert f'href="{REPO_BLOB}benchmarks/otlp_throughput.py"' in page(
        site, "performance-otlp/index.html"
    )
    # a shortcut reference with code in its label is a link, as on GitHub
    assert 'href="https://github.com/streamfold/pyrotel"' in page(
        site, "collector-testing/index.html"
    )


def test_every_page_in_docs_is_built(site: Path) -> None:
    for md in (ROOT / "docs").rglob("*.md"):
        rel = md.relative_to(ROOT / "docs").with_suffix("")
        built = site / (rel.parent if rel.name == "index" else rel) / "index.html"
        assert built.is_file(), md


@pytest.mark.parametrize(
    ("defect", "expected"),
    [
        ("[x](other.md#no-such-heading)", "no-such-heading"),
        ("[x](../no-such-file.yaml)", "no-such-file.yaml"),
        ("[x](missing.md)", "missing.md"),
        (None, 'not included in the "nav" configuration'),
    ],
)
def test_strict_build_fails_on_broken_links(
    tmp_path: Path, defect: str | None, expected: str
) -> None:
    """The real config's validation and hooks, on a two-page project with one defect."""
    import yaml  # with mkdocs, in the dev group (not in compat/oldest.txt: this is "once")

    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "other.md").write_text("# Other\n\n## A heading\n", encoding="utf-8")
    (docs / "index.md").write_text(
        f"# Home\n\n[ok](other.md#a-heading)\n\n{defect or ''}\n", encoding="utf-8"
    )
    project = {
        "site_name": "t",
        "repo_url": config["repo_url"],
        "docs_dir": str(docs),
        "strict": True,
        "validation": config["validation"],
        "hooks": [str(ROOT / hook) for hook in config["hooks"]],
        "nav": ["index.md"] if defect is None else ["index.md", "other.md"],
    }
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(project), encoding="utf-8")
    done = mkdocs_build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert done.returncode != 0
    assert expected in done.stderr, done.stderr
