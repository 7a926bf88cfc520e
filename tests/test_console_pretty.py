"""The console's pretty renderer: tracebacks, time zones, call sites, colours, width.

The first test pins the exact bytes the console writes when it is not a terminal
(JSON lines): they were captured on the code before the pretty renderer changed, and
nothing about the pretty output may change them.
"""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from fapilog import LogEvent
from fapilog.exporters.console import ConsoleExporter

TS = 1_795_462_800_123_456_789  # 2026-11-23T19:40:00.123456789Z
TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
SPAN_ID = 0x00F067AA0BA902B7
STACK = (
    "Traceback (most recent call last):\n"
    '  File "/srv/app.py", line 40, in pay\n'
    "    1 / 0\n"
    "    ~~^~~\n"
    "ZeroDivisionError: division by zero\n"
)


def representative_events() -> list[LogEvent]:
    """A record with every kind of field and odd value, and a bare one."""
    return [
        LogEvent(
            timestamp=TS,
            severity_text="ERROR",
            severity_number=17,
            body="pricing failed",
            attributes={
                "order_id": 7,
                "amount": 12.5,
                "ok": True,
                "none": None,
                "tags": ["a", "b c"],
                "nested": {"k": [1, {"x": "y"}]},
                "blob": b"\x00\xff",
                "nan": float("nan"),
                "big": 2**70,
                "text": "é\u2028\x1b[31m\n",
                "code.file.path": "/srv/app.py",
                "code.line.number": 42,
                "code.function.name": "pay",
                "exception.type": "ZeroDivisionError",
                "exception.message": "division by zero",
                "exception.stacktrace": STACK,
            },
            trace_id=TRACE_ID,
            span_id=SPAN_ID,
            trace_flags=1,
            event_name="order.failed",
            resource=Resource({"service.name": "shop"}),
            instrumentation_scope=InstrumentationScope("shop.api"),
        ),
        LogEvent(
            timestamp=TS + 1_000_000_000,
            severity_text="INFO",
            severity_number=9,
            body="plain",
            instrumentation_scope=None,
        ),
    ]


# Captured from ConsoleExporter(io.StringIO()) before the pretty renderer moved out of
# _encoding.py. Do not regenerate: a difference here is a change of the JSON format.
PINNED_JSON = (
    b'{"timestamp":"2026-11-23T19:40:00.123456789Z","severity_text":"ERROR",'
    b'"severity_number":17,"logger":"shop.api","body":"pricing failed","attributes":'
    b'{"order_id":7,"amount":12.5,"ok":true,"none":null,"tags":["a","b c"],"nested":'
    b'{"k":[1,{"x":"y"}]},"blob":"AP8=","nan":"NaN","big":"1180591620717411303424",'
    b'"text":"\xc3\xa9\\u2028\\u001b[31m\\n","code.file.path":"/srv/app.py",'
    b'"code.line.number":42,"code.function.name":"pay","exception.type":'
    b'"ZeroDivisionError","exception.message":"division by zero","exception.stacktrace":'
    b'"Traceback (most recent call last):\\n  File \\"/srv/app.py\\", line 40, in pay\\n'
    b'    1 / 0\\n    ~~^~~\\nZeroDivisionError: division by zero\\n"},'
    b'"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7",'
    b'"trace_flags":1,"event_name":"order.failed","service.name":"shop"}\n'
    b'{"timestamp":"2026-11-23T19:40:01.123456789Z","severity_text":"INFO",'
    b'"severity_number":9,"logger":"","body":"plain","attributes":{}}\n'
)


def console_bytes(**options: Any) -> bytes:
    stream = io.StringIO()
    result = asyncio.run(ConsoleExporter(stream, **options).export(representative_events()))
    assert result.ok, result
    return stream.getvalue().encode("utf-8")


@pytest.mark.parametrize(
    "env",
    [{}, {"FORCE_COLOR": "1"}, {"NO_COLOR": "1"}, {"TZ": "Asia/Kolkata", "COLUMNS": "20"}],
)
def test_non_tty_output_is_the_pinned_json_bytes(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Off a terminal the console writes exactly the JSON lines it always wrote,
    whatever the colour, time zone and width variables say."""
    for name in ("NO_COLOR", "FORCE_COLOR", "TERM", "TZ", "COLUMNS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert console_bytes() == PINNED_JSON
    assert console_bytes(format="json") == PINNED_JSON
