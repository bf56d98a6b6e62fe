"""Progress of a project: backlog, throughput per annotator and hour, and an ETA."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, sessionmaker

from curata.core.errors import NotFoundError, ValidationError
from curata.store.tables import (
    AnnotationRow,
    AssignmentRow,
    ProjectRow,
    TaskRow,
    UserRow,
    utcnow,
)
from curata.timeutil import iso


@dataclass(frozen=True)
class ProjectStatus:
    """Where a project stands, measured over the last ``window_hours``."""

    project: str
    items: int
    items_complete: int
    labels_needed: int
    labels_done: int
    leased_now: int
    window_hours: float
    per_annotator: list[dict[str, Any]]
    labels_per_hour: float
    eta: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "eta": iso(self.eta)}


def project_status(
    sessions: sessionmaker[Session],
    name: str,
    *,
    window_hours: float = 24.0,
    now: datetime | None = None,
) -> ProjectStatus:
    """Backlog and throughput; the ETA assumes the window's pace continues."""
    if window_hours <= 0:
        raise ValidationError("hours: must be positive")
    now = now or utcnow()
    since = now - timedelta(hours=window_hours)
    with sessions() as session:
        project = session.scalar(select(ProjectRow).where(ProjectRow.name == name))
        if project is None:
            raise NotFoundError(f"unknown project {name!r}")
        live = (TaskRow.project_id == project.id) & (TaskRow.kind == "live")
        items = session.scalar(select(func.count()).select_from(TaskRow).where(live)) or 0
        capped = case(
            (TaskRow.submitted > project.overlap, project.overlap), else_=TaskRow.submitted
        )
        done = session.scalar(
            select(func.coalesce(func.sum(capped), 0)).select_from(TaskRow).where(live)
        )
        complete = (
            session.scalar(
                select(func.count())
                .select_from(TaskRow)
                .where(live, TaskRow.submitted >= project.overlap)
            )
            or 0
        )
        leased = (
            session.scalar(
                select(func.count())
                .select_from(AssignmentRow)
                .join(TaskRow, TaskRow.id == AssignmentRow.task_id)
                .where(
                    TaskRow.project_id == project.id,
                    AssignmentRow.status == "leased",
                    AssignmentRow.expires_at > now,
                )
            )
            or 0
        )
        rows = session.execute(
            select(UserRow.name, func.count(AnnotationRow.id))
            .join(AnnotationRow, AnnotationRow.user_id == UserRow.id)
            .join(TaskRow, TaskRow.id == AnnotationRow.task_id)
            .where(TaskRow.project_id == project.id, AnnotationRow.submitted_at >= since)
            .group_by(UserRow.name)
            .order_by(UserRow.name)
        ).all()
    per_annotator: list[dict[str, Any]] = [
        {"annotator": user, "labels": int(n), "per_hour": int(n) / window_hours} for user, n in rows
    ]
    pace = sum(a["per_hour"] for a in per_annotator)
    needed = items * project.overlap
    remaining = max(0, needed - int(done or 0))
    eta = None
    if remaining == 0:
        eta = now
    elif pace > 0:
        eta = now + timedelta(hours=remaining / pace)
    return ProjectStatus(
        project=name,
        items=int(items),
        items_complete=int(complete),
        labels_needed=needed,
        labels_done=int(done or 0),
        leased_now=int(leased),
        window_hours=window_hours,
        per_annotator=per_annotator,
        labels_per_hour=pace,
        eta=eta,
    )
