"""The whole unit of work: every repository in one transaction, as storage provides it.

The use cases each ask for their own slice (:class:`domain.issues.IssueUnitOfWork`,
:class:`domain.fieldwork.FieldworkUnitOfWork`, …); this is the union of them all, for the
composition root and the fakes. Nothing in the domain imports it, so it can import everything.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from domain.access import UserRepository
from domain.campaigns import CampaignRepository
from domain.events import EventLog
from domain.followups import FollowUpRepository
from domain.issues import IssueRepository
from domain.notices import NoticeRepository
from domain.ports import ImportRunRepository, RegionRepository, RegisterRepository, Transaction
from domain.supervision import SupervisionRepository
from domain.visits import FieldworkRepository


class UnitOfWork(Transaction, Protocol):
    """One transaction: rolls back on exit unless ``commit()`` was called."""

    @property
    def regions(self) -> RegionRepository: ...
    @property
    def registers(self) -> RegisterRepository: ...
    @property
    def import_runs(self) -> ImportRunRepository: ...
    @property
    def campaigns(self) -> CampaignRepository: ...
    @property
    def fieldwork(self) -> FieldworkRepository: ...
    @property
    def issues(self) -> IssueRepository: ...
    @property
    def events(self) -> EventLog: ...
    @property
    def notices(self) -> NoticeRepository: ...
    @property
    def followups(self) -> FollowUpRepository: ...
    @property
    def supervision(self) -> SupervisionRepository: ...
    @property
    def users(self) -> UserRepository: ...


UnitOfWorkFactory = Callable[[], UnitOfWork]
