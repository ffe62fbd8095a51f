"""Shared fixtures: a migrated database (SQLite file by default, PostgreSQL when
LOOKBACK_TEST_DATABASE_URL is set) and a unit-of-work factory on it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from storage import migrate
from storage.db import make_engine
from storage.regions import load_regions
from storage.uow import SqlUnitOfWork

PG_URL = os.environ.get("LOOKBACK_TEST_DATABASE_URL")


def _reset_postgres(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        # A transaction left open by a test would block this forever: fail clearly instead.
        conn.execute(text("SET LOCAL lock_timeout = '60s'"))
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """An empty database: a fresh SQLite file, or the test PostgreSQL database wiped clean."""
    if PG_URL:
        _reset_postgres(PG_URL)
        return PG_URL
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A database at the newest schema with the region snapshot loaded."""
    eng = make_engine(db_url)
    migrate.upgrade(eng)
    load_regions(lambda: SqlUnitOfWork(eng))
    yield eng
    eng.dispose()


@pytest.fixture
def uow_factory(engine: Engine) -> Callable[[], SqlUnitOfWork]:
    return lambda: SqlUnitOfWork(engine)
