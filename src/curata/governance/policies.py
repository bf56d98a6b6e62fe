"""Who may do what: the one place access is decided (role, project membership, vendor, clearance).

Modelled on argilla-server's ``policies/``: one policy object per resource — the workspace,
a project, a task, an annotation, an assignment — answers "may this user do this to this
thing" and raises otherwise. Every API route and every privileged CLI command asks it, whether
the thing is named (a project) or addressed by id (a task, an annotation, an assignment).

Policies are pure: they decide from the user and a *scope* — the few facts about the resource
and the user's place in it (is the user a member of its project, what clearance does its
record need, whose is it). :class:`Scopes` loads a scope in one statement.

Two answers, never more:

- **404** (:class:`NotFoundError`) when the user may not see the thing at all: outside their
  projects (admins see every project), or a record above their clearance. The text is the one a
  missing thing gets, so the answer does not reveal that it exists.
- **403** (:class:`ForbiddenError`) when they may see it but their role (or, for release and
  exports, working for a vendor) does not allow the action; the text names the action and the
  roles that may.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, exists, null, select
from sqlalchemy.orm import Session, sessionmaker

from curata.core.errors import ForbiddenError, NotFoundError
from curata.governance.identity import CLEARANCE, User
from curata.store.tables import (
    AnnotationRow,
    AssignmentRow,
    ProjectMemberRow,
    ProjectRow,
    TaskRow,
)

__all__ = [
    "ACTIONS",
    "ADJUDICATORS",
    "MANAGERS",
    "REVIEWERS",
    "VENDOR_EXCLUDED",
    "WORKERS",
    "AnnotationPolicy",
    "AssignmentPolicy",
    "ItemScope",
    "ProjectPolicy",
    "ProjectScope",
    "Scopes",
    "TaskPolicy",
    "WorkspacePolicy",
    "clearance_level",
    "missing",
]

WORKERS = ("admin", "lead", "reviewer", "annotator", "sme")
"""Roles that take items from a project's queue and submit answers."""
REVIEWERS = ("admin", "lead", "reviewer", "sme")
"""Roles that review annotations and read an item's review history."""
ADJUDICATORS = ("admin", "lead")
"""Roles that settle an item's final answers."""
MANAGERS = ("admin", "lead")
"""Roles that administer projects."""

ACTIONS: dict[str, tuple[str, ...]] = {
    # create projects, add members, set gates / overlap, publish guidelines, add gold,
    # send a member back to calibration
    "project.admin": MANAGERS,
    "user.admin": ("admin",),  # add users and vendors, issue and revoke tokens
    "release": ("admin", "lead"),  # release a project's labels as a dataset version
    "release.override": ("admin", "lead"),  # release past failing quality gates
    "audit.read": ("admin", "lead"),  # read the audit log, run vendor audits
    "export": ("admin", "lead"),  # export a project's items with their annotations
    "workspace.admin": ("admin",),  # maintain the shared workspace (curata gc)
    "redteam.run": ("admin", "lead"),  # run red-team campaigns against targets
    # read campaigns' attempts: attack prompts and the harmful replies they drew
    "redteam.read": ("admin", "lead", "reviewer", "sme"),
}
"""Workspace-wide actions and the roles that may take them."""

VENDOR_EXCLUDED = frozenset(
    {"release", "release.override", "export", "audit.read", "redteam.run", "redteam.read"}
)
"""Actions no vendor user takes, whatever their role: what leaves the organisation, what it
signs off, and its audit trail are in-house decisions; so are red-team campaigns (they send
attacks from the organisation's servers, and their attempts hold the harmful replies drawn)."""


def clearance_level(user: User) -> int:
    """The user's clearance as a number (``public`` 0 … ``restricted`` 3)."""
    return CLEARANCE[user.clearance]


def missing(kind: str, ref: int | str) -> NotFoundError:
    """The error for a thing that does not exist — and, word for word, for one the user may not
    see (so the answer does not reveal that it exists)."""
    if kind == "project":
        return NotFoundError(f"unknown project {ref!r}")
    return NotFoundError(f"no {kind} {ref}")


def _require_role(user: User, roles: tuple[str, ...], action: str) -> None:
    if user.role not in roles:
        raise ForbiddenError(
            f"{action}: role {user.role!r} may not do this (needs one of: {', '.join(roles)})"
        )


class WorkspacePolicy:
    """Actions on the workspace as a whole (not addressed to one project's items)."""

    @staticmethod
    def allows(user: User, action: str) -> bool:
        """True when ``user`` may take ``action`` (one of :data:`ACTIONS`)."""
        roles = ACTIONS[action]
        return user.role in roles and not (user.vendor is not None and action in VENDOR_EXCLUDED)

    @staticmethod
    def check(user: User, action: str) -> None:
        """Raise :class:`ForbiddenError` naming the action and who may, unless ``user`` may."""
        if action not in ACTIONS:
            raise KeyError(f"unknown action {action!r} (known: {', '.join(ACTIONS)})")
        roles = ACTIONS[action]
        _require_role(user, roles, action)
        if user.vendor is not None and action in VENDOR_EXCLUDED:
            raise ForbiddenError(
                f"{action}: vendor users may not do this ({user.name!r} works for vendor "
                f"{user.vendor!r}; needs an in-house {' or '.join(roles)})"
            )


@dataclass(frozen=True)
class ProjectScope:
    """A project and one user's place in it."""

    project_id: int
    name: str
    member: bool


@dataclass(frozen=True)
class ItemScope:
    """A task, or an annotation or assignment of one: its project, the clearance its record
    needs, and the annotator it belongs to (``None`` for a task)."""

    kind: str  # "task", "annotation" or "assignment"
    id: int
    project: ProjectScope
    task_id: int
    clearance: int
    owner_id: int | None = None


class ProjectPolicy:
    """A project, addressed by name."""

    @staticmethod
    def visible(role: str, member: bool) -> bool:
        """Admins see every project; everyone else the projects they are members of."""
        return role == "admin" or member

    @staticmethod
    def view(user: User, scope: ProjectScope) -> None:
        """Read a project, its guideline and its progress."""
        if not ProjectPolicy.visible(user.role, scope.member):
            raise missing("project", scope.name)

    @staticmethod
    def sees_gold(user: User) -> bool:
        """Whether the user's view of a project may tell gold items apart (their number, the
        share served): in-house leads and admins only, never an annotator or a vendor."""
        return user.role in MANAGERS and user.vendor is None

    @staticmethod
    def annotate(user: User, scope: ProjectScope) -> None:
        """Take the next item from the project's queue."""
        ProjectPolicy.view(user, scope)
        _require_role(user, WORKERS, "annotate")

    @staticmethod
    def review(user: User, scope: ProjectScope) -> None:
        """Take the next item waiting for review."""
        ProjectPolicy.view(user, scope)
        _require_role(user, REVIEWERS, "review")

    @staticmethod
    def manage(user: User, scope: ProjectScope) -> None:
        """Administer the project (members, gates, guidelines, gold, recalibration)."""
        ProjectPolicy.view(user, scope)
        WorkspacePolicy.check(user, "project.admin")

    @staticmethod
    def export(user: User, scope: ProjectScope) -> None:
        """Export its items with their annotations (records above the user's clearance are
        left out by the export itself)."""
        ProjectPolicy.view(user, scope)
        WorkspacePolicy.check(user, "export")


class TaskPolicy:
    """An item of a project, addressed by task id."""

    @staticmethod
    def view(user: User, scope: ItemScope) -> None:
        """See the item at all: a member of its project (admins: any) cleared for its record."""
        if not ProjectPolicy.visible(
            user.role, scope.project.member
        ) or scope.clearance > clearance_level(user):
            raise missing(scope.kind, scope.id)

    @staticmethod
    def history(user: User, scope: ItemScope) -> None:
        """Read every review and adjudication of the item (names, reasons, answers)."""
        TaskPolicy.view(user, scope)
        _require_role(user, REVIEWERS, "history")

    @staticmethod
    def adjudicate(user: User, scope: ItemScope) -> None:
        """Settle the item's final answers."""
        TaskPolicy.view(user, scope)
        _require_role(user, ADJUDICATORS, "adjudicate")


class AnnotationPolicy:
    """One annotator's answers on an item, addressed by annotation id."""

    @staticmethod
    def review(user: User, scope: ItemScope) -> None:
        """Accept, fix or reject it (never one's own; vendor audits are the service's rule)."""
        TaskPolicy.view(user, scope)
        _require_role(user, REVIEWERS, "review")
        if scope.owner_id == user.id:
            raise ForbiddenError("review: no one reviews their own annotation")


class AssignmentPolicy:
    """A lease of an item to one annotator, addressed by assignment id."""

    @staticmethod
    def submit(user: User, scope: ItemScope) -> None:
        """Submit answers: only to one's own lease. Someone else's answers 404, like a missing
        one (whether an id is leased to another annotator is not revealed)."""
        if scope.owner_id != user.id:
            raise missing(scope.kind, scope.id)
        TaskPolicy.view(user, scope)
        _require_role(user, WORKERS, "submit")


A = cast(Table, AssignmentRow.__table__)
M = cast(Table, ProjectMemberRow.__table__)
N = cast(Table, AnnotationRow.__table__)
P = cast(Table, ProjectRow.__table__)
T = cast(Table, TaskRow.__table__)

SCOPE_CACHE_SECONDS = 30.0
SCOPE_CACHE_SIZE = 10_000


class Scopes:
    """Loads the scope a policy decides on, one statement per resource.

    A project scope in which the user is a member is remembered for ``SCOPE_CACHE_SECONDS``
    (the queue asks for it on every ``next``, and a round trip to a loaded database costs more
    than the rest of the check). A non-member's answer is never cached, so a new member is let
    in at once. A member removed in this process (the admin page calls :meth:`forget`) is
    shut out at once too (404, as any outsider). Other processes serving the same workspace
    (another server worker, another host) keep their remembered scope, and so let the removed
    member past the project checks, for up to ``SCOPE_CACHE_SECONDS`` after the removal. What
    they can do meanwhile is bounded: the queue reads membership itself (``next`` answers 403,
    not a member), the leases they held ended with the removal, and the scopes of tasks,
    annotations and assignments are never remembered (a submit, a review, an item: 404).
    """

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._lock = threading.Lock()
        self._projects: dict[tuple[int, str], tuple[float, ProjectScope]] = {}

    @staticmethod
    def _member(user: User) -> Any:
        return exists().where(M.c.project_id == P.c.id, M.c.user_id == user.id)

    def project(self, name: str, user: User) -> ProjectScope:
        """The scope of project ``name``; 404 when there is no such project."""
        key = (user.id, name)
        now = time.monotonic()
        with self._lock:
            cached = self._projects.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        with self._sessions() as session:
            found = session.execute(
                select(P.c.id, self._member(user)).where(P.c.name == name)
            ).first()
        if found is None:
            raise missing("project", name)
        scope = ProjectScope(project_id=int(found[0]), name=name, member=bool(found[1]))
        if scope.member:
            with self._lock:
                if len(self._projects) >= SCOPE_CACHE_SIZE:
                    self._projects.clear()
                self._projects[key] = (now + SCOPE_CACHE_SECONDS, scope)
        return scope

    def forget(self, project_name: str, user_id: int) -> None:
        """Drop the remembered scope of user ``user_id`` in project ``project_name``: call it
        when that member is removed, so that this process shuts them out at once rather than
        after ``SCOPE_CACHE_SECONDS``."""
        with self._lock:
            self._projects.pop((user_id, project_name), None)

    def _item(self, kind: str, item_id: int, user: User, query: Any) -> ItemScope:
        with self._sessions() as session:
            found = session.execute(query).first()
        if found is None:
            raise missing(kind, item_id)
        project_id, name, member, task_id, clearance, owner = found
        return ItemScope(
            kind=kind,
            id=item_id,
            project=ProjectScope(project_id=int(project_id), name=name, member=bool(member)),
            task_id=int(task_id),
            clearance=int(clearance),
            owner_id=None if owner is None else int(owner),
        )

    def task(self, task_id: int, user: User) -> ItemScope:
        """The scope of a task; 404 when there is no such task."""
        query = self._item_query(user, T, T.c.id, null())
        return self._item("task", task_id, user, query.where(T.c.id == task_id))

    def annotation(self, annotation_id: int, user: User) -> ItemScope:
        """The scope of an annotation (its owner is its annotator); 404 when there is none."""
        query = self._item_query(user, N, N.c.task_id, N.c.user_id)
        return self._item("annotation", annotation_id, user, query.where(N.c.id == annotation_id))

    def assignment(self, assignment_id: int, user: User) -> ItemScope:
        """The scope of an assignment (its owner holds the lease); 404 when there is none."""
        query = self._item_query(user, A, A.c.task_id, A.c.user_id)
        return self._item("assignment", assignment_id, user, query.where(A.c.id == assignment_id))

    def _item_query(self, user: User, table: Table, task_column: Any, owner: Any) -> Any:
        """Project, membership, task, clearance and owner of rows of ``table`` (a task, or a
        row that names its task in ``task_column``)."""
        query = select(P.c.id, P.c.name, self._member(user), T.c.id, T.c.clearance, owner)
        if table is T:
            return query.select_from(T).join(P, P.c.id == T.c.project_id)
        return (
            query.select_from(table)
            .join(T, T.c.id == task_column)
            .join(P, P.c.id == T.c.project_id)
        )
