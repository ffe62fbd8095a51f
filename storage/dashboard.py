"""The dashboard's queries (``domain.dashboard``). A territory is a code range on
``business.region_code`` (its index answers it); the whole country reads the issues alone, without
the join to their businesses, where the business is not needed."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import text

from domain.dashboard import BusinessIssues, OverdueIssue
from storage.issues import as_date
from storage.repositories import SqlRepository
from storage.rollup import _range

#: An overdue issue: marked overdue, or open / notified past its due date (the roll-up's rule).
OVERDUE = ("(i.status = 'overdue' OR (i.status IN ('open', 'notified') "
           "AND i.due_on < :today))")
IN_RANGE = "b.region_code >= :lo AND b.region_code < :hi"

LADDER = ("SELECT i.escalation, COUNT(*) FROM issue i JOIN business b ON b.uscc = i.uscc "
          f"WHERE {IN_RANGE} GROUP BY 1")
LADDER_ALL = "SELECT i.escalation, COUNT(*) FROM issue i GROUP BY 1"
OVERDUE_PAGE = (
    "SELECT i.id, i.uscc, b.name, b.region_code, i.category, i.severity, i.status, i.due_on, "
    "i.escalation FROM issue i JOIN business b ON b.uscc = i.uscc "
    f"WHERE {OVERDUE} AND {IN_RANGE} ORDER BY i.due_on, i.id LIMIT :lim OFFSET :off")
OVERDUE_PAGE_ALL = OVERDUE_PAGE.replace(f" AND {IN_RANGE}", "")
FOUND = ("SELECT i.found_on, COUNT(*) FROM issue i JOIN business b ON b.uscc = i.uscc "
         f"WHERE i.found_on >= :since AND {IN_RANGE} GROUP BY 1")
FOUND_ALL = "SELECT i.found_on, COUNT(*) FROM issue i WHERE i.found_on >= :since GROUP BY 1"
REPORTED = FOUND.replace("found_on", "reported_on")
REPORTED_ALL = FOUND_ALL.replace("found_on", "reported_on")
BUSINESSES = (
    "SELECT b.uscc, b.name, b.region_code, COUNT(i.id), "
    "SUM(CASE WHEN i.id IS NOT NULL AND i.status <> 'verified' THEN 1 ELSE 0 END), "
    f"SUM(CASE WHEN i.id IS NOT NULL AND {OVERDUE} THEN 1 ELSE 0 END) "
    "FROM business b LEFT JOIN issue i ON i.uscc = b.uscc "
    f"WHERE b.status = 'active' AND {IN_RANGE} GROUP BY b.uscc, b.name, b.region_code "
    "ORDER BY 5 DESC, 4 DESC, b.uscc LIMIT :lim OFFSET :off")
OVERDUE_COUNT = ("SELECT COUNT(*) FROM issue i JOIN business b ON b.uscc = i.uscc "
                 f"WHERE {OVERDUE} AND {IN_RANGE}")
OVERDUE_COUNT_ALL = f"SELECT COUNT(*) FROM issue i WHERE {OVERDUE}"
BUSINESS_COUNT = f"SELECT COUNT(*) FROM business b WHERE b.status = 'active' AND {IN_RANGE}"


class SqlDashboardRepository(SqlRepository):
    @staticmethod
    def queries() -> list[tuple[str, str]]:
        """The dashboard's statements (besides the roll-up's), for their query plans."""
        return [("ladder (a territory)", LADDER), ("ladder (the country)", LADDER_ALL),
                ("overdue, oldest first (a territory)", OVERDUE_PAGE),
                ("overdue, oldest first (the country)", OVERDUE_PAGE_ALL),
                ("found per day (a territory)", FOUND), ("found per day (the country)", FOUND_ALL),
                ("reported per day (a territory)", REPORTED),
                ("reported per day (the country)", REPORTED_ALL),
                ("a county's businesses", BUSINESSES)]

    def _params(self, prefix: str, **more: Any) -> dict[str, Any]:
        lo, hi = _range(prefix)
        return {"lo": lo, "hi": hi, **more}

    def ladder(self, *, prefix: str) -> dict[int, int]:
        rows = self._conn.execute(text(LADDER if prefix else LADDER_ALL), self._params(prefix))
        return {int(step): int(n) for step, n in rows}

    def overdue(self, *, prefix: str, today: date, limit: int,
                offset: int) -> list[OverdueIssue]:
        rows = self._conn.execute(text(OVERDUE_PAGE if prefix else OVERDUE_PAGE_ALL),
                                  self._params(prefix, today=today, lim=limit, off=offset))
        return [OverdueIssue(int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6],
                             as_date(r[7]) or date.min, int(r[8])) for r in rows]

    def overdue_count(self, *, prefix: str, today: date) -> int:
        return int(self._conn.execute(text(OVERDUE_COUNT if prefix else OVERDUE_COUNT_ALL),
                                      self._params(prefix, today=today)).scalar_one())

    def by_day(self, *, prefix: str, since: date) -> tuple[dict[date, int], dict[date, int]]:
        p = self._params(prefix, since=since)

        def days(sql: str) -> dict[date, int]:
            return {d: int(n) for day, n in self._conn.execute(text(sql), p)
                    if (d := as_date(day)) is not None}

        return (days(FOUND if prefix else FOUND_ALL),
                days(REPORTED if prefix else REPORTED_ALL))

    def businesses(self, *, prefix: str, today: date, limit: int,
                   offset: int) -> list[BusinessIssues]:
        rows = self._conn.execute(text(BUSINESSES),
                                  self._params(prefix, today=today, lim=limit, off=offset))
        return [BusinessIssues(r[0], r[1], r[2], int(r[3]), int(r[4] or 0), int(r[5] or 0))
                for r in rows]

    def business_count(self, *, prefix: str) -> int:
        return int(self._conn.execute(text(BUSINESS_COUNT), self._params(prefix)).scalar_one())
