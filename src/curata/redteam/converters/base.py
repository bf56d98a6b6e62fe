"""The converter interface: what every attack converter (built-in or third-party) implements.

A converter is a pure ``str -> str`` transformation of an attack's text (an encoding, an
obfuscation, a framing). It is a small class with declared metadata — ``name``, ``summary``,
``reversible`` (it has an exact inverse, :meth:`Converter.decode`), ``random`` (it draws from a
seeded generator: its ``Params`` has a ``seed``) — a pydantic ``Params`` model whose every field
has a description and a default, and one method, :meth:`Converter.convert`. The same text and
parameters always give the same output: a random converter makes a fresh generator from its
seed on every call, so an attempt recorded with its converters can be replayed exactly.

Converters are applied in order by a :class:`~curata.redteam.converters.chain.Chain`, which
owns the loop (and names the converter that failed); a campaign stores the chain's
:meth:`~curata.redteam.converters.chain.Chain.record` on every attempt. Converters register
under the entry-point group ``curata.converters`` (``name = "module:Class"``), the same way a
third-party package would add its own.

PyRIT's ``PromptConverter`` (one ``convert`` method per class) and garak's buffs and encoding
probes are the models; each built-in cites the peer it follows.
"""

from __future__ import annotations

from collections.abc import Mapping
from random import Random
from string import Formatter
from typing import Any, ClassVar, Self

import pydantic
from pydantic_core import PydanticUndefined

from curata.core.errors import CurataError
from curata.core.plugins import Plugin, PluginParams, parse_params


class ConverterParams(PluginParams):
    """Base of every converter's parameters: unknown parameters are errors and values are
    checked strictly (:meth:`~curata.core.plugins.PluginParams.parse`); every field has a
    description and a default, so a converter named alone (``base64``) is fully specified."""


class SeededParams(ConverterParams):
    """Parameters of a random converter: the seed of its generator."""

    seed: int = pydantic.Field(
        default=0, description="Seed of the random choices: the same seed, the same output."
    )


class ConversionError(CurataError):
    """A converter could not convert or decode a text (names the converter and why)."""

    status_code = 422


class Converter(Plugin):
    """Base class of attack converters (see the module docstring). A subclass's metadata is
    checked when it is defined: a converter without a valid ``name``, a one-line ``summary``,
    a :class:`ConverterParams` model whose fields all have a description and a default, a
    ``seed`` parameter when ``random``, or a :meth:`decode` when ``reversible`` fails at
    import, naming itself."""

    abstract = True
    kind = "converter"
    has_params = True
    name: ClassVar[str]
    summary: ClassVar[str]
    Params: ClassVar[type[ConverterParams]] = ConverterParams
    reversible: ClassVar[bool] = False
    random: ClassVar[bool] = False

    @classmethod
    def kind_problem(cls) -> str | None:
        return converter_problem(cls)

    def __init__(self, params: ConverterParams | None = None) -> None:
        self.params = self.Params() if params is None else params

    @classmethod
    def create(cls, params: Mapping[str, Any] | None = None) -> Self:
        """The converter with ``params`` (JSON-typed values, checked strictly); an unknown
        or invalid parameter is a :class:`ValidationError` naming the converter and it."""
        return cls(parse_params(cls, params or {}))

    def convert(self, text: str) -> str:
        """The converted text: a pure function of ``text`` and the parameters."""
        raise NotImplementedError

    async def aconvert(self, text: str) -> str:
        """:meth:`convert` where a campaign runs (in its event loop). A converter that asks a
        model (translation through a target) overrides this to await the model instead of
        blocking the loop; every other converter is pure and inherits it."""
        return self.convert(text)

    async def aclose(self) -> None:
        """Release what :meth:`aconvert` holds between calls (a model's HTTP session); a
        campaign calls it when it ends. Pure converters hold nothing."""

    def decode(self, text: str) -> str:
        """The text :meth:`convert` was given (reversible converters only); a text that is
        not an output of :meth:`convert` is a :class:`ConversionError`."""
        raise ConversionError(f"converter {self.name!r} is not reversible")

    def rng(self) -> Random:
        """A fresh generator from the ``seed`` parameter (random converters): every call of
        :meth:`convert` starts from the same state, so outputs do not depend on call order."""
        return Random(getattr(self.params, "seed", 0))

    def fail(self, problem: str) -> ConversionError:
        """A :class:`ConversionError` that names this converter."""
        return ConversionError(f"converter {self.name!r}: {problem}")


def converter_problem(cls: type[Converter]) -> str | None:
    """What is wrong with a converter class's declared metadata beyond the shared checks
    (:func:`curata.core.plugins.metadata_problem`), or None."""
    if "\n" in cls.summary:
        return "summary must be one line"
    for flag in ("reversible", "random"):
        if not isinstance(getattr(cls, flag, None), bool):
            return f"{flag} must be True or False"
    params = cls.Params
    if not issubclass(params, ConverterParams):
        return "Params must derive from ConverterParams"
    for field, info in params.model_fields.items():
        if not (info.description and info.description.strip()):
            return f"param {field!r} has no description"
        if info.default is PydanticUndefined and info.default_factory is None:
            return f"param {field!r} has no default"
    if cls.random and "seed" not in params.model_fields:
        return "a random converter needs a seed param (derive Params from SeededParams)"
    if cls.reversible and cls.decode is Converter.decode:
        return "a reversible converter must implement decode"
    return None


def check_slots(value: str, slots: tuple[str, ...], what: str) -> str:
    """A ``str.format`` template whose only slots are ``slots``, with ``{text}`` exactly once
    (``{{`` and ``}}`` for literal braces); ValueError naming the first bad slot otherwise.
    ``what`` names the template in the message (``the template``, ``the instruction``)."""
    try:
        parsed = list(Formatter().parse(value))
    except ValueError as exc:
        raise ValueError(f"not a template: {exc}") from exc
    names = [field for _, field, _, _ in parsed if field is not None]
    for _, field, spec, conversion in parsed:
        if field is not None and (field not in slots or spec or conversion):
            raise ValueError(
                f"unknown slot {{{field}{'!' + conversion if conversion else ''}"
                f"{':' + spec if spec else ''}}} (slots: {', '.join(slots)})"
            )
    if names.count("text") != 1:
        raise ValueError(f"{what} must have the slot {{text}} exactly once")
    return value
