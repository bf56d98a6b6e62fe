"""``create_app``: the FastAPI application over one Workspace (nothing built at import time)."""

from __future__ import annotations

import gc
import json
import os
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from curata import web
from curata._version import __version__
from curata.api.routes import annotation, redteam
from curata.api.schemas import Health
from curata.core.errors import CurataError
from curata.governance.policies import Scopes, missing
from curata.store.db import POOL_SIZE
from curata.web import dashboard
from curata.web.errors import page_error
from curata.web.forms import FormGuard
from curata.workspace import Workspace


def app_from_environment() -> FastAPI:
    """The API over the workspace named by ``CURATA_HOME`` (for ``uvicorn --factory`` and
    ``curata serve --workers N``, where each worker process opens its own workspace)."""
    return create_app(Workspace.open(), warm_dashboards=True)


def create_app(workspace: Workspace, *, warm_dashboards: bool = False) -> FastAPI:
    """The API over ``workspace``; OpenAPI at ``/docs`` and ``/openapi.json``. With
    ``warm_dashboards`` (``curata serve``), every project's dashboard snapshot is computed in a
    background thread at start, so no lead's first view waits for it."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # sync routes run in anyio's thread pool: as many threads as pooled connections, so a
        # request never opens (and closes) a connection of its own
        anyio.to_thread.current_default_thread_limiter().total_tokens = POOL_SIZE
        if os.environ.get("CURATA_GC_FREEZE", "1") == "1":
            # everything imported and built at start-up is long-lived: keep it out of the
            # garbage collector's full passes, which otherwise pause requests for tens of ms
            gc.collect()
            gc.freeze()
        if warm_dashboards:
            snapshots = dashboard.dashboard_snapshots(_app)
            threading.Thread(target=dashboard.warm, args=(workspace, snapshots),
                             name="curata-dashboard-warm", daemon=True).start()
        yield

    app = FastAPI(
        lifespan=lifespan,
        title="Curata",
        version=__version__,
        description="The training-data supply chain of an LLM program, as one measurable loop.",
    )
    app.state.workspace = workspace
    app.state.scopes = Scopes(workspace.projects.sessions)

    @app.exception_handler(CurataError)
    def curata_error(request: Request, exc: CurataError) -> Response:
        if not _is_api(request):
            return page_error(request, exc)  # a browser on a page gets a page
        return ErrorResponse(status_code=exc.status_code, content={"detail": exc.message})

    @app.exception_handler(RequestValidationError)
    def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        response = validation_response(exc)
        if not _is_api(request):  # a page's bad path or query: the same status, as a page
            status_code = response.status_code
            return page_error(request, CurataError("no such page" if status_code == 404 else
                                                   "the address has a bad value in it"),
                              status_code=status_code)
        return response

    @app.get("/health", tags=["meta"], response_model=Health)
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    app.include_router(annotation.router)
    app.include_router(redteam.router)
    web.mount(app)
    app.add_middleware(FormGuard)
    app.add_middleware(ServerTiming)
    return app


class ServerTiming:
    """``Server-Timing: app;dur=MS`` on every page (not under ``/api/``, whose hot path stays
    bare): how long the server took, which a browser's developer tools show and the page
    benchmark (bench/web_pages.py) reads. Plain ASGI: no per-request task or body copy."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed(message: Any) -> None:
            if message["type"] == "http.response.start":
                took = (time.perf_counter() - started) * 1000.0
                message["headers"] = [*message.get("headers", []),
                                      (b"server-timing", f"app;dur={took:.1f}".encode())]
            await send(message)

        await self.app(scope, receive, timed)


def _is_api(request: Request) -> bool:
    path = request.url.path
    return path.startswith("/api/") or path in ("/health", "/openapi.json")


class ErrorResponse(JSONResponse):
    """An error body that always encodes: ASCII escapes, so a message quoting a caller's odd
    input (a lone surrogate) cannot fail on the way out."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


ID_KINDS = {"task_id": "task", "annotation_id": "annotation", "assignment_id": "assignment"}


def validation_response(exc: RequestValidationError) -> JSONResponse:
    """422 naming each problem's location and why — never echoing the input, which may be
    what cannot be encoded (NaN, a lone surrogate). An id out of range is a 404 like a missing
    one: no such id can exist."""
    errors = list(exc.errors())
    for error in errors:
        loc = tuple(error.get("loc") or ())
        if (
            len(loc) == 2
            and loc[0] == "path"
            and loc[1] in ID_KINDS
            and error.get("type") in ("greater_than_equal", "less_than_equal")
        ):
            gone = missing(ID_KINDS[str(loc[1])], error.get("input"))
            return ErrorResponse(status_code=404, content={"detail": gone.message})
    issues = [
        {
            "loc": [p if isinstance(p, int) else str(p) for p in error.get("loc") or ()],
            "msg": str(error.get("msg", "")),
            "type": str(error.get("type", "")),
        }
        for error in errors
    ]
    return ErrorResponse(status_code=422, content={"detail": issues})
