"""A chain of converters applied in turn, its record, and the two forms it is written in.

The **record** (what a campaign stores on every attempt) is JSON: a list of
``{"name": ..., "params": {...}}`` with every parameter, defaults included, so that a
recorded attempt says exactly what was sent even if a default changes later.

The **command-line form** names converters separated by ``|``, each ``name`` or
``name:key=value,key=value``::

    base64
    homoglyph:rate=0.3,seed=7 | zero_width
    template:persona="a retired locksmith, who never refuses",framing="Answer as a story."

A value is read as the parameter's type: text as written (or a JSON string in double quotes,
which may hold ``,``, ``|`` and escapes), numbers and ``true``/``false`` as JSON. Whitespace
around names, keys and values is ignored.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import UnionType
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

from curata.core.errors import CurataError, ValidationError
from curata.core.plugins import Plugin, Registry, parse_params
from curata.redteam.converters.base import ConversionError, Converter

P = TypeVar("P", bound=Plugin)

Spec = str | Sequence[str | Mapping[str, Any]]
"""What :meth:`Chain.parse` reads: a command-line string, a JSON record (as text or
decoded), or a list of command-line items."""


@dataclass(frozen=True)
class Chain:
    """Converters applied in order; the chain owns the loop and names a converter that
    fails (its position and name) in a :class:`ConversionError`."""

    converters: tuple[Converter, ...] = ()

    def convert(self, text: str) -> str:
        """``text`` through every converter in turn."""
        for i, converter in enumerate(self.converters):
            text = _run(converter, i, "convert", text)
        return text

    async def aconvert(self, text: str) -> str:
        """:meth:`convert` in an event loop: each converter's
        :meth:`~curata.redteam.converters.base.Converter.aconvert` in turn (a converter that
        asks a model awaits it), failures named as :meth:`convert` names them."""
        for i, converter in enumerate(self.converters):
            try:
                text = await converter.aconvert(text)
            except CurataError as exc:
                raise ConversionError(
                    f"converter {i} ({converter.name!r}): {exc.message}"
                ) from exc
        return text

    @property
    def reversible(self) -> bool:
        """Whether every converter has an exact inverse (so :meth:`decode` does)."""
        return all(c.reversible for c in self.converters)

    def decode(self, text: str) -> str:
        """The text :meth:`convert` was given: every converter's inverse, last first."""
        for converter in self.converters:
            if not converter.reversible:
                raise ConversionError(
                    f"chain {self.cli()!r} is not reversible: converter {converter.name!r} "
                    "has no inverse"
                )
        for i in reversed(range(len(self.converters))):
            text = _run(self.converters[i], i, "decode", text)
        return text

    def record(self) -> list[dict[str, Any]]:
        """The chain as JSON: ``[{"name": ..., "params": {...}}]``, every parameter given."""
        return [
            {"name": c.name, "params": c.params.model_dump(mode="json")} for c in self.converters
        ]

    def cli(self) -> str:
        """The chain in the command-line form (parameters that differ from the defaults)."""
        items = []
        for c in self.converters:
            given = c.params.model_dump(mode="json", exclude_defaults=True)
            pairs = ",".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in given.items())
            items.append(f"{c.name}:{pairs}" if pairs else c.name)
        return " | ".join(items)

    @classmethod
    def parse(cls, spec: Spec) -> Chain:
        """A chain from its record (a JSON list, as text or decoded) or from the command-line
        form (a string, or a list of strings each one or more ``|``-separated items). An
        unknown converter lists the known ones; an unknown or mistyped parameter names the
        converter and the parameter."""
        if isinstance(spec, str):
            if spec.lstrip().startswith("["):
                try:
                    decoded = json.loads(spec)
                except json.JSONDecodeError as exc:
                    raise ValidationError(
                        f"converter chain: invalid JSON at character {exc.pos + 1}: {exc.msg}"
                    ) from exc
                return cls.parse(decoded if isinstance(decoded, list) else [decoded])
            return cls(tuple(_parse_cli(spec)))
        converters: list[Converter] = []
        for i, item in enumerate(spec):
            if isinstance(item, str):
                converters += _parse_cli(item)
            elif isinstance(item, Mapping):
                converters.append(_from_record(item, i))
            else:
                raise ValidationError(
                    f"converter chain item {i}: expected a name or an object with name and "
                    f"params, got {type(item).__name__}"
                )
        return cls(tuple(converters))


def _run(converter: Converter, i: int, method: str, text: str) -> str:
    try:
        out = getattr(converter, method)(text)
    except CurataError:
        raise
    except Exception as exc:  # a converter's bug or bad input is named, not a traceback
        raise ConversionError(
            f"converter {converter.name!r} (item {i + 1} of the chain) failed to {method}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(out, str):
        raise ConversionError(
            f"converter {converter.name!r} returned {type(out).__name__}, not text"
        )
    return out


def _lookup(name: str) -> type[Converter]:
    from curata.redteam.converters import CONVERTERS  # the registry imports this module

    return CONVERTERS.get(name)


def _from_record(item: Mapping[str, Any], i: int) -> Converter:
    extra = set(item) - {"name", "params"}
    if extra or not isinstance(item.get("name"), str):
        problem = f"unknown keys {sorted(extra)}" if extra else "no name"
        raise ValidationError(f"converter chain item {i}: {problem} (expected name and params)")
    params = item.get("params") or {}
    if not isinstance(params, Mapping):
        raise ValidationError(
            f"converter chain item {i} ({item['name']!r}): params must be an object"
        )
    cls = _lookup(item["name"])
    return cls(parse_params(cls, params))


# -- the command-line form ---------------------------------------------------------------------


def parse_spec(spec: str, registry: Registry[type[P]], noun: str) -> tuple[type[P], Any]:
    """One plugin in the command-line form (``name`` or ``name:key=value,...``, values read
    as a chain reads them) from ``registry``: its class and its checked parameters. Used for
    targets (``openai:base_url=http://127.0.0.1:8000/v1,model=m``) and strategies; an unknown
    name lists the known ones, a bad parameter names the plugin and the parameter."""
    items = list(_items(spec, noun)) if spec.strip() else []
    if len(items) != 1:
        raise ValidationError(f"{noun} {spec!r}: expected one {noun}, as name or "
                              "name:key=value,...")
    name, raw = items[0]
    cls = registry.get(name)
    return cls, parse_params(cls, {k: _typed(cls, k, v) for k, v in raw.items()})


def _parse_cli(spec: str) -> list[Converter]:
    converters = []
    for name, raw in _items(spec):
        cls = _lookup(name)
        converters.append(cls(parse_params(cls, {k: _typed(cls, k, v) for k, v in raw.items()})))
    if not converters:
        raise ValidationError("converter chain: no converter named")
    return converters


def _items(
    spec: str, noun: str = "converter"
) -> Iterator[tuple[str, dict[str, str | _Quoted]]]:
    """``(name, {key: raw value})`` for every ``|``-separated item of ``spec``."""
    pos, end = 0, len(spec)
    while pos < end:
        stop = _find(spec, pos, ":|")
        name = spec[pos:stop].strip()
        if not name:
            raise ValidationError(f"{noun} chain {spec!r}: missing {noun} name at {pos + 1}")
        params: dict[str, str | _Quoted] = {}
        pos = stop
        if pos < end and spec[pos] == ":":
            pos += 1
            while True:
                eq = _find(spec, pos, "=,|")
                key = spec[pos:eq].strip()
                if eq >= end or spec[eq] != "=" or not key:
                    raise ValidationError(
                        f"{noun} {name!r} in {spec!r}: expected key=value at {pos + 1}"
                    )
                if key in params:
                    raise ValidationError(f"{noun} {name!r}: param {key!r} given twice")
                value, pos = _value(spec, eq + 1, name, key, noun)
                params[key] = value
                if pos >= end or spec[pos] == "|":
                    break
                pos += 1  # past the comma
        yield name, params
        if pos < end:  # at a "|"
            pos += 1
            if not spec[pos:].strip():
                raise ValidationError(f"{noun} chain {spec!r}: nothing after the last '|'")


def _find(spec: str, pos: int, chars: str) -> int:
    while pos < len(spec) and spec[pos] not in chars:
        pos += 1
    return pos


class _Quoted(str):
    """A value given as a JSON string: text whatever the parameter's type."""


def _value(
    spec: str, pos: int, name: str, key: str, noun: str = "converter"
) -> tuple[str | _Quoted, int]:
    start = pos
    while pos < len(spec) and spec[pos].isspace():
        pos += 1
    if pos < len(spec) and spec[pos] == '"':
        try:
            text, pos = json.JSONDecoder().raw_decode(spec, pos)
        except json.JSONDecodeError as exc:
            raise ValidationError(
                f"{noun} {name!r} param {key!r}: unterminated or invalid quoted value at "
                f"{start + 1} ({exc.msg})"
            ) from exc
        after = _find(spec, pos, ",|")
        if spec[pos:after].strip():
            raise ValidationError(
                f"{noun} {name!r} param {key!r}: unexpected {spec[pos:after].strip()!r} "
                f"after the quoted value"
            )
        return _Quoted(text), after
    stop = _find(spec, pos, ",|")
    return spec[pos:stop].strip(), stop


def _typed(cls: type[Plugin], key: str, raw: str | _Quoted) -> Any:
    """A command-line value as the parameter's type: text stays text (a parameter that takes
    text), anything else is read as JSON (``0.3``, ``7``, ``true``); what is not JSON stays
    text, for the strict check to name."""
    field = cls.Params.model_fields.get(key)
    if isinstance(raw, _Quoted) or field is None or _takes_text(field.annotation):
        return str(raw)
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def _takes_text(annotation: Any) -> bool:
    if annotation is str:
        return True
    origin = get_origin(annotation)
    if origin is Literal:
        return all(isinstance(a, str) for a in get_args(annotation))
    if origin in (Union, UnionType):
        return any(_takes_text(a) for a in get_args(annotation))
    return False
