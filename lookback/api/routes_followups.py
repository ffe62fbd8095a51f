"""Look-backs (回头看 / 复查): the follow-ups, recording a look-back check, and the enforcement
outcome of a referred issue.

An auditor sees and records only the look-backs of their own team; a business user sees only
the follow-ups of its own issues; the office (or an administrator) records the case outcome.
Refusals are 403 and written to the event log. Recording a check needs ``If-Match``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from domain import followups as svc
from domain.access import Action, Role
from lookback.api.deps import (
    AppDep,
    GuardDep,
    IfMatch,
    PageDep,
    UserDep,
    etag,
    parse_if_match,
)
from lookback.api.routes_fieldwork import load_issue
from lookback.api.schemas import (
    CaseCreate,
    CheckPublic,
    FindingPublic,
    FollowUpCheckCreate,
    FollowUpList,
    FollowUpPublic,
    IssueFollowUps,
    ReferralPublic,
)
from lookback.scope import readable_followups

router = APIRouter()

_EVERY_ROW = 2**31 - 1  # ``followups.list`` wants a limit; the page is cut here


def followup_public(fu: svc.FollowUp, issue: Any = None) -> FollowUpPublic:
    d = fu.as_dict()
    finding = None if issue is None else FindingPublic(
        category=issue.category, severity=issue.severity, description=issue.description,
        issue_status=issue.status.value)
    return FollowUpPublic(**d, finding=finding)


@router.get("/followups", tags=["followups"])
def list_followups(
    lb: AppDep, user: UserDep, guard: GuardDep, page: PageDep,
    status: Annotated[Literal["pending", "open", "recorded", "done", "cancelled"] | None,
                      Query()] = None,
    kind: Annotated[Literal["review", "reminder"] | None, Query()] = None,
    team: Annotated[int | None, Query(ge=1, le=10**6)] = None,
    campaign: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    due: Annotated[bool, Query(description="Only those due by now.")] = False,
) -> FollowUpList:
    """Follow-ups, soonest first, each with its original finding: a team's open look-backs, the
    reminders pending. An auditor sees only their own team's, a business user only its own
    issues'."""
    if user.role == Role.AUDITOR:
        if (team is not None and team != user.team) or (
                campaign is not None and user.campaign_id not in (None, campaign)):
            guard(Action.READ_ISSUE, f"followups:team:{team}", campaign_id=campaign or -1,
                  team=team if team is not None else -1)
        team = user.team
    with lb.read_uow_factory()() as uow:
        rows = uow.followups.list(status=status, kind=kind, team=team, campaign_id=campaign,
                                  due_before=svc.epoch(lb.clock.now()) if due else None,
                                  limit=_EVERY_ROW)
    rows = readable_followups(user, lb, rows)
    with lb.read_uow_factory()() as uow:
        shown = page.slice(rows)
        issues = {i: uow.issues.get(i) for i in {fu.issue_id for fu in shown}}
    return FollowUpList(**page.meta(len(rows)),
                        items=[followup_public(fu, issues[fu.issue_id]) for fu in shown])


@router.get("/issues/{issue_id}/followups", tags=["followups"])
def issue_followups(issue_id: int, lb: AppDep, guard: GuardDep) -> IssueFollowUps:
    """Every follow-up of an issue (each due date's review and reminder), and its referral to
    enforcement if any."""
    i, team = load_issue(lb, issue_id)
    guard(Action.READ_ISSUE, f"issue:{issue_id}", campaign_id=i.campaign_id, team=team,
          uscc=i.uscc, region=i.region_code)
    with lb.read_uow_factory()() as uow:
        rows = uow.followups.of_issue(issue_id)
        ref = uow.followups.referral_of(issue_id)
    return IssueFollowUps(issue=issue_id, count=len(rows),
                          items=[followup_public(fu, i) for fu in rows],
                          referral=None if ref is None else ReferralPublic(**ref))


@router.post("/issues/{issue_id}/followup-checks", status_code=201, tags=["followups"])
def record_check(issue_id: int, body: FollowUpCheckCreate, lb: AppDep, guard: GuardDep,
                 user: UserDep, response: Response, if_match: IfMatch = None) -> CheckPublic:
    """Record the look-back check of the issue's open review (its own team only; needs
    ``If-Match``): ``verified`` closes the issue; ``partial`` and ``not_rectified`` set a new due
    date and climb one step of the escalation ladder (at the top the case is referred)."""
    i, team = load_issue(lb, issue_id)
    guard(Action.RECORD_FOLLOWUP, f"issue:{issue_id}", campaign_id=i.campaign_id, team=team,
          uscc=i.uscc, region=i.region_code)
    r = svc.record_check(issue_id, outcome=body.outcome, note=body.note, evidence=[],
                         hard_measures=body.hard_measures, fixed=body.fixed,
                         mechanism=body.mechanism,
                         team=user.team if user.role == Role.AUDITOR else None,
                         actor=user.actor, uow_factory=lb.uow_factory(), clock=lb.clock,
                         calendar=lb.calendar, expected_version=parse_if_match(if_match))
    response.headers["ETag"] = etag(r.issue.version)
    response.headers["Location"] = f"/issues/{issue_id}/followups"
    return CheckPublic(**r.as_dict())


@router.post("/issues/{issue_id}/case", tags=["followups"])
def record_case(issue_id: int, body: CaseCreate, lb: AppDep, guard: GuardDep,
                user: UserDep) -> ReferralPublic:
    """The enforcement outcome of a referred issue: the case filed (立案, with its number) or
    declined (office only)."""
    i, team = load_issue(lb, issue_id)
    guard(Action.ISSUE_NOTICE, f"issue:{issue_id}", campaign_id=i.campaign_id, team=team,
          uscc=i.uscc, region=i.region_code)
    ref = svc.record_case(issue_id, status=body.status, number=body.case_number,
                          actor=user.actor, uow_factory=lb.uow_factory(), clock=lb.clock)
    return ReferralPublic(**ref)
