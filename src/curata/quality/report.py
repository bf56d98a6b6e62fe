"""A project's quality report: gold accuracy (with Wilson intervals) and agreement with the
consensus, per annotator, cohort, vendor or guideline version, with flags.

The consensus an annotator is compared with is the item's released label
(:func:`curata.annotation.final.item_labels`: by default Dawid-Skene with the release's gold
clamping, Dirichlet prior and outside-votes policy), so the report and the release give one
label per item. Annotators' estimated accuracy is a separate Dawid-Skene fit on their own
answers as submitted with 0.01 pseudo-counts (:func:`estimated_accuracy`): the release's prior
(a prior accuracy of about 0.79) would pull a spammer's estimate toward it and hide them.

:func:`read_annotations` and :func:`release_consensus` read a project inside the caller's
transaction; :func:`quality_report` computes the report from what they read, with the pure
statistics of :mod:`curata.stats.agreement`, :mod:`curata.stats.aggregation` and
:mod:`curata.stats.proportions`. :class:`curata.quality.service.QualityService` does both.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from curata.annotation.aggregation import METHODS, vote_key
from curata.annotation.final import (
    FINAL_LABELS,
    SUBMITTED_LABELS,
    CountedAnnotation,
    adjudications,
    consensus_statement,
    counted_annotations,
    item_labels,
)
from curata.annotation.projects import project_row
from curata.annotation.schema import categorical_questions
from curata.core.errors import ValidationError
from curata.core.ids import canonical_json
from curata.quality.answers import answer_text
from curata.stats.aggregation import dawid_skene
from curata.stats.proportions import gold_checks, strength_checks, wilson_interval
from curata.store.tables import (
    CohortMemberRow,
    CohortRow,
    GuidelineRow,
    ProjectSchemaRow,
    UserRow,
    VendorRow,
)

GROUPINGS = ("annotator", "cohort", "vendor", "guideline")


@dataclass
class GroupQuality:
    """Quality numbers for one annotator (or cohort, vendor, guideline version)."""

    group: str
    annotations: int = 0
    gold_answered: int = 0
    gold_correct: int = 0
    consensus_answered: int = 0
    consensus_agreed: int = 0
    estimated_accuracy: float | None = None  # Dawid-Skene (annotators only)
    flags: list[str] = field(default_factory=list)
    gold_by_question: dict[str, list[int]] = field(default_factory=dict)  # [right, answered]
    gold_strength: dict[str, list[int]] = field(default_factory=dict)  # [compared, |diff|, exact]

    def to_dict(self, confidence: float = 0.95) -> dict[str, Any]:
        low, high = wilson_interval(self.gold_correct, self.gold_answered, confidence)
        c_low, c_high = wilson_interval(self.consensus_agreed, self.consensus_answered, confidence)
        return {
            "group": self.group,
            "annotations": self.annotations,
            "gold_answered": self.gold_answered,
            "gold_accuracy": self.gold_correct / self.gold_answered if self.gold_answered else None,
            "gold_low": low if self.gold_answered else None,
            "gold_high": high if self.gold_answered else None,
            "consensus_answered": self.consensus_answered,
            "consensus_agreement": (
                self.consensus_agreed / self.consensus_answered if self.consensus_answered else None
            ),
            "consensus_low": c_low if self.consensus_answered else None,
            "consensus_high": c_high if self.consensus_answered else None,
            "estimated_accuracy": self.estimated_accuracy,
            "flags": self.flags,
            "gold_by_question": {
                name: _proportion(right, answered, confidence)
                for name, (right, answered) in sorted(self.gold_by_question.items())
            },
            "gold_strength": {
                name: {"compared": n, "mean_abs_diff": diff / n, "exact": exact / n}
                for name, (n, diff, exact) in sorted(self.gold_strength.items())
            },
        }


def _proportion(hits: int, n: int, confidence: float) -> dict[str, Any]:
    low, high = wilson_interval(hits, n, confidence)
    return {"answered": n, "accuracy": hits / n if n else None, "low": low, "high": high}


@dataclass(frozen=True)
class Thresholds:
    """When an annotator is flagged: their gold accuracy's upper Wilson bound, or their
    Dawid-Skene accuracy, falls below these (with enough answers to judge)."""

    gold_accuracy: float = 0.7
    estimated_accuracy: float = 0.6
    min_gold: int = 5
    min_answers: int = 10


@dataclass
class ProjectAnnotations:
    """A project's counted annotations with who made them (see :mod:`curata.annotation.final`).

    ``rows``: the annotations that count, oldest first, each with its final answers
    (``answers``) and the annotator's own (``submitted``); ``adjudicated``: each adjudicated
    item's settled answers.
    """

    project: str
    categorical: set[str]
    questions: list[dict[str, Any]]  # the schema's questions, in order
    rows: list[CountedAnnotation]
    users: dict[int, UserRow]
    vendors: dict[int, str]
    cohorts: dict[int, list[str]]
    guidelines: list[tuple[int, Any]]  # (version, published_at), oldest first
    adjudicated: dict[int, dict[str, Any]] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)  # the project's

    def key(self, name: str, value: Any) -> str:
        """An answer to question ``name`` as it is compared with gold or the consensus
        (canonical JSON; a preference by its choice)."""
        return canonical_json(vote_key(self.types.get(name), value))

    @cached_property
    def types(self) -> dict[str, str]:
        """Each question's type, by name."""
        return {q["name"]: q.get("type", "") for q in self.questions}


def read_annotations(session: Session, project_name: str) -> ProjectAnnotations:
    """Everything the quality reports and gates read, inside the caller's transaction."""
    project = project_row(session, project_name)
    schema = session.get(ProjectSchemaRow, (project.id, project.schema_version))
    assert schema is not None
    rows = counted_annotations(session, project_id=project.id)
    users = {u.id: u for u in session.scalars(select(UserRow))}
    vendors = {v.id: v.name for v in session.scalars(select(VendorRow))}
    cohorts: dict[int, list[str]] = defaultdict(list)
    for user_id, name in session.execute(
        select(CohortMemberRow.user_id, CohortRow.name).join(
            CohortRow, CohortRow.id == CohortMemberRow.cohort_id
        )
    ):
        cohorts[user_id].append(name)
    guidelines = [
        (version, published)
        for version, published in session.execute(
            select(GuidelineRow.version, GuidelineRow.published_at)
            .where(GuidelineRow.project_id == project.id)
            .order_by(GuidelineRow.version)
        )
    ]
    return ProjectAnnotations(
        project_name,
        categorical_questions(schema.schema),
        list(schema.schema.get("questions", [])),
        rows,
        users,
        vendors,
        dict(cohorts),
        guidelines,
        adjudications(session, project_id=project.id),
        dict(project.settings or {}),
    )


Consensus = dict[tuple[int, str], str]
"""(live task, single-choice question) -> the item's label as canonical JSON (a preference's
choice); an item without a label (a tie, a held label) has none."""


def release_consensus(session: Session, project_name: str, *, method: str) -> Consensus:
    """Each live item's label per single-choice question, exactly as a release by ``method``
    with the project's settings gives it (:func:`curata.annotation.final.item_labels`)."""
    if method not in METHODS:
        raise ValidationError(f"method: {method!r} is not one of {', '.join(METHODS)}")
    project = project_row(session, project_name)
    schema = session.get(ProjectSchemaRow, (project.id, project.schema_version))
    assert schema is not None
    categorical = categorical_questions(schema.schema)
    types = {q["name"]: q.get("type") for q in schema.schema.get("questions", [])}
    return {
        (item.task_id, name): canonical_json(vote_key(types.get(name), label["value"]))
        for item in item_labels(session, project, method=method)
        for name, label in item.combined.items()
        if name in categorical and label["value"] is not None
    }


def labels_used(
    method: str = "dawid-skene", settings: dict[str, Any] | None = None
) -> dict[str, str]:
    """Which answers each part of a report reads (stated in every report's output)."""
    consensus = consensus_statement(method, settings or {})
    return {
        "agreement": FINAL_LABELS,
        "annotators": (
            f"{SUBMITTED_LABELS}; the item's final label is {consensus}; estimated accuracy is "
            "a Dawid-Skene fit of the annotators' own answers with 0.01 pseudo-counts (the "
            "release's prior would pull a spammer's estimate toward 0.79)"
        ),
        "consensus": consensus,
    }


def check_grouping(by: str) -> None:
    """Refuse a grouping the report does not know."""
    if by not in GROUPINGS:
        raise ValidationError(f"by: {by!r} is not one of {', '.join(GROUPINGS)}")


def quality_report(
    data: ProjectAnnotations,
    consensus: Consensus,
    *,
    by: str = "annotator",
    confidence: float = 0.95,
    thresholds: Thresholds | None = None,
    samples: int = 200,
    texts: TextsFn | None = None,
    method: str = "dawid-skene",
) -> dict[str, Any]:
    """The report on a project's annotations as plain data (see :class:`GroupQuality` for the
    fields), with agreement per question (:func:`question_agreements`; ``samples`` bootstrap
    replicates, ``texts`` for span questions), agreement over time per cohort and confusion
    matrices. People are compared with ``consensus``, the labels a release by ``method`` gives
    (:func:`release_consensus`; ``method`` only names it in the output)."""
    check_grouping(by)
    limits = thresholds or Thresholds()
    project_name = data.project
    rows, categorical, users = data.rows, data.categorical, data.users
    vendors, cohorts = data.vendors, data.cohorts
    estimated = estimated_accuracy(data)

    def groups_of(user_id: int, guideline: int | None) -> list[str]:
        user = users[user_id]
        if by == "annotator":
            return [user.name]
        if by == "cohort":
            return sorted(cohorts.get(user_id, [])) or ["(no cohort)"]
        if by == "vendor":
            return [vendors[user.vendor_id] if user.vendor_id else "(internal)"]
        return [f"{project_name}@v{guideline}" if guideline else "(no guideline)"]

    table: dict[str, GroupQuality] = {}
    for row in rows:
        if row.copied:  # the annotator's gold or calibration answer: scored once, there
            continue
        answers, gold = row.submitted, row.known  # a gold item, or a gold record met live
        for group in groups_of(row.user_id, row.guideline_version):
            g = table.setdefault(group, GroupQuality(group))
            g.annotations += 1
            if gold:
                for name, right in gold_checks(answers, gold):
                    g.gold_answered += 1
                    g.gold_correct += right
                    tally = g.gold_by_question.setdefault(name, [0, 0])
                    tally[0] += right
                    tally[1] += 1
                for name, off in strength_checks(answers, gold):
                    tally = g.gold_strength.setdefault(name, [0, 0, 0])
                    tally[0] += 1
                    tally[1] += off
                    tally[2] += off == 0
            elif row.kind == "live":
                for name in categorical & set(answers):
                    label = consensus.get((row.task_id, name))
                    if label is not None:
                        g.consensus_answered += 1
                        g.consensus_agreed += data.key(name, answers[name]) == label
    if by == "annotator":
        for user_id, value in estimated.items():
            name = users[user_id].name
            if name in table:
                table[name].estimated_accuracy = value
        for g in table.values():
            _flag(g, limits, confidence)
    report = [g.to_dict(confidence) for g in sorted(table.values(), key=lambda g: g.group)]
    from curata.quality.drift import agreement_over_time

    return {
        "project": project_name,
        "by": by,
        "labels": labels_used(method, data.settings),
        "method": method,
        "confidence": confidence,
        "thresholds": limits.__dict__,
        "groups": report,
        "flagged": [g["group"] for g in report if g["flags"]],
        "agreement": question_agreements(data, texts, samples=samples, confidence=confidence),
        "over_time": agreement_over_time(data, "cohort", consensus=consensus),
        "confusion": confusion_matrices(data, consensus),
    }


TextsFn = Callable[[list[int], str], dict[int, str]]
"""(task ids, record field) -> the field's text per task: what span agreement reads."""


def question_agreements(
    data: ProjectAnnotations,
    texts: TextsFn | None = None,
    *,
    samples: int = 200,
    confidence: float = 0.95,
) -> list[dict[str, Any]]:
    """The statistic that fits each question's type (:func:`curata.questions.agreement.
    question_agreement`) over the live items, or why it was skipped."""
    from curata.questions import question_type
    from curata.questions.agreement import question_agreement
    from curata.stats.agreement import AgreementError

    out = []
    for q in data.questions:
        name = q["name"]
        ratings = live_ratings(data, name)
        try:
            by_item = None
            if question_type(q.get("type")).agreement_reads_text:
                if texts is None:
                    raise AgreementError("span agreement needs the records' texts")
                by_item = texts(sorted({t for t, _, _ in ratings}), q.get("field", "text"))
            out.append(
                question_agreement(q, ratings, texts=by_item, n_boot=samples, confidence=confidence)
            )
        except AgreementError as exc:
            out.append({"question": name, "type": q.get("type"), "skipped": str(exc)})
    return out


def live_ratings(data: ProjectAnnotations, name: str) -> list[tuple[int, str, Any]]:
    """``(task, annotator, final answer)`` to question ``name`` on the live items: what the
    agreement statistics of the report and of the release gates read."""
    return [
        (row.task_id, data.users[row.user_id].name, row.answers[name])
        for row in data.rows
        if row.kind == "live" and name in row.answers
    ]


def confusion_matrices(data: ProjectAnnotations, consensus: Consensus) -> list[dict[str, Any]]:
    """Per single-choice question and annotator: counts of (the item's final label, their own
    answer) on live items, rows the final label, columns the annotator's answer; ``labels``
    are the answers as people wrote them (:func:`~curata.quality.answers.answer_text`),
    ``values`` the answers themselves."""
    cells: dict[str, dict[str, Counter[tuple[str, str]]]] = defaultdict(
        lambda: defaultdict(Counter)
    )
    for row in data.rows:
        if row.kind != "live" or row.copied:
            continue
        for name in data.categorical & set(row.submitted):
            label = consensus.get((row.task_id, name))
            if label is not None:
                own = data.key(name, row.submitted[name])
                cells[name][data.users[row.user_id].name][(label, own)] += 1
    out = []
    for name in sorted(cells):
        keys = {c for per in cells[name].values() for pair in per for c in pair}
        values = {key: json.loads(key) for key in keys}
        labels = sorted(keys, key=lambda key: (answer_text(values[key]), key))
        out.append(
            {
                "question": name,
                "labels": [answer_text(values[label]) for label in labels],
                "values": [values[label] for label in labels],
                "annotators": {
                    who: [[per[(row, col)] for col in labels] for row in labels]
                    for who, per in sorted(cells[name].items())
                },
            }
        )
    return out


def estimated_accuracy(data: ProjectAnnotations) -> dict[int, float]:
    """Each annotator's estimated accuracy: the prior-weighted diagonal of their Dawid-Skene
    confusion matrix, fitted on the live items' answers as submitted (a preference by its
    choice) with 0.01 pseudo-counts per cell, averaged over questions."""
    per_user: dict[int, list[float]] = defaultdict(list)
    for name in sorted(data.categorical):
        for user, value in _dawid_skene(data, name).items():
            per_user[user].append(value)
    return {w: float(np.mean(v)) for w, v in per_user.items()}


def _dawid_skene(data: ProjectAnnotations, name: str) -> dict[int, float]:
    triples = [
        (r.task_id, r.user_id, data.key(name, r.submitted[name]))
        for r in data.rows
        if r.kind == "live" and name in r.submitted
    ]
    tasks = {t: i for i, t in enumerate(dict.fromkeys(t for t, _, _ in triples))}
    workers = {w: j for j, w in enumerate(dict.fromkeys(w for _, w, _ in triples))}
    classes = {c: k for k, c in enumerate(dict.fromkeys(c for _, _, c in triples))}
    if len(classes) < 2:
        return {}
    arr = np.array([(tasks[t], workers[w], classes[c]) for t, w, c in triples])
    result = dawid_skene(
        arr[:, 0], arr[:, 1], arr[:, 2],
        n_items=len(tasks), n_workers=len(workers), n_classes=len(classes),
    )  # fmt: skip
    assert result.confusion is not None and result.priors is not None
    diagonal = np.einsum("jkk->jk", result.confusion) @ result.priors
    return {w: float(diagonal[j]) for w, j in workers.items()}


def _flag(g: GroupQuality, limits: Thresholds, confidence: float) -> None:
    if g.gold_answered >= limits.min_gold:
        _, high = wilson_interval(g.gold_correct, g.gold_answered, confidence)
        if high < limits.gold_accuracy:
            g.flags.append(
                f"gold accuracy {g.gold_correct}/{g.gold_answered}: even the interval's upper "
                f"bound {high:.2f} is below {limits.gold_accuracy:.2f}"
            )
    if (
        g.estimated_accuracy is not None
        and g.consensus_answered >= limits.min_answers
        and g.estimated_accuracy < limits.estimated_accuracy
    ):
        g.flags.append(
            f"estimated accuracy {g.estimated_accuracy:.2f} (Dawid-Skene) is below "
            f"{limits.estimated_accuracy:.2f}"
        )
