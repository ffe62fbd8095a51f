"""The supervision repository (包保督导): set-based opening of due visits, records, tallies."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, case, func, insert, literal, select, update

from domain.errors import BadArgumentError
from domain.offices import Territory
from domain.supervision import (
    OPENED_ENTITY,
    Period,
    SupervisionVisit,
    Tally,
    parse_period,
)
from storage.repositories import SqlRepository
from storage.tables import (
    BusinessRow,
    CadreAssignmentRow,
    CadreRow,
    EventRow,
    ReferralRow,
    RegionRow,
    SupervisionVisitRow,
)

_V = SupervisionVisitRow.__table__  # type: ignore[attr-defined]
_E = EventRow.__table__  # type: ignore[attr-defined]

# The shape of a period code of each frequency, as a LIKE pattern after the event's entity prefix.
_CODE_SHAPE = {"yearly": "____", "half-yearly": "____H_", "quarterly": "____Q_",
               "monthly": "____-__"}


def _as_date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _in_territory(stmt: Any, territory: str) -> Any:
    """``stmt`` (which joins the business) limited to the businesses of ``territory``: a code
    range, which the index on ``business.region_code`` answers."""
    bounds = Territory(territory).code_range() if territory else None
    if bounds is None:
        return stmt
    return stmt.where(BusinessRow.region_code >= bounds[0], BusinessRow.region_code < bounds[1])


class SqlSupervisionRepository(SqlRepository):
    def _dialect_insert(self) -> Any:
        if self._conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        return dialect_insert

    # --- opening ------------------------------------------------------------------------------

    def open_period(self, period: Period, levels: Sequence[str], at: datetime) -> list[int]:
        """One INSERT … SELECT … ON CONFLICT DO NOTHING RETURNING id over every assignment."""
        if not levels:
            return []
        c = _V.c
        source = (
            select(CadreAssignmentRow.cadre_id, CadreAssignmentRow.uscc, CadreRow.level,
                   literal(period.code, c.period.type), literal(period.start, c.period_start.type),
                   literal(period.end, c.period_end.type), literal("open", c.status.type),
                   literal(at, c.opened_at.type), literal("", c.note.type),
                   literal("", c.recorded_by.type))
            .join(CadreRow, CadreRow.cadre_id == CadreAssignmentRow.cadre_id)  # type: ignore[arg-type]
            .join(BusinessRow, BusinessRow.uscc == CadreAssignmentRow.uscc)  # type: ignore[arg-type]
            .where(CadreRow.level.in_(list(levels)), BusinessRow.status == "active")  # type: ignore[attr-defined]
        )
        stmt = (self._dialect_insert()(_V)
                .from_select(["cadre_id", "uscc", "level", "period", "period_start", "period_end",
                              "status", "opened_at", "note", "recorded_by"], source)
                .on_conflict_do_nothing(index_elements=["cadre_id", "uscc", "period"])
                .returning(c.id))
        return [int(i) for i in self._conn.execute(stmt).scalars().all()]

    def openings(self, frequency: str) -> list[tuple[Period, datetime]]:
        """The ``supervision.opened`` events whose entity is a period code of ``frequency`` (by
        the kind index; a handful per period)."""
        prefix = OPENED_ENTITY.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")
        rows = self._conn.execute(
            select(_E.c.entity, _E.c.at)
            .where(_E.c.kind == "supervision.opened",
                   _E.c.entity.like(prefix + _CODE_SHAPE[frequency], escape="\\"))
        ).all()
        out = []
        for entity, at in rows:
            try:
                period = parse_period(str(entity)[len(OPENED_ENTITY):])
            except BadArgumentError:  # the shape only counts characters
                continue
            if period.frequency == frequency:
                out.append((period, datetime.fromisoformat(str(at))))
        return out

    def open_one(self, cadre_id: str, uscc: str, level: str, period: Period,
                 at: datetime) -> int:
        return int(self._conn.execute(insert(_V).values(
            cadre_id=cadre_id, uscc=uscc, level=level, period=period.code,
            period_start=period.start, period_end=period.end, status="open", opened_at=at,
            note="", recorded_by="").returning(_V.c.id)).scalar_one())

    # --- reading ------------------------------------------------------------------------------

    def _select(self) -> Any:
        c = _V.c
        return (select(c.id, c.cadre_id, CadreRow.name.label("cadre_name"), c.uscc,  # type: ignore[attr-defined]
                       BusinessRow.name.label("business_name"),  # type: ignore[attr-defined]
                       BusinessRow.province_code, c.level, c.period, c.period_start, c.period_end,
                       c.status, c.opened_at, c.done_on, c.note, c.recorded_by,
                       BusinessRow.region_code)
                .join(CadreRow, CadreRow.cadre_id == c.cadre_id)  # type: ignore[arg-type]
                .join(BusinessRow, BusinessRow.uscc == c.uscc))  # type: ignore[arg-type]

    def _visits(self, stmt: Any) -> list[SupervisionVisit]:
        out = []
        for r in self._conn.execute(stmt).all():
            m = dict(r._mapping)
            for k in ("period_start", "period_end", "done_on"):
                m[k] = _as_date(m[k])
            m.update(id=int(m["id"]), note=m["note"] or "", recorded_by=m["recorded_by"] or "")
            out.append(SupervisionVisit(**m))
        return out

    def _one(self, *where: Any) -> SupervisionVisit | None:
        found = self._visits(self._select().where(*where).limit(1))
        return found[0] if found else None

    def is_assigned(self, cadre_id: str, uscc: str) -> bool:
        return self._conn.execute(
            select(CadreAssignmentRow.uscc).where(CadreAssignmentRow.cadre_id == cadre_id,
                                                  CadreAssignmentRow.uscc == uscc)
        ).first() is not None

    def covering(self, cadre_id: str, uscc: str, on: date) -> SupervisionVisit | None:
        c = _V.c
        found = self._visits(self._select().where(
            c.cadre_id == cadre_id, c.uscc == uscc, c.period_start <= on, c.period_end >= on)
            .order_by(c.period_end))  # the shortest period first, should frequencies change
        return found[0] if found else None

    def get(self, cadre_id: str, uscc: str, period: str) -> SupervisionVisit | None:
        c = _V.c
        return self._one(c.cadre_id == cadre_id, c.uscc == uscc, c.period == period)

    def by_id(self, visit_id: int) -> SupervisionVisit | None:
        return self._one(_V.c.id == visit_id)

    def visits(self, *, ending_from: date | None, ending_to: date | None, status: str | None,
               cadre_id: str | None, limit: int | None = None,
               territory: str = "") -> list[SupervisionVisit]:
        c = _V.c
        stmt = _in_territory(self._select(), territory)
        if ending_from is not None:
            stmt = stmt.where(c.period_end >= ending_from)
        if ending_to is not None:
            stmt = stmt.where(c.period_end <= ending_to)
        if status is not None:
            stmt = stmt.where(c.status == status)
        if cadre_id is not None:
            stmt = stmt.where(c.cadre_id == cadre_id)
        stmt = stmt.order_by(c.period_end, c.cadre_id, c.uscc)
        if limit is not None:
            stmt = stmt.limit(limit)
        return self._visits(stmt)

    def tally(self, ending_from: date, ending_to: date, today: date, *, territory: str = "",
              cadre_id: str | None = None) -> list[Tally]:
        c = _V.c
        done = case((c.status == "done", 1), else_=0)
        overdue = case((and_(c.status != "done", c.period_end < today), 1), else_=0)
        stmt = (select(c.level, BusinessRow.province_code, RegionRow.name, done, overdue,
                       func.count())
                .join(BusinessRow, BusinessRow.uscc == c.uscc)  # type: ignore[arg-type]
                .outerjoin(RegionRow, RegionRow.code == BusinessRow.province_code)  # type: ignore[arg-type]
                .where(c.period_end >= ending_from, c.period_end <= ending_to)
                .group_by(c.level, BusinessRow.province_code, RegionRow.name, done, overdue))
        stmt = _in_territory(stmt, territory)
        if cadre_id is not None:
            stmt = stmt.where(c.cadre_id == cadre_id)
        return [Tally(lv, prov, name or prov, bool(d), bool(o), int(n))
                for lv, prov, name, d, o, n in self._conn.execute(stmt).all()]

    # --- recording ----------------------------------------------------------------------------

    def mark_done(self, visit_id: int, *, done_on: date, note: str, actor: str,
                  at: datetime) -> bool:
        c = _V.c
        result = self._conn.execute(
            update(_V).where(c.id == visit_id, c.status == "open")
            .values(status="done", done_on=done_on, note=note[:2000], recorded_by=actor[:200],
                    recorded_at=at))
        return bool(result.rowcount == 1)

    def add_referrals(self, visit_id: int, uscc: str, descriptions: Sequence[str], *,
                      on: date, actor: str) -> list[int]:
        t = ReferralRow.__table__  # type: ignore[attr-defined]
        return [int(self._conn.execute(insert(t).values(
            source="supervision", issue_id=None, supervision_visit_id=visit_id, uscc=uscc,
            description=d[:2000], referred_on=on, referred_by=actor[:200],
            case_status="referred", case_number="").returning(t.c.id)).scalar_one())
            for d in descriptions]
