"""Targets: the model endpoints attacks are sent to, registered under ``curata.targets``.

A target (:mod:`.base`) implements one method, ``complete(conversation) -> Reply``; the
:class:`~curata.redteam.targets.runner.TargetRunner` owns everything around it (concurrency,
rate limit, timeout, retries, budget, outcomes, statistics). Built-ins: ``openai`` (any
OpenAI-compatible endpoint over HTTP), ``callable`` (a Python function) and ``scripted`` (a
rule-based test double, also served over HTTP by :func:`.scripted.serve_scripted`).
:data:`TARGETS` loads every registered target class by name; a broken plugin is an error that
names it (:class:`curata.core.plugins.Registry`).
"""

from __future__ import annotations

from typing import Any

from curata.core.plugins import Registry, parse_params
from curata.redteam.targets.base import (
    Conversation,
    Message,
    Reply,
    Target,
    TargetError,
    TargetParams,
    TransientError,
    Usage,
    conversation,
)
from curata.redteam.targets.runner import (
    Outcome,
    RunnerParams,
    RunnerStats,
    TargetResult,
    TargetRunner,
    run_sync,
)

GROUP = "curata.targets"

TARGETS: Registry[type[Target]] = Registry(GROUP, Target, "target")


def registry() -> dict[str, type[Target]]:
    """Every registered target class by name (loaded once)."""
    return dict(TARGETS.load())


def make_target(name: str, params: dict[str, Any]) -> Target:
    """The target called ``name`` with ``params`` as a configuration file gives them, checked
    strictly; an unknown name lists the known ones."""
    cls = TARGETS.get(name)
    return cls(parse_params(cls, params))


def target_from_spec(spec: str) -> Target:
    """A target from its command-line form: ``name`` or ``name:key=value,...`` (e.g.
    ``openai:base_url=http://127.0.0.1:8000/v1,model=m``), parameters checked strictly."""
    from curata.redteam.converters.chain import parse_spec

    cls, params = parse_spec(spec, TARGETS, "target")
    return cls(params)


__all__ = [
    "GROUP",
    "TARGETS",
    "Conversation",
    "Message",
    "Outcome",
    "Reply",
    "RunnerParams",
    "RunnerStats",
    "Target",
    "TargetError",
    "TargetParams",
    "TargetResult",
    "TargetRunner",
    "TransientError",
    "Usage",
    "conversation",
    "make_target",
    "registry",
    "run_sync",
    "target_from_spec",
]
