"""What every console page shares: who may open it, the anti-forgery check of its forms,
rendering with the console's navigation, and pagination."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from domain import access, auth
from domain.access import Principal
from domain.clock import CHINA_TZ
from domain.errors import PermissionDeniedError
from lookback.bootstrap import App
from lookback.web import pages

Who = tuple[Principal, str]  # the user and their session's secret

#: Rows per page of every console list (a ``?page=N`` beyond the last shows an empty page).
PER_PAGE = 50


def lb_of(request: Request) -> App:
    lb: App = request.app.state.lookback
    return lb


def staff(request: Request) -> Who | Response:
    """The logged-in office user, or the response to give instead: the log-in page when nobody
    is logged in. Anyone else (auditor, cadre, business) gets the refusal page."""
    who = pages._session(request)
    if who is None:
        return pages._to_login(request)
    if who[0].role not in access.STAFF_READERS:
        raise PermissionDeniedError("the office console is for office staff",
                                    "食安办工作台仅供食安办人员使用", code="forbidden")
    return who


def check_csrf(request: Request, who: Who, form_value: str = "") -> None:
    """A console write must carry the session's token: the ``X-CSRF-Token`` header (htmx sends
    it, see ``macros.html``) or a ``csrf`` form field."""
    sent = request.headers.get("x-csrf-token", "") or form_value
    if not sent or not secrets.compare_digest(sent, auth.csrf_token(who[1])):
        raise PermissionDeniedError("the form did not come from this session's page; reload it",
                                    "表单不是来自本次登录的页面，请刷新后重试", code="csrf")


def guard(request: Request, who: Who, action: access.Action, target: str, **scope: Any) -> None:
    """The API's guard: the rule of ``domain.access``, and a refusal recorded."""
    pages._guard(request, who, action, target, **scope)


def render(request: Request, template: str, who: Who, status: int = 200,
           **context: Any) -> HTMLResponse:
    """A console page (``console/…`` templates extend ``console/base.html``: the navigation)."""
    return pages._render(request, template, who, status=status, **context)


@dataclass(frozen=True)
class Pager:
    """One page of a list: which, of how many, and the query string the links keep."""

    page: int
    per_page: int
    total: int
    query: str = ""  # "&k=v…" of the list's filters, kept by the previous / next links

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    def context(self) -> dict[str, Any]:
        """What ``pager.html`` reads."""
        return {"page": self.page, "pages": self.pages, "total": self.total,
                "pager_query": self.query}


def pager(page: int, total: int, per_page: int = PER_PAGE, query: str = "") -> Pager:
    return Pager(max(1, page), per_page, total, query)


def china_time(instant: datetime | None, empty: str = "") -> str:
    """An instant as Beijing time, to the minute (a stored instant without a zone is UTC);
    ``empty`` for none."""
    if instant is None:
        return empty
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M")


def home(request: Request) -> RedirectResponse:
    return RedirectResponse("/app/office", status_code=303)
