"""Repositories: the domain's ports implemented with SQL on one session."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlmodel import Session

from domain.ports import ImportRun, RegisterCounts, StoredKey
from domain.regions import Region, RegionLevel
from domain.registers import (
    Business,
    Cadre,
    CadreLevel,
    Category,
    Entity,
    Inspector,
    RegisterKind,
    RiskLevel,
)
from domain.stats import CountsWithReferrals
from storage.tables import (
    BusinessRow,
    CadreAssignmentRow,
    CadreRow,
    ImportRunRow,
    InspectorRow,
    RegionRow,
)

# Bound parameters per statement stay under SQLite's and PostgreSQL's limits.
_IN_CHUNK = 900


def _chunks(items: Sequence[Any], size: int = _IN_CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def fits_id(n: int) -> bool:
    """Whether ``n`` fits a database id (signed 64 bits): a larger one cannot exist, and would
    overflow SQLite's driver instead of finding nothing."""
    return -(2**63) <= n < 2**63


class SqlRepository:
    """A repository on one session (one transaction): raw driver statements through ``_sql``,
    Core statements through ``_conn``."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._sql = _Sql(session)

    @property
    def _conn(self) -> Any:
        return self.session.connection()

    @property
    def _pg(self) -> bool:
        return bool(self._conn.dialect.name == "postgresql")


class _Sql:
    """Raw driver-level statements, for bulk writes where ORM objects would cost too much."""

    def __init__(self, session: Session) -> None:
        self.session = session

    @property
    def placeholder(self) -> str:
        bind = self.session.get_bind()
        return "?" if bind.dialect.paramstyle == "qmark" else "%s"

    def executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            self.session.connection().exec_driver_sql(sql.replace("?", self.placeholder), rows)

    def insert_ignore(self, table: Any, rows: list[dict[str, Any]],
                      conflict: Sequence[str]) -> None:
        """INSERT … ON CONFLICT DO NOTHING through SQLAlchemy Core (column types applied)."""
        if not rows:
            return
        if self.session.get_bind().dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        stmt = dialect_insert(table.__table__).on_conflict_do_nothing(index_elements=list(conflict))
        self.session.connection().execute(stmt, rows)

    def upsert_sql(self, table: str, columns: Sequence[str], key: str) -> str:
        cols = ", ".join(columns)
        marks = ", ".join("?" for _ in columns)
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != key)
        return (f"INSERT INTO {table} ({cols}) VALUES ({marks}) "
                f"ON CONFLICT ({key}) DO UPDATE SET {updates}")


class SqlRegionRepository:
    def __init__(self, session: Session) -> None:
        self.session = session
        self._sql = _Sql(session)

    def codes(self) -> list[str]:
        return list(self.session.exec(select(RegionRow.code)).scalars())  # type: ignore[call-overload]

    def upsert_many(self, regions: Iterable[Region]) -> int:
        # Parents before children so the self-reference is satisfied row by row.
        order = {RegionLevel.PROVINCE: 0, RegionLevel.CITY: 1, RegionLevel.COUNTY: 2}
        rows = sorted(regions, key=lambda r: (order[r.level], r.code))
        sql = self._sql.upsert_sql("region", ("code", "name", "level", "parent_code"), "code")
        self._sql.executemany(sql, [(r.code, r.name, r.level.value, r.parent_code) for r in rows])
        return len(rows)

    def region_level(self, code: str) -> str | None:
        level = self.session.exec(select(RegionRow.level).where(  # type: ignore[call-overload]
            RegionRow.code == code)).first()
        return str(level[0]) if level is not None else None

    def get(self, code: str) -> Region | None:
        row = self.session.get(RegionRow, code)
        if row is None:
            return None
        return Region(row.code, row.name, RegionLevel(row.level), row.parent_code)


_KEY = {
    RegisterKind.BUSINESSES: (BusinessRow, "uscc"),
    RegisterKind.CADRES: (CadreRow, "cadre_id"),
    RegisterKind.INSPECTORS: (InspectorRow, "inspector_id"),
}

_BUSINESS_COLS = ("uscc", "name", "region_code", "province_code", "category", "risk_level",
                  "address", "director", "officer", "status", "import_id", "import_line")
_CADRE_COLS = ("cadre_id", "name", "level", "region_code", "position", "phone", "import_id",
               "import_line")
_INSPECTOR_COLS = ("inspector_id", "name", "home_region", "organisation", "phone", "active",
                   "import_id", "import_line")


class SqlRegisterRepository:
    def __init__(self, session: Session) -> None:
        self.session = session
        self._sql = _Sql(session)
        self._upsert = {
            RegisterKind.BUSINESSES: self._sql.upsert_sql("business", _BUSINESS_COLS, "uscc"),
            RegisterKind.CADRES: self._sql.upsert_sql("cadre", _CADRE_COLS, "cadre_id"),
            RegisterKind.INSPECTORS: self._sql.upsert_sql("inspector", _INSPECTOR_COLS,
                                                          "inspector_id"),
        }

    def lookup(self, kind: RegisterKind, keys: list[str]) -> dict[str, StoredKey]:
        table, key = _KEY[kind]
        found: dict[str, StoredKey] = {}
        conn = self.session.connection()
        ph = self._sql.placeholder
        for chunk in _chunks(keys):
            sql = (f"SELECT {key}, import_id, import_line FROM {table.__tablename__} "
                   f"WHERE {key} IN ({', '.join(ph for _ in chunk)})")
            for k, import_id, line in conn.exec_driver_sql(sql, tuple(chunk)):
                found[k] = StoredKey(import_id, line)
        return found

    def existing_businesses(self, usccs: list[str]) -> set[str]:
        found: set[str] = set()
        for chunk in _chunks(usccs):
            stmt = select(BusinessRow.uscc).where(BusinessRow.uscc.in_(chunk))  # type: ignore[attr-defined]
            found.update(self.session.connection().execute(stmt).scalars())
        return found

    def upsert(self, kind: RegisterKind, rows: list[tuple[int, Entity]], import_id: int) -> None:
        if kind is RegisterKind.BUSINESSES:
            values = [
                # _value_ rather than .value: the enum property costs a call per row.
                (e.uscc, e.name, e.region_code, e.region_code[:2] + "0000", e.category._value_,
                 e.risk_level._value_, e.address, e.director, e.officer, e.status, import_id,
                 line)
                for line, e in rows if isinstance(e, Business)
            ]
        elif kind is RegisterKind.CADRES:
            values = [
                (e.cadre_id, e.name, e.level.value, e.region_code, e.position, e.phone,
                 import_id, line)
                for line, e in rows if isinstance(e, Cadre)
            ]
        else:
            values = [
                (e.inspector_id, e.name, e.home_region, e.organisation, e.phone, e.active,
                 import_id, line)
                for line, e in rows if isinstance(e, Inspector)
            ]
        self._sql.executemany(self._upsert[kind], values)
        if kind is RegisterKind.CADRES:
            # A cadre's row in the file is the whole truth about their assignments.
            cadres = [e for _, e in rows if isinstance(e, Cadre)]
            conn = self.session.connection()
            before: set[str] = set()
            ids = [c.cadre_id for c in cadres]
            for i in range(0, len(ids), 500):
                before.update(conn.execute(
                    select(CadreAssignmentRow.uscc).where(
                        CadreAssignmentRow.cadre_id.in_(ids[i:i + 500]))).scalars())  # type: ignore[attr-defined]
            self._sql.executemany("DELETE FROM cadre_assignment WHERE cadre_id = ?",
                                  [(c.cadre_id,) for c in cadres])
            self._sql.executemany(
                "INSERT INTO cadre_assignment (cadre_id, uscc) VALUES (?, ?)",
                [(c.cadre_id, u) for c in cadres for u in c.assigned_uscc],
            )
            # business.covered follows the assignments of every business they touched
            touched = before | {u for c in cadres for u in c.assigned_uscc}
            self._sql.executemany(
                "UPDATE business SET covered = EXISTS (SELECT 1 FROM cadre_assignment a "
                "WHERE a.uscc = business.uscc) WHERE uscc = ?", [(u,) for u in sorted(touched)])

    def get_business(self, code: str) -> Business | None:
        r = self.session.get(BusinessRow, code)
        if r is None:
            return None
        return Business(r.uscc, r.name, r.region_code, Category(r.category),
                        RiskLevel(r.risk_level), r.address, r.director, r.officer, r.status)

    def get_cadre(self, cadre_id: str) -> Cadre | None:
        r = self.session.get(CadreRow, cadre_id)
        if r is None:
            return None
        assigned = self.session.connection().execute(
            select(CadreAssignmentRow.uscc)
            .where(CadreAssignmentRow.cadre_id == cadre_id)
            .order_by(CadreAssignmentRow.uscc)
        ).scalars()
        return Cadre(r.cadre_id, r.name, CadreLevel(r.level), r.region_code, r.position, r.phone,
                     tuple(assigned))

    def get_inspector(self, inspector_id: str) -> Inspector | None:
        r = self.session.get(InspectorRow, inspector_id)
        if r is None:
            return None
        return Inspector(r.inspector_id, r.name, r.home_region, r.organisation, r.phone,
                         r.active)

    def counts(self) -> RegisterCounts:
        conn = self.session.connection()

        def one(sql: str) -> int:
            return int(conn.execute(text(sql)).scalar_one() or 0)

        active = "status = 'active'"
        staffed = "director <> '' AND officer <> ''"
        covered = "business.covered"
        by_province = [
            (code, name or code, int(n), int(c or 0), int(s or 0))
            for code, name, n, c, s in conn.execute(text(
                "SELECT b.province_code, r.name, COUNT(*), "
                f"SUM(CASE WHEN {covered.replace('business.', 'b.')} THEN 1 ELSE 0 END), "
                f"SUM(CASE WHEN b.director <> '' AND b.officer <> '' THEN 1 ELSE 0 END) "
                "FROM business b LEFT JOIN region r ON r.code = b.province_code "
                "WHERE b.status = 'active' GROUP BY b.province_code, r.name "
                "ORDER BY COUNT(*) DESC, b.province_code"))
        ]
        return CountsWithReferrals(
            businesses=one("SELECT COUNT(*) FROM business"),
            active_businesses=one(f"SELECT COUNT(*) FROM business WHERE {active}"),
            covered=one(f"SELECT COUNT(*) FROM business WHERE {active} AND {covered}"),
            staffed=one(f"SELECT COUNT(*) FROM business WHERE {active} AND {staffed}"),
            director_named=one(f"SELECT COUNT(*) FROM business WHERE {active} AND director <> ''"),
            officer_named=one(f"SELECT COUNT(*) FROM business WHERE {active} AND officer <> ''"),
            by_province=by_province,
            by_category=[(c, int(n)) for c, n in conn.execute(text(
                f"SELECT category, COUNT(*) FROM business WHERE {active} "
                "GROUP BY category ORDER BY COUNT(*) DESC, category"))],
            by_risk=[(r, int(n)) for r, n in conn.execute(text(
                f"SELECT risk_level, COUNT(*) FROM business WHERE {active} "
                "GROUP BY risk_level ORDER BY risk_level"))],
            cadres_by_level=[(lv, int(n)) for lv, n in conn.execute(text(
                "SELECT level, COUNT(*) FROM cadre GROUP BY level"))],
            inspectors=one("SELECT COUNT(*) FROM inspector"),
            active_inspectors=one("SELECT COUNT(*) FROM inspector WHERE active"),
            cadres=one("SELECT COUNT(*) FROM cadre"),
            regions=one("SELECT COUNT(*) FROM region"),
            leads_referred=one("SELECT COUNT(*) FROM referral"),
            cases_filed=one("SELECT COUNT(*) FROM referral WHERE case_status = 'filed'"),
        )


class SqlImportRunRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def start(self, kind: RegisterKind, source: str, sha256: str, started_at: datetime,
              strict: bool) -> int:
        row = ImportRunRow(kind=kind.value, source=source[-500:], sha256=sha256,
                           started_at=started_at, strict=strict)
        self.session.add(row)
        self.session.flush()
        assert row.id is not None
        return row.id

    def finish(self, run: ImportRun) -> None:
        row = self.session.get(ImportRunRow, run.id)
        if row is None:
            return
        row.finished_at = run.finished_at
        row.status = run.status
        row.read, row.inserted, row.updated = run.read, run.inserted, run.updated
        row.rejected, row.warnings = run.rejected, run.warnings
        self.session.add(row)

    def get(self, run_id: int) -> ImportRun | None:
        row = self.session.get(ImportRunRow, run_id)
        if row is None or row.id is None:
            return None
        return ImportRun(row.id, RegisterKind(row.kind), row.source, row.sha256, row.started_at,
                         row.finished_at, row.status, row.read, row.inserted, row.updated,
                         row.rejected, row.warnings, row.strict)
