"""Annotation routes: projects, next item, submit, skip, guideline, review, adjudication, export.

Every route asks :mod:`curata.governance.policies` first — for the project it names or the
task, annotation or assignment it addresses by id — then calls one service method and returns
the schema of the caller's role.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from curata.api.schemas import (
    AdjudicateBody,
    Adjudication,
    ErrorOut,
    ExportFormat,
    Guideline,
    HistoryEntry,
    ProjectForAnnotator,
    ProjectForLead,
    ProjectOut,
    RecalibrateBody,
    Recalibrated,
    ReviewBody,
    ReviewDecision,
    ReviewItemOut,
    SkipBody,
    SkippedOut,
    SubmissionOut,
    SubmitBody,
    TaskOut,
    UserOut,
)
from curata.governance.identity import User
from curata.governance.policies import (
    AnnotationPolicy,
    AssignmentPolicy,
    ProjectPolicy,
    TaskPolicy,
)
from curata.http.deps import (
    AnnotationId,
    AssignmentId,
    CurrentUser,
    MemberName,
    ProjectName,
    ScopesDep,
    TaskId,
    WorkspaceDep,
)

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "The body cannot be read (not UTF-8 JSON)"},
    401: {"model": ErrorOut, "description": "No token, or an invalid or revoked one"},
    403: {"model": ErrorOut, "description": "Visible, but the caller's role may not do this"},
    404: {"model": ErrorOut, "description": "Missing, or not visible to the caller"},
    409: {"model": ErrorOut, "description": "A conflicting change (a lease lost, a retry)"},
    422: {"model": ErrorOut, "description": "The request does not fit its schema"},
}

router = APIRouter(prefix="/api/v1", tags=["annotation"], responses=_ERRORS)


def _project_view(user: User, project: Any) -> ProjectForLead | ProjectForAnnotator:
    data = project.to_dict()
    if ProjectPolicy.sees_gold(user):
        return ProjectForLead.model_validate(data)
    return ProjectForAnnotator.model_validate(data)


@router.get("/me", response_model=UserOut)
def me(user: CurrentUser) -> dict[str, Any]:
    """Who the token belongs to."""
    return user.to_dict()


@router.get("/projects", response_model=list[ProjectOut])
def projects(user: CurrentUser, workspace: WorkspaceDep) -> list[Any]:
    """The projects this user may see (members; admins see all)."""
    return [_project_view(user, p) for p in workspace.projects.members.visible_to(user.name)]


@router.get("/projects/{name}", response_model=ProjectOut)
def project(
    name: ProjectName, user: CurrentUser, workspace: WorkspaceDep, scopes: ScopesDep
) -> Any:
    """One project (404 for projects the user may not see: their existence is not revealed)."""
    ProjectPolicy.view(user, scopes.project(name, user))
    return _project_view(user, workspace.projects.get(name))


@router.get("/projects/{name}/guideline", response_model=Guideline)
def guideline(
    name: ProjectName, user: CurrentUser, workspace: WorkspaceDep, scopes: ScopesDep
) -> dict[str, Any]:
    """The latest published guideline of a project."""
    ProjectPolicy.view(user, scopes.project(name, user))
    return workspace.projects.guidelines.get(name)


@router.post(
    "/projects/{name}/next",
    response_model=TaskOut,
    responses={204: {"description": "Nothing left to do"}},
)
def next_task(
    name: ProjectName, user: CurrentUser, workspace: WorkspaceDep, scopes: ScopesDep
) -> Any:
    """Lease the next item (or resume the one held); 204 when the queue is empty for this user."""
    ProjectPolicy.annotate(user, scopes.project(name, user))
    view = workspace.queue.next_task(name, user.name)
    if view is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return view.to_dict()


@router.post(
    "/assignments/{assignment_id}/submit",
    status_code=status.HTTP_201_CREATED,
    response_model=SubmissionOut,
)
def submit(
    assignment_id: AssignmentId, body: SubmitBody, user: CurrentUser, workspace: WorkspaceDep
) -> dict[str, Any]:
    """Submit answers to one's own lease; 422 names every answer outside the schema, 409 for a
    lost lease, 404 for an assignment that is not the caller's. ``calibration`` is the feedback
    on a calibration item (null for live and gold items alike)."""
    done = workspace.queue.submit(
        assignment_id,
        user.name,
        body.answers,
        duration_ms=body.duration_ms,
        # asked with the scope the submit's own statement reads: no extra round trip
        authorize=lambda scope: AssignmentPolicy.submit(user, scope),
    )
    return done.to_dict()


@router.post("/assignments/{assignment_id}/skip", response_model=SkippedOut)
def skip(
    assignment_id: AssignmentId, body: SkipBody, user: CurrentUser, workspace: WorkspaceDep
) -> dict[str, Any]:
    """Give one's own lease back with a reason (audited): the item goes to someone else and
    never comes back to the caller; 403 for a calibration item, 409 for a lease no longer
    held, 404 for an assignment that is not the caller's (the same policy as submit)."""
    done = workspace.queue.skip(
        assignment_id,
        user.name,
        body.reason,
        note=body.note,
        authorize=lambda scope: AssignmentPolicy.submit(user, scope),
    )
    return done.to_dict()


@router.post("/projects/{name}/members/{member}/recalibrate", response_model=Recalibrated)
def recalibrate(
    name: ProjectName,
    member: MemberName,
    body: RecalibrateBody,
    user: CurrentUser,
    workspace: WorkspaceDep,
    scopes: ScopesDep,
) -> dict[str, Any]:
    """Let a member take the calibration set again (leads and admins)."""
    ProjectPolicy.manage(user, scopes.project(name, user))
    superseded = workspace.projects.members.reset_calibration(
        name, member, reason=body.reason, by=user.name
    )
    return {"project": name, "user": member, "superseded": superseded}


@router.post(
    "/projects/{name}/reviews/next",
    response_model=ReviewItemOut,
    responses={204: {"description": "Nothing to review"}},
)
def next_review(
    name: ProjectName, user: CurrentUser, workspace: WorkspaceDep, scopes: ScopesDep
) -> Any:
    """The next item waiting for review, with every annotation side by side (only items the
    reviewer is cleared to read)."""
    ProjectPolicy.review(user, scopes.project(name, user))
    item = workspace.reviews.next_review(name, user.name)
    if item is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return item.to_dict()


@router.post(
    "/annotations/{annotation_id}/review",
    status_code=status.HTTP_201_CREATED,
    response_model=ReviewDecision,
)
def review(
    annotation_id: AnnotationId,
    body: ReviewBody,
    user: CurrentUser,
    workspace: WorkspaceDep,
    scopes: ScopesDep,
) -> dict[str, Any]:
    """Accept, fix-and-accept or reject (with a reason) one annotation."""
    AnnotationPolicy.review(user, scopes.annotation(annotation_id, user))
    return workspace.reviews.decide(
        annotation_id, user.name, body.decision, reason=body.reason, answers=body.answers
    )


@router.post(
    "/tasks/{task_id}/adjudicate",
    status_code=status.HTTP_201_CREATED,
    response_model=Adjudication,
)
def adjudicate(
    task_id: TaskId,
    body: AdjudicateBody,
    user: CurrentUser,
    workspace: WorkspaceDep,
    scopes: ScopesDep,
) -> dict[str, Any]:
    """Settle an item's final answers (leads and admins of its project)."""
    TaskPolicy.adjudicate(user, scopes.task(task_id, user))
    return workspace.reviews.adjudicate(task_id, user.name, body.answers, reason=body.reason)


@router.get("/tasks/{task_id}/history", response_model=list[HistoryEntry])
def history(
    task_id: TaskId, user: CurrentUser, workspace: WorkspaceDep, scopes: ScopesDep
) -> list[dict[str, Any]]:
    """Every review and adjudication of an item, oldest first (reviewers and leads of its
    project)."""
    TaskPolicy.history(user, scopes.task(task_id, user))
    return workspace.reviews.history(task_id)


@router.get("/projects/{name}/export", response_model=list[dict[str, Any]])
def export(
    name: ProjectName,
    user: CurrentUser,
    workspace: WorkspaceDep,
    scopes: ScopesDep,
    format: ExportFormat = "labelstudio",
) -> list[dict[str, Any]]:
    """Items with their annotations, leaving out records above the caller's clearance (in-house
    leads and admins of the project)."""
    ProjectPolicy.export(user, scopes.project(name, user))
    return workspace.transfer.export(name, format, clearance=user.clearance)
