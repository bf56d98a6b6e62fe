"""Review tiers: annotate → review (accept / fix-and-accept / reject) → adjudicate.

Routing policy, per project (``settings["review"]``)::

    {"mode": "none" | "sample" | "all" | "disagreement",
     "rate": 0.1,            # sample: share of annotations reviewed
     "threshold": 0.67,      # disagreement: review an item whose agreement falls below this
     "gold_miss": true}      # any mode: review an annotation that missed a gold answer

Decisions are added rows, never edits: an annotation's history is every review of it, and a
rejected annotation stays while the annotator's resubmission becomes its next revision.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from curata.annotation.answers import check_answers, record_view
from curata.annotation.final import COUNTS, latest_that_count
from curata.annotation.projects import ProjectService, project_row, unknown_project
from curata.annotation.schema import AnswerError
from curata.core.errors import ForbiddenError, NotFoundError, ValidationError
from curata.core.ids import canonical_json
from curata.governance.policies import ADJUDICATORS, REVIEWERS
from curata.store.db import write_transaction
from curata.store.records import RecordStore
from curata.store.tables import (
    AnnotationRow,
    AssignmentRow,
    ProjectMemberRow,
    ProjectRow,
    ReviewRow,
    TaskRow,
    UserRow,
    VendorAuditItemRow,
    utcnow,
)
from curata.timeutil import iso

REVIEW_MODES = ("none", "sample", "all", "disagreement")
DECISIONS = ("accept", "fix", "reject")


def review_policy(settings: dict[str, Any]) -> dict[str, Any]:
    """A project's review policy with its defaults filled in (validated)."""
    policy: dict[str, Any] = {"mode": "none", "rate": 0.1, "threshold": 0.67, "gold_miss": True}
    policy.update(settings.get("review") or {})
    if policy["mode"] not in REVIEW_MODES:
        raise ValidationError(f"review mode: {policy['mode']!r} is not one of {REVIEW_MODES}")
    if not 0.0 <= float(policy["rate"]) <= 1.0:
        raise ValidationError("review rate: must be in [0, 1]")
    if not 0.0 <= float(policy["threshold"]) <= 1.0:
        raise ValidationError("review threshold: must be in [0, 1]")
    return policy


def item_agreement(answer_sets: list[dict[str, Any]]) -> float:
    """Agreement on one item: the smallest, over questions, share of annotators giving the
    most common answer (1.0 when everyone agrees; 1/n when all differ)."""
    if len(answer_sets) < 2:
        return 1.0
    names = {name for answers in answer_sets for name in answers}
    shares = []
    for name in names:
        values = [canonical_json(a.get(name)) for a in answer_sets]
        shares.append(Counter(values).most_common(1)[0][1] / len(values))
    return min(shares) if shares else 1.0


def current_annotations(session: Session, task_id: int) -> list[AnnotationRow]:
    """The annotations that count for an item: every annotator's latest, unless it was
    rejected or superseded by a guideline change."""
    rows = session.scalars(
        select(AnnotationRow)
        .where(AnnotationRow.task_id == task_id)
        .order_by(AnnotationRow.assignment_id, AnnotationRow.revision.desc())
    ).all()
    return latest_that_count(rows)


def initial_review(
    settings: dict[str, Any],
    kind: str,
    gold_answers: dict[str, Any] | None,
    answers: dict[str, Any],
    rng: random.Random,
) -> str:
    """The review state a new annotation starts in, as the project's policy says."""
    policy = review_policy(settings)
    sampled = policy["mode"] == "sample" and rng.random() < float(policy["rate"])
    missed_gold = policy["gold_miss"] and kind == "gold" and answers != gold_answers
    if policy["mode"] == "all" or sampled or missed_gold:
        return "pending"
    return "not_needed"


def flag_disagreement(session: Session, settings: dict[str, Any], task_id: int) -> None:
    """Once an item has all its annotations, send it to review when agreement on it falls
    below the policy's threshold (``disagreement`` mode; in the submit's transaction)."""
    policy = review_policy(settings)
    if policy["mode"] != "disagreement":
        return
    current = current_annotations(session, task_id)
    if item_agreement([a.answers for a in current]) < float(policy["threshold"]):
        for row in current:
            if row.review != "done":
                row.review = "pending"
    session.flush()


@dataclass
class SentToReview:
    """What :meth:`ReviewService.send_to_review` did: the items asked for, the annotations it
    marked (and their items), and those it found pending or reviewed already."""

    items: int
    flagged: int = 0
    already_pending: int = 0
    already_reviewed: int = 0
    tasks: set[int] = field(default_factory=set)
    """The items with an annotation it marked."""

    def counts(self) -> dict[str, int]:
        return {
            "items": self.items,
            "flagged": self.flagged,
            "already_pending": self.already_pending,
            "already_reviewed": self.already_reviewed,
        }


@dataclass(frozen=True)
class ReviewItem:
    """An item to review: the record and every current annotation, side by side."""

    task_id: int
    project: str
    record: dict[str, Any]
    annotations: list[dict[str, Any]]
    agreement: float
    notes: list[str] = field(default_factory=list)
    """Why the item is here beyond its annotations: a Dawid-Skene release that held back a label
    none of its annotators chose, with the reason."""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class ReviewService:
    """The reviewer's and adjudicator's loop, and the history of every decision."""

    def __init__(
        self, sessions: sessionmaker[Session], store: RecordStore, projects: ProjectService
    ) -> None:
        self._sessions = sessions
        self._store = store
        self._projects = projects

    @staticmethod
    def send_to_review(session: Session, task_ids: Iterable[int]) -> SentToReview:
        """Send items to review: every annotation that counts on them (each annotator's latest
        revision, unless rejected or superseded) and is not reviewed yet becomes ``pending``.
        Runs in the caller's transaction (rows locked on PostgreSQL), so the caller's audit
        event, which says why, is written with the marks; an annotation already pending or
        reviewed is counted, not marked again, so sending the same items twice is harmless."""
        tasks = sorted(set(task_ids))
        sent = SentToReview(items=len(tasks))
        for start in range(0, len(tasks), 500):
            rows = session.scalars(
                select(AnnotationRow)
                .where(AnnotationRow.task_id.in_(tasks[start : start + 500]))
                .order_by(AnnotationRow.assignment_id, AnnotationRow.revision.desc())
                .with_for_update()
            ).all()
            for row in latest_that_count(rows):
                if row.review == "pending":
                    sent.already_pending += 1
                elif row.review == "done":
                    sent.already_reviewed += 1
                else:
                    row.review = "pending"
                    sent.flagged += 1
                    sent.tasks.add(row.task_id)
        return sent

    def _user(self, session: Session, name: str, roles: tuple[str, ...]) -> UserRow:
        user = session.scalar(select(UserRow).where(UserRow.name == name))
        if user is None:
            raise NotFoundError(f"unknown user {name!r}")
        if user.role not in roles:
            raise ForbiddenError(
                f"role {user.role!r} may not do this (needs one of: {', '.join(roles)})"
            )
        return user

    @staticmethod
    def _reaches(session: Session, user: UserRow, project_id: int, clearance: int = 0) -> bool:
        """Whether ``user`` may act on an item of the project: an admin, or a member, cleared
        for the item's record. The API and CLI ask the access policy first; this is the same
        rule for callers of the Python API, so a lead of one project cannot settle another's."""
        if clearance > user.clearance:
            return False
        if user.role == "admin":
            return True
        return (
            session.get(ProjectMemberRow, {"project_id": project_id, "user_id": user.id})
            is not None
        )

    def _item(
        self, session: Session, project: ProjectRow, task: TaskRow, viewer: UserRow
    ) -> ReviewItem:
        from curata.annotation.release import outside_votes_notes  # release imports this module

        [record] = self._store.take_records([task.row])
        current = current_annotations(session, task.id)
        in_audit: set[int] = set()
        if viewer.vendor_id is not None:  # a vendor's reviewer does not see what is audited
            in_audit = set(
                session.scalars(
                    select(VendorAuditItemRow.annotation_id).where(
                        VendorAuditItemRow.annotation_id.in_([a.id for a in current])
                    )
                )
            )
        names = dict(
            session.execute(
                select(UserRow.id, UserRow.name).where(UserRow.id.in_([a.user_id for a in current]))
            ).all()
        )
        return ReviewItem(
            task_id=task.id,
            project=project.name,
            record={"kind": record.kind, **record.content(), "metadata": record.metadata},
            annotations=[
                {
                    "annotation_id": a.id,
                    "annotator": names[a.user_id],
                    "answers": a.answers,
                    "revision": a.revision,
                    "status": a.status,
                    "review": "internal" if a.id in in_audit else a.review,
                    "guideline_version": a.guideline_version,
                    "submitted_at": iso(a.submitted_at),
                }
                for a in current
            ],
            agreement=item_agreement([a.answers for a in current]),
            notes=outside_votes_notes(session, project, task.id),
        )

    def next_review(self, project_name: str, reviewer: str) -> ReviewItem | None:
        """The next item with an annotation waiting for review (never one's own work, never a
        record above the reviewer's clearance)."""
        with self._sessions() as session:
            user = self._user(session, reviewer, REVIEWERS)
            project = project_row(session, project_name)
            if not self._reaches(session, user, project.id):
                raise unknown_project(project_name)
            query = (
                select(TaskRow)
                .join(AnnotationRow, AnnotationRow.task_id == TaskRow.id)
                .where(
                    TaskRow.project_id == project.id,
                    TaskRow.clearance <= user.clearance,  # never a record above the reviewer's
                    AnnotationRow.review == "pending",
                    COUNTS,
                    AnnotationRow.user_id != user.id,
                )
                .order_by(TaskRow.priority.desc(), TaskRow.id)
                .limit(1)
            )
            if user.vendor_id is not None:  # vendor audits are reviewed in-house only
                query = query.where(
                    AnnotationRow.id.notin_(select(VendorAuditItemRow.annotation_id))
                )
            task = session.scalar(query)
            return None if task is None else self._item(session, project, task, user)

    def decide(
        self,
        annotation_id: int,
        reviewer: str,
        decision: str,
        *,
        reason: str = "",
        answers: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Accept, fix-and-accept (with corrected answers) or reject (with a reason)."""
        if decision not in DECISIONS:
            raise ValidationError(f"decision: {decision!r} is not one of {', '.join(DECISIONS)}")
        if decision == "reject" and not reason.strip():
            raise ValidationError("reason: a rejection needs a reason (the annotator sees it)")
        if decision == "fix" and answers is None:
            raise ValidationError("answers: fix-and-accept needs the corrected answers")
        with write_transaction(self._sessions) as session:
            user = self._user(session, reviewer, REVIEWERS)
            annotation = session.get(AnnotationRow, annotation_id, with_for_update=True)
            task = (
                None
                if annotation is None
                else session.get(TaskRow, annotation.task_id, with_for_update=True)
            )
            if (
                annotation is None
                or task is None
                or not self._reaches(session, user, task.project_id, task.clearance)
            ):
                raise NotFoundError(f"no annotation {annotation_id}")
            if annotation.user_id == user.id:
                raise ForbiddenError("no one reviews their own annotation")
            if user.vendor_id is not None and session.scalar(
                select(VendorAuditItemRow.id)
                .where(VendorAuditItemRow.annotation_id == annotation.id)
                .limit(1)
            ):
                raise ForbiddenError(
                    f"annotation {annotation.id} is in a vendor audit: internal reviewers only"
                )
            project = session.get(ProjectRow, task.project_id)
            assert project is not None
            checked = None
            if decision == "fix":
                checked = self._checked(session, project, task, answers)
            session.add(
                ReviewRow(
                    task_id=task.id,
                    annotation_id=annotation.id,
                    reviewer_id=user.id,
                    tier="review",
                    decision=decision,
                    reason=reason,
                    answers=checked,
                )
            )
            annotation.review = "done"
            annotation.status = {"accept": "accepted", "fix": "fixed", "reject": "rejected"}[
                decision
            ]
            if decision == "reject":  # back to the same annotator, with a fresh lease
                assignment = session.get(AssignmentRow, annotation.assignment_id)
                assert assignment is not None
                assignment.status = "leased"
                assignment.expires_at = utcnow() + timedelta(seconds=project.lease_seconds)
                task.submitted -= 1
            return {
                "annotation_id": annotation.id,
                "decision": decision,
                "status": annotation.status,
            }

    def _checked(
        self, session: Session, project: ProjectRow, task: TaskRow, answers: dict[str, Any] | None
    ) -> dict[str, Any]:
        """A reviewer's or adjudicator's answers checked like an annotator's: against the
        schema and against the item's record (span offsets inside its text, preferences and
        rankings naming its candidates)."""
        try:
            return check_answers(
                self._projects.schema(session, project),
                answers,
                lambda: record_view(self._store.take_records([task.row])[0]),
            ).answers
        except AnswerError as exc:
            raise ValidationError(str(exc)) from None

    def adjudicate(
        self, task_id: int, adjudicator: str, answers: dict[str, Any], *, reason: str = ""
    ) -> dict[str, Any]:
        """Settle an item's final answers (leads and admins); kept beside every earlier decision."""

        with write_transaction(self._sessions) as session:
            user = self._user(session, adjudicator, ADJUDICATORS)
            task = session.get(TaskRow, task_id)
            if task is None or not self._reaches(session, user, task.project_id, task.clearance):
                raise NotFoundError(f"no task {task_id}")
            project = session.get(ProjectRow, task.project_id)
            assert project is not None
            try:
                checked = self._checked(session, project, task, answers)
            except ValidationError as exc:
                raise ValidationError(f"task {task.id}: {exc.message}") from None
            session.add(
                ReviewRow(
                    task_id=task.id,
                    annotation_id=None,
                    reviewer_id=user.id,
                    tier="adjudicate",
                    decision="adjudicate",
                    reason=reason,
                    answers=checked,
                )
            )
            return {"task_id": task.id, "answers": checked}

    def history(self, task_id: int) -> list[dict[str, Any]]:
        """Every decision on an item, oldest first (NotFound for a task that does not exist)."""
        with self._sessions() as session:
            if session.get(TaskRow, task_id) is None:
                raise NotFoundError(f"no task {task_id}")
            rows = session.execute(
                select(ReviewRow, UserRow.name)
                .join(UserRow, UserRow.id == ReviewRow.reviewer_id)
                .where(ReviewRow.task_id == task_id)
                .order_by(ReviewRow.id)
            ).all()
            return [
                {
                    "tier": r.tier,
                    "decision": r.decision,
                    "by": name,
                    "annotation_id": r.annotation_id,
                    "reason": r.reason,
                    "answers": r.answers,
                    "at": iso(r.created_at),
                }
                for r, name in rows
            ]
