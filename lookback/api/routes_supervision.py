"""Routine supervision by assigned officials (包保督导): the visits, recording one, the
businesses an official is assigned, and the supervision completion rate (督导完成率) of a period.

What a caller sees follows ``domain.access.sees_supervision``: staff the visits within their
office's territory, a cadre their own, a business those to itself. The office (within its
territory) and the cadre themself (their own visits to the businesses assigned to them) record
a visit. Frequencies are the defaults (``domain.supervision``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from domain import access
from domain import supervision as sv
from domain.access import Action
from domain.clock import china_date
from domain.errors import NotFoundError
from lookback.api.deps import AppDep, GuardDep, PageDep, UserDep
from lookback.api.schemas import (
    AssignedBusinessList,
    AssignedBusinessPublic,
    RateRowPublic,
    SupervisionFindingPublic,
    SupervisionRates,
    SupervisionRecordCreate,
    SupervisionRecorded,
    SupervisionVisitList,
    supervision_visit_public,
)

router = APIRouter()

PeriodQuery = Query(min_length=4, max_length=10,
                    description="2026 (year), 2026H2 (half-year), 2026Q4 (quarter) or 2026-11 "
                                "(month)")
DEFINITION = ("required = opened visits whose own period ends within the period; rate = done / "
              "required; overdue = required, not done, period ended before today")


@router.get("/supervision/visits", tags=["supervision"])
def list_visits(lb: AppDep, user: UserDep, page: PageDep,
                period: Annotated[str | None, PeriodQuery] = None,
                status: Annotated[Literal["open", "done"] | None, Query()] = None,
                cadre: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
                ) -> SupervisionVisitList:
    """Supervision visits by period (those whose own period ends within it, as the rate counts
    them), status and official."""
    window = sv.parse_period(period) if period is not None else None
    territory, own = access.supervision_filter(user)
    if own is not None and cadre is not None and cadre != own:
        return SupervisionVisitList(**page.meta(0), items=[])
    with lb.read_uow_factory()() as uow:
        visits = uow.supervision.visits(ending_from=window.start if window else None,
                                        ending_to=window.end if window else None,
                                        status=status, cadre_id=own or cadre,
                                        territory=territory)
    visits = [v for v in visits if access.sees_supervision(
        user, uscc=v.uscc, cadre_id=v.cadre_id, region=v.region_code)]
    return SupervisionVisitList(**page.meta(len(visits)),
                                items=[supervision_visit_public(v) for v in page.slice(visits)])


@router.get("/supervision/assigned", tags=["supervision"])
def assigned(lb: AppDep, user: UserDep, guard: GuardDep, page: PageDep,
             cadre: Annotated[str | None, Query(min_length=1, max_length=64,
                                                description="The official (default: the "
                                                            "cadre user themself).")] = None,
             ) -> AssignedBusinessList:
    """The businesses assigned to an official (包保主体), each with the official's visit of the
    period containing today (open or done, or none opened yet)."""
    cadre_id = cadre or user.cadre_id
    if cadre_id is None:
        from domain.errors import BadArgumentError

        raise BadArgumentError("cadre: name the official (?cadre=ID)",
                               "cadre：请指定包保干部（?cadre=编号）")
    with lb.read_uow_factory()() as uow:
        c = uow.registers.get_cadre(cadre_id)
        if c is None:
            raise NotFoundError(f"cadre {cadre_id} does not exist", f"包保干部{cadre_id}不存在")
        guard(Action.READ, f"cadre:{cadre_id}", region=c.region_code)
        if user.role not in access.STAFF_READERS and user.cadre_id != cadre_id:
            guard(Action.RECORD_SUPERVISION, f"cadre:{cadre_id}", cadre_id=cadre_id)
        today = china_date(lb.clock.now())
        rows = []
        for uscc in c.assigned_uscc:
            b = uow.registers.get_business(uscc)
            if b is None:
                continue
            v = uow.supervision.covering(cadre_id, uscc, today)
            rows.append(AssignedBusinessPublic(
                uscc=b.uscc, name=b.name, region=b.region_code, category=b.category,
                address=b.address, director=b.director, officer=b.officer,
                visit=supervision_visit_public(v) if v is not None else None))
    return AssignedBusinessList(**page.meta(len(rows)), cadre_id=c.cadre_id, cadre=c.name,
                                level=c.level.value, items=page.slice(rows))


@router.post("/supervision/visits", status_code=201, tags=["supervision"])
def record_visit(body: SupervisionRecordCreate, lb: AppDep, guard: GuardDep, user: UserDep,
                 response: Response) -> SupervisionRecorded:
    """Record a supervision visit done (the office within its territory, or the cadre themself),
    with its findings (``category:severity:description``, each with a due date) and the leads
    referred to enforcement (移送线索). The visit of the period is opened if it was not yet."""
    with lb.read_uow_factory()() as uow:
        b = uow.registers.get_business(body.uscc)
        mine = uow.supervision.is_assigned(body.cadre_id, body.uscc)
    guard(Action.RECORD_SUPERVISION, f"supervision:{body.cadre_id}:{body.uscc}",
          uscc=body.uscc, region=b.region_code if b is not None else None,
          cadre_id=body.cadre_id, assigned=frozenset({body.cadre_id}) if mine else frozenset())
    findings = [sv.parse_finding(s) for s in body.issues]
    r = sv.record(cadre_id=body.cadre_id, uscc=body.uscc, note=body.note, on=body.on,
                  period=body.period, findings=findings, leads=body.leads,
                  uow_factory=lb.uow_factory(), clock=lb.clock, calendar=lb.calendar,
                  actor=user.actor)
    response.headers["Location"] = f"/supervision/visits?cadre={r.visit.cadre_id}"
    return SupervisionRecorded(
        **supervision_visit_public(r.visit).model_dump(), opened_now=r.opened,
        findings=[SupervisionFindingPublic(id=i, category=f.category, severity=f.severity,
                                           description=f.description, due_on=f.due_on,
                                           due_provisional=f.due_provisional)
                  for i, f in zip(r.finding_ids, r.findings, strict=True)],
        referrals=r.referral_ids)


@router.get("/supervision/rates", tags=["supervision"])
def rates(lb: AppDep, user: UserDep, page: PageDep,
          period: Annotated[str, PeriodQuery],
          by: Annotated[Literal["province", "level"] | None, Query()] = None,
          ) -> SupervisionRates:
    """The supervision completion rate of a period, in total and by province or level, over
    the caller's territory (a cadre: their own visits), and the overdue visits (paged; only
    those the caller sees)."""
    territory, own = access.supervision_filter(user)
    r = sv.rates(period, uow_factory=lb.read_uow_factory(), today=china_date(lb.clock.now()),
                 by=by, territory=territory, cadre_id=own)
    late = [v for v in r.overdue if access.sees_supervision(
        user, uscc=v.uscc, cadre_id=v.cadre_id, region=v.region_code)]
    return SupervisionRates(
        period=r.period.code, period_start=r.period.start, period_end=r.period.end,
        today=r.today, by=r.by, definition=DEFINITION,
        total=RateRowPublic(**r.total.as_dict()),
        groups=[RateRowPublic(**g.as_dict()) for g in r.groups],
        overdue_count=len(late), overdue=[supervision_visit_public(v) for v in page.slice(late)],
        findings=r.findings)

