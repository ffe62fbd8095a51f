"""The unit of work: one session, one transaction, rolled back unless committed."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Self

from sqlalchemy.engine import Engine
from sqlmodel import Session

from storage.campaigns import SqlCampaignRepository
from storage.db import READ_ONLY
from storage.fieldwork import SqlEventLog, SqlFieldworkRepository
from storage.followups import SqlFollowUpRepository
from storage.issues import SqlIssueRepository
from storage.notices import SqlNoticeRepository
from storage.repositories import (
    SqlImportRunRepository,
    SqlRegionRepository,
    SqlRegisterRepository,
)
from storage.supervision import SqlSupervisionRepository
from storage.users import SqlUserRepository


class SqlUnitOfWork:
    """A transaction on ``engine`` with the repositories bound to it."""

    def __init__(self, engine: Engine, *, read_only: bool = False) -> None:
        self.engine = engine
        self.read_only = read_only

    def __enter__(self) -> Self:
        bind = self.engine.execution_options(**{READ_ONLY: True}) if self.read_only else self.engine
        self.session = Session(bind, expire_on_commit=False)
        self.regions = SqlRegionRepository(self.session)
        self.registers = SqlRegisterRepository(self.session)
        self.import_runs = SqlImportRunRepository(self.session)
        self.campaigns = SqlCampaignRepository(self.session)
        self.fieldwork = SqlFieldworkRepository(self.session)
        self.issues = SqlIssueRepository(self.session)
        self.events = SqlEventLog(self.session)
        self.notices = SqlNoticeRepository(self.session)
        self.followups = SqlFollowUpRepository(self.session)
        self.supervision = SqlSupervisionRepository(self.session)
        self.users = SqlUserRepository(self.session)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            self.rollback()
        finally:
            self.session.close()

    def commit(self) -> None:
        if self.read_only:
            raise RuntimeError("a read-only unit of work cannot commit")
        self.session.commit()
        self.events.reset()

    def rollback(self) -> None:
        self.session.rollback()
        self.events.reset()


def uow_factory(engine: Engine, *, read_only: bool = False) -> Callable[[], SqlUnitOfWork]:
    """A zero-argument callable that opens a unit of work on ``engine``."""
    return lambda: SqlUnitOfWork(engine, read_only=read_only)
