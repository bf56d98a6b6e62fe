"""Quality gates: thresholds a project declares and a release must meet (pure functions).

A project's ``settings["gates"]`` is ``{"alpha": {question: minimum}, "gold_accuracy":
minimum, "min_annotations": N}`` (each part optional). :func:`measure` computes the numbers
from a release's inputs; :func:`evaluate` compares them with the gates and says, for each,
what was needed, what was measured and by how much it falls short.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from curata.core.errors import ValidationError
from curata.core.ids import canonical_json
from curata.quality.agreement import AgreementError, krippendorff_alpha
from curata.quality.stats import gold_checks, wilson_interval

KEYS = ("alpha", "gold_accuracy", "min_annotations")


def parse_gates(gates: dict[str, Any], questions: set[str]) -> dict[str, Any]:
    """Validated gates (errors name the field path)."""
    unknown = set(gates) - set(KEYS)
    if unknown:
        raise ValidationError(
            f"gates: unknown gate {sorted(unknown)[0]!r} (known: {', '.join(KEYS)})"
        )
    out: dict[str, Any] = {}
    alpha = gates.get("alpha") or {}
    if not isinstance(alpha, dict):
        raise ValidationError("gates.alpha: must map question names to minimums")
    for name, minimum in alpha.items():
        if name not in questions:
            raise ValidationError(
                f"gates.alpha.{name}: no such question (questions: {', '.join(sorted(questions))})"
            )
        out.setdefault("alpha", {})[name] = _share(minimum, f"gates.alpha.{name}", low=-1.0)
    if gates.get("gold_accuracy") is not None:
        out["gold_accuracy"] = _share(gates["gold_accuracy"], "gates.gold_accuracy")
    if gates.get("min_annotations") is not None:
        n = gates["min_annotations"]
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValidationError("gates.min_annotations: must be a whole number >= 1")
        out["min_annotations"] = n
    return out


def _share(value: Any, where: str, *, low: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(f"{where}: must be a number")
    if not low <= float(value) <= 1.0:
        raise ValidationError(f"{where}: must be in [{low:g}, 1]")
    return float(value)


@dataclass(frozen=True)
class GateResult:
    """One gate: what was needed, what was measured, and whether it passed."""

    gate: str
    required: float
    measured: float | None
    passed: bool
    detail: str = ""

    @property
    def shortfall(self) -> float | None:
        if self.passed or self.measured is None:
            return None
        return self.required - self.measured

    def describe(self) -> str:
        if self.measured is None:
            return f"{self.gate} >= {self.required:g}: not measurable ({self.detail})"
        state = "passed" if self.passed else f"FAILED, short by {self.shortfall:.3f}"
        extra = f"; {self.detail}" if self.detail else ""
        return f"{self.gate} >= {self.required:g}: measured {self.measured:.3f} ({state}{extra})"

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "shortfall": self.shortfall}


def measure(
    items: list[list[tuple[int, dict[str, Any]]]],
    gold: list[tuple[int, dict[str, Any], dict[str, Any]]],
    questions: set[str],
) -> dict[str, Any]:
    """The numbers gates compare against.

    ``items``: each live item's answer sets that count, with who gave them; ``gold``: each
    answer on a gold item as (annotator, answers, gold answers). Returns Krippendorff's alpha
    (nominal, on canonical answers) per question, the share of gold answers that were right,
    and the fewest annotations any labelled item has.
    """
    alpha: dict[str, float | None] = {}
    users = sorted({u for item in items for u, _ in item})
    column = {u: j for j, u in enumerate(users)}
    for name in sorted(questions):
        codes: dict[str, int] = {}
        data = np.full((len(items), max(1, len(users))), np.nan)
        for i, item in enumerate(items):
            for user, answers in item:
                if name in answers:
                    code = codes.setdefault(canonical_json(answers[name]), len(codes))
                    data[i, column[user]] = code
        try:
            alpha[name] = krippendorff_alpha(data, "nominal")
        except AgreementError:
            alpha[name] = None
    right = total = 0
    for _, answers, want in gold:
        for _, correct in gold_checks(answers, want):
            total += 1
            right += correct
    counts = [len(item) for item in items if item]
    return {
        "alpha": alpha,
        "gold_accuracy": right / total if total else None,
        "gold_answers": total,
        "gold_right": right,
        "min_annotations": min(counts) if counts else None,
        "annotation_counts": counts,
    }


def _gold_detail(metrics: dict[str, Any]) -> str:
    answered = metrics["gold_answers"]
    low, high = wilson_interval(metrics.get("gold_right", 0), answered)
    return f"{answered} gold answers, 95% Wilson interval {low:.2f}-{high:.2f}"


def evaluate(gates: dict[str, Any], metrics: dict[str, Any]) -> list[GateResult]:
    """Each declared gate against the measured numbers; an unmeasurable gate fails."""
    out: list[GateResult] = []
    for name, minimum in sorted((gates.get("alpha") or {}).items()):
        value = metrics["alpha"].get(name)
        out.append(
            GateResult(
                f"alpha[{name}]",
                minimum,
                value,
                value is not None and value >= minimum,
                "" if value is not None else "no item has two answers to it",
            )
        )
    if "gold_accuracy" in gates:
        value = metrics["gold_accuracy"]
        out.append(
            GateResult(
                "gold_accuracy",
                gates["gold_accuracy"],
                value,
                value is not None and value >= gates["gold_accuracy"],
                _gold_detail(metrics) if value is not None else "no gold answers",
            )
        )
    if "min_annotations" in gates:
        need = gates["min_annotations"]
        value = metrics["min_annotations"]
        short = sum(c < need for c in metrics["annotation_counts"])
        out.append(
            GateResult(
                "min_annotations",
                float(need),
                None if value is None else float(value),
                value is not None and value >= need,
                f"{short} items have fewer" if value is not None else "no labelled items",
            )
        )
    return out
