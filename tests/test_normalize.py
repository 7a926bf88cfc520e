"""Attribute normalisation: any Python value becomes an OTel AnyValue, never raising."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import math
import uuid
from pathlib import Path

import pydantic

from fapilog._normalize import exception_attributes, normalize_attributes, normalize_value


class Color(enum.Enum):
    RED = "red"
    OBJ = object()


@dataclasses.dataclass
class Point:
    x: int
    y: list[int]


class Model(pydantic.BaseModel):
    name: str
    when: dt.datetime


class Hostile:
    def __repr__(self) -> str:
        raise RuntimeError("repr exploded")

    def __str__(self) -> str:
        raise RuntimeError("str exploded")


def test_primitives_pass_through_unchanged() -> None:
    """str, bool, int64, float and None are kept as they are."""
    for value in ("x", True, False, 0, -(2**63), 2**63 - 1, 1.5, None):
        assert normalize_value(value) == value
        assert type(normalize_value(value)) is type(value)


def test_ints_beyond_int64_become_strings() -> None:
    """An int that does not fit OTel's int64 keeps every digit as a string."""
    assert normalize_value(2**63) == str(2**63)
    assert normalize_value(-(2**70)) == str(-(2**70))


def test_nan_and_infinity_stay_floats() -> None:
    """NaN and inf are valid OTel doubles and are not altered."""
    assert math.isnan(normalize_value(float("nan")))
    assert normalize_value(float("inf")) == math.inf


def test_well_known_types_are_converted_sensibly() -> None:
    """datetime/UUID/Decimal/Enum/Path/dataclass/pydantic become readable AnyValues."""
    when = dt.datetime(2026, 11, 23, 19, 40, tzinfo=dt.UTC)
    uid = uuid.UUID(int=5)
    assert normalize_value(when) == "2026-11-23T19:40:00+00:00"
    assert normalize_value(dt.date(2026, 1, 2)) == "2026-01-02"
    assert normalize_value(dt.timedelta(seconds=1.5)) == 1.5
    assert normalize_value(uid) == str(uid)
    assert normalize_value(decimal.Decimal("12.10")) == "12.10"
    assert normalize_value(Color.RED) == "red"
    assert normalize_value(Color.OBJ) == "OBJ"
    assert normalize_value(Path("/tmp/x")) == "/tmp/x"
    assert normalize_value(Point(1, [2, 3])) == {"x": 1, "y": [2, 3]}
    assert normalize_value(Model(name="a", when=when)) == {
        "name": "a",
        "when": "2026-11-23T19:40:00Z",
    }


def test_containers_become_arrays_and_maps() -> None:
    """Tuples and sets become arrays, dicts maps; bytes stay bytes."""
    assert normalize_value((1, "a")) == [1, "a"]
    assert normalize_value({3, 1, 2}) == [1, 2, 3]
    assert normalize_value({"a": (1, {"b": b"\x00"})}) == {"a": [1, {"b": b"\x00"}]}
    assert normalize_value(bytearray(b"ab")) == b"ab"


def test_hostile_repr_and_str_never_raise() -> None:
    """Objects whose __repr__ and __str__ raise become a placeholder naming the type."""
    assert normalize_value(Hostile()) == "<unrepresentable Hostile>"
    assert normalize_attributes({Hostile(): 1}) == {"<unrepresentable Hostile>": 1}


def test_self_referencing_containers_are_cut() -> None:
    """A dict or list that contains itself is rendered with a <cycle> marker."""
    d: dict[str, object] = {"a": 1}
    d["self"] = d
    lst: list[object] = [1]
    lst.append(lst)
    assert normalize_value(d) == {"a": 1, "self": "<cycle>"}
    assert normalize_value(lst) == [1, "<cycle>"]


def test_shared_but_acyclic_references_are_kept() -> None:
    """The same list referenced twice (no cycle) is rendered twice."""
    shared = [1, 2]
    assert normalize_value({"a": shared, "b": shared}) == {"a": [1, 2], "b": [1, 2]}


def test_deep_nesting_is_bounded() -> None:
    """Very deep structures are truncated to a repr rather than recursing without bound."""
    deep: list[object] = []
    node = deep
    for _ in range(5000):
        child: list[object] = []
        node.append(child)
        node = child
    result = normalize_value(deep)
    depth = 0
    while isinstance(result, list) and result:
        result = result[0]
        depth += 1
    assert depth <= 20
    assert isinstance(result, str)


def test_non_string_and_empty_keys_become_strings() -> None:
    """Keys are strings: ints/enums/tuples are converted, an empty key is renamed."""
    assert normalize_attributes({1: "a", Color.RED: "b", (1, 2): "c", "": "d"}) == {
        "1": "a",
        "RED": "b",
        "(1, 2)": "c",
        "_": "d",
    }


def test_large_strings_are_kept_whole() -> None:
    """A 1 MB string is not truncated or copied into something else."""
    big = "x" * 1_000_000
    assert normalize_value(big) is big


def test_exception_attributes_follow_semantic_conventions() -> None:
    """exception.type/.message/.stacktrace are filled from the exception and its traceback."""
    try:
        raise KeyError("missing")
    except KeyError as exc:
        attrs = exception_attributes(exc)
    assert attrs["exception.type"] == "KeyError"
    assert attrs["exception.message"] == "'missing'"
    assert "Traceback (most recent call last)" in attrs["exception.stacktrace"]
    assert "test_exception_attributes_follow" in attrs["exception.stacktrace"]


def test_exception_with_hostile_str_still_renders() -> None:
    """An exception whose __str__ raises still yields attributes."""

    class Bad(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    attrs = exception_attributes(Bad())
    assert attrs["exception.type"].endswith("Bad")
    assert isinstance(attrs["exception.message"], str)


def test_keys_that_collide_after_conversion_are_both_kept() -> None:
    """{1: "a", "1": "b"}: the string key keeps its name, the int one gets its type."""
    assert normalize_attributes({1: "a", "1": "b"}) == {"1 (int)": "a", "1": "b"}
    assert normalize_attributes({"1": "b", 1: "a"}) == {"1": "b", "1 (int)": "a"}
    assert normalize_attributes({Color.RED: "x", "RED": "y", "": "z", "_": "w"}) == {
        "RED (Color)": "x",
        "RED": "y",
        "_ (str)": "z",
        "_": "w",
    }
    # The suffixed name taken too: a counter follows.
    assert normalize_attributes({1: "a", "1": "b", "1 (int)": "c"}) == {
        "1 (int) 2": "a",
        "1": "b",
        "1 (int)": "c",
    }


def test_nested_maps_keep_colliding_keys_too() -> None:
    """The same rule inside values: no entry of a nested map is lost."""
    assert normalize_value({"data": {2: "a", "2": "b"}}) == {"data": {"2 (int)": "a", "2": "b"}}


def test_colliding_keys_reach_the_exporter(recording) -> None:
    """End to end: both values of a colliding pair arrive."""
    pipeline, exporter = recording
    pipeline.get_logger("t").info("x", data={1: "a", "1": "b"})
    assert pipeline.flush(5)
    (event,) = exporter.events
    assert event.attributes["data"] == {"1 (int)": "a", "1": "b"}
