"""The exceptions fapilog raises for a configuration mistake.

A leaf module: it imports nothing from fapilog, so every other module (settings,
compliance profiles, exporters, plugins) can raise these without an import cycle.
``fapilog.ConfigError`` and ``fapilog.config.ConfigError`` are the same objects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["ConfigError", "ConfigTypeError"]


class ConfigError(ValueError):
    """A setting has an invalid value. The message names the setting and the fix.

    Attributes:
        fields: the :class:`~fapilog.Settings` fields at fault, when known
            (``("level",)``).
    """

    def __init__(self, message: str, *, fields: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.fields: tuple[str, ...] = tuple(fields)


class ConfigTypeError(ConfigError, TypeError):
    """An object given in code is not of the kind expected (not an exporter, not a
    processor). Both a :class:`ConfigError` and a :class:`TypeError`."""
