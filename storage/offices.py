"""The office repository: food-safety offices, their levels, territories and parents."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select

from domain.offices import Office, OfficeLevel
from storage.repositories import SqlRepository
from storage.tables import OfficeRow


def _office(row: Any) -> Office:
    return Office(int(row.id), row.name, row.short_name, OfficeLevel(row.level), row.territory,
                  row.parent_id)


class SqlOfficeRepository(SqlRepository):
    def add(self, *, name: str, short_name: str, level: str, territory: str,
            parent_id: int | None, at: datetime) -> int:
        return int(self._conn.execute(insert(OfficeRow).values(
            name=name, short_name=short_name, level=level, territory=territory,
            parent_id=parent_id, created_at=at).returning(OfficeRow.id)).scalar_one())

    def _one(self, *where: Any) -> Office | None:
        row = self._conn.execute(select(OfficeRow.__table__).where(*where)).first()  # type: ignore[attr-defined]
        return _office(row) if row is not None else None

    def get(self, office_id: int) -> Office | None:
        return self._one(OfficeRow.id == office_id)

    def by_name(self, name: str) -> Office | None:
        return self._one(OfficeRow.name == name)

    def all(self) -> list[Office]:
        return [_office(r) for r in self._conn.execute(
            select(OfficeRow.__table__).order_by(OfficeRow.id))]  # type: ignore[attr-defined]
