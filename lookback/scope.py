"""What a user may see, for the lists that the API routes and the CLI (``--as``) both serve:
the territory and role rules of ``domain.access`` applied to rows that need a look-up first
(where a notice lies, which teams its issues belong to)."""

from __future__ import annotations

from typing import Any

from domain import access
from domain import followups as fu_svc
from domain import notices as svc
from domain.access import Principal, Role
from domain.campaigns import CampaignCounts
from domain.issues import Issue, IssueQuery
from lookback.bootstrap import App


def readable_campaigns(user: Principal, lb: App, *, status: str | None = None,
                       kind: str | None = None) -> list[CampaignCounts]:
    """The campaigns ``user`` sees, oldest first, with their counts: an office's staff those of
    their office and the offices below it (``access.in_territory`` of the owner's territory);
    only those of ``status`` / ``kind`` when given."""
    with lb.read_uow_factory()() as uow:
        rows = uow.campaigns.all_counts()
    return [r for r in rows if (status is None or r.campaign.status == status)
            and (kind is None or r.campaign.kind == kind)
            and access.in_territory(user, r.campaign.territory)]


def issue_ids_of(n: svc.Notice) -> list[int]:
    """The issues a notice is about (orders and talks list them; an opinion names one)."""
    c = n.content
    ids = [int(i["id"]) for i in c.get("issues", []) if isinstance(i, dict) and "id" in i]
    if isinstance(c.get("issue"), dict) and "id" in c["issue"]:
        ids.append(int(c["issue"]["id"]))
    return ids


def notice_teams(lb: App, notices: list[svc.Notice]) -> dict[int, frozenset[int]]:
    """Per notice, the teams of the issues it is about (empty: it names no issue)."""
    wanted = {i for n in notices for i in issue_ids_of(n)}
    with lb.read_uow_factory()() as uow:
        team_of = {i.id: i.team_no for i in uow.issues.list(IssueQuery(ids=tuple(wanted)))} \
            if wanted else {}
    return {n.id: frozenset(t for i in issue_ids_of(n) if (t := team_of.get(i)) is not None)
            for n in notices}


def notice_regions(lb: App, notices: list[svc.Notice]) -> dict[int, str]:
    """Where each notice lies, for the territory rule: its addressee's region, or (a circular,
    a draw publication) the territory prefix of its campaign's office."""
    out: dict[int, str] = {}
    with lb.read_uow_factory()() as uow:
        business: dict[str, str] = {}
        campaign: dict[int, str] = {}
        for n in notices:
            if n.uscc is not None:
                if n.uscc not in business:
                    b = uow.registers.get_business(n.uscc)
                    business[n.uscc] = b.region_code if b is not None else ""
                out[n.id] = business[n.uscc]
            elif n.campaign_id is not None:
                if n.campaign_id not in campaign:
                    c = uow.campaigns.get(n.campaign_id)
                    campaign[n.campaign_id] = c.territory if c is not None else ""
                out[n.id] = campaign[n.campaign_id]
            else:
                out[n.id] = ""
    return out


def notice_region(lb: App, user: Principal, n: svc.Notice) -> str | None:
    """The notice's region for the guard; not looked up for a user of the whole country."""
    return notice_regions(lb, [n])[n.id] if user.territory else None


def readable_notices(user: Principal, lb: App, notices: list[svc.Notice]) -> list[svc.Notice]:
    teams = notice_teams(lb, notices)
    if user.territory:  # looked up only for a user of an office
        regions = notice_regions(lb, notices)
        notices = [n for n in notices if access.in_territory(user, regions[n.id])]
    return [n for n in notices if access.may_read_notice(
        user, campaign_id=n.campaign_id, teams=teams[n.id], uscc=n.uscc)]


def assigned_businesses(lb: App, user: Principal) -> frozenset[str]:
    """The businesses assigned to a cadre user (none for anyone else)."""
    if user.role != Role.CADRE or user.cadre_id is None:
        return frozenset()
    with lb.read_uow_factory()() as uow:
        c = uow.registers.get_cadre(user.cadre_id)
    return frozenset(c.assigned_uscc) if c is not None else frozenset()


def assigned_to(user: Principal, uscc: str, businesses: frozenset[str]) -> frozenset[str]:
    """The ``assigned`` argument of the access rules for a business: the cadre user themself
    when it is one of their ``businesses`` (:func:`assigned_businesses`), else nobody."""
    return frozenset({user.cadre_id}) if user.cadre_id and uscc in businesses else frozenset()


def with_assigned(lb: App, user: Principal, scope: dict[str, Any]) -> dict[str, Any]:
    """``scope`` (of ``access.authorize``) with ``assigned`` filled in for a cadre user acting
    on a business, when the caller did not give it."""
    if user.role == Role.CADRE and scope.get("uscc") and "assigned" not in scope:
        scope["assigned"] = assigned_to(user, scope["uscc"], assigned_businesses(lb, user))
    return scope


def readable_issues(user: Principal, lb: App, issues: list[Issue]) -> list[Issue]:
    """The issues of ``issues`` that ``user`` sees (``access.sees_issue``): staff those in
    their territory, an auditor their team's, a business its own, a cadre those of the
    businesses assigned to them."""
    teams: dict[int, int] = {}
    if user.role == Role.AUDITOR and issues:  # only an auditor's rule needs the visits' teams
        with lb.read_uow_factory()() as uow:
            teams = {vid: v.team_no for vid, v in uow.fieldwork.visits_by_ids(
                sorted({i.visit_id for i in issues if i.visit_id})).items()}
    mine = assigned_businesses(lb, user)
    return [i for i in issues if access.sees_issue(
        user, campaign_id=i.campaign_id, team=teams.get(i.visit_id) if i.visit_id else None,
        uscc=i.uscc, region=i.region_code, assigned=assigned_to(user, i.uscc, mine))]


def followup_visible(user: Principal, fu: fu_svc.FollowUp, assigned: frozenset[str]) -> bool:
    """By role: an auditor their team's look-backs, a business its own, a cadre those of the
    businesses assigned to them (``assigned``), staff all (the territory is applied after)."""
    if user.role == Role.AUDITOR:
        return fu.team_no == user.team and (user.campaign_id is None
                                            or fu.campaign_id == user.campaign_id)
    if user.role == Role.BUSINESS:
        return fu.uscc == user.uscc
    if user.role == Role.CADRE:
        return fu.uscc in assigned
    return user.role in access.STAFF_READERS


def readable_followups(user: Principal, lb: App,
                       rows: list[fu_svc.FollowUp]) -> list[fu_svc.FollowUp]:
    """The follow-ups of ``rows`` that ``user`` sees: by role, then (staff of an office) those
    whose issue lies in the territory."""
    assigned = assigned_businesses(lb, user)
    rows = [fu for fu in rows if followup_visible(user, fu, assigned)]
    if user.territory and user.role in access.STAFF_READERS and rows:
        with lb.read_uow_factory()() as uow:
            inside = {i.id for i in uow.issues.list(IssueQuery(
                ids=tuple({fu.issue_id for fu in rows}), territory=user.territory))}
        rows = [fu for fu in rows if fu.issue_id in inside]
    return rows


def readable_metrics(user: Principal, lb: App, campaign_id: int) -> dict[str, Any]:
    """A campaign's figures today (``domain.metrics``) as ``user`` may see them: the counts
    whole, the overdue list only the issues they may read (``readable_overdue``), and its
    length as ``overdue_count``."""
    from domain.clock import china_date
    from domain.metrics import campaign_metrics

    m = campaign_metrics(campaign_id, today=china_date(lb.clock.now()),
                         uow_factory=lb.read_uow_factory())
    m["overdue"] = readable_overdue(user, lb, campaign_id, m["overdue"])
    m["overdue_count"] = len(m["overdue"])
    return m


def readable_overdue(user: Principal, lb: App, campaign_id: int,
                     overdue: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Of a campaign's overdue list (its metrics), the issues ``user`` may read: the counts are
    aggregates, the list names issues (a business sees its own, an auditor their team's)."""
    if user.role in access.STAFF_READERS or not overdue:
        return overdue
    with lb.read_uow_factory()() as uow:
        team_of = {i.id: i.team_no for i in uow.issues.list(
            IssueQuery(ids=tuple(o["id"] for o in overdue)))}
    mine = assigned_businesses(lb, user)
    return [o for o in overdue if access.may_read_issue(
        user, campaign_id=campaign_id, team=team_of.get(o["id"]), uscc=o["uscc"],
        assigned=assigned_to(user, o["uscc"], mine))]
