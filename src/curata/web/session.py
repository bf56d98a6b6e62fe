"""Who is signed in, and forms that only this site can send.

A sign-in (:meth:`~curata.annotation.workforce.WorkforceService.sign_in`) turns a user's API
token into a session token of purpose ``web``, kept in an ``HttpOnly``, ``SameSite=Lax``
cookie: JavaScript cannot read it and other sites' forms do not carry it. It expires after
``SESSION_HOURS``, ends at sign-out, and ends at once when the user's tokens are revoked or
the user is deactivated (a vendor cut off) — each page checks it like an API token.

Every form that changes something carries a CSRF token (:func:`csrf_token`): derived from the
session token, so a page of another site cannot know it. The sign-in form, before any session
exists, uses a random value kept in a cookie of its own (the double-submit pattern).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request

from curata.core.errors import CurataError, ForbiddenError
from curata.governance.identity import User
from curata.http.deps import WorkspaceDep

SESSION_COOKIE = "curata_session"
LOGIN_COOKIE = "curata_login"
SESSION_HOURS = 12.0


class SignInRequired(CurataError):
    """No valid session: the page answers with a redirect to the sign-in page."""

    status_code = 303

    def __init__(self, next_path: str) -> None:
        super().__init__("sign in first")
        self.next_path = next_path


def session_token(request: Request) -> str | None:
    return request.cookies.get(SESSION_COOKIE) or None


def page_user(request: Request, workspace: WorkspaceDep) -> User:
    """The signed-in user, or :class:`SignInRequired` (the app redirects to ``/login``)."""
    token = session_token(request)
    user = workspace.workforce.authenticate(token) if token else None
    if user is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(path)
    request.state.user = user
    return user


PageUser = Annotated[User, Depends(page_user)]


def csrf_token(request: Request) -> str:
    """The CSRF token of the request's session ('' without one)."""
    token = session_token(request)
    if not token:
        return ""
    return hmac.new(token.encode(), b"curata-csrf", hashlib.sha256).hexdigest()[:40]


def check_csrf(request: Request, sent: object) -> None:
    """403 unless ``sent`` is this session's CSRF token."""
    expected = csrf_token(request)
    if not expected or not isinstance(sent, str) or not hmac.compare_digest(expected, sent):
        raise ForbiddenError("the form is stale or did not come from this site (CSRF token "
                             "missing or wrong): reload the page and try again")


def new_login_nonce() -> str:
    return secrets.token_urlsafe(24)


def check_login_nonce(request: Request, sent: object) -> None:
    expected = request.cookies.get(LOGIN_COOKIE)
    if not expected or not isinstance(sent, str) or not hmac.compare_digest(expected, sent):
        raise ForbiddenError("the sign-in form is stale or did not come from this site: "
                             "reload the page and try again")


def safe_next(value: object) -> str:
    """Where to go after signing in: a path on this site only (never ``//host`` or a URL)."""
    if (isinstance(value, str) and value.startswith("/") and not value.startswith("//")
            and "\\" not in value and len(value) <= 2000):
        return value
    return "/"


def login_url(next_path: str) -> str:
    return "/login" + (f"?next={quote(next_path, safe='/')}" if next_path != "/" else "")
