"""The reviewer's workspace (#15): the next item waiting for review with every annotation side
by side and the questions they disagree on marked; accept or reject (with a reason) each
annotation; an adjudicator (lead, admin) settles the item's final answers by taking one
annotation's answers. Same services and policies as the API's review routes."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from curata.core.errors import CurataError, NotFoundError, ValidationError
from curata.governance.identity import User
from curata.governance.policies import ADJUDICATORS, AnnotationPolicy, ProjectPolicy, TaskPolicy
from curata.http.deps import MAX_ID, ProjectName, ScopesDep, WorkspaceDep
from curata.web.render import render, secure_headers
from curata.web.session import PageUser, check_csrf

router = APIRouter(include_in_schema=False)

MAX_REASON = 2000
MAX_ANSWERS = 100_000

DONE = {"accept": "Accepted annotation {ref}.",
        "fix": "Fixed and accepted annotation {ref}.",
        "reject": "Rejected annotation {ref}: it went back to its annotator.",
        "adjudicate": "Settled item {ref}'s final answers."}
"""What the page says after a decision (a fixed text: nothing from the address is shown)."""


@router.get("/projects/{name}/review")
def review_page(request: Request, name: ProjectName, user: PageUser, workspace: WorkspaceDep,
                scopes: ScopesDep, done: str = "", ref: int = 0) -> Response:
    ProjectPolicy.review(user, scopes.project(name, user))
    said = DONE[done].format(ref=ref) if done in DONE and 0 < ref <= MAX_ID else ""
    item = workspace.reviews.next_review(name, user.name)
    if item is None:
        return render(request, "review.html", project=name, item=None, rows=[],
                      annotations=[], adjudicate=False, done=said, error=None)
    return _item_page(request, name, user, item.to_dict(), done=said)


def _item_page(request: Request, name: str, user: User, item: dict[str, Any], *,
               done: str = "", error: str | None = None, status_code: int = 200) -> Response:
    annotations = item["annotations"]
    questions: list[str] = []
    for annotation in annotations:
        for key in annotation["answers"]:
            if key not in questions:
                questions.append(key)
    rows = []
    for question in questions:
        shown = [_shown(a["answers"].get(question)) for a in annotations]
        rows.append({"question": question, "answers": shown,
                     "disagree": len({s for s in shown if s != "—"}) > 1})
    return render(request, "review.html", status_code=status_code, project=name, item=item,
                  rows=rows, annotations=annotations, done=done,
                  adjudicate=user.role in ADJUDICATORS, error=error)


def _shown(value: Any) -> str:
    """An answer as a reviewer reads it: text as is, a choice with its parts as ``key: value``
    pairs (``choice: B; rationale: …``), a list item by item; other values as JSON."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_shown(v)}" for k, v in value.items())
    if isinstance(value, list):
        return " | ".join(_shown(v) for v in value) or "none"
    return json.dumps(value, ensure_ascii=False)


def _id(value: object, kind: str) -> int:
    if isinstance(value, str) and value.isdigit() and 0 < int(value) <= MAX_ID:
        return int(value)
    raise NotFoundError(f"no {kind} {str(value)[:40]!r}")


@router.post("/projects/{name}/review")
async def decide(request: Request, name: ProjectName, user: PageUser, workspace: WorkspaceDep,
                 scopes: ScopesDep) -> Response:
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    ProjectPolicy.review(user, scopes.project(name, user))
    annotation_id = _id(form.get("annotation_id"), "annotation")
    decision = form.get("decision")
    reason = form.get("reason")
    reason = reason.strip()[:MAX_REASON] if isinstance(reason, str) else ""
    if decision not in ("accept", "fix", "reject"):
        raise ValidationError("decision: choose accept, fix or reject")
    AnnotationPolicy.review(user, scopes.annotation(annotation_id, user))
    try:
        answers = _corrected(form.get("answers")) if decision == "fix" else None
        workspace.reviews.decide(annotation_id, user.name, str(decision), reason=reason,
                                 answers=answers)
    except ValidationError as exc:  # no reason, answers outside the schema: the same item
        item = workspace.reviews.next_review(name, user.name)
        if item is None:
            raise
        return _item_page(request, name, user, item.to_dict(), error=exc.message,
                          status_code=422)
    return _back(name, str(decision), annotation_id)


@router.post("/projects/{name}/adjudicate")
async def adjudicate(request: Request, name: ProjectName, user: PageUser,
                     workspace: WorkspaceDep, scopes: ScopesDep) -> Response:
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    ProjectPolicy.view(user, scopes.project(name, user))
    task_id = _id(form.get("task_id"), "task")
    chosen = _id(form.get("annotation_id"), "annotation")
    TaskPolicy.adjudicate(user, scopes.task(task_id, user))
    reason = form.get("reason")
    reason = reason.strip()[:MAX_REASON] if isinstance(reason, str) else ""
    item = workspace.reviews.next_review(name, user.name)
    answers = None
    if item is not None and item.task_id == task_id:
        answers = next((a["answers"] for a in item.annotations
                        if a["annotation_id"] == chosen), None)
    if answers is None:
        raise CurataError("that item is no longer waiting for review; reload the page")
    workspace.reviews.adjudicate(task_id, user.name, answers, reason=reason)
    return _back(name, "adjudicate", task_id)


def _corrected(value: object) -> dict[str, Any]:
    """The corrected answers of a fix, as the form's JSON (the service checks them against the
    schema and the record, as it checks an annotator's)."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("answers: a fix needs the corrected answers")
    if len(value) > MAX_ANSWERS:
        raise ValidationError(f"answers: longer than {MAX_ANSWERS} characters")
    try:
        answers = json.loads(value)
    except ValueError as exc:
        raise ValidationError(f"answers: not JSON ({exc})") from None
    if not isinstance(answers, dict):
        raise ValidationError('answers: a JSON object, one entry per question ({"topic": …})')
    return answers


def _back(name: str, done: str, ref: int) -> Response:
    response = RedirectResponse(f"/projects/{name}/review?done={done}&ref={ref}",
                                status_code=303)
    secure_headers(response)
    return response
