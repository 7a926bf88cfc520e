"""Reading ``google.rpc.Status`` error details: the message and ``RetryInfo``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from google.protobuf.message import DecodeError  # type: ignore[import-untyped]  # no stubs
from google.rpc.error_details_pb2 import RetryInfo  # type: ignore[import-untyped]  # no py.typed
from google.rpc.status_pb2 import Status  # type: ignore[import-untyped]  # no py.typed

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["STATUS_DETAILS_KEY", "decode_status", "retry_delay", "status_from_metadata"]

STATUS_DETAILS_KEY = "grpc-status-details-bin"
"""The gRPC trailer carrying a serialised ``google.rpc.Status``."""


def decode_status(data: bytes) -> Status | None:
    """Parse a serialised ``google.rpc.Status``; ``None`` if ``data`` is not one.

    Args:
        data: the bytes of an HTTP body or a gRPC trailer.

    Returns:
        The status, or ``None`` when ``data`` is empty or malformed.
    """
    if not data:
        return None
    try:
        return Status.FromString(data)
    except DecodeError:
        return None


def status_from_metadata(metadata: Iterable[tuple[str, str | bytes]] | None) -> Status | None:
    """Find and parse the ``grpc-status-details-bin`` entry of gRPC trailing metadata.

    Args:
        metadata: key/value pairs, as ``AioRpcError.trailing_metadata()`` returns.

    Returns:
        The status, or ``None`` when absent or malformed.
    """
    for key, value in metadata or ():
        if key == STATUS_DETAILS_KEY and isinstance(value, bytes):
            return decode_status(value)
    return None


def retry_delay(status: Status | None) -> float | None:
    """The ``RetryInfo.retry_delay`` among ``status.details``, in seconds.

    Args:
        status: a decoded status, or ``None``.

    Returns:
        The delay (never negative), or ``None`` when the status carries no RetryInfo.
    """
    if status is None:
        return None
    for detail in status.details:
        if detail.Is(RetryInfo.DESCRIPTOR):
            info = RetryInfo()
            if detail.Unpack(info):
                seconds: int = info.retry_delay.seconds
                nanos: int = info.retry_delay.nanos
                return max(0.0, seconds + nanos / 1e9)
    return None
