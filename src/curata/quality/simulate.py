"""Simulated annotators with known behaviour, for validating the quality layer on a project.

:meth:`curata.quality.service.QualityService.simulate` adds annotators whose answers follow
planted confusion patterns to a project with a single-choice ``label`` question, and lets them
work through the real queue (``next_task`` / ``submit``, with simulated submission times). The
truth of every item is drawn from the seed, gold items get the truth as their answer, and the
result says who was planted as what, so a report's flags can be scored against it. This module
holds the plan's checks and the answer model; the service does the planting.

Roles: ``good`` (right 90% of the time), ``careless`` (right 40%), ``spammer`` (always the
first label), ``adversarial`` (never right: a fixed wrong label for each truth), ``drifter``
(good until the drift date, careless from then on; the date is ``drift_after`` of the way
through the expected labelling time).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from curata.core.errors import ValidationError
from curata.core.ids import canonical_json
from curata.core.records import Record
from curata.questions import parse_question
from curata.questions.base import QuestionType
from curata.store.tables import utcnow
from curata.timeutil import iso

ROLES = ("good", "careless", "spammer", "adversarial", "drifter")
ACCURACY = {"good": 0.9, "careless": 0.4}
BAD = ("careless", "spammer", "adversarial")


@dataclass
class Simulation:
    """Who was planted as what, the truth of every record, and how many labels were given."""

    project: str
    question: str
    roles: dict[str, str]
    truth: dict[str, Any]
    labels: int = 0
    gold_items: int = 0
    started: datetime = field(default_factory=utcnow)
    drift_at: datetime | None = None

    @property
    def bad(self) -> list[str]:
        return sorted(name for name, role in self.roles.items() if role in BAD)

    @property
    def drifting(self) -> list[str]:
        return sorted(name for name, role in self.roles.items() if role == "drifter")

    def to_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "question": self.question,
            "roles": self.roles,
            "bad": self.bad,
            "drifting": self.drifting,
            "drift_at": iso(self.drift_at),
            "labels": self.labels,
            "gold_items": self.gold_items,
        }


def check_plan(counts: dict[str, int], *, drift_after: float) -> None:
    """Refuse unknown roles, fewer than two annotators, or a drift date outside the run."""
    unknown = set(counts) - set(ROLES)
    if unknown:
        raise ValidationError(f"role {sorted(unknown)[0]!r} is not one of {', '.join(ROLES)}")
    if sum(counts.values()) < 2:
        raise ValidationError("plant at least two annotators")
    if not 0.0 < drift_after < 1.0:
        raise ValidationError("drift_after: must be between 0 and 1")


def simulated_question(project: str, questions: list[dict[str, Any]]) -> QuestionType:
    """The project's one single-choice label question (the only kind the simulated annotators
    answer)."""
    labels_q = [q for q in questions if q["type"] == "label" and not q.get("multiple")]
    if len(questions) != 1 or not labels_q:
        raise ValidationError(
            f"project {project!r}: simulation needs exactly one single-choice label question"
        )
    question = parse_question(labels_q[0])
    if len(question.classes() or []) < 2:
        raise ValidationError(f"question '{question.name}' needs at least two labels")
    return question


def answer(role: str, truth: Any, question: QuestionType, rng: random.Random) -> Any:
    """What an annotator planted as ``role`` answers on an item whose truth is ``truth``: a
    spammer the question's first class, an adversary the class after the truth, the others
    the question's own simulated answer at their role's accuracy."""
    choices = question.classes() or []
    if role == "spammer":
        return choices[0]
    if role == "adversarial":
        return choices[(choices.index(truth) + 1) % len(choices)]
    return question.simulate(truth, rng, accuracy=ACCURACY[role])


def record_key(record: dict[str, Any]) -> str:
    """A record's content as the queue shows it, as canonical JSON (the queue names no ids)."""
    content = {k: v for k, v in record.items() if k != "metadata"}
    if content.get("kind") == "pairwise":  # candidates are shown blind, in their own order
        content["responses"] = sorted(r["text"] for r in content["responses"])
    return canonical_json(content)


def record_ids(batches: Iterable[list[tuple[str, Record]]]) -> dict[str, str]:
    """Record id by :func:`record_key` of the record, over a version's ``(id, record)``
    batches."""
    out: dict[str, str] = {}
    for batch in batches:
        for rid, record in batch:
            out[record_key({"kind": record.kind, **record.content()})] = rid
    return out
