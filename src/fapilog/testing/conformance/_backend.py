"""What the kit needs from an exporter's test backend."""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from collections.abc import Collection, Sequence

__all__ = ["Backend", "Unsupported"]


class Unsupported(Exception):  # names a capability the backend lacks
    """Raised by a :class:`Backend` method the backend cannot do; the kit skips that test."""


class Backend(abc.ABC):
    """The exporter's test backend, as the conformance kit drives and reads it.

    Wrap whatever your own tests already use (a fake HTTP server on loopback, a real
    daemon, a temporary file). Only :meth:`received` is required; each fault method
    that is not implemented skips the tests that need it (the skip reason names it).

    The kit identifies events by their body (:func:`conformance_body`), a short ASCII
    word, so :meth:`received` returns the body of every record the backend stored.
    """

    #: Whether :meth:`received` sees what a forked child process sent (true for a
    #: server in this process that the child connects to; false for an in-process store).
    observes_children: ClassVar[bool] = True

    @abc.abstractmethod
    def received(self) -> Sequence[str]:
        """The body of every record the backend stored, in arrival order, repeats included."""

    def fail_next(self, requests: int, *, retryable: bool = True, after: int = 0) -> None:
        """Refuse the next ``requests`` requests, after letting ``after`` requests through.

        A refused request stores nothing. ``retryable=True`` answers as a backend that
        is busy or unavailable (HTTP 429/503), ``False`` as one that refuses for good
        (HTTP 400/403). ``after=1`` lets the first request of a batch through and fails
        the next: a retry must then resume instead of sending the first one again.

        Raises:
            Unsupported: the backend cannot script failures.
        """
        raise Unsupported("fail_next")

    def reject(self, bodies: Collection[str]) -> None:
        """Refuse, for good, the records with these bodies; accept the rest of their request.

        Raises:
            Unsupported: the backend cannot refuse single records.
        """
        raise Unsupported("reject")

    def hang(self) -> None:
        """Accept requests but answer none until :meth:`release` (a hung backend).

        Raises:
            Unsupported: the backend cannot hang.
        """
        raise Unsupported("hang")

    def release(self) -> None:  # noqa: B027  # optional hook, empty on purpose
        """Let hung requests carry on and stop hanging."""
