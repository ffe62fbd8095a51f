"""The console's look-backs page through HTTP: the pending, open and late lists by the user's
territory, a page at a time, oldest due first; a review moving from pending to late (due, never
fired) to open (fired by the sweep) to late (open past its day); and the scheduler's status with
and without a lease holder (the lease taken here through the repository)."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from domain import followups as fu_svc
from domain.clock import CHINA_TZ
from domain.followup_plan import fire_instant
from lookback.api.app import create_app
from lookback.bootstrap import App, bootstrap
from lookback.settings import Settings
from lookback.web.console import base
from lookback.web.console import lookbacks as lookbacks_page
from tests.e2e import api_site, web_site
from tests.e2e.api_site import Fixture, sql
from tests.e2e.test_console_imports import Site
from tests.e2e.test_fieldwork_cli import launched
from tests.e2e.test_web_pages import login

__all__ = ["launched"]


@pytest.fixture(scope="module")
def site(launched: Path, tmp_path_factory: pytest.TempPathFactory) -> Site:
    f = web_site.prepare(launched, tmp_path_factory.mktemp("console-lookbacks"))
    city, other = web_site.add_office_users(f)
    return Site(f, city, other)


@contextmanager
def client_at(db: Path, data: Path, now: datetime) -> Iterator[tuple[TestClient, App]]:
    """The site at another instant (the app's clock)."""
    lb = bootstrap(Settings(database_url=f"sqlite:///{db}", data_dir=data, now=now.isoformat()))
    try:
        with TestClient(create_app(lb), raise_server_exceptions=False) as c:
            yield c, lb
    finally:
        lb.close()


def shown(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'data-followup="(\d+)"', page)]


def count_of(page: str, tab: str) -> int:
    found = re.search(rf'data-testid="lbk-count-{tab}">(\d+)<', page)
    assert found
    return int(found.group(1))


def reviews(f: Fixture) -> dict[int, tuple[int, str, str]]:
    """Review id → (issue, its business's region, due day)."""
    return {fid: (issue, region, str(due)) for fid, issue, region, due in sql(
        f.db, "SELECT f.id, f.issue_id, b.region_code, f.due_on FROM followup f JOIN issue i ON "
        "i.id = f.issue_id JOIN business b ON b.uscc = i.uscc WHERE f.kind = 'review' AND "
        "f.status = 'pending' ORDER BY f.due_at, f.id")}


def test_pending_lists_by_territory_a_page_at_a_time(site: Site,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    planned = reviews(site.f)
    assert len(planned) >= 2
    with api_site.client(site.f.db, site.f.db.parent / "data") as (c, _lb):
        for user, prefix in (("office", ""), ("office_city", site.city),
                             ("viewer_other", site.other)):
            login(c, user)
            page = c.get("/app/office/lookbacks?tab=pending")
            assert page.status_code == 200
            expected = [fid for fid, (_i, region, _d) in planned.items()
                        if region.startswith(prefix)]
            assert shown(page.text) == expected, user  # oldest due first, only the territory's
            assert count_of(page.text, "pending") == len(expected)
            assert count_of(page.text, "open") == count_of(page.text, "late") == 0
        # each issue links to its page
        login(c, "office")
        page = c.get("/app/office/lookbacks?tab=pending").text
        issue = next(iter(planned.values()))[0]
        assert f'href="/app/office/issues/{issue}"' in page
        # a page at a time: the same order across pages, the tab kept by the links
        monkeypatch.setattr(lookbacks_page, "pager", functools.partial(base.pager, per_page=1))
        pages = [c.get(f"/app/office/lookbacks?tab=pending&page={n}").text
                 for n in range(1, len(planned) + 2)]
        assert [shown(p) for p in pages] == [[fid] for fid in planned] + [[]]
        assert 'href="?page=2&amp;tab=pending"' in pages[0]
        # an unknown list is the open one, never an error
        assert c.get("/app/office/lookbacks?tab=nonsense").status_code == 200


def test_a_review_goes_late_then_open_then_late(site: Site, tmp_path: Path) -> None:
    db = tmp_path / "copy.db"
    api_site.copy(site.f.db, db)
    data = site.f.db.parent / "data"
    planned = reviews(site.f)
    first, (_issue, region, due) = next(iter(planned.items()))
    day = datetime.fromisoformat(due).date()
    fires = fire_instant(day)
    hour_after = fires + timedelta(hours=1)
    with client_at(db, data, hour_after) as (c, lb):
        login(c, "office")
        page = c.get("/app/office/lookbacks?tab=late").text
        assert first in shown(page) and "待触发" in page  # due an hour ago, never fired
        assert int(re.search(r'data-testid="lbk-unfired">(\d+)<', page).group(1)) >= 1  # type: ignore[union-attr]
        fu_svc.sweep(uow_factory=lb.uow_factory(), clock=lb.clock, worker="test")
        page = c.get("/app/office/lookbacks?tab=open").text
        assert first in shown(page)  # fired: waiting for the team's check, its day not past
        assert first not in shown(c.get("/app/office/lookbacks?tab=late").text)
    with client_at(db, data, hour_after + timedelta(days=3)) as (c, _lb):
        login(c, "office")
        page = c.get("/app/office/lookbacks?tab=late").text
        assert first in shown(page) and "待复查" in page  # open past its day
        assert int(re.search(r'data-testid="lbk-open-late">(\d+)<', page).group(1)) >= 1  # type: ignore[union-attr]
        for user, prefix in (("office_city", site.city), ("office_other", site.other)):
            login(c, user)
            page = c.get("/app/office/lookbacks?tab=late").text
            inside = region.startswith(prefix)
            assert (first in shown(page)) == inside, user
            assert bool(re.search(r'data-testid="lbk-open-late">0<', page)) != inside, user


def test_the_schedulers_status_with_and_without_a_lease(site: Site, tmp_path: Path) -> None:
    db = tmp_path / "lease.db"
    api_site.copy(site.f.db, db)
    data = site.f.db.parent / "data"
    (next_at,), = sql(db, "SELECT MIN(due_at) FROM followup WHERE status = 'pending'")
    next_due = datetime.fromtimestamp(next_at, CHINA_TZ).strftime("%Y-%m-%d %H:%M")
    with client_at(db, data, datetime(2023, 9, 25, 1, tzinfo=UTC)) as (c, lb):
        login(c, "office")
        page = c.get("/app/office/lookbacks").text
        assert 'data-testid="lbk-no-scheduler"' in page and "没有运行中的调度程序" in page
        assert re.search(rf'data-testid="lbk-next-due">{next_due}<', page)  # China's time
        with lb.uow_factory()() as uow:  # a scheduler takes the lease
            assert uow.followups.take_lease(fu_svc.LEASE, "scheduler@host-1:4242",
                                            datetime.now(UTC), 300)
            uow.commit()
        page = c.get("/app/office/lookbacks").text
        assert 'data-testid="lbk-no-scheduler"' not in page
        assert re.search(r'data-testid="lbk-holder">scheduler@host-1:4242<', page)
        fu_svc.release_lease("scheduler@host-1:4242", uow_factory=lb.uow_factory())
        page = c.get("/app/office/lookbacks").text
        assert 'data-testid="lbk-no-scheduler"' in page
        assert "scheduler@host-1:4242" in page  # the last holder, its lease expired
        c.cookies.set("lookback_lang", "en")
        assert "No scheduler running" in c.get("/app/office/lookbacks").text


def test_the_page_is_for_office_staff(site: Site) -> None:
    with api_site.client(site.f.db, site.f.db.parent / "data") as (c, _lb):
        r = c.get("/app/office/lookbacks", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/app/login")
        login(c, "auditor_a")
        assert c.get("/app/office/lookbacks").status_code == 403

