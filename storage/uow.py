"""The unit of work: one session, one transaction, rolled back unless committed."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Self

from sqlalchemy.engine import Engine
from sqlmodel import Session

from storage.campaigns import SqlCampaignRepository
from storage.repositories import (
    SqlImportRunRepository,
    SqlRegionRepository,
    SqlRegisterRepository,
)


class SqlUnitOfWork:
    """A transaction on ``engine`` with the repositories bound to it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __enter__(self) -> Self:
        self.session = Session(self.engine, expire_on_commit=False)
        self.regions = SqlRegionRepository(self.session)
        self.registers = SqlRegisterRepository(self.session)
        self.import_runs = SqlImportRunRepository(self.session)
        self.campaigns = SqlCampaignRepository(self.session)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            self.rollback()
        finally:
            self.session.close()

    def commit(self) -> None:
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()


def uow_factory(engine: Engine) -> Callable[[], SqlUnitOfWork]:
    """A zero-argument callable that opens a unit of work on ``engine``."""
    return lambda: SqlUnitOfWork(engine)
