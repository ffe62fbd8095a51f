"""The unit of work: one session, one transaction, rolled back unless committed."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar, overload

from sqlalchemy.engine import Engine
from sqlmodel import Session

from storage.db import READ_ONLY

if TYPE_CHECKING:
    from storage.campaigns import SqlCampaignRepository
    from storage.dashboard import SqlDashboardRepository
    from storage.fieldwork import SqlEventLog, SqlFieldworkRepository
    from storage.followups import SqlFollowUpRepository
    from storage.imports import SqlImportLogRepository
    from storage.issues import SqlIssueRepository
    from storage.notices import SqlNoticeRepository
    from storage.offices import SqlOfficeRepository
    from storage.repositories import (
        SqlImportRunRepository,
        SqlRegionRepository,
        SqlRegisterRepository,
    )
    from storage.rollup import SqlRollupRepository
    from storage.supervision import SqlSupervisionRepository
    from storage.users import (
        SqlCredentialRepository,
        SqlSessionRepository,
        SqlUserRepository,
    )

R = TypeVar("R")


class _Repository(Generic[R]):
    """A repository of the unit of work, made on first use in it. Its module is imported then
    too, so that a command loads only the storage (and domain) it reads: ``issue show`` needs no
    notices, look-backs or supervision."""

    def __init__(self, module: str, cls: str) -> None:
        self.module, self.cls = module, cls
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, uow: None, owner: type) -> _Repository[R]: ...
    @overload
    def __get__(self, uow: SqlUnitOfWork, owner: type) -> R: ...

    def __get__(self, uow: SqlUnitOfWork | None, owner: type) -> Any:
        if uow is None:
            return self
        repo = getattr(import_module(self.module), self.cls)(uow.session)
        uow.__dict__[self.name] = repo  # the instance's own attribute from now on
        return repo


class SqlUnitOfWork:
    """A transaction on ``engine`` with the repositories bound to it."""

    regions: _Repository[SqlRegionRepository] = _Repository(
        "storage.repositories", "SqlRegionRepository")
    registers: _Repository[SqlRegisterRepository] = _Repository(
        "storage.repositories", "SqlRegisterRepository")
    import_runs: _Repository[SqlImportRunRepository] = _Repository(
        "storage.repositories", "SqlImportRunRepository")
    campaigns: _Repository[SqlCampaignRepository] = _Repository(
        "storage.campaigns", "SqlCampaignRepository")
    fieldwork: _Repository[SqlFieldworkRepository] = _Repository(
        "storage.fieldwork", "SqlFieldworkRepository")
    issues: _Repository[SqlIssueRepository] = _Repository("storage.issues", "SqlIssueRepository")
    events: _Repository[SqlEventLog] = _Repository("storage.fieldwork", "SqlEventLog")
    notices: _Repository[SqlNoticeRepository] = _Repository(
        "storage.notices", "SqlNoticeRepository")
    followups: _Repository[SqlFollowUpRepository] = _Repository(
        "storage.followups", "SqlFollowUpRepository")
    import_log: _Repository[SqlImportLogRepository] = _Repository(
        "storage.imports", "SqlImportLogRepository")
    supervision: _Repository[SqlSupervisionRepository] = _Repository(
        "storage.supervision", "SqlSupervisionRepository")
    users: _Repository[SqlUserRepository] = _Repository("storage.users", "SqlUserRepository")
    offices: _Repository[SqlOfficeRepository] = _Repository(
        "storage.offices", "SqlOfficeRepository")
    rollups: _Repository[SqlRollupRepository] = _Repository(
        "storage.rollup", "SqlRollupRepository")
    dashboard: _Repository[SqlDashboardRepository] = _Repository(
        "storage.dashboard", "SqlDashboardRepository")
    credentials: _Repository[SqlCredentialRepository] = _Repository(
        "storage.users", "SqlCredentialRepository")
    sessions: _Repository[SqlSessionRepository] = _Repository(
        "storage.users", "SqlSessionRepository")
    _NAMES = tuple(name for name, value in list(locals().items())
                   if isinstance(value, _Repository))

    def __init__(self, engine: Engine, *, read_only: bool = False) -> None:
        self.engine = engine
        self.read_only = read_only

    def __enter__(self) -> Self:
        bind = self.engine.execution_options(**{READ_ONLY: True}) if self.read_only else self.engine
        self.session = Session(bind, expire_on_commit=False)
        for name in self._NAMES:  # repositories of an earlier transaction are not reused
            self.__dict__.pop(name, None)
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
        self._reset_events()

    def rollback(self) -> None:
        self.session.rollback()
        self._reset_events()

    def _reset_events(self) -> None:
        events = self.__dict__.get("events")  # an event log never used has nothing to forget
        if events is not None:
            events.reset()


def uow_factory(engine: Engine, *, read_only: bool = False) -> Callable[[], SqlUnitOfWork]:
    """A zero-argument callable that opens a unit of work on ``engine``."""
    return lambda: SqlUnitOfWork(engine, read_only=read_only)
