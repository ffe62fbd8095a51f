"""An office's dashboard: the roll-up's headline figures for its territory (or a region inside
it), the escalation ladder, the overdue issues oldest first, the issues found and the
rectifications reported week by week, and — at the bottom of the drill-down — a county's
businesses with their issues.

The figures come from the same records and definitions as the roll-up (``domain.rollup``): an
issue is overdue when it is marked overdue, or open / notified past its due date; a week starts
on Monday (China date).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Protocol

from domain import rollup as ru
from domain.errors import BadArgumentError, PermissionDeniedError
from domain.offices import level_of_prefix
from domain.ports import Transaction
from domain.vocabulary import LADDER

#: Weeks the trend covers, this week included.
WEEKS = 12
#: Overdue issues on the dashboard itself (the whole list pages on its own).
OVERDUE_SHOWN = 10
#: The deepest region the drill-down rolls up: a county (six digits); below it, its businesses.
COUNTY_DIGITS = 6


@dataclass(frozen=True)
class OverdueIssue:
    id: int
    uscc: str
    business_name: str
    region_code: str
    category: str
    severity: str
    status: str
    due_on: date
    escalation: int

    def days_late(self, today: date) -> int:
        return (today - self.due_on).days


@dataclass(frozen=True)
class BusinessIssues:
    """A business of a region with the count of its issues: all, not yet verified, overdue."""

    uscc: str
    name: str
    region_code: str
    issues: int
    unresolved: int
    overdue: int


@dataclass(frozen=True)
class Week:
    """One week of the trend: Monday, the issues found in it, the rectifications reported."""

    starts_on: date
    found: int
    reported: int


class DashboardRepository(Protocol):
    def ladder(self, *, prefix: str) -> dict[int, int]:
        """How many issues of the territory stand on each step of the escalation ladder."""
        ...

    def overdue(self, *, prefix: str, today: date, limit: int,
                offset: int) -> list[OverdueIssue]:
        """The territory's overdue issues, the longest overdue first (then by id)."""
        ...

    def overdue_count(self, *, prefix: str, today: date) -> int: ...

    def by_day(self, *, prefix: str, since: date) -> tuple[dict[date, int], dict[date, int]]:
        """Issues found, and rectifications reported (latest report), per day from ``since``."""
        ...

    def businesses(self, *, prefix: str, today: date, limit: int,
                   offset: int) -> list[BusinessIssues]:
        """The active businesses of the region, those with the most unresolved issues first."""
        ...

    def business_count(self, *, prefix: str) -> int: ...


class DashboardUnitOfWork(ru.RollupUnitOfWork, Transaction, Protocol):
    @property
    def dashboard(self) -> DashboardRepository: ...


@dataclass(frozen=True)
class Dashboard:
    region: str  # the code prefix shown ("" the country)
    region_name: str
    rollup: ru.Rollup  # the region's total, and its sub-regions (a county: itself)
    ladder: list[tuple[str, int]]  # (step, issues), every step of the ladder
    overdue: list[OverdueIssue]  # the first OVERDUE_SHOWN
    weeks: list[Week]
    trail: list[tuple[str, str]]  # (code, name) from the territory down to the region

    @property
    def county(self) -> bool:
        """At a county the drill-down lists its businesses instead of sub-regions."""
        return len(self.region) >= COUNTY_DIGITS


def check_region(territory: str, region: str | None) -> str:
    """The region to show: the user's territory by default, else a code inside it (of 2, 4 or
    6 digits). A code outside the territory is refused; a malformed one is a bad argument."""
    if not region:
        return territory
    if re.fullmatch(r"[0-9]{2}|[0-9]{4}|[0-9]{6}", region) is None:  # ASCII digits only
        raise BadArgumentError(f"region {region[:20]!r}: a region code of 2, 4 or 6 digits",
                               f"地区“{region[:20]}”应为2、4或6位地区代码", code="bad_region")
    if not region.startswith(territory) or len(region) < len(territory):
        raise PermissionDeniedError(f"region {region} lies outside your territory",
                                    f"地区{region}不在本辖区内", code="out_of_territory")
    return region


def weeks(found: Mapping[date, int], reported: Mapping[date, int], today: date,
          n: int = WEEKS) -> list[Week]:
    """The last ``n`` weeks (Monday to Sunday, this week last), each day's counts added into
    its week; days outside them are left out."""
    first = today - timedelta(days=today.weekday()) - timedelta(weeks=n - 1)
    starts = [first + timedelta(weeks=k) for k in range(n)]

    def per_week(days: Mapping[date, int]) -> list[int]:
        out = [0] * n
        for d, count in days.items():
            k = (d - first).days // 7
            if 0 <= k < n:
                out[k] += count
        return out

    return [Week(s, f, r) for s, f, r in zip(starts, per_week(found), per_week(reported),
                                             strict=True)]


def since(today: date, n: int = WEEKS) -> date:
    """The first day the trend counts."""
    return today - timedelta(days=today.weekday()) - timedelta(weeks=n - 1)


def dashboard(*, territory: str, region: str | None, today: date,
              uow_factory: Callable[[], DashboardUnitOfWork]) -> Dashboard:
    """The dashboard of ``region`` (inside ``territory``; by default the whole territory)."""
    code = check_region(territory, region)
    table = ru.rollup(territory=code, office_level=level_of_prefix(code), today=today,
                      uow_factory=uow_factory)
    start = since(today)
    with uow_factory() as uow:
        steps = uow.dashboard.ladder(prefix=code)
        overdue = uow.dashboard.overdue(prefix=code, today=today, limit=OVERDUE_SHOWN, offset=0)
        found, reported = uow.dashboard.by_day(prefix=code, since=start)
        trail_codes = [code[:k] for k in (2, 4, 6) if len(territory) < k <= len(code)]
        names = uow.rollups.region_names([c.ljust(6, "0") for c in trail_codes])
    trail = [(c, names.get(c.ljust(6, "0"), c)) for c in trail_codes]
    return Dashboard(code, trail[-1][1] if trail else "", table,
                     [(step, steps.get(k, 0)) for k, step in enumerate(LADDER)], overdue,
                     weeks(found, reported, today), trail)
