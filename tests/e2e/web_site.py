"""A site for the page tests: the API tests' database (a launched campaign, two issues, users
of every role) with a password for each user, and for the browser tests a real `lookback serve`
on a free port that can be stopped and started again (the device's network going away)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from domain import access
from domain.offices import NewOffice, add_offices
from lookback.bootstrap import bootstrap
from lookback.settings import Settings
from tests.e2e import api_site
from tests.e2e.api_site import NOW, Fixture, sql

PASSWORD = "川菜馆后厨-每周排查-2026"


def set_passwords(f: Fixture, names: list[str]) -> None:
    lb = bootstrap(Settings(database_url=f"sqlite:///{f.db}", data_dir=f.db.parent / "data",
                            now=NOW))
    try:
        for name in names:
            with lb.uow_factory()() as uow:
                cred = uow.credentials.credentials(name)
                assert cred is not None, name
                uow.credentials.set_password(cred.user.principal.id, lb.hasher.hash(PASSWORD),
                                             must_change=False)
                uow.commit()
    finally:
        lb.close()


def add_cadre_user(f: Fixture, user: str, cadre_id: str, cadre_name: str) -> None:
    """An assigned official ``cadre_id`` for business A (imported from a cadres file, this
    period's supervision visits opened), and a cadre user ``user`` of them with the password."""
    from domain import access
    from tests.e2e.api_site import _cli

    data = f.db.parent / "data"
    cadres = f.db.parent / f"cadres-{cadre_id}.csv"
    cadres.write_text("cadre_id,name,level,region_code,assigned_uscc\n"
                      f"{cadre_id},{cadre_name},township,{f.visit_a['region']},"
                      f"{f.visit_a['uscc']}\n", encoding="utf-8")
    _cli(f.db, data, "registry", "import", str(cadres), "--kind", "cadres")
    _cli(f.db, data, "supervision", "open")
    lb = bootstrap(Settings(database_url=f"sqlite:///{f.db}", data_dir=data, now=NOW))
    try:
        access.add_user(user, "cadre", team=None, campaign_id=None, uscc=None, actor="test",
                        uow_factory=lb.uow_factory(), clock=lb.clock, cadre_id=cadre_id)
    finally:
        lb.close()
    set_passwords(f, [user])


def prepare(launched: Path, folder: Path) -> Fixture:
    f = api_site.prepare(launched, folder)
    set_passwords(f, list(f.users))
    return f


@dataclass
class Server:
    """`lookback serve` on 127.0.0.1:port over the fixture's database, at the fixture's time."""

    f: Fixture
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {**os.environ, "LOOKBACK_DATABASE_URL": f"sqlite:///{self.f.db}",
               "LOOKBACK_DATA_DIR": str(self.f.db.parent / "data"), "LOOKBACK_NOW": NOW,
               "LOOKBACK_LANG": "zh"}
        log = (self.f.db.parent / f"serve-{self.port}.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lookback.cli", "serve", "--host", "127.0.0.1", "--port",
             str(self.port)], env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"lookback serve did not start on {self.url}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


def count(f: Fixture, query: str, *params: object) -> int:
    (n,), = sql(f.db, query, *params)
    return int(n)


def add_office_users(f: Fixture) -> tuple[str, str]:
    """Offices for business A's city and another city of its province, each with a planner,
    an office user and a viewer (``planner_city``, ``office_other``, …); their prefixes."""
    region_a = f.visit_a["region"]
    lb = bootstrap(Settings(database_url=f"sqlite:///{f.db}", data_dir=f.db.parent / "data",
                            now=NOW))
    try:
        with lb.read_uow_factory()() as uow:
            other = next(c for c in (f"{region_a[:2]}{n:02d}00" for n in range(1, 99))
                         if c[:4] != region_a[:4] and uow.regions.region_level(c) == "city")
        add_offices([
            NewOffice("国家食安办", "国食安办", "national", "000000", None),
            NewOffice("甲省食安办", "甲省食安办", "province", region_a[:2] + "0000", "国家食安办"),
            NewOffice("甲市食安办", "甲市食安", "city", region_a[:4] + "00", "甲省食安办"),
            NewOffice("乙市食安办", "乙市食安", "city", other, "甲省食安办"),
        ], actor="test", uow_factory=lb.uow_factory(), clock=lb.clock)
        for key, office in (("city", "甲市食安办"), ("other", "乙市食安办")):
            for role in ("planner", "office", "viewer"):
                access.add_user(f"{role}_{key}", role, team=None, campaign_id=None, uscc=None,
                                actor="test", uow_factory=lb.uow_factory(), clock=lb.clock,
                                office=office)
    finally:
        lb.close()
    set_passwords(f, [f"{r}_{k}" for k in ("city", "other")
                               for r in ("planner", "office", "viewer")])
    return region_a[:4], other[:4]
