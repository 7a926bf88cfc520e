"""The exceptions of the spool (a leaf module)."""

from __future__ import annotations

import errno as _errno

from fapilog.errors import ConfigError

__all__ = ["SpoolLockedError", "SpoolUnavailable"]


class SpoolLockedError(ConfigError):
    """Another live process owns the spool directory (holds its ``LOCK``).

    The message names the directory, the holder's pid and the fix: give each process
    its own directory, or stop the other process first.
    """


class SpoolUnavailable(OSError):
    """The spool cannot be used: the directory cannot be created or written, the disk is
    full, a write failed, or the directory was written by a newer format.

    An :class:`OSError`: ``errno`` is the failing call's (``ENOSPC``, ``EFBIG``,
    ``EACCES``, ``EROFS``...) when there is one. Nothing was half-written: a failed
    append leaves the segment as it was before the call (or, if even that failed, a
    torn tail that readers skip and count).

    Built like an :class:`OSError`: ``SpoolUnavailable(errno, message)`` or
    ``SpoolUnavailable(message)``.
    """

    def __str__(self) -> str:
        if self.strerror is None:
            return super().__str__()
        if self.errno is None:
            return str(self.strerror)
        code = _errno.errorcode.get(self.errno, str(self.errno))
        return f"[{code}] {self.strerror}"
