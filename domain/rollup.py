"""The roll-up (汇总): an office's figures per region below it, computed from the records.

For each region one level below the office (or at a level the caller names, below the office's
own): 包保覆盖率 (coverage: active businesses with an assigned official), 总监/安全员配备率
(staffing: with both a food-safety director and officer named), 督导完成率 (the supervision
visits required in the period and done), the campaigns and issues found there, the
rectification and on-time rates (the same definitions as a campaign's), the overdue issues and
the escalated ones; and the office's total. A national office's roll-up covers the country.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from datetime import date
from typing import Any, Protocol

from domain.errors import BadArgumentError
from domain.offices import LEVEL_ZH as OFFICE_LEVEL_ZH
from domain.offices import OfficeLevel
from domain.ports import Transaction
from domain.stats import on_time_rate, rate, rectification_rate
from domain.supervision import parse_period, period_of

#: Digits of a region code that name a region at each level.
DIGITS = {"province": 2, "city": 4, "county": 6}
LEVEL_ZH = {"province": "省", "city": "市", "county": "县"}
_BELOW = {OfficeLevel.NATIONAL: "province", OfficeLevel.PROVINCE: "city",
          OfficeLevel.CITY: "county", OfficeLevel.COUNTY: "county",
          OfficeLevel.TOWNSHIP: "county"}


@dataclass(frozen=True)
class RollupCounts:
    """The counts of one region (``code``: its code's first digits)."""

    code: str
    businesses: int = 0
    covered: int = 0
    staffed: int = 0
    supervision_required: int = 0
    supervision_done: int = 0
    supervision_overdue: int = 0
    campaigns: int = 0
    issues: int = 0
    verified: int = 0
    verified_on_time: int = 0
    due: int = 0  # verified, or past their due date: what the on-time rate counts
    overdue: int = 0
    escalated: int = 0

    def plus(self, other: RollupCounts) -> RollupCounts:
        return RollupCounts(self.code, *(getattr(self, f.name) + getattr(other, f.name)
                                         for f in fields(self) if f.name != "code"))


@dataclass(frozen=True)
class RollupRow:
    counts: RollupCounts
    name: str

    def as_dict(self) -> dict[str, Any]:
        c = self.counts
        return {
            "code": c.code, "name": self.name,
            **{f.name: getattr(c, f.name) for f in fields(c) if f.name != "code"},
            "coverage_rate": rate(c.covered, c.businesses),
            "staffing_rate": rate(c.staffed, c.businesses),
            "supervision_rate": rate(c.supervision_done, c.supervision_required),
            "rectification_rate": rectification_rate(c.verified, c.issues),
            "on_time_rate": on_time_rate(c.verified_on_time, c.due),
        }


@dataclass(frozen=True)
class Rollup:
    level: str
    period: str | None
    territory: str
    today: date
    rows: list[RollupRow]
    total: RollupRow

    def as_dict(self) -> dict[str, Any]:
        return {"level": self.level, "period": self.period, "territory": self.territory,
                "today": self.today.isoformat(), "total": self.total.as_dict(),
                "rows": [r.as_dict() for r in self.rows]}


class RollupRepository(Protocol):
    def rollup(self, *, prefix: str, digits: int, period_start: date | None,
               period_end: date | None, today: date) -> list[RollupCounts]:
        """The counts per region code's first ``digits`` digits, of the regions whose code
        starts with ``prefix``."""
        ...

    def region_names(self, codes: list[str]) -> dict[str, str]:
        """The names of region codes (the six-digit ones)."""
        ...

    def campaigns(self, *, prefix: str) -> int:
        """How many campaigns found issues in the territory (each counted once)."""
        ...


class RollupUnitOfWork(Transaction, Protocol):
    @property
    def rollups(self) -> RollupRepository: ...


def level_below(office_level: OfficeLevel, level: str | None) -> str:
    """The level to roll up to: the one given (below the office's own), or the next one down."""
    if level is None:
        return _BELOW[office_level]
    if level not in DIGITS:
        raise BadArgumentError(f"--level must be one of {', '.join(DIGITS)}",
                               f"--level应为{'、'.join(DIGITS)}之一", code="bad_level")
    own = {OfficeLevel.NATIONAL: 0, OfficeLevel.PROVINCE: 2, OfficeLevel.CITY: 4,
           OfficeLevel.COUNTY: 6, OfficeLevel.TOWNSHIP: 9}[office_level]
    if DIGITS[level] <= own and not (own >= 6 and level == "county"):
        raise BadArgumentError(
            f"--level {level} is not below a {office_level.value} office",
            f"--level {level}不低于{OFFICE_LEVEL_ZH[office_level]}食安办", code="bad_level")
    return level


def rollup(*, territory: str, office_level: OfficeLevel, level: str | None = None,
           period: str | None = None, today: date,
           uow_factory: Callable[[], RollupUnitOfWork]) -> Rollup:
    """The roll-up of a territory (its code prefix; "" for the country) to ``level``, with the
    supervision figures of ``period`` (its code, e.g. 2026Q4; by default the quarter of
    ``today``)."""
    p = parse_period(period) if period else period_of(today, "quarterly")
    lvl = level_below(office_level, level)
    digits = DIGITS[lvl]
    with uow_factory() as uow:
        counts = uow.rollups.rollup(prefix=territory, digits=digits, period_start=p.start,
                                    period_end=p.end, today=today)
        names = uow.rollups.region_names([c.code.ljust(6, "0") for c in counts])
        campaigns = uow.rollups.campaigns(prefix=territory)
    rows = [RollupRow(c, names.get(c.code.ljust(6, "0"), c.code)) for c in
            sorted(counts, key=lambda c: c.code)]
    total = RollupCounts(territory or "000000")
    for c in counts:
        total = total.plus(c)
    # a campaign that found issues in two regions counts once in the total
    total = replace(total, campaigns=campaigns)
    return Rollup(lvl, p.code, territory, today, rows,
                  RollupRow(total, "合计"))
