"""Scorers: judges of an attempt, registered under ``curata.scorers``.

A scorer (:mod:`.base`) implements one method, ``judge(attempt) -> Score``; the base's
``score`` decides ``error`` (the target failed or timed out) and ``empty`` (nothing answered)
first, so neither is ever a breach or a refusal. Built-ins: ``refusal`` (multilingual refusal
constructions, optional MiniLM), ``gcg_substrings`` (the GCG paper's list, a baseline),
``canary`` (planted secrets leaked) and ``injection`` (an injected marker obeyed).
:data:`SCORERS` loads every registered scorer class by name; a broken plugin is an error that
names it (:class:`curata.core.plugins.Registry`). Measuring a scorer against human labels is
:mod:`curata.stats.validity`.
"""

from __future__ import annotations

from typing import Any

from curata.core.plugins import Registry
from curata.redteam.scorers.base import (
    JUDGED,
    VERDICTS,
    Score,
    ScoredInput,
    Scorer,
    ScorerParams,
    Verdict,
)

GROUP = "curata.scorers"

SCORERS: Registry[type[Scorer]] = Registry(GROUP, Scorer, "scorer")


def registry() -> dict[str, type[Scorer]]:
    """Every registered scorer class by name (loaded once)."""
    return dict(SCORERS.load())


def scorer_table() -> list[dict[str, Any]]:
    """Every registered scorer as plain data, by name: ``name``, ``summary`` and ``params``
    (:meth:`curata.core.plugins.Registry.describe`)."""
    return SCORERS.describe()


__all__ = [
    "GROUP",
    "JUDGED",
    "SCORERS",
    "VERDICTS",
    "Score",
    "ScoredInput",
    "Scorer",
    "ScorerParams",
    "Verdict",
    "registry",
    "scorer_table",
]
