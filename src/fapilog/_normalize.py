"""Turn arbitrary Python values into OpenTelemetry ``AnyValue`` data.

Runs on the pipeline worker, never on the caller. It must never raise: every
branch is guarded and the last resort is a placeholder naming the type.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import decimal
import enum
import traceback
import uuid
from pathlib import PurePath
from typing import Any

__all__ = ["MAX_DEPTH", "exception_attributes", "normalize_attributes", "normalize_value"]

MAX_DEPTH = 16
"""Containers nested deeper than this are replaced by their guarded repr."""

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_PRIMITIVE = (str, bool, float)


def normalize_attributes(fields: dict[Any, Any]) -> dict[str, Any]:
    """Normalise a mapping of fields into OTel attributes (string keys, AnyValue values).

    Keys that are not strings are converted (see :func:`_unique_key`); when two keys
    become the same string, both values are kept.
    """
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if type(key) is not str or not key:
            key = _unique_key(key, fields, out)
        cls = type(value)
        # Inline fast path: most fields are already AnyValue primitives.
        if (
            cls is str
            or cls is float
            or cls is bool
            or value is None
            or (cls is int and _INT64_MIN <= value <= _INT64_MAX)
        ):
            out[key] = value
        else:
            out[key] = _norm(value, 0, None)
    return out


def normalize_value(value: Any) -> Any:
    """Normalise one value into an OTel ``AnyValue``; never raises."""
    return _norm(value, 0, None)


def _norm(value: Any, depth: int, seen: set[int] | None) -> Any:
    cls = type(value)
    if cls is str or cls is bool or value is None:
        return value
    if cls is int:
        return value if _INT64_MIN <= value <= _INT64_MAX else str(value)
    if cls is float:
        return value
    try:
        return _norm_slow(value, cls, depth, seen)
    except RecursionError:
        return "<too deeply nested>"
    except Exception:
        return _guarded_repr(value)


def _norm_slow(value: Any, cls: type, depth: int, seen: set[int] | None) -> Any:
    if isinstance(value, (dict, list, tuple, set, frozenset)) or (
        dataclasses.is_dataclass(value) and not isinstance(value, type)
    ):
        if depth >= MAX_DEPTH:
            return _guarded_repr(value)
        if seen is None:
            seen = set()
        marker = id(value)
        if marker in seen:
            return "<cycle>"
        seen.add(marker)
        try:
            if isinstance(value, dict):
                out: dict[str, Any] = {}
                for k, v in list(value.items()):
                    if type(k) is not str or not k:
                        k = _unique_key(k, value, out)
                    out[k] = _norm(v, depth + 1, seen)
                return out
            if isinstance(value, (list, tuple)):
                return [_norm(v, depth + 1, seen) for v in list(value)]
            if isinstance(value, (set, frozenset)):
                items = [_norm(v, depth + 1, seen) for v in list(value)]
                try:
                    items.sort()
                except TypeError:  # mixed types: keep iteration order
                    pass
                return items
            return {
                f.name: _norm(getattr(value, f.name, None), depth + 1, seen)
                for f in dataclasses.fields(value)
            }
        finally:
            seen.discard(marker)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, enum.Enum):
        inner = value.value
        if type(inner) in (str, int, float, bool):
            return _norm(inner, depth + 1, seen)
        return value.name
    if isinstance(value, int):
        return _norm(int(value), depth, seen)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    if isinstance(value, (_dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, _dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        # A string keeps every digit; a float would silently round money amounts.
        return str(value)
    if isinstance(value, (uuid.UUID, PurePath)):
        return str(value)
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {_guarded_str(value)}"
    model_dump = getattr(cls, "model_dump", None)
    if model_dump is not None and callable(model_dump):  # pydantic v2 models
        return _norm(value.model_dump(mode="json"), depth + 1, seen)
    return _guarded_repr(value)


def _unique_key(key: Any, source: dict[Any, Any], out: dict[str, Any]) -> str:
    """The attribute key for a non-string (or empty) ``key`` of ``source``.

    It is ``str(key)`` (an enum's name; ``"_"`` for an empty key) unless that string
    is already a key of ``source`` or of ``out``: string keys always keep their name,
    and the converted key gets its type appended, ``"1 (int)"``, then a counter,
    ``"1 (int) 2"``, until it is unique. No value is lost to a collision.
    """
    text = _key(key)
    if not _taken(text, source, out):
        return text
    try:
        kind = type(key).__qualname__
    except Exception:
        kind = "object"
    candidate = f"{text} ({kind})"
    counter = 2
    while _taken(candidate, source, out):
        candidate = f"{text} ({kind}) {counter}"
        counter += 1
    return candidate


def _taken(text: str, source: dict[Any, Any], out: dict[str, Any]) -> bool:
    if text in out:
        return True
    try:
        return text in source
    except Exception:  # a key type whose __eq__ raises
        return any(type(k) is str and k == text for k in list(source))


def _key(key: Any) -> str:
    # OTel forbids empty attribute keys (the SDK silently drops them): rename instead.
    if isinstance(key, str):
        return str(key) or "_"
    if isinstance(key, enum.Enum):
        return str(key.name)
    return _guarded_str(key) or "_"


def _guarded_str(value: Any) -> str:
    try:
        text = str(value)
        if isinstance(text, str):
            return text
    except Exception:
        pass
    return _guarded_repr(value)


def _guarded_repr(value: Any) -> str:
    try:
        text = repr(value)
        if isinstance(text, str):
            return text
    except Exception:
        pass
    try:
        name = type(value).__qualname__
    except Exception:
        name = "object"
    return f"<unrepresentable {name}>"


def exception_attributes(exc: BaseException) -> dict[str, str]:
    """Semantic-convention attributes for an exception: type, message, stacktrace.

    Args:
        exc: the exception; its ``__traceback__``, cause and context are rendered.

    Returns:
        ``exception.type`` (qualified name), ``exception.message`` and
        ``exception.stacktrace`` (the full ``traceback`` text).
    """
    cls = type(exc)
    module = getattr(cls, "__module__", "")
    qualname = getattr(cls, "__qualname__", cls.__name__)
    type_name = qualname if module in ("builtins", "__main__", "") else f"{module}.{qualname}"
    try:
        stack = "".join(traceback.format_exception(exc))
    except Exception:
        stack = f"{type_name}: {_guarded_str(exc)} (traceback unavailable)"
    return {
        "exception.type": type_name,
        "exception.message": _guarded_str(exc),
        "exception.stacktrace": stack,
    }
