"""Event size estimates follow real memory, stay cheap on huge values, and turn the
byte bound into the ring's record limit (IntakeBudget)."""

from __future__ import annotations

import gc
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry.sdk.resources import Resource

from fapilog import LogEvent, Pipeline
from fapilog._logger import _get_context
from fapilog.pipeline import _size
from fapilog.pipeline._materialize import materialize_batch
from fapilog.pipeline._size import (
    EVENT_BASE,
    HALF_LIFE,
    INTAKE_FLOOR,
    NODE_CAP,
    SAMPLE,
    IntakeBudget,
    MemoryPlan,
    estimate_size,
    size_from_parts,
    string_size,
    value_size,
)

RESOURCE = Resource({"service.name": "size-test"})
PAD = "p" * 990


def _traced(make: Callable[[], Any]) -> tuple[Any, int]:
    """Build a value and return it with the bytes its allocation left behind."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        value = make()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return value, after - before


# Fresh objects only (nothing shared or interned), so what tracemalloc sees is what
# the value alone keeps alive.
SHAPES: dict[str, Callable[[], Any]] = {
    "1 MB string": lambda: "s" * 1_000_000 + str(time.time_ns()),
    "non-ASCII string": lambda: "\u20ac" * 100_000 + str(time.time_ns()),
    "astral string": lambda: "\U0001f600" * 50_000 + str(time.time_ns()),
    "bytes": lambda: bytes(500_000) + b"x",
    "flat list of strings": lambda: [f"{i:06d}" + PAD for i in range(1000)],
    "nested lists (1 MB)": lambda: [
        [f"{j:04d}{k:04d}" + PAD for k in range(10)] for j in range(100)
    ],
    "list of dicts": lambda: [
        {f"k{i}-{j}": f"v{i}-{j}" + PAD[:40] for j in range(5)} for i in range(300)
    ],
    "ints": lambda: list(range(10**6, 10**6 + 50_000)),
    "floats": lambda: [i + 0.5 for i in range(50_000)],
    "mixed small lists": lambda: [[i, f"x{i}", i + 0.5, None, True] for i in range(2000)],
    "long list of lists": lambda: [[f"{i}a", f"{i}b"] for i in range(20_000)],
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_the_estimate_follows_what_the_value_really_costs(shape: str) -> None:
    value, real = _traced(SHAPES[shape])
    estimate = value_size(value)
    # Never much below the truth (the bound would leak), never wildly above it (the
    # bound would shrink for nothing): allocator rounding, which tracemalloc does not
    # show, explains most of the excess.
    assert 0.9 * real <= estimate <= 1.4 * real, (shape, real, estimate)


def test_an_event_estimate_covers_the_event_and_its_attributes() -> None:
    def build() -> LogEvent:
        event = LogEvent(timestamp=time.time_ns(), body=f"request {time.time_ns()} done")
        event.attributes = {
            "rows": [[f"{j:04d}{k:04d}" + PAD for k in range(10)] for j in range(20)],
            "user": f"user-{time.time_ns()}",
            "n": 10**9 + 7,
        }
        return event

    event, real = _traced(build)
    assert real <= estimate_size(event) <= 1.4 * real


def test_small_events_are_not_counted_as_free() -> None:
    """The old estimate counted a five-scalar event as ~250 bytes; it costs more."""
    event = LogEvent(
        timestamp=1, body="order placed", attributes={"order_id": 10**6, "ok": True, "ms": 1.5}
    )
    assert estimate_size(event) >= EVENT_BASE + sys.getsizeof({}) > 250


def test_strings_count_by_their_memory_not_their_length() -> None:
    text = "\U0001f600" * 1000
    assert string_size(text) == sys.getsizeof(text) >= 4 * len(text)
    assert string_size("a" * 1000) >= 1000 + sys.getsizeof("")


def test_flat_events_get_the_same_size_from_their_parts() -> None:
    """materialize sums string sizes in its loop; that must equal the full estimate."""
    pipeline = Pipeline(exporters=[], redaction=False, resource=RESOURCE)
    log = pipeline.get_logger("m")
    try:
        fields: list[dict[str, Any]] = [
            {},
            {"s": "x", "i": 7, "f": 1.5, "b": True, "n": None},
            {"s": "\u20ac" * 50, "t": "\U0001f600"},
            {"big": "y" * 100_000},
            {"nested": [["a", "b"], {"k": "v"}], "s": "x"},
            {"raw": b"bytes"},
        ]
        recs: list[tuple[Any, ...]] = [
            (time.time_ns(), 9, "m", (), dict(f), log, _get_context(), None) for f in fields
        ]
        recs.append((time.time_ns(), 9, "%s and %s", ("a", 2), {}, log, _get_context(), None))
        sizes: list[int] = []
        events, failed, _ = materialize_batch(recs, RESOURCE, True, sizes)
        assert failed == 0
        assert sizes == [estimate_size(e) for e in events]
        flat = events[1]
        text = sum(string_size(v) for v in flat.attributes.values() if type(v) is str)
        assert sizes[1] == size_from_parts(flat.body, len(flat.attributes), text)
    finally:
        pipeline.shutdown(timeout=5)


@pytest.mark.pure_python
def test_huge_values_are_sampled_and_extrapolated(monkeypatch: pytest.MonkeyPatch) -> None:
    """At most NODE_CAP items are looked at one by one; the rest is extrapolated."""
    value = [[f"{i}"] for i in range(200_000)]
    real = sum(sys.getsizeof(item) + sys.getsizeof(item[0]) for item in value)
    visited = 0
    node = _size._node

    def counting(item: Any, budget: list[int], depth: int) -> int:
        nonlocal visited
        visited += 1
        return node(item, budget, depth)

    monkeypatch.setattr(_size, "_node", counting)
    estimate = value_size(value)
    assert visited <= 2 * NODE_CAP  # lists and their strings, within the budget
    assert 0.9 * real <= estimate - sys.getsizeof(value) <= 1.5 * real


def test_a_long_flat_list_is_summed_from_a_sample() -> None:
    value = [f"{i:08d}" for i in range(100 * SAMPLE)]
    exact = sum(string_size(s) for s in value)
    assert value_size(value) - sys.getsizeof(value) == exact  # same-sized items: exact


def test_the_sample_mean_stands_for_the_rest() -> None:
    """A value hidden past the sample is not seen (documented): the estimate is the
    sample's mean times the length, not a guess of the maximum."""
    value = ["a"] * (2 * SAMPLE) + ["b" * 1_000_000]
    assert value_size(value) < 1_000_000


def test_cycles_depth_and_odd_objects_never_raise() -> None:
    """After a user processor, attributes may hold anything."""
    cyclic: list[Any] = [1]
    cyclic.append(cyclic)
    deep: list[Any] = []
    for _ in range(1000):
        deep = [deep]

    class BrokenSize:
        def __sizeof__(self) -> int:
            raise RuntimeError("no")

    class Shifty(dict[str, Any]):
        pass

    values: list[Any] = [cyclic, deep, BrokenSize(), Shifty(a=1), {1, 2}, object()]
    for value in values:
        event = LogEvent(timestamp=1, body=value, attributes={"v": value})
        assert estimate_size(event) > EVENT_BASE


def test_the_plan_leaves_headroom_for_what_it_does_not_count() -> None:
    plan = MemoryPlan(64 * 1024 * 1024)
    counted = plan.intake_bytes + plan.lane_bytes + plan.batch_bytes
    assert counted < plan.max_queue_bytes
    assert plan.batch_bytes * 8 <= plan.lane_bytes
    assert "lanes=" in repr(plan)
    tiny = MemoryPlan(1)
    assert min(tiny.intake_bytes, tiny.lane_bytes, tiny.batch_bytes) == 1


class TestIntakeBudget:
    def test_before_any_size_it_assumes_a_modest_record(self) -> None:
        budget = IntakeBudget(1024 * 1024, 20_000)
        assert budget.limit == 1024 * 1024 // _size.INITIAL_RECORD_BYTES
        assert IntakeBudget(10**12, 20_000).limit == 20_000

    def test_small_events_let_the_ring_use_its_record_bound(self) -> None:
        budget = IntakeBudget(16 * 1024 * 1024, 20_000)
        assert budget.update([600] * 4096) == 20_000

    def test_a_big_event_lowers_the_limit_at_once(self) -> None:
        budget = IntakeBudget(16 * 1024 * 1024, 20_000)
        budget.update([600] * 100)
        limit = budget.update([600] * 99 + [1024 * 1024])
        assert limit == 16
        assert limit * 1024 * 1024 <= 16 * 1024 * 1024

    def test_its_weight_halves_every_half_life_of_records(self) -> None:
        budget = IntakeBudget(16 * 1024 * 1024, 20_000)
        budget.update([1024 * 1024])
        budget.update([100] * HALF_LIFE)
        assert budget.per_record == pytest.approx(512 * 1024)
        budget.update([100] * HALF_LIFE)
        assert budget.limit == 64
        for _ in range(20):
            budget.update([100] * HALF_LIFE)
        assert budget.limit == 20_000  # back to the record bound once they are gone

    def test_the_limit_stays_between_the_floor_and_the_record_bound(self) -> None:
        budget = IntakeBudget(1024, 20_000)
        assert budget.update([10**9]) == INTAKE_FLOOR
        assert IntakeBudget(1024, 2).update([10**9]) == 2  # never above max_queue_size
        assert IntakeBudget(10**9, 50).update([1]) == 50

    def test_an_empty_drain_changes_nothing(self) -> None:
        budget = IntakeBudget(1024 * 1024, 20_000)
        budget.update([2048])
        before = (budget.limit, budget.per_record)
        assert budget.update([]) == before[0]
        assert (budget.limit, budget.per_record) == before
        assert "limit=" in repr(budget)
