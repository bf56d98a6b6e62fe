"""``create_app``: the FastAPI application over one Workspace (nothing built at import time)."""

from __future__ import annotations

import gc
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from curata._version import __version__
from curata.api.routes import annotation
from curata.core.errors import CurataError
from curata.store.db import POOL_SIZE
from curata.workspace import Workspace


def app_from_environment() -> FastAPI:
    """The API over the workspace named by ``CURATA_HOME`` (for ``uvicorn --factory`` and
    ``curata serve --workers N``, where each worker process opens its own workspace)."""
    return create_app(Workspace.open())


def create_app(workspace: Workspace) -> FastAPI:
    """The API over ``workspace``; OpenAPI at ``/docs`` and ``/openapi.json``."""

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
        yield

    app = FastAPI(
        lifespan=lifespan,
        title="Curata",
        version=__version__,
        description="The training-data supply chain of an LLM program, as one measurable loop.",
    )
    app.state.workspace = workspace

    @app.exception_handler(CurataError)
    def curata_error(_request: Request, exc: CurataError) -> JSONResponse:
        return JSONResponse(status_code=exc.status_code, content={"detail": exc.message})

    @app.get("/health", tags=["meta"])
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    app.include_router(annotation.router)
    return app
