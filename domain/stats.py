"""Register statistics: counts by province, category and risk level, coverage and staffing rates."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from domain.ports import RegisterCounts
from domain.ports import RegisterUowFactory as UnitOfWorkFactory
from domain.registers import CADRE_LEVEL_ZH, CATEGORY_ZH, CadreLevel, Category


def rate(numerator: int, denominator: int) -> float | None:
    """A share in [0, 1], or ``None`` when there is nothing to divide by."""
    if denominator == 0:
        return None
    return numerator / denominator


def rectification_rate(verified: int, registered: int) -> float | None:
    """整改率: issues verified ÷ issues registered (None when nothing was registered)."""
    return rate(verified, registered)


def on_time_rate(on_time: int, due_or_verified: int) -> float | None:
    """按期整改率: issues verified on time (reported by the due date, no failed look-back) ÷
    issues due by now or verified (None when there are none)."""
    return rate(on_time, due_or_verified)


@dataclass(frozen=True, slots=True)
class ProvinceRow:
    code: str
    name: str
    businesses: int
    coverage_rate: float | None
    staffing_rate: float | None


@dataclass(frozen=True, slots=True)
class CountsWithReferrals(RegisterCounts):
    """Register counts together with the referral table's (both sources: follow-ups and
    supervision visits). A subclass rather than two more fields on ``RegisterCounts`` so that a
    store which does not count referrals (the unit-test fakes) still fits the port."""

    leads_referred: int = 0
    cases_filed: int = 0


@dataclass(frozen=True, slots=True)
class RegisterStats:
    """What ``lookback registry stats`` reports.

    Coverage rate (包保覆盖率): share of active businesses with at least one assigned official.
    Staffing rate (人员配备率): share of active businesses whose food-safety director and officer are
    both named.
    Leads referred (移送线索): referral rows, from follow-ups and supervision visits alike; cases
    filed (立案): those whose case status is ``filed``. ``None`` when the store does not count them.
    """

    businesses: int
    active_businesses: int
    coverage_rate: float | None
    staffing_rate: float | None
    director_rate: float | None
    officer_rate: float | None
    cadres: int
    inspectors: int
    active_inspectors: int
    regions: int
    by_province: list[ProvinceRow]
    by_category: list[tuple[str, str, int]]  # code, Chinese label, count
    by_risk: list[tuple[str, int]]
    cadres_by_level: list[tuple[str, str, int]]
    leads_referred: int | None = None
    cases_filed: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def register_stats(*, uow_factory: UnitOfWorkFactory) -> RegisterStats:
    """Compute the register statistics from the store."""
    with uow_factory() as uow:
        counts: RegisterCounts = uow.registers.counts()
    active = counts.active_businesses
    referrals = counts if isinstance(counts, CountsWithReferrals) else None
    return RegisterStats(
        businesses=counts.businesses,
        active_businesses=active,
        coverage_rate=rate(counts.covered, active),
        staffing_rate=rate(counts.staffed, active),
        director_rate=rate(counts.director_named, active),
        officer_rate=rate(counts.officer_named, active),
        cadres=counts.cadres,
        inspectors=counts.inspectors,
        active_inspectors=counts.active_inspectors,
        regions=counts.regions,
        by_province=[
            ProvinceRow(code, name, n, rate(covered, n), rate(staffed, n))
            for code, name, n, covered, staffed in counts.by_province
        ],
        by_category=[(c, CATEGORY_ZH[Category(c)], n) for c, n in counts.by_category],
        by_risk=list(counts.by_risk),
        cadres_by_level=[
            (lv.value, CADRE_LEVEL_ZH[lv], dict(counts.cadres_by_level).get(lv.value, 0))
            for lv in CadreLevel
        ],
        leads_referred=referrals.leads_referred if referrals else None,
        cases_filed=referrals.cases_filed if referrals else None,
    )
