"""Campaign metrics: visits, interviews, issues, and the rates an office reports.

The rates are defined here once; the CLI, the API, the circular and every other report use these
functions:

- Visit completion rate (检查完成率) = visits done ÷ visits planned.
- Rectification rate (整改率) = issues verified ÷ issues registered.
- On-time rate (按期整改率) = issues whose rectification was reported by their due date
  (extensions included) and then verified, with no look-back finding them unrectified
  (:func:`domain.issues.on_time`, recorded on the issue when it is verified) ÷ issues whose due
  date has passed or that are verified (those that should be rectified by now).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, Protocol

from domain.campaigns import CampaignRepository, not_found
from domain.ports import Transaction
from domain.stats import on_time_rate, rate, rectification_rate
from domain.visits import FieldworkRepository


class MetricsUnitOfWork(Transaction, Protocol):
    @property
    def campaigns(self) -> CampaignRepository: ...
    @property
    def fieldwork(self) -> FieldworkRepository: ...


UnitOfWorkFactory = Callable[[], MetricsUnitOfWork]


def rates_from_raw(raw: dict[str, Any]) -> dict[str, Any]:
    """The summary figures and per-province rates from the repository's raw counts."""
    visits = raw["visits"]
    planned = sum(visits.values())
    issues = raw["issues_by"]
    registered = sum(issues["status"].values())
    verified = issues["status"].get("verified", 0)
    return {
        "summary": {"visits_planned": planned, "visits_done": visits.get("done", 0),
                    "interviews": sum(raw["interviews"].values()),
                    "issues_registered": registered, "issues_verified": verified,
                    "rectification_rate": rectification_rate(verified, registered),
                    "on_time_rate": on_time_rate(raw["verified_on_time"], raw["due_or_verified"])},
        "provinces": [{**p, "rectification_rate": rectification_rate(p["verified"], p["issues"]),
                       "completion_rate": rate(p["visits_done"], p["visits"])}
                      for p in raw["provinces"]],
    }


def campaign_metrics(campaign_id: int, *, today: date, uow_factory: UnitOfWorkFactory) -> dict[str, Any]:
    """Every figure of ``lookback campaign metrics``, as plain data."""
    with uow_factory() as uow:
        c = uow.campaigns.get(campaign_id)
        if c is None:
            raise not_found(campaign_id)
        raw = uow.fieldwork.metrics(campaign_id, today)
    summary = rates_from_raw(raw)
    s = summary["summary"]
    issues = raw["issues_by"]
    return {
        "campaign": {"id": c.id, "title": c.title, "status": c.status},
        "today": today.isoformat(),
        "visits": {"planned": s["visits_planned"], "done": s["visits_done"],
                   "completion_rate": rate(s["visits_done"], s["visits_planned"])},
        "interviews": {"total": s["interviews"], "by_role": raw["interviews"]},
        "issues": {
            "registered": s["issues_registered"], "verified": s["issues_verified"],
            "by_category": issues["category"], "by_severity": issues["severity"],
            "by_status": issues["status"],
        },
        "rectification_rate": s["rectification_rate"],
        "on_time_rate": s["on_time_rate"],
        "overdue": raw["overdue"],
        "provinces": summary["provinces"],
    }
