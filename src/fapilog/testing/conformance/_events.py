"""The events the kit sends: numbered bodies to count, odd shapes to survive."""

from __future__ import annotations

import time
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from fapilog._event import LogEvent

__all__ = ["conformance_body", "odd_events", "ordinary_event", "parse_body"]

_PREFIX = "conformance-"


def conformance_body(run: str, seq: int) -> str:
    """The body of event ``seq`` of the kit's run ``run``: ``conformance-<run>-<seq>``.

    ASCII without spaces or quotes, so every wire format carries it unchanged.
    """
    return f"{_PREFIX}{run}-{seq}"


def parse_body(run: str, body: object) -> int | None:
    """``seq`` when ``body`` is an event of run ``run``, else None."""
    if not isinstance(body, str):
        return None
    head = f"{_PREFIX}{run}-"
    if not body.startswith(head):
        return None
    tail = body[len(head) :]
    return int(tail) if tail.isdigit() else None


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": "end"}
    for level in range(depth):
        value = {f"level{level}": value}
    return value


def ordinary_event(body: Any = "order paid", **attributes: Any) -> LogEvent:
    """An INFO event as the pipeline builds it, with a resource and a scope."""
    now = time.time_ns()
    return LogEvent(
        timestamp=now,
        observed_timestamp=now,
        severity_text="INFO",
        severity_number=9,
        body=body,
        attributes={"order_id": 7, "user": "u1", **attributes},
        resource=Resource.create({"service.name": "conformance"}),
        instrumentation_scope=InstrumentationScope("conformance"),
    )


def odd_events() -> list[tuple[str, LogEvent]]:
    """Events a plugin must survive, each with what is odd about it.

    Bodies that are not strings (a dict, bytes, an int, None, a list), ``None``
    attribute values, a 1 MB attribute, 2,000 attributes, 60 levels of nesting,
    control and non-ASCII characters, and an event with nothing set.
    """
    return [
        ("whose body is a dict", ordinary_event({"k": "v", "n": [1, 2, {"x": None}]})),
        ("whose body is bytes", ordinary_event(b"\x00\xffraw")),
        ("whose body is an int", ordinary_event(42)),
        ("whose body is None", ordinary_event(None)),
        ("whose body is a list", ordinary_event(["a", 1, 2.5, True, None])),
        ("with None attribute values", ordinary_event("x", empty=None, also=[None])),
        ("with a 1 MB attribute", ordinary_event("x", blob="x" * 1_000_000)),
        (
            "with 2,000 attributes",
            ordinary_event("x", **{f"attr{i}": i for i in range(2000)}),
        ),
        ("with 60 levels of nested attributes", ordinary_event("x", deep=_nested(60))),
        (
            "with control and non-ASCII characters",
            ordinary_event("a\x00b\nc\u2028d \u00e9 \U0001f642", **{"k\x00ey": "v\x1b[31m"}),
        ),
        ("with nothing set", LogEvent(timestamp=0)),
    ]
