"""The ``field_filter`` step: keep records whose metadata satisfies a list of conditions."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from curata.curation.steps.base import Decision, Item, Step, StepParams

Op = Literal["in", "not_in", "eq", "ne", "lt", "le", "gt", "ge", "exists", "missing", "matches"]
MISSING: Any = object()
"""What :func:`metadata_value` returns for a path that leads nowhere."""

_COMPARE: dict[str, tuple[Callable[[Any, Any], bool], str]] = {
    "eq": (operator.eq, "!="),
    "ne": (operator.ne, "equals excluded"),
    "lt": (operator.lt, "not <"),
    "le": (operator.le, "not <="),
    "gt": (operator.gt, "not >"),
    "ge": (operator.ge, "not >="),
}


class Condition(StepParams):
    """One predicate on a metadata field."""

    field: str = Field(
        description="Path into the metadata, dotted for nested objects (``source.name``); a "
        "number selects a list element (``tags.0``)."
    )
    op: Op = Field(description="in, not_in, eq, ne, lt, le, gt, ge, exists, missing, matches.")
    value: Any = Field(
        default=None,
        validate_default=True,
        description="A list for in/not_in; a number or string for lt/le/gt/ge; a regular "
        "expression for matches (searched anywhere in the text, anchor it with ^ and $); "
        "nothing for exists/missing.",
    )

    @field_validator("field")
    @classmethod
    def _path(cls, path: str) -> str:
        if not path or "" in path.split("."):
            raise ValueError(f"{path!r} is not a dotted path such as lang or source.name")
        return path

    @field_validator("value")
    @classmethod
    def _value_fits_op(cls, value: Any, info: ValidationInfo) -> Any:
        op = info.data.get("op")
        if op in ("in", "not_in") and not isinstance(value, list | tuple):
            raise ValueError(f"{op} needs a list of values, got {value!r}")
        if op in ("exists", "missing") and value is not None:
            raise ValueError(f"{op} takes no value, got {value!r}")
        if op in ("lt", "le", "gt", "ge") and (
            isinstance(value, bool) or not isinstance(value, int | float | str)
        ):
            raise ValueError(f"{op} needs a number or a string, got {value!r}")
        if op == "matches":
            if not isinstance(value, str):
                raise ValueError(f"matches needs a regular expression, got {value!r}")
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"bad regular expression {value!r}: {exc}") from exc
        return list(value) if isinstance(value, tuple) else value


class FieldFilterParams(StepParams):
    """Parameters of :class:`FieldFilter`."""

    conditions: tuple[Condition, ...] = Field(
        default=(),
        description="Conditions on metadata fields, each {field, op, value}; with none, every "
        "record is kept.",
    )
    mode: Literal["all", "any"] = Field(
        default="all", description="Keep a record when all conditions hold, or any of them."
    )


class FieldFilter(Step):
    """Drop records whose metadata fails the conditions.

    A record that lacks a condition's field fails every condition except ``missing`` (``ne``
    and ``not_in`` included: an unknown value is not known to differ). A comparison between
    values that do not compare (a string and a number) fails; ``matches`` fails on a value
    that is not a string.
    """

    name = "field_filter"
    summary = "Predicates on metadata fields (in, eq, lt, exists, matches, ...)."
    Params = FieldFilterParams
    params: FieldFilterParams

    def __init__(self, params: FieldFilterParams) -> None:
        super().__init__(params)
        self._patterns = [
            re.compile(c.value) if c.op == "matches" else None for c in params.conditions
        ]

    def apply(self, batch: Sequence[Item]) -> list[Decision]:
        """Keep or drop each record; a drop names the failed condition and the actual value."""
        return [self._decide(record.metadata) for _, record in batch]

    def _decide(self, metadata: dict[str, Any]) -> Decision:
        conditions = self.params.conditions
        failures: list[str] = []
        for index, (cond, pattern) in enumerate(zip(conditions, self._patterns, strict=True)):
            failure = check(cond, metadata, pattern)
            if failure is None and self.params.mode == "any":
                return Decision.keep()
            if failure is not None and self.params.mode == "all":
                return Decision.drop(failure, condition=index, field=cond.field, op=cond.op)
            if failure is not None:
                failures.append(failure)
        if not failures:
            return Decision.keep()
        return Decision.drop("no condition holds: " + "; ".join(failures), mode="any")


def check(cond: Condition, metadata: dict[str, Any], pattern: re.Pattern[str] | None) -> str | None:
    """Why ``metadata`` fails ``cond`` (one line for a reader), or None when it holds."""
    path = f"metadata.{cond.field}"
    actual = metadata_value(metadata, cond.field)
    if cond.op == "exists":
        return None if actual is not MISSING else f"{path} is missing (exists)"
    if actual is MISSING:
        return None if cond.op == "missing" else f"{path} is missing ({cond.op} {cond.value!r})"
    shown = f"{path} = {_show(actual)}"
    if cond.op == "missing":
        return f"{shown} is present (missing)"
    if cond.op == "in":
        return None if actual in cond.value else f"{shown} not in {cond.value!r}"
    if cond.op == "not_in":
        return None if actual not in cond.value else f"{shown} in excluded {cond.value!r}"
    if cond.op == "matches":
        assert pattern is not None
        if not isinstance(actual, str):
            return f"{shown} is not a string (matches {cond.value!r})"
        return None if pattern.search(actual) else f"{shown} does not match {cond.value!r}"
    compare, failed = _COMPARE[cond.op]
    try:
        holds = bool(compare(actual, cond.value))
    except TypeError:
        return f"{shown} cannot be compared with {cond.value!r} ({cond.op})"
    return None if holds else f"{shown} {failed} {cond.value!r}"


def metadata_value(metadata: dict[str, Any], path: str) -> Any:
    """The value at a dotted ``path`` in ``metadata`` (list elements by index), or MISSING."""
    value: Any = metadata
    for key in path.split("."):
        if isinstance(value, dict) and key in value:
            value = value[key]
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            return MISSING
    return value


def _show(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
