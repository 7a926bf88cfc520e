"""The HMAC key of RedactionProcessor never shows: repr, str, vars(), pickle, errors."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import pytest
from pydantic import SecretBytes, SecretStr

from fapilog import LogEvent
from fapilog.redaction import MASK, KeyRule, RedactionProcessor
from fapilog.redaction._secret import HmacKey

SECRET = "k3y-Material-7f1e"  # long and odd enough that no accident contains it
RULES = (KeyRule("user_email", ("email",), action="hash"),)


def _forms() -> list[Any]:
    return [SECRET, SECRET.encode(), SecretStr(SECRET), SecretBytes(SECRET.encode())]


def _hashed(p: RedactionProcessor) -> str:
    e = LogEvent(timestamp=1, body="x", attributes={"email": "a@b.co"})
    p.on_emit(e)
    return str(e.attributes["email"])


def _reachable(obj: Any, depth: int = 0, seen: set[int] | None = None) -> list[Any]:
    """Every object reachable through attributes, slots and containers (bounded)."""
    seen = set() if seen is None else seen
    if id(obj) in seen or depth > 6:
        return []
    seen.add(id(obj))
    out = [obj]
    children: list[Any] = []
    if isinstance(obj, dict):
        children = [*obj.keys(), *obj.values()]
    elif isinstance(obj, (list, tuple, set, frozenset)):
        children = list(obj)
    elif not isinstance(obj, (str, bytes, int, float, bool, type(None))):
        children = list(getattr(obj, "__dict__", {}).values())
        for cls in type(obj).__mro__:
            for slot in getattr(cls, "__slots__", ()):
                if hasattr(obj, slot):
                    children.append(getattr(obj, slot))
    for child in children:
        out.extend(_reachable(child, depth + 1, seen))
    return out


@pytest.mark.parametrize("key", _forms(), ids=["str", "bytes", "SecretStr", "SecretBytes"])
def test_the_key_is_held_by_no_attribute(key: Any) -> None:
    """No string or bytes reachable from the processor contains the key."""
    p = RedactionProcessor(RULES, hmac_key=key)
    assert _hashed(p).startswith("hmac:")
    for obj in _reachable(p):
        if isinstance(obj, str):
            assert SECRET not in obj
        elif isinstance(obj, (bytes, bytearray)):
            assert SECRET.encode() not in obj


@pytest.mark.parametrize("key", _forms(), ids=["str", "bytes", "SecretStr", "SecretBytes"])
def test_repr_str_vars_and_pickle_never_show_the_key(key: Any) -> None:
    """What a debugger, a log line or a serialiser could show of the processor."""
    p = RedactionProcessor(RULES, hmac_key=key)
    shown = [repr(p), str(p), repr(vars(p)), *(repr(v) for v in vars(p).values())]
    assert all(SECRET not in s for s in shown)
    blob = pickle.dumps(p)
    assert SECRET.encode() not in blob


def test_a_pickled_processor_leaves_the_key_behind() -> None:
    """After unpickling there is no key, so ``hash`` masks (it never hashes unkeyed)."""
    p = RedactionProcessor(RULES, hmac_key=SECRET)
    clone = pickle.loads(pickle.dumps(p))
    assert _hashed(clone) == MASK
    assert _hashed(p).startswith("hmac:")  # the original keeps its key


def test_copies_keep_the_key_and_hash_alike() -> None:
    """copy/deepcopy share the keyed state: same digests, no key material copied out."""
    p = RedactionProcessor(RULES, hmac_key=SECRET)
    assert _hashed(copy.deepcopy(p)) == _hashed(copy.copy(p)) == _hashed(p)


def test_the_wrapper_itself_hides_the_key() -> None:
    """HmacKey: opaque repr/str, refuses pickling with a message that names no key."""
    k = HmacKey.from_secret(SECRET)
    assert k is not None
    assert SECRET not in repr(k) and SECRET not in str(k)
    with pytest.raises(TypeError) as info:
        pickle.dumps(k)
    assert SECRET not in str(info.value)
    assert HmacKey.from_secret("") is None and HmacKey.from_secret(None) is None


def test_a_key_of_the_wrong_type_is_refused_without_echoing_it() -> None:
    """The error names the type, never the value."""

    class Opaque:
        def __repr__(self) -> str:
            return SECRET

    with pytest.raises(TypeError) as info:
        RedactionProcessor(hmac_key=Opaque())  # type: ignore[arg-type]
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)
    assert "Opaque" in str(info.value)


def test_equal_keys_in_any_form_give_the_same_digest() -> None:
    """str, bytes, SecretStr and SecretBytes of one key are the same key."""
    digests = {_hashed(RedactionProcessor(RULES, hmac_key=k)) for k in _forms()}
    assert len(digests) == 1
