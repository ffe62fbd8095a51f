"""Ports: what the domain's use cases need from the outside world, as Protocols.

Storage implements them with SQL; unit tests implement them with in-memory fakes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self

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


class CampaignRepository(Protocol):
    """Campaigns, their frozen frames, draw records, teams and visits."""

    def add(self, plan: Plan, *, seed: str, seed_auto: bool, source: str,
            created_at: datetime) -> int: ...
    def get(self, campaign_id: int) -> Campaign | None: ...
    def all_counts(self) -> list[CampaignCounts]: ...
    def counts(self, campaign_id: int) -> CampaignCounts | None: ...
    def frame_businesses(self, *, provinces: list[str], categories: list[str],
                         risk_levels: list[str], excluded_since: date | None, until: date,
                         campaign_id: int) -> list[FrameBusiness]: ...
    def frame_inspectors(self) -> list[FrameInspector]: ...
    def get_frame(self, campaign_id: int) -> FrozenFrame | None: ...
    def save_frame_if_absent(self, campaign_id: int, frame: FrozenFrame, *,
                             frozen_at: datetime) -> FrozenFrame: ...
    def get_record(self, campaign_id: int) -> dict[str, Any] | None: ...
    def save_record_if_absent(self, campaign_id: int, record: dict[str, Any], *, total: int,
                              at: datetime) -> dict[str, Any]: ...
    def replace_record(self, campaign_id: int, record: dict[str, Any], *, total: int,
                       at: datetime, expected_total: int) -> None: ...
    def add_team_members(self, campaign_id: int, rows: list[tuple[str, int, int]]) -> int: ...
    def add_visits(self, campaign_id: int, rows: list[tuple[str, int, str]]) -> int: ...
    def mark_launched(self, campaign_id: int, at: datetime) -> bool: ...
    def set_status(self, campaign_id: int, status: str) -> None: ...


class UnitOfWork(Protocol):
    """One transaction: rolls back on exit unless ``commit()`` was called."""

    regions: RegionRepository
    registers: RegisterRepository
    import_runs: ImportRunRepository
    campaigns: CampaignRepository
    fieldwork: FieldworkRepository
    events: EventLog
    notices: NoticeRepository
    followups: FollowUpRepository
    supervision: SupervisionRepository
    users: UserRepository

    def __enter__(self) -> Self: ...
    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...


UnitOfWorkFactory = Callable[[], UnitOfWork]


class ProblemSink(Protocol):
    """Where refused rows and warnings go (a reject report on disk, a list in tests)."""

    def add(self, problem: Problem) -> None: ...
    def close(self) -> None: ...


if TYPE_CHECKING:  # the campaign module imports this one
    from domain.access import UserRepository
    from domain.campaigns import Campaign, CampaignCounts, FrozenFrame
    from domain.fieldwork import EventLog, FieldworkRepository
    from domain.followups import FollowUpRepository
    from domain.notices import NoticeRepository
    from domain.plan import Plan
    from domain.sampling import FrameBusiness, FrameInspector
    from domain.supervision import SupervisionRepository

RawRows = Iterator[tuple[int, dict[str, object]]]
