"""Build hook: compile fapilog's worker path with mypyc, or fall back to pure Python.

Hatchling runs this for every wheel (``uv sync``'s editable install included). It
compiles the modules in :data:`MODULES` with mypyc into a directory of their own,
``fapilog_native/`` in the wheel, beside (not over) the pure-Python modules, and
writes ``fapilog_native/<SOABI>.json``, the manifest that ``fapilog._native`` reads at
run time to load them. The pure-Python modules stay in the wheel untouched: they are
the reference implementation and the fallback. The C extensions in :data:`EXTENSIONS`
(``fapilog/_wirerec.c``, the OTLP record encoder's fast path; ``fapilog/_untrack.c``,
which takes captured records and events out of the cyclic GC) are built in the same
step, listed under the manifest's ``extensions``: all or nothing, like the rest.

``FAPILOG_BUILD_NATIVE`` chooses:

* ``auto`` (default): compile; if that fails (no C compiler, no Python headers, an
  interpreter mypyc does not support), print why and build a pure-Python wheel;
* ``no``: never compile (a pure ``py3-none-any`` wheel);
* ``require``: compile or fail the build.

The manifest records each module's source digest. At run time a compiled module whose
source has since changed (an editable install after an edit) is not used: see
``docs/compiled.md``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

#: The worker path: what every event goes through on the pipeline's worker thread.
MODULES = (
    "fapilog/_normalize.py",
    "fapilog/pipeline/_size.py",
    "fapilog/pipeline/_materialize.py",
    "fapilog/redaction/_processor.py",
    "fapilog/exporters/otlp/_wire.py",
)
# Not the JSON-lines encoder (exporters/_jsonl.py, _jsonsafe.py): orjson does its work,
# and compiling it measured 1 % faster (benchmarks/worker_path.py) while its public
# functions would lose their docstrings (mypyc keeps only the signature).
#: C extensions built with them (module name -> source): the OTLP record encoder's fast
#: path (``_wire.py`` falls back to its Python ``_record`` without it), and the untracking
#: of captured records and events from the cyclic GC (nothing is untracked without it).
EXTENSIONS = {
    "fapilog.exporters.otlp._wirerec": "fapilog/_wirerec.c",
    "fapilog._untrack": "fapilog/_untrack.c",
}
#: mypyc's shared library for the group (``fapilog_native__mypyc.<SOABI>.so``).
GROUP = "fapilog_native"
SETTING = "FAPILOG_BUILD_NATIVE"


class NativeBuildHook(BuildHookInterface):  # type: ignore[misc,type-arg]
    """Compiles :data:`MODULES` into ``fapilog_native/`` of the wheel being built."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        mode = os.environ.get(SETTING, "auto").strip().lower() or "auto"
        if mode not in ("auto", "no", "require"):
            raise ValueError(f"{SETTING}={mode!r}: use auto, no or require")
        if mode == "no":
            _say(f"{SETTING}=no: building the pure-Python wheel")
            return
        try:
            files = self._compile()
        except (Exception, SystemExit) as exc:  # mypyc exits on a type error
            if mode == "require":
                raise RuntimeError(f"mypyc could not build the compiled modules: {exc}") from exc
            _say(
                f"the compiled modules could not be built ({type(exc).__name__}: "
                f"{_first_line(exc)}); building the pure-Python wheel instead"
            )
            return
        include = "force_include_editable" if version == "editable" else "force_include"
        build_data.setdefault(include, {}).update(files)
        build_data["pure_python"] = False
        build_data["infer_tag"] = True

    def _compile(self) -> dict[str, str]:
        """Run mypyc; the built files as ``{path on disk: path in the wheel}``."""
        src = Path(self.root) / "src"
        out = Path(self.directory) / ".fapilog-native" / _soabi()
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        work = Path(tempfile.mkdtemp(prefix="fapilog-mypyc-"))
        started = time.monotonic()
        try:
            built = _mypyc(src, work)
            files: dict[str, str] = {}
            modules: dict[str, dict[str, str]] = {}
            for so in built:
                rel = so.relative_to(work / "lib")
                dest = out / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(so, dest)
                files[str(dest)] = f"{GROUP}/{rel.as_posix()}"
            for module in MODULES:
                name = module[: -len(".py")].replace("/", ".")
                so_rel = next(
                    rel for rel in files.values() if rel.startswith(f"{GROUP}/{module[:-3]}.")
                )
                modules[name] = {
                    "file": so_rel[len(GROUP) + 1 :],
                    "source": module,
                    "sha256": hashlib.sha256((src / module).read_bytes()).hexdigest(),
                }
            extensions = {
                name: {
                    "file": next(
                        rel[len(GROUP) + 1 :]
                        for rel in files.values()
                        if rel.startswith(f"{GROUP}/{name.replace('.', '/')}.")
                    ),
                    "source": source,
                    "sha256": hashlib.sha256((src / source).read_bytes()).hexdigest(),
                }
                for name, source in EXTENSIONS.items()
            }
            lib = next(r for r in files.values() if Path(r).name.startswith(f"{GROUP}__mypyc."))
            manifest = {
                "format": 1,
                "soabi": _soabi(),
                "python": sys.version.split()[0],
                "mypy": _mypy_version(),
                "group": f"{GROUP}__mypyc",
                "library": lib[len(GROUP) + 1 :],
                "modules": modules,
                "extensions": extensions,
                "build_seconds": round(time.monotonic() - started, 1),
            }
            path = out / f"{_soabi()}.json"
            path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
            files[str(path)] = f"{GROUP}/{path.name}"
        finally:
            shutil.rmtree(work, ignore_errors=True)
        seconds = time.monotonic() - started
        _say(f"compiled {len(MODULES)} modules with mypyc, {len(EXTENSIONS)} in C ({seconds:.0f}s)")
        return files


def _mypyc(src: Path, work: Path) -> list[Path]:
    """Compile :data:`MODULES` and :data:`EXTENSIONS` (copied from ``src``) in ``work``;
    the ``.so`` files built."""
    from mypyc.build import mypycify
    from setuptools import Distribution, Extension

    tree = work / "src"
    shutil.copytree(src / "fapilog", tree / "fapilog", ignore=shutil.ignore_patterns("*.so"))
    cwd = os.getcwd()
    os.chdir(tree)  # mypyc names modules by their path relative to the working directory
    try:
        extensions = mypycify(
            [
                # Third-party stubs are not in the build environment: their types are Any
                # here (the code is checked with them by mypy --strict in the test run).
                "--ignore-missing-imports",
                # Only the compiled modules are checked here (the others run as they are).
                "--follow-imports",
                "silent",
                "--python-version",
                f"{sys.version_info.major}.{sys.version_info.minor}",
                *MODULES,
            ],
            opt_level="3",
            group_name=GROUP,
            target_dir=str(work / "c"),
        )
        extensions += [Extension(name, [source]) for name, source in EXTENSIONS.items()]
        dist = Distribution({"name": "fapilog-native", "ext_modules": extensions})
        cmd = dist.get_command_obj("build_ext")
        cmd.build_lib = str(work / "lib")
        cmd.build_temp = str(work / "tmp")
        cmd.inplace = False
        dist.run_command("build_ext")
    finally:
        os.chdir(cwd)
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    built = sorted((work / "lib").rglob(f"*{suffix}"))
    expected = len(MODULES) + 1 + len(EXTENSIONS)
    if len(built) != expected:
        raise RuntimeError(f"expected {expected} extension files, got {len(built)}")
    return built


def _soabi() -> str:
    return str(sysconfig.get_config_var("SOABI") or sys.implementation.cache_tag)


def _mypy_version() -> str:
    from mypy.version import __version__

    return str(__version__)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else ""


def _say(message: str) -> None:
    print(f"fapilog build: {message}", file=sys.stderr, flush=True)
