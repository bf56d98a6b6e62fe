"""Progress of a project: backlog, throughput per annotator and hour, and an ETA.

The pace is measured over the time labelling actually took: the labels submitted in the last
``window_hours``, divided by the time from the first of their leases to the last submission
(per annotator, their own first lease to their own last label). 43 labels made in one minute
are 2,580 an hour, however long ago that minute was; spreading them over the lookback window
would report 1.8. A finished project has no ETA: it is done.

An item the model answers on its own (``model-only`` on every question, outside the audit
samples: :mod:`curata.annotation.coverage`) needs no people: it counts as complete, and only
the labels people already gave it count as needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from curata.core.errors import ValidationError
from curata.store.tables import (
    AnnotationRow,
    AssignmentRow,
    ProjectRow,
    TaskRow,
    UserRow,
    utcnow,
)
from curata.timeutil import as_utc, iso


@dataclass(frozen=True)
class ProjectStatus:
    """Where a project stands; the pace is over ``window`` (see the module doc)."""

    project: str
    items: int
    items_complete: int
    """Items with all their labels, and items the model covers (``items_model``)."""
    items_model: int
    """Items the model answers on its own, held back from people."""
    labels_needed: int
    labels_done: int
    leased_now: int
    window_hours: float
    """How far back labels are looked for."""
    per_annotator: list[dict[str, Any]]
    labels_per_hour: float | None
    """``None`` when no label was submitted in the last ``window_hours``."""
    eta: datetime | None
    """``None`` when the project is done or there is no pace to go by."""
    done: bool
    window: dict[str, Any]
    """The span the pace was measured over: ``from`` (first lease), ``to`` (last label),
    ``hours``."""

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "eta": iso(self.eta)}


def project_status(
    session: Session,
    project: ProjectRow,
    *,
    window_hours: float = 24.0,
    now: datetime | None = None,
) -> ProjectStatus:
    """Backlog and throughput of ``project``; the ETA assumes the window's pace continues
    (:meth:`ProjectService.status <curata.annotation.projects.ProjectService.status>` is how
    callers ask, by project name)."""
    if window_hours <= 0:
        raise ValidationError("hours: must be positive")
    now = now or utcnow()
    since = now - timedelta(hours=window_hours)
    live = (TaskRow.project_id == project.id) & (TaskRow.kind == "live")
    items = session.scalar(select(func.count()).select_from(TaskRow).where(live)) or 0
    capped = case((TaskRow.submitted > project.overlap, project.overlap), else_=TaskRow.submitted)
    # an item the model covers needs only the labels people already gave it
    wanted = case((TaskRow.model_covered, capped), else_=project.overlap)
    done, needed = session.execute(
        select(func.coalesce(func.sum(capped), 0), func.coalesce(func.sum(wanted), 0))
        .select_from(TaskRow)
        .where(live)
    ).one()
    model = (
        session.scalar(select(func.count()).select_from(TaskRow).where(live, TaskRow.model_covered))
        or 0
    )
    complete = (
        session.scalar(
            select(func.count())
            .select_from(TaskRow)
            .where(live, (TaskRow.submitted >= project.overlap) | TaskRow.model_covered)
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
        select(
            UserRow.name,
            func.count(AnnotationRow.id),
            func.min(AssignmentRow.leased_at),
            func.max(AnnotationRow.submitted_at),
        )
        .join(AnnotationRow, AnnotationRow.user_id == UserRow.id)
        .join(AssignmentRow, AssignmentRow.id == AnnotationRow.assignment_id)
        .join(TaskRow, TaskRow.id == AnnotationRow.task_id)
        .where(
            TaskRow.project_id == project.id,
            AnnotationRow.submitted_at >= since,
            AssignmentRow.copied_from.is_(None),  # a copied answer is no extra work
        )
        .group_by(UserRow.name)
        .order_by(UserRow.name)
    ).all()
    per_annotator: list[dict[str, Any]] = []
    for user, n, first, last in rows:
        first, last = as_utc(min(first, last)), as_utc(last)
        per_annotator.append(
            {
                "annotator": user,
                "labels": int(n),
                "per_hour": _rate(int(n), first, last),
                "from": iso(first),
                "to": iso(last),
            }
        )
    starts = [as_utc(min(first, last)) for _, _, first, last in rows]
    ends = [as_utc(last) for *_, last in rows]
    start, end = (min(starts), max(ends)) if rows else (None, None)
    labels = sum(int(n) for _, n, _, _ in rows)
    pace = _rate(labels, start, end) if start and end else None
    needed = int(needed or 0)
    remaining = max(0, needed - int(done or 0))
    eta = None
    if remaining and pace:
        eta = now + timedelta(hours=remaining / pace)
    return ProjectStatus(
        project=project.name,
        items=int(items),
        items_complete=int(complete),
        items_model=int(model),
        labels_needed=needed,
        labels_done=int(done or 0),
        leased_now=int(leased),
        window_hours=window_hours,
        per_annotator=per_annotator,
        labels_per_hour=pace,
        eta=eta,
        done=items > 0 and remaining == 0,
        window={
            "from": iso(start),
            "to": iso(end),
            "hours": (end - start).total_seconds() / 3600 if start and end else None,
        },
    )


def _rate(labels: int, start: datetime | None, end: datetime | None) -> float | None:
    """Labels per hour between ``start`` and ``end``; ``None`` when they coincide."""
    if start is None or end is None or end <= start:
        return None
    return labels / ((end - start).total_seconds() / 3600)
