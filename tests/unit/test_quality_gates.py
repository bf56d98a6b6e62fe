"""Release gates measure what the quality report shows: the same alpha for a question's type,
on the same labels (checked against Krippendorff's published example)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from curata.annotation.final import CountedAnnotation
from curata.annotation.gates import evaluate
from curata.quality.gates import measure
from curata.quality.report import ProjectAnnotations
from curata.store.tables import UserRow

# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", section C: observers A-D,
# units 1-12 ("." = missing); published alpha nominal .743, interval .849.
OBSERVERS = {
    "A": "1 2 3 3 2 1 4 1 2 . . .",
    "B": "1 2 3 3 2 2 4 1 2 5 . 3",
    "C": ". 3 3 3 2 3 4 2 2 5 1 .",
    "D": "1 2 3 3 2 4 4 1 2 5 1 .",
}
WHEN = datetime(2026, 1, 1, tzinfo=UTC)


def _row(n: int, task: int, user: int, answers: dict, kind: str = "live", gold=None):
    return CountedAnnotation(n, task, user, answers, answers, None, WHEN, kind, gold)


def _data(questions: list[dict], rows: list[CountedAnnotation]) -> ProjectAnnotations:
    users = {u: UserRow(id=u, name=f"u{u}") for u in {r.user_id for r in rows}}
    return ProjectAnnotations("p", set(), questions, rows, users, {}, {}, [])


def _krippendorff_rows() -> list[CountedAnnotation]:
    rows = []
    for user, line in enumerate(OBSERVERS.values()):
        for unit, value in enumerate(line.split()):
            if value != ".":
                rows.append(_row(len(rows), unit, user, {"score": int(value)}))
    return rows


def test_a_rating_gate_reads_the_interval_alpha_and_a_label_gate_the_nominal_one() -> None:
    rows = _krippendorff_rows()
    rating = _data([{"type": "rating", "name": "score", "points": 5}], rows)
    metrics = measure(rating, {"score"})
    assert metrics["alpha"]["score"] == pytest.approx(0.849, abs=5e-4)
    [gate] = evaluate({"alpha": {"score": 0.9}}, metrics)
    assert gate.metric == "interval" and not gate.passed
    assert gate.describe().startswith("alpha[score] (interval) >= 0.9: measured 0.849 on final")
    labels = [
        _row(r.annotation_id, r.task_id, r.user_id, {"score": str(r.answers["score"])})
        for r in rows
    ]
    label = _data([{"type": "label", "name": "score", "labels": list("12345")}], labels)
    assert measure(label, {"score"})["alpha"]["score"] == pytest.approx(0.743, abs=5e-4)


def test_gold_accuracy_scores_a_preference_on_its_choice() -> None:
    gold = {"better": {"choice": "A", "strength": 2}}
    rows = [
        _row(1, 1, 1, {"better": {"choice": "A", "strength": 1}}, "gold", gold),
        _row(2, 1, 2, {"better": {"choice": "B", "strength": 2}}, "gold", gold),
    ]
    data = _data([{"type": "preference", "name": "better", "strength_levels": 2}], rows)
    metrics = measure(data, set())
    assert (metrics["gold_right"], metrics["gold_answers"]) == (1, 2)
    [gate] = evaluate({"gold_accuracy": 0.5}, metrics)
    assert gate.passed and "answers as submitted" in gate.describe()


def test_a_gate_on_a_question_the_schema_lost_is_not_measurable() -> None:
    data = _data([{"type": "label", "name": "topic", "labels": ["x"]}], [])
    [gate] = evaluate({"alpha": {"tone": 0.5}}, measure(data, {"tone"}))
    assert not gate.passed
    assert "not measurable (the project's schema has no such question)" in gate.describe()
