"""Annotation routes: projects an annotator can see, next task, submit, guideline."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Response, status
from pydantic import BaseModel, Field

from curata.annotation.queue import NotMemberError
from curata.api.deps import CurrentUser, WorkspaceDep, require_role
from curata.core.errors import NotFoundError

router = APIRouter(prefix="/api/v1", tags=["annotation"])

WORKERS = ("admin", "lead", "reviewer", "annotator", "sme")


class SubmitBody(BaseModel):
    """An annotator's answers for one assignment."""

    answers: dict[str, Any]
    duration_ms: int | None = Field(default=None, ge=0)


@router.get("/me")
def me(user: CurrentUser) -> dict[str, Any]:
    """Who the token belongs to."""
    return user.to_dict()


@router.get("/projects")
def projects(user: CurrentUser, workspace: WorkspaceDep) -> list[dict[str, Any]]:
    """The projects this user may see (members; admins see all)."""
    return [p.to_dict() for p in workspace.projects.visible_to(user.name)]


@router.get("/projects/{name}")
def project(name: str, user: CurrentUser, workspace: WorkspaceDep) -> dict[str, Any]:
    """One project (404 for projects the user may not see: their existence is not revealed)."""
    return workspace.projects.for_user(name, user.name).to_dict()


@router.get("/projects/{name}/guideline")
def guideline(name: str, user: CurrentUser, workspace: WorkspaceDep) -> dict[str, Any]:
    """The latest published guideline of a project."""
    workspace.projects.check_visible(name, user.name)
    return workspace.projects.guideline(name)


@router.post("/projects/{name}/next", responses={204: {"description": "Nothing left to do"}})
def next_task(
    name: str, user: CurrentUser, workspace: WorkspaceDep, response: Response
) -> dict[str, Any] | None:
    """Lease the next item (or resume the one held); 204 when the queue is empty for this user."""
    require_role(user, *WORKERS)
    try:
        view = workspace.queue.next_task(name, user.name)
    except NotMemberError:
        raise NotFoundError(f"unknown project {name!r}") from None
    if view is None:
        response.status_code = status.HTTP_204_NO_CONTENT
        return None
    return view.to_dict()


@router.post("/assignments/{assignment_id}/submit", status_code=status.HTTP_201_CREATED)
def submit(
    assignment_id: int, body: SubmitBody, user: CurrentUser, workspace: WorkspaceDep
) -> dict[str, Any]:
    """Submit answers; 422 names every answer outside the schema, 409 for a lost lease."""
    require_role(user, *WORKERS)
    done = workspace.queue.submit(
        assignment_id, user.name, body.answers, duration_ms=body.duration_ms
    )
    return done.to_dict()


class RecalibrateBody(BaseModel):
    """Why an annotator takes calibration again (goes to the audit log)."""

    reason: str = ""


@router.post("/projects/{name}/members/{member}/recalibrate")
def recalibrate(
    name: str, member: str, body: RecalibrateBody, user: CurrentUser, workspace: WorkspaceDep
) -> dict[str, Any]:
    """Let a member take the calibration set again (leads and admins)."""
    require_role(user, "admin", "lead")
    workspace.projects.check_visible(name, user.name)
    superseded = workspace.projects.reset_calibration(
        name, member, reason=body.reason, by=user.name
    )
    return {"project": name, "user": member, "superseded": superseded}


class ReviewBody(BaseModel):
    """A reviewer's decision on one annotation."""

    decision: str = Field(description="accept, fix or reject")
    reason: str = ""
    answers: dict[str, Any] | None = None


class AdjudicateBody(BaseModel):
    """An adjudicator's final answers for an item."""

    answers: dict[str, Any]
    reason: str = ""


@router.post("/projects/{name}/reviews/next", responses={204: {"description": "Nothing to review"}})
def next_review(
    name: str, user: CurrentUser, workspace: WorkspaceDep, response: Response
) -> dict[str, Any] | None:
    """The next item waiting for review, with every annotation side by side."""
    workspace.projects.check_visible(name, user.name)
    item = workspace.reviews.next_review(name, user.name)
    if item is None:
        response.status_code = status.HTTP_204_NO_CONTENT
        return None
    return item.to_dict()


@router.post("/annotations/{annotation_id}/review", status_code=status.HTTP_201_CREATED)
def review(
    annotation_id: int, body: ReviewBody, user: CurrentUser, workspace: WorkspaceDep
) -> dict[str, Any]:
    """Accept, fix-and-accept or reject (with a reason) one annotation."""
    return workspace.reviews.decide(
        annotation_id, user.name, body.decision, reason=body.reason, answers=body.answers
    )


@router.post("/tasks/{task_id}/adjudicate", status_code=status.HTTP_201_CREATED)
def adjudicate(
    task_id: int, body: AdjudicateBody, user: CurrentUser, workspace: WorkspaceDep
) -> dict[str, Any]:
    """Settle an item's final answers (leads and admins)."""
    return workspace.reviews.adjudicate(task_id, user.name, body.answers, reason=body.reason)


@router.get("/tasks/{task_id}/history")
def history(task_id: int, user: CurrentUser, workspace: WorkspaceDep) -> list[dict[str, Any]]:
    """Every review and adjudication of an item, oldest first (reviewers and leads)."""
    require_role(user, "admin", "lead", "reviewer", "sme")
    return workspace.reviews.history(task_id)


@router.get("/projects/{name}/export")
def export(
    name: str, user: CurrentUser, workspace: WorkspaceDep, format: str = "labelstudio"
) -> list[dict[str, Any]]:
    """Items with their annotations (leads and admins of the organisation; never vendor users)."""
    require_role(user, "admin", "lead")
    if user.vendor is not None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "vendor users cannot export")
    workspace.projects.check_visible(name, user.name)
    return workspace.transfer.export(name, format)
