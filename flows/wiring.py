"""How a task opens the database: one engine per URL and process, a unit of work per call.

Tasks receive the database URL and plain values, never sessions or clients, so they can run in
another process or on another machine (a Prefect worker) just the same.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import lru_cache

from sqlalchemy.engine import Engine

from domain.clock import Clock, FixedClock, SystemClock
from storage.db import make_engine
from storage.uow import SqlUnitOfWork


@lru_cache(maxsize=8)
def engine_for(database_url: str) -> Engine:
    return make_engine(database_url)


def uow_for(database_url: str) -> Callable[[], SqlUnitOfWork]:
    engine = engine_for(database_url)
    return lambda: SqlUnitOfWork(engine)


def clock_for(now_iso: str | None) -> Clock:
    return FixedClock(datetime.fromisoformat(now_iso)) if now_iso else SystemClock()
