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
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from curata.store.tables import AnnotationRow, AssignmentRow, ReviewRow, TaskRow

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
    for row in latest.values():
        fix_of, status = row.id, row.status
        if row.copied_from is not None and row.copied_from in source_latest:
            fix_of, source_status = source_latest[row.copied_from]
            status = source_status if source_status in NOT_COUNTED else status
        if status in NOT_COUNTED:
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
            )
        )
    if task_id is None:  # a project's annotations in time order; an item's in assignment order
        out.sort(key=lambda a: (a.submitted_at, a.annotation_id))
    return out


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
