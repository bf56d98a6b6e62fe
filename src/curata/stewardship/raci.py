"""RACI per project and per dataset: exactly one Accountable (a user), a Responsible team
(users and cohorts), Consulted SMEs (users who take the project's guideline and edge-case review
work) and Informed consumers (webhook URLs or users, told about releases and regressions by
:class:`~curata.stewardship.notify.Notifier`).

A project's Accountable *is* its owner (``projects.owner_id``): the one who may override a
release's failing gates and policies. Setting the RACI of a project sets that column, and
``curata project create --owner`` is read back as the Accountable, so there is one source of
truth. A dataset keeps its Accountable on its RACI row. Either way one column holds one user:
there is never a second Accountable, and a RACI is never saved without one.

Consulted users of a project become its members (so its review queue, ``next_review``, serves
them the items flagged for review: disagreements, gold misses, held outside votes), and must
have a role that reviews. :meth:`RaciService.consulted_work` lists for them what asks for an
SME: each guideline version (newest first) and the items waiting for review or adjudication.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from curata.annotation.final import COUNTS
from curata.annotation.projects import project_row
from curata.core.errors import NotFoundError, ValidationError
from curata.governance import audit
from curata.governance.policies import MANAGERS, REVIEWERS
from curata.store.db import write_transaction
from curata.store.tables import (
    AnnotationRow,
    CohortRow,
    DatasetRow,
    GuidelineRow,
    ProjectMemberRow,
    ProjectRow,
    RaciMemberRow,
    RaciRow,
    TaskRow,
    UserRow,
    utcnow,
)
from curata.timeutil import iso

__all__ = ["ROLES", "Raci", "RaciService"]

ROLES = ("responsible", "consulted", "informed")
COHORT_PREFIX = "cohort:"


@dataclass(frozen=True)
class Raci:
    """The RACI of one project or dataset, by name."""

    scope: str  # "project" or "dataset"
    name: str
    accountable: str | None
    responsible: list[str] = field(default_factory=list)
    """User names, and cohorts as ``cohort:NAME``."""
    consulted: list[str] = field(default_factory=list)
    informed: list[str] = field(default_factory=list)
    """Webhook URLs and user names."""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _scope(project: str | None, dataset: str | None) -> tuple[str, str]:
    if (project is None) == (dataset is None):
        raise ValidationError("raci: name a project or a dataset (--dataset NAME), not both")
    return ("project", project) if project is not None else ("dataset", dataset)  # type: ignore[return-value]


def _one(names: Sequence[str] | str | None, what: str) -> str | None:
    """The single name in ``names`` (a list or a comma-separated string)."""
    if names is None:
        return None
    given = [names] if isinstance(names, str) else list(names)
    found = [part.strip() for value in given for part in value.split(",") if part.strip()]
    if len(found) != 1:
        raise ValidationError(
            f"{what}: a RACI has exactly one Accountable (got {len(found)}: "
            f"{', '.join(found) or 'none'})"
        )
    return found[0]


def _names(values: Sequence[str] | None) -> list[str] | None:
    if values is None:
        return None
    out: list[str] = []
    for v in values:
        for n in v.split(","):
            if n.strip() and n.strip() not in out:
                out.append(n.strip())
    return out


def _is_url(value: str) -> bool:
    parsed = urlparse(value)
    return parsed.scheme in ("http", "https") and bool(parsed.netloc)


class RaciService:
    """Sets and reads RACIs (every change audited with before and after)."""

    def __init__(self, sessions: sessionmaker[Session], actor: str) -> None:
        self._sessions = sessions
        self._actor = actor

    def set(
        self,
        project: str | None = None,
        *,
        dataset: str | None = None,
        accountable: Sequence[str] | str | None = None,
        responsible: Sequence[str] | None = None,
        consulted: Sequence[str] | None = None,
        informed: Sequence[str] | None = None,
        by: str | None = None,
    ) -> Raci:
        """Set the RACI of ``project`` or ``dataset``; a role left ``None`` keeps its parties,
        a list replaces them. Exactly one Accountable: given here, or already there (a
        project's owner). Consulted users of a project join it as members."""
        scope, name = _scope(project, dataset)
        who = _one(accountable, "accountable")
        lists = {
            "responsible": _names(responsible),
            "consulted": _names(consulted),
            "informed": _names(informed),
        }
        actor = by or self._actor
        with write_transaction(self._sessions) as session:
            row, target = self._row(session, scope, name, create=True)
            assert row is not None
            before = self._view(session, scope, name, row, target)
            if who is not None:
                user = self._user(session, who, "accountable")
                if user.role not in MANAGERS or user.vendor_id is not None:
                    raise ValidationError(
                        f"accountable: {who!r} is a {user.role}"
                        f"{' of a vendor' if user.vendor_id is not None else ''}; the "
                        "Accountable signs releases off and may override their policies, so "
                        f"must be an in-house {' or '.join(MANAGERS)}"
                    )
                if isinstance(target, ProjectRow):
                    target.owner_id = user.id
                    _join(session, target.id, user.id)
                else:
                    row.accountable_id = user.id
            owner = target.owner_id if isinstance(target, ProjectRow) else row.accountable_id
            if owner is None:
                raise ValidationError(
                    f"accountable: the RACI of {scope} {name!r} needs exactly one Accountable "
                    "(--accountable USER)"
                )
            for role, values in lists.items():
                if values is None:
                    continue
                session.execute(
                    delete(RaciMemberRow).where(
                        RaciMemberRow.raci_id == row.id, RaciMemberRow.role == role
                    )
                )
                for value in values:
                    session.add(self._member(session, row.id, role, value, target))
            row.updated_at = utcnow()
            row.updated_by = actor
            session.flush()
            after = self._view(session, scope, name, row, target)
            audit.append(
                session,
                actor=actor,
                action="raci.set",
                object_type=scope,
                object_ref=name,
                details={"before": before.to_dict(), "after": after.to_dict()},
            )
        return after

    def get(self, project: str | None = None, *, dataset: str | None = None) -> Raci:
        """The RACI of ``project`` or ``dataset`` (a project without one shows its owner as
        Accountable and no other party)."""
        scope, name = _scope(project, dataset)
        with self._sessions() as session:
            row, target = self._row(session, scope, name, create=False)
            return self._view(session, scope, name, row, target)

    def accountable(self, session: Session, project: ProjectRow, dataset: str | None) -> str | None:
        """Who is Accountable for a release of ``project`` into ``dataset``: the project's
        owner (the one who may override its gates and policies)."""
        del dataset  # a release is the project's act; its owner answers for it
        owner = session.get(UserRow, project.owner_id) if project.owner_id else None
        return owner.name if owner else None

    def consulted_work(self, project: str) -> dict[str, Any]:
        """What the project's Consulted SMEs are asked to look at: its guideline versions
        (newest first) and the items waiting for review or for adjudication."""
        with self._sessions() as session:
            target = project_row(session, project)
            raci = self.get(project)
            guidelines = session.execute(
                select(GuidelineRow.version, GuidelineRow.published_at, GuidelineRow.note)
                .where(GuidelineRow.project_id == target.id)
                .order_by(GuidelineRow.version.desc())
            ).all()
            pending = session.scalars(
                select(TaskRow.id)
                .join(AnnotationRow, AnnotationRow.task_id == TaskRow.id)
                .where(TaskRow.project_id == target.id, AnnotationRow.review == "pending", COUNTS)
                .distinct()
                .order_by(TaskRow.id)
            ).all()
            return {
                "project": project,
                "consulted": raci.consulted,
                "guidelines": [
                    {"version": v, "published_at": iso(at), "note": note}
                    for v, at, note in guidelines
                ],
                "review_items": list(pending),
            }

    # -- helpers -----------------------------------------------------------------------------

    def _row(
        self, session: Session, scope: str, name: str, *, create: bool
    ) -> tuple[RaciRow | None, ProjectRow | DatasetRow]:
        target: ProjectRow | DatasetRow
        if scope == "project":
            target = project_row(session, name)
            where = RaciRow.project_id == target.id
        else:
            found = session.scalar(select(DatasetRow).where(DatasetRow.name == name))
            if found is None:
                raise NotFoundError(f"unknown dataset {name!r} (see 'curata dataset list')")
            target = found
            where = RaciRow.dataset_id == target.id
        row = session.scalar(select(RaciRow).where(where))
        if row is None and create:
            row = RaciRow(
                project_id=target.id if scope == "project" else None,
                dataset_id=target.id if scope == "dataset" else None,
                updated_by=self._actor,
            )
            session.add(row)
            session.flush()
        return row, target

    @staticmethod
    def _user(session: Session, name: str, where: str) -> UserRow:
        user = session.scalar(select(UserRow).where(UserRow.name == name))
        if user is None:
            raise NotFoundError(f"{where}: unknown user {name!r} (see 'curata user list')")
        return user

    def _member(
        self,
        session: Session,
        raci_id: int,
        role: str,
        value: str,
        target: ProjectRow | DatasetRow,
    ) -> RaciMemberRow:
        if role == "informed" and _is_url(value):
            return RaciMemberRow(raci_id=raci_id, role=role, url=value)
        if role == "informed" and "://" in value:
            raise ValidationError(f"informed: {value!r} is not an http(s) URL")
        if role == "responsible" and value.startswith(COHORT_PREFIX):
            cohort = value[len(COHORT_PREFIX) :]
            cohort_id = session.scalar(select(CohortRow.id).where(CohortRow.name == cohort))
            if cohort_id is None:
                raise NotFoundError(f"responsible: unknown cohort {cohort!r}")
            return RaciMemberRow(raci_id=raci_id, role=role, cohort_id=cohort_id)
        user = session.scalar(select(UserRow).where(UserRow.name == value))
        if user is None and role == "responsible":
            cohort_id = session.scalar(select(CohortRow.id).where(CohortRow.name == value))
            if cohort_id is not None:
                return RaciMemberRow(raci_id=raci_id, role=role, cohort_id=cohort_id)
        if user is None:
            kinds = {"responsible": "user or cohort", "informed": "user or http(s) URL"}
            raise NotFoundError(f"{role}: unknown {kinds.get(role, 'user')} {value!r}")
        if role == "consulted":
            if user.role not in REVIEWERS:
                raise ValidationError(
                    f"consulted: {value!r} is a {user.role}; Consulted SMEs review guideline "
                    f"and edge-case items, so need one of the roles {', '.join(REVIEWERS)}"
                )
            if isinstance(target, ProjectRow):
                _join(session, target.id, user.id)
        return RaciMemberRow(raci_id=raci_id, role=role, user_id=user.id)

    @staticmethod
    def _view(
        session: Session,
        scope: str,
        name: str,
        row: RaciRow | None,
        target: ProjectRow | DatasetRow,
    ) -> Raci:
        owner_id = (
            target.owner_id
            if isinstance(target, ProjectRow)
            else (row.accountable_id if row is not None else None)
        )
        owner = session.get(UserRow, owner_id) if owner_id else None
        parties: dict[str, list[str]] = {r: [] for r in ROLES}
        if row is not None:
            for role, url, user, cohort in session.execute(
                select(RaciMemberRow.role, RaciMemberRow.url, UserRow.name, CohortRow.name)
                .outerjoin(UserRow, UserRow.id == RaciMemberRow.user_id)
                .outerjoin(CohortRow, CohortRow.id == RaciMemberRow.cohort_id)
                .where(RaciMemberRow.raci_id == row.id)
                .order_by(RaciMemberRow.id)
            ):
                parties[role].append(url or user or f"{COHORT_PREFIX}{cohort}")
        return Raci(
            scope=scope,
            name=name,
            accountable=owner.name if owner else None,
            responsible=parties["responsible"],
            consulted=parties["consulted"],
            informed=parties["informed"],
        )


def _join(session: Session, project_id: int, user_id: int) -> None:
    """Make the user a member of the project (a no-op when they are one)."""
    if session.get(ProjectMemberRow, {"project_id": project_id, "user_id": user_id}) is None:
        session.add(ProjectMemberRow(project_id=project_id, user_id=user_id))
