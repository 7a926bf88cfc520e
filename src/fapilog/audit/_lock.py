"""One writer per audit log directory: an exclusive lock held for the writer's lifetime.

Two processes appending to one chain would fork it: each would number its records
from the same ``seq`` and link them to the same hash, and whatever the second one
wrote over or after the first would not verify. So an :class:`AuditExporter`
takes an exclusive ``flock`` on ``DIR/writer.lock`` when it is created and keeps it
until :meth:`~fapilog.audit.AuditExporter.shutdown` (or until its process ends,
however it ends: the kernel releases the lock). A second exporter on the same
directory, in this process or another, fails at once with :class:`AuditLockError`.

A forked child inherits the lock's file descriptor, and with it the lock: the
at-fork hook below closes the child's copy (without unlocking, which would release
the parent's lock too), so the child is not a second writer and does not keep the
directory locked after the parent is gone.
"""

from __future__ import annotations

import errno
import os
import sys
import time
import weakref
from typing import TYPE_CHECKING, Any, NoReturn

import orjson

from fapilog._fsutil import CLOEXEC
from fapilog.config import ConfigError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["LOCK_NAME", "AuditLockError", "DirectoryLock"]

LOCK_NAME = "writer.lock"
_live: weakref.WeakSet[DirectoryLock] = weakref.WeakSet()


class AuditLockError(ConfigError):
    """The audit log directory is already being written by another exporter.

    Raised when an :class:`~fapilog.audit.AuditExporter` is created; the message names
    the directory, the holder's pid when it is known, and the fix.
    """


def _lock_fd(fd: int) -> bool:
    """Take the exclusive lock without waiting; False when another holder has it."""
    if sys.platform == "win32":  # pragma: no cover - not exercised on POSIX CI
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EAGAIN):
            return False
        raise
    return True


def _unlock_fd(fd: int) -> None:
    if sys.platform == "win32":  # pragma: no cover - not exercised on POSIX CI
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_UN)


def _close_quietly(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


#: How long a writer that found the lock taken waits for the holder to record its pid.
_PID_WAIT = 0.5


def _holder(path: Path) -> str:
    """Who holds the lock, as far as the lock file says (``held by pid N``).

    The holder writes its pid just after taking the lock: a writer that lost the race
    by a moment waits up to :data:`_PID_WAIT` seconds for it, for a message that names
    the process.
    """
    deadline = time.monotonic() + _PID_WAIT
    while True:
        try:
            info = orjson.loads(path.read_bytes())
            pid = int(info["pid"])
            break
        except (OSError, ValueError, KeyError, TypeError):
            if time.monotonic() >= deadline:
                return "held by a process that has not recorded its pid yet"
            time.sleep(0.01)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return (
            f"held by a process that inherited it from pid {pid}, which no longer runs "
            f"(find it with: fuser {path})"
        )
    except OSError:  # e.g. EPERM: it runs, as another user
        pass
    return f"held by pid {pid}"


class DirectoryLock:
    """The exclusive writer lock of one audit log directory, held by this process.

    Use :meth:`acquire`; :meth:`release` when done (idempotent). ``held`` is False
    after a release and in a forked child.
    """

    __slots__ = ("__weakref__", "_fd", "_finalizer", "_pid", "directory", "path")

    def __init__(self, directory: Path, path: Path, fd: int) -> None:
        self.directory = directory
        self.path = path
        self._fd: int | None = fd
        self._pid = os.getpid()
        # An exporter dropped without shutdown must not keep the directory locked.
        self._finalizer = weakref.finalize(self, _close_quietly, fd)
        _live.add(self)

    @classmethod
    def acquire(cls, directory: Path) -> DirectoryLock:
        """Create ``directory`` if needed (mode ``0o700``) and lock it for writing.

        Args:
            directory: the audit log directory (absolute).

        Returns:
            The held lock.

        Raises:
            AuditLockError: another writer holds it, or it cannot be created or locked.
        """
        path = directory / LOCK_NAME
        try:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | CLOEXEC, 0o600)
        except OSError as exc:
            code = errno.errorcode.get(exc.errno or 0, "")
            raise AuditLockError(
                f"cannot create the writer lock {path} of the audit log directory: [{code}] "
                f"{exc.strerror}; the directory must be writable by this process"
            ) from None
        try:
            locked = _lock_fd(fd)
        except OSError as exc:
            _close_quietly(fd)
            code = errno.errorcode.get(exc.errno or 0, "")
            raise AuditLockError(
                f"cannot lock the audit log directory {directory} ({LOCK_NAME}): [{code}] "
                f"{exc.strerror}; keep audit logs on a local file system that supports flock"
            ) from None
        if not locked:
            _close_quietly(fd)
            raise AuditLockError(
                f"the audit log directory {directory} is already being written by another "
                f"AuditExporter: its {LOCK_NAME} is {_holder(path)}. One directory has one "
                "writer: shut that exporter down first (pipeline.shutdown()), or give each "
                "process its own directory (e.g. audit/worker-1, audit/worker-2), each "
                "verified on its own"
            )
        info = orjson.dumps({"pid": os.getpid()}) + b"\n"
        try:
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, info)
        except OSError:
            pass  # the pid is a courtesy for the error message of a second writer
        return cls(directory, path, fd)

    @property
    def held(self) -> bool:
        """True while this process holds the lock (False after release, or in a fork)."""
        return self._fd is not None and self._pid == os.getpid()

    def release(self) -> None:
        """Unlock and close (only in the process that took it). Idempotent."""
        fd, self._fd = self._fd, None
        self._finalizer.detach()
        _live.discard(self)
        if fd is None or self._pid != os.getpid():
            return
        try:
            os.ftruncate(fd, 0)
            _unlock_fd(fd)
        except OSError:
            pass  # closing releases it anyway
        _close_quietly(fd)

    def _forget_in_child(self) -> None:
        """In a forked child: close the inherited descriptor, leaving the parent's lock.

        ``flock`` locks belong to the open file description, which parent and child
        share: unlocking here would unlock the parent. Closing only drops the child's
        reference, so the lock goes away when the parent releases it or exits.
        """
        fd, self._fd = self._fd, None
        self._finalizer.detach()
        if fd is not None:
            _close_quietly(fd)

    def __repr__(self) -> str:
        state = "held" if self.held else "released"
        return f"DirectoryLock({str(self.directory)!r}, {state})"

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError(
            "cannot pickle DirectoryLock: a directory lock belongs to the process that took it"
        )


def _after_fork_in_child() -> None:
    for lock in list(_live):
        lock._forget_in_child()
    _live.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
