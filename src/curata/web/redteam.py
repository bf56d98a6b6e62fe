"""Red-team review (#15): the workspace's campaigns, one campaign's attack success rate by
category and its findings a page at a time, and one finding in full (every turn, the converter
chain, every scorer's verdict and reason, the target's configuration) with the review form.

Access is the API's (:mod:`curata.api.routes.redteam`): ``redteam.read`` (admin, lead,
reviewer, sme; never a vendor user) for every page, asked before anything else. Numbers and
attempts come from :class:`~curata.redteam.campaigns.CampaignService` (``ws.campaigns``:
``list``, ``get``, ``report``, ``attempts``, ``iter_attempts``).

Review goes through :class:`~curata.redteam.review.FindingsService` as ``curata redteam
review`` does: :meth:`~curata.redteam.review.FindingsService.review` sends the campaign's
findings (and a sample of its passes) to an annotation project (``project.admin``, as the
CLI asks); each finding is then answered in that project with the two questions of
:func:`~curata.redteam.review.review_schema` (``outcome``: breach / refused / safe — a false
positive is a breach the reviewer calls refused or safe; ``response``: the failure class from
the attack categories, or none, and the safe response, required), submitted with
``queue.submit`` under the API's :class:`~curata.governance.policies.AssignmentPolicy`, so
the project's release feeds ``redteam report --review`` and ``redteam curate`` unchanged.
The queue leases items in its own order. Opening a finding (GET) changes nothing: it shows the
form for the finding the reviewer already holds, a link to the one they hold instead, or a
"Start review" button; that button POSTs (with the CSRF token) to ``…/attempts/A/claim``, which
takes the next lease of the project (``queue.next_task``, the queue's order) and redirects to
the page of the finding now held, where the form is. So prefetchers, link previews and reloads
never take a lease."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy import select

from curata.core.errors import ConflictError, CurataError, NotFoundError, ValidationError
from curata.governance.identity import User
from curata.governance.policies import (
    AssignmentPolicy,
    ItemScope,
    ProjectPolicy,
    Scopes,
    WorkspacePolicy,
    missing,
)
from curata.http.deps import MAX_ID, ScopesDep, WorkspaceDep
from curata.redteam.attacks import CATEGORIES
from curata.redteam.campaigns import AttemptView
from curata.redteam.review import OUTCOMES
from curata.store.tables import AssignmentRow, ProjectRow, TaskRow
from curata.store.tables.base import utcnow
from curata.web.charts import Bar, BarGroup, bar_chart
from curata.web.render import render, secure_headers
from curata.web.session import PageUser, check_csrf

router = APIRouter(include_in_schema=False)

CAMPAIGN_ID = re.compile(r"^rt-[0-9a-f]{12}$")
LIST_LIMIT = 50
"""The newest campaigns listed."""
PAGE_SIZE = 25
"""Attempts per page of a campaign."""
MAX_PAGE = 100_000
SHOWN = ("breach", "failures", "refused", "safe", "error", "empty", "all")
"""The attempt filters: a verdict, the model's failures (a breached attack or a refused benign
prompt), or every attempt."""
MAX_RESPONSE = 20_000
MAX_NAME = 200
OUTCOME_TEXT = {
    "breach": "breach: it complied (confirms a breach)",
    "refused": "refused: it declined",
    "safe": "safe: it answered without harm",
}
DONE = {"review": "Your review of this finding was recorded.",
        "sent": "The findings were sent to review.",
        "empty": "Nothing of the review project is waiting for you."}


def _reader(user: User) -> None:
    WorkspacePolicy.check(user, "redteam.read")


def _campaign(value: str) -> str:
    if not CAMPAIGN_ID.match(value):
        raise NotFoundError(f"no campaign {value[:40]!r}")
    return value


def _int(value: object, kind: str) -> int:
    if isinstance(value, str) and value.isdigit() and 0 < int(value) <= MAX_ID:
        return int(value)
    raise NotFoundError(f"no {kind} {str(value)[:40]!r}")


def _pct(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


# -- campaigns ------------------------------------------------------------------------------------


@router.get("/redteam")
def campaigns_page(request: Request, user: PageUser, workspace: WorkspaceDep) -> Response:
    """The newest campaigns with their attack success rate."""
    _reader(user)
    rows = []
    for campaign in workspace.campaigns.list(limit=LIST_LIMIT):
        rate = workspace.campaigns.report(campaign.id, examples=0).attack_success
        rows.append({"id": campaign.id, "label": campaign.label or campaign.id,
                     "target": _target_name(campaign.target), "status": campaign.status,
                     "attempts": campaign.attempts, "planned": campaign.planned,
                     "attack_set": campaign.version_ref,
                     "asr": _pct(rate.rate), "low": _pct(rate.low), "high": _pct(rate.high),
                     "n": rate.n, "created_at": campaign.created_at})
    return render(request, "redteam_campaigns.html", campaigns=rows, limit=LIST_LIMIT)


def _target_name(target: dict[str, Any]) -> str:
    return str(target.get("model") or target.get("target") or target.get("name") or "?")


@router.get("/redteam/campaigns/{campaign_id}")
def campaign_page(request: Request, campaign_id: str, user: PageUser, workspace: WorkspaceDep,
                  scopes: ScopesDep, verdict: str = "breach", page: int = 1,
                  done: str = "") -> Response:
    """The campaign's report summary and its attempts filtered by verdict, a page at a time."""
    _reader(user)
    return _campaign_page(request, _campaign(campaign_id), user, workspace, scopes,
                          verdict=verdict, page=page, done=DONE.get(done, ""))


def _campaign_page(request: Request, campaign_id: str, user: User, workspace: Any,
                   scopes: Scopes, *, verdict: str = "breach", page: int = 1, done: str = "",
                   error: str | None = None, form: dict[str, str] | None = None,
                   status_code: int = 200) -> Response:
    campaign = workspace.campaigns.get(campaign_id)
    report = workspace.campaigns.report(campaign_id, examples=0)
    if verdict not in SHOWN:
        verdict = "breach"
    page = min(max(page, 1), MAX_PAGE)
    found = workspace.campaigns.attempts(
        campaign_id, verdict=verdict if verdict not in ("failures", "all") else None,
        failures=verdict == "failures", limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
    categories = [r.to_dict() for r in report.by["category"]]
    chart = Markup(bar_chart(
        "Attack success rate by category, with 95% intervals",
        [BarGroup("Attack success by category",
                  [Bar(r["value"], r["rate"], r["low"], r["high"], r["n"])
                   for r in categories])], ident="asr"))
    return render(
        request, "redteam_campaign.html", status_code=status_code, campaign=campaign.to_dict(),
        target=_target_name(campaign.target), overall=report.attack_success.to_dict(),
        over_refusal=report.over_refusal.to_dict(), verdicts=report.verdicts,
        categories=categories, chart=chart, pct=_pct, attempts=found[:PAGE_SIZE],
        verdict=verdict, shown=SHOWN, page=page, more=len(found) > PAGE_SIZE,
        reviews=_review_projects(workspace, campaign_id, user),
        may_send=WorkspacePolicy.allows(user, "project.admin"), done=done, error=error,
        form=form or {"project": f"{campaign_id}-review", "passes": "0.1",
                      "members": user.name})


def _review_projects(workspace: Any, campaign_id: str, user: User) -> list[str]:
    """The review projects of the campaign (made by ``findings.review`` on its default
    dataset, ``<campaign>-review``) that ``user`` may open."""
    prefix = f"{campaign_id}-review@"
    return [p.name for p in workspace.projects.list()
            if p.version.startswith(prefix) and (user.role == "admin" or user.name in p.members)]


@router.post("/redteam/campaigns/{campaign_id}/review")
async def send_to_review(request: Request, campaign_id: str, user: PageUser,
                         workspace: WorkspaceDep, scopes: ScopesDep) -> Response:
    """Send the campaign's findings to an annotation project: ``findings.review``, the method
    of ``curata redteam review`` (``project.admin``, as the CLI asks)."""
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    _reader(user)
    WorkspacePolicy.check(user, "project.admin")
    campaign_id = _campaign(campaign_id)
    values = {k: str(form.get(k) or "").strip()[:MAX_NAME] for k in ("project", "passes",
                                                                     "members")}
    try:
        try:
            passes = float(values["passes"] or "0.1")
        except ValueError:
            raise ValidationError(
                f"passes: a share between 0 and 1, got {values['passes']!r}") from None
        members = [m for m in re.split(r"[\s,]+", values["members"]) if m]
        workspace.findings.review(campaign_id, project=values["project"], passes=passes,
                                  members=members or None, owner=user.name)
    except ValidationError as exc:
        return _campaign_page(request, campaign_id, user, workspace, scopes, error=exc.message,
                              form=values, status_code=422)
    except CurataError as exc:  # an existing project, an unknown member: the same page
        if exc.status_code >= 500 or exc.status_code in (401, 403):
            raise
        return _campaign_page(request, campaign_id, user, workspace, scopes, error=exc.message,
                              form=values, status_code=exc.status_code)
    return _redirect(f"/redteam/campaigns/{campaign_id}?done=sent")


# -- one finding ----------------------------------------------------------------------------------


def _attempt(workspace: Any, campaign_id: str, attempt_id: int) -> AttemptView:
    return workspace.campaigns.attempt(campaign_id, attempt_id)  # type: ignore[no-any-return]


@router.get("/redteam/campaigns/{campaign_id}/attempts/{attempt}")
def finding_page(request: Request, campaign_id: str, attempt: str, user: PageUser,
                 workspace: WorkspaceDep, scopes: ScopesDep, done: str = "") -> Response:
    """One attempt in full, and the review form when the reviewer holds it."""
    _reader(user)
    return _finding_page(request, _campaign(campaign_id), _int(attempt, "attempt"), user,
                         workspace, scopes, done=DONE.get(done, ""), empty=done == "empty")


def _finding_page(request: Request, campaign_id: str, attempt_id: int, user: User,
                  workspace: Any, scopes: Scopes, *, done: str = "", error: str | None = None,
                  form: dict[str, str] | None = None, status_code: int = 200,
                  empty: bool = False) -> Response:
    campaign = workspace.campaigns.get(campaign_id)
    attempt = _attempt(workspace, campaign_id, attempt_id)
    review = _review_state(workspace, user, scopes, campaign_id, attempt_id)
    return render(
        request, "redteam_finding.html", status_code=status_code, campaign=campaign.to_dict(),
        attempt=attempt.to_dict(), target=json.dumps(campaign.target, indent=2, sort_keys=True,
                                                    ensure_ascii=False),
        scorers=campaign.scorers, review=review, outcomes=OUTCOME_TEXT, categories=CATEGORIES,
        done="" if empty else done, error=error, form=form or {}, empty=empty)


def _review_state(workspace: Any, user: User, scopes: Scopes, campaign_id: str,
                  attempt_id: int) -> dict[str, Any]:
    """Where the finding's review stands for ``user``, read without taking anything: no
    project, the project and the lease to answer (this finding's), the finding the user holds
    instead, or none held (the page offers "Start review", which POSTs to the claim)."""
    projects = _review_projects(workspace, campaign_id, user)
    state: dict[str, Any] = {"project": None, "blocked": None, "assignment": None,
                             "next": None}
    if not projects:
        return state
    state["project"] = name = projects[0]
    try:
        ProjectPolicy.annotate(user, scopes.project(name, user))
    except CurataError as exc:
        return {**state, "blocked": exc.message}
    held = _held(workspace, user, name)
    if held is None:
        return state
    assignment_id, held_attempt = held
    if held_attempt == attempt_id:
        return {**state, "assignment": assignment_id}
    return {**state, "next": held_attempt}


def _held(workspace: Any, user: User, project: str) -> tuple[int, Any] | None:
    """The lease ``user`` holds on ``project`` (the one ``queue.next_task`` resumes: of two,
    the older) and the attempt its record is, or ``None``; a read only."""
    with workspace.projects.sessions() as session:
        found = session.execute(
            select(AssignmentRow.id, TaskRow.row)
            .join(TaskRow, TaskRow.id == AssignmentRow.task_id)
            .join(ProjectRow, ProjectRow.id == TaskRow.project_id)
            .where(ProjectRow.name == project, AssignmentRow.user_id == user.id,
                   AssignmentRow.status == "leased", AssignmentRow.expires_at > utcnow())
            .order_by(AssignmentRow.id)
            .limit(1)
        ).first()
    if found is None:
        return None
    record = workspace.store.take_records([int(found.row)])[0]
    return int(found.id), (record.metadata or {}).get("attempt")


@router.post("/redteam/campaigns/{campaign_id}/attempts/{attempt}/claim")
async def claim_finding(request: Request, campaign_id: str, attempt: str, user: PageUser,
                        workspace: WorkspaceDep, scopes: ScopesDep) -> Response:
    """Start reviewing: lease the next item of the review project (or resume the one held)
    and go to the page of the finding it is, which shows the form."""
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    _reader(user)
    campaign_id = _campaign(campaign_id)
    attempt_id = _int(attempt, "attempt")
    _attempt(workspace, campaign_id, attempt_id)  # 404 for an attempt not of the campaign
    project = str(form.get("project") or "")
    if project not in _review_projects(workspace, campaign_id, user):
        raise missing("project", project[:MAX_NAME])
    ProjectPolicy.annotate(user, scopes.project(project, user))
    try:
        view = workspace.queue.next_task(project, user.name)
    except CurataError as exc:  # calibration owed, skills missing: said on the page
        if exc.status_code >= 500 or exc.status_code == 401:
            raise
        return _finding_page(request, campaign_id, attempt_id, user, workspace, scopes,
                             error=exc.message, status_code=exc.status_code)
    if view is None:
        return _redirect(f"/redteam/campaigns/{campaign_id}/attempts/{attempt_id}?done=empty")
    held = (view.record.get("metadata") or {}).get("attempt")
    if not isinstance(held, int) or held <= 0:
        held = attempt_id
    return _redirect(f"/redteam/campaigns/{campaign_id}/attempts/{held}")


@router.post("/redteam/campaigns/{campaign_id}/attempts/{attempt}")
async def review_finding(request: Request, campaign_id: str, attempt: str, user: PageUser,
                         workspace: WorkspaceDep, scopes: ScopesDep) -> Response:
    """The reviewer's answers for the finding they hold, through ``queue.submit``."""
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    _reader(user)
    campaign_id = _campaign(campaign_id)
    attempt_id = _int(attempt, "attempt")
    assignment_id = _int(form.get("assignment_id"), "assignment")
    project = str(form.get("project") or "")
    if project not in _review_projects(workspace, campaign_id, user):
        raise missing("project", project[:MAX_NAME])
    ProjectPolicy.annotate(user, scopes.project(project, user))
    values = {k: str(form.get(k) or "") for k in ("outcome", "category", "rewritten")}
    values["rewritten"] = values["rewritten"][:MAX_RESPONSE]

    def again(message: str, code: int) -> Response:
        return _finding_page(request, campaign_id, attempt_id, user, workspace, scopes,
                             error=message, form=values, status_code=code)

    held = workspace.queue.next_task(project, user.name)
    if (held is None or held.assignment_id != assignment_id
            or (held.record.get("metadata") or {}).get("attempt") != attempt_id):
        return again("This finding is no longer yours to review (the lease expired or moved "
                     "on): reload the page.", 409)
    if values["outcome"] not in OUTCOMES:
        return again("outcome: choose breach, refused or safe", 422)
    category = values["category"]
    response: dict[str, Any] = {"should_refuse": bool(category),
                                "rewritten": values["rewritten"]}
    if category:
        response["category"] = category
    answers = {"outcome": values["outcome"], "response": response}

    def authorize(scope: ItemScope) -> None:
        AssignmentPolicy.submit(user, scope)
        if scope.project.name != project:
            raise missing("assignment", assignment_id)

    try:
        workspace.queue.submit(assignment_id, user.name, answers, authorize=authorize)
    except ValidationError as exc:
        return again(exc.message, 422)
    except ConflictError as exc:
        return again(exc.message, 409)
    return _redirect(f"/redteam/campaigns/{campaign_id}/attempts/{attempt_id}?done=review")


def _redirect(path: str) -> Response:
    response = RedirectResponse(path, status_code=303)
    secure_headers(response)
    return response
