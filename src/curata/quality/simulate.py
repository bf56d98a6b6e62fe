"""Simulated annotators with known behaviour, for validating the quality layer on a project.

``simulate_annotators`` adds annotators whose answers follow planted confusion patterns to a
project with a single-choice ``label`` question, and lets them work through the real queue
(``next_task`` / ``submit``, with simulated submission times). The truth of every item is drawn
from the seed, gold items get the truth as their answer, and the result says who was planted
as what, so a report's flags can be scored against it.

Roles: ``good`` (right 90% of the time), ``careless`` (right 40%), ``spammer`` (always the
first label), ``adversarial`` (never right: a fixed wrong label for each truth), ``drifter``
(good until the drift date, careless from then on; the date is ``drift_after`` of the way
through the expected labelling time).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from curata.core.errors import AlreadyExistsError, ValidationError
from curata.store.tables import utcnow
from curata.timeutil import iso

if TYPE_CHECKING:
    from curata.workspace import Workspace

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


def simulate_annotators(
    ws: Workspace,
    project: str,
    counts: dict[str, int],
    *,
    seed: int = 0,
    gold_fraction: float = 0.05,
    seconds_per_label: int = 30,
    prefix: str = "sim",
    drift_after: float = 0.5,
) -> Simulation:
    """Plant annotators (``counts``: role → how many) on ``project`` and let them label it."""
    unknown = set(counts) - set(ROLES)
    if unknown:
        raise ValidationError(f"role {sorted(unknown)[0]!r} is not one of {', '.join(ROLES)}")
    if sum(counts.values()) < 2:
        raise ValidationError("plant at least two annotators")
    if not 0.0 < drift_after < 1.0:
        raise ValidationError("drift_after: must be between 0 and 1")
    info = ws.projects.get(project)
    questions = info.schema["questions"]
    labels_q = [q for q in questions if q["type"] == "label" and not q.get("multiple")]
    if len(questions) != 1 or not labels_q:
        raise ValidationError(
            f"project {project!r}: simulation needs exactly one single-choice label question"
        )
    question, choices = labels_q[0]["name"], list(labels_q[0]["labels"])
    if len(choices) < 2:
        raise ValidationError(f"question '{question}' needs at least two labels")
    if gold_fraction > 0 and info.gold_share == 0:
        raise ValidationError(
            f"project {project!r} serves no gold items (gold share 0), so simulated gold would "
            "never be answered: create it with --gold-share, or simulate with --gold-fraction 0"
        )
    rng = random.Random(seed)
    records = [rid for batch in ws.datasets.iter_records(info.version) for rid, _ in batch]
    truth = {rid: rng.choice(choices) for rid in records}
    gold = records[: max(1, int(len(records) * gold_fraction))] if gold_fraction > 0 else []
    if gold:
        try:
            ws.projects.add_gold_items(project, [(rid, {question: truth[rid]}) for rid in gold])
        except AlreadyExistsError:
            raise ValidationError(
                f"project {project!r} already has gold items (an earlier simulation?): simulate "
                "on a fresh project, or with --gold-fraction 0"
            ) from None
    roles: dict[str, str] = {}
    for role in ROLES:
        for i in range(counts.get(role, 0)):
            name = f"{prefix}-{seed}-{role}-{i + 1}"
            ws.workforce.add_user(name, cohorts=[f"{prefix}-{seed}"])
            roles[name] = role
    ws.projects.add_members(project, list(roles))
    sim = Simulation(project, question, roles, truth, gold_items=len(gold))
    clock = sim.started
    ws.queue.reseed(seed)
    expected = (len(records) - len(gold)) * min(info.overlap, len(roles)) * seconds_per_label
    sim.drift_at = clock + timedelta(seconds=expected * drift_after)
    active = list(roles)
    text_to_id = _record_ids(ws, info.version)
    while active:
        rng.shuffle(active)
        for name in list(active):
            view = ws.queue.next_task(project, name, now=clock)
            if view is None:
                active.remove(name)
                continue
            rid = text_to_id[_key(view.record)]
            role = roles[name]
            if role == "drifter":
                role = "good" if clock < sim.drift_at else "careless"
            said = _answer(role, truth[rid], choices, rng)
            clock += timedelta(seconds=seconds_per_label)
            ws.queue.submit(view.assignment_id, name, {question: said}, now=clock)
            sim.labels += 1
    return sim


def _answer(role: str, truth: Any, choices: list[Any], rng: random.Random) -> Any:
    if role == "spammer":
        return choices[0]
    if role == "adversarial":
        return choices[(choices.index(truth) + 1) % len(choices)]
    if rng.random() < ACCURACY[role]:
        return truth
    return rng.choice([c for c in choices if c != truth])


def _key(record: dict[str, Any]) -> str:
    from curata.core.ids import canonical_json

    content = {k: v for k, v in record.items() if k != "metadata"}
    if content.get("kind") == "pairwise":  # candidates are shown blind, in their own order
        content["responses"] = sorted(r["text"] for r in content["responses"])
    return canonical_json(content)


def _record_ids(ws: Workspace, version: str) -> dict[str, str]:
    """Record id by the record's content as the queue shows it (the queue does not name ids)."""
    out: dict[str, str] = {}
    for batch in ws.datasets.iter_records(version):
        for rid, record in batch:
            out[_key({"kind": record.kind, **record.content()})] = rid
    return out
