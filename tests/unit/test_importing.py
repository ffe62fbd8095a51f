"""Register import on in-memory fakes: accounting, duplicates, strict mode, failures."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import uscc
from domain.clock import FixedClock
from domain.importing import ImportSummary, import_register
from domain.registers import (
    Business,
    Cadre,
    CadreLevel,
    Category,
    Inspector,
    RegisterKind,
    RiskLevel,
)
from tests.unit.fakes import FakeProblemSink, FakeStore

B, C, N = RegisterKind.BUSINESSES, RegisterKind.CADRES, RegisterKind.INSPECTORS
CODES = ("110000", "110100", "110101", "440000", "440300", "440305")
T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)

Rows = list[tuple[int, dict[str, object]]]


def code(n: int) -> str:
    """The n-th valid USCC of a Shenzhen series."""
    body = f"91440300{n:09d}"
    return body + uscc.check_char(body)


def business(n: int, **changes: object) -> dict[str, object]:
    row: dict[str, object] = {"uscc": code(n), "name": f"商户{n}", "region_code": "440305",
                              "category": "餐饮", "risk_level": "B"}
    row.update(changes)
    return row


def cadre(cid: str, *assigned: str, **changes: object) -> dict[str, object]:
    row: dict[str, object] = {"cadre_id": cid, "name": f"干部{cid}", "level": "乡镇",
                              "region_code": "440305", "assigned_uscc": ";".join(assigned)}
    row.update(changes)
    return row


def inspector(iid: str, **changes: object) -> dict[str, object]:
    row: dict[str, object] = {"inspector_id": iid, "name": f"督查{iid}", "home_region": "110101"}
    row.update(changes)
    return row


def numbered(*raws: dict[str, object]) -> Rows:
    """Rows numbered as in a file whose line 1 is the header."""
    return [(line, raw) for line, raw in enumerate(raws, start=2)]


class Importer:
    """One store, a clock and the sink of the last import."""

    def __init__(self) -> None:
        self.store = FakeStore(CODES)
        self.clock = FixedClock(T0)
        self.sink = FakeProblemSink()

    def __call__(self, kind: RegisterKind, rows: Rows | Iterator[tuple[int, dict[str, object]]],
                 **kwargs: object) -> ImportSummary:
        self.sink = FakeProblemSink()
        kwargs.setdefault("source", f"{kind}.csv")
        kwargs.setdefault("sha256", "0" * 64)
        return import_register(kind, rows, uow_factory=self.store.uow, clock=self.clock,
                               sink=self.sink, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def imp() -> Importer:
    return Importer()


def assert_balanced(summary: ImportSummary) -> None:
    assert summary.read == summary.inserted + summary.updated + summary.rejected
    assert summary.balanced


# --- accounting --------------------------------------------------------------------------------


def test_mixed_file_accounting(imp: Importer) -> None:
    imp(B, numbered(business(1), business(2)))
    summary = imp(B, numbered(
        business(3),                     # 2 inserted
        business(1, name="新名称"),       # 3 updated
        business(4, risk_level="E"),     # 4 refused
        business(5, region_code="440399"),  # 5 inserted with a warning
        business(3),                     # 6 duplicate of line 2
        business(6, uscc="123"),         # 7 refused
        business(7),                     # 8 inserted
    ), batch_rows=3)

    assert (summary.read, summary.inserted, summary.updated, summary.rejected) == (7, 3, 1, 3)
    assert summary.warnings == 1
    assert summary.invalid == 3
    assert summary.stored
    assert_balanced(summary)
    assert sorted({p.line for p in imp.sink.problems}) == [4, 5, 6, 7]
    assert [p.warning for p in imp.sink.at(5)] == [True]
    assert imp.sink.closed

    stored = imp.store.entities(B)
    assert sorted(stored) == sorted(code(n) for n in (1, 2, 3, 5, 7))
    assert stored[code(1)].name == "新名称"
    assert stored[code(5)].region_code == "440399"  # type: ignore[union-attr]

    run = imp.store.run(summary.run_id)
    assert run is not None
    assert run.status == "done"
    assert (run.read, run.inserted, run.updated, run.rejected, run.warnings) == (7, 3, 1, 3, 1)


def test_the_import_run_is_recorded(imp: Importer) -> None:
    first = imp(B, numbered(business(1)))
    imp.clock.advance_to(datetime(2024, 3, 2, tzinfo=UTC))
    second = imp(N, numbered(inspector("X1")), source="people.xlsx", sha256="ab" * 32)

    assert second.run_id != first.run_id
    run = imp.store.run(second.run_id)
    assert run is not None
    assert (run.kind, run.source, run.sha256, run.strict) == (N, "people.xlsx", "ab" * 32, False)
    assert run.started_at == run.finished_at == datetime(2024, 3, 2, tzinfo=UTC)
    assert (run.status, run.read, run.inserted) == ("done", 1, 1)
    stored = imp.store.stored(N, "X1")
    assert stored is not None
    assert (stored.import_id, stored.line) == (second.run_id, 2)


def test_an_empty_file_is_a_done_run_with_nothing_read(imp: Importer) -> None:
    summary = imp(B, [])
    assert (summary.read, summary.inserted, summary.updated, summary.rejected) == (0, 0, 0, 0)
    run = imp.store.run(summary.run_id)
    assert run is not None
    assert run.status == "done"


def test_batch_rows_must_be_positive(imp: Importer) -> None:
    with pytest.raises(ValueError, match="batch_rows"):
        imp(B, numbered(business(1)), batch_rows=0)


def test_on_batch_sees_the_running_counts(imp: Importer) -> None:
    seen: list[int] = []
    summary = imp(B, numbered(*(business(n) for n in range(5))), batch_rows=2,
                  on_batch=lambda s: seen.append(s.inserted))
    assert seen == [2, 4, 5]
    assert summary.inserted == 5


# --- duplicates --------------------------------------------------------------------------------


def keyed(kind: RegisterKind, n: int, name: str) -> dict[str, object]:
    return business(n, name=name) if kind is B else inspector(f"P{n}", name=name)


@pytest.mark.parametrize("kind", [B, N])
def test_duplicates_within_and_across_batches_name_the_first_line(
    imp: Importer, kind: RegisterKind
) -> None:
    summary = imp(kind, numbered(
        keyed(kind, 1, "first"),   # 2
        keyed(kind, 1, "second"),  # 3 same batch as line 2
        keyed(kind, 2, "x"),       # 4
        keyed(kind, 3, "x"),       # 5
        keyed(kind, 1, "third"),   # 6 a later batch
        keyed(kind, 4, "x"),       # 7
    ), batch_rows=2)

    assert (summary.read, summary.inserted, summary.updated, summary.rejected) == (6, 4, 0, 2)
    assert_balanced(summary)
    assert [(p.line, p.en) for p in imp.sink.problems] == [
        (3, "duplicate of line 2 in this file"),
        (6, "duplicate of line 2 in this file"),
    ]
    assert all("第2行" in p.zh for p in imp.sink.problems)
    key = "P1" if kind is N else code(1)
    assert {p.value for p in imp.sink.problems} == {key}
    stored = imp.store.stored(kind, key)
    assert stored is not None
    assert stored.line == 2
    assert stored.entity.name == "first"


def test_a_refused_row_does_not_make_its_key_a_duplicate(imp: Importer) -> None:
    summary = imp(B, numbered(business(1, risk_level="E"), business(1)), batch_rows=1)
    assert (summary.inserted, summary.rejected) == (1, 1)
    assert [p.line for p in imp.sink.problems] == [2]
    stored = imp.store.stored(B, code(1))
    assert stored is not None
    assert stored.line == 3


def test_reimporting_the_same_rows_updates_them_and_changes_nothing_else(imp: Importer) -> None:
    rows = numbered(*(business(n, address=f"地址{n}") for n in range(5)))
    first = imp(B, rows, batch_rows=2)
    before = imp.store.entities(B)

    again = imp(B, rows, batch_rows=2)

    assert (first.inserted, first.updated) == (5, 0)
    assert (again.read, again.inserted, again.updated, again.rejected) == (5, 0, 5, 0)
    assert imp.sink.problems == []
    assert imp.store.entities(B) == before
    for n in range(5):
        stored = imp.store.stored(B, code(n))
        assert stored is not None
        assert (stored.import_id, stored.line) == (again.run_id, n + 2)


@given(
    st.lists(st.tuples(st.integers(0, 4), st.booleans()), max_size=14),
    st.integers(1, 4),
)
@settings(max_examples=60, deadline=None)
def test_the_first_good_row_of_each_key_wins(
    picks: list[tuple[int, bool]], batch_rows: int
) -> None:
    imp = Importer()
    raws = [business(n, name=f"line {i + 2}", risk_level="B" if good else "E")
            for i, (n, good) in enumerate(picks)]
    summary = imp(B, numbered(*raws), batch_rows=batch_rows)

    first_good: dict[str, int] = {}
    for i, (n, good) in enumerate(picks):
        if good:
            first_good.setdefault(code(n), i + 2)
    assert summary.read == len(picks)
    assert summary.inserted == len(first_good)
    assert summary.rejected == len(picks) - len(first_good)
    assert summary.updated == 0
    stored = {k: (s.line, s.entity.name) for k in first_good
              if (s := imp.store.stored(B, k)) is not None}
    assert stored == {k: (line, f"line {line}") for k, line in first_good.items()}
    assert set(imp.store.entities(B)) == set(first_good)


# --- strict ------------------------------------------------------------------------------------


def test_strict_with_one_bad_row_stores_nothing(imp: Importer) -> None:
    imp(B, numbered(business(1), business(2)))
    before = imp.store.registers_snapshot()

    summary = imp(B, numbered(business(1, name="改"), business(3), business(4), business(5),
                              business(6, category="bakery"), business(7)),
                  strict=True, batch_rows=2)

    assert not summary.stored
    assert (summary.read, summary.inserted, summary.updated, summary.rejected) == (6, 0, 0, 6)
    assert summary.invalid == 1
    assert_balanced(summary)
    assert imp.store.registers_snapshot() == before
    assert [p.line for p in imp.sink.problems] == [6]
    run = imp.store.run(summary.run_id)
    assert run is not None
    assert (run.status, run.strict, run.rejected, run.inserted) == ("refused", True, 6, 0)


def test_strict_with_a_duplicate_across_batches_stores_nothing(imp: Importer) -> None:
    summary = imp(B, numbered(business(1), business(2), business(1)), strict=True, batch_rows=2)
    assert not summary.stored
    assert [(p.line, p.en) for p in imp.sink.problems] == [(4, "duplicate of line 2 in this file")]
    assert imp.store.entities(B) == {}


def test_strict_with_all_good_rows_stores_all(imp: Importer) -> None:
    imp(B, numbered(business(1)))
    summary = imp(B, numbered(*(business(n) for n in range(1, 6))), strict=True, batch_rows=2)

    assert summary.stored
    assert (summary.read, summary.inserted, summary.updated, summary.rejected) == (5, 4, 1, 0)
    assert sorted(imp.store.entities(B)) == sorted(code(n) for n in range(1, 6))
    run = imp.store.run(summary.run_id)
    assert run is not None
    assert (run.status, run.inserted, run.updated) == ("done", 4, 1)


def test_strict_keeps_warnings_and_stores(imp: Importer) -> None:
    summary = imp(B, numbered(business(1, region_code="440399")), strict=True)
    assert summary.stored
    assert summary.warnings == 1
    assert code(1) in imp.store.entities(B)


# --- cadres ------------------------------------------------------------------------------------


def test_cadres_assigned_to_unknown_businesses_are_refused(imp: Importer) -> None:
    imp(B, numbered(business(1), business(2)))
    summary = imp(C, numbered(
        cadre("c1", code(1), code(2)),
        cadre("c2", code(1), code(9), code(8)),
        cadre("c3"),
    ))

    assert (summary.read, summary.inserted, summary.rejected) == (3, 2, 1)
    [problem] = imp.sink.problems
    assert problem.line == 3
    assert problem.column == "assigned_uscc (包保主体)"
    assert problem.value == f"{code(9)};{code(8)}"
    assert "2 assigned business(es) not in the business register" in problem.en
    assert sorted(imp.store.entities(C)) == ["C1", "C3"]
    with imp.store.uow() as uow:
        c1 = uow.registers.get_cadre("C1")
    assert c1 == Cadre("C1", "干部c1", CadreLevel.TOWNSHIP, "440305",
                       assigned_uscc=tuple(sorted((code(1), code(2)))))


@pytest.mark.parametrize("batch_rows", [1, 2])
def test_a_cadre_refused_for_unknown_businesses_does_not_make_its_id_a_duplicate(
    imp: Importer, batch_rows: int
) -> None:
    # Line 2 is refused (its business is not registered); line 3 for the same cadre is fine. As
    # with a row refused by validation (see test_a_refused_row_does_not_make_its_key_a_duplicate),
    # line 3 must be stored, and the outcome must not depend on where batches happen to end.
    imp(B, numbered(business(1)))
    summary = imp(C, numbered(cadre("c1", code(9)), cadre("c1", code(1))),
                  batch_rows=batch_rows)

    assert [p.line for p in imp.sink.problems] == [2]
    assert (summary.inserted, summary.rejected) == (1, 1)
    stored = imp.store.stored(C, "C1")
    assert stored is not None
    assert stored.line == 3
    assert stored.entity == Cadre("C1", "干部c1", CadreLevel.TOWNSHIP, "440305",
                                  assigned_uscc=(code(1),))


def test_reimported_cadre_with_an_unknown_business_keeps_the_stored_row(imp: Importer) -> None:
    imp(B, numbered(business(1)))
    imp(C, numbered(cadre("c1", code(1))))
    summary = imp(C, numbered(cadre("c1", code(1), code(5), name="新")))
    assert (summary.updated, summary.rejected) == (0, 1)
    stored = imp.store.entities(C)["C1"]
    assert isinstance(stored, Cadre)
    assert (stored.name, stored.assigned_uscc) == ("干部c1", (code(1),))


def test_cadres_are_inserted_then_updated(imp: Importer) -> None:
    imp(B, numbered(business(1)))
    first = imp(C, numbered(cadre("c1", code(1)), cadre("c2")))
    again = imp(C, numbered(cadre("c1"), cadre("c2", code(1))))
    assert (first.inserted, first.updated) == (2, 0)
    assert (again.inserted, again.updated) == (0, 2)
    stored = imp.store.entities(C)
    assert stored == {
        "C1": Cadre("C1", "干部c1", CadreLevel.TOWNSHIP, "440305"),
        "C2": Cadre("C2", "干部c2", CadreLevel.TOWNSHIP, "440305", assigned_uscc=(code(1),)),
    }


# --- failures ----------------------------------------------------------------------------------


def rows_then_failure(rows: Rows, after: int) -> Iterator[tuple[int, dict[str, object]]]:
    for i, row in enumerate(rows):
        if i == after:
            raise OSError("the file went away")
        yield row


def test_a_reader_failure_leaves_only_whole_committed_batches(imp: Importer) -> None:
    rows = numbered(*(business(n) for n in range(10)))
    with pytest.raises(OSError, match="went away"):
        imp(B, rows_then_failure(rows, after=5), batch_rows=2)

    assert sorted(imp.store.entities(B)) == sorted(code(n) for n in range(4))
    assert imp.sink.closed
    [run] = imp.store.committed.runs.values()
    assert run.status == "failed"
    assert (run.read, run.inserted, run.rejected) == (5, 4, 0)
    assert run.finished_at == T0


def test_a_reader_failure_in_strict_mode_stores_nothing(imp: Importer) -> None:
    rows = numbered(*(business(n) for n in range(10)))
    with pytest.raises(OSError):
        imp(B, rows_then_failure(rows, after=5), batch_rows=2, strict=True)
    assert imp.store.entities(B) == {}
    [run] = imp.store.committed.runs.values()
    assert run.status == "failed"


def test_a_store_failure_keeps_the_counts_of_committed_batches_only(imp: Importer) -> None:
    imp.store.fail_upsert_on_call = 2
    rows = numbered(*(business(n) for n in range(6)))
    with pytest.raises(ConnectionError):
        imp(B, rows, batch_rows=2)

    assert sorted(imp.store.entities(B)) == sorted(code(n) for n in range(2))
    [run] = imp.store.committed.runs.values()
    assert run.status == "failed"
    assert (run.read, run.inserted, run.updated, run.rejected) == (4, 2, 0, 0)


def test_a_rerun_after_a_failure_ends_like_one_clean_run(imp: Importer) -> None:
    rows = numbered(*(business(n) for n in range(7)))
    with pytest.raises(OSError):
        imp(B, rows_then_failure(rows, after=5), batch_rows=2)

    summary = imp(B, rows, batch_rows=2)
    assert (summary.inserted, summary.updated, summary.rejected) == (3, 4, 0)

    clean = Importer()
    clean(B, rows, batch_rows=2)
    assert imp.store.entities(B) == clean.store.entities(B)


def test_stored_entities_are_those_validated(imp: Importer) -> None:
    imp(B, numbered(business(1, name=" 某店 ", category="学校食堂", risk_level="d",
                             uscc=code(1).lower())))
    assert imp.store.entities(B) == {
        code(1): Business(code(1), "某店", "440305", Category.SCHOOL_CANTEEN, RiskLevel.D)
    }
    imp(N, numbered(inspector("p-1", active="否")))
    assert imp.store.entities(N) == {
        "P-1": replace(Inspector("P-1", "督查p-1", "110101"), active=False)
    }
