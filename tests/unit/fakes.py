"""In-memory fakes for the ports of domain/ports.py.

A ``FakeStore`` holds the committed state. Each ``FakeUnitOfWork`` works on a private copy of it:
its own writes are visible to itself at once (as in one SQL transaction), and become visible to
later units of work only when ``commit()`` publishes the copy. Leaving the ``with`` block without
``commit()`` discards the copy. Two units of work that overlap and both commit would lose an
update, so the second commit raises instead of silently winning.

Like the SQL store, ``finish()`` of an import run only records the end of the run (it never
rewrites ``started_at``), and a cadre's assignments must name businesses that exist (a foreign
key in SQL).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import TracebackType
from typing import Any, Self, cast

from domain.campaigns import CampaignRepository
from domain.events import GENESIS, Event, make_event
from domain.ports import (
    ImportRun,
    ImportRunRepository,
    RegionRepository,
    RegisterCounts,
    RegisterRepository,
    StoredKey,
)
from domain.regions import Region, RegionLevel, city_of, province_of
from domain.registers import Business, Cadre, Entity, Inspector, Problem, RegisterKind

_ENTITY_TYPE: dict[RegisterKind, type] = {
    RegisterKind.BUSINESSES: Business,
    RegisterKind.CADRES: Cadre,
    RegisterKind.INSPECTORS: Inspector,
}


def region_from_code(code: str) -> Region:
    """A region with its level and parent derived from the shape of its code."""
    if code.endswith("0000"):
        return Region(code, f"province {code}", RegionLevel.PROVINCE, None)
    if code.endswith("00"):
        return Region(code, f"city {code}", RegionLevel.CITY, province_of(code))
    return Region(code, f"county {code}", RegionLevel.COUNTY, city_of(code))


@dataclass(slots=True)
class Stored:
    """One register row as the store keeps it."""

    entity: Entity
    import_id: int | None
    line: int | None


@dataclass(slots=True)
class _State:
    regions: dict[str, Region] = field(default_factory=dict)
    registers: dict[RegisterKind, dict[str, Stored]] = field(
        default_factory=lambda: {kind: {} for kind in RegisterKind}
    )
    runs: dict[int, ImportRun] = field(default_factory=dict)
    next_run_id: int = 1
    events: list[Event] = field(default_factory=list)

    def copy(self) -> _State:
        # Entities and runs are mutable dataclasses: copy them so no unit of work can reach into
        # another one's state (or the committed state) through a shared object.
        return _State(
            regions=dict(self.regions),
            registers={
                kind: {k: Stored(replace(s.entity), s.import_id, s.line) for k, s in rows.items()}
                for kind, rows in self.registers.items()
            },
            runs={i: replace(run) for i, run in self.runs.items()},
            next_run_id=self.next_run_id,
            events=list(self.events),  # events are frozen
        )


class FakeStore:
    """The committed state, plus a few knobs and counters for tests."""

    def __init__(self, region_codes: Iterable[str] = (),
                 counts: RegisterCounts | None = None) -> None:
        self.committed = _State()
        for code in region_codes:
            self.committed.regions[code] = region_from_code(code)
        self.version = 0
        self.commits = 0
        self.canned_counts = counts
        self.upsert_calls = 0
        self.fail_upsert_on_call: int | None = None  # raise on this (1-based) upsert call

    def uow(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self)

    # What is committed, for assertions.

    def entities(self, kind: RegisterKind) -> dict[str, Entity]:
        return {k: replace(s.entity) for k, s in self.committed.registers[kind].items()}

    def stored(self, kind: RegisterKind, key: str) -> Stored | None:
        s = self.committed.registers[kind].get(key)
        return None if s is None else Stored(replace(s.entity), s.import_id, s.line)

    def registers_snapshot(self) -> dict[RegisterKind, dict[str, tuple[Entity, int | None,
                                                                      int | None]]]:
        return {
            kind: {k: (replace(s.entity), s.import_id, s.line) for k, s in rows.items()}
            for kind, rows in self.committed.registers.items()
        }

    def run(self, run_id: int) -> ImportRun | None:
        run = self.committed.runs.get(run_id)
        return None if run is None else replace(run)


class _Repo:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow

    @property
    def _state(self) -> _State:
        return self._uow.state


class FakeRegionRepository(_Repo):
    def codes(self) -> list[str]:
        return list(self._state.regions)

    def upsert_many(self, regions: Iterable[Region]) -> int:
        n = 0
        for region in regions:
            self._state.regions[region.code] = region
            n += 1
        return n

    def get(self, code: str) -> Region | None:
        return self._state.regions.get(code)


class FakeRegisterRepository(_Repo):
    def lookup(self, kind: RegisterKind, keys: list[str]) -> dict[str, StoredKey]:
        rows = self._state.registers[kind]
        return {k: StoredKey(rows[k].import_id, rows[k].line) for k in keys if k in rows}

    def existing_businesses(self, usccs: list[str]) -> set[str]:
        rows = self._state.registers[RegisterKind.BUSINESSES]
        return {u for u in usccs if u in rows}

    def upsert(self, kind: RegisterKind, rows: list[tuple[int, Entity]], import_id: int) -> None:
        store = self._uow.store
        store.upsert_calls += 1
        if store.fail_upsert_on_call == store.upsert_calls:
            raise ConnectionError("injected failure: the database went away")
        if import_id not in self._state.runs:
            raise LookupError(f"import run {import_id} does not exist")  # a foreign key in SQL
        table = self._state.registers[kind]
        businesses = self._state.registers[RegisterKind.BUSINESSES]
        for line, entity in rows:
            if not isinstance(entity, _ENTITY_TYPE[kind]):
                raise TypeError(f"{type(entity).__name__} written to the {kind} register")
            if isinstance(entity, Cadre):
                missing = [u for u in entity.assigned_uscc if u not in businesses]
                if missing:
                    raise LookupError(f"cadre {entity.cadre_id} assigned to unknown {missing}")
            table[entity.key] = Stored(replace(entity), import_id, line)

    def counts(self) -> RegisterCounts:
        if self._uow.store.canned_counts is None:
            raise NotImplementedError("give FakeStore(counts=...) to the test")
        return self._uow.store.canned_counts

    def _get(self, kind: RegisterKind, key: str) -> Entity | None:
        s = self._state.registers[kind].get(key)
        return None if s is None else replace(s.entity)

    def get_business(self, code: str) -> Business | None:
        e = self._get(RegisterKind.BUSINESSES, code)
        assert e is None or isinstance(e, Business)
        return e

    def get_cadre(self, cadre_id: str) -> Cadre | None:
        e = self._get(RegisterKind.CADRES, cadre_id)
        assert e is None or isinstance(e, Cadre)
        # SQL keeps assignments in their own table and reads them back ordered by code.
        return None if e is None else replace(e, assigned_uscc=tuple(sorted(e.assigned_uscc)))

    def get_inspector(self, inspector_id: str) -> Inspector | None:
        e = self._get(RegisterKind.INSPECTORS, inspector_id)
        assert e is None or isinstance(e, Inspector)
        return e


class FakeImportRunRepository(_Repo):
    def start(self, kind: RegisterKind, source: str, sha256: str, started_at: datetime,
              strict: bool) -> int:
        run_id = self._state.next_run_id
        self._state.next_run_id += 1
        self._state.runs[run_id] = ImportRun(run_id, kind, source, sha256, started_at,
                                             strict=strict)
        return run_id

    def finish(self, run: ImportRun) -> None:
        stored = self._state.runs.get(run.id)
        if stored is None:
            return
        self._state.runs[run.id] = replace(
            stored, finished_at=run.finished_at, status=run.status, read=run.read,
            inserted=run.inserted, updated=run.updated, rejected=run.rejected,
            warnings=run.warnings,
        )

    def get(self, run_id: int) -> ImportRun | None:
        run = self._state.runs.get(run_id)
        return None if run is None else replace(run)


class FakeEventLog(_Repo):
    """The hash-chained event log, in memory (same hashing as the real one)."""

    def append(self, *, at: datetime, actor: str, kind: str, entity: str,
               payload: dict[str, Any]) -> Event:
        events = self._uow.state.events
        prev = events[-1].hash if events else GENESIS
        event = make_event(len(events) + 1, prev, at, actor, kind, entity, payload)
        events.append(event)
        return event

    def append_many(self, items: list[tuple[datetime, str, str, str, dict[str, Any]]]) -> list[Event]:
        return [self.append(at=at, actor=actor, kind=kind, entity=entity, payload=payload)
                for at, actor, kind, entity, payload in items]

    def all(self) -> list[Event]:
        return list(self._uow.state.events)

    def for_entity(self, entity: str) -> list[Event]:
        return [e for e in self._uow.state.events if e.entity == entity]


class _NoCampaigns:
    """Stands in for the campaign repository, which these fakes do not cover."""

    def __getattr__(self, name: str) -> Any:
        raise NotImplementedError(f"campaigns.{name}: the unit-test fakes cover registers only")


class FakeUnitOfWork:
    """One transaction on a ``FakeStore``; see the module docstring."""

    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self._state: _State | None = None
        self._base_version = -1
        self.committed = False
        self.regions: RegionRepository = FakeRegionRepository(self)
        self.registers: RegisterRepository = FakeRegisterRepository(self)
        self.import_runs: ImportRunRepository = FakeImportRunRepository(self)
        self.campaigns: CampaignRepository = cast(CampaignRepository, _NoCampaigns())
        self.events = FakeEventLog(self)

    @property
    def state(self) -> _State:
        if self._state is None:
            raise RuntimeError("unit of work used outside its with block")
        return self._state

    def __enter__(self) -> Self:
        if self._state is not None:
            raise RuntimeError("unit of work entered twice")
        self._begin()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._state = None  # uncommitted changes are dropped

    def _begin(self) -> None:
        self._state = self.store.committed.copy()
        self._base_version = self.store.version

    def commit(self) -> None:
        state = self.state
        if self.store.version != self._base_version:
            raise RuntimeError("another unit of work committed in between (lost update)")
        self.store.committed = state.copy()
        self.store.version += 1
        self.store.commits += 1
        self._base_version = self.store.version
        self.committed = True

    def rollback(self) -> None:
        self.state  # noqa: B018 - raises outside the with block
        self._begin()


class FakeProblemSink:
    """Collects problems in a list; refuses problems after ``close()``."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.closed = False

    def add(self, problem: Problem) -> None:
        if self.closed:
            raise AssertionError(f"problem added after close: {problem}")
        self.problems.append(problem)

    def close(self) -> None:
        self.closed = True

    def at(self, line: int) -> list[Problem]:
        return [p for p in self.problems if p.line == line]
