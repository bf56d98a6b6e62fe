"""Attack converters: one class per converter, registered under ``curata.converters``.

:data:`CONVERTERS` loads every registered converter class by name; a broken plugin is an error
that names it (a campaign must never silently lose a converter). A
:class:`~curata.redteam.converters.chain.Chain` applies converters in turn and records them;
:func:`converter_table` describes them for ``curata redteam converters list``.
"""

from __future__ import annotations

from typing import Any

from curata.core.plugins import Registry
from curata.redteam.converters.base import (
    ConversionError,
    Converter,
    ConverterParams,
    SeededParams,
)
from curata.redteam.converters.chain import Chain

GROUP = "curata.converters"

CONVERTERS: Registry[type[Converter]] = Registry(GROUP, Converter, "converter")


def registry() -> dict[str, type[Converter]]:
    """Every registered converter class by name (loaded once)."""
    return dict(CONVERTERS.load())


def converter_table() -> list[dict[str, Any]]:
    """Every registered converter as plain data, by name: ``name``, ``summary``,
    ``reversible``, ``random`` and ``params`` (:meth:`curata.core.plugins.Registry.describe`)."""
    return CONVERTERS.describe("reversible", "random")


__all__ = [
    "CONVERTERS",
    "GROUP",
    "Chain",
    "ConversionError",
    "Converter",
    "ConverterParams",
    "SeededParams",
    "converter_table",
    "registry",
]
