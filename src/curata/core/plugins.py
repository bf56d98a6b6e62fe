"""Plugins: classes with declared metadata, found through an entry-point group.

Every pluggable kind (curation steps, label aggregators, agreement coefficients, and the coming
converters, targets, scorers and generators) follows one pattern: a base class derived from
:class:`Plugin` that sets ``kind`` (how errors name it) and what a plugin of that kind declares,
and a :class:`Registry` over the entry-point group under which built-in and third-party plugins
register (``name = "module:Class"``).

Metadata is checked twice, so a broken plugin is named instead of silently missing: when the
class is *defined* (:meth:`Plugin.__init_subclass__`: a third-party package fails at import,
with the plugin's name) and when the registry loads it (the class is of the kind and declares
the entry point's name). This module must not import any capability package: the kinds depend
on it, not the other way round.
"""

from __future__ import annotations

import json
import re
import types
from collections.abc import Callable, Mapping
from functools import cache
from importlib.metadata import entry_points
from typing import Any, ClassVar, Generic, Literal, Self, TypeVar, Union, cast, get_args, get_origin

from pydantic import BaseModel, ConfigDict
from pydantic import ValidationError as PydanticValidationError

from curata.core.errors import ValidationError

NAME = re.compile(r"[a-z][a-z0-9_-]*")
"""What a plugin's name looks like: it is typed in pipeline files and on command lines."""


class PluginParams(BaseModel):
    """Base of every plugin kind's parameters: unknown parameters are errors, values are
    checked, and a plugin's parameters never change once built."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> Self:
        """Parameters as a pipeline file or a command line gives them, checked strictly: a
        value must be of the declared type (``true`` is no number, ``"0.9"`` no float, ``"no"``
        no boolean), except that a whole number is a float and a list a tuple, as JSON has it.
        Raises pydantic's ValidationError, whose locations are the parameter paths."""
        return cls.model_validate_json(json.dumps(data, default=str), strict=True)


def describe_params(params: type[BaseModel]) -> list[dict[str, Any]]:
    """A plugin's parameters as plain, JSON-ready data, in declaration order: ``name``,
    ``type`` (as a person reads it, :func:`param_type`), ``default`` (``None`` when
    required), ``required`` and ``description``. What ``steps list``, ``redteam converters
    list`` and ``redteam targets list`` print."""
    out = []
    for name, info in params.model_fields.items():
        default = None if info.is_required() else info.get_default(call_default_factory=True)
        out.append(
            {
                "name": name,
                "type": param_type(info.annotation),
                "default": json.loads(json.dumps(default, default=str)),
                "required": info.is_required(),
                "description": info.description or "",
            }
        )
    return out


def param_type(annotation: Any) -> str:
    """A parameter's type as a person reads it: ``first|longest``, ``int or none``, ``list of
    str``, ``mapping``."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        return "|".join(str(a) for a in args)
    if origin in (Union, types.UnionType):
        named = [param_type(a) for a in args if a is not type(None)]
        return " or ".join(named) + (" or none" if type(None) in args else "")
    if origin in (tuple, list):
        return f"list of {param_type(args[0])}" if args else "list"
    if origin is dict:
        return "mapping"
    return str(getattr(annotation, "__name__", annotation))


class Plugin:
    """Base of every plugin kind. A kind's base sets ``kind`` and, when its plugins take
    parameters, ``has_params`` (each plugin then declares a pydantic ``Params`` model); a
    concrete plugin declares ``name`` and ``summary``. A class with ``abstract = True`` in its
    own body (a kind's base, a shared helper base) is not checked."""

    abstract: ClassVar[bool] = True
    kind: ClassVar[str] = "plugin"
    has_params: ClassVar[bool] = False
    name: ClassVar[str]
    summary: ClassVar[str]
    Params: ClassVar[type[BaseModel]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("abstract", False):
            return
        problem = metadata_problem(cls) or cls.kind_problem()
        if problem:
            shown = cls.__dict__.get("name", cls.__qualname__)
            raise ValidationError(
                f"{cls.kind} {shown!r} ({cls.__module__}:{cls.__qualname__}): {problem}"
            )

    @classmethod
    def kind_problem(cls) -> str | None:
        """What a kind checks in its plugins' declarations beyond :func:`metadata_problem`
        (a kind's base overrides it), or None."""
        return None


def parse_params(cls: type[Plugin], data: Mapping[str, Any]) -> Any:
    """``data`` checked strictly against the plugin's ``Params`` (a :class:`PluginParams`);
    errors name the plugin, the parameter and what is wrong, and an unknown parameter lists
    the known ones: ``converter 'homoglyph' param 'rate': ... (got 2)``."""
    params = cls.Params
    known = params.model_fields
    for key in data:
        if key not in known:
            listed = ", ".join(known) or "none"
            raise ValidationError(
                f"{cls.kind} {cls.name!r} has no param {key!r} (params: {listed})"
            )
    try:
        if issubclass(params, PluginParams):
            return params.parse(data)
        return params.model_validate(data)
    except PydanticValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "params"
        got = data.get(str(error["loc"][0])) if error["loc"] else data
        raise ValidationError(
            f"{cls.kind} {cls.name!r} param {where!r}: "
            f"{error['msg'].removeprefix('Value error, ')} (got {shown_value(got)})"
        ) from None


CREDENTIAL = re.compile(
    r"(?i)authori[sz]ation|bearer\s|api[-_ ]?key|token|secret|password|passwd|cookie"
)
"""Words that say a value may carry a credential (a target spec with an inline header)."""


def shown_value(value: Any, limit: int = 200) -> str:
    """How an error message shows a rejected parameter value: its ``repr``, cut at ``limit``
    characters, or ``[redacted]`` when it looks like it may carry a credential, so that an
    error (printed, logged, returned by the API) never repeats a secret."""
    text = repr(value)
    if CREDENTIAL.search(text):
        return "[redacted: the value may hold a credential]"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def metadata_problem(cls: type[Plugin]) -> str | None:
    """What is wrong with a plugin class's declared metadata, or None."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not NAME.fullmatch(name):
        return f"name {name!r} must match {NAME.pattern}"
    summary = getattr(cls, "summary", None)
    if not isinstance(summary, str) or not summary.strip():
        return "declares no summary"
    if cls.has_params:
        params = getattr(cls, "Params", None)
        if not (isinstance(params, type) and issubclass(params, BaseModel)):
            return "Params must be a pydantic model"
    return None


P = TypeVar("P", bound=type)


class Registry(Generic[P]):
    """The plugin classes registered under an entry-point group, loaded once, by name.

    ``base`` is the kind's base class; ``kind`` how messages name a plugin (``"step"``). A
    plugin that cannot be imported, is not a subclass of ``base`` or declares another name than
    its entry point is a :class:`ValidationError` that names it: a pipeline or a release must
    never silently lose a plugin."""

    def __init__(self, group: str, base: P, kind: str) -> None:
        self.group = group
        self.base = base
        self.kind = kind
        self.load: Callable[[], dict[str, P]] = cache(self._load)

    def _load(self) -> dict[str, P]:
        out: dict[str, P] = {}
        for ep in entry_points(group=self.group):
            named = f"{self.kind} {ep.name!r} ({ep.value})"
            try:
                cls = ep.load()
            except Exception as exc:  # a plugin that cannot import is named, not skipped
                raise ValidationError(f"{named} failed to load: {exc}") from exc
            if not (isinstance(cls, type) and issubclass(cls, self.base)):
                raise ValidationError(f"{named} is not a curata {self.base.__name__} class")
            if getattr(cls, "name", None) != ep.name:
                raise ValidationError(f"{named} declares the name {getattr(cls, 'name', None)!r}")
            out[ep.name] = cast(P, cls)
        return dict(sorted(out.items()))

    def get(self, name: str) -> P:
        """The plugin called ``name``; an unknown name is an error listing the known ones."""
        known = self.load()
        if name not in known:
            raise ValidationError(f"unknown {self.kind} {name!r} (known: {', '.join(known)})")
        return known[name]

    def names(self) -> tuple[str, ...]:
        return tuple(self.load())

    def describe(self, *flags: str) -> list[dict[str, Any]]:
        """Every registered plugin as plain, JSON-ready data, by name: ``name``,
        ``summary``, each of the kind's declared ``flags`` (``"reversible"``), then
        ``params`` (:func:`describe_params`). What the ``list`` commands print."""
        return [
            {
                "name": name,
                "summary": getattr(cls, "summary"),  # noqa: B009  (P is any plugin class)
                **{flag: getattr(cls, flag) for flag in flags},
                "params": describe_params(getattr(cls, "Params")),  # noqa: B009
            }
            for name, cls in self.load().items()
        ]
