"""Annotation routes: projects an annotator can see, next task, submit, guideline."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field

from curata.api.deps import CurrentUser, WorkspaceDep, require_role

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
    workspace.projects.for_user(name, user.name)
    return workspace.projects.guideline(name)


@router.post("/projects/{name}/next", responses={204: {"description": "Nothing left to do"}})
def next_task(
    name: str, user: CurrentUser, workspace: WorkspaceDep, response: Response
) -> dict[str, Any] | None:
    """Lease the next item (or resume the one held); 204 when the queue is empty for this user."""
    require_role(user, *WORKERS)
    workspace.projects.for_user(name, user.name)
    view = workspace.queue.next_task(name, user.name)
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
