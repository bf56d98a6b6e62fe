"""Whether the acting user may run a CLI command on a shared database.

:data:`COMMANDS` is the one table of what each CLI command needs there, checked by the same
policy (:mod:`curata.governance.policies`) as the REST API. The CLI asks :func:`authorize` when
a command opens the workspace, before it reads or writes anything; ``curata init`` calls
:func:`bootstrap` to make the first admin of an empty shared database. On the embedded database
everything is allowed (one person owns it). Who is acting is
:func:`curata.governance.auth.identify`'s answer, made when the workspace opened.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from curata.core.errors import ForbiddenError
from curata.governance.auth import AuthenticationError
from curata.governance.identity import CLEARANCE, User
from curata.governance.policies import ProjectPolicy, Scopes, WorkspacePolicy, clearance_level
from curata.settings import write_login
from curata.store.tables import UserRow
from curata.workspace import Workspace

__all__ = ["COMMANDS", "LOGIN_HINT", "Rule", "authorize", "bootstrap"]

LOGIN_HINT = "run 'curata login' (or pass --token / set CURATA_TOKEN)"


@dataclass(frozen=True)
class Rule:
    """What a command needs on a shared database.

    ``action`` is one of :data:`~curata.governance.policies.ACTIONS` (``None``: anyone who can
    reach the database); ``stricter`` raises it to another action while an option is given, e.g.
    ``--override-gates``; ``project`` names the parameter holding the (existing) project the
    command acts on, which the user must be able to see, as in the API; ``version`` names the
    parameter holding a version whose records leave the database whole, so the user's clearance
    must cover every source they come from.
    """

    action: str | None = None
    project: str | None = None
    stricter: tuple[tuple[str, str], ...] = ()
    version: str | None = None

    def action_for(self, params: Mapping[str, Any]) -> str | None:
        """The action a run with these parameters takes."""
        for option, action in self.stricter:
            if params.get(option) not in (None, False, (), []):
                return action
        return self.action

    def actions(self) -> tuple[str, ...]:
        """Every action this rule may ask for."""
        found = (self.action, *(a for _, a in self.stricter))
        return tuple(a for a in found if a is not None)


OPEN = Rule()
PROJECT_ADMIN = Rule("project.admin", project="project")

COMMANDS: dict[str, Rule] = {
    "annotate export": Rule("export", project="project"),
    "annotate-model": Rule("project.admin", project="project"),
    "annotate import": Rule(
        "project.admin", project="project", stricter=(("create_users", "user.admin"),)
    ),
    "annotate release": Rule(
        "release", project="project", stricter=(("override_gates", "release.override"),)
    ),
    "attribute": OPEN,
    "audit log": Rule("audit.read"),
    "audit verify": Rule("audit.read"),
    "brief close": Rule("project.admin"),
    "brief create": Rule(
        "project.admin", project="project", stricter=(("attacks", "redteam.run"),)
    ),
    "brief list": Rule("audit.read", project="project"),
    "brief materialize": Rule("project.admin"),
    "brief show": Rule("audit.read"),
    "automation set": Rule(
        "project.admin", project="project", stricter=(("force", "release.override"),)
    ),
    "automation show": OPEN,
    "automation thresholds": Rule("project.admin", project="project"),
    "coverage": OPEN,
    "curate": OPEN,
    "dataset diff": OPEN,
    "dataset export": Rule("export", version="ref"),
    "dataset list": OPEN,
    "dataset log": OPEN,
    "dataset record": OPEN,
    "dataset show": OPEN,
    "dataset tag": OPEN,
    "eval ingest": Rule(stricter=(("campaign", "redteam.read"),)),
    "eval list": OPEN,
    "eval show": OPEN,
    "export list": OPEN,
    "export show": OPEN,
    "gc": Rule("workspace.admin"),
    "guideline publish": PROJECT_ADMIN,
    "guideline show": OPEN,
    "ingest": OPEN,
    "init": OPEN,
    "lineage": OPEN,
    "login": OPEN,
    "logout": OPEN,
    "pii report": OPEN,
    "policy check": OPEN,
    "policy set": Rule("project.admin", project="project"),
    "policy show": OPEN,
    "project add-member": PROJECT_ADMIN,
    "project create": Rule("project.admin"),
    "project gate": PROJECT_ADMIN,
    "project gold": PROJECT_ADMIN,
    "project list": OPEN,
    "project recalibrate": PROJECT_ADMIN,
    "project set": Rule("project.admin", project="name"),
    "project show": OPEN,
    "quality agreement": OPEN,
    "quality audit": Rule("audit.read", project="project"),
    "quality drift": OPEN,
    "quality noise": Rule(project="project", stricter=(("review", "project.admin"),)),
    "quality report": OPEN,
    "raci notices": Rule("audit.read"),
    "raci secret": Rule("user.admin"),
    "raci set": Rule("project.admin", project="project"),
    "raci show": OPEN,
    "release key": OPEN,
    "release sign": Rule("release"),
    "release verify": OPEN,
    "redteam attacks": OPEN,
    "redteam attempts": Rule("redteam.read"),
    "redteam compare": Rule("redteam.read"),
    "redteam curate": Rule("redteam.run"),
    "redteam report": Rule("redteam.read"),
    "redteam resume": Rule("redteam.run"),
    "redteam review": Rule("project.admin"),
    "redteam run": Rule("redteam.run"),
    "redteam status": Rule("redteam.read"),
    "redteam convert": OPEN,
    "redteam coverage": OPEN,
    "redteam converters list": OPEN,
    "redteam import": OPEN,
    "redteam scripted": OPEN,
    "redteam targets list": OPEN,
    "release card": OPEN,
    "serve": OPEN,
    "simulate annotators": Rule("user.admin", project="project"),
    "source add": OPEN,
    "source list": OPEN,
    "source show": OPEN,
    "steps list": OPEN,
    "tasks status": OPEN,
    "train list": OPEN,
    "train register": OPEN,
    "train show": OPEN,
    "user add": Rule("user.admin"),
    "user list": OPEN,
    "user revoke": Rule("user.admin"),
    "user token": Rule("user.admin"),
    "vendor export": Rule("user.admin"),
    "vendor list": Rule("audit.read"),
    "vendor reinstate": Rule("user.admin"),
    "vendor revoke": Rule("user.admin"),
    "vendor show": Rule("audit.read"),
    "vendor terms": Rule("user.admin"),
    "why": OPEN,
}
"""Every CLI command (by its path after ``curata``) and what it needs on a shared database.
A command missing here may be run there by an admin only (and a test fails until it is added)."""


def authorize(ws: Workspace, command: str, params: Mapping[str, Any]) -> User | None:
    """Check that the workspace's user may run ``command`` (a key of :data:`COMMANDS`) with
    these parameters; return the authenticated user (``None`` on the embedded database, where
    everything is allowed, and for open commands run without a token)."""
    if not ws.settings.shared:
        return None
    rule = COMMANDS.get(command)
    action = rule.action_for(params) if rule is not None else "undeclared"
    if action is None:
        return ws.identity
    user = ws.identity
    if user is None:
        if not _has_users(ws.projects.sessions):
            raise AuthenticationError(
                f"curata {command}: this shared database has no users yet: run 'curata init' "
                "to become its admin"
            )
        raise AuthenticationError(
            f"curata {command} needs an API token on a shared database: {LOGIN_HINT}"
        )
    if rule is None:
        if user.role != "admin":
            raise ForbiddenError(
                f"curata {command}: not declared in curata.cli.access.COMMANDS, so only an "
                "admin may run it on a shared database"
            )
        return user
    project = params.get(rule.project) if rule.project else None
    if isinstance(project, str):
        ProjectPolicy.view(user, Scopes(ws.projects.sessions).project(project, user))
    WorkspacePolicy.check(user, action)
    ref = params.get(rule.version) if rule.version else None
    if isinstance(ref, str):
        _check_clearance(ws, user, action, ref)
    return user


def _check_clearance(ws: Workspace, user: User, action: str, ref: str) -> None:
    """Refuse a user whose clearance does not cover every source of version ``ref``."""
    version = ws.datasets.version(ref)
    for name in sorted(version.sources):
        needed = ws.sources.get(name).sensitivity
        if CLEARANCE[needed] > clearance_level(user):
            raise ForbiddenError(
                f"{action}: {version.ref} holds records of source {name!r} ({needed}); "
                f"{user.name!r} has clearance {user.clearance!r}"
            )


def bootstrap(ws: Workspace) -> str | None:
    """On a shared database with no users yet, make the workspace user its first admin (with
    ``restricted`` clearance), save a token as their login and return it (shown once).

    ``None`` on the embedded database and once any user exists: from then on only an admin's
    token adds users.
    """
    if not ws.settings.shared:
        return None
    with _first_admin_lock(ws):  # two colleagues running init at once make one admin, not two
        if _has_users(ws.projects.sessions):
            return None
        name = ws.settings.user
        ws.workforce.add_user(name, role="admin", clearance="restricted")
    token = ws.workforce.issue_token(name)
    write_login(ws.home, token)
    return token


BOOTSTRAP_LOCK = 0x43555241_0001
"""PostgreSQL advisory lock key held while the first admin is made ('CURA', 1)."""


@contextmanager
def _first_admin_lock(ws: Workspace) -> Iterator[None]:
    """Hold a PostgreSQL advisory lock (a shared database is PostgreSQL) for the check-then-add
    of the first admin, so a second ``init`` waits and then finds a user."""
    if ws.engine.dialect.name != "postgresql":
        yield
        return
    with ws.engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": BOOTSTRAP_LOCK})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": BOOTSTRAP_LOCK})
            conn.commit()


def _has_users(sessions: sessionmaker[Session]) -> bool:
    with sessions() as session:
        return bool(session.scalar(select(func.count()).select_from(UserRow)))
