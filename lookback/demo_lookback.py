"""The demo's look-back loop, simulated deterministically from its seed: the clock jumps to the
dates the look-backs fall due, the lookback-review flow fires them (the same claim-and-record
path as the scheduler's timers and sweep), the teams record their checks — some verified, some
only partly or not rectified, which climbs the escalation ladder — and the office issues the
warning-talk notices."""

from __future__ import annotations

import random
from datetime import datetime, time
from typing import Any

from domain import fieldwork as fw
from domain import followups as svc
from domain.clock import CHINA_TZ
from domain.issues import IssueQuery, IssueStatus
from lookback.bootstrap import App

NOTES = {
    "verified": "回头看：硬措施已落实，问题已整改到位，长效机制已建立",
    "partial": "回头看：已采取部分措施，但长效机制尚未建立",
    "not_rectified": "回头看：问题依然存在，未见整改措施",
}


def jump_to(lb: App, instant: datetime) -> None:
    """Move the demo's simulated clock (every service and flow reads it from the settings)."""
    lb.settings = lb.settings.model_copy(update={"now": instant})


def next_review_instant(lb: App) -> datetime | None:
    """09:00 in China on the day the last pending look-back of the current round falls due."""
    with lb.read_uow_factory()() as uow:
        pending = uow.followups.list(status="pending", kind=svc.REVIEW, team=None,
                                     campaign_id=None, due_before=None, limit=10**6)
    if not pending:
        return None
    last = max(fu.due_on for fu in pending if fu.revision == min(f.revision for f in pending))
    return datetime.combine(last, time(9, 0), CHINA_TZ)


def review_round(lb: App, rng: random.Random) -> dict[str, Any]:
    """Fire the due look-backs through the lookback-review flow, then record every open check."""
    from flows.followups import run_review
    from flows.wiring import use_database

    assert lb.settings.now is not None
    with use_database(lb.database_url):  # Prefect was prepared and started by the launch
        fired = run_review(lb.settings.now.isoformat(), "demo:scheduler")
    with lb.read_uow_factory()() as uow:
        open_reviews = uow.followups.list(status="open", kind=svc.REVIEW, team=None,
                                          campaign_id=None, due_before=None, limit=10**6)
        status = {fu.issue_id: uow.issues.get(fu.issue_id) for fu in open_reviews}
    common = {"uow_factory": lb.uow_factory(), "clock": lb.clock}
    outcomes = {"verified": 0, "partial": 0, "not_rectified": 0}
    for fu in open_reviews:
        issue = status[fu.issue_id]
        assert issue is not None
        # A business that reported its rectification by the due date is waiting for this check
        # (not overdue); the others (overdue by now) report late, just before it, or not at all.
        reported = issue.status == IssueStatus.RECTIFICATION_REPORTED
        if not reported and rng.random() < 0.5:
            fw.rectify(issue.id, measures="回头看前补报整改：已完成设备维修和人员培训", evidence=[],
                       actor="demo:business", **common)
            reported = True
        roll = rng.random()
        outcome = ("verified" if reported and roll < 0.8 else
                   "partial" if reported else "not_rectified")
        svc.record_check(issue.id, outcome=outcome, note=NOTES[outcome], evidence=[],
                         hard_measures=None if outcome != "partial" else True,
                         fixed=None if outcome != "partial" else False,
                         mechanism=None if outcome != "partial" else False,
                         team=fu.team_no, actor=f"demo:team{fu.team_no}",
                         calendar=lb.calendar, **common)
        outcomes[outcome] += 1
    return {"fired": fired, "checked": len(open_reviews), **outcomes}


def escalation_counts(lb: App, campaign_id: int) -> dict[str, int]:
    with lb.read_uow_factory()() as uow:
        issues = uow.issues.list(IssueQuery(campaign_id=campaign_id))
    counts = {name: 0 for name in svc.LADDER[1:]}
    for i in issues:
        if i.escalation:
            counts[svc.LADDER[i.escalation]] += 1
    return counts
