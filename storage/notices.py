"""The notice repository: numbers, notice records and their PDF bytes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, false, func, insert, or_, select, text, update

from domain.clock import CHINA_TZ
from domain.notices import Notice, NoticeQuery, canonical
from domain.offices import Territory
from storage.repositories import SqlRepository, _chunks, fits_id
from storage.tables import BusinessRow, NoticePdfRow, NoticeRow

_LOCK_KEY = 7_041_643


def _notice(r: NoticeRow) -> Notice:
    assert r.id is not None
    return Notice(r.id, r.campaign_id, r.kind, r.lang, r.number, r.addressee, r.uscc, r.status,
                  json.loads(r.content_json), r.content_sha256, r.pdf_sha256, r.pdf_size,
                  r.created_at, r.issued_at, r.voided_at, r.void_reason, r.verify_code)


def _china_midnight(day: date) -> datetime:
    """The instant China's calendar day ``day`` begins."""
    return datetime.combine(day, time(), tzinfo=CHINA_TZ)


def _like(text_: str) -> str:
    """A LIKE pattern for ``text_`` anywhere, its wildcards taken literally."""
    escaped = text_.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _conditions(q: NoticeQuery) -> list[Any]:
    """The WHERE clauses of a register query (see ``NoticeQuery``)."""
    cond: list[Any] = []
    if q.campaign_id is not None:
        cond.append(NoticeRow.campaign_id == q.campaign_id)
    if q.kind is not None:
        cond.append(NoticeRow.kind == q.kind)
    if q.status is not None:
        cond.append(NoticeRow.status == q.status)
    if q.text.strip():
        pattern = _like(q.text.strip())
        cond.append(or_(NoticeRow.number.like(pattern, escape="\\"),  # type: ignore[attr-defined]
                        NoticeRow.addressee.like(pattern, escape="\\"),  # type: ignore[attr-defined]
                        NoticeRow.uscc == q.text.strip().upper()))
    if q.issued_from is not None:
        cond.append(NoticeRow.issued_at >= _china_midnight(q.issued_from))  # type: ignore[operator]
    if q.issued_to is not None:
        cond.append(NoticeRow.issued_at <  # type: ignore[operator]
                    _china_midnight(q.issued_to + timedelta(days=1)))
    bounds = Territory(q.territory).code_range() if q.territory else None
    if bounds is not None:  # a code range, which the index on region_code answers
        low, high = bounds
        to_business = and_(NoticeRow.uscc.is_not(None),  # type: ignore[union-attr]
                           BusinessRow.region_code >= low, BusinessRow.region_code < high)
        to_none = (and_(NoticeRow.uscc.is_(None),  # type: ignore[union-attr]
                        NoticeRow.campaign_id.in_(list(q.campaigns)))  # type: ignore[union-attr]
                   if q.campaigns else false())
        cond.append(or_(to_business, to_none))
    return cond


class SqlNoticeRepository(SqlRepository):
    def lock(self) -> None:
        """Serialise recording (SQLite's IMMEDIATE transaction already does; PostgreSQL needs a
        transaction-scoped advisory lock so two runs never record the same addressee twice)."""
        if self._conn.dialect.name == "postgresql":
            self._conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})

    def next_seq(self, office: str, kind: str, year: int) -> int:
        """The next number, taken in this transaction: gapless (rolled back with it) and unique."""
        return int(self._conn.execute(text(
            "INSERT INTO notice_counter (office, kind, year, last_seq) VALUES (:o, :k, :y, 1) "
            "ON CONFLICT (office, kind, year) DO UPDATE SET last_seq = notice_counter.last_seq + 1 "
            "RETURNING last_seq"), {"o": office, "k": kind, "y": year}).scalar_one())

    def existing_targets(self, campaign_id: int | None, kind: str, lang: str) -> set[str]:
        of = (NoticeRow.campaign_id.is_(None) if campaign_id is None  # type: ignore[union-attr]
              else NoticeRow.campaign_id == campaign_id)
        rows = self._conn.execute(select(NoticeRow.target).where(
            of, NoticeRow.kind == kind, NoticeRow.lang == lang,
            NoticeRow.status != "void")).scalars()
        return set(rows)

    def add(self, *, campaign_id: int | None, kind: str, lang: str, office: str, year: int,
            seq: int, number: str, target: str, addressee: str, uscc: str | None,
            content: dict[str, Any], content_sha256: str, at: datetime,
            verify_code: str | None = None) -> int:
        return int(self._conn.execute(insert(NoticeRow).values(
            campaign_id=campaign_id, kind=kind, lang=lang, office=office, year=year, seq=seq,
            number=number, target=target[:500], addressee=addressee[:300], uscc=uscc,
            content_json=canonical(content), content_sha256=content_sha256, status="pending",
            created_at=at, void_reason="", verify_code=verify_code)
            .returning(NoticeRow.id)).scalar_one())

    def _one(self, *cond: Any) -> Notice | None:
        row = self.session.scalars(select(NoticeRow).where(*cond)
                                   .execution_options(populate_existing=True)).first()
        return None if row is None else _notice(row)

    def get(self, notice_id: int) -> Notice | None:
        if not fits_id(notice_id):
            return None
        self.session.expire_all()
        row = self.session.get(NoticeRow, notice_id)
        return None if row is None else _notice(row)

    def by_number(self, number: str) -> Notice | None:
        return self._one(NoticeRow.number == number)

    def by_pdf_sha256(self, sha: str) -> Notice | None:
        return self._one(NoticeRow.pdf_sha256 == sha)

    def by_content_sha256(self, sha: str) -> Notice | None:
        return self._one(NoticeRow.content_sha256 == sha)

    def by_verify_code(self, code: str) -> Notice | None:
        return self._one(NoticeRow.verify_code == code)

    def page(self, query: NoticeQuery, *, limit: int, offset: int) -> tuple[list[Notice], int]:
        """One page of the register, newest first (by number order, then id), and the count of
        every match: filters, territory and paging all in SQL."""
        cond = _conditions(query)
        joined = select(NoticeRow).outerjoin(BusinessRow,
                                             BusinessRow.uscc == NoticeRow.uscc)  # type: ignore[arg-type]
        total = int(self._conn.execute(
            select(func.count()).select_from(joined.where(*cond).subquery())).scalar_one())
        stmt = (joined.where(*cond).order_by(NoticeRow.id.desc())  # type: ignore[union-attr]
                .limit(limit).offset(offset).execution_options(populate_existing=True))
        return [_notice(r) for r in self.session.scalars(stmt).all()], total

    def pending(self, campaign_id: int | None, kind: str | None) -> list[int]:
        cond: list[Any] = [NoticeRow.status == "pending"]
        if campaign_id is not None:
            cond.append(NoticeRow.campaign_id == campaign_id)
        if kind is not None:
            cond.append(NoticeRow.kind == kind)
        return [int(i) for i in self._conn.execute(
            select(NoticeRow.id).where(*cond).order_by(NoticeRow.id)).scalars()]

    def pending_without_campaign(self, kind: str) -> list[int]:
        return [int(i) for i in self._conn.execute(
            select(NoticeRow.id).where(NoticeRow.status == "pending", NoticeRow.kind == kind,
                                       NoticeRow.campaign_id.is_(None))  # type: ignore[union-attr]
            .order_by(NoticeRow.id)).scalars()]

    def statuses(self, ids: Sequence[int]) -> dict[int, str]:
        out: dict[int, str] = {}
        for chunk in _chunks(list(ids)):
            out.update((int(i), str(st)) for i, st in self._conn.execute(
                select(NoticeRow.id, NoticeRow.status).where(
                    NoticeRow.id.in_(chunk))))  # type: ignore[union-attr]
        return out

    def status_counts(self, campaign_id: int | None, kind: str | None) -> dict[str, int]:
        stmt = select(NoticeRow.status, func.count()).group_by(NoticeRow.status)
        stmt = stmt.where(NoticeRow.campaign_id == campaign_id if campaign_id is not None
                          else NoticeRow.campaign_id.is_(None))  # type: ignore[union-attr]
        if kind is not None:
            stmt = stmt.where(NoticeRow.kind == kind)
        return {str(st): int(n) for st, n in self._conn.execute(stmt)}

    def list_notices(self, campaign_id: int | None, kind: str | None) -> list[Notice]:
        stmt = select(NoticeRow).order_by(NoticeRow.id).execution_options(populate_existing=True)
        if campaign_id is not None:
            stmt = stmt.where(NoticeRow.campaign_id == campaign_id)
        if kind is not None:
            stmt = stmt.where(NoticeRow.kind == kind)
        return [_notice(r) for r in self.session.scalars(stmt).all()]

    def mark_issued(self, notice_id: int, pdf: bytes, pdf_sha256: str, at: datetime) -> bool:
        """Pending → issued with these bytes; False if it was not pending (nothing changes)."""
        result = self._conn.execute(
            update(NoticeRow).where(NoticeRow.id == notice_id, NoticeRow.status == "pending")  # type: ignore[arg-type]
            .values(status="issued", pdf_sha256=pdf_sha256, pdf_size=len(pdf), issued_at=at))
        if result.rowcount != 1:
            return False
        self._sql.insert_ignore(NoticePdfRow, [{"sha256": pdf_sha256, "data": pdf}], ["sha256"])
        return True

    def mark_void(self, notice_id: int, reason: str, at: datetime) -> None:
        self._conn.execute(update(NoticeRow).where(NoticeRow.id == notice_id)  # type: ignore[arg-type]
                           .values(status="void", voided_at=at, void_reason=reason[:1000]))

    def pdf(self, sha: str) -> bytes | None:
        data = self._conn.execute(select(NoticePdfRow.data).where(
            NoticePdfRow.sha256 == sha)).scalar()
        return None if data is None else bytes(data)
