"""Register import: every row read is either stored or reported back with its line and reason.

The accounting invariant is ``read = inserted + updated + rejected``. Rows are written in batches,
one transaction per batch, so a crash leaves only whole batches; a rerun of the same file then
updates what the crashed run stored and inserts the rest, ending in the same state as one
uninterrupted run. With ``strict`` the whole file is one transaction, committed only if no row was
refused.

Duplicates inside one file are found without holding every key in memory: each stored row
remembers the import run and line that last wrote it, so a key already written by *this* run is a
duplicate of that line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from domain.clock import Clock
from domain.ports import ImportRun, ProblemSink
from domain.ports import RegisterUnitOfWork as UnitOfWork
from domain.ports import RegisterUowFactory as UnitOfWorkFactory
from domain.regions import RegionIndex
from domain.registers import (
    Cadre,
    Entity,
    Problem,
    RegisterKind,
    key_of,
    quick_validate,
    validate_row,
)

DEFAULT_BATCH_ROWS = 2000


@dataclass(slots=True)
class ImportSummary:
    """What an import did: the counts, the run id and the first problems for display."""

    run_id: int
    kind: RegisterKind
    read: int = 0
    inserted: int = 0
    updated: int = 0
    rejected: int = 0
    warnings: int = 0
    strict: bool = False
    stored: bool = True  # False when --strict refused the whole file
    invalid: int = 0  # rows refused for their own problems (with --strict, rejected counts all rows)
    first_problems: list[Problem] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        return self.read == self.inserted + self.updated + self.rejected


_SHOWN_PROBLEMS = 20


class _Batch:
    """Validated rows waiting to be written, plus the accounting of the whole import."""

    def __init__(self, summary: ImportSummary, sink: ProblemSink) -> None:
        self.summary = summary
        self.sink = sink
        self.rows: list[tuple[int, Entity]] = []

    def report(self, problems: Iterable[Problem]) -> None:
        for p in problems:
            self.sink.add(p)
            if p.warning:
                self.summary.warnings += 1
            if len(self.summary.first_problems) < _SHOWN_PROBLEMS:
                self.summary.first_problems.append(p)


def _duplicate(line: int, column: str, key: str, first_line: int) -> Problem:
    return Problem(line, column, key, f"duplicate of line {first_line} in this file",
                   f"与本文件第{first_line}行重复")


def _write_batch(uow: UnitOfWork, kind: RegisterKind, batch: _Batch, run_id: int) -> None:
    """Classify the batch (insert, update, duplicate, unknown business) and write it."""
    summary = batch.summary
    key_column = {RegisterKind.BUSINESSES: "uscc (统一社会信用代码)",
                  RegisterKind.CADRES: "cadre_id (干部编号)",
                  RegisterKind.INSPECTORS: "inspector_id (执法证号)"}[kind]
    known: set[str] = set()
    if kind is RegisterKind.CADRES:
        wanted = sorted({c for _, e in batch.rows if isinstance(e, Cadre) for c in e.assigned_uscc})
        known = uow.registers.existing_businesses(wanted) if wanted else set()
    stored = uow.registers.lookup(kind, list({key_of(e) for _, e in batch.rows}))
    first_line: dict[str, int] = {}
    to_write: list[tuple[int, Entity]] = []
    inserted = updated = 0
    for line, entity in batch.rows:
        key = key_of(entity)
        if isinstance(entity, Cadre):
            # Refused before it claims its key: a refused row never makes a later one a duplicate.
            missing = [c for c in entity.assigned_uscc if c not in known]
            if missing:
                summary.rejected += 1
                shown = ";".join(missing[:5]) + (" …" if len(missing) > 5 else "")
                batch.report([Problem(
                    line, "assigned_uscc (包保主体)", shown,
                    f"{len(missing)} assigned business(es) not in the business register; import "
                    "the businesses first",
                    f"{len(missing)}个包保主体不在主体名录中；请先导入主体名录")])
                continue
        prior = stored.get(key)
        if prior is None:
            if key in first_line:
                summary.rejected += 1
                batch.report([_duplicate(line, key_column, key, first_line[key])])
                continue
            inserted += 1  # the common case of a first import, kept cheap
        elif prior.import_id == run_id:  # written by an earlier batch of this very file
            summary.rejected += 1
            batch.report([_duplicate(line, key_column, key, prior.line or 0)])
            continue
        elif key in first_line:
            summary.rejected += 1
            batch.report([_duplicate(line, key_column, key, first_line[key])])
            continue
        else:
            updated += 1
        first_line[key] = line
        to_write.append((line, entity))
    summary.updated += updated
    summary.inserted += inserted
    if to_write:
        uow.registers.upsert(kind, to_write, run_id)
    batch.rows = []


def import_register(
    kind: RegisterKind,
    rows: Iterable[tuple[int, dict[str, object]]],
    *,
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    sink: ProblemSink,
    source: str,
    sha256: str,
    strict: bool = False,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    on_batch: Callable[[ImportSummary], None] | None = None,
    actor: str = "system",
    territory: str = "",
) -> ImportSummary:
    """Import one register file's raw rows; see the module docstring for the guarantees.
    With ``territory`` (an office's territory prefix), a business or cadre row whose region
    lies outside it is refused, naming the row and its region code."""
    if batch_rows < 1:
        raise ValueError("batch_rows must be at least 1")
    with uow_factory() as uow:
        regions = RegionIndex(uow.regions.codes())
        run_id = uow.import_runs.start(kind, source, sha256, clock.now(), strict)
        uow.commit()
    summary = ImportSummary(run_id=run_id, kind=kind, strict=strict)
    batch = _Batch(summary, sink)
    status = "failed"
    try:
        if strict:
            with uow_factory() as uow:
                for line, raw in rows:
                    _take_row(kind, line, raw, regions, batch, territory)
                    if len(batch.rows) >= batch_rows:
                        _write_batch(uow, kind, batch, run_id)
                        if on_batch:
                            on_batch(summary)
                if batch.rows:
                    _write_batch(uow, kind, batch, run_id)
                summary.invalid = summary.rejected
                if summary.rejected == 0:
                    uow.commit()
                else:
                    summary.stored = False
                    summary.inserted = summary.updated = 0
                    summary.rejected = summary.read
        else:
            for line, raw in rows:
                _take_row(kind, line, raw, regions, batch, territory)
                if len(batch.rows) >= batch_rows:
                    _flush(uow_factory, kind, batch, run_id)
                    if on_batch:
                        on_batch(summary)
            if batch.rows:
                _flush(uow_factory, kind, batch, run_id)
            summary.invalid = summary.rejected
        if on_batch:
            on_batch(summary)
        status = "done" if summary.stored else "refused"
    finally:
        sink.close()
        try:
            _finish(uow_factory, clock, summary, status, source, sha256, actor, territory)
        except Exception:
            if status != "failed":
                raise
            # Already failing: keep the original error rather than the bookkeeping one.
    return summary


def _take_row(kind: RegisterKind, line: int, raw: dict[str, object], regions: RegionIndex,
              batch: _Batch, territory: str = "") -> None:
    batch.summary.read += 1
    entity = quick_validate(kind, raw, regions)
    if entity is None:
        result = validate_row(kind, line, raw, regions)
        if result.problems:
            batch.report(result.problems)
        entity = result.entity
        if entity is None:
            batch.summary.rejected += 1
            return
    region = getattr(entity, "region_code", None)
    if territory and region is not None and not region.startswith(territory):
        batch.report([Problem(line, "region_code", region,
                              f"{region} lies outside the importing office's territory "
                              f"({territory}…)",
                              f"{region}不在导入单位的辖区（{territory}…）之内")])
        batch.summary.rejected += 1
        return
    batch.rows.append((line, entity))


def _flush(uow_factory: UnitOfWorkFactory, kind: RegisterKind, batch: _Batch, run_id: int) -> None:
    counts = (batch.summary.inserted, batch.summary.updated, batch.summary.rejected)
    rows = list(batch.rows)
    try:
        with uow_factory() as uow:
            _write_batch(uow, kind, batch, run_id)
            uow.commit()
    except BaseException:
        # The batch's transaction rolled back: undo its accounting so the counts stay true.
        batch.summary.inserted, batch.summary.updated, batch.summary.rejected = counts
        batch.rows = rows
        raise


def _finish(uow_factory: UnitOfWorkFactory, clock: Clock, summary: ImportSummary, status: str,
            source: str, sha256: str, actor: str, territory: str) -> None:
    with uow_factory() as uow:
        run = ImportRun(
            id=summary.run_id, kind=summary.kind, source=source, sha256=sha256,
            started_at=clock.now(), finished_at=clock.now(), status=status, read=summary.read,
            inserted=summary.inserted, updated=summary.updated, rejected=summary.rejected,
            warnings=summary.warnings, strict=summary.strict,
        )
        uow.import_runs.finish(run)
        uow.events.append(at=clock.now(), actor=actor, kind="registry.imported",
                          entity=f"import:{summary.run_id}",
                          payload={"kind": summary.kind.value, "source": source, "sha256": sha256,
                                   "status": status, "read": summary.read,
                                   "inserted": summary.inserted, "updated": summary.updated,
                                   "rejected": summary.rejected, "strict": summary.strict,
                                   "warnings": summary.warnings, "territory": territory})
        uow.commit()


@dataclass(frozen=True, slots=True)
class ImportRecord:
    """A finished import as its ``registry.imported`` event tells it: for the office's list of
    recent imports. ``territory`` is the importing office's ("" for the whole country, and for
    imports recorded before the event named it)."""

    id: int
    at: datetime
    actor: str
    kind: str
    source: str
    status: str
    read: int
    inserted: int
    updated: int
    rejected: int
    warnings: int
    territory: str


class ImportLog(Protocol):
    """The recent imports of a territory (those of its own and lower offices), newest first."""

    def recent(self, territory: str, *, limit: int, offset: int) -> list[ImportRecord]: ...
    def count(self, territory: str) -> int: ...
    def get(self, import_id: int) -> ImportRecord | None: ...
