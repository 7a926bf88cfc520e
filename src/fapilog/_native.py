"""Which implementation of the worker path runs: mypyc-compiled or pure Python.

The wheel's build (``hatch_build.py``) compiles the worker path with mypyc into a
directory of its own, ``fapilog_native/`` beside the ``fapilog`` package, with a
manifest per interpreter ABI (``fapilog_native/<SOABI>.json``). The pure-Python
modules are installed as usual and stay the reference and the fallback: nothing loads
the compiled ones unless :func:`install` (called first thing by ``import fapilog``)
puts a finder on ``sys.meta_path`` that maps the compiled modules' names to their files.

It does not do so, and the pure modules run, when:

* ``FAPILOG_PURE_PYTHON=1`` is set (to compare, or to rule the compiled path out);
* no manifest for this interpreter is found (a pure wheel: no compiler at build time);
* any compiled module's source has changed since it was built (an editable install
  after an edit): then all of them are pure, since compiled modules call each other
  directly; one diagnostic line says so and ``python3 dev.py sync`` rebuilds.

:func:`status` says which path is active; ``Pipeline.stats()`` and ``fapilog doctor``
report it.
"""

from __future__ import annotations

import importlib.machinery
import os
import sys
from typing import TYPE_CHECKING, Any, Final, NamedTuple

if TYPE_CHECKING:
    from types import ModuleType

__all__ = ["NativeStatus", "install", "stale_modules", "status"]

#: Set to 1 to run the pure-Python modules even where compiled ones are installed.
PURE_ENV: Final = "FAPILOG_PURE_PYTHON"
_DIR: Final = "fapilog_native"


class NativeStatus(NamedTuple):
    """Which implementation of the worker path this process runs.

    Attributes:
        implementation: ``"compiled"`` (mypyc) or ``"pure"``.
        reason: why, in a few words (for ``pure``: what ruled the compiled path out).
        modules: the modules the compiled path covers (empty when none is installed).
        manifest: where the compiled modules' manifest is, if one was found.
        compiler: what built them (``"mypyc <version>"``), if known.
    """

    implementation: str
    reason: str
    modules: tuple[str, ...] = ()
    manifest: str | None = None
    compiler: str | None = None
    loaded: tuple[str, ...] = ()
    """The covered modules that are imported and compiled, at the time of the call."""


class _Finder:
    """A ``sys.meta_path`` finder: the compiled modules' names (and their shared
    library) to their files. (Not an ``importlib.abc`` subclass: that module alone
    costs ``import fapilog`` about 8 ms.)"""

    def __init__(self, files: dict[str, str]) -> None:
        self.files = files

    def find_spec(
        self, fullname: str, path: Any = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        file = self.files.get(fullname)
        if file is None:
            return None
        import importlib.util

        loader = importlib.machinery.ExtensionFileLoader(fullname, file)
        return importlib.util.spec_from_file_location(fullname, file, loader=loader)


_state: NativeStatus | None = None


def install() -> NativeStatus:
    """Decide once per process and, for the compiled path, install the finder.

    Must run before any covered module is imported (``fapilog/__init__`` calls it
    first). Never raises: anything unexpected means the pure path, with the reason.
    """
    global _state
    if _state is not None:
        return _state
    try:
        _state = _decide()
    except Exception as exc:  # never break the import over an optimisation
        _state = NativeStatus("pure", f"compiled modules not usable: {type(exc).__name__}")
    return _state


def status() -> NativeStatus:
    """Which implementation runs, and which covered modules are loaded compiled."""
    state = install()
    if state.implementation != "compiled":
        return state
    loaded = tuple(
        name
        for name in state.modules
        if (mod := sys.modules.get(name)) is not None
        and str(getattr(mod, "__file__", "")).endswith(_SUFFIXES)
    )
    return NativeStatus(
        state.implementation,
        state.reason,
        state.modules,
        state.manifest,
        state.compiler,
        loaded,
    )


_SUFFIXES: Final = tuple(importlib.machinery.EXTENSION_SUFFIXES)
#: The directory holding the ``fapilog`` package (site-packages, or a checkout's src/).
_PACKAGE_ROOT: Final = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))


def _decide() -> NativeStatus:
    if os.environ.get(PURE_ENV, "").strip().lower() in ("1", "true", "yes", "on"):
        return NativeStatus("pure", f"{PURE_ENV} is set")
    found = _manifest()
    if found is None:
        return NativeStatus("pure", "no compiled modules are installed for this interpreter")
    manifest_path, manifest = found
    modules: dict[str, dict[str, str]] = manifest["modules"]
    names = tuple(sorted(modules))
    base = os.path.dirname(manifest_path)
    # Installed from a wheel, the sources beside the manifest came with it; an editable
    # install's sources live in the checkout and may have changed since the build.
    stale = [] if os.path.dirname(base) == _PACKAGE_ROOT else _stale(manifest)
    if stale:
        # Straight to stderr: this runs inside ``import fapilog``, before the diagnostics
        # reporter (which redacts with a module of the worker path) can be imported.
        sys.stderr.write(
            f"fapilog: compiled modules are older than their source ({', '.join(stale)}); "
            "running the pure-Python modules (rebuild: python3 dev.py sync)\n"
        )
        return NativeStatus(
            "pure", "compiled modules are older than their source", names, manifest_path
        )
    files = {name: os.path.join(base, info["file"]) for name, info in _built(manifest).items()}
    files[manifest["group"]] = os.path.join(base, manifest["library"])
    if not all(os.path.isfile(path) for path in files.values()):
        return NativeStatus("pure", "compiled modules incomplete", names, manifest_path)
    sys.meta_path.insert(0, _Finder(files))
    compiler = f"mypyc {manifest.get('mypy', '?')}"
    return NativeStatus("compiled", "mypyc-compiled modules", names, manifest_path, compiler)


def stale_modules() -> list[str]:
    """Compiled modules whose source changed since they were built (no side effects).

    ``python3 dev.py sync`` rebuilds when this is not empty.
    """
    found = _manifest()
    return [] if found is None else _stale(found[1])


def _manifest() -> tuple[str, dict[str, Any]] | None:
    path = _find_manifest(f"{_soabi()}.json")
    if path is None:
        return None
    import json

    with open(path, encoding="utf-8") as fh:
        manifest: dict[str, Any] = json.load(fh)
    return path, manifest


def _soabi() -> str:
    """``sysconfig``'s SOABI ("cpython-311-x86_64-linux-gnu"), without importing it."""
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]  # ".cpython-311-x86_64-linux-gnu.so"
    return suffix.removeprefix(".").rsplit(".", 1)[0]


def _built(manifest: dict[str, Any]) -> dict[str, dict[str, str]]:
    """The manifest's mypyc modules and C extensions (``extensions``, not covered
    modules: they have no pure twin of the same name), by module name."""
    return {**manifest["modules"], **manifest.get("extensions", {})}


def _stale(manifest: dict[str, Any]) -> list[str]:
    return sorted(
        name
        for name, info in _built(manifest).items()
        if not _same_source(os.path.join(_PACKAGE_ROOT, info["source"]), info["sha256"])
    )


def _find_manifest(name: str) -> str | None:
    for entry in sys.path:
        candidate = os.path.join(entry or ".", _DIR, name)
        if os.path.isfile(candidate):
            return candidate
    return None


def _same_source(path: str, digest: str) -> bool:
    import hashlib

    try:
        with open(path, "rb") as fh:
            return hashlib.sha256(fh.read()).hexdigest() == digest
    except OSError:
        return False


def load_pure(module_names: tuple[str, ...]) -> dict[str, ModuleType]:
    """Fresh pure-Python copies of ``module_names`` (for the parity tests).

    Each module is executed from its source under its own name while the copies
    made so far stand in for their names in ``sys.modules``, so a pure copy calls the
    other pure copies, never a compiled module. ``sys.modules`` is restored after.
    Pass the names in dependency order. The manifest's C extensions cannot be
    imported meanwhile, so the copies take their Python fallbacks.
    """
    import importlib.util

    found = _manifest()
    blocked = tuple(found[1].get("extensions", {})) if found is not None else ()
    saved = {name: sys.modules.get(name) for name in (*module_names, *blocked)}
    copies: dict[str, ModuleType] = {}
    try:
        for name in blocked:
            sys.modules[name] = None  # type: ignore[assignment]  # import raises ImportError
        for name in module_names:
            source = os.path.join(_PACKAGE_ROOT, *name.split(".")[:-1], name.split(".")[-1] + ".py")
            spec = importlib.util.spec_from_file_location(name, source)
            if spec is None or spec.loader is None:
                raise ImportError(f"no source for {name}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            copies[name] = module
    finally:
        for name, old in saved.items():
            if old is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = old
    return copies


install()
