"""The web application (#15): server-rendered pages over the same services and policies as the
API (:mod:`curata.api`), for annotators, reviewers, red-team reviewers, project admins and the
program lead.

:func:`mount` adds the pages and their static files to an API app; every page asks the same
policy objects the API routes ask, so what a role may not do over HTTP it may not do here.
Sign-in is with a user's API token (``curata user token NAME``); the browser then holds a
session token of its own (:mod:`curata.web.session`)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

HERE = Path(__file__).parent


def mount(app: FastAPI) -> None:
    """Add the pages (``/``, ``/login``, ``/projects/...``) and ``/static`` to ``app``."""
    from curata.web import admin, annotate, dashboard, pages, redteam, review

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for module in (pages, annotate, dashboard, review, admin, redteam):
        app.include_router(module.router)

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> RedirectResponse:
        return RedirectResponse("/static/favicon.svg", status_code=301)
