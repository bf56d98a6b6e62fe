"""Project admin (#15): one project's schema, guideline versions (with a diff between any two),
settings, members and their vendors, the forms to change what the services let a lead change,
and the release button.

For project managers (:meth:`ProjectPolicy.manage <curata.governance.policies.ProjectPolicy.
manage>`: leads and admins; other members get 403, everyone else 404, as the API answers); the
release also needs the workspace action ``release`` (no vendor user releases). Every number and
change goes through a service:

* the project, its schema, overlap, gold share, lease, review policy and members:
  :meth:`ProjectService.get <curata.annotation.projects.ProjectService.get>`;
* the settings ``get`` does not return (quality gates, calibration and aggregation policy) and
  the guideline versions' publication dates: :meth:`ProjectService.settings
  <curata.annotation.projects.ProjectService.settings>` (no annotation is read), with
  the same defaults the services fill in (``review_policy``, ``calibration_policy``,
  ``aggregation_policy``);
* a guideline version's text and note: :meth:`GuidelineService.get
  <curata.annotation.guidelines.GuidelineService.get>`;
* each member's role, cohorts and vendor: :meth:`WorkforceService.list
  <curata.annotation.workforce.WorkforceService.list>`;
* changes: :meth:`~curata.annotation.projects.ProjectService.set_overlap`,
  :meth:`~curata.annotation.projects.ProjectService.set_gold_share` (in-house leads and
  admins only, as only they see gold),
  :meth:`~curata.annotation.projects.ProjectService.set_lease`,
  :meth:`~curata.annotation.projects.ProjectService.set_review`,
  :meth:`~curata.annotation.projects.ProjectService.set_calibration`,
  :meth:`~curata.annotation.projects.ProjectService.set_aggregation`,
  :meth:`~curata.annotation.projects.ProjectService.set_gates` (``curata project set`` and
  ``curata project gate``), :meth:`MembershipService.add
  <curata.annotation.membership.MembershipService.add>` (``curata project add-member``) and
  :meth:`MembershipService.remove <curata.annotation.membership.MembershipService.remove>`
  (the leases the member held end; what they submitted stays; this process forgets their
  remembered project scope, :meth:`Scopes.forget <curata.governance.policies.Scopes.forget>`,
  so they are shut out at once). Each is audited in the signed-in user's name (``by``), not
  the server's;
* the release: :meth:`ReleaseService.release <curata.annotation.release.ReleaseService.release>`
  with its defaults, as ``curata annotate release NAME`` runs it; a failing gate refuses it
  (:class:`~curata.annotation.release.GateFailed`) and the page shows each gate's numbers.

Guidelines are user data: the diff is plain text lines, escaped like everything else.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from curata.annotation.aggregation import OUTSIDE_VOTES, aggregation_policy
from curata.annotation.projects import CALIBRATION_RULES, calibration_policy
from curata.annotation.release import GateFailed
from curata.annotation.review import REVIEW_MODES, review_policy
from curata.core.errors import ForbiddenError, NotFoundError, ValidationError
from curata.governance.identity import User
from curata.governance.policies import ProjectPolicy, WorkspacePolicy
from curata.http.deps import MAX_ID, ProjectName, ScopesDep, WorkspaceDep
from curata.web.render import render, secure_headers
from curata.web.session import PageUser, check_csrf

if TYPE_CHECKING:
    from curata.workspace import Workspace

router = APIRouter(include_in_schema=False)

MAX_FIELD = 200
"""The longest form value read (names, numbers)."""
MAX_RETRAINING = 2000
"""The longest retraining text (or URL) a calibration policy takes from the form."""

DONE = {
    "overlap": "Overlap changed.",
    "gold_share": "Gold share changed.",
    "lease": "Lease time changed (leases already held keep theirs).",
    "review": "Review policy changed.",
    "calibration": "Calibration policy changed.",
    "aggregation": "Aggregation policy changed.",
    "gates": "Quality gates saved.",
    "members": "Members added.",
    "remove": "Member removed; the items they held went back to the queue.",
}
"""What the page says after a change (a fixed text: nothing from the address is shown)."""


@router.get("/projects/{name}/admin")
def admin_page(
    request: Request,
    name: ProjectName,
    user: PageUser,
    workspace: WorkspaceDep,
    scopes: ScopesDep,
    done: str = "",
) -> Response:
    ProjectPolicy.manage(user, scopes.project(name, user))
    return _page(request, workspace, name, user, done=DONE.get(done, ""))


def _page(
    request: Request,
    workspace: Workspace,
    name: str,
    user: User,
    *,
    done: str = "",
    error: str | None = None,
    status_code: int = 200,
    release: dict[str, Any] | None = None,
) -> Response:
    project = workspace.projects.get(name)
    settings, dates = workspace.projects.settings(name)
    published = dict(dates)
    guidelines = []
    for number in sorted(published, reverse=True):
        found = workspace.projects.guidelines.get(name, number)
        guidelines.append(
            {
                "version": number,
                "note": found["note"],
                "published": published[number],
                "chars": len(found["body"]),
            }
        )
    members = set(project.members)
    people = [u for u in workspace.workforce.list() if u.name in members]
    vendors: dict[str, dict[str, Any]] = {}
    for person in people:
        if person.vendor:
            entry = vendors.setdefault(
                person.vendor, {"name": person.vendor, "members": [], "cohorts": set()}
            )
            entry["members"].append(person.name)
            entry["cohorts"].update(person.cohorts)
    gates = settings.get("gates") or {}
    return render(
        request,
        "admin.html",
        status_code=status_code,
        project=project,
        questions=project.schema.get("questions", []),
        guidelines=guidelines,
        review=review_policy(settings),
        calibration=calibration_policy(settings.get("calibration")),
        aggregation=aggregation_policy(settings),
        outside_votes=OUTSIDE_VOTES,
        gates=gates,
        gold=ProjectPolicy.sees_gold(user),
        review_modes=REVIEW_MODES,
        calibration_rules=CALIBRATION_RULES,
        people=people,
        removable=[m for m in project.members if m != project.owner],
        vendors=sorted(vendors.values(), key=lambda v: v["name"]),
        may_release=WorkspacePolicy.allows(user, "release"),
        done=done,
        error=error,
        release=release,
    )


@router.get("/projects/{name}/admin/guideline-diff")
def guideline_diff(
    request: Request,
    name: ProjectName,
    user: PageUser,
    workspace: WorkspaceDep,
    scopes: ScopesDep,
    a: int = 0,
    b: int = 0,
) -> Response:
    ProjectPolicy.manage(user, scopes.project(name, user))
    if not (0 < a <= MAX_ID and 0 < b <= MAX_ID):
        raise NotFoundError("choose two guideline versions")
    old = workspace.projects.guidelines.get(name, a)
    new = workspace.projects.guidelines.get(name, b)
    lines = []
    for line in difflib.unified_diff(
        old["body"].splitlines(),
        new["body"].splitlines(),
        f"version {a}",
        f"version {b}",
        lineterm="",
        n=3,
    ):
        kind = (
            "head"
            if line.startswith(("---", "+++", "@@"))
            else "add"
            if line.startswith("+")
            else "del"
            if line.startswith("-")
            else "same"
        )
        lines.append({"kind": kind, "text": line})
    return render(request, "admin_diff.html", project=name, a=old, b=new, lines=lines)


def _text(form: FormData, key: str, limit: int = MAX_FIELD) -> str:
    value = form.get(key)
    return value.strip()[:limit] if isinstance(value, str) else ""


def _number(text: str, field: str, kind: type[int] | type[float]) -> int | float:
    try:
        return kind(text)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise ValidationError(f"{field}: must be {what}, not {text[:40]!r}") from None


def _gates(form: FormData, questions: list[str]) -> dict[str, Any]:
    """The gates form as ``set_gates`` takes it (``parse_gates`` validates the values)."""
    gates: dict[str, Any] = {}
    for question in questions:
        text = _text(form, f"alpha.{question}")
        if text:
            gates.setdefault("alpha", {})[question] = _number(text, f"alpha[{question}]", float)
    text = _text(form, "gold_accuracy")
    if text:
        gates["gold_accuracy"] = _number(text, "gold accuracy", float)
    text = _text(form, "min_annotations")
    if text:
        gates["min_annotations"] = _number(text, "min annotations", int)
    return gates


@router.post("/projects/{name}/admin/settings")
async def change_settings(
    request: Request, name: ProjectName, user: PageUser, workspace: WorkspaceDep, scopes: ScopesDep
) -> Response:
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    ProjectPolicy.manage(user, scopes.project(name, user))
    part = _text(form, "part")
    try:
        _change(workspace, name, user, part, form)
    except (ValidationError, NotFoundError) as exc:
        if isinstance(exc, NotFoundError) and part not in ("members", "remove"):
            raise
        return _page(request, workspace, name, user, error=exc.message, status_code=422)
    if part == "remove":  # this process shuts them out now, not when the scope expires
        scopes.forget(name, workspace.workforce.get(_text(form, "user")).id)
    response = RedirectResponse(f"/projects/{name}/admin?done={part}", status_code=303)
    secure_headers(response)
    return response


def _change(workspace: Workspace, name: str, user: User, part: str, form: FormData) -> None:
    """Make the change one settings form asks for, through its service, as ``user``."""
    projects, by = workspace.projects, user.name
    if part == "overlap":
        projects.set_overlap(name, int(_number(_text(form, "overlap"), "overlap", int)), by=by)
    elif part == "gold_share":
        if not ProjectPolicy.sees_gold(user):
            raise ForbiddenError("gold share: only in-house leads and admins see or change gold")
        projects.set_gold_share(
            name, _number(_text(form, "gold_share"), "gold share", float), by=by
        )
    elif part == "lease":
        projects.set_lease(name, int(_number(_text(form, "lease_seconds"), "lease", int)), by=by)
    elif part == "review":
        projects.set_review(
            name,
            {
                "mode": _text(form, "mode"),
                "rate": _number(_text(form, "rate"), "review rate", float),
                "threshold": _number(_text(form, "threshold"), "review threshold", float),
                "gold_miss": form.get("gold_miss") == "on",
            },
            by=by,
        )
    elif part == "calibration":
        projects.set_calibration(
            name,
            {
                "size": _number(_text(form, "size"), "calibration size", int),
                "threshold": _number(_text(form, "threshold"), "calibration threshold", float),
                "rule": _text(form, "rule"),
                "retraining": _text(form, "retraining", MAX_RETRAINING),
            },
            by=by,
        )
    elif part == "aggregation":
        projects.set_aggregation(name, {"outside_votes": _text(form, "outside_votes")}, by=by)
    elif part == "gates":
        questions = [q["name"] for q in projects.get(name).schema["questions"]]
        projects.set_gates(name, _gates(form, questions), by=by)
    elif part == "members":
        names = [n for n in _text(form, "users").replace(",", " ").split() if n]
        if not names:
            raise ValidationError("members: name at least one user")
        projects.members.add(name, names, by=by)
    elif part == "remove":
        member = _text(form, "user")
        if not member:
            raise ValidationError("members: choose the member to remove")
        projects.members.remove(name, member, by=by)
    else:
        raise ValidationError("choose a setting to change")


@router.post("/projects/{name}/admin/release")
async def release(
    request: Request, name: ProjectName, user: PageUser, workspace: WorkspaceDep, scopes: ScopesDep
) -> Response:
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    ProjectPolicy.manage(user, scopes.project(name, user))
    WorkspacePolicy.check(user, "release")
    try:
        result = workspace.releases.release(name, by=user.name)
    except GateFailed as exc:
        shown: dict[str, Any] = {"released": None, "gates": [g.to_dict() for g in exc.failed]}
        return _page(
            request,
            workspace,
            name,
            user,
            status_code=422,
            release=shown,
            error=f"Release refused: {len(exc.failed)} quality gate(s) failed; "
            "nothing was released.",
        )
    except ValidationError as exc:
        return _page(request, workspace, name, user, error=exc.message, status_code=422)
    shown = {
        "released": result.version.ref,
        "labelled": result.labelled,
        "unlabelled": result.unlabelled,
        "tied": result.tied,
        "gates": [g.to_dict() for g in result.gates],
    }
    return _page(
        request, workspace, name, user, release=shown, done=f"Released {result.version.ref}."
    )
