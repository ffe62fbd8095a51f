"""The FastAPI application: one App (database, clock, files) per process, the routes, problem+json
errors and body limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from domain.errors import LookbackError
from lookback.api import problems
from lookback.api.idempotency import Idempotency
from lookback.api.limits import BodyLimit
from lookback.bootstrap import App
from storage.db import is_sqlite

DESCRIPTION = """\
The Lookback API for field teams and offices: campaigns and draws, visits and interviews, issues
and their rectification, look-back checks, notices and routine supervision.

Every route except `/health` needs `Authorization: Bearer <token>` (`lookback users add`). Errors
are RFC 9457 `application/problem+json` (`detail` in Chinese, or English with
`Accept-Language: en`; both in `detail_zh` / `detail_en`). An update of an issue needs
`If-Match` with the ETag read from it; a stale one gets 412 and changes nothing.
"""


SQLITE_API_THREADS = 4
"""Threads that run the synchronous routes and dependencies on SQLite (anyio's default of 40 is
kept for PostgreSQL, which has concurrent writers). Every SQLite write goes through one writer and
all Python work through one GIL, so more threads add no throughput; they only contend: the SQLite
busy handler lets late writers overtake early ones, and the write-lock holder waits for the GIL.
With 50 clients recording interviews back to back (bench/api_load.py), the same ~150 requests/s
came with p99 1.7-2.5 s and a max of 4-7 s at 16 or 40 threads, p99 ~0.5 s and a max of ~1 s at
2 or 4, where requests wait their turn first come, first served in anyio's limiter instead."""


@asynccontextmanager
async def _lifespan(api: FastAPI) -> AsyncIterator[None]:
    # The limiter belongs to the running event loop, so it is set once that loop runs.
    if is_sqlite(api.state.lookback.database_url):
        anyio.to_thread.current_default_thread_limiter().total_tokens = SQLITE_API_THREADS
    yield


class StrictTransportSecurity:
    """Adds ``Strict-Transport-Security`` to every response of a request that came over HTTPS:
    served with TLS directly, or through a trusted reverse proxy that said so in
    ``X-Forwarded-Proto`` (uvicorn's proxy headers set the scheme). Never over plain HTTP, where
    the header means nothing and a browser ignores it."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append(
                    (b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
            await send(message)

        secure = scope["type"] == "http" and scope.get("scheme") == "https"
        await self.app(scope, receive, sending if secure else send)


class CompressPages:
    """gzip for the pages and client files under ``/app/`` (what a phone loads on a slow
    link); the API's answers and downloads pass as they are."""

    def __init__(self, app: Any) -> None:
        from starlette.middleware.gzip import GZipMiddleware

        self.app = app
        # level 6 (zlib's default): within a few per cent of 9's size at about half its CPU
        self.gzip = GZipMiddleware(app, minimum_size=500, compresslevel=6)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("path", "").startswith("/app/"):
            await self.gzip(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def create_app(lb: App) -> FastAPI:
    from lookback.api import (
        routes_auth,
        routes_campaigns,
        routes_fieldwork,
        routes_followups,
        routes_notices,
        routes_supervision,
    )
    from lookback.web import console, pages, verify

    api = FastAPI(title="Lookback", version="1", description=DESCRIPTION, lifespan=_lifespan)
    api.state.lookback = lb
    api.add_exception_handler(LookbackError, problems.lookback_error)
    api.add_exception_handler(RequestValidationError, problems.validation_error)
    api.add_exception_handler(StarletteHTTPException, problems.http_error)
    api.add_exception_handler(Exception, problems.internal_error)
    api.include_router(routes_auth.router)
    api.include_router(routes_campaigns.router)
    api.include_router(routes_fieldwork.router)
    api.include_router(routes_followups.router)
    api.include_router(routes_notices.router)
    api.include_router(routes_supervision.router)
    api.include_router(pages.router)
    api.include_router(console.router)
    api.include_router(verify.router)
    api.mount("/app/static", pages.static_files(), name="static")
    api.add_middleware(Idempotency, lb=lb)  # inside the body limit: what it buffers is bounded
    api.add_middleware(BodyLimit)
    api.add_middleware(StrictTransportSecurity)
    api.add_middleware(CompressPages)
    return api
