"""Campaigns: list, show, metrics, the draw record and its verification; and health."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from domain import access
from domain import campaigns as svc
from domain.access import Action
from domain.clock import china_date
from domain.errors import NotFoundError
from lookback.api.deps import AppDep, GuardDep, PageDep, UserDep
from lookback.api.schemas import CampaignList, CampaignPublic, DrawVerification, Health
from lookback.scope import readable_campaigns, readable_metrics
from storage import migrate

router = APIRouter()


@router.get("/health", tags=["health"])
def health(lb: AppDep) -> Health:
    """Liveness and the database's schema revision (no token needed)."""
    return Health(status="ok", schema_revision=migrate.current_revision(lb.engine))


def _public(c: Any) -> CampaignPublic:
    camp = c.campaign
    return CampaignPublic(id=camp.id, title=camp.title, office=camp.office, kind=camp.kind,
                          status=camp.status, starts_on=camp.starts_on, ends_on=camp.ends_on,
                          seed=camp.seed, created_at=camp.created_at,
                          launched_at=camp.launched_at,
                          source_campaign_id=camp.source_campaign_id, sampled=c.sampled,
                          teams=c.teams, visits_planned=c.visits_planned,
                          visits_done=c.visits_done)


@router.get("/campaigns", tags=["campaigns"])
def list_campaigns(lb: AppDep, user: UserDep, page: PageDep,
                   status: Annotated[str | None, Query(max_length=20)] = None,
                   kind: Annotated[str | None, Query(max_length=20)] = None) -> CampaignList:
    """Campaigns, newest first, filtered by status (draft, launched, closed) and kind."""
    rows = readable_campaigns(user, lb, status=status, kind=kind)
    return CampaignList(**page.meta(len(rows)), items=[_public(r) for r in page.slice(rows)])


@router.get("/campaigns/{campaign_id}", tags=["campaigns"])
def get_campaign(campaign_id: int, lb: AppDep, guard: GuardDep) -> CampaignPublic:
    with lb.read_uow_factory()() as uow:
        c = uow.campaigns.counts(campaign_id)
    if c is None:
        raise svc.not_found(campaign_id)
    guard(Action.READ, f"campaign:{campaign_id}", region=c.campaign.territory)
    return _public(c)


@router.get("/campaigns/{campaign_id}/metrics", tags=["campaigns"])
def campaign_metrics(campaign_id: int, lb: AppDep, guard: GuardDep,
                     user: UserDep) -> dict[str, Any]:
    """The campaign's figures: completion, rectification and on-time rates, overdue, provinces.

    The counts are aggregates; the overdue list names only the issues the caller may read (a
    business its own, an auditor their team's)."""
    guard(Action.READ, f"campaign:{campaign_id}", region=_exists(lb, campaign_id).territory)
    return readable_metrics(user, lb, campaign_id)


@router.get("/campaigns/{campaign_id}/draw", tags=["campaigns"])
def draw_record(campaign_id: int, lb: AppDep, guard: GuardDep) -> dict[str, Any]:
    """The published draw record (seed, algorithm, frame hash, strata, picks with their keys)."""
    guard(Action.READ, f"campaign:{campaign_id}", region=_exists(lb, campaign_id).territory)
    with lb.read_uow_factory()() as uow:
        record = uow.campaigns.get_record(campaign_id)
    if record is None:
        raise NotFoundError(f"campaign {campaign_id} has not been drawn yet",
                            f"督查{campaign_id}尚未抽取")
    return record


@router.post("/campaigns/{campaign_id}/draw/verify", tags=["campaigns"])
def verify_draw(campaign_id: int, lb: AppDep, guard: GuardDep) -> DrawVerification:
    """Recompute the draw from the stored frame and compare it with the record."""
    guard(Action.READ, f"campaign:{campaign_id}", region=_exists(lb, campaign_id).territory)
    v = svc.verify_campaign(campaign_id, uow_factory=lb.read_uow_factory())
    return DrawVerification(ok=v.ok, difference=v.difference)


def _exists(lb: Any, campaign_id: int) -> svc.Campaign:
    with lb.read_uow_factory()() as uow:
        c = uow.campaigns.get(campaign_id)
    if c is None:
        raise svc.not_found(campaign_id)
    return c


@router.get("/rollup", tags=["rollup"])
def rollup(lb: AppDep, user: UserDep, guard: GuardDep,
           level: Annotated[str | None, Query(pattern="^(province|city|county)$")] = None,
           period: Annotated[str | None, Query(min_length=4, max_length=10)] = None,
           ) -> dict[str, Any]:
    """The caller's office's figures per region below it (汇总): coverage, staffing,
    supervision completion of ``period`` (default: this quarter), campaigns, issues,
    rectification and on-time rates, overdue and escalations. Staff only; a user of no office
    rolls up the whole country."""
    from domain import rollup as ru
    from domain.offices import level_of_prefix

    if user.role not in access.STAFF_READERS:
        guard(Action.ADMIN, "rollup")  # refused, and the refusal recorded
    r = ru.rollup(territory=user.territory, office_level=level_of_prefix(user.territory),
                  level=level, period=period, today=china_date(lb.clock.now()),
                  uow_factory=lb.read_uow_factory())
    return r.as_dict()
