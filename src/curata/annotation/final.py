"""The labels that count: the one definition every metric, gate, report, drift check and
release reads, so that one quantity has one number.

Two readings of the same annotations, each stated in the outputs that use it:

* :data:`FINAL_LABELS` (agreement, consensus, alpha and annotation-count gates, releases,
  label noise): each annotator's latest answer on an item, a reviewer's fix replacing it;
  rejected and superseded annotations do not count; an adjudication is the item's answer
  wherever the quantity is about items (consensus, released label).
* :data:`SUBMITTED_LABELS` (scores of people: gold accuracy, agreement with the consensus,
  Dawid-Skene accuracy, confusion matrices, drift): the same annotations, but each
  annotator's own answer as submitted, measured against gold or the item's final label. A
  reviewer's fix corrects the label, not the record of who got it wrong; with fixes applied,
  every reviewed gold miss would count as right.

An item's label (the consensus) is :func:`item_labels`: what a release writes and what the
quality report and drift compare people with, by the same method and the project's settings.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from curata.annotation.aggregation import (
    Aggregate,
    ItemAnswers,
    aggregate_items,
    aggregation_policy,
    soft_key,
    vote_key,
)
from curata.core.ids import canonical_json
from curata.store.tables import (
    AnnotationRow,
    AssignmentRow,
    ProjectRow,
    ProjectSchemaRow,
    ReviewRow,
    TaskRow,
    UserRow,
)


class _Revision(Protocol):
    @property
    def assignment_id(self) -> int: ...
    @property
    def status(self) -> str: ...


_Row = TypeVar("_Row", bound=_Revision)

FINAL_LABELS = (
    "final labels after review: each annotator's latest answer with a reviewer's fix "
    "replacing it; rejected and superseded annotations do not count; an adjudication is "
    "the item's answer"
)
SUBMITTED_LABELS = (
    "each annotator's own answers as submitted (rejected and superseded ones do not count), "
    "against gold or the item's final label"
)
NOT_COUNTED = ("rejected", "superseded")
"""The annotation statuses that do not count: a reviewer rejected it (the annotator answers
again), or a guideline change superseded it."""
COUNTS = AnnotationRow.status.not_in(NOT_COUNTED)
"""The SQL condition of :func:`counts` (built once: statements reuse it)."""


def counts(status: str) -> bool:
    """Whether an annotation with ``status`` counts (is neither rejected nor superseded): the
    one rule behind every "annotations that count", in SQL :data:`COUNTS`."""
    return status not in NOT_COUNTED


def latest_that_count(rows: Iterable[_Row]) -> list[_Row]:
    """Each assignment's latest revision, where it counts. ``rows`` are annotations (rows or
    ORM objects with ``assignment_id`` and ``status``) ordered by assignment, newest revision
    first; a rejected or superseded latest revision drops its assignment (an older revision
    never stands in for it)."""
    latest: dict[int, _Row] = {}
    for row in rows:
        latest.setdefault(row.assignment_id, row)
    return [row for row in latest.values() if counts(row.status)]


@dataclass(frozen=True)
class CountedAnnotation:
    """One annotation that counts, with its final answers and the annotator's own."""

    annotation_id: int
    task_id: int
    user_id: int
    answers: dict[str, Any]
    """The final answers: the reviewer's fix where there is one, else ``submitted``."""
    submitted: dict[str, Any]
    guideline_version: int | None
    submitted_at: datetime
    kind: str
    """The task's kind: ``live``, ``gold`` or ``calibration``."""
    gold_answers: dict[str, Any] | None
    copied: bool = False
    """A live answer copied from the annotator's answer to the record's gold or calibration
    copy (it counts for the live item; scores of people count the original once)."""
    record_gold: dict[str, Any] | None = None
    """On a live item whose record is also hidden gold: the gold answers."""

    @property
    def known(self) -> dict[str, Any] | None:
        """The gold answers that score this annotator here, or None: a gold item's own, and
        the record's where the annotator met a gold record as a live item (not a copy). The
        queue never serves one annotator two copies of a record, so whoever labelled a gold
        record live first is scored on that answer, once; gold checks do not shrink as the
        live items of gold records are labelled."""
        if self.kind == "gold":
            return self.gold_answers or None
        if self.kind == "live" and not self.copied:
            return self.record_gold
        return None

    @property
    def fixed(self) -> bool:
        """Whether a reviewer's fix replaced the annotator's answers."""
        return self.answers is not self.submitted


def counted_annotations(
    session: Session, *, project_id: int | None = None, task_id: int | None = None
) -> list[CountedAnnotation]:
    """The annotations that count on a project's items (oldest first) or on one item:
    every annotator's latest revision unless it was rejected or superseded, with the latest
    reviewer's fix applied."""
    if (project_id is None) == (task_id is None):
        raise TypeError("give exactly one of project_id and task_id")
    scope = TaskRow.project_id == project_id if task_id is None else TaskRow.id == task_id
    rows = session.execute(
        select(
            AnnotationRow.id,
            AnnotationRow.assignment_id,
            AnnotationRow.task_id,
            AnnotationRow.user_id,
            AnnotationRow.answers,
            AnnotationRow.guideline_version,
            AnnotationRow.submitted_at,
            AnnotationRow.status,
            TaskRow.kind,
            TaskRow.gold_answers,
            AssignmentRow.copied_from,
            TaskRow.record_id,
        )
        .join(TaskRow, TaskRow.id == AnnotationRow.task_id)
        .join(AssignmentRow, AssignmentRow.id == AnnotationRow.assignment_id)
        .where(scope)
        .order_by(AnnotationRow.assignment_id, AnnotationRow.revision.desc())
    ).all()
    latest: dict[int, Any] = {}
    for row in rows:
        latest.setdefault(row.assignment_id, row)
    # a copied live answer follows its source (the gold or calibration answer): its review
    # status and a reviewer's fix of it
    sources = {r.copied_from for r in latest.values() if r.copied_from is not None}
    source_latest: dict[int, tuple[int, str]] = {}
    source_tasks: set[int] = set()
    if sources:
        for assignment, annotation, status, source_task in session.execute(
            select(
                AnnotationRow.assignment_id,
                AnnotationRow.id,
                AnnotationRow.status,
                AnnotationRow.task_id,
            )
            .where(AnnotationRow.assignment_id.in_(sources))
            .order_by(AnnotationRow.assignment_id, AnnotationRow.revision.desc())
        ):
            source_latest.setdefault(assignment, (annotation, status))
            source_tasks.add(source_task)
    fix_scope = scope
    if task_id is not None and source_tasks:  # a project's scope holds its sources already
        fix_scope = or_(scope, TaskRow.id.in_(source_tasks))
    fixes: dict[int | None, dict[str, Any]] = dict(
        session.execute(
            select(ReviewRow.annotation_id, ReviewRow.answers)
            .join(TaskRow, TaskRow.id == ReviewRow.task_id)
            .where(fix_scope, ReviewRow.decision == "fix", ReviewRow.answers.is_not(None))
            .order_by(ReviewRow.id)
        ).all()
    )
    out = []
    record_gold = _record_gold(session, project_id=project_id, task_id=task_id)
    for row in latest.values():
        fix_of, status = row.id, row.status
        if row.copied_from is not None and row.copied_from in source_latest:
            fix_of, source_status = source_latest[row.copied_from]
            status = status if counts(source_status) else source_status
        if not counts(status):
            continue
        out.append(
            CountedAnnotation(
                annotation_id=row.id,
                task_id=row.task_id,
                user_id=row.user_id,
                answers=fixes.get(fix_of) or fixes.get(row.id) or row.answers,
                submitted=row.answers,
                guideline_version=row.guideline_version,
                submitted_at=row.submitted_at,
                kind=row.kind,
                gold_answers=row.gold_answers,
                copied=row.copied_from is not None,
                record_gold=record_gold.get(row.record_id) if row.kind == "live" else None,
            )
        )
    if task_id is None:  # a project's annotations in time order; an item's in assignment order
        out.sort(key=lambda a: (a.submitted_at, a.annotation_id))
    return out


def _record_gold(
    session: Session, *, project_id: int | None, task_id: int | None
) -> dict[str, dict[str, Any]]:
    """The gold answers by record of a project's gold items (or of one item's record)."""
    gold = TaskRow.kind == "gold"
    if task_id is not None:
        item = select(TaskRow.project_id, TaskRow.record_id).where(TaskRow.id == task_id)
        found = session.execute(item).first()
        if found is None:
            return {}
        scope = and_(TaskRow.project_id == found[0], TaskRow.record_id == found[1])
    else:
        scope = TaskRow.project_id == project_id
    return {
        record: answers
        for record, answers in session.execute(
            select(TaskRow.record_id, TaskRow.gold_answers).where(scope, gold)
        )
        if answers
    }


def adjudications(
    session: Session, *, project_id: int | None = None, task_id: int | None = None
) -> dict[int, dict[str, Any]]:
    """Each adjudicated item's settled answers (the latest adjudication), by task id."""
    if (project_id is None) == (task_id is None):
        raise TypeError("give exactly one of project_id and task_id")
    scope = TaskRow.project_id == project_id if task_id is None else TaskRow.id == task_id
    return {
        task: answers
        for task, answers in session.execute(
            select(ReviewRow.task_id, ReviewRow.answers)
            .join(TaskRow, TaskRow.id == ReviewRow.task_id)
            .where(scope, ReviewRow.tier == "adjudicate", ReviewRow.answers.is_not(None))
            .order_by(ReviewRow.id)
        )
    }


@dataclass(frozen=True)
class ItemLabel:
    """One live item's label per question, as a release gives it."""

    task_id: int
    record_id: str
    answers: ItemAnswers
    """The answer sets that count on the item (fixes applied), with who gave each."""
    combined: Aggregate
    """Per question: ``value`` (None on a tie or a held label), ``confidence``, ``votes``,
    ``tied``, ``distribution`` and, where they apply, ``gold``, ``adjudicated`` and
    ``outside_votes`` (see :mod:`curata.annotation.aggregation`)."""


def consensus_statement(method: str, settings: dict[str, Any]) -> str:
    """What an item's consensus label is, for the outputs that compare people with it."""
    policy = aggregation_policy(settings)
    return (
        f"the label `curata annotate release --aggregate {method}` gives the item (the same "
        f"function): {FINAL_LABELS}; a known gold answer is the label, and Dawid-Skene clamps "
        f"gold items to it with the release's Dirichlet prior; a label nobody chose follows "
        f"the project's outside-votes policy ({policy['outside_votes']}: held labels count as "
        f"none); no label on a tie"
    )


def item_labels(session: Session, project: ProjectRow, *, method: str) -> list[ItemLabel]:
    """Every answered or adjudicated live item's label per question, by ``method``
    (``majority``, ``dawid-skene`` or ``gold-weighted``) with the project's settings: what a
    release writes, and the consensus the quality report and drift compare people with."""
    from curata.annotation.schema import categorical_questions

    rows = counted_annotations(session, project_id=project.id)
    settled = adjudications(session, project_id=project.id)
    by_task: dict[int, ItemAnswers] = {}
    for a in rows:
        if a.kind == "live":
            by_task.setdefault(a.task_id, []).append((a.user_id, a.answers))
    tasks = session.execute(
        select(TaskRow.id, TaskRow.record_id)
        .where(TaskRow.project_id == project.id, TaskRow.kind == "live")
        .order_by(TaskRow.id)
    ).all()
    gathered = [(t, r) for t, r in tasks if t in by_task or t in settled]
    schema = session.get(ProjectSchemaRow, (project.id, project.schema_version))
    assert schema is not None
    questions = schema.schema.get("questions", [])
    types = {q["name"]: q.get("type") for q in questions}
    policy = aggregation_policy(project.settings or {})
    live = {(record, user) for task, record in gathered for user, _ in by_task.get(task, [])}
    known, anchors = known_answers(session, project.id, rows, live)
    people = {u for t, _ in gathered for u, _ in by_task.get(t, [])}
    people |= {u for item, _ in anchors for u, _ in item}
    combined_all = aggregate_items(
        method,
        [by_task.get(task, []) for task, _ in gathered],
        categorical=categorical_questions(schema.schema),
        gold_accuracy=gold_accuracy(rows) if method == "gold-weighted" else None,
        known=[known.get(record) for _, record in gathered],
        anchors=anchors,
        names=dict(
            session.execute(select(UserRow.id, UserRow.name).where(UserRow.id.in_(people))).all()
        ),
        outside_votes=policy["outside_votes"],
        types=types,
    )
    out = []
    for (task, record), combined in zip(gathered, combined_all, strict=True):
        answers = by_task.get(task, [])
        for name, value in (settled.get(task) or {}).items():
            combined[name] = {
                "value": value,
                "confidence": 1.0,
                "votes": len(answers),
                "tied": False,
                "adjudicated": True,
                "distribution": {soft_key(canonical_json(vote_key(types.get(name), value))): 1.0},
            }
        out.append(ItemLabel(task, record, answers, combined))
    return out


def known_answers(
    session: Session,
    project_id: int,
    rows: list[CountedAnnotation],
    live: set[tuple[str, int]],
) -> tuple[dict[str, dict[str, Any]], list[tuple[ItemAnswers, dict[str, Any]]]]:
    """The project's known answers by record (gold before calibration), and every answered gold
    or calibration item as (answers that count, known answers): what Dawid-Skene anchors on.

    ``live`` holds the (record, annotator) pairs already answered on a live item: that answer
    (a copy of the gold one, or a second look) is clamped there, so it is not counted twice."""
    known: dict[str, dict[str, Any]] = {}
    record_of: dict[int, str] = {}
    for task_id, record_id, answers in session.execute(
        select(TaskRow.id, TaskRow.record_id, TaskRow.gold_answers)
        .where(TaskRow.project_id == project_id, TaskRow.gold_answers.is_not(None))
        .order_by(TaskRow.kind.desc())  # "gold" after "calibration": gold wins
    ):
        record_of[task_id] = record_id
        if answers:
            known[record_id] = answers
    answered: dict[int, tuple[ItemAnswers, dict[str, Any]]] = {}
    for a in rows:
        if a.kind != "live" and a.gold_answers and (record_of[a.task_id], a.user_id) not in live:
            answered.setdefault(a.task_id, ([], a.gold_answers))[0].append((a.user_id, a.answers))
    return known, list(answered.values())


def gold_accuracy(rows: list[CountedAnnotation]) -> dict[tuple[int, str], float]:
    """Each annotator's accuracy per question on gold items (their answers as submitted),
    smoothed as (correct + 1) / (answered + 2): gold-weighted voting's weights."""
    from curata.stats.proportions import gold_checks

    tally: dict[tuple[int, str], list[int]] = {}
    for a in rows:
        known = a.known
        if known is None:
            continue
        for name, right in gold_checks(a.submitted, known):
            seen = tally.setdefault((a.user_id, name), [0, 0])
            seen[0] += right
            seen[1] += 1
    return {key: (right + 1) / (total + 2) for key, (right, total) in tally.items()}
