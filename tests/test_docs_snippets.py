"""Every Python snippet in the README and in docs/ runs, as a reader would run it.

The snippets of one document run in order in one fresh interpreter (later snippets use
names from earlier ones, like a reader's session). The environment points the OTLP
exporter at a real collector, so a snippet that ships to one is checked by what
actually arrives there: the README's in detail, every other page by the absence of
fapilog's loss line ("... not delivered") at exit.

A snippet that cannot run as written is preceded by ``<!-- snippet: skip REASON -->``
(blank lines may separate the two); ``test_skipped_snippets_are_few_and_justified``
keeps that list short. Names a page leaves to the reader (a token from a secret store)
are given by ``PRELUDE``; variables a page tells the reader to export, by ``ENV``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fapilog.testing import RotelCollector

ROOT = Path(__file__).resolve().parent.parent
_BLOCK = re.compile(
    r"(?:^<!-- snippet: skip (?P<reason>[^\n]*?) -->\n(?:[ \t]*\n)*)?"
    r"^(?P<indent>[ \t]*)```python\n(?P<code>.*?)^(?P=indent)```",
    re.DOTALL | re.MULTILINE,
)

#: Pages whose snippets a dedicated test runs and checks in detail.
DEDICATED = {"docs/quickstart.md"}

#: Code run before a page's snippets: names the page leaves to the reader.
PRELUDE = {
    "docs/exporters/otlp.md": 'token = "placeholder"  # from your secret store',
    "docs/exporters/splunk.md": 'hec_token = "placeholder"  # from your secret store',
    "docs/exporters/elasticsearch.md": 'api_key = "placeholder"  # from your secret store',
    "docs/exporters/http.md": 'token = "placeholder"  # from your secret store',
    "docs/performance-otlp.md": "import fapilog\n\nlog = fapilog.get_logger()",
    # its stats snippet reads a service that has been logging (all zero before first use)
    "docs/collector.md": 'import fapilog\n\nfapilog.get_logger("shop").info("order placed")',
}

#: Environment a page tells the reader to set before its snippets run.
ENV = {
    # "export FAPILOG_EXPORTERS=otlp" opens the page; its stats snippet reads the lane
    "docs/collector.md": {"FAPILOG_EXPORTERS": "otlp"},
    # "FAPILOG_ELASTICSEARCH_* decide the rest"; nothing is logged, so nothing is sent
    "docs/exporters/elasticsearch.md": {"FAPILOG_ELASTICSEARCH_URL": "https://es.internal:9200"},
}


def _blocks(doc: str) -> list[re.Match[str]]:
    return list(_BLOCK.finditer((ROOT / doc).read_text(encoding="utf-8")))


def snippets(doc: str) -> list[str]:
    """The runnable ```python blocks of ``doc``, dedented, in order."""
    return [textwrap.dedent(m["code"]) for m in _blocks(doc) if m["reason"] is None]


def skipped(doc: str) -> list[str]:
    """The reasons given for the blocks of ``doc`` that are not run."""
    return [m["reason"].strip() for m in _blocks(doc) if m["reason"] is not None]


def doc_pages() -> list[str]:
    """Every page under docs/ with a ```python block."""
    pages = sorted((ROOT / "docs").rglob("*.md"))
    return [str(p.relative_to(ROOT)) for p in pages if _blocks(str(p.relative_to(ROOT)))]


def run(doc: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "snippets.py"
    script.write_text("\n\n".join([PRELUDE.get(doc, ""), *snippets(doc)]), encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env={**os.environ, "FAPILOG_SCHEDULE_DELAY_MS": "20", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_readme_has_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "python3 dev.py demo" in text
    assert "python3 dev.py test" in text
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "dev.py test" in ci


@pytest.mark.e2e
def test_readme_snippets_run_and_reach_the_collector(tmp_path: Path) -> None:
    assert len(snippets("README.md")) >= 3
    with RotelCollector() as collector:
        done = run(
            "README.md",
            tmp_path,
            OTEL_EXPORTER_OTLP_ENDPOINT=collector.grpc_endpoint,
            OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
        )
        assert done.returncode == 0, done.stderr
        collector.wait_for(2, timeout=10)
        records = {r.body: r for r in collector.records()}
    assert "PipelineStats(" in done.stdout
    placed = records["order placed"]
    assert placed.resource_attributes["service.name"] == "checkout"
    assert placed.attributes["request_id"] == "r-42"
    assert placed.attributes["order_id"] == 7
    assert len(placed.trace_id) == 32
    failed = records["pricing failed"]
    assert failed.trace_id == placed.trace_id
    assert failed.attributes["exception.type"] == "ZeroDivisionError"
    # the zero-config snippet logged to stderr as JSON lines (not a TTY)
    assert '"hi"' in done.stderr
    assert '"user":"u1"' in done.stderr.replace(" ", "")


def test_quickstart_snippets_run(tmp_path: Path) -> None:
    assert len(snippets("docs/quickstart.md")) >= 6
    done = run("docs/quickstart.md", tmp_path)
    assert done.returncode == 0, done.stderr
    assert '"event_name":"user.signup"' in done.stderr
    assert '"exception.type":"KeyError"' in done.stderr
    assert '"request_id":"r-42"' in done.stderr
    assert '"configured"' in (tmp_path / "logs" / "app.jsonl").read_text(encoding="utf-8")


@pytest.mark.once
@pytest.mark.e2e
@pytest.mark.parametrize("doc", [d for d in doc_pages() if d not in DEDICATED])
def test_doc_page_snippets_run(doc: str, tmp_path: Path) -> None:
    """The page's snippets run in order; whatever they ship reaches a real collector."""
    if not snippets(doc):
        pytest.skip(f"every snippet of {doc} is marked skip: {skipped(doc)}")
    with RotelCollector() as collector:
        done = run(
            doc,
            tmp_path,
            OTEL_EXPORTER_OTLP_ENDPOINT=collector.grpc_endpoint,
            OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
            **ENV.get(doc, {}),
        )
    assert done.returncode == 0, done.stderr
    assert "not delivered" not in done.stderr, done.stderr


def test_every_doc_page_with_snippets_is_run() -> None:
    pages = doc_pages()
    assert "docs/quickstart.md" in pages
    assert "docs/start/developer.md" in pages
    assert set(PRELUDE) | set(ENV) <= set(pages)  # no stale entries


def test_skip_marker_is_parsed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "```python\nx = 1\n```\n\n<!-- snippet: skip needs a SIEM -->\n\n"
        "```python\nconnect()\n```\n\n- item\n\n  ```python\n  y = x\n  ```\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert snippets("page.md") == ["x = 1\n", "y = x\n"]
    assert skipped("page.md") == ["needs a SIEM"]


def test_skipped_snippets_are_few_and_justified() -> None:
    """Opting out is the exception: every skip says why, and they stay few."""
    reasons = {doc: skipped(doc) for doc in ["README.md", *doc_pages()]}
    flat = [(doc, reason) for doc, rs in reasons.items() for reason in rs]
    assert all(len(reason.split()) >= 3 for _, reason in flat), flat
    assert len(flat) <= 10, flat
