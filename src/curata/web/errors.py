"""What a browser sees when a page fails: a redirect to sign in, or a page saying what went
wrong with the API's status code (403 for a role that may not, 404 for what it may not see)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from curata.core.errors import CurataError
from curata.web.render import render, secure_headers
from curata.web.session import SignInRequired, login_url

TITLES = {400: "That did not work", 401: "Sign in again", 403: "Not allowed",
          404: "Not found", 409: "Someone else changed this", 422: "That did not work"}


def page_error(request: Request, exc: CurataError, status_code: int | None = None) -> Response:
    if isinstance(exc, SignInRequired):
        response: Response = RedirectResponse(login_url(exc.next_path), status_code=303)
        secure_headers(response)
        return response
    code = status_code or exc.status_code
    return render(request, "error.html", status_code=code, status=code,
                  title=TITLES.get(code, "Something went wrong"), message=exc.message)
