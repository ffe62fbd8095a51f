"""The fakes keep the promises of the ports they stand in for, so other tests mean something."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.ports import StoredKey
from domain.registers import Business, Cadre, CadreLevel, Category, RegisterKind, RiskLevel
from tests.unit.fakes import FakeProblemSink, FakeStore

T0 = datetime(2024, 1, 1, tzinfo=UTC)
SHOP = Business("91440300708461136T", "某店", "440305", Category.CATERING, RiskLevel.A)


def started(store: FakeStore) -> int:
    with store.uow() as uow:
        run_id = uow.import_runs.start(RegisterKind.BUSINESSES, "f.csv", "0" * 64, T0, False)
        uow.commit()
    return run_id


def test_writes_are_seen_by_their_own_unit_of_work_and_by_others_only_after_commit() -> None:
    store = FakeStore(["440000", "440300", "440305"])
    run_id = started(store)
    with store.uow() as uow:
        uow.registers.upsert(RegisterKind.BUSINESSES, [(2, SHOP)], run_id)
        assert uow.registers.lookup(RegisterKind.BUSINESSES, [SHOP.uscc]) == {
            SHOP.uscc: StoredKey(run_id, 2)}
        with store.uow() as other:
            assert other.registers.get_business(SHOP.uscc) is None
        uow.commit()
    with store.uow() as uow:
        assert uow.registers.get_business(SHOP.uscc) == SHOP
        assert uow.registers.existing_businesses([SHOP.uscc, "X"]) == {SHOP.uscc}


def test_leaving_without_commit_or_rolling_back_discards_changes() -> None:
    store = FakeStore()
    run_id = started(store)
    with store.uow() as uow:
        uow.registers.upsert(RegisterKind.BUSINESSES, [(2, SHOP)], run_id)
    assert store.entities(RegisterKind.BUSINESSES) == {}
    with store.uow() as uow:
        uow.registers.upsert(RegisterKind.BUSINESSES, [(2, SHOP)], run_id)
        uow.rollback()
        assert uow.registers.get_business(SHOP.uscc) is None
        uow.commit()
    assert store.entities(RegisterKind.BUSINESSES) == {}


def test_a_unit_of_work_is_unusable_outside_its_block() -> None:
    store = FakeStore()
    uow = store.uow()
    with uow:
        pass
    with pytest.raises(RuntimeError):
        uow.registers.get_business(SHOP.uscc)


def test_overlapping_commits_are_refused() -> None:
    store = FakeStore()
    with store.uow() as first, store.uow() as second:
        first.commit()
        with pytest.raises(RuntimeError, match="lost update"):
            second.commit()


def test_stored_entities_are_copies() -> None:
    store = FakeStore()
    run_id = started(store)
    shop = Business(SHOP.uscc, "某店", "440305", Category.CATERING, RiskLevel.A)
    with store.uow() as uow:
        uow.registers.upsert(RegisterKind.BUSINESSES, [(2, shop)], run_id)
        uow.commit()
    shop.name = "changed afterwards"
    assert store.entities(RegisterKind.BUSINESSES)[SHOP.uscc].name == "某店"


def test_cadre_assignments_need_existing_businesses_like_the_sql_foreign_key() -> None:
    store = FakeStore()
    run_id = started(store)
    cadre = Cadre("C1", "王", CadreLevel.VILLAGE, "440305", assigned_uscc=(SHOP.uscc,))
    with store.uow() as uow, pytest.raises(LookupError):
        uow.registers.upsert(RegisterKind.CADRES, [(2, cadre)], run_id)


def test_finish_records_the_end_of_a_run_but_not_its_start() -> None:
    store = FakeStore()
    run_id = started(store)
    with store.uow() as uow:
        run = uow.import_runs.get(run_id)
        assert run is not None
        run.started_at = datetime(2030, 1, 1, tzinfo=UTC)
        run.finished_at, run.status, run.read, run.inserted = T0, "done", 3, 3
        uow.import_runs.finish(run)
        uow.commit()
    stored = store.run(run_id)
    assert stored is not None
    assert (stored.started_at, stored.finished_at, stored.status, stored.read) == (
        T0, T0, "done", 3)


def test_problem_sink_refuses_problems_after_close() -> None:
    sink = FakeProblemSink()
    sink.close()
    with pytest.raises(AssertionError):
        sink.add(None)  # type: ignore[arg-type]
