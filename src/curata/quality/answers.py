"""Answers as people wrote them: what tables and charts show for an answer value."""

from __future__ import annotations

from typing import Any


def answer_text(value: Any) -> str:
    """A readable form of one answer: a label as is, ``A, strength 2`` for a preference,
    ``refuse: violence`` or ``comply`` for a refusal, ranks joined by commas, and any other
    object as ``key: value`` pairs in key order."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return f"{value:g}" if isinstance(value, float) else str(value)
    if isinstance(value, list):
        return ", ".join(answer_text(v) for v in value)
    if isinstance(value, dict):
        if "choice" in value:
            strength = value.get("strength")
            choice = answer_text(value["choice"])
            return choice if strength is None else f"{choice}, strength {answer_text(strength)}"
        if "should_refuse" in value:
            if not value["should_refuse"]:
                return "comply"
            category = value.get("category")
            return f"refuse: {answer_text(category)}" if category else "refuse"
        return ", ".join(f"{k}: {answer_text(v)}" for k, v in sorted(value.items()))
    return "" if value is None else str(value)
