"""Log-in: a session (an HttpOnly, SameSite cookie, for the web pages) or a short-lived bearer
token; log-out; changing one's own password."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Request, Response
from pydantic import Field

from domain import auth
from lookback.api.deps import SESSION_COOKIE, AppDep, UserDep, presented_secret
from lookback.api.schemas import Strict

router = APIRouter()


class LoginCreate(Strict):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    password: Annotated[str, Field(min_length=1, max_length=auth.MAX_LENGTH)]
    mode: Literal["session", "token"] = "session"
    new_password: Annotated[str | None, Field(
        default=None, max_length=auth.MAX_LENGTH,
        description="With a one-time password (a new user, a reset): the password to set.")]


class LoginPublic(Strict):
    user: dict[str, object]
    mode: Literal["session", "token"]
    expires_at: datetime
    token: str | None = Field(default=None, description="The bearer token (mode token only).")


class PasswordChange(Strict):
    old_password: Annotated[str, Field(min_length=1, max_length=auth.MAX_LENGTH)]
    new_password: Annotated[str, Field(min_length=1, max_length=auth.MAX_LENGTH)]


def _client(request: Request) -> str:
    return request.client.host if request.client else ""


@router.post("/auth/login", tags=["auth"])
def login(body: LoginCreate, request: Request, response: Response, lb: AppDep) -> LoginPublic:
    """Log in with a name and password. ``mode`` session sets the session cookie (HttpOnly,
    SameSite=Strict, Secure over HTTPS); ``mode`` token answers a bearer token valid for
    an hour. Repeated failures lock the account, with back-off."""
    r = auth.login(body.name, body.password, kind=body.mode, new_password=body.new_password,
                   hasher=lb.hasher, uow_factory=lb.uow_factory(), clock=lb.clock,
                   client=_client(request))
    if r.kind == "session":
        response.set_cookie(SESSION_COOKIE, r.secret, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https", path="/",
                            max_age=auth.SESSION_HOURS * 3600)
    return LoginPublic(user=r.principal.as_dict(), mode=r.kind,  # type: ignore[arg-type]
                       expires_at=r.expires_at, token=r.secret if r.kind == "token" else None)


@router.post("/auth/logout", status_code=204, tags=["auth"], response_class=Response)
def logout(request: Request, lb: AppDep, user: UserDep) -> Response:
    """End this log-in's session (or short-lived token) on the server."""
    secret = presented_secret(request)
    if secret.startswith(auth.SESSION_PREFIX):
        auth.logout(secret, user=user, uow_factory=lb.uow_factory(), clock=lb.clock)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/auth/password", status_code=204, tags=["auth"], response_class=Response)
def change_password(body: PasswordChange, lb: AppDep, user: UserDep) -> Response:
    """Change one's own password (the current one is checked)."""
    auth.change_password(user, body.old_password, body.new_password, hasher=lb.hasher,
                         uow_factory=lb.uow_factory(), clock=lb.clock)
    return Response(status_code=204)
