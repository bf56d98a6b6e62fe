"""Sign-in, sign-out and the home page (the projects a user may see, with what they may do in
each); the workspaces' pages live in their own modules (:func:`curata.web.mount`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from curata.core.errors import AuthError
from curata.governance.policies import MANAGERS, REVIEWERS, WORKERS, ProjectPolicy
from curata.http.deps import WorkspaceDep
from curata.web.render import render, secure_headers
from curata.web.session import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    SESSION_HOURS,
    PageUser,
    check_csrf,
    check_login_nonce,
    new_login_nonce,
    safe_next,
    session_token,
)

router = APIRouter(include_in_schema=False)

MAX_FORM_FIELD = 4096


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Response:
    nonce = new_login_nonce()
    response = render(request, "login.html", next=safe_next(next), nonce=nonce, error=None)
    response.set_cookie(LOGIN_COOKIE, nonce, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", max_age=3600, path="/login")
    return response


@router.post("/login")
async def login(request: Request, workspace: WorkspaceDep) -> Response:
    form = await request.form()
    check_login_nonce(request, form.get("nonce"))
    name, token = form.get("name"), form.get("token")
    target = safe_next(form.get("next"))
    if not (isinstance(name, str) and isinstance(token, str) and name and token
            and len(name) <= MAX_FORM_FIELD and len(token) <= MAX_FORM_FIELD):
        return _login_failed(request, target, "Enter your user name and your API token.")
    try:
        _user, session = workspace.workforce.sign_in(name.strip(), token.strip(),
                                                     hours=SESSION_HOURS)
    except AuthError:
        return _login_failed(request, target, "Unknown user name or token (or the token "
                             "was revoked). Ask your project lead for a token.")
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(SESSION_COOKIE, session, httponly=True, samesite="lax",
                        secure=request.url.scheme == "https",
                        max_age=int(SESSION_HOURS * 3600), path="/")
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    secure_headers(response)
    return response


def _login_failed(request: Request, target: str, error: str) -> Response:
    nonce = new_login_nonce()
    response = render(request, "login.html", status_code=401, next=target, nonce=nonce,
                      error=error)
    response.set_cookie(LOGIN_COOKIE, nonce, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", max_age=3600, path="/login")
    return response


@router.post("/logout")
async def logout(request: Request, user: PageUser, workspace: WorkspaceDep) -> Response:
    form = await request.form()
    check_csrf(request, form.get("csrf"))
    token = session_token(request)
    if token:
        workspace.workforce.sign_out(token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    secure_headers(response)
    return response


@router.get("/")
def home(request: Request, user: PageUser, workspace: WorkspaceDep) -> Response:
    projects = [{
        "name": project.name,
        "version": project.version,
        "tasks": project.tasks - (project.gold_tasks if not ProjectPolicy.sees_gold(user) else 0),
        "complete": project.complete,
        "guideline_version": project.guideline_version,
        "annotate": user.role in WORKERS,
        "review": user.role in REVIEWERS,
        "manage": user.role in MANAGERS,
    } for project in workspace.projects.members.visible_to(user.name)]
    return render(request, "home.html", projects=projects)
