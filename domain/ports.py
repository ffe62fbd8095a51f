"""Ports: what the domain's use cases need from the outside world, as Protocols — the ones
every module may use (a transaction, the registers, problem sinks).

Each use-case module declares the slice of a unit of work it needs (``IssueUnitOfWork`` in
:mod:`domain.issues`, ``FieldworkUnitOfWork``, …) from the repositories of the modules below it;
:mod:`domain.unit_of_work` puts every repository together. Storage implements them with SQL;
unit tests implement them with in-memory fakes. This module imports nothing of the domain but
its value types, so it sits at the bottom and every module may import it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from domain.events import EventLog
from domain.regions import Region
from domain.registers import Business, Cadre, Entity, Inspector, Problem, RegisterKind


@dataclass(frozen=True, slots=True)
class StoredKey:
    """What the store knows about a register key: which import run last wrote it, from which line."""

    import_id: int | None
    line: int | None


@dataclass(frozen=True, slots=True)
class RegisterCounts:
    """Raw counts for register statistics, as the store computes them."""

    businesses: int
    active_businesses: int
    covered: int
    staffed: int
    director_named: int
    officer_named: int
    by_province: list[tuple[str, str, int, int, int]]  # code, name, businesses, covered, staffed
    by_category: list[tuple[str, int]]
    by_risk: list[tuple[str, int]]
    cadres_by_level: list[tuple[str, int]]
    inspectors: int
    active_inspectors: int
    cadres: int
    regions: int


class RegionRepository(Protocol):
    def codes(self) -> Iterable[str]: ...
    def upsert_many(self, regions: Iterable[Region]) -> int: ...
    def get(self, code: str) -> Region | None: ...


class RegisterRepository(Protocol):
    """Businesses, cadres and inspectors, written in batches."""

    def lookup(self, kind: RegisterKind, keys: list[str]) -> dict[str, StoredKey]:
        """What the store holds for these keys (missing keys are absent from the result)."""
        ...

    def existing_businesses(self, usccs: list[str]) -> set[str]:
        """The subset of ``usccs`` that is in the business register."""
        ...

    def upsert(self, kind: RegisterKind, rows: list[tuple[int, Entity]], import_id: int) -> None:
        """Insert or update each (line, entity), remembering the import run and line."""
        ...

    def counts(self) -> RegisterCounts: ...

    def get_business(self, code: str) -> Business | None: ...
    def get_cadre(self, cadre_id: str) -> Cadre | None: ...
    def get_inspector(self, inspector_id: str) -> Inspector | None: ...


@dataclass(slots=True)
class ImportRun:
    """One run of a register import, as recorded for the audit trail."""

    id: int
    kind: RegisterKind
    source: str
    sha256: str
    started_at: datetime
    finished_at: datetime | None = None
    status: str = "running"  # running | done | refused | failed
    read: int = 0
    inserted: int = 0
    updated: int = 0
    rejected: int = 0
    warnings: int = 0
    strict: bool = False


class ImportRunRepository(Protocol):
    def start(self, kind: RegisterKind, source: str, sha256: str, started_at: datetime,
              strict: bool) -> int: ...
    def finish(self, run: ImportRun) -> None: ...
    def get(self, run_id: int) -> ImportRun | None: ...


class Transaction(Protocol):
    """One transaction: rolls back on exit unless ``commit()`` was called."""

    def __enter__(self) -> Self: ...
    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...


class RegisterUnitOfWork(Transaction, Protocol):
    """What the register importers and statistics need."""

    @property
    def regions(self) -> RegionRepository: ...
    @property
    def registers(self) -> RegisterRepository: ...
    @property
    def import_runs(self) -> ImportRunRepository: ...
    @property
    def events(self) -> EventLog: ...


RegisterUowFactory = Callable[[], RegisterUnitOfWork]


class ProblemSink(Protocol):
    """Where refused rows and warnings go (a reject report on disk, a list in tests)."""

    def add(self, problem: Problem) -> None: ...
    def close(self) -> None: ...


RawRows = Iterator[tuple[int, dict[str, object]]]
