"""Routine supervision by assigned officials (包保督导): the visits, recording one, and the
supervision completion rate (督导完成率) of a period.

Staff read everything; a business user sees only the visits to itself. Only the office (or an
administrator) records a visit. Frequencies are the defaults (``domain.supervision``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from domain import supervision as sv
from domain.access import Action, Principal, Role
from domain.clock import china_date
from lookback.api.deps import AppDep, GuardDep, PageDep, UserDep
from lookback.api.schemas import (
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


def _mine(user: Principal, uscc: str) -> bool:
    return user.role != Role.BUSINESS or uscc == user.uscc


@router.get("/supervision/visits", tags=["supervision"])
def list_visits(lb: AppDep, user: UserDep, page: PageDep,
                period: Annotated[str | None, PeriodQuery] = None,
                status: Annotated[Literal["open", "done"] | None, Query()] = None,
                cadre: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
                ) -> SupervisionVisitList:
    """Supervision visits by period (those whose own period ends within it, as the rate counts
    them), status and official."""
    window = sv.parse_period(period) if period is not None else None
    with lb.read_uow_factory()() as uow:
        visits = uow.supervision.visits(ending_from=window.start if window else None,
                                        ending_to=window.end if window else None,
                                        status=status, cadre_id=cadre)
    visits = [v for v in visits if _mine(user, v.uscc)]
    return SupervisionVisitList(**page.meta(len(visits)),
                                items=[supervision_visit_public(v) for v in page.slice(visits)])


@router.post("/supervision/visits", status_code=201, tags=["supervision"])
def record_visit(body: SupervisionRecordCreate, lb: AppDep, guard: GuardDep, user: UserDep,
                 response: Response) -> SupervisionRecorded:
    """Record a supervision visit done (office only), with its findings
    (``category:severity:description``, each with a due date) and the leads referred to
    enforcement (移送线索). The visit of the period is opened if it was not yet."""
    guard(Action.RECORD_SUPERVISION, f"supervision:{body.cadre_id}:{body.uscc}",
          uscc=body.uscc)
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
    """The supervision completion rate of a period, in total and by province or level, and the
    overdue visits (paged; a business user sees only its own among them)."""
    r = sv.rates(period, uow_factory=lb.read_uow_factory(), today=china_date(lb.clock.now()),
                 by=by)
    late = [v for v in r.overdue if _mine(user, v.uscc)]
    return SupervisionRates(
        period=r.period.code, period_start=r.period.start, period_end=r.period.end,
        today=r.today, by=r.by, definition=DEFINITION,
        total=RateRowPublic(**r.total.as_dict()),
        groups=[RateRowPublic(**g.as_dict()) for g in r.groups],
        overdue_count=len(late), overdue=[supervision_visit_public(v) for v in page.slice(late)],
        findings=r.findings)
