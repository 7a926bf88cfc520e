"""A holder for the HMAC key of the ``hash`` action that never gives the key away."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from pydantic import SecretBytes, SecretStr

__all__ = ["HmacKey"]


class HmacKey:
    """An HMAC-SHA256 key, kept as a keyed MAC state: the key bytes are not stored.

    The constructor keys an ``hmac`` object once and lets the bytes go; each
    :meth:`hexdigest` works on a copy of that state. ``repr``/``str`` show nothing
    of the key, pickling is refused (a pickled processor drops its key, see
    :class:`~fapilog.redaction.RedactionProcessor`), and copies share the state.
    """

    __slots__ = ("_mac",)

    def __init__(self, key: bytes) -> None:
        self._mac = hmac.new(key, digestmod="sha256")

    @classmethod
    def from_secret(cls, key: SecretStr | SecretBytes | str | bytes | None) -> HmacKey | None:
        """Build from any accepted form; ``None`` or an empty key gives ``None``.

        Raises:
            TypeError: ``key`` is of another type (the message names the type only).
        """
        if key is None:
            return None
        raw: Any
        if isinstance(key, (bytes, bytearray)):
            raw = bytes(key)
        elif isinstance(key, str):
            raw = key.encode()
        elif hasattr(key, "get_secret_value"):
            raw = key.get_secret_value()
            raw = raw.encode() if isinstance(raw, str) else raw
        else:
            raise TypeError(
                f"hmac_key must be str, bytes, SecretStr or SecretBytes, not {type(key).__name__}"
            )
        if not isinstance(raw, bytes):
            raise TypeError("hmac_key's secret value must be str or bytes")
        return cls(raw) if raw else None

    def hexdigest(self, data: bytes) -> str:
        """HMAC-SHA256 of ``data`` under the key, as hex."""
        mac = self._mac.copy()
        mac.update(data)
        return mac.hexdigest()

    def __repr__(self) -> str:
        return "HmacKey(<hidden>)"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("an HMAC key is never pickled; pass it again where it is needed")

    def __copy__(self) -> HmacKey:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> HmacKey:
        return self
