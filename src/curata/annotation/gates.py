"""Quality gates: thresholds a project declares and a release must meet (pure functions).

A project's ``settings["gates"]`` is ``{"alpha": {question: minimum}, "gold_accuracy":
minimum, "min_annotations": N}`` (each part optional); :func:`parse_gates` validates it.
:func:`evaluate` compares the gates with the measured numbers and says, for each, what was
needed, what was measured, on which labels, and by how much it falls short. The numbers come
from the quality service (``ws.quality.gate_metrics``, which reads what the quality report
reads and calls :func:`curata.quality.gates.measure`); the workspace hands it to the release
service, so that annotation needs nothing from the quality package.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from curata.annotation.final import FINAL_LABELS, SUBMITTED_LABELS
from curata.core.errors import ValidationError
from curata.stats.proportions import wilson_interval

KEYS = ("alpha", "gold_accuracy", "min_annotations")

GateMetrics = Callable[[str, set[str]], dict[str, Any]]
"""What the release asks for a project's gate numbers: ``(project name, questions whose alpha
is gated) -> metrics`` in the form :func:`evaluate` reads."""

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
    metric: str = ""
    """The statistic's level where it has one (``nominal``, ``interval``...)."""
    labels: str = FINAL_LABELS
    """Which answers the measure read (see :mod:`curata.annotation.final`)."""

    @property
    def shortfall(self) -> float | None:
        if self.passed or self.measured is None:
            return None
        return self.required - self.measured

    def describe(self) -> str:
        """One line: the gate, what it needed, what was measured and on which labels."""
        name = f"{self.gate} ({self.metric})" if self.metric else self.gate
        on = "final labels after review" if self.labels == FINAL_LABELS else "answers as submitted"
        if self.measured is None:
            return f"{name} >= {self.required:g}: not measurable ({self.detail})"
        state = "passed" if self.passed else f"FAILED, short by {self.shortfall:.3f}"
        extra = f"; {self.detail}" if self.detail else ""
        return f"{name} >= {self.required:g}: measured {self.measured:.3f} on {on} ({state}{extra})"

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "shortfall": self.shortfall}


def _gold_detail(metrics: dict[str, Any]) -> str:
    answered = metrics["gold_answers"]
    low, high = wilson_interval(metrics.get("gold_right", 0), answered)
    return f"{answered} gold answers, 95% Wilson interval {low:.2f}-{high:.2f}"


def evaluate(gates: dict[str, Any], metrics: dict[str, Any]) -> list[GateResult]:
    """Each declared gate against the measured numbers; an unmeasurable gate fails."""
    out: list[GateResult] = []
    levels = metrics.get("alpha_levels", {})
    for name, minimum in sorted((gates.get("alpha") or {}).items()):
        value = metrics["alpha"].get(name)
        level = levels.get(name, "")
        known = level in ("nominal", "ordinal", "interval", "ratio")
        out.append(
            GateResult(
                f"alpha[{name}]",
                minimum,
                value,
                value is not None and value >= minimum,
                ""
                if value is not None
                else (level if level and not known else "no item has two answers to it"),
                metric=level if known else "",
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
                labels=SUBMITTED_LABELS,
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
