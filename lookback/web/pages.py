"""The field app's pages under ``/app/``: log-in, an auditor's visits, a visit, its interview
forms and finding form, the look-backs to check, a cadre's businesses, a business's issues and
notices, and the outbox (office staff have the console, ``lookback.web.console``).

Each page reads through the same repositories and the same rules (``domain.access``) as the API,
and a refused read is a page that says why (403), recorded like the API's refusals. The pages
write nothing themselves except the session (log-in, log-out): forms are sent by the browser's
outbox to the JSON API (see ``lookback.web``)."""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.staticfiles import StaticFiles

from domain import access, auth
from domain.access import Action, Principal, Role
from domain.clock import china_date
from domain.errors import LookbackError, NotFoundError, PermissionDeniedError
from domain.issues import IssueQuery, IssueStatus
from domain.vocabulary import (
    CATEGORIES,
    CATEGORY_ZH,
    FOLLOWUP_STATUS_ZH,
    OUTCOME_ZH,
    ROLE_ZH,
    ROLES,
    SEVERITIES,
    SEVERITY_ZH,
    STATUS_ZH,
)
from lookback.api.deps import SESSION_COOKIE, Guard
from lookback.bootstrap import App
from lookback.scope import readable_followups, readable_issues
from lookback.web.text import Lang, t

HERE = Path(__file__).parent
STATIC = HERE / "static"
LANG_COOKIE = "lookback_lang"
#: The day's visits whose pages the service worker keeps for offline use: the first planned
#: ones of the list (campaigns running today first), with their forms — a team's day, not its
#: whole campaign.
DAY_VISITS = 12
LOGIN_CSRF_COOKIE = "lookback_login_csrf"
#: Visits per page of an auditor's list (the day's visits come first, on page 1).
VISITS_PER_PAGE = 50
#: Look-backs per page (each carries its check form).
LOOKBACKS_PER_PAGE = 20

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(HERE / "templates"))
# The templates ship with the code: no check of every file's mtime on each page.
templates.env.auto_reload = False


def _fingerprint(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:10]


#: Each static file's URL with its content's fingerprint: served for a year, never stale.
ASSETS = {p.relative_to(STATIC).as_posix(): f"/app/static/{p.relative_to(STATIC).as_posix()}"
          f"?v={_fingerprint(p)}" for p in sorted(STATIC.rglob("*"))
          if p.is_file() and p.name not in ("sw.js", "VENDOR.md")}
#: The app shell's version: a new one makes the service worker replace its caches.
SHELL_VERSION = hashlib.sha256("".join(sorted(ASSETS.values())).encode()).hexdigest()[:12]


class LongLivedStatic(StaticFiles):
    """The vendored and own client files, with a year's cache (their URLs carry a
    fingerprint)."""

    async def get_response(self, path: str, scope: Any) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response


def static_files() -> LongLivedStatic:
    return LongLivedStatic(directory=str(STATIC))


# --- who is asking -----------------------------------------------------------------------------

def _lb(request: Request) -> App:
    lb: App = request.app.state.lookback
    return lb


def _lang(request: Request) -> Lang:
    return "en" if request.cookies.get(LANG_COOKIE) == "en" else "zh"


def _session(request: Request) -> tuple[Principal, str] | None:
    secret = request.cookies.get(SESSION_COOKIE, "")
    if not secret.startswith(auth.SESSION_PREFIX):
        return None
    lb = _lb(request)
    try:
        return auth.session_user(secret, uow_factory=lb.read_uow_factory(), clock=lb.clock), secret
    except LookbackError:
        return None


def _to_login(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/app/login?next={quote(request.url.path)}", status_code=303)


def _badge(lb: App, p: Principal, lang: Lang) -> str:
    """Who is logged in, with their team or office, for every page's header."""
    role = p.role.value if lang == "en" else access.ROLE_ZH[p.role]
    if p.team is not None:
        return f"{p.name} · {role} · {t('team', lang)} {p.team}"
    if p.office_id is not None:
        with lb.read_uow_factory()() as uow:
            office = uow.offices.get(p.office_id)
        return f"{p.name} · {role} · {office.name if office else p.office_id}"
    if p.uscc:
        with lb.read_uow_factory()() as uow:
            b = uow.registers.get_business(p.uscc)
        return f"{p.name} · {role} · {b.name if b else p.uscc}"
    if p.cadre_id:
        return f"{p.name} · {role} · {p.cadre_id}"
    return f"{p.name} · {role}"


def _render(request: Request, template: str, who: tuple[Principal, str] | None,
            status: int = 200, **context: Any) -> HTMLResponse:
    lang = _lang(request)
    lb = _lb(request)
    p, secret = who if who else (None, "")
    return templates.TemplateResponse(request, template, {
        "lang": lang, "t": lambda key: t(key, lang), "asset": ASSETS.__getitem__,
        "user": p, "badge": _badge(lb, p, lang) if p else "",
        "csrf": auth.csrf_token(secret) if secret else "", "zh": lang == "zh",
        "category_name": lambda c: CATEGORY_ZH.get(c, c) if lang == "zh" else c.replace("_", " "),
        "severity_name": lambda s: SEVERITY_ZH.get(s, s) if lang == "zh" else s,
        "status_name": lambda s: STATUS_ZH.get(s, s) if lang == "zh" else s.replace("_", " "),
        "role_name": lambda r: ROLE_ZH.get(r, r) if lang == "zh" else r,
        "outcome_name": lambda o: OUTCOME_ZH.get(o, o) if lang == "zh" else o.replace("_", " "),
        "followup_status_name": lambda s: FOLLOWUP_STATUS_ZH.get(s, s) if lang == "zh" else s,
        "new_key": lambda: secrets.token_urlsafe(18), "rate_class": rate_class,
        **context}, status_code=status, headers={"Cache-Control": "private, no-cache"})


def rate_class(value: float) -> str:
    """A rate's colour class on the console's scale: ``r0`` (below 60 %) to ``r4`` (100 %)."""
    if value >= 1:
        return "r4"
    return "r3" if value >= 0.9 else "r2" if value >= 0.8 else "r1" if value >= 0.6 else "r0"


def error_page(request: Request, status: int, e: LookbackError) -> HTMLResponse:
    """A page's error (a refusal, an unknown visit, a bad argument) as a page that says what is
    wrong (``lookback.api.problems`` hands every error under /app/ here)."""
    return _render(request, "refused.html", _session(request), status=status,
                   reason=e.en if _lang(request) == "en" else e.zh)


def _guard(request: Request, who: tuple[Principal, str], action: Action, target: str,
           **scope: Any) -> None:
    """The API's guard (the rule, and the refusal recorded)."""
    Guard(request, _lb(request), who[0])(action, target, **scope)


# --- log-in, log-out, language ------------------------------------------------------------------

@router.get("/")
def root() -> RedirectResponse:
    return RedirectResponse("/app/", status_code=303)


@router.get("/app/login")
def login_page(request: Request, next: str = "/app/") -> Response:
    token = secrets.token_urlsafe(24)
    response = _render(request, "login.html", None, next=_safe_next(next), login_csrf=token,
                       error="", need_new=False, name="")
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/app/")
    return response


def _safe_next(target: str) -> str:
    """Only a page of this app, never another site."""
    return target if target.startswith("/app/") and not target.startswith("//") else "/app/"


@router.post("/app/login")
def login(request: Request, name: str = Form(""), password: str = Form(""),
          new_password: str = Form(""), csrf: str = Form(""),
          next: str = Form("/app/")) -> Response:
    lb = _lb(request)
    lang = _lang(request)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(expected, csrf):
        return _render(request, "login.html", None, status=403, next=_safe_next(next),
                       login_csrf=expected, need_new=False, name=name,
                       error=t("login_failed", lang) + ": " + (
                           "the form expired; try again" if lang == "en"
                           else "表单已过期，请重试"))
    try:
        r = auth.login(name.strip(), password, kind="session",
                       new_password=new_password or None, hasher=lb.hasher,
                       uow_factory=lb.uow_factory(), clock=lb.clock,
                       client=request.client.host if request.client else "")
    except LookbackError as e:
        from lookback.api.problems import status_of

        need_new = e.code in ("password_change_required", "weak_password") or bool(new_password)
        return _render(request, "login.html", None, status=status_of(e), next=_safe_next(next),
                       login_csrf=expected, need_new=need_new, name=name,
                       error=e.en if lang == "en" else e.zh)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(SESSION_COOKIE, r.secret, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/",
                        max_age=auth.SESSION_HOURS * 3600)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/app/")
    return response


@router.post("/app/logout")
def logout(request: Request, csrf: str = Form("")) -> Response:
    who = _session(request)
    response = RedirectResponse("/app/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    if who is None:
        return response
    p, secret = who
    if not secrets.compare_digest(csrf, auth.csrf_token(secret)):
        raise PermissionDeniedError("the log-out form did not come from this session's page",
                                    "退出请求不是来自本次登录的页面", code="csrf")
    lb = _lb(request)
    auth.logout(secret, user=p, uow_factory=lb.uow_factory(), clock=lb.clock)
    return response


@router.get("/app/lang/{to}")
def set_lang(request: Request, to: str, next: str = "/app/") -> Response:
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(LANG_COOKIE, "en" if to == "en" else "zh", samesite="lax", path="/",
                        max_age=365 * 86400)
    return response


@router.get("/app/session")
def session_info(request: Request) -> Response:
    """The logged-in user and the session's anti-forgery token, for the outbox before it sends
    (401 when the session has ended: the queue waits for a new log-in)."""
    who = _session(request)
    if who is None:
        return JSONResponse({"user": None}, status_code=401,
                            headers={"Cache-Control": "no-store"})
    p, secret = who
    return JSONResponse({"user": p.as_dict(), "csrf": auth.csrf_token(secret)},
                        headers={"Cache-Control": "no-store"})


@router.get("/app/sw.js")
def service_worker() -> Response:
    """The service worker, with the shell's version and files (never cached long itself)."""
    text = (STATIC / "sw.js").read_text(encoding="utf-8")
    shell = ["/app/offline", "/app/queue", *ASSETS.values()]
    text = text.replace("__VERSION__", SHELL_VERSION).replace("__SHELL__", json.dumps(shell))
    return Response(text, media_type="text/javascript",
                    headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/app/"})


@router.get("/app/offline")
def offline(request: Request) -> Response:
    return _render(request, "offline.html", None)


@router.get("/app/queue")
def queue(request: Request) -> Response:
    """The outbox: drawn by the page's script from the browser's own queue."""
    return _render(request, "queue.html", _session(request))


# --- home by role -------------------------------------------------------------------------------

@router.get("/app/")
def home(request: Request) -> Response:
    who = _session(request)
    if who is None:
        return _to_login(request)
    role = who[0].role
    target = {Role.AUDITOR: "/app/visits", Role.CADRE: "/app/cadre",
              Role.BUSINESS: "/app/business"}.get(role, "/app/office")
    return RedirectResponse(target, status_code=303)


def _today(lb: App) -> date:
    return china_date(lb.clock.now())


@router.get("/app/visits")
def my_visits(request: Request, page: int = 1) -> Response:
    """An auditor's team's visits, a page at a time: those of campaigns running today first,
    planned before done."""
    who = _session(request)
    if who is None:
        return _to_login(request)
    p = who[0]
    if p.role != Role.AUDITOR:
        return RedirectResponse("/app/", status_code=303)
    lb = _lb(request)
    today = _today(lb)
    page = max(1, page)
    with lb.read_uow_factory()() as uow:
        camps = {c.id: c for c in uow.campaigns.with_status("launched")
                 if p.campaign_id in (None, c.id)}
        running = [i for i, c in camps.items() if c.starts_on <= today <= c.ends_on]
        counts = uow.fieldwork.visit_status_counts(list(camps), team=p.team)
        shown = uow.fieldwork.visits_page(list(camps), team=p.team, first=running,
                                          limit=VISITS_PER_PAGE,
                                          offset=(page - 1) * VISITS_PER_PAGE)
        day = shown if page == 1 else uow.fieldwork.visits_page(
            list(camps), team=p.team, first=running, limit=DAY_VISITS, offset=0)
    rows = [(v, camps[v.campaign_id], v.campaign_id in running) for v in shown]
    day = [v for v in day if v.status == "planned"][:DAY_VISITS]
    offline_urls = [u for v in day
                    for u in (f"/app/visits/{v.id}", f"/app/visits/{v.id}/finding",
                              *(f"/app/visits/{v.id}/interview/{role}" for role in ROLES))]
    total = sum(counts.values())
    return _render(request, "visits.html", who, rows=rows, today=today, page=page,
                   pages=max(1, -(-total // VISITS_PER_PAGE)), total=total,
                   planned=counts.get("planned", 0), done=counts.get("done", 0),
                   offline_urls=["/app/visits", "/app/followups", *offline_urls])


@router.get("/app/visits/{visit_id}")
def visit_page(request: Request, visit_id: int) -> Response:
    who = _session(request)
    if who is None:
        return _to_login(request)
    lb = _lb(request)
    v, business = _visit(request, who, visit_id, Action.READ_VISIT)
    with lb.read_uow_factory()() as uow:
        found = uow.issues.list(IssueQuery(uscc=v.uscc))
    shown = readable_issues(who[0], lb, found)
    with lb.read_uow_factory()() as uow:
        lookbacks = uow.followups.of_issues([i.id for i in shown])
    return _render(request, "visit.html", who, v=v, business=business, issues=shown,
                   hidden=len(found) - len(shown), lookbacks=lookbacks, roles=ROLES)


def _visit(request: Request, who: tuple[Principal, str], visit_id: int,
           action: Action) -> tuple[Any, Any]:
    """A visit and its business, once the user may ``action`` it (the API's guard; a refusal
    or an unknown visit becomes the error page)."""
    with _lb(request).read_uow_factory()() as uow:
        v = uow.fieldwork.get_visit(visit_id)
        business = uow.registers.get_business(v.uscc) if v is not None else None
    if v is None:
        raise NotFoundError(f"visit {visit_id} does not exist", f"检查任务{visit_id}不存在")
    _guard(request, who, action, f"visit:{visit_id}", campaign_id=v.campaign_id,
           team=v.team_no, uscc=v.uscc, region=v.region_code)
    return v, business


@router.get("/app/visits/{visit_id}/interview/{role}")
def interview_form(request: Request, visit_id: int, role: str) -> Response:
    who = _session(request)
    if who is None:
        return _to_login(request)
    if role not in ROLES:
        raise NotFoundError(f"no interview role {role!r}", f"没有谈话对象“{role}”")
    lb = _lb(request)
    v, business = _visit(request, who, visit_id, Action.WRITE_FIELDWORK)
    return _render(request, "interview.html", who, v=v, business=business, role=role,
                   items=lb.checklists.for_role(role))


@router.get("/app/visits/{visit_id}/finding")
def finding_form(request: Request, visit_id: int) -> Response:
    who = _session(request)
    if who is None:
        return _to_login(request)
    lb = _lb(request)
    v, business = _visit(request, who, visit_id, Action.WRITE_FIELDWORK)
    return _render(request, "finding.html", who, v=v, business=business,
                   categories=CATEGORIES, severities=SEVERITIES,
                   provisions=lb.checklists.provisions(CATEGORIES[0]))


@router.get("/app/provisions")
def provisions(request: Request, category: str = CATEGORIES[0]) -> Response:
    """The provisions of a category, as the finding form's options (an htmx swap)."""
    if _session(request) is None:
        return Response(status_code=401)
    lb = _lb(request)
    found = lb.checklists.provisions(category) if category in CATEGORIES else []
    return _render(request, "provisions.html", None, provisions=found)


@router.get("/app/followups")
def followups_page(request: Request, page: int = 1) -> Response:
    """The team's open look-backs, a page at a time, soonest due first: each with its original
    finding, its evidence and the three questions of the check."""
    who = _session(request)
    if who is None:
        return _to_login(request)
    p = who[0]
    lb = _lb(request)
    with lb.read_uow_factory()() as uow:
        rows = uow.followups.list(status="open", kind="review",
                                  team=p.team if p.role == Role.AUDITOR else None,
                                  campaign_id=None, due_before=None, limit=500)
    rows = readable_followups(p, lb, rows)
    page, pages = max(1, page), max(1, -(-len(rows) // LOOKBACKS_PER_PAGE))
    total = len(rows)
    rows = rows[(page - 1) * LOOKBACKS_PER_PAGE:page * LOOKBACKS_PER_PAGE]
    ids = tuple(dict.fromkeys(fu.issue_id for fu in rows))
    with lb.read_uow_factory()() as uow:
        issues = {i.id: i for i in uow.issues.list(IssueQuery(ids=ids))} if ids else {}
        evidence = uow.fieldwork.evidence_of_many(ids)
    items = [(fu, issues.get(fu.issue_id), evidence[fu.issue_id]) for fu in rows]
    return _render(request, "followups.html", who, items=items, page=page, pages=pages,
                   total=total)


@router.get("/app/cadre")
def cadre_page(request: Request) -> Response:
    """A cadre's assigned businesses with this period's supervision visit, and the form to
    record one."""
    who = _session(request)
    if who is None:
        return _to_login(request)
    p = who[0]
    if p.role != Role.CADRE or p.cadre_id is None:
        return RedirectResponse("/app/", status_code=303)
    lb = _lb(request)
    today = _today(lb)
    with lb.read_uow_factory()() as uow:
        cadre = uow.registers.get_cadre(p.cadre_id)
        rows = []
        for uscc in cadre.assigned_uscc if cadre else ():
            b = uow.registers.get_business(uscc)
            if b is not None:
                rows.append((b, uow.supervision.covering(p.cadre_id, uscc, today)))
    return _render(request, "cadre.html", who, cadre=cadre, rows=rows, today=today,
                   categories=CATEGORIES, severities=SEVERITIES,
                   offline_urls=["/app/cadre"])


@router.get("/app/business")
def business_page(request: Request) -> Response:
    """A business's issues with their deadlines and status, its notices (PDF), and the form to
    report a rectification."""
    who = _session(request)
    if who is None:
        return _to_login(request)
    p = who[0]
    if p.role != Role.BUSINESS or p.uscc is None:
        return RedirectResponse("/app/", status_code=303)
    lb = _lb(request)
    with lb.read_uow_factory()() as uow:
        found = uow.issues.list(IssueQuery(uscc=p.uscc))
        business = uow.registers.get_business(p.uscc)
        notices = [n for n in uow.notices.list_notices(None, None)
                   if n.uscc == p.uscc and n.status != "pending"]
    open_ = {IssueStatus.OPEN, IssueStatus.NOTIFIED, IssueStatus.OVERDUE}
    return _render(request, "business.html", who, business=business, issues=found,
                   notices=notices, can_rectify=lambda i: i.status in open_)


@router.get("/app/overview")
def overview() -> RedirectResponse:
    """The old address of the territory overview: the office console's dashboard."""
    return RedirectResponse("/app/office", status_code=303)
