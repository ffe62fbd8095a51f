"""The office console's dashboard and drill-down through HTTP: the figures are the roll-up's,
every office sees its own territory and nothing of a neighbour's, the drill-down goes region →
business → issue, the overdue list runs oldest first and pages, and mistakes are pages that say
what is wrong."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lookback.api.app import create_app
from lookback.bootstrap import bootstrap
from lookback.settings import Settings
from tests.e2e import api_site, web_site
from tests.e2e.api_site import Fixture
from tests.e2e.test_api_territory import fx
from tests.e2e.test_fieldwork_cli import launched
from tests.e2e.test_web_pages import login

__all__ = ["fx", "launched"]

LATER = "2024-06-03T10:00:00+08:00"  # every issue of the fixture past its due date


@pytest.fixture(scope="module")
def site(fx: tuple[Fixture, dict[str, str]]) -> tuple[Fixture, dict[str, str]]:
    f, tokens = fx
    web_site.set_passwords(f, ["national", "province", "city", "county", "other_city",
                               "auditor_a"])
    return f, tokens


@contextmanager
def console(f: Fixture, user: str, now: str | None = None) -> Iterator[tuple[Any, Any]]:
    """A logged-in client of ``user`` (at the fixture's time, or ``now``)."""
    if now is None:
        with api_site.client(f.db, f.db.parent / "data") as (c, lb):
            assert login(c, user).status_code == 303
            yield c, lb
        return
    lb = bootstrap(Settings(database_url=f"sqlite:///{f.db}", data_dir=f.db.parent / "data",
                            now=datetime.fromisoformat(now)))
    try:
        with TestClient(create_app(lb), raise_server_exceptions=False) as c:
            assert login(c, user).status_code == 303
            yield c, lb
    finally:
        lb.close()


def _cells(html: str, testid: str) -> list[list[str]]:
    table = html.split(f'data-testid="{testid}"', 1)[1].split("</table>", 1)[0]
    body = table.split("<tbody>", 1)[1]
    return [[re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>",
                                                                          row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def test_the_national_figures_are_the_rollups(site: tuple[Fixture, dict[str, str]]) -> None:
    f, tokens = site
    with console(f, "national") as (c, _lb):
        page = c.get("/app/office")
        assert page.status_code == 200, page.text
        api = c.get("/rollup", headers={"Authorization": "Bearer " + tokens["national"]}).json()
        total = api["total"]
        figures = page.text.split('data-testid="figures"', 1)[1].split("</ul>", 1)[0]
        assert f'data-testid="overdue-count">{total["overdue"]}<' in figures
        rate = total["rectification_rate"]
        assert ("—" if rate is None else f"{rate * 100:.1f}%") in figures
        regions = _cells(page.text, "regions")
        assert [r[0] for r in regions] == [r["name"] for r in api["rows"]]
        assert "<svg" in page.text and 'role="img"' in page.text  # the weekly trend


def test_a_city_sees_its_territory_and_never_a_neighbours(
        site: tuple[Fixture, dict[str, str]]) -> None:
    f, tokens = site
    city, other = tokens["prefix:city"], tokens["prefix:other_city"]
    with console(f, "city") as (c, _lb):
        page = c.get("/app/office")
        assert page.status_code == 200
        links = re.findall(r'href="/app/office\?region=(\d+)"', page.text.split(
            'data-testid="regions"', 1)[1])
        assert links and all(code.startswith(city) for code in links)
        refused = c.get("/app/office", params={"region": other})
        assert refused.status_code == 403 and other in refused.text
        assert c.get("/app/office/overdue", params={"region": other}).status_code == 403
        inside_b = f.visit_b["region"].startswith(city)
        b = c.get(f"/app/office/issues/{f.issue_b}")
        assert b.status_code == (200 if inside_b else 403)
        biz = c.get(f"/app/office/businesses/{f.visit_b['uscc']}")
        assert biz.status_code == (200 if inside_b else 403)
    with console(f, "other_city") as (c, _lb):
        assert c.get(f"/app/office/issues/{f.issue_a}").status_code == 403
        assert f.visit_a["uscc"] not in c.get("/app/office/overdue").text


def test_drill_down_region_business_issue(site: tuple[Fixture, dict[str, str]]) -> None:
    f, tokens = site
    region = f.visit_a["region"]
    with console(f, "national") as (c, _lb):
        for code in (region[:2], region[:4]):  # the province, then the city: regions below
            page = c.get("/app/office", params={"region": code})
            assert page.status_code == 200 and 'data-testid="regions"' in page.text
            assert f'href="/app/office?region={region[:len(code) + 2]}"' in page.text
        county = c.get("/app/office", params={"region": region})
        assert 'data-testid="businesses"' in county.text  # a county lists its businesses
        assert f'href="/app/office/businesses/{f.visit_a["uscc"]}"' in county.text
        business = c.get(f"/app/office/businesses/{f.visit_a['uscc']}")
        assert f'href="/app/office/issues/{f.issue_a}"' in business.text
        issue = c.get(f"/app/office/issues/{f.issue_a}")
        assert issue.status_code == 200 and "台账缺失" in issue.text
        history = c.get(f"/issues/{f.issue_a}/history",
                        headers={"Authorization": "Bearer " + tokens["national"]}).json()
        assert history["count"] >= 1
        assert len(_cells(issue.text, "history")) == history["count"]
        notices = issue.text.split('data-testid="notices"', 1)[1].split("</ul>", 1)[0]
        assert "/pdf" in notices  # the rectification order issued to business A


def test_overdue_oldest_first_and_paged(site: tuple[Fixture, dict[str, str]],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from lookback.web.console import base

    f, _tokens = site
    monkeypatch.setattr(base, "PER_PAGE", 1)
    with console(f, "national", now=LATER) as (c, lb):
        with lb.read_uow_factory()() as uow:
            expected = uow.dashboard.overdue(prefix="", today=datetime.fromisoformat(
                LATER).date(), limit=100, offset=0)
        assert len(expected) >= 2
        assert [(o.due_on, o.id) for o in expected] == sorted((o.due_on, o.id) for o in expected)
        seen = []
        for page in range(1, len(expected) + 1):
            text = c.get("/app/office/overdue", params={"page": page}).text
            seen += [int(i) for i in re.findall(r'href="/app/office/issues/(\d+)"', text)]
        assert seen == [o.id for o in expected]
        dash = c.get("/app/office").text
        assert f'data-testid="overdue-count">{len(expected)}<' in dash


def test_who_may_open_it_and_bad_regions(site: tuple[Fixture, dict[str, str]]) -> None:
    f, _tokens = site
    with api_site.client(f.db, f.db.parent / "data") as (c, _lb):
        assert c.get("/app/office", follow_redirects=False).headers["location"].startswith(
            "/app/login")
    with console(f, "auditor_a") as (c, _lb):
        assert c.get("/app/office").status_code == 403
    with console(f, "national") as (c, _lb):
        bad = c.get("/app/office", params={"region": "12x"})
        assert bad.status_code == 400 and "12x" in bad.text
        assert c.get("/app/office/issues/99999999").status_code == 404
        assert c.get("/app/office/businesses/000000000000000000").status_code == 404


def test_english_pages(site: tuple[Fixture, dict[str, str]]) -> None:
    f, _tokens = site
    with console(f, "national") as (c, _lb):
        c.get("/app/lang/en", follow_redirects=False)
        page = c.get("/app/office")
        assert "Escalation ladder" in page.text and "Week by week" in page.text


def test_dashboard_path_is_listed(tmp_path: Path) -> None:
    """The console answers under /app/office and the old overview address leads there."""
    lb = bootstrap(Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}",
                            data_dir=tmp_path / "data"))
    try:
        with TestClient(create_app(lb)) as c:
            r = c.get("/app/overview", follow_redirects=False)
            assert r.status_code == 303 and r.headers["location"] == "/app/office"
    finally:
        lb.close()
