"""Per-logger levels: the rules, their lookup, and every live logger's threshold.

A logger's level check is one comparison on the caller (``self._level > severity``).
``_level`` is the logger's *effective* threshold, computed here from

1. the runtime rules, process-wide (:func:`set_level`, :class:`LevelWatcher`),
2. the rules of the logger's pipeline (the ``levels`` setting),
3. the pipeline's global level (the ``level`` setting), or the runtime root rule,

by the longest dotted prefix of the logger's name (``"shop"`` covers ``"shop"`` and
``"shop.db"``, not ``"shopping"``); at the same prefix a runtime rule wins. Every
:class:`~fapilog.Logger` is registered (weakly) when it is created; a change of the
rules, or of the pipeline a logger follows, recomputes the thresholds of the live
loggers under one lock before the change returns, so a call made after
:func:`set_level` returned never logs at a level it disabled.

When a rate limit applies to a logger, its threshold carries :data:`LIMITED`: the
level methods then take the limited branch (see :mod:`fapilog._ratelimit`), and
loggers without a limit pay nothing for the feature.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import TYPE_CHECKING, Any

from fapilog import _severity
from fapilog._diagnostics import reporter

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = [
    "LIMITED",
    "LevelWatcher",
    "gate",
    "get_override",
    "lookup",
    "parse_level",
    "parse_levels",
    "register",
    "set_level",
    "set_levels",
    "watch_levels",
]

#: Added to a logger's threshold when a rate limiter applies to it (above every
#: severity number, so every call takes the limited branch of the level methods).
LIMITED = 1 << 8

#: Names that mean the root (the global level) in set_level() and in a levels file.
ROOT_NAMES = frozenset({"", "*"})

_lock = threading.RLock()


def _after_fork_in_child() -> None:
    # Taken before the fork (below), so the registry was not mid-update; the child's
    # only thread gets a fresh lock rather than one the parent's threads may hold.
    global _lock
    _lock = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=lambda: _lock.acquire(),
        after_in_parent=lambda: _lock.release(),
        after_in_child=_after_fork_in_child,
    )
#: Runtime rules: logger name (or prefix) -> severity number; "" is the root.
_overrides: dict[str, int] = {}
#: Every live Logger (weakly): their thresholds follow the rules.
_loggers: weakref.WeakSet[Any] = weakref.WeakSet()
#: Bumped on every change of the rules; caches of thresholds per name compare it.
generation = 0


def parse_level(level: int | str) -> int:
    """A severity number for a level name or :mod:`logging` number (digits too).

    Raises:
        ValueError: not a level.
    """
    if isinstance(level, str) and level.strip().isdigit():
        return _severity.parse_level(int(level.strip()))
    return _severity.parse_level(level)


def parse_levels(text: str) -> dict[str, str]:
    """``"shop.db=DEBUG,urllib3=WARNING"`` (or one rule a line, ``#`` comments) as a dict.

    ``*`` (or an empty name) is the root: the global level.

    Raises:
        ValueError: a rule is not ``name=LEVEL`` or names no level.
    """
    rules: dict[str, str] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0]
        for part in line.split(","):
            part = part.strip()
            if not part:
                continue
            name, sep, level = part.partition("=")
            if not sep or not level.strip():
                raise ValueError(f"{part!r} is not name=LEVEL")
            parse_level(level)
            rules[name.strip()] = level.strip()
    return rules


def lookup(name: str, rules: Mapping[str, int], root: int) -> int:
    """The threshold for ``name``: the longest dotted prefix among the runtime rules and
    ``rules`` (a runtime rule wins at the same prefix), else the runtime root rule, else
    ``root``."""
    overrides = _overrides
    key = name
    while True:
        level = overrides.get(key)
        if level is not None:
            return level
        level = rules.get(key)
        if level is not None:
            return level
        dot = key.rfind(".")
        if dot < 0:
            break
        key = key[:dot]
    level = overrides.get("")
    return root if level is None else level


def gate(intake: Any, name: str) -> tuple[int, Any]:
    """``(threshold, limiter)`` for a logger ``name`` writing to ``intake``.

    The threshold carries :data:`LIMITED` when ``limiter`` (a
    :class:`~fapilog._ratelimit.NameLimiter`) applies. Intake stand-ins without a
    ``gate`` method (tests) get their ``level`` and the runtime rules, no limiter.
    """
    own = getattr(intake, "gate", None)
    if own is not None:
        threshold, limiter = own(name)
        return threshold, limiter
    return lookup(name, {}, intake.level), None


def register(logger: Any) -> None:
    """Compute ``logger``'s threshold and keep it in step with the rules from now on."""
    with _lock:
        logger._level, logger._limit = gate(logger._ref.intake, logger._name)
        _loggers.add(logger)


def register_copy(new: Any, source: Any) -> None:
    """Register ``new``, a copy of the registered ``source`` (bind, with_stacklevel)."""
    with _lock:  # under the lock: a concurrent set_level() cannot slip in between
        new._level = source._level
        new._limit = source._limit
        _loggers.add(new)


def refresh(ref: Any = None) -> None:
    """Recompute the thresholds of the live loggers (only those following ``ref``)."""
    global generation
    with _lock:
        generation += 1
        for logger in list(_loggers):
            if ref is None or logger._ref is ref:
                logger._level, logger._limit = gate(logger._ref.intake, logger._name)


def _key(name: str | None) -> str:
    if name is None:
        return ""
    if not isinstance(name, str):
        raise TypeError(f"a logger name is a str or None, not {type(name).__name__}")
    name = name.strip()
    return "" if name in ROOT_NAMES else name


def set_level(name: str | None, level: int | str | None) -> None:
    """Set the level of logger ``name`` and the loggers below it, now, in this process.

    See :func:`fapilog.set_level`.
    """
    key = _key(name)
    number = None if level is None else parse_level(level)
    with _lock:
        if number is None:
            _overrides.pop(key, None)
        else:
            _overrides[key] = number
        refresh()


def set_levels(rules: Mapping[str, int | str | None], *, replace: Iterable[str] = ()) -> None:
    """Apply several rules at once (one refresh): ``None`` removes a rule.

    ``replace``: names whose rules are removed first unless ``rules`` sets them again.

    Raises:
        ValueError: a level is not a level (nothing is changed then).
    """
    parsed = {
        _key(name): (None if level is None else parse_level(level)) for name, level in rules.items()
    }
    with _lock:
        for key in replace:
            if key not in parsed:
                _overrides.pop(key, None)
        for key, number in parsed.items():
            if number is None:
                _overrides.pop(key, None)
            else:
                _overrides[key] = number
        refresh()


def get_override(name: str | None) -> int | None:
    """The runtime rule set for exactly ``name`` (not a prefix), or ``None``."""
    return _overrides.get(_key(name))


def clear() -> None:
    """Remove every runtime rule (tests, and :func:`fapilog.set_level` callers resetting)."""
    with _lock:
        _overrides.clear()
        refresh()


class LevelWatcher:
    """Re-reads a levels file when it changes and applies it as runtime rules.

    The file holds ``name=LEVEL`` rules, one a line or comma separated, ``#`` comments,
    ``*=LEVEL`` for the global level (the ``FAPILOG_LEVELS`` format). The rules it
    applied last are replaced as a whole by the file's new content: a rule deleted from
    the file is removed. A file that does not parse changes nothing and is reported on
    stderr; a missing file removes the file's rules. A daemon thread checks the file's
    modification time, size and inode every ``interval`` seconds (no signal handler:
    safe in any thread and under any server). :meth:`check` checks at once.

    Args:
        path: the levels file.
        interval: seconds between checks; 0 starts no thread (call :meth:`check`).
    """

    def __init__(self, path: str | os.PathLike[str], interval: float = 5.0) -> None:
        self.path = os.fspath(path)
        self.interval = interval
        #: How many times the file's rules were applied.
        self.reloads = 0
        #: Set each time the file's rules are applied (clear it to wait for the next).
        self.reloaded = threading.Event()
        self._seen: tuple[int, int, int] | None = None
        self._mine: set[str] = set()
        self._stop = threading.Event()
        self._check_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.check()
        if interval > 0:
            self._thread = threading.Thread(
                target=self._run, name="fapilog-levels-watch", daemon=True
            )
            self._thread.start()

    def __repr__(self) -> str:
        state = "stopped" if self._stop.is_set() else "watching"
        return f"<fapilog.LevelWatcher {self.path!r} {state}>"

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check()
            except Exception as exc:  # never let the thread die silently
                reporter.report("levels_file", f"checking {self.path!r} failed: {exc!r}")

    def check(self) -> bool:
        """Apply the file's rules if it changed since the last check; True if applied."""
        with self._check_lock:
            try:
                st = os.stat(self.path)
            except FileNotFoundError:
                if self._seen is None and not self._mine:
                    return False
                self._seen = None
                set_levels({}, replace=self._mine)
                self._mine = set()
                self.reloads += 1
                self.reloaded.set()
                return True
            seen = (st.st_mtime_ns, st.st_size, st.st_ino)
            if seen == self._seen:
                return False
            try:
                with open(self.path, encoding="utf-8") as fh:
                    rules = parse_levels(fh.read())
            except (OSError, ValueError, UnicodeDecodeError) as exc:
                self._seen = seen  # report a bad file once, not every interval
                reporter.report(
                    f"levels_file:{self.path}",
                    f"levels file {self.path!r} not applied ({exc}); the levels stay as they were",
                )
                return False
            self._seen = seen
            set_levels(dict(rules), replace=self._mine)
            self._mine = {_key(name) for name in rules}
            self.reloads += 1
            self.reloaded.set()
            return True

    def stop(self, *, keep: bool = True) -> None:
        """Stop watching. ``keep=False`` also removes the rules the file set."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(5)
        if not keep:
            with self._check_lock:
                set_levels({}, replace=self._mine)
                self._mine = set()


def watch_levels(path: str | os.PathLike[str], *, interval: float = 5.0) -> LevelWatcher:
    """See :func:`fapilog.watch_levels`."""
    return LevelWatcher(path, interval)
