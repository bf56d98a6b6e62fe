"""Curation steps: one module per step, registered under the ``curata.steps`` entry points.

:func:`registry` loads every registered step class by name; a broken plugin is an error that
names it (a pipeline must never silently lose a step).
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

from curata.core.errors import ValidationError
from curata.curation.steps.base import Step

GROUP = "curata.steps"


@cache
def registry() -> dict[str, type[Step]]:
    """Every registered step class by name."""
    out: dict[str, type[Step]] = {}
    for ep in entry_points(group=GROUP):
        try:
            cls = ep.load()
        except Exception as exc:  # a plugin that cannot import is named, not skipped
            raise ValidationError(f"step {ep.name!r} ({ep.value}) failed to load: {exc}") from exc
        if not (isinstance(cls, type) and issubclass(cls, Step)):
            raise ValidationError(f"step {ep.name!r} ({ep.value}) is not a curata Step class")
        if getattr(cls, "name", None) != ep.name:
            raise ValidationError(
                f"step {ep.name!r} ({ep.value}) declares the name {getattr(cls, 'name', None)!r}"
            )
        out[ep.name] = cls
    return dict(sorted(out.items()))
