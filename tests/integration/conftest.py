"""Integration fixtures on top of tests/conftest.py: a factory of fresh migrated databases for
tests that need more than one (SQLite files, or the test PostgreSQL database wiped each time)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from tests.integration._support import PG_URL, migrated_engine, reset_postgres


@pytest.fixture
def fresh_engine(tmp_path: Path) -> Iterator[Callable[[], Engine]]:
    """Call it to get a new, empty, migrated database. On PostgreSQL there is only one test
    database, so each call wipes it (and disposes the engines handed out before)."""
    engines: list[Engine] = []
    numbers = itertools.count()

    def make() -> Engine:
        if PG_URL:
            for e in engines:
                e.dispose()
            reset_postgres(PG_URL)
            url = PG_URL
        else:
            url = f"sqlite:///{tmp_path / f'fresh-{next(numbers)}.db'}"
        engine = migrated_engine(url)
        engines.append(engine)
        return engine

    yield make
    for e in engines:
        e.dispose()

