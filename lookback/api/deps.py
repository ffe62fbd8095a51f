"""What every route shares: the wired App, the authenticated user, authorization that records
refusals, versions (ETag / If-Match) and paging."""

from __future__ import annotations

import hmac
import re
from typing import Annotated, Any

from fastapi import Depends, Header, Query, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from domain import access
from domain.access import Action, Principal
from domain.errors import ConflictError, LookbackError, PermissionDeniedError
from lookback.bootstrap import App
from lookback.scope import with_assigned


def get_app(request: Request) -> App:
    lb: App = request.app.state.lookback
    return lb


AppDep = Annotated[App, Depends(get_app)]


# Declares the bearer scheme in the OpenAPI schema (clients and schemathesis see that every route
# but /health needs a token); the header itself is checked below, with our own 401.
_bearer = HTTPBearer(auto_error=False, description="An API token from `lookback users add`.")
BearerDeclared = Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)]


def route_of(request: Request) -> str:
    """The route's template (``/issues/{issue_id}/evidence``), never the raw path a client sent:
    what a refusal event records stays short whatever the URL."""
    route = request.scope.get("route")
    return str(getattr(route, "path", "?"))


def client_key(request: Request, token: str) -> str:
    """Whom a refusal is counted against: the token (by a short hash) or the client address."""
    if token:
        return "token:" + access.token_sha256(token)[:16]
    return "client:" + (request.client.host if request.client else "?")


SESSION_COOKIE = "lookback_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _by_cookie(request: Request) -> bool:
    """Whether the request authenticates with the session cookie (no bearer token): what a
    browser sends by itself, so a write must also prove it came from one of our pages."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return not (scheme.lower() == "bearer" and token.strip())


def presented_secret(request: Request) -> str:
    """The bearer token of the request, else its session cookie ("" for neither)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.cookies.get(SESSION_COOKIE, "").strip()


def current_user(request: Request, lb: AppDep, _declared: BearerDeclared) -> Principal:
    """The user of the bearer token (an API token, or a log-in's short-lived token) or of the
    session cookie; 401 (and an ``access.refused`` event) otherwise."""
    from domain import auth

    token = presented_secret(request)
    if token.startswith(auth.SESSION_PREFIX):
        user = auth.session_user(token, uow_factory=lb.read_uow_factory(), clock=lb.clock)
        if request.method not in SAFE_METHODS and _by_cookie(request) and not hmac.compare_digest(
                request.headers.get(CSRF_HEADER, ""), auth.csrf_token(token)):
            access.record_refusal(user, action=f"{request.method} {route_of(request)}",
                                  target="csrf", reason="no or wrong X-CSRF-Token",
                                  uow_factory=lb.uow_factory(), clock=lb.clock,
                                  budget=lb.refusals, key=client_key(request, token))
            raise PermissionDeniedError(
                "a write with the session cookie needs the page's X-CSRF-Token header",
                "使用登录会话提交时须带页面的X-CSRF-Token请求头", code="csrf")
        return user
    try:
        return access.authenticate(token or None, uow_factory=lb.read_uow_factory())
    except LookbackError:
        if token:  # a wrong or revoked token is worth recording; a missing one is just a 401
            with lb.read_uow_factory()() as uow:  # a revoked token still names its user
                known = uow.users.by_token(access.token_sha256(token))
            reason = ("revoked token" if known is not None and known.revoked_at is not None
                      else "unknown token")
            access.record_refusal(known.principal if known else None,
                                  action=f"{request.method} {route_of(request)}",
                                  target="token", reason=reason, uow_factory=lb.uow_factory(),
                                  clock=lb.clock, budget=lb.refusals,
                                  key=client_key(request, token))
        raise


UserDep = Annotated[Principal, Depends(current_user)]


class Guard:
    """``guard(action, target, campaign_id=…, team=…, uscc=…)``: allow, or record the refusal in
    the event log and raise 403."""

    def __init__(self, request: Request, lb: App, user: Principal) -> None:
        self.request, self.lb, self.user = request, lb, user

    def __call__(self, action: Action, target: str, **scope: Any) -> None:
        with_assigned(self.lb, self.user, scope)  # whether the business is a cadre's own
        try:
            access.authorize(self.user, action, **scope)
        except PermissionDeniedError as e:
            access.record_refusal(self.user, action=f"{self.request.method} "
                                  f"{route_of(self.request)} ({action.value})", target=target,
                                  reason=e.en, uow_factory=self.lb.uow_factory(),
                                  clock=self.lb.clock, budget=self.lb.refusals,
                                  key=f"user:{self.user.name}")
            raise


def get_guard(request: Request, lb: AppDep, user: UserDep) -> Guard:
    return Guard(request, lb, user)


GuardDep = Annotated[Guard, Depends(get_guard)]


def etag(version: int) -> str:
    return f'"v{version}"'


_TAG = re.compile(r'^\s*(?:W/)?"v(\d{1,18})"\s*$')


IfMatch = Annotated[str | None, Header(
    alias="If-Match", description='The ETag read from the resource, e.g. "v3" (required).')]


def parse_if_match(raw: str | None) -> int:
    """The version an update was made against (``If-Match: "v3"``); 428 without it, 412 when it
    is not a version this API gave out. Called after authorization, so a refused user learns
    nothing about versions."""
    if raw is None:
        raise ConflictError("this update needs an If-Match header with the ETag you read (e.g. "
                            'If-Match: "v3")', '此更新需要If-Match请求头，填写读取时的ETag（如"v3"）',
                            code="version_required")
    m = _TAG.match(raw)
    if m is None:
        raise ConflictError(f"If-Match {raw!r} is not an ETag of this API (e.g. \"v3\")",
                            f"If-Match“{raw}”不是本接口的ETag（如\"v3\"）", code="stale_version")
    return int(m.group(1))


class Page:
    def __init__(self, offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
                 limit: Annotated[int, Query(ge=1, le=500)] = 100) -> None:
        self.offset, self.limit = offset, limit

    def slice(self, items: list[Any]) -> list[Any]:
        return items[self.offset:self.offset + self.limit]

    def meta(self, total: int) -> dict[str, Any]:
        """``count``, ``offset``, ``limit`` and ``truncated`` of a list of ``total`` rows."""
        return {"count": total, "offset": self.offset, "limit": self.limit,
                "truncated": self.offset + self.limit < total}


PageDep = Annotated[Page, Depends(Page)]
