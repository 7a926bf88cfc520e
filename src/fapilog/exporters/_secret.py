"""How exporters hold credentials: masked everywhere, revealed only to the transport.

A token, password or key is kept as a :class:`Secret` (a :class:`pydantic.SecretStr`
that refuses to be pickled) from validation until the call that writes it to the wire.
Request headers that carry one are kept as :class:`SecretHeaders`, which builds the
plain header mapping (or gRPC metadata) only when asked for a request. So ``repr``,
``str``, ``vars()``, ``model_dump()`` and crash reporters that capture object state
see ``**********`` instead of the value, and pickling raises instead of writing the
value out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

from pydantic import SecretStr

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["MASK", "Secret", "SecretHeaders", "refuse_pickle", "wrap_secret"]

MASK = "**********"
"""How a secret value is shown (as :class:`pydantic.SecretStr` shows it)."""


def refuse_pickle(obj: object) -> NoReturn:
    """Raise the error every secret-holding object gives when asked to pickle itself.

    Args:
        obj: the object being pickled (only its type is named).

    Raises:
        TypeError: always; the message names the type, never a value.
    """
    raise TypeError(
        f"cannot pickle {type(obj).__name__}: it holds a secret (token, password or key) "
        "and fapilog never writes secrets out; create the exporter again from its "
        "configuration (e.g. the environment) in the other process"
    )


class Secret(SecretStr):
    """A :class:`pydantic.SecretStr` that is never pickled.

    ``repr`` and ``str`` show ``**********`` (as ``SecretStr`` does); pickling raises
    :class:`TypeError` without the value; ``copy``/``deepcopy`` return the object
    itself (it is immutable), so ``model_copy(deep=True)`` of an options model works.
    It compares equal to a ``SecretStr`` with the same value.
    """

    def __repr__(self) -> str:
        return f"SecretStr({MASK!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretStr) and self.get_secret_value() == other.get_secret_value()

    def __hash__(self) -> int:
        return hash(self.get_secret_value())

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        refuse_pickle(self)

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: object) -> Secret:
        return self


def wrap_secret(value: SecretStr | str) -> Secret:
    """``value`` as a :class:`Secret` (the same object when it already is one).

    Args:
        value: a plain string or any ``SecretStr``.

    Returns:
        The wrapped value.
    """
    if isinstance(value, Secret):
        return value
    if isinstance(value, SecretStr):
        return Secret(value.get_secret_value())
    return Secret(value)


class SecretHeaders:
    """Request headers (or gRPC metadata) whose secret values only the transport sees.

    Values given as ``SecretStr`` stay wrapped; the plain mapping exists only as the
    return value of :meth:`reveal` / :meth:`metadata`, passed straight to the request.
    ``repr`` lists the names and public values with secret ones masked; pickling
    raises :class:`TypeError` when any value is secret.

    Args:
        items: header names (lower case) to values, in sending order; ``SecretStr``
            values are secret, plain strings public (e.g. ``user-agent``).
    """

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, str | SecretStr]) -> None:
        self._items: dict[str, str | Secret] = {
            name: wrap_secret(value) if isinstance(value, SecretStr) else value
            for name, value in items.items()
        }

    def names(self) -> list[str]:
        """The header names, in sending order."""
        return list(self._items)

    def reveal(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The plain headers for one HTTP request; pass the result straight to it.

        Args:
            extra: public headers to add (they win over the stored ones).

        Returns:
            A new mapping of names to plain values.
        """
        headers = {
            name: value.get_secret_value() if isinstance(value, Secret) else value
            for name, value in self._items.items()
        }
        if extra:
            headers.update(extra)
        return headers

    def metadata(self) -> tuple[tuple[str, str | bytes], ...]:
        """The plain gRPC metadata for one call (values of ``-bin`` keys as bytes)."""
        out: list[tuple[str, str | bytes]] = []
        for name, value in self._items.items():
            plain = value.get_secret_value() if isinstance(value, Secret) else value
            out.append((name, plain.encode() if name.endswith("-bin") else plain))
        return tuple(out)

    def __repr__(self) -> str:
        shown = {
            name: MASK if isinstance(value, Secret) else value
            for name, value in self._items.items()
        }
        return f"SecretHeaders({shown!r})"

    def __reduce_ex__(self, protocol: Any) -> Any:
        if any(isinstance(value, Secret) for value in self._items.values()):
            refuse_pickle(self)
        return (SecretHeaders, (dict(self._items),))

    def __copy__(self) -> SecretHeaders:
        return self

    def __deepcopy__(self, memo: object) -> SecretHeaders:
        return self
