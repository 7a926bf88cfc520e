"""MkDocs hooks for fapilog's docs site (configured in ``mkdocs.yml``; not a page).

Pages in ``docs/`` are also read on GitHub, where a relative link such as
``../otel-collector-config.yaml`` opens the repository file. The site holds only
``docs/``, so before a page is rendered its links that leave ``docs/`` are rewritten to
the file's URL in the repository (``repo_url`` + ``/blob/main/``). A link to a file that
does not exist is reported as a warning, which fails the ``--strict`` build.

Python-Markdown does not match a shortcut reference whose label holds code
(``[`rotel`]`` with a definition ``[`rotel`]: https://...``), which GitHub renders as
a link; such references are turned into inline links first.
"""

from __future__ import annotations

import logging
import posixpath
import re
from pathlib import Path
from typing import Any

log = logging.getLogger("mkdocs.hooks.fapilog")

# [text](target) and reference definitions "[label]: target", outside code.
_INLINE = re.compile(r"(\]\()(?P<target>[^)\s]+)(\))")
_DEFINITION = re.compile(r"^(\s{0,3}\[[^\]]+\]:\s+)(?P<target>\S+)(.*)$")
_FENCE = re.compile(r"^\s*(```|~~~)")


def _rewrite(target: str, page_path: str, root: Path, blob: str) -> str | None:
    """The repository URL for ``target`` if it leaves ``docs/``, else None."""
    if re.match(r"^[a-z][a-z0-9+.-]*:|^#|^/", target):
        return None
    path, _, fragment = target.partition("#")
    joined = posixpath.normpath(posixpath.join("docs", posixpath.dirname(page_path), path))
    if joined.startswith(("docs/", "../")):
        return None
    if not (root / joined).exists():
        log.warning("%s links to %r, which is not in the repository", page_path, target)
        return None
    return blob + joined + (f"#{fragment}" if fragment else "")


def _code_label_references(markdown: str) -> str:
    """Inline the shortcut references whose label contains a code span."""
    for label, target in re.findall(r"^\s{0,3}\[(`[^\]]+`)\]:\s+(\S+)\s*$", markdown, re.M):
        use = re.compile(r"\[" + re.escape(label) + r"\](?![(\[:])")
        markdown = use.sub(lambda _m, t=target, lb=label: f"[{lb}]({t})", markdown)
    return markdown


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    markdown = _code_label_references(markdown)
    root = Path(config["config_file_path"]).resolve().parent
    blob = str(config["repo_url"]).rstrip("/") + "/blob/main/"
    page_path = page.file.src_uri

    def inline(match: re.Match[str]) -> str:
        url = _rewrite(match["target"], page_path, root, blob)
        return match.group(0) if url is None else f"{match.group(1)}{url}{match.group(3)}"

    out: list[str] = []
    fenced = False
    for line in markdown.split("\n"):
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            definition = _DEFINITION.match(line)
            if definition:
                url = _rewrite(definition["target"], page_path, root, blob)
                if url is not None:
                    line = f"{definition.group(1)}{url}{definition.group(3)}"
            else:
                line = _INLINE.sub(inline, line)
        out.append(line)
    return "\n".join(out)
