"""The ``import`` workload: what importing a logging library costs a fresh interpreter.

Every measurement is a new interpreter (``python -c CODE``) that times one
statement with ``time.perf_counter_ns`` in-process (no ``-X importtime``, which
slows the imports it reports) and reads its own peak RSS right after it (``VmHWM``,
see ``_common.peak_rss_mib``). Cases:

* ``pass``: the bare interpreter (``python -c pass``), the RSS floor;
* ``logging``, ``structlog``, ``loguru``, ``fapilog``: ``import <lib>``;
* ``fapilog-first-call``: ``import fapilog; fapilog.get_logger().info("x")`` with no
  ``FAPILOG_*``/``OTEL_*`` variables and stderr (the default console exporter's
  stream) on ``/dev/null``: the time to the first event and the memory it takes,
  and whether ``pydantic``/``pydantic_settings`` were imported on the way.
"""

from __future__ import annotations

import subprocess
from ast import literal_eval
from typing import Any

CASES = ("pass", "logging", "structlog", "loguru", "fapilog", "fapilog-first-call")
"""In the order a round runs them."""

FAPILOG_CASES = ("fapilog", "fapilog-first-call")
"""The cases ``--src`` points at another source tree."""

_PRELUDE = "import sys as _s, time as _t\n_t0 = _t.perf_counter_ns()\n"
# The peak RSS of this interpreter's own memory (VmHWM; see _common.peak_rss_mib for
# why not ru_maxrss), then what the statement imported; one line, a Python literal.
_REPORT = (
    "_t1 = _t.perf_counter_ns()\n"
    "_hwm = None\n"
    "try:\n"
    "    _hwm = int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM:'))"
    ".split()[1])\n"
    "except Exception:\n"
    "    import resource as _r\n"
    "    _hwm = _r.getrusage(_r.RUSAGE_SELF).ru_maxrss\n"
    "_m = _s.modules\n"
    "_f = getattr(_m.get('fapilog'), '__file__', None)\n"
    "print(repr({'ms': (_t1 - _t0) / 1e6, 'rss_kib': _hwm, 'fapilog_file': _f,"
    " 'pydantic': 'pydantic' in _m, 'pydantic_settings': 'pydantic_settings' in _m,"
    " **_extra}))\n"
)

CODE: dict[str, str] = {
    "pass": f"{_PRELUDE}pass\n_extra = {{}}\n{_REPORT}",
    **{
        lib: f"{_PRELUDE}import {lib}\n_extra = {{}}\n{_REPORT}"
        for lib in ("logging", "structlog", "loguru", "fapilog")
    },
    "fapilog-first-call": (
        f"{_PRELUDE}import fapilog\n"
        "_ti = _t.perf_counter_ns()\n"
        "fapilog.get_logger().info('x')\n"
        "_extra = {'import_ms': (_ti - _t0) / 1e6,"
        " 'call_ms': (_t.perf_counter_ns() - _ti) / 1e6}\n"
        f"{_REPORT}"
    ),
}
"""The ``-c`` program of each case: times the statement(s), then reports (``pass``: none)."""


def _mib(kib: float) -> float:
    # ru_maxrss is KiB on Linux (the suite's platform; macOS would report bytes).
    return kib / 1024


def run_case(case: str, python: str, env: dict[str, str], timeout: float) -> dict[str, Any]:
    """One fresh interpreter running ``case``: its timing, peak RSS and imported modules.

    ``rss_mib`` is the child's peak RSS right after the timed statement(s), read in the
    child (the bare interpreter's for ``pass``, whose ``ms`` is not a figure).
    """
    try:
        done = subprocess.run(
            [python, "-c", CODE[case]],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            # fapilog's default exporter writes to stderr: /dev/null, as the case says.
            stderr=subprocess.DEVNULL,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"{case}: timed out after {timeout:g}s"}
    if done.returncode != 0:
        return {"error": f"{case}: exited {done.returncode} (run its CODE by hand to see why)"}
    data: dict[str, Any] = literal_eval(done.stdout.strip().splitlines()[-1])
    data["rss_mib"] = _mib(data.pop("rss_kib"))
    if case == "pass":
        data.pop("ms")
    return data
