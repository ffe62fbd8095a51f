"""The FastAPI application: one App (database, clock, files) per process, the routes, problem+json
errors and body limits."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from domain.errors import LookbackError
from lookback.api import problems
from lookback.api.limits import BodyLimit
from lookback.bootstrap import App

DESCRIPTION = """\
The Lookback API for field teams and offices: campaigns and draws, visits and interviews, issues
and their rectification, look-back checks, notices and routine supervision.

Every route except `/health` needs `Authorization: Bearer <token>` (`lookback users add`). Errors
are RFC 9457 `application/problem+json` (`detail` in Chinese, or English with
`Accept-Language: en`; both in `detail_zh` / `detail_en`). An update of an issue needs
`If-Match` with the ETag read from it; a stale one gets 412 and changes nothing.
"""


def create_app(lb: App) -> FastAPI:
    from lookback.api import (
        routes_campaigns,
        routes_fieldwork,
        routes_followups,
        routes_notices,
        routes_supervision,
    )

    api = FastAPI(title="Lookback", version="1", description=DESCRIPTION)
    api.state.lookback = lb
    api.add_exception_handler(LookbackError, problems.lookback_error)
    api.add_exception_handler(RequestValidationError, problems.validation_error)
    api.add_exception_handler(StarletteHTTPException, problems.http_error)
    api.add_exception_handler(Exception, problems.internal_error)
    api.include_router(routes_campaigns.router)
    api.include_router(routes_fieldwork.router)
    api.include_router(routes_followups.router)
    api.include_router(routes_notices.router)
    api.include_router(routes_supervision.router)
    api.add_middleware(BodyLimit)
    return api
