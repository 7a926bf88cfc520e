"""Griffe extension: Sphinx roles in fapilog's docstrings become API reference links.

fapilog's docstrings are Google style but name other objects with Sphinx roles
(``:class:`~fapilog.LogEvent```, ``:meth:`reset```). mkdocstrings does not read roles,
so this extension rewrites them when a package is loaded:

* a target griffe resolves to an object of fapilog or one of its distributions, from the
  scope of the documented object as Python would (``:meth:`reset``` in a method's
  docstring is its class's ``reset``), becomes a cross-reference ``[`reset`][path]``.
  mkdocs-autorefs checks it: a public target the reference does not render fails the
  strict build. A target inside a private module (``fapilog._api.X``) becomes an
  optional reference: a link when the object is rendered under its public name, inline
  code when it is an internal detail;
* anything else (the standard library, pydantic, a name griffe cannot resolve) becomes
  inline code, as Sphinx would show it without an inventory.

``~`` shows only the last component, as in Sphinx. Text inside code spans and examples
is left alone.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|attr|exc|data|mod|obj|const):`(?P<target>[^`]+)`")
_OURS = ("fapilog", "fapilog_exporter_", "fapilog_instrumentation_")
# a fenced block, an indented ">>>"/"::" example or a ``literal`` is not prose
_LITERAL = re.compile(r"``.*?``|^```.*?^```", re.DOTALL | re.MULTILINE)


def _ours(path: str) -> bool:
    return path == "fapilog" or path.startswith(_OURS)


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx cross-reference roles into autorefs links or inline code."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        self._walk(pkg, loader, set())

    def _walk(self, obj: griffe.Object, loader: griffe.GriffeLoader, seen: set[str]) -> None:
        if obj.path in seen:
            return
        seen.add(obj.path)
        if obj.docstring is not None:
            obj.docstring.value = self._convert(obj.docstring.value, obj, loader)
        for member in obj.members.values():
            if not member.is_alias:
                self._walk(member, loader, seen)  # type: ignore[arg-type]

    def _convert(self, text: str, obj: griffe.Object, loader: griffe.GriffeLoader) -> str:
        def role(match: re.Match[str]) -> str:
            target = match["target"].lstrip("!")
            short = target.startswith("~")
            target = target.lstrip("~")
            shown = target.rsplit(".", 1)[-1] if short else target
            path = self._resolve(target, obj, loader)
            if path is None:
                return f"`{shown}`"
            if any(part.startswith("_") and not part.startswith("__") for part in path.split(".")):
                # an internal path: a link if its public alias is rendered, else code
                return f'<autoref identifier="{path}" optional><code>{shown}</code></autoref>'
            return f"[`{shown}`][{path}]"

        parts: list[str] = []
        last = 0
        for literal in _LITERAL.finditer(text):
            parts.append(_ROLE.sub(role, text[last : literal.start()]))
            parts.append(literal.group(0))
            last = literal.end()
        parts.append(_ROLE.sub(role, text[last:]))
        return "".join(parts)

    def _resolve(self, target: str, obj: griffe.Object, loader: griffe.GriffeLoader) -> str | None:
        head, _, rest = target.partition(".")
        scope: griffe.Object | None = obj
        path: str | None = None
        while scope is not None and path is None:
            try:
                path = scope.resolve(head)
            except griffe.NameResolutionError:
                scope = scope.parent
        if path is None:
            path = head  # absolute: fapilog.Logger, fapilog_exporter_splunk.X
        full = f"{path}.{rest}" if rest else path
        if not _ours(full):
            return None
        try:
            found = loader.modules_collection[full]
        except (KeyError, ValueError, griffe.AliasResolutionError, griffe.CyclicAliasError):
            return None
        return str(found.path)
