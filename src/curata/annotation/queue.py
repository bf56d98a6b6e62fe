"""The task queue: leases items to annotators, respecting overlap, priority and leases.

Correct under concurrency on both databases: PostgreSQL locks the chosen task row with
``FOR UPDATE SKIP LOCKED`` (concurrent annotators take different tasks instead of waiting);
SQLite serialises writers with ``BEGIN IMMEDIATE``. A task's ``assigned`` counter moves in the
same transaction as its leases, so no item exceeds its overlap and no annotator gets an item
twice (a unique constraint on task and user backs this up).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session, sessionmaker

from curata.annotation.projects import ProjectService
from curata.annotation.review import route_to_review
from curata.annotation.schema import AnswerError, validate_answers
from curata.core.errors import ConflictError, ForbiddenError, NotFoundError, ValidationError
from curata.store.db import write_transaction
from curata.store.records import RecordStore
from curata.store.tables import (
    AnnotationRow,
    AssignmentRow,
    ProjectMemberRow,
    ProjectRow,
    TaskRow,
    UserRow,
    utcnow,
)
from curata.timeutil import as_utc, iso


@dataclass(frozen=True)
class TaskView:
    """What an annotator receives: the same shape for live and gold items (gold is hidden)."""

    assignment_id: int
    project: str
    record: dict[str, Any]
    schema: dict[str, Any]
    schema_version: int
    guideline_version: int | None
    expires_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "expires_at": iso(self.expires_at)}


@dataclass(frozen=True)
class Submission:
    """A stored annotation, as returned to the annotator who made it."""

    annotation_id: int
    assignment_id: int
    answers: dict[str, Any]
    schema_version: int
    guideline_version: int | None
    submitted_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "submitted_at": iso(self.submitted_at)}


class QueueService:
    """``next_task`` and ``submit``: the annotator's loop."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        store: RecordStore,
        projects: ProjectService,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self._sessions = sessions
        self._store = store
        self._projects = projects
        self._rng = rng or random.Random()

    def _member(self, session: Session, project: ProjectRow, user_name: str) -> UserRow:
        user = session.scalar(select(UserRow).where(UserRow.name == user_name))
        if user is None:
            raise NotFoundError(f"unknown user {user_name!r}")
        if user.role == "admin":
            return user
        member = session.get(ProjectMemberRow, (project.id, user.id))
        if member is None:
            raise ForbiddenError(f"user {user_name!r} is not a member of project {project.name!r}")
        return user

    def next_task(
        self, project_name: str, user_name: str, *, now: datetime | None = None
    ) -> TaskView | None:
        """Lease the next item to a user (their current lease if they hold one), or ``None``."""
        now = now or utcnow()
        with write_transaction(self._sessions) as session:
            project = self._projects.row(session, project_name)
            user = self._member(session, project, user_name)
            held = session.scalar(
                select(AssignmentRow)
                .join(TaskRow, TaskRow.id == AssignmentRow.task_id)
                .where(
                    TaskRow.project_id == project.id,
                    AssignmentRow.user_id == user.id,
                    AssignmentRow.status == "leased",
                    AssignmentRow.expires_at > now,
                )
                .limit(1)
            )
            if held is not None:
                return self._view(session, project, held)
            self._check_skills(session, project, user)
            self._reclaim(session, project.id, now)
            if self._calibrating(session, project, user):
                kinds = ["calibration"]
            elif self._rng.random() < project.gold_share:
                kinds = ["gold", "live"]
            else:
                kinds = ["live"]
            task = None
            for kind in kinds:
                task = self._candidate(session, project, user.id, kind, user.clearance)
                if task is not None:
                    break
            if task is None:
                return None
            task.assigned += 1
            expires = now + timedelta(seconds=project.lease_seconds)
            assignment = session.scalar(  # an item re-opened for re-annotation keeps its row
                select(AssignmentRow).where(
                    AssignmentRow.task_id == task.id, AssignmentRow.user_id == user.id
                )
            )
            if assignment is None:
                assignment = AssignmentRow(task_id=task.id, user_id=user.id)
                session.add(assignment)
            assignment.status, assignment.leased_at, assignment.expires_at = "leased", now, expires
            session.flush()
            return self._view(session, project, assignment)

    def _calibrating(self, session: Session, project: ProjectRow, user: UserRow) -> bool:
        """True while the user still owes calibration items; raises once they failed it."""
        policy = (project.settings or {}).get("calibration") or {}
        size = int(policy.get("size") or 0)
        if size == 0:
            return False
        available = (
            session.scalar(
                select(func.count())
                .select_from(TaskRow)
                .where(TaskRow.project_id == project.id, TaskRow.kind == "calibration")
            )
            or 0
        )
        needed = min(size, int(available))
        rows = session.execute(
            select(AnnotationRow.answers, TaskRow.gold_answers)
            .join(TaskRow, TaskRow.id == AnnotationRow.task_id)
            .where(
                TaskRow.project_id == project.id,
                TaskRow.kind == "calibration",
                AnnotationRow.user_id == user.id,
            )
        ).all()
        if len(rows) < needed:
            return True
        if not rows:
            return False
        score = sum(answers == gold for answers, gold in rows) / len(rows)
        threshold = float(policy.get("threshold", 0.8))
        if score < threshold:
            material = policy.get("retraining") or "the project's guideline"
            raise ForbiddenError(
                f"calibration not passed ({score:.0%} correct, {threshold:.0%} needed); "
                f"live items stay closed; retraining: {material}"
            )
        return False

    def _check_skills(self, session: Session, project: ProjectRow, user: UserRow) -> None:
        """A question that needs a language or a domain is only for annotators who have it."""
        for question in self._projects.schema(session, project).questions:
            if question.languages and not set(question.languages) & set(user.languages):
                raise ForbiddenError(
                    f"question '{question.name}' needs one of the languages "
                    f"{', '.join(question.languages)}, which {user.name!r} does not have"
                )
            if question.domains and not set(question.domains) & set(user.domains):
                raise ForbiddenError(
                    f"question '{question.name}' needs a domain expert in "
                    f"{', '.join(question.domains)}, which {user.name!r} is not"
                )

    def _candidate(
        self, session: Session, project: ProjectRow, user_id: int, kind: str, clearance: int
    ) -> TaskRow | None:
        seen = exists().where(
            AssignmentRow.task_id == TaskRow.id,
            AssignmentRow.user_id == user_id,
            AssignmentRow.status != "reopened",
        )
        query = (
            select(TaskRow)
            .where(
                TaskRow.project_id == project.id,
                TaskRow.kind == kind,
                TaskRow.clearance <= clearance,
                ~seen,
            )
            .order_by(TaskRow.priority.desc(), TaskRow.id)
            .limit(1)
        )
        if kind == "live":
            query = query.where(TaskRow.assigned < project.overlap)
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True, of=TaskRow)
        return session.scalar(query)

    def _reclaim(self, session: Session, project_id: int, now: datetime) -> None:
        """Expire leases past their time and give their slots back."""
        query = (
            select(AssignmentRow)
            .join(TaskRow, TaskRow.id == AssignmentRow.task_id)
            .where(
                TaskRow.project_id == project_id,
                AssignmentRow.status == "leased",
                AssignmentRow.expires_at <= now,
            )
        )
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True, of=AssignmentRow)
        for assignment in session.scalars(query).all():
            assignment.status = "expired"
            task = session.get(TaskRow, assignment.task_id, with_for_update=True)
            assert task is not None
            task.assigned -= 1

    def _view(self, session: Session, project: ProjectRow, assignment: AssignmentRow) -> TaskView:
        task = session.get(TaskRow, assignment.task_id)
        assert task is not None
        [record] = self._store.take_records([task.row])
        return TaskView(
            assignment_id=assignment.id,
            project=project.name,
            record={"kind": record.kind, **record.content(), "metadata": record.metadata},
            schema=self._projects.schema(session, project).model_dump(mode="json"),
            schema_version=project.schema_version,
            guideline_version=self._projects.guideline_version(session, project.id),
            expires_at=as_utc(assignment.expires_at),
        )

    def submit(
        self,
        assignment_id: int,
        user_name: str,
        answers: dict[str, Any],
        *,
        duration_ms: int | None = None,
        now: datetime | None = None,
    ) -> Submission:
        """Store an annotation for a lease the user holds; a retry of the same answers is a no-op.

        Raises ``ConflictError`` (409) for a lease that expired, belongs to someone else, or was
        already submitted with other answers, and ``ValidationError`` (422) naming every answer
        that does not fit the schema. Nothing is stored unless the whole submission is valid.
        """
        now = now or utcnow()
        with write_transaction(self._sessions) as session:
            assignment = session.get(AssignmentRow, assignment_id, with_for_update=True)
            user = session.scalar(select(UserRow).where(UserRow.name == user_name))
            if assignment is None or user is None:
                raise NotFoundError(f"no assignment {assignment_id}")
            if assignment.user_id != user.id:
                raise ConflictError(f"assignment {assignment_id} is leased to another annotator")
            task = session.get(TaskRow, assignment.task_id, with_for_update=True)
            assert task is not None
            project = session.get(ProjectRow, task.project_id)
            assert project is not None
            schema = self._projects.schema(session, project)
            texts: dict[str, str] = {}
            if any(q.type == "span" for q in schema.questions):  # spans are checked on the text
                [record] = self._store.take_records([task.row])
                texts = {k: v for k, v in record.content().items() if isinstance(v, str)}
            try:
                checked = validate_answers(schema, answers, texts=texts)
            except AnswerError as exc:
                raise ValidationError(str(exc)) from None
            latest = session.scalar(
                select(AnnotationRow)
                .where(AnnotationRow.assignment_id == assignment.id)
                .order_by(AnnotationRow.revision.desc())
                .limit(1)
            )
            if assignment.status == "submitted":
                done = latest
                assert done is not None
                if done.answers != checked:
                    raise ConflictError(
                        f"assignment {assignment_id} was already submitted with other answers"
                    )
                return _submission(done)
            if assignment.status != "leased" or as_utc(assignment.expires_at) <= now:
                raise ConflictError(
                    f"the lease of assignment {assignment_id} expired at "
                    f"{iso(assignment.expires_at)}; ask for the next task"
                )
            annotation = AnnotationRow(
                assignment_id=assignment.id,
                task_id=task.id,
                user_id=user.id,
                answers=checked,
                schema_version=project.schema_version,
                guideline_version=self._projects.guideline_version(session, project.id),
                submitted_at=now,
                duration_ms=duration_ms,
                revision=1 if latest is None else latest.revision + 1,
                status="submitted",
                review="not_needed",
            )
            session.add(annotation)
            assignment.status = "submitted"
            assignment.submitted_at = now
            task.submitted += 1
            session.flush()
            route_to_review(session, project, task, annotation, self._rng)
            return _submission(annotation)


def _submission(row: AnnotationRow) -> Submission:
    return Submission(
        annotation_id=row.id,
        assignment_id=row.assignment_id,
        answers=row.answers,
        schema_version=row.schema_version,
        guideline_version=row.guideline_version,
        submitted_at=as_utc(row.submitted_at),
    )
