"""A project's guideline: versioned Markdown, and re-annotation when its meaning changes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from curata.core.errors import NotFoundError, ValidationError
from curata.governance import audit
from curata.store.db import write_transaction
from curata.store.tables import AnnotationRow, AssignmentRow, GuidelineRow, ProjectRow, TaskRow

if TYPE_CHECKING:
    from curata.annotation.projects import ProjectService

REANNOTATE = ("none", "all", "changed-labels")


def latest_version(session: Session, project_id: int) -> int | None:
    """The number of a project's latest guideline (``None`` before the first is published)."""
    return session.scalar(
        select(func.max(GuidelineRow.version)).where(GuidelineRow.project_id == project_id)
    )


def _strings(value: Any) -> set[str]:
    """Every string inside an answer set (labels, choices, categories)."""
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return set().union(*(_strings(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_strings(v) for v in value)) if value else set()
    return set()


class GuidelineService:
    """Publishes and reads the versions of a project's guideline."""

    def __init__(
        self, sessions: sessionmaker[Session], projects: ProjectService, actor: str
    ) -> None:
        self._sessions = sessions
        self._projects = projects
        self._actor = actor

    def publish(
        self,
        name: str,
        body: str,
        *,
        note: str = "",
        reannotate: str = "none",
        labels: list[str] | None = None,
    ) -> int:
        """Publish the next version of a project's guideline; return its number.

        ``reannotate`` sends labelled items back for labelling under the new version: ``all``
        of them, those whose answers use one of the ``labels`` that changed
        (``changed-labels``), or ``none``. Their earlier annotations stay, marked superseded.
        """
        if not body.strip():
            raise ValidationError("guideline: the text is empty")
        if reannotate not in REANNOTATE:
            raise ValidationError(
                f"reannotate: {reannotate!r} is not one of {', '.join(REANNOTATE)}"
            )
        if reannotate == "changed-labels" and not labels:
            raise ValidationError("reannotate changed-labels: name the labels that changed")
        with write_transaction(self._sessions) as session:
            project = self._projects.row(session, name)
            number = (latest_version(session, project.id) or 0) + 1
            reopened = 0
            if reannotate != "none":
                reopened = _reopen(session, project, set(labels or []), reannotate)
            session.add(
                GuidelineRow(
                    project_id=project.id,
                    version=number,
                    body=body,
                    note=note,
                    published_by=self._actor,
                )
            )
            audit.append(
                session,
                actor=self._actor,
                action="guideline.publish",
                object_type="project",
                object_ref=name,
                details={
                    "version": number,
                    "note": note,
                    "chars": len(body),
                    "reannotate": reannotate,
                    "reopened": reopened,
                },
            )
        return number

    def get(self, name: str, version: int | None = None) -> dict[str, Any]:
        """A published guideline (the latest unless ``version`` is given)."""
        with self._sessions() as session:
            project = self._projects.row(session, name)
            number = version or latest_version(session, project.id)
            row = session.scalar(
                select(GuidelineRow).where(
                    GuidelineRow.project_id == project.id, GuidelineRow.version == number
                )
            )
            if row is None:
                raise NotFoundError(f"project {name!r} has no guideline version {number}")
            return {"version": row.version, "body": row.body, "note": row.note}


def _reopen(session: Session, project: ProjectRow, labels: set[str], mode: str) -> int:
    """Supersede the affected live annotations and give their slots back; return how many."""
    rows = session.execute(
        select(AnnotationRow, AssignmentRow, TaskRow)
        .join(AssignmentRow, AssignmentRow.id == AnnotationRow.assignment_id)
        .join(TaskRow, TaskRow.id == AnnotationRow.task_id)
        .where(
            TaskRow.project_id == project.id,
            TaskRow.kind == "live",
            AssignmentRow.status == "submitted",
            AnnotationRow.status.in_(("submitted", "accepted", "fixed")),
        )
    ).all()
    count = 0
    for annotation, assignment, task in rows:
        if mode == "changed-labels" and not labels & _strings(annotation.answers):
            continue
        annotation.status = "superseded"
        if annotation.review == "pending":  # nothing left to review in it
            annotation.review = "not_needed"
        assignment.status = "reopened"
        task.assigned -= 1
        task.submitted -= 1
        task.is_open = task.assigned < project.overlap
        count += 1
    return count
