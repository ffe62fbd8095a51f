"""The import log: finished register imports, read from their ``registry.imported`` events (the
event log is the record; no table of its own), newest first, by the importing office's
territory."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from domain.importing import ImportRecord
from storage.repositories import SqlRepository
from storage.tables import EventRow

KIND = "registry.imported"
ENTITY = "import:"


def _record(r: Any) -> ImportRecord:
    p = json.loads(r.payload)
    return ImportRecord(
        id=int(r.entity.removeprefix(ENTITY)), at=datetime.fromisoformat(r.at), actor=r.actor,
        kind=str(p.get("kind", "")), source=str(p.get("source", "")),
        status=str(p.get("status", "")), read=int(p.get("read", 0)),
        inserted=int(p.get("inserted", 0)), updated=int(p.get("updated", 0)),
        rejected=int(p.get("rejected", 0)), warnings=int(p.get("warnings", 0)),
        territory=str(p.get("territory", "")))


class SqlImportLogRepository(SqlRepository):
    """``domain.importing.ImportLog`` on the event table."""

    @staticmethod
    def _where(territory: str) -> list[Any]:
        cond: list[Any] = [EventRow.kind == KIND]
        if territory:
            # The payload is canonical JSON (sorted keys, no spaces); a quote inside a string
            # value is escaped, so only the key itself matches. A territory is digits only.
            if not territory.isdigit():
                raise ValueError(f"a territory is a region-code prefix, not {territory!r}")
            cond.append(EventRow.payload.like(f'%"territory":"{territory}%'))  # type: ignore[attr-defined]
        return cond

    def recent(self, territory: str, *, limit: int, offset: int) -> list[ImportRecord]:
        stmt = (select(EventRow).where(*self._where(territory))
                .order_by(EventRow.seq.desc()).limit(limit).offset(offset))  # type: ignore[attr-defined]
        return [_record(r) for r in self._conn.execute(stmt)]

    def count(self, territory: str) -> int:
        stmt = select(func.count()).select_from(EventRow).where(*self._where(territory))
        return int(self._conn.execute(stmt).scalar_one())

    def get(self, import_id: int) -> ImportRecord | None:
        r = self._conn.execute(select(EventRow).where(
            EventRow.kind == KIND, EventRow.entity == f"{ENTITY}{import_id}")  # type: ignore[arg-type]
            .order_by(EventRow.seq.desc())).first()  # type: ignore[attr-defined]
        return _record(r) if r is not None else None
