"""What an event costs in memory, and how much of the byte bound each stage may hold.

Everything here runs on the worker. The caller never sizes anything: the ring is
bounded by a record count (one compare on the hot path), and :class:`IntakeBudget`
turns the byte bound into that count from the sizes the worker has just seen.

Sizes estimate the memory an event keeps alive in this process (CPython objects,
calibrated against ``tracemalloc``; see ``docs/memory.md``), not its encoded size:
the bound they serve is the process's memory. Nested lists, tuples and dicts are
walked, each container's first :data:`SAMPLE` items only and at most
:data:`NODE_CAP` items per event; what is left unvisited is extrapolated from the
mean of what was visited.
"""

from __future__ import annotations

import sys
from itertools import islice
from typing import TYPE_CHECKING, Any

from fapilog._event import LogEvent

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "BATCH_SHARE",
    "INTAKE_FLOOR",
    "INTAKE_SHARE",
    "LANE_SHARE",
    "NODE_CAP",
    "SAMPLE",
    "IntakeBudget",
    "MemoryPlan",
    "estimate_size",
    "size_from_parts",
    "string_size",
    "value_size",
]

_sizeof = sys.getsizeof
_ascii = str.isascii

#: What the allocator adds to a small object on average (pymalloc rounds to 16 bytes).
ROUNDING = 8
#: Header of an ASCII ``str`` (its size is this plus one byte per character).
STR_HEAD = _sizeof("") + ROUNDING
#: Header of a ``bytes`` object.
BYTES_HEAD = _sizeof(b"") + ROUNDING

#: What one event costs besides its attributes and body: the ``LogEvent``, its
#: timestamp int, the size kept next to it while it is staged, its slots in the
#: staging, batch and exporter lists, and allocator rounding.
EVENT_BASE = _sizeof(LogEvent.__new__(LogEvent)) + 2 * 32 + 3 * 8 + 4 * ROUNDING
#: An empty attributes dict.
DICT_BASE = _sizeof({})
_FIXED = EVENT_BASE + DICT_BASE
#: One attribute: its dict entry (with the table's spare room) and a scalar value
#: object (an int or float; ``str`` values are counted by :func:`string_size`).
PER_ATTR = 32 + 32
#: A value that is neither a ``str``, ``bytes`` nor a container: an int or a float
#: (``bool`` and ``None`` are shared and cost nothing).
SCALAR = 32

#: Items of one container looked at; a longer container is extrapolated from them.
SAMPLE = 1024
#: Items looked at per event in all; then the rest is extrapolated.
NODE_CAP = 4096
#: Deeper containers than this (only possible after a user processor) count their
#: own size only.
_MAX_DEPTH = 20

_STRINGS = frozenset({str})
#: Containers up to this long are looked at item by item (cheaper than C passes),
#: their own size from a formula (at or above ``sys.getsizeof`` up to this length).
_SMALL = 16
#: The size of a list of n items as appending leaves it (room for 4, 8 or 16).
_LIST_SIZES = tuple(
    _sizeof([]) + 8 * (0 if n == 0 else 4 if n <= 4 else 8 if n <= 8 else 16)
    for n in range(_SMALL + 1)
)
_TUPLE_HEAD = _sizeof(())
_DICT_SMALL = _sizeof({"a": 1}) - 24
_FLAT = frozenset({str, bytes, int, float, bool, type(None)})


def string_size(value: str) -> int:
    """Memory of one ``str``: exact (``sys.getsizeof``) for non-ASCII text, which
    takes 1, 2 or 4 bytes per character; the cheaper header plus length otherwise."""
    return STR_HEAD + len(value) if _ascii(value) else _sizeof(value)


def estimate_size(event: LogEvent) -> int:
    """An estimate, in bytes, of the memory ``event`` keeps alive while buffered.

    The event's own objects (:data:`EVENT_BASE`), its body and every attribute,
    nested lists, tuples, dicts, strings and bytes included. Cheap and capped: at
    most :data:`SAMPLE` items of a container and :data:`NODE_CAP` items per event
    are looked at, the rest extrapolated from their mean. Shared objects (the same
    string in many places) count each time: the estimate errs high.
    """
    attributes = event.attributes
    size = EVENT_BASE + value_size(event.body) + DICT_BASE + PER_ATTR * len(attributes)
    if not attributes:
        return size
    budget = [NODE_CAP]
    total = 0
    seen = 0
    for value in attributes.values():
        cls = type(value)
        if cls is str:
            total += string_size(value)
        elif cls is bytes:
            total += BYTES_HEAD + len(value)
        elif not (cls is int or cls is float or cls is bool or value is None):
            if budget[0] <= 0:
                break
            total += _node(value, budget, 1)
        seen += 1
    n = len(attributes)
    if seen < n:  # out of budget: the rest as the mean of those seen
        total = -(-total * n // seen) if seen else total
    return size + total


def size_from_parts(body: object, attributes: int, text: int) -> int:
    """:func:`estimate_size` of an event with ``body``, ``attributes`` attributes whose
    values are all scalars, strings or bytes, and ``text`` bytes of ``str`` and ``bytes``
    values (the sum of :func:`string_size`, or header plus length for bytes), for
    callers that summed them already."""
    if type(body) is str:  # value_size(body), inlined: this runs for most events
        size = STR_HEAD + len(body) if _ascii(body) else _sizeof(body)
    else:
        size = value_size(body)
    return size + _FIXED + PER_ATTR * attributes + text


def value_size(value: Any) -> int:
    """The memory of one AnyValue beyond the slot that refers to it (capped, see
    :func:`estimate_size`): 0 for ints, floats, ``bool`` and ``None``, whose cost an
    attribute's fixed share covers."""
    cls = type(value)
    if cls is str:
        return string_size(value)
    if cls is bytes:
        return BYTES_HEAD + len(value)
    if cls is int or cls is float or cls is bool or value is None:
        return 0
    return _node(value, [NODE_CAP], 0)


def _node(value: Any, budget: list[int], depth: int) -> int:
    """Memory of ``value`` itself and, for a container, of its contents."""
    cls = type(value)
    if cls is str:
        return STR_HEAD + len(value) if _ascii(value) else _sizeof(value)
    if cls is bytes:
        return BYTES_HEAD + len(value)
    if cls is int or cls is float:
        return SCALAR
    if cls is bool or value is None:
        return 0
    if depth >= _MAX_DEPTH:
        return _own_size(value)
    depth += 1
    try:
        if cls is list or cls is tuple:
            n = len(value)
            if n <= _SMALL and budget[0] >= n:  # the usual small one, in one loop
                budget[0] -= n
                own = _LIST_SIZES[n] if cls is list else _TUPLE_HEAD + 8 * n
                for item in value:
                    kind = type(item)
                    if kind is str:
                        own += STR_HEAD + len(item) if _ascii(item) else _sizeof(item)
                    elif kind is int or kind is float:
                        own += SCALAR
                    elif not (kind is bool or item is None):
                        own += _node(item, budget, depth)
                return own
            return _sizeof(value) + _items(value, n, budget, depth)
        if cls is dict:
            n = len(value)
            if n <= _SMALL and budget[0] >= 2 * n:
                budget[0] -= 2 * n
                own = _DICT_SMALL + 24 * n
                for key, item in value.items():
                    own += _node(key, budget, depth)
                    kind = type(item)
                    if kind is str:
                        own += STR_HEAD + len(item) if _ascii(item) else _sizeof(item)
                    elif kind is int or kind is float:
                        own += SCALAR
                    elif not (kind is bool or item is None):
                        own += _node(item, budget, depth)
                return own
            keys = list(islice(value, SAMPLE))
            values = list(islice(value.values(), SAMPLE))
            own = _sizeof(value)
            return own + _items(keys, n, budget, depth) + _items(values, n, budget, depth)
    except Exception:  # changed while looked at (only after a user processor)
        return _own_size(value)
    return _own_size(value)  # another object, left by a user processor: its own size


def _own_size(value: Any) -> int:
    try:
        return _sizeof(value)
    except Exception:  # a broken __sizeof__ (only after a user processor)
        return SCALAR


def _items(items: Sequence[Any], n: int, budget: list[int], depth: int) -> int:
    """Memory of the ``n`` items a container holds, from its first ones (``items``).

    Flat runs of strings and scalars are summed in C (``map``); others one at a time,
    recursing. Stops at :data:`SAMPLE` items or when ``budget`` (items left for this
    event) runs out, and extrapolates from the mean of the items seen.
    """
    if not n:
        return 0
    take = min(len(items), SAMPLE, max(budget[0], 1))
    total = 0
    seen = 0
    if take > _SMALL:  # long: summed in C when flat
        sample = items if take == len(items) else items[:take]
        kinds = set(map(type, sample))
        if kinds <= _STRINGS:
            if all(map(_ascii, sample)):
                total = STR_HEAD * take + sum(map(len, sample))
            else:
                total = sum(map(_sizeof, sample)) + ROUNDING * take
            budget[0] -= take
            seen = take
        elif kinds <= _FLAT:
            total = sum(map(_sizeof, sample)) + ROUNDING * take
            budget[0] -= take
            seen = take
    if not seen:
        for item in islice(items, take):
            if budget[0] <= 0 and seen:
                break
            budget[0] -= 1
            seen += 1
            if type(item) is str:
                total += STR_HEAD + len(item) if _ascii(item) else _sizeof(item)
            else:
                total += _node(item, budget, depth)
    if seen < n:  # extrapolate, rounding up
        total = -(-total * n // seen)
    return total


class MemoryPlan:
    """How ``max_queue_bytes`` is shared between the stages that hold events.

    * ``intake_bytes`` (:data:`INTAKE_SHARE`): captured calls waiting in the ring;
      enforced by :class:`IntakeBudget` as a record count. The calls a drain is
      building are bounded by the worker's drain limit (a share of ``lane_bytes``).
    * ``lane_bytes`` (:data:`LANE_SHARE`): each exporter's backlog plus the batches
      it is exporting (batches are shared between lanes, so this bounds them all).
    * ``batch_bytes`` (:data:`BATCH_SHARE`): the most one batch may hold (a batch is
      sent early when it reaches it); bounds the staged partial batch and, per
      concurrent export, what an exporter encodes from a batch.

    The rest of the bound is headroom for one drain overshooting a full backlog
    and for exporters' encoded copies of the batches in flight (see
    ``docs/memory.md``).

    Args:
        max_queue_bytes: the pipeline's ``max_queue_bytes`` setting.
    """

    __slots__ = ("batch_bytes", "intake_bytes", "lane_bytes", "max_queue_bytes")

    def __init__(self, max_queue_bytes: int) -> None:
        self.max_queue_bytes = max_queue_bytes
        self.intake_bytes = max(1, int(max_queue_bytes * INTAKE_SHARE))
        self.lane_bytes = max(1, int(max_queue_bytes * LANE_SHARE))
        self.batch_bytes = max(1, int(max_queue_bytes * BATCH_SHARE))

    def __repr__(self) -> str:
        return (
            f"MemoryPlan(max_queue_bytes={self.max_queue_bytes}, intake={self.intake_bytes}, "
            f"lanes={self.lane_bytes}, batch={self.batch_bytes})"
        )


#: Share of ``max_queue_bytes`` for the ring of captured calls.
INTAKE_SHARE = 1 / 4
#: Share of ``max_queue_bytes`` for each exporter's backlog and exports in flight.
LANE_SHARE = 1 / 2
#: Share of ``max_queue_bytes`` one batch may hold.
BATCH_SHARE = 1 / 32
#: The ring's record limit never goes below this (nor above ``max_queue_size``):
#: events larger than ``intake_bytes / INTAKE_FLOOR`` can overshoot the intake share.
INTAKE_FLOOR = 4
#: Per-record size assumed before the worker has seen any event.
INITIAL_RECORD_BYTES = 1024
#: Records after which a big size seen falls to half its weight.
HALF_LIFE = 1024


class IntakeBudget:
    """The ring's record limit that keeps captured calls within a byte budget.

    The caller only compares the ring's length with a number; the worker calls
    :meth:`update` after each drain with the sizes of the events it just built, and
    publishes :attr:`limit`. The size assumed per waiting record is a decaying
    maximum of the sizes seen: a big event lowers the limit at once, and its weight
    halves every :data:`HALF_LIFE` records after it. The limit is
    ``max_bytes // per_record``, never below ``floor`` nor above ``max_records``.

    Args:
        max_bytes: bytes the ring may hold (``MemoryPlan.intake_bytes``).
        max_records: the ring's own bound (``max_queue_size``).
        floor: the smallest limit (see :data:`INTAKE_FLOOR`).
        initial_record_bytes: per-record size assumed before any :meth:`update`.
        half_life: records after which a big size's weight halves.
    """

    __slots__ = ("_decay", "_floor", "_max_bytes", "_max_records", "limit", "per_record")

    def __init__(
        self,
        max_bytes: int,
        max_records: int,
        *,
        floor: int = INTAKE_FLOOR,
        initial_record_bytes: int = INITIAL_RECORD_BYTES,
        half_life: int = HALF_LIFE,
    ) -> None:
        self._max_bytes = max_bytes
        self._max_records = max_records
        self._floor = min(floor, max_records)
        self._decay = 0.5 ** (1 / half_life)
        #: The size, in bytes, assumed for each record waiting in the ring.
        self.per_record = float(max(1, initial_record_bytes))
        #: How many records the ring may hold now.
        self.limit = self._limit()

    def __repr__(self) -> str:
        return f"IntakeBudget(limit={self.limit}, per_record={self.per_record:.0f})"

    def _limit(self) -> int:
        return max(self._floor, min(self._max_records, int(self._max_bytes // self.per_record)))

    def update(self, sizes: Sequence[int]) -> int:
        """Take in the sizes of the events just built from the ring; return the new limit.

        Args:
            sizes: :func:`estimate_size` of each event of one drain (empty: no change).

        Returns:
            :attr:`limit`, the number of records the ring may hold from now on.
        """
        if not sizes:
            return self.limit
        per = self.per_record * self._decay ** len(sizes)
        biggest = max(sizes)
        self.per_record = max(per, float(biggest), 1.0)
        self.limit = self._limit()
        return self.limit
