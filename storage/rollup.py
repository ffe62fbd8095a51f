"""The roll-up's queries: per region (the first digits of its code), one grouped scan each of
businesses, issues and supervision visits, limited to a territory by a code range (which the
index on ``business.region_code`` answers), run side by side on their own connections."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

from sqlalchemy import text

from domain.offices import Territory
from domain.rollup import RollupCounts
from storage.db import READ_ONLY
from storage.repositories import SqlRepository


def _range(prefix: str) -> tuple[str, str]:
    # the whole country: every digit string sorts before "~"
    return Territory(prefix).code_range() or ("", "~")


# Per region code first — in the order of ix_business_rollup, which holds every column read, so
# no sort and no table — then the few regions by their prefix.
BUSINESSES = (
    "SELECT substr(r.code, 1, :n), SUM(r.n), SUM(r.covered), SUM(r.staffed) FROM ("
    "SELECT b.region_code AS code, COUNT(*) AS n, "
    "SUM(CASE WHEN b.covered THEN 1 ELSE 0 END) AS covered, "
    "SUM(CASE WHEN b.director <> '' AND b.officer <> '' THEN 1 ELSE 0 END) AS staffed "
    "FROM business b "
    "WHERE b.status = 'active' AND b.region_code >= :lo AND b.region_code < :hi "
    "GROUP BY b.region_code) r GROUP BY 1")
ISSUES = (
    "SELECT substr(b.region_code, 1, :n), COUNT(DISTINCT i.campaign_id), COUNT(*), "
    "SUM(CASE WHEN i.status = 'verified' THEN 1 ELSE 0 END), "
    "SUM(CASE WHEN i.status = 'verified' AND i.on_time THEN 1 ELSE 0 END), "
    "SUM(CASE WHEN i.status = 'verified' OR i.due_on < :today THEN 1 ELSE 0 END), "
    "SUM(CASE WHEN i.status = 'overdue' OR (i.status IN ('open', 'notified') "
    "AND i.due_on < :today) THEN 1 ELSE 0 END), "
    "SUM(CASE WHEN i.escalation > 0 THEN 1 ELSE 0 END) "
    "FROM issue i JOIN business b ON b.uscc = i.uscc "
    "WHERE b.region_code >= :lo AND b.region_code < :hi GROUP BY 1")
SUPERVISION = (
    "SELECT substr(b.region_code, 1, :n), COUNT(*), "
    "SUM(CASE WHEN s.status = 'done' THEN 1 ELSE 0 END), "
    "SUM(CASE WHEN s.status <> 'done' AND s.period_end < :today THEN 1 ELSE 0 END) "
    "FROM supervision_visit s JOIN business b ON b.uscc = s.uscc "
    "WHERE s.period_end >= :start AND s.period_end <= :end "
    "AND b.region_code >= :lo AND b.region_code < :hi GROUP BY 1")
# The whole country: drive from the issues and visits (fewer rows than businesses) and look each
# business up by its key; SQLite takes CROSS JOIN's left table as the outer loop, PostgreSQL
# plans it as any join.
ISSUES_ALL = ISSUES.replace("FROM issue i JOIN business b ON b.uscc = i.uscc WHERE",
                            "FROM issue i CROSS JOIN business b WHERE b.uscc = i.uscc AND")
SUPERVISION_ALL = SUPERVISION.replace(
    "FROM supervision_visit s JOIN business b ON b.uscc = s.uscc WHERE",
    "FROM supervision_visit s CROSS JOIN business b WHERE b.uscc = s.uscc AND")
CAMPAIGNS = (
    "SELECT COUNT(DISTINCT i.campaign_id) FROM issue i JOIN business b ON b.uscc = i.uscc "
    "WHERE b.region_code >= :lo AND b.region_code < :hi")
# The whole country: one plain scan of the businesses (a range over every code would walk the
# region index and fetch each row), and the issues counted by campaign without a business.
BUSINESSES_ALL = BUSINESSES.replace(" AND b.region_code >= :lo AND b.region_code < :hi", "")
CAMPAIGNS_ALL = "SELECT COUNT(DISTINCT i.campaign_id) FROM issue i"


class SqlRollupRepository(SqlRepository):
    @staticmethod
    def queries() -> list[tuple[str, str]]:
        """The roll-up's statements, for their query plans."""
        return [("businesses (a territory)", BUSINESSES),
                ("businesses (the country)", BUSINESSES_ALL), ("issues (a territory)", ISSUES),
                ("issues (the country)", ISSUES_ALL), ("supervision (a territory)", SUPERVISION),
                ("supervision (the country)", SUPERVISION_ALL),
                ("campaigns (a territory)", CAMPAIGNS), ("campaigns (the country)", CAMPAIGNS_ALL)]

    def rollup(self, *, prefix: str, digits: int, period_start: date | None,
               period_end: date | None, today: date) -> list[RollupCounts]:
        lo, hi = _range(prefix)
        p: dict[str, Any] = {"lo": lo, "hi": hi, "n": digits, "today": today}
        by: dict[str, dict[str, int]] = {}

        def put(rows: Any, names: tuple[str, ...]) -> None:
            for row in rows:
                cell = by.setdefault(str(row[0]), {})
                for name, value in zip(names, row[1:], strict=True):
                    cell[name] = int(value or 0)

        work: list[tuple[str, tuple[str, ...]]] = [
            (BUSINESSES if prefix else BUSINESSES_ALL, ("businesses", "covered", "staffed")),
            (ISSUES if prefix else ISSUES_ALL,
             ("campaigns", "issues", "verified", "verified_on_time", "due", "overdue",
              "escalated"))]
        if period_start is not None and period_end is not None:
            p.update(start=period_start, end=period_end)
            work.append((SUPERVISION if prefix else SUPERVISION_ALL,
                         ("supervision_required", "supervision_done", "supervision_overdue")))
        for rows, (_sql, names) in zip(self._run_all([sql for sql, _ in work], p), work,
                                       strict=True):
            put(rows, names)
        return [RollupCounts(code, **cell) for code, cell in by.items()]

    def _run_all(self, statements: list[str], params: dict[str, Any]) -> list[list[Any]]:
        """Run the scans side by side, each on its own connection of the engine (the database
        does the work outside Python's lock, so they overlap on every core), or one after the
        other on this unit of work's connection for a database a second connection cannot see
        (SQLite in memory). Each scan is one consistent read; the scans of different tables may
        see one another's tables a moment apart, as two requests would."""
        engine = self._conn.engine
        if engine.url.get_backend_name() == "sqlite" and engine.url.database in (None, "",
                                                                                  ":memory:"):
            return [self._conn.execute(text(sql), params).all() for sql in statements]

        readers = engine.execution_options(**{READ_ONLY: True})  # a deferred read, no lock

        def one(sql: str) -> list[Any]:
            with readers.connect() as conn:
                return list(conn.execute(text(sql), params).all())

        with ThreadPoolExecutor(max_workers=len(statements),
                                thread_name_prefix="rollup") as pool:
            return list(pool.map(one, statements))

    def campaigns(self, *, prefix: str) -> int:
        lo, hi = _range(prefix)
        return int(self._conn.execute(text(CAMPAIGNS if prefix else CAMPAIGNS_ALL),
                                      {"lo": lo, "hi": hi}).scalar() or 0)

    def region_names(self, codes: list[str]) -> dict[str, str]:
        if not codes:
            return {}
        out: dict[str, str] = {}
        for i in range(0, len(codes), 500):
            chunk = codes[i:i + 500]
            keys = {f"c{j}": c for j, c in enumerate(chunk)}
            out.update((str(code), str(name)) for code, name in self._conn.execute(text(
                f"SELECT code, name FROM region WHERE code IN "
                f"({', '.join(':' + k for k in keys)})"), keys))
        return out
