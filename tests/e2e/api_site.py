"""A database for the HTTP API tests: the launched campaign of ``test_fieldwork_cli`` (12 visits,
three teams), two issues on visits of different teams and businesses, and one API user per role
(a second auditor of another team, a business user for each issue's business). Built once per
module; every test (or hypothesis example) works on its own copy through ``create_app``."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from domain import access
from lookback.api.app import create_app
from lookback.bootstrap import App, bootstrap
from lookback.settings import Settings
from tests.e2e.test_fieldwork_cli import NOW, run

USERS = ("planner", "office", "viewer", "admin", "auditor_a", "auditor_b", "business_a",
         "business_b")


@dataclass(frozen=True)
class User:
    name: str
    role: str
    token: str
    team: int | None = None
    uscc: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Fixture:
    """What the prepared database holds (ids, teams, businesses, users and tokens)."""

    db: Path
    visit_a: dict[str, Any]  # team A's visit with issue A (business A)
    visit_b: dict[str, Any]  # team B's visit with issue B (business B)
    issue_a: int
    issue_b: int
    users: dict[str, User] = field(default_factory=dict)

    @property
    def team_a(self) -> int:
        return int(self.visit_a["team"])

    @property
    def team_b(self) -> int:
        return int(self.visit_b["team"])


def _cli(db: Path, data: Path, *args: str) -> str:
    return run("--db", str(db), "--data-dir", str(data), "--lang", "en", "--now", NOW, *args)


def prepare(launched: Path, folder: Path) -> Fixture:
    """Copy the launched database, add two issues and the users."""
    import json

    db = folder / "api.db"
    copy(launched, db)
    data = folder / "data"
    visits = sorted(json.loads(_cli(db, data, "--json", "visit", "list", "--campaign",
                                    "1"))["items"], key=lambda v: v["id"])
    va = visits[0]
    vb = next(v for v in visits if v["team"] != va["team"] and v["uscc"] != va["uscc"])
    issues = []
    for v, text in ((va, "台账缺失"), (vb, "未公示许可证")):
        out = json.loads(_cli(db, data, "--json", "issue", "add", "--provision", "1", "--visit", str(v["id"]),
                              "--category", "records", "--severity", "general",
                              "--description", text, "--team", str(v["team"])))
        issues.append(int(out["id"]))
    fx = Fixture(db, va, vb, issues[0], issues[1])
    lb = bootstrap(Settings(database_url=f"sqlite:///{db}", data_dir=data, now=NOW))
    try:
        spec: dict[str, dict[str, Any]] = {
            "planner": {"role": "planner"}, "office": {"role": "office"},
            "viewer": {"role": "viewer"}, "admin": {"role": "admin"},
            "auditor_a": {"role": "auditor", "team": fx.team_a},
            "auditor_b": {"role": "auditor", "team": fx.team_b},
            "business_a": {"role": "business", "uscc": va["uscc"]},
            "business_b": {"role": "business", "uscc": vb["uscc"]},
        }
        for name, s in spec.items():
            p, token = access.add_user(name, s["role"], team=s.get("team"), campaign_id=None,
                                       uscc=s.get("uscc"), actor="test",
                                       uow_factory=lb.uow_factory(), clock=lb.clock)
            fx.users[name] = User(name, s["role"], token, p.team, p.uscc)
    finally:
        lb.close()
    return fx


def copy(src: Path, dst: Path) -> None:
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)  # a plain file copy would miss what is still in the WAL
    a.close()
    b.close()


@contextmanager
def client(db: Path, data: Path) -> Iterator[tuple[TestClient, App]]:
    """A TestClient on ``create_app`` over the database ``db`` (errors as responses)."""
    lb = bootstrap(Settings(database_url=f"sqlite:///{db}", data_dir=data, now=NOW))
    try:
        with TestClient(create_app(lb), raise_server_exceptions=False) as c:
            yield c, lb
    finally:
        lb.close()


def sql(db: Path, query: str, *params: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(query, params).fetchall()
    finally:
        conn.close()
