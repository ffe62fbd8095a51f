"""The notice repository: numbers, notice records and their PDF bytes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, text, update

from domain.notices import Notice, canonical
from storage.repositories import SqlRepository, _chunks, fits_id
from storage.tables import NoticePdfRow, NoticeRow

_LOCK_KEY = 7_041_643


def _notice(r: NoticeRow) -> Notice:
    assert r.id is not None
    return Notice(r.id, r.campaign_id, r.kind, r.lang, r.number, r.addressee, r.uscc, r.status,
                  json.loads(r.content_json), r.content_sha256, r.pdf_sha256, r.pdf_size,
                  r.created_at, r.issued_at, r.voided_at, r.void_reason)


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
            content: dict[str, Any], content_sha256: str, at: datetime) -> int:
        return int(self._conn.execute(insert(NoticeRow).values(
            campaign_id=campaign_id, kind=kind, lang=lang, office=office, year=year, seq=seq,
            number=number, target=target[:500], addressee=addressee[:300], uscc=uscc,
            content_json=canonical(content), content_sha256=content_sha256, status="pending",
            created_at=at, void_reason="").returning(NoticeRow.id)).scalar_one())

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
