"""Curation steps: one module per step, registered under the ``curata.steps`` entry points.

:func:`registry` loads every registered step class by name; a broken plugin is an error that
names it (a pipeline must never silently lose a step). The loading and its checks are the
shared :class:`curata.core.plugins.Registry`.
"""

from __future__ import annotations

from curata.core.plugins import Registry
from curata.curation.steps.base import Step

GROUP = "curata.steps"

STEPS: Registry[type[Step]] = Registry(GROUP, Step, "step")


def registry() -> dict[str, type[Step]]:
    """Every registered step class by name (loaded once)."""
    return dict(STEPS.load())
