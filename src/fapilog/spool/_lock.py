"""One owner per spool directory: an exclusive ``flock`` on ``DIR/LOCK``.

The owner takes the lock when it opens the spool and keeps it until
:meth:`~fapilog.spool.Spool.close`, or until the process ends however it ends (the
kernel releases it, so a SIGKILLed owner leaves no stale lock). A second process (or
a second :class:`~fapilog.spool.Spool` in the same process) gets
:class:`~fapilog.spool.SpoolLockedError` at once, naming the holder's pid. A forked
child closes its inherited copy of the descriptor without unlocking (which would
release the parent's lock).
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from typing import TYPE_CHECKING

from fapilog._fsutil import CLOEXEC
from fapilog.spool._errors import SpoolLockedError, SpoolUnavailable

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["LOCK_NAME", "DirLock", "lock_holder"]

LOCK_NAME = "LOCK"
_PID_WAIT = 0.5


def lock_holder(path: Path, *, wait: float = 0.0) -> int | None:
    """The pid written in the lock file ``path`` (waiting up to ``wait`` s for it)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return int(path.read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.01)


class DirLock:
    """The held lock of one spool directory."""

    __slots__ = ("_fd", "_pid", "path")

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd
        self._pid = os.getpid()

    @classmethod
    def acquire(cls, directory: Path) -> DirLock:
        """Lock ``directory`` (which exists) for this process.

        Raises:
            SpoolLockedError: another live owner holds it.
            SpoolUnavailable: the lock file cannot be created, or the file system
                does not support ``flock``.
        """
        path = directory / LOCK_NAME
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | CLOEXEC, 0o600)
        except OSError as exc:
            raise SpoolUnavailable(
                exc.errno,
                f"cannot create the spool lock {path}: {exc.strerror}; the spool directory "
                "must be writable by this process",
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                pid = lock_holder(path, wait=_PID_WAIT)
                who = f"pid {pid}" if pid is not None else "another process"
                same = " (this process)" if pid == os.getpid() else ""
                raise SpoolLockedError(
                    f"the spool directory {directory} is in use by {who}{same}: its LOCK is "
                    "held. Two live processes never share one spool directory: give each "
                    "process its own (e.g. FAPILOG_SPOOL_DIR=/var/lib/app/spool/worker-1), "
                    f"or stop {who} first (close its pipeline); to deliver what a stopped "
                    f"process left behind, run: fapilog spool drain {directory}",
                    fields=("spool_dir",),
                ) from None
            raise SpoolUnavailable(
                exc.errno,
                f"cannot lock the spool directory {directory}: {exc.strerror}; keep the "
                "spool on a local file system that supports flock",
            ) from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        except OSError:
            pass  # the pid is a courtesy for a second process's error message
        return cls(path, fd)

    @property
    def held(self) -> bool:
        """True while this process holds the lock."""
        return self._fd is not None and self._pid == os.getpid()

    def release(self) -> None:
        """Unlock and close (in the owning process; in a fork only close). Idempotent."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        if self._pid == os.getpid():
            try:
                os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
            except OSError:
                pass  # closing releases it anyway
        try:
            os.close(fd)
        except OSError:
            pass
