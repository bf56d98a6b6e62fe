"""Request dependencies: the workspace, the user behind the bearer token, the access scopes, and
the path parameters every route shares (a project name, an id).

Dependencies that do no I/O are ``async``: FastAPI runs a plain ``def`` dependency in its thread
pool, a thread hop per dependency per request on the queue's hot path."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from curata.core.errors import NotFoundError
from curata.governance.identity import User
from curata.governance.policies import Scopes, missing
from curata.sourcing.service import NAME_PATTERN
from curata.workspace import Workspace

_bearer = HTTPBearer(auto_error=False, description="An API token from 'curata user token NAME'.")

MAX_ID = 2**31 - 1
"""Ids are positive 32-bit integers (the id columns' SQL type; PostgreSQL refuses a larger
value in a comparison with an error); anything outside answers 404 like a missing id."""


async def get_workspace(request: Request) -> Workspace:
    workspace: Workspace = request.app.state.workspace
    return workspace


WorkspaceDep = Annotated[Workspace, Depends(get_workspace)]


async def get_scopes(request: Request) -> Scopes:
    scopes: Scopes = request.app.state.scopes
    return scopes


ScopesDep = Annotated[Scopes, Depends(get_scopes)]


async def current_user(
    workspace: WorkspaceDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    """401 unless the request carries a valid, unrevoked token of an active user. A token
    seen lately is answered from memory on the event loop; only the others take a thread to
    ask the database (a thread hop per request cost the queue's hot path, measured)."""
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing bearer token (Authorization: Bearer <token>)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    token = credentials.credentials
    user = workspace.workforce.remembered(token)
    if user is None:
        user = await run_in_threadpool(workspace.workforce.authenticate, token)
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "invalid or revoked token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return user


CurrentUser = Annotated[User, Depends(current_user)]


# A name that cannot exist (wrong characters, NUL, a lone surrogate) is simply not found: it
# never reaches the database, which would refuse some of them with an error.


async def project_name(name: Annotated[str, Path(description="The project's name.")]) -> str:
    if not NAME_PATTERN.match(name):
        raise missing("project", name)
    return name


async def member_name(member: Annotated[str, Path(description="A user's name.")]) -> str:
    if not NAME_PATTERN.match(member):
        raise NotFoundError(f"unknown user {member!r}")
    return member


ProjectName = Annotated[str, Depends(project_name)]
MemberName = Annotated[str, Depends(member_name)]

# ids outside 1..MAX_ID are answered 404 by the app's validation handler (see app.py)
TaskId = Annotated[int, Path(ge=1, le=MAX_ID, description="A task's id.")]
AnnotationId = Annotated[int, Path(ge=1, le=MAX_ID, description="An annotation's id.")]
AssignmentId = Annotated[int, Path(ge=1, le=MAX_ID, description="An assignment's id.")]
