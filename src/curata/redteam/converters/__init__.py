"""Attack converters: one class per converter, registered under ``curata.converters``.

:data:`CONVERTERS` loads every registered converter class by name; a broken plugin is an error
that names it (a campaign must never silently lose a converter). A
:class:`~curata.redteam.converters.chain.Chain` applies converters in turn and records them;
:func:`converter_table` describes them for ``curata redteam converters list``.
"""

from __future__ import annotations

from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

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
    ``reversible``, ``random`` and ``params`` (each ``name``, ``type``, ``default``,
    ``description``), JSON-ready."""
    rows = []
    for name, cls in CONVERTERS.load().items():
        defaults = cls.Params().model_dump(mode="json")
        params = [
            {
                "name": field,
                "type": type_name(info.annotation),
                "default": defaults[field],
                "description": info.description,
            }
            for field, info in cls.Params.model_fields.items()
        ]
        rows.append(
            {
                "name": name,
                "summary": cls.summary,
                "reversible": cls.reversible,
                "random": cls.random,
                "params": params,
            }
        )
    return rows


def type_name(annotation: Any) -> str:
    """How a parameter's type is shown: ``int``, ``float``, ``bool``, ``str``, or the
    choices of a literal (``U+200B|U+200C``)."""
    origin = get_origin(annotation)
    if origin is Literal:
        return "|".join(str(a) for a in get_args(annotation))
    if origin in (Union, UnionType):
        return " or ".join(type_name(a) for a in get_args(annotation))
    return getattr(annotation, "__name__", str(annotation))


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
