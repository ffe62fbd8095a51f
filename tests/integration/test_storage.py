"""Storage against a real database: SQLite by default, PostgreSQL when
LOOKBACK_TEST_DATABASE_URL is set (the fixtures of tests/conftest.py pick it)."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

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
from domain.uscc import check_char
from storage import migrate
from storage.db import SQLITE_BUSY_TIMEOUT_MS, make_engine
from storage.regions import load_regions, read_snapshot
from storage.uow import SqlUnitOfWork
from tests.integration._support import CLOCK, PG_URL, count

UowFactory = Callable[[], SqlUnitOfWork]
sqlite_only = pytest.mark.skipif(bool(PG_URL), reason="SQLite-specific")


def _uscc(region: str, org: str) -> str:
    body = "91" + region + org
    return body + check_char(body)


U1 = _uscc("110101", "MA0000001")
U2 = _uscc("110102", "MA0000002")
U3 = _uscc("310101", "MA0000003")


def _biz(code: str, name: str = "北京鑫隆饭店", region: str = "110101", **kw: object) -> Business:
    fields: dict[str, object] = dict(category=Category.CATERING, risk_level=RiskLevel.B,
                                     address="北京市东城区人民路1号", director="王伟",
                                     officer="李娜", status="active")
    fields.update(kw)
    return Business(code, name, region, **fields)  # type: ignore[arg-type]


def _store(uow_factory: UowFactory, kind: RegisterKind, entities: list[Entity]) -> int:
    """Upsert entities in one committed unit of work; returns the import run id used."""
    with uow_factory() as uow:
        run_id = uow.import_runs.start(kind, "test", "0" * 64, CLOCK.now(), False)
        uow.registers.upsert(kind, [(i + 2, e) for i, e in enumerate(entities)], run_id)
        uow.commit()
    return run_id


# --- migrations ---------------------------------------------------------------------------------


def test_upgrade_twice_is_safe_and_second_run_is_a_no_op(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        head = migrate.head_revision()
        assert migrate.current_revision(engine) is None

        assert migrate.upgrade(engine) == (None, head)
        assert migrate.upgrade(engine) == (head, head)

        assert migrate.current_revision(engine) == head
        tables = set(inspect(engine).get_table_names())
        assert {"region", "business", "cadre", "cadre_assignment", "inspector",
                "import_run", "alembic_version"} <= tables
        with engine.connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
        assert [v for (v,) in versions] == [head]
    finally:
        engine.dispose()


# --- regions ------------------------------------------------------------------------------------


def test_region_snapshot_is_loaded_with_parent_links(engine: Engine, uow_factory: UowFactory
                                                     ) -> None:
    snapshot = list(read_snapshot())
    assert len(snapshot) >= 3220  # the GB/T 2260 snapshot: 3220 regions at the time of writing
    assert count(engine, "region") == len(snapshot)
    with engine.connect() as conn:
        levels = dict(conn.execute(text("SELECT level, COUNT(*) FROM region GROUP BY level")).all())
        assert levels == dict(Counter(r.level.value for r in snapshot))
        assert levels["province"] == 34
        # Every parent link points at a stored region one level up, in the same province.
        orphans = conn.execute(text(
            "SELECT COUNT(*) FROM region c LEFT JOIN region p ON p.code = c.parent_code "
            "WHERE c.parent_code IS NOT NULL AND p.code IS NULL")).scalar_one()
        assert orphans == 0
        wrong = conn.execute(text(
            "SELECT COUNT(*) FROM region c JOIN region p ON p.code = c.parent_code WHERE NOT ("
            "(c.level = 'county' AND p.level = 'city') OR (c.level = 'city' AND p.level = "
            "'province')) OR substr(c.code, 1, 2) <> substr(p.code, 1, 2)")).scalar_one()
        assert wrong == 0
        rootless = conn.execute(text(
            "SELECT COUNT(*) FROM region WHERE (level = 'province') <> (parent_code IS NULL)"
        )).scalar_one()
        assert rootless == 0

    with uow_factory() as uow:
        beijing = uow.regions.get("110000")
        dongcheng = uow.regions.get("110101")
        assert uow.regions.get("999999") is None
    assert beijing is not None and beijing.name == "北京市" and beijing.parent_code is None
    assert beijing.level == "province"
    assert dongcheng is not None and dongcheng.name == "东城区"
    assert dongcheng.parent_code == "110100"


def test_loading_regions_again_does_not_duplicate_them(engine: Engine, uow_factory: UowFactory
                                                       ) -> None:
    n = count(engine, "region")
    assert n >= 3220
    assert load_regions(uow_factory) == n
    assert count(engine, "region") == n


# --- SQLite connection settings -----------------------------------------------------------------


@sqlite_only
def test_sqlite_pragmas_are_set_on_every_connection(engine: Engine) -> None:
    # Two DBAPI connections held at once, so the second is really a new connection too (raw
    # connections, because every SQLAlchemy transaction on this engine is BEGIN IMMEDIATE).
    a, b = engine.raw_connection(), engine.raw_connection()
    try:
        for conn in (a, b):
            cur = conn.cursor()
            pragmas = {name: cur.execute(f"PRAGMA {name}").fetchone()[0]
                       for name in ("journal_mode", "foreign_keys", "synchronous", "busy_timeout")}
            cur.close()
            assert pragmas == {"journal_mode": "wal", "foreign_keys": 1,
                               "synchronous": 2,  # FULL
                               "busy_timeout": SQLITE_BUSY_TIMEOUT_MS}
    finally:
        a.close()
        b.close()


@sqlite_only
def test_sqlite_write_transactions_take_the_write_lock_at_begin(engine: Engine,
                                                                uow_factory: UowFactory) -> None:
    """BEGIN IMMEDIATE: a unit of work holds the write lock before its first write, so a second
    writer waits at its BEGIN instead of deadlocking half-way."""
    path = engine.url.database
    assert path
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        with uow_factory() as uow:
            uow.regions.codes()  # only a read so far
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")  # free again once the unit of work ended
        other.execute("ROLLBACK")
    finally:
        other.close()


def test_foreign_keys_are_enforced(uow_factory: UowFactory) -> None:
    """An assignment to a business that is not in the register is refused by the database."""
    cadre = Cadre("C1", "张伟", CadreLevel.COUNTY, "110101", assigned_uscc=(U1,))
    with uow_factory() as uow:
        run_id = uow.import_runs.start(RegisterKind.CADRES, "t", "0" * 64, CLOCK.now(), False)
        with pytest.raises(IntegrityError):
            uow.registers.upsert(RegisterKind.CADRES, [(2, cadre)], run_id)
            uow.session.flush()


# --- unit of work -------------------------------------------------------------------------------


def test_unit_of_work_rolls_back_without_commit(engine: Engine, uow_factory: UowFactory) -> None:
    with uow_factory() as uow:
        run_id = uow.import_runs.start(RegisterKind.BUSINESSES, "t", "0" * 64, CLOCK.now(),
                                       False)
        uow.registers.upsert(RegisterKind.BUSINESSES, [(2, _biz(U1))], run_id)
        assert uow.registers.get_business(U1) is not None  # visible inside the transaction
    with uow_factory() as uow:
        assert uow.registers.get_business(U1) is None
        assert uow.import_runs.get(run_id) is None
    assert count(engine, "business") == 0
    assert count(engine, "import_run") == 0


def test_unit_of_work_rolls_back_on_error(engine: Engine, uow_factory: UowFactory) -> None:
    with pytest.raises(RuntimeError), uow_factory() as uow:
        run_id = uow.import_runs.start(RegisterKind.BUSINESSES, "t", "0" * 64, CLOCK.now(),
                                       False)
        uow.registers.upsert(RegisterKind.BUSINESSES, [(2, _biz(U1))], run_id)
        raise RuntimeError("boom")
    assert count(engine, "business") == 0


def test_unit_of_work_commit_persists(engine: Engine, uow_factory: UowFactory) -> None:
    _store(uow_factory, RegisterKind.BUSINESSES, [_biz(U1)])
    assert count(engine, "business") == 1


# --- repositories -------------------------------------------------------------------------------


def test_upsert_and_read_back_businesses(engine: Engine, uow_factory: UowFactory) -> None:
    first = [_biz(U1), _biz(U2, "北京福旺超市", "110102", category=Category.SALES,
                              risk_level=RiskLevel.A, director="", officer=""),
             _biz(U3, "上海和顺食品厂", "310101", category=Category.PRODUCTION,
                  risk_level=RiskLevel.D, status="closed")]
    run1 = _store(uow_factory, RegisterKind.BUSINESSES, first)
    with uow_factory() as uow:
        for b in first:
            assert uow.registers.get_business(b.uscc) == b
        assert uow.registers.get_business(_uscc("110101", "MA0000009")) is None
        stored = uow.registers.lookup(RegisterKind.BUSINESSES, [U1, U2, U3, "X"])
    assert set(stored) == {U1, U2, U3}
    assert (stored[U2].import_id, stored[U2].line) == (run1, 3)
    with engine.connect() as conn:
        provinces = dict(conn.execute(text("SELECT uscc, province_code FROM business")).all())
    assert provinces == {U1: "110000", U2: "110000", U3: "310000"}

    changed = _biz(U2, "北京福旺超市（新）", "110102", category=Category.SALES,
                   risk_level=RiskLevel.C, director="赵敏", officer="钱强", status="closed")
    run2 = _store(uow_factory, RegisterKind.BUSINESSES, [changed])
    assert count(engine, "business") == 3
    with uow_factory() as uow:
        assert uow.registers.get_business(U2) == changed
        assert uow.registers.get_business(U1) == first[0]
        after = uow.registers.lookup(RegisterKind.BUSINESSES, [U2])
        assert uow.registers.existing_businesses([U1, U3, "NOPE"]) == {U1, U3}
    assert after[U2].import_id == run2 != run1


def test_upsert_and_read_back_inspectors(engine: Engine, uow_factory: UowFactory) -> None:
    people = [Inspector("J1101000001", "周杰", "110100", "北京市市场监督管理局", "13800000000",
                        True),
              Inspector("J3101000001", "吴芳", "310100", "", "", False)]
    _store(uow_factory, RegisterKind.INSPECTORS, people)
    with uow_factory() as uow:
        assert uow.registers.get_inspector("J1101000001") == people[0]
        assert uow.registers.get_inspector("J3101000001") == people[1]
        assert uow.registers.get_inspector("J0000000000") is None
    retired = Inspector("J1101000001", "周杰", "110100", "北京市市场监督管理局", "13800000000",
                        False)
    _store(uow_factory, RegisterKind.INSPECTORS, [retired])
    with uow_factory() as uow:
        assert uow.registers.get_inspector("J1101000001") == retired
        counts = uow.registers.counts()
    assert (counts.inspectors, counts.active_inspectors) == (2, 0)


def test_upsert_and_read_back_cadres_and_assignments_are_replaced(engine: Engine,
                                                                  uow_factory: UowFactory
                                                                  ) -> None:
    _store(uow_factory, RegisterKind.BUSINESSES, [_biz(U1), _biz(U2, region="110102"),
                                                  _biz(U3, region="310101")])
    a = Cadre("C11010100001", "郭玉强", CadreLevel.COUNTY, "110101", "县市场监管局局长",
              "13582078963", (U1, U2))
    b = Cadre("C31010100001", "陈伟梅", CadreLevel.VILLAGE, "310101", "", "", (U3,))
    _store(uow_factory, RegisterKind.CADRES, [a, b])
    with uow_factory() as uow:
        assert uow.registers.get_cadre(a.cadre_id) == a
        assert uow.registers.get_cadre(b.cadre_id) == b
        assert uow.registers.get_cadre("C0") is None
    assert count(engine, "cadre_assignment") == 3

    # The file's row is the whole truth: U1 and U2 are dropped, U3 is added; b is untouched.
    a2 = Cadre("C11010100001", "郭玉强", CadreLevel.CITY, "110100", "市政府副市长", "", (U3,))
    _store(uow_factory, RegisterKind.CADRES, [a2])
    with uow_factory() as uow:
        assert uow.registers.get_cadre(a.cadre_id) == a2
        assert uow.registers.get_cadre(b.cadre_id) == b
    with engine.connect() as conn:
        pairs = sorted(conn.execute(text("SELECT cadre_id, uscc FROM cadre_assignment")).all())
    assert [tuple(p) for p in pairs] == sorted([(a.cadre_id, U3), (b.cadre_id, U3)])

    # No assignments at all clears them.
    a3 = Cadre("C11010100001", "郭玉强", CadreLevel.CITY, "110100")
    _store(uow_factory, RegisterKind.CADRES, [a3])
    with uow_factory() as uow:
        got = uow.registers.get_cadre(a.cadre_id)
        counts = uow.registers.counts()
    assert got is not None and got.assigned_uscc == ()
    assert counts.cadres == 2
    assert counts.covered == 1  # only U3 still has an assigned official


def test_the_head_constant_matches_the_migration_scripts() -> None:
    from storage import migrate

    assert migrate.head_revision() == migrate.HEAD
