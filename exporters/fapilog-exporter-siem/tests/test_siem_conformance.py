"""The fapilog conformance kit against SyslogExporter and a real rsyslog over TCP.

rsyslog cannot be told to refuse or hang, so the fault scenarios are skipped here
(test_siem_failures.py covers them against scripted receivers); delivery, bounds,
threads, fork and never raising are checked against the real daemon. Skipped when
rsyslogd is absent, unless FAPILOG_REQUIRE_RSYSLOG=1.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

from fapilog.testing.conformance import Backend, ExporterConformance
from fapilog_exporter_siem import SyslogExporter
from rsyslog_receiver import Rsyslog


class RsyslogBackend(Backend):
    """What rsyslog wrote to its output file (the parsed MSG of each message)."""

    def __init__(self, receiver: Rsyslog) -> None:
        self.receiver = receiver

    def received(self) -> Sequence[str]:
        return [str(record["msg"]) for record in self.receiver.records()]


class TestSyslogConformance(ExporterConformance):
    @contextlib.contextmanager
    def backend(self) -> Iterator[Backend]:
        with Rsyslog(self.tmp_path) as receiver:
            yield RsyslogBackend(receiver)

    def make_exporter(self, backend: Backend) -> SyslogExporter:
        assert isinstance(backend, RsyslogBackend)
        return SyslogExporter(host="127.0.0.1", port=backend.receiver.tcp_port, transport="tcp")
