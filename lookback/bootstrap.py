"""The composition root: wires the real parts from settings. Nothing connects at import time."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine, make_url

from domain.access import LOCAL_ADMIN, Principal, RefusalBudget
from domain.clock import Clock, FixedClock, SystemClock
from domain.errors import LookbackError, NotFoundError
from lookback.settings import Lang, Settings
from storage import migrate
from storage.db import make_engine, normalise_url
from storage.uow import SqlUnitOfWork


class NotInitialisedError(LookbackError):
    code = "not_initialised"
    exit_code = 2


@dataclass
class App:
    """The wired application: database, clock, data folder, language and output mode."""

    settings: Settings
    lang: Lang
    json: bool = False
    _engine: Engine | None = field(default=None, repr=False)
    #: How many refused API requests a minute reach the event log (per client or token, and in
    #: all); the rest are counted in one event.
    refusals: RefusalBudget = field(default_factory=lambda: RefusalBudget(per_key=60, total=600),
                                    repr=False)
    _principal: Principal | None = field(default=None, repr=False)

    @property
    def database_url(self) -> str:
        return normalise_url(self.settings.database_url)

    @property
    def database_label(self) -> str:
        """The database URL with any password hidden, for messages."""
        return make_url(self.database_url).render_as_string(hide_password=True)

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir

    @property
    def clock(self) -> Clock:
        if self.settings.now is not None:
            return FixedClock(self.settings.now)
        return SystemClock()

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.database_url)
        return self._engine

    def uow_factory(self) -> Callable[[], SqlUnitOfWork]:
        engine = self.engine
        return lambda: SqlUnitOfWork(engine)

    def read_uow_factory(self) -> Callable[[], SqlUnitOfWork]:
        """Units of work that only read (deferred transactions on SQLite: never wait on a writer)."""
        engine = self.engine
        return lambda: SqlUnitOfWork(engine, read_only=True)

    def require_schema(self, *, newest: bool = True) -> None:
        """Refuse to work on a database that `lookback init` has not created or (unless
        ``newest`` is False) upgraded."""
        url = make_url(self.database_url)
        missing_file = (url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")
                        and not Path(url.database or "").expanduser().exists())
        # Checking must not create an empty SQLite file as a side effect.
        current = None if missing_file else migrate.current_revision(self.engine)
        if current is None:
            raise NotInitialisedError(
                f"the database {self.database_label} is not initialised; run `lookback init` first",
                f"数据库{self.database_label}尚未初始化；请先运行`lookback init`",
            )
        if newest and current != migrate.HEAD:
            raise NotInitialisedError(
                f"the database schema is at revision {current}, not the newest; run "
                "`lookback init` to upgrade it",
                f"数据库结构版本为{current}，不是最新；请运行`lookback init`升级",
            )

    @property
    def actor(self) -> str:
        if self.settings.actor:
            return self.settings.actor
        if self.settings.user:
            return f"cli:{self.settings.user}"
        try:
            return f"cli:{getpass.getuser()}"
        except (KeyError, OSError):
            return "cli"

    @property
    def principal(self) -> Principal:
        """Who the CLI acts as: the user named by ``--as`` (their role, office and territory
        apply), else the local administrator, who may do everything."""
        name = self.settings.user
        if not name:
            return LOCAL_ADMIN
        if self._principal is None or self._principal.name != name:
            with self.read_uow_factory()() as uow:
                u = uow.users.by_name(name)
            if u is None or u.revoked_at is not None:
                raise NotFoundError(
                    f"--as {name}: no such user{' (revoked)' if u is not None else ''}; see "
                    "`lookback users list`",
                    f"--as {name}：没有该用户{'（已撤销）' if u is not None else ''}；见`lookback users list`",
                    code="no_such_user")
            self._principal = u.principal
        return self._principal

    @property
    def calendar(self) -> Any:
        from storage.calendar import ChineseCalendarSource

        return ChineseCalendarSource(self.data_dir)

    @property
    def checklists(self) -> Any:
        from domain.checklists import default_checklists

        return default_checklists()

    @property
    def hasher(self) -> Any:
        """argon2id, for passwords (``domain.auth``)."""
        from lookback.passwords import Argon2Hasher

        return Argon2Hasher()

    @property
    def evidence(self) -> Any:
        from storage.evidence import FileEvidenceStore

        return FileEvidenceStore(self.data_dir)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def bootstrap(settings: Settings, *, lang: Lang | None = None, json: bool = False) -> App:
    return App(settings=settings, lang=lang or settings.lang, json=json)
