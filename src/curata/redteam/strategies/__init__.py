"""Attack strategies: how one attempt talks to the target, registered under
``curata.strategies``.

Built-ins: ``direct`` (the attack's prompt, then its scripted follow-up turns, if any, each
after the model's reply), ``pair`` (an attacker model refines a single-turn prompt from the
target's replies, after PAIR, Chao et al. 2023) and ``crescendo`` (an attacker model escalates
a conversation gradually, backtracking on refusals, after Crescendo, Russinovich et al.
2024). :data:`STRATEGIES` loads every registered strategy class by name; a broken plugin is an
error that names it.
"""

from __future__ import annotations

from typing import Any

from curata.core.plugins import Registry
from curata.redteam.strategies.base import (
    Judge,
    Send,
    Strategy,
    StrategyContext,
    StrategyError,
    StrategyParams,
    Turn,
    attempt_verdict,
)

GROUP = "curata.strategies"

STRATEGIES: Registry[type[Strategy]] = Registry(GROUP, Strategy, "strategy")


def make_strategy(name: str, params: dict[str, Any] | None = None) -> Strategy:
    """The strategy called ``name`` with ``params`` checked strictly; an unknown name lists
    the known ones."""
    return STRATEGIES.get(name).create(params)


__all__ = [
    "GROUP",
    "STRATEGIES",
    "Judge",
    "Send",
    "Strategy",
    "StrategyContext",
    "StrategyError",
    "StrategyParams",
    "Turn",
    "attempt_verdict",
    "make_strategy",
]
