"""Who works on a project and who may see it: members, their calibration rounds, and visibility
by role and membership (the rule itself is :class:`~curata.governance.policies.ProjectPolicy`'s).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from curata.core.errors import NotFoundError, ValidationError
from curata.governance import audit
from curata.governance.policies import ProjectPolicy, missing
from curata.store.db import write_transaction
from curata.store.tables import (
    AnnotationRow,
    AssignmentRow,
    AuditEventRow,
    ProjectMemberRow,
    ProjectRow,
    TaskRow,
    UserRow,
    utcnow,
)

if TYPE_CHECKING:
    from curata.annotation.projects import Project, ProjectService


def user_id(session: Session, name: str) -> int:
    """The id of user ``name``; NotFound, with how to add one, when there is none."""
    found = session.scalar(select(UserRow.id).where(UserRow.name == name))
    if found is None:
        raise NotFoundError(f"unknown user {name!r} (add it with 'curata user add')")
    return found


def end_lease(assignment: AssignmentRow, task: TaskRow, overlap: int, now: datetime) -> None:
    """End a lease now, as when it expires: the item's slot opens for someone else and a
    submit on it is refused (what was submitted before stays)."""
    assignment.status = "expired"
    assignment.expires_at = now
    task.assigned -= 1
    task.is_open = task.kind != "live" or task.assigned < overlap


def may_see(session: Session, project: ProjectRow, user_name: str) -> bool:
    """Whether ``user_name`` may see ``project`` (members; admins see every project)."""
    user = session.scalar(select(UserRow).where(UserRow.name == user_name))
    if user is None:
        return False
    return ProjectPolicy.visible(
        user.role, session.get(ProjectMemberRow, (project.id, user.id)) is not None
    )


def _calibration_rounds(session: Session, project_name: str) -> Counter[str]:
    """How many times each user was sent back to calibration on a project, from the audit log.

    A member's calibration round is that count: removing a member deletes the row that held it,
    so one added (again) starts from the count rather than from 0. A round number therefore
    never comes back for a different set of calibration answers, and the queue's memory of who
    passed which round (per process, keyed by round) cannot let a re-added member skip the
    calibration they were sent back to.
    """
    details = session.scalars(
        select(AuditEventRow.details).where(
            AuditEventRow.action == "project.recalibrate",
            AuditEventRow.object_type == "project",
            AuditEventRow.object_ref == project_name,
        )
    )
    return Counter(str(d.get("user")) for d in details if isinstance(d, dict))


class MembershipService:
    """Adds members to projects, sends a member back to calibration, and answers which projects
    a user may see (outsiders get the error a missing project gets: existence is not told)."""

    def __init__(
        self, sessions: sessionmaker[Session], projects: ProjectService, actor: str
    ) -> None:
        self._sessions = sessions
        self._projects = projects
        self._actor = actor

    def add(self, name: str, users: list[str], *, by: str | None = None) -> Project:
        """Let more users work on a project (members already there are left as they are; one
        removed earlier comes back in the calibration round they left in, so being sent back
        to calibration survives a remove and add); audited as ``by`` (default: the workspace's
        user)."""
        with write_transaction(self._sessions) as session:
            project = self._projects.row(session, name)
            added = []
            rounds: Counter[str] | None = None
            for user in dict.fromkeys(users):
                member_id = user_id(session, user)
                if session.get(ProjectMemberRow, (project.id, member_id)) is None:
                    if rounds is None:
                        rounds = _calibration_rounds(session, name)
                    session.add(
                        ProjectMemberRow(
                            project_id=project.id,
                            user_id=member_id,
                            calibration_round=rounds[user],
                        )
                    )
                    added.append(user)
            audit.append(
                session,
                actor=by or self._actor,
                action="project.members",
                object_type="project",
                object_ref=name,
                details={"added": added},
            )
        return self._projects.get(name)

    def remove(self, name: str, user_name: str, *, by: str | None = None) -> int:
        """Take a member off a project; returns how many leases they held there.

        Those leases end now (as when a lease expires: each item's slot opens for someone
        else, and a submit on one is refused); everything the member submitted stays, counted
        and reviewed as before. The project's owner cannot be removed. Audited
        (``project.members``, with ``removed`` and ``released``).
        """
        with write_transaction(self._sessions) as session:
            project = self._projects.row(session, name)
            member_id = user_id(session, user_name)
            member = session.get(ProjectMemberRow, (project.id, member_id))
            if member is None:
                raise NotFoundError(f"user {user_name!r} is not a member of project {name!r}")
            if project.owner_id == member_id:
                raise ValidationError(
                    f"members: {user_name!r} owns project {name!r} and stays a member"
                )
            held = session.execute(
                select(AssignmentRow, TaskRow)
                .join(TaskRow, TaskRow.id == AssignmentRow.task_id)
                .where(
                    TaskRow.project_id == project.id,
                    AssignmentRow.user_id == member_id,
                    AssignmentRow.status == "leased",
                )
                .with_for_update()
            ).all()
            now = utcnow()
            for assignment, task in held:
                end_lease(assignment, task, project.overlap, now)
            session.delete(member)
            audit.append(
                session,
                actor=by or self._actor,
                action="project.members",
                object_type="project",
                object_ref=name,
                details={"removed": [user_name], "released": len(held)},
            )
            return len(held)

    def reset_calibration(
        self, name: str, user_name: str, *, reason: str = "", by: str | None = None
    ) -> int:
        """Let a member take the calibration set again (after retraining, typically).

        Their calibration annotations stay in the history, marked superseded; their calibration
        items are served to them afresh and live items close until they pass again. Returns how
        many calibration annotations were superseded.
        """
        with write_transaction(self._sessions) as session:
            project = self._projects.row(session, name)
            member_id = user_id(session, user_name)
            member = session.get(ProjectMemberRow, (project.id, member_id))
            if member is None:
                raise NotFoundError(f"user {user_name!r} is not a member of project {name!r}")
            rows = session.execute(
                select(AssignmentRow, TaskRow)
                .join(TaskRow, TaskRow.id == AssignmentRow.task_id)
                .where(
                    TaskRow.project_id == project.id,
                    TaskRow.kind == "calibration",
                    AssignmentRow.user_id == member_id,
                    AssignmentRow.status != "reopened",
                )
            ).all()
            superseded = 0
            for assignment, task in rows:
                if assignment.status in ("leased", "submitted"):
                    task.assigned -= 1
                if assignment.status == "submitted":
                    task.submitted -= 1
                assignment.status = "reopened"
                for annotation in session.scalars(
                    select(AnnotationRow).where(
                        AnnotationRow.assignment_id == assignment.id,
                        AnnotationRow.status != "superseded",
                    )
                ):
                    annotation.status = "superseded"
                    if annotation.review == "pending":  # nothing left to review in it
                        annotation.review = "not_needed"
                    superseded += 1
            member.calibration_round += 1
            audit.append(
                session,
                actor=by or self._actor,
                action="project.recalibrate",
                object_type="project",
                object_ref=name,
                details={"user": user_name, "superseded": superseded, "reason": reason},
            )
            return superseded

    def check_visible(self, name: str, user_name: str) -> None:
        """NotFound unless ``user_name`` may see the project (cheap: no progress counts)."""
        with self._sessions() as session:
            project = self._projects.row(session, name)
            if not may_see(session, project, user_name):
                raise missing("project", name)

    def for_user(self, name: str, user_name: str) -> Project:
        """A project as ``user_name`` may see it; outsiders get NotFound (existence hidden)."""
        self.check_visible(name, user_name)
        return self._projects.get(name)

    def visible_to(self, user_name: str) -> list[Project]:
        """The projects ``user_name`` may see (members; admins see all)."""
        with self._sessions() as session:
            rows = session.scalars(select(ProjectRow).order_by(ProjectRow.name)).all()
            names = [p.name for p in rows if may_see(session, p, user_name)]
        return [self._projects.get(n) for n in names]
