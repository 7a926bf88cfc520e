"""``fapilog plugins new``: a plugin distribution from the templates beside this module.

The templates (``*.tmpl``) are plain text with ``{{placeholders}}``; they ship in the
wheel with the package.
"""

from __future__ import annotations

import re
from importlib.resources import files
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["NAME_PATTERN", "ScaffoldError", "plan", "write_distribution"]

Kind = Literal["exporter", "processor"]

#: A plugin name: what users write in ``configure()`` and ``FAPILOG_EXPORTERS``.
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,39}")

_FILES: dict[Kind, dict[str, str]] = {
    "exporter": {
        "pyproject.toml": "exporter_pyproject.toml.tmpl",
        "README.md": "exporter_README.md.tmpl",
        "docs/index.md": "exporter_docs.md.tmpl",
        "src/{{package}}/__init__.py": "exporter_init.py.tmpl",
        "src/{{package}}/_exporter.py": "exporter_module.py.tmpl",
        "src/{{package}}/py.typed": "",
        "tests/fake_backend.py": "exporter_fake_backend.py.tmpl",
        "tests/test_{{name}}_conformance.py": "exporter_test_conformance.py.tmpl",
        "tests/test_{{name}}.py": "exporter_test_unit.py.tmpl",
    },
    "processor": {
        "pyproject.toml": "processor_pyproject.toml.tmpl",
        "README.md": "processor_README.md.tmpl",
        "docs/index.md": "processor_docs.md.tmpl",
        "src/{{package}}/__init__.py": "processor_init.py.tmpl",
        "src/{{package}}/_processor.py": "processor_module.py.tmpl",
        "src/{{package}}/py.typed": "",
        "tests/test_{{name}}_conformance.py": "processor_test_conformance.py.tmpl",
        "tests/test_{{name}}.py": "processor_test_unit.py.tmpl",
    },
}


class ScaffoldError(Exception):
    """The name or the target directory cannot be used; the message says why."""


def _values(kind: Kind, name: str) -> dict[str, str]:
    from fapilog._version import __version__
    from fapilog.plugin import API_VERSION

    major = int(__version__.split(".", 1)[0])
    return {
        "name": name,
        "Class": "".join(part.capitalize() for part in name.split("_") if part),
        "package": f"fapilog_{kind}_{name}",
        "dist": f"fapilog-{kind}-{name.replace('_', '-')}",
        "ENV": name.upper(),
        "fapilog_version": __version__,
        "fapilog_next_major": str(major + 1),
        "api_version": API_VERSION,
    }


def _fill(text: str, values: dict[str, str]) -> str:
    return re.sub(r"\{\{(\w+)\}\}", lambda m: values[m.group(1)], text)


def plan(kind: Kind, name: str, directory: Path) -> tuple[Path, dict[Path, str]]:
    """The distribution's root and every file's content, without writing anything.

    Raises:
        ScaffoldError: the name is not a valid plugin name.
    """
    if not NAME_PATTERN.fullmatch(name):
        raise ScaffoldError(
            f"{name!r} is not a plugin name: use lower-case letters, digits and _, "
            "starting with a letter (it becomes the name in configure() and the "
            "FAPILOG_<NAME>_* variables), e.g. acme_logs"
        )
    values = _values(kind, name)
    root = directory / values["dist"]
    templates = files(__name__)
    contents: dict[Path, str] = {}
    for target, template in _FILES[kind].items():
        text = templates.joinpath(template).read_text("utf-8") if template else ""
        contents[root / _fill(target, values)] = _fill(text, values)
    return root, contents


def write_distribution(kind: Kind, name: str, directory: Path) -> tuple[Path, list[Path]]:
    """Write a new ``kind`` plugin distribution named after ``name`` under ``directory``.

    Returns:
        The distribution's root and the files written.

    Raises:
        ScaffoldError: the name is invalid, or the distribution's directory exists.
    """
    root, contents = plan(kind, name, directory)
    if root.exists():
        raise ScaffoldError(f"{root} exists already; choose another --dir or remove it")
    for path, text in contents.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root, list(contents)
