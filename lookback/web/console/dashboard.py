"""The office console's dashboard and its drill-down: the territory (or a region inside it) at a
glance → a county's businesses → a business → an issue with its history, evidence, notices and
look-backs (see ``lookback.web.console``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup

from domain import dashboard as dash
from domain.access import Action
from domain.errors import NotFoundError
from domain.issues import IssueQuery
from domain.notices import NoticeQuery
from domain.vocabulary import LADDER, LADDER_ZH
from lookback.scope import readable_issues
from lookback.web import pages, text
from lookback.web.console import charts
from lookback.web.console.base import guard, lb_of, pager, render, staff

router = APIRouter(include_in_schema=False)

text.add({
    "console": ("食安办工作台", "Office console"),
    "dashboard": ("概况", "Dashboard"),
    "nav_campaigns": ("督查", "Campaigns"),
    "nav_notices": ("文书", "Notices"),
    "nav_imports": ("导入", "Imports"),
    "nav_lookbacks": ("回头看", "Look-backs"),
    "dash_country": ("全国", "China"),
    "dash_on_time": ("按期整改率", "On time"),
    "dash_staffing": ("总监/安全员配备率", "Staffing"),
    "dash_overdue": ("逾期未整改", "Overdue"),
    "dash_escalated": ("已升级", "Escalated"),
    "dash_businesses": ("主体", "Businesses"),
    "dash_ladder": ("升级阶梯", "Escalation ladder"),
    "dash_overdue_oldest": ("逾期问题（最久在前）", "Overdue issues, oldest first"),
    "dash_all_overdue": ("全部逾期问题", "All overdue issues"),
    "dash_days_late": ("逾期天数", "Days late"),
    "dash_subregions": ("下级地区", "Regions below"),
    "dash_trend": ("每周趋势", "Week by week"),
    "dash_found": ("发现问题", "Issues found"),
    "dash_reported": ("报告整改", "Rectifications reported"),
    "dash_week": ("周（周一）", "Week (Monday)"),
    "dash_period": ("督导周期", "Supervision period"),
    "dash_unresolved": ("未销号", "Unresolved"),
    "dash_business": ("主体", "Business"),
    "dash_history": ("经过", "History"),
    "dash_none": ("无", "None"),
    "dash_found_on": ("发现日期", "Found on"),
    "dash_legal": ("依据", "Legal basis"),
    "dash_visits": ("检查记录", "Visits"),
    "dash_at": ("时间", "When"),
    "dash_actor": ("操作人", "By"),
    "dash_event": ("事项", "What"),
    "dash_step": ("阶梯", "Step"),
})


def _ladder(request: Request) -> Any:
    """A step of the escalation ladder (its level) by name, in the page's language."""
    zh = pages._lang(request) == "zh"
    return lambda level: LADDER_ZH[level] if zh else LADDER[level].replace("_", " ")


@router.get("/app/office")
def dashboard_page(request: Request, region: str = "", page: int = 1) -> Response:
    """The dashboard of the user's territory, or of a region inside it (``?region=CODE``); at a
    county, its businesses (paginated) below the figures."""
    who = staff(request)
    if isinstance(who, Response):
        return who
    p = who[0]
    lb = lb_of(request)
    today = pages._today(lb)
    d = dash.dashboard(territory=p.territory, region=region or None, today=today,
                       uow_factory=lb.read_uow_factory())
    lang = pages._lang(request)
    weeks = d.weeks
    chart = charts.paired_bars(
        [w.starts_on.strftime("%m-%d") for w in weeks],
        [(text.t("dash_found", lang), [w.found for w in weeks]),
         (text.t("dash_reported", lang), [w.reported for w in weeks])],
        text.t("dash_trend", lang))
    businesses: list[Any] = []
    listing: dict[str, Any] = {}
    if d.county:
        with lb.read_uow_factory()() as uow:
            total = uow.dashboard.business_count(prefix=d.region)
            pg = pager(page, total, query=f"&region={d.region}")
            businesses = uow.dashboard.businesses(prefix=d.region, today=today,
                                                  limit=pg.per_page, offset=pg.offset)
        listing = pg.context()
    return render(request, "console/dashboard.html", who, d=d, today=today,
                  fig=d.rollup.total.as_dict(), rows=[r.as_dict() for r in d.rollup.rows],
                  chart=Markup(chart), businesses=businesses, overdue_rows=d.overdue,
                  ladder_name=_ladder(request), **listing)


@router.get("/app/office/overdue")
def overdue_page(request: Request, region: str = "", page: int = 1) -> Response:
    """Every overdue issue of the territory (or region), the longest overdue first."""
    who = staff(request)
    if isinstance(who, Response):
        return who
    lb = lb_of(request)
    today = pages._today(lb)
    code = dash.check_region(who[0].territory, region or None)
    with lb.read_uow_factory()() as uow:
        pg = pager(page, uow.dashboard.overdue_count(prefix=code, today=today),
                   query=f"&region={code}" if code else "")
        rows = uow.dashboard.overdue(prefix=code, today=today, limit=pg.per_page,
                                     offset=pg.offset)
    return render(request, "console/dashboard_overdue.html", who, overdue_rows=rows, today=today,
                  region=code, ladder_name=_ladder(request), **pg.context())


@router.get("/app/office/businesses/{uscc}")
def business_page(request: Request, uscc: str, page: int = 1) -> Response:
    """A business of the territory: its register entry, its visits and its issues."""
    who = staff(request)
    if isinstance(who, Response):
        return who
    lb = lb_of(request)
    with lb.read_uow_factory()() as uow:
        b = uow.registers.get_business(uscc[:18])
    if b is None:
        raise NotFoundError(f"business {uscc[:18]} is not in the register",
                            f"主体{uscc[:18]}不在登记册中")
    guard(request, who, Action.READ, f"business:{b.uscc}", region=b.region_code)
    with lb.read_uow_factory()() as uow:
        found = uow.issues.list(IssueQuery(uscc=b.uscc))
    shown = readable_issues(who[0], lb, found)
    pg = pager(page, len(shown))
    return render(request, "console/dashboard_business.html", who, b=b,
                  issues=shown[pg.offset:pg.offset + pg.per_page], **pg.context())


@router.get("/app/office/issues/{issue_id}")
def issue_page(request: Request, issue_id: int) -> Response:
    """An issue: its facts, its history (every event), its evidence, the notices to its
    business from its campaign, and its look-backs."""
    from lookback.api.routes_fieldwork import load_issue

    who = staff(request)
    if isinstance(who, Response):
        return who
    lb = lb_of(request)
    i, team = load_issue(lb, issue_id)
    guard(request, who, Action.READ_ISSUE, f"issue:{issue_id}", campaign_id=i.campaign_id,
          team=team, uscc=i.uscc, region=i.region_code)
    with lb.read_uow_factory()() as uow:
        events = uow.events.for_entity(f"issue:{issue_id}")
        evidence = uow.fieldwork.evidence_of(issue_id)
        lookbacks = uow.followups.of_issue(issue_id)
        business = uow.registers.get_business(i.uscc)
        notices = uow.notices.page(NoticeQuery(campaign_id=i.campaign_id, text=i.uscc),
                                   limit=100, offset=0)[0] if i.campaign_id is not None else []
    return render(request, "console/dashboard_issue.html", who, i=i, events=events,
                  evidence=evidence, lookbacks=lookbacks, business=business, notices=notices,
                  ladder_name=_ladder(request))
