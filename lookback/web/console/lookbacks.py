"""The office console's look-backs page (see ``lookback.web.console``): the look-backs (回头看
reviews) of the user's territory in three lists — pending, open and late
(``domain.followups.LookbackQuery`` says what each holds) — each a page at a time in SQL, oldest
due first, and the scheduler's status: who holds its lease and until when, when the next
follow-up falls due, and how many are late.

The lists are limited to the territory in SQL (the business's region-code range, as the issue
lists are) and then pass through ``lookback.scope.readable_followups``, the filter the API's
``GET /followups`` applies, so a row the rules would hide is never shown."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from fastapi import APIRouter, Request
from fastapi.responses import Response

from domain import followups as fu_svc
from domain.clock import china_date
from domain.followups import LOOKBACK_TABS, FollowUp, LookbackQuery
from domain.issues import Issue, IssueQuery
from lookback.bootstrap import App
from lookback.scope import readable_followups
from lookback.web import text
from lookback.web.console.base import china_time, lb_of, pager, render, staff

router = APIRouter(include_in_schema=False)

text.add({
    "lbk_title": ("回头看", "Look-backs"),
    "lbk_tab_pending": ("待到期", "Pending"),
    "lbk_tab_open": ("待复查", "Open"),
    "lbk_tab_late": ("已逾期", "Late"),
    "lbk_hint_pending": ("已排期、尚未到期的回头看。", "Planned look-backs, not yet due."),
    "lbk_hint_open": ("已到期、等待督查组复查的回头看。", "Due look-backs waiting for the team's check."),
    "lbk_hint_late": ("过了回头看日期仍未复查，或到期后未被调度触发的回头看。",
                      "Look-backs past their day without a check, or due and never fired."),
    "lbk_business": ("主体", "Business"),
    "lbk_issue": ("问题", "Issue"),
    "lbk_team": ("督查组", "Team"),
    "lbk_due": ("回头看日期", "Due"),
    "lbk_state": ("状态", "State"),
    "lbk_state_pending": ("待触发", "not fired"),
    "lbk_state_open": ("待复查", "waiting for the check"),
    "lbk_none": ("没有此类回头看。", "None in this list."),
    "lbk_scheduler": ("调度程序", "Scheduler"),
    "lbk_no_scheduler": ("没有运行中的调度程序：到期的回头看不会被触发。",
                         "No scheduler running: due look-backs are not being fired."),
    "lbk_holder": ("租约持有者", "Lease holder"),
    "lbk_renewed": ("最近续约", "Last renewed"),
    "lbk_expires": ("租约到期", "Lease expires"),
    "lbk_last_holder": ("上一个持有者", "Last holder"),
    "lbk_next_due": ("下一个到期", "Next due"),
    "lbk_nothing_due": ("无待到期事项", "nothing planned"),
    "lbk_unfired": ("到期未触发", "Due, not fired"),
    "lbk_open_late": ("逾期未复查", "Open past their day"),
    "lbk_in_territory": ("（本辖区）", "(your territory)"),
})


@dataclass(frozen=True)
class SchedulerStatus:
    """The scheduler as the page shows it. ``alive``: a holder's lease has not expired (leases
    run on the real clock, as the scheduler takes them); the counts are of the territory."""

    holder: str | None
    alive: bool
    renewed: datetime | None
    expires: datetime | None
    next_due: datetime | None
    unfired: int
    open_late: int


def scheduler_status(lb: App, territory: str, now: datetime) -> SchedulerStatus:
    """The lease (``domain.followups.LEASE``) and the territory's next due and late follow-ups."""
    stamp = fu_svc.epoch(now)
    q = LookbackQuery("late", stamp, china_date(now), territory)
    with lb.read_uow_factory()() as uow:
        lease = uow.followups.lease(fu_svc.LEASE)
        next_at = uow.followups.next_due_at(after=q.late_before, territory=territory)
        unfired = uow.followups.count_unfired(due_by=q.late_before, territory=territory)
        open_late = uow.followups.count_open_past(before=q.today, territory=territory)
    return SchedulerStatus(
        holder=lease.holder if lease else None,
        alive=lease is not None and lease.expires_at >= int(time.time()),
        renewed=lease.heartbeat_at if lease else None,
        expires=datetime.fromtimestamp(lease.expires_at, UTC) if lease else None,
        next_due=datetime.fromtimestamp(next_at, UTC) if next_at is not None else None,
        unfired=unfired, open_late=open_late)


@router.get("/app/office/lookbacks")
def lookbacks_page(request: Request, tab: str = "open", page: int = 1) -> Response:
    """One of the three lists, a page at a time, with each list's count and the scheduler's
    status."""
    who = staff(request)
    if isinstance(who, Response):
        return who
    lb = lb_of(request)
    tab = tab if tab in LOOKBACK_TABS else "open"
    now = lb.clock.now()
    territory = who[0].territory
    queries = {t: LookbackQuery(t, fu_svc.epoch(now), china_date(now), territory)
               for t in LOOKBACK_TABS}
    with lb.read_uow_factory()() as uow:
        counts = {t: uow.followups.count_lookbacks(q) for t, q in queries.items()}
        p = pager(page, counts[tab], query=f"&tab={tab}")
        rows = uow.followups.lookbacks(queries[tab], limit=p.per_page, offset=p.offset)
    rows = readable_followups(who[0], lb, rows)
    return render(request, "console/lookbacks.html", who, tab=tab, tabs=LOOKBACK_TABS,
                  counts=counts, items=_with_issues(lb, rows), sched=scheduler_status(
                      lb, territory, now), local=partial(china_time, empty="—"), **p.context())


def _with_issues(lb: App, rows: list[FollowUp]) -> list[tuple[FollowUp, Issue | None]]:
    ids = tuple(dict.fromkeys(fu.issue_id for fu in rows))
    with lb.read_uow_factory()() as uow:
        issues = {i.id: i for i in uow.issues.list(IssueQuery(ids=ids))} if ids else {}
    return [(fu, issues.get(fu.issue_id)) for fu in rows]

