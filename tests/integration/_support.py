"""Helpers shared by the integration tests: fresh databases, imports of real files, and table
snapshots that leave out the import bookkeeping (import_id, import_line)."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from domain.clock import FixedClock
from domain.importing import DEFAULT_BATCH_ROWS, ImportSummary, import_register
from domain.ports import ProblemSink
from domain.registers import RegisterKind
from storage import migrate
from storage.db import make_engine
from storage.readers import RegisterFile
from storage.regions import load_regions
from storage.reports import ListProblemSink
from storage.uow import SqlUnitOfWork

PG_URL = os.environ.get("LOOKBACK_TEST_DATABASE_URL")
CLOCK = FixedClock(datetime(2026, 5, 1, 8, 0, tzinfo=UTC))

BUSINESS_COLUMNS = ("uscc", "name", "region_code", "province_code", "category", "risk_level",
                    "address", "director", "officer", "status")
CADRE_COLUMNS = ("cadre_id", "name", "level", "region_code", "position", "phone")
INSPECTOR_COLUMNS = ("inspector_id", "name", "home_region", "organisation", "phone", "active")


def reset_postgres(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def migrated_engine(url: str) -> Engine:
    """An engine on ``url`` at the newest schema, with the region snapshot loaded."""
    engine = make_engine(url)
    migrate.upgrade(engine)
    load_regions(lambda: SqlUnitOfWork(engine))
    return engine


def uow_factory_of(engine: Engine) -> Callable[[], SqlUnitOfWork]:
    return lambda: SqlUnitOfWork(engine)


def import_file(path: Path, kind: RegisterKind, engine: Engine, *,
                sink: ProblemSink | None = None, strict: bool = False,
                batch_rows: int = DEFAULT_BATCH_ROWS) -> ImportSummary:
    """Import a real file the way the CLI does: RegisterFile rows into import_register."""
    register = RegisterFile(path, kind)
    return import_register(
        kind, register.rows(), uow_factory=uow_factory_of(engine), clock=CLOCK,
        sink=sink if sink is not None else ListProblemSink(), source=str(path),
        sha256=register.sha256, strict=strict, batch_rows=batch_rows,
    )


def rows_of(engine: Engine, table: str, columns: tuple[str, ...]) -> list[tuple[Any, ...]]:
    """A table's contents (only ``columns``), sorted, booleans normalised."""
    with engine.connect() as conn:
        result = conn.execute(text(f"SELECT {', '.join(columns)} FROM {table}"))
        rows = []
        for r in result:
            row = tuple(r)
            if "active" in columns:
                i = columns.index("active")
                row = (*row[:i], bool(row[i]), *row[i + 1:])
            rows.append(row)
    return sorted(rows)


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Everything the registers hold, without import_id/import_line."""
    return {
        "business": rows_of(engine, "business", BUSINESS_COLUMNS),
        "cadre": rows_of(engine, "cadre", CADRE_COLUMNS),
        "cadre_assignment": rows_of(engine, "cadre_assignment", ("cadre_id", "uscc")),
        "inspector": rows_of(engine, "inspector", INSPECTOR_COLUMNS),
    }


def count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())


def read_csv(path: Path, encoding: str = "utf-8-sig") -> list[dict[str, str]]:
    with path.open(encoding=encoding, newline="") as f:
        return list(csv.DictReader(f))


def expected_business(row: dict[str, str]) -> tuple[str, ...]:
    """The stored business row a clean, English-header CSV row should become."""
    return (row["uscc"], row["name"], row["region_code"], row["region_code"][:2] + "0000",
            row["category"], row["risk_level"], row["address"], row["director"],
            row["officer"], row["status"] or "active")
