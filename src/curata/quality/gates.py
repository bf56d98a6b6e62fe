"""The numbers quality gates compare against, measured from what the quality report reads.

:func:`measure` computes them from the same :class:`~curata.quality.report.ProjectAnnotations`
the quality report reads, with the same statistics, so a gate and the report never disagree on
one quantity: alpha and the annotation counts read the final labels after review, gold accuracy
each annotator's answers as submitted (:mod:`curata.annotation.final`). The gates themselves
(parsing, comparing) are :mod:`curata.annotation.gates`; the release is handed
:meth:`curata.quality.service.QualityService.gate_metrics`, which reads the project and
measures it.
"""

from __future__ import annotations

from typing import Any

from curata.quality.report import ProjectAnnotations, live_ratings
from curata.questions.agreement import gate_alpha
from curata.stats.agreement import AgreementError
from curata.stats.proportions import gold_checks


def measure(data: ProjectAnnotations, questions: set[str]) -> dict[str, Any]:
    """The numbers gates compare against, from what the quality report reads.

    Krippendorff's alpha per question in ``questions`` at the level that fits its type
    (:func:`curata.questions.agreement.gate_alpha`, the alpha the report shows) on the live
    items' final answers; the share of gold answers that were right (each annotator's
    answers as submitted); the fewest annotations any labelled live item has.
    """
    alpha: dict[str, float | None] = {}
    levels: dict[str, str] = {}
    by_name = {q["name"]: q for q in data.questions}
    for name in sorted(questions):
        if name not in by_name:
            alpha[name], levels[name] = None, "the project's schema has no such question"
            continue
        try:
            alpha[name], levels[name] = gate_alpha(by_name[name], live_ratings(data, name))
        except AgreementError as exc:
            alpha[name], levels[name] = None, str(exc)
    right = total = 0
    counts: dict[int, int] = {}
    for row in data.rows:
        known = row.known  # a gold item, or a gold record met live
        if known is not None:
            for _, correct in gold_checks(row.submitted, known):
                total += 1
                right += correct
        if row.kind == "live":
            counts[row.task_id] = counts.get(row.task_id, 0) + 1
    return {
        "alpha": alpha,
        "alpha_levels": levels,
        "gold_accuracy": right / total if total else None,
        "gold_answers": total,
        "gold_right": right,
        "min_annotations": min(counts.values()) if counts else None,
        "annotation_counts": list(counts.values()),
    }
