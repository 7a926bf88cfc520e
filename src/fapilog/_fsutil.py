"""File-system helpers of the modules that write durable files (spool, audit log, file exporter)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["CLOEXEC", "fsync_dir"]

#: ``os.O_CLOEXEC`` where the platform has it: no descriptor leaks into a child process.
CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def fsync_dir(directory: Path) -> None:
    """Sync ``directory`` itself, so that a file created or renamed in it survives a crash.

    Best effort: a directory that cannot be opened, or a file system that cannot sync
    one, is left as it is.
    """
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | CLOEXEC)
    except OSError:
        return  # not possible here (e.g. Windows): a rename is still atomic
    try:
        os.fsync(fd)
    except OSError:  # not supported on every file system
        pass
    finally:
        os.close(fd)
