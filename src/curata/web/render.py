"""Templates: Jinja2 with autoescaping on for every template (record content, guidelines and
comments are user data: ``<script>`` in a record is shown as text, never run), and the
context every page gets (the user, the CSRF token, the navigation)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from curata._version import __version__
from curata.governance.policies import WorkspacePolicy
from curata.web import HERE
from curata.web.session import csrf_token

ENV = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=True,  # every template, whatever its name
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
"""No inline script may run, whatever a page shows: a second wall behind the escaping."""


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """``template`` rendered with ``context`` plus ``user``, ``csrf``, ``version`` and
    ``nav_redteam`` (whether the navigation links the red-team pages)."""
    user = getattr(request.state, "user", None)
    html = ENV.get_template(template).render(
        request=request, user=user, csrf=csrf_token(request) if user else "",
        version=__version__,
        nav_redteam=user is not None and WorkspacePolicy.allows(user, "redteam.read"),
        **context)
    response = HTMLResponse(html, status_code=status_code)
    secure_headers(response)
    return response


def secure_headers(response: Any) -> None:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cache-Control"] = "no-store"
