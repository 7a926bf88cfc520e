"""Property: whatever values and call sequences an application throws at the public API,
no exception escapes a log call, and the accounting balances at the end.

Hypothesis drives ``fapilog.configure`` / ``get_logger`` / every log method (sync and
awaitable) / ``log.log`` with arbitrary levels / ``bind`` / ``bind_context`` / ``flush``
/ ``shutdown`` in arbitrary order, with arbitrary values: nested containers, non-string
keys, NaN and huge numbers, bytes, sets, and objects whose ``__str__``, ``__repr__`` or
``__eq__`` raise.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fapilog
from fapilog.exporters.memory import InMemoryExporter


class Hostile:
    """An application object that fails every way it can be looked at."""

    def __str__(self) -> str:
        raise RuntimeError("str refused")

    def __repr__(self) -> str:
        raise RuntimeError("repr refused")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq refused")

    __hash__ = object.__hash__


class Slotted:
    __slots__ = ("x",)

    def __init__(self) -> None:
        self.x = 1


keys = st.one_of(st.text(max_size=6), st.integers(-3, 3), st.booleans(), st.none(), st.floats(0, 1))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),  # beyond int64 too
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.binary(max_size=10),
    st.just(math.nan),
    st.builds(Hostile),
    st.builds(Slotted),
    st.builds(object),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner, inner),
        st.dictionaries(keys, inner, max_size=3),
        st.frozensets(st.integers(), max_size=3),
        st.builds(bytearray, st.binary(max_size=4)),
    ),
    max_leaves=6,
)
field_names = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=8
).filter(lambda n: n not in ("exc_info", "event_name"))
fields = st.dictionaries(field_names, values, max_size=4)
levels = st.one_of(
    st.integers(-5, 60),
    st.sampled_from(["info", "WARN", "warning", "fatal", "trace", "LOUD", "", "9"]),
    st.none(),
    st.builds(Hostile),
)
methods = st.sampled_from(["debug", "info", "warning", "error", "critical", "exception"])
messages = st.one_of(st.text(max_size=30), values)

actions = st.one_of(
    st.tuples(st.just("log"), methods, messages, st.lists(values, max_size=2), fields),
    st.tuples(st.just("alog"), methods, messages, fields),
    st.tuples(st.just("log.log"), levels, messages, fields),
    st.tuples(st.just("bind"), fields),
    st.tuples(st.just("bind_context"), fields),
    st.tuples(st.just("configure"), st.sampled_from(["drop_newest", "drop_oldest", "block"])),
    st.tuples(st.just("flush")),
    st.tuples(st.just("shutdown")),
)


def run(sequence: list[tuple[Any, ...]]) -> list[fapilog.Pipeline]:
    """Play ``sequence`` through the public API; return every pipeline configured."""
    pipelines: list[fapilog.Pipeline] = []

    def configure(overflow: str) -> None:
        pipelines.append(
            fapilog.configure(
                exporters=[InMemoryExporter()],
                overflow=overflow,
                max_queue_size=64,
                max_export_batch_size=16,
                schedule_delay_ms=5,
            )
        )

    configure("block")
    log = fapilog.get_logger("props")
    for action in sequence:
        kind = action[0]
        if kind == "log":
            _, method, msg, args, kw = action
            getattr(log, method)(msg, *args, **kw)
        elif kind == "alog":
            _, method, msg, kw = action
            asyncio.run(_awaited(getattr(log, "a" + method), msg, kw))
        elif kind == "log.log":
            _, level, msg, kw = action
            log.log(level, msg, **kw)
        elif kind == "bind":
            log = log.bind(**action[1])
        elif kind == "bind_context":
            with fapilog.bind_context(**action[1]):
                log.info("inside a bound context")
        elif kind == "configure":
            configure(action[1])
        elif kind == "flush":
            fapilog.flush(timeout=5)
        else:
            fapilog.shutdown(timeout=5)
    return pipelines


async def _awaited(method: Any, msg: Any, kw: dict[str, Any]) -> None:
    await method(msg, **kw)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(actions, max_size=12))
def test_no_log_call_raises_and_the_books_balance(sequence: list[tuple[Any, ...]]) -> None:
    pipelines = run(sequence)
    fapilog.shutdown(timeout=5)
    for pipeline in pipelines:
        pipeline.shutdown(timeout=5)
        stats = pipeline.stats()
        assert stats.emitted == stats.exported + stats.dropped_total + stats.in_flight, stats
        assert stats.in_flight == 0, stats
