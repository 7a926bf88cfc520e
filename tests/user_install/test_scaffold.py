"""`fapilog plugins new` end to end: generated distributions install, list, check, pass and work.

An exporter and a processor are generated, built into wheels with the core wheel from
this tree, and installed into a clean virtualenv. fapilog itself is always the local
wheel, given by path (never resolved from an index); the other dependencies come from
uv's cache (``--offline``), so the test needs no network. In that venv:
``fapilog plugins list`` shows both, ``fapilog plugins check`` passes for both, the
generated distributions' own tests (which run the conformance kit) pass unchanged,
and a script uses both by name in ``configure()``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from user_install_support import ROOT, hermetic_environ

pytestmark = [pytest.mark.once]

#: CI sets this: there, a missing prerequisite is a failure, never a skip.
IN_CI = os.environ.get("FAPILOG_REQUIRE_RSYSLOG") == "1"


def _uv() -> str:
    local = ROOT / ".tools" / "bin" / "uv"
    found = str(local) if local.exists() else shutil.which("uv")
    if found is None:
        if IN_CI:
            pytest.fail("uv is needed to build the wheels")
        pytest.skip("uv is not available to build the wheels")
    return found


def _run(argv: list[str], cwd: Path, env: dict[str, str], timeout: float = 300) -> str:
    done = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{argv}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


SCRIPT = """
import json, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import fapilog

received = []

class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        data = self.rfile.read(int(self.headers["Content-Length"]))
        received.extend(json.loads(line) for line in data.splitlines())
        assert self.headers["Authorization"] == "Bearer s3cret-token"
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
url = f"http://127.0.0.1:{server.server_address[1]}/ingest"

pipeline = fapilog.configure(
    exporters={"acme": {"url": url, "token": "s3cret-token"}},
    processors=["tagger"],
    schedule_delay_ms=5,
)
log = fapilog.get_logger("shop")
for i in range(3):
    log.info("order %d paid", i, order_id=i)
assert fapilog.shutdown(timeout=10)
stats = pipeline.stats()
print(json.dumps({
    "bodies": [r["body"] for r in received],
    "tagged": [r["attributes"].get("tagger") for r in received],
    "exported": stats.exporters["acme"].exported,
    "protection": dict(stats.protection),
    "repr": repr(pipeline.exporters),
}))
server.shutdown()
"""


def test_generated_plugins_install_list_check_pass_their_tests_and_work_by_name(
    tmp_path: Path,
) -> None:
    uv = _uv()
    env = hermetic_environ()
    wheels = tmp_path / "wheels"
    _run(
        [uv, "build", "--offline", "--package", "fapilog", "--wheel", "--out-dir", str(wheels)],
        ROOT,
        env,
    )
    # Generated with this tree's command, as a plugin author would.
    plugins = tmp_path / "plugins"
    generate = [sys.executable, "-m", "fapilog", "plugins", "new"]
    _run(
        [*generate, "exporter", "acme", "--dir", str(plugins)],
        ROOT,
        {**env, "PYTHONPATH": str(ROOT / "src")},
    )
    _run(
        [*generate, "processor", "tagger", "--dir", str(plugins)],
        ROOT,
        {**env, "PYTHONPATH": str(ROOT / "src")},
    )
    exporter_dir = plugins / "fapilog-exporter-acme"
    processor_dir = plugins / "fapilog-processor-tagger"
    for project in (exporter_dir, processor_dir):
        _run(
            [uv, "build", "--offline", "--wheel", "--out-dir", str(wheels), str(project)],
            tmp_path,
            env,
        )
    venv = tmp_path / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    _run([uv, "venv", "--python", base, str(venv)], tmp_path, env)
    python = venv / "bin" / "python"
    # fapilog by path: never resolved from an index.
    _run(
        [uv, "pip", "install", "--offline", "--python", str(python),
         *map(str, sorted(wheels.glob("*.whl"))), "pytest"],
        tmp_path,
        env,
    )  # fmt: skip
    venv_env = {**env, "VIRTUAL_ENV": str(venv), "PATH": f"{venv / 'bin'}{os.pathsep}{env['PATH']}"}
    where = _run([str(python), "-c", "import fapilog; print(fapilog.__file__)"], tmp_path, venv_env)
    assert str(venv) in where, where

    listed = json.loads(_run(["fapilog", "plugins", "list", "--json"], tmp_path, venv_env))
    rows = {(p["kind"], p["name"]): p for p in listed["plugins"]}
    acme, tagger = rows[("exporter", "acme")], rows[("processor", "tagger")]
    assert acme["distribution"] == "fapilog-exporter-acme" and acme["version"] == "0.1.0"
    assert tagger["distribution"] == "fapilog-processor-tagger"
    assert acme["compatible"] and tagger["compatible"], (acme, tagger)
    assert acme["api_version"] == tagger["api_version"] == listed["api_version"]
    table = _run(["fapilog", "plugins", "list"], tmp_path, venv_env)
    assert "fapilog-exporter-acme" in table and "fapilog-processor-tagger" in table

    checked = _run(
        ["fapilog", "plugins", "check", "acme", "--option", "url=http://127.0.0.1:9/ingest",
         "--option", "token=fake-secret-123"],
        tmp_path,
        venv_env,
    )  # fmt: skip
    assert "ok    secrets in repr: token not shown" in checked, checked
    assert "all checks passed" in checked
    assert "all checks passed" in _run(
        ["fapilog", "plugins", "check", "tagger"], tmp_path, venv_env
    )

    # The generated distributions' own tests, unchanged (they run the conformance kit).
    for project in (exporter_dir, processor_dir):
        out = _run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"], project, venv_env)
        assert " passed" in out and "failed" not in out, out

    script = tmp_path / "use_by_name.py"
    script.write_text(textwrap.dedent(SCRIPT), encoding="utf-8")
    result = json.loads(_run([str(python), str(script)], tmp_path, venv_env).splitlines()[-1])
    assert result["bodies"] == ["order 0 paid", "order 1 paid", "order 2 paid"]
    assert result["tagged"] == ["true"] * 3
    assert result["exported"] == 3
    assert result["protection"]["tagger.tagged"] == 3
    assert "s3cret-token" not in result["repr"]
