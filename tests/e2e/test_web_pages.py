"""The field app's pages through HTTP (the browser tests in tests/browser drive them in
Chromium): log-in with its anti-forgery token, who is shown, the pages of each role, refusals as
pages, the client files' cache headers and compression, and the service worker."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from domain.issues import IssueQuery
from tests.e2e import api_site, web_site
from tests.e2e.api_site import Fixture
from tests.e2e.test_fieldwork_cli import launched

__all__ = ["launched"]


@pytest.fixture(scope="module")
def site(launched: Path, tmp_path_factory: pytest.TempPathFactory) -> Fixture:
    return web_site.prepare(launched, tmp_path_factory.mktemp("web"))


def login(c: Any, name: str, password: str = web_site.PASSWORD) -> Any:
    page = c.get("/app/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    return c.post("/app/login", data={"name": name, "password": password, "csrf": token,
                                      "next": "/app/"}, follow_redirects=False)


def test_login_needs_the_forms_token_and_shows_who_is_logged_in(site: Fixture) -> None:
    with api_site.client(site.db, site.db.parent / "data") as (c, _lb):
        assert c.get("/app/visits", follow_redirects=False).headers["location"].startswith(
            "/app/login")
        # a log-in form posted from elsewhere (no token of ours) is refused
        r = c.post("/app/login", data={"name": "auditor_a", "password": web_site.PASSWORD,
                                       "csrf": "forged"}, follow_redirects=False)
        assert r.status_code == 403 and "lookback_session" not in r.headers.get("set-cookie", "")
        r = login(c, "auditor_a", "wrong-password-here")
        assert r.status_code == 401 and 'data-testid="error"' in r.text
        r = login(c, "auditor_a")
        assert r.status_code == 303 and r.headers["location"] == "/app/"
        assert "HttpOnly" in r.headers["set-cookie"]
        visits = c.get("/app/visits")
        assert visits.status_code == 200
        assert f"auditor_a · 督查人员 · 督查组 {site.team_a}" in visits.text
        assert f'href="/app/visits/{site.visit_a["id"]}"' in visits.text
        assert f'href="/app/visits/{site.visit_b["id"]}"' not in visits.text  # another team's
        # English on request
        c.get("/app/lang/en", follow_redirects=False)
        assert "auditor_a · auditor · team" in c.get("/app/visits").text


def test_a_visit_its_forms_and_another_teams_visit(site: Fixture) -> None:
    with api_site.client(site.db, site.db.parent / "data") as (c, _lb):
        login(c, "auditor_a")
        page = c.get(f"/app/visits/{site.visit_a['id']}")
        assert page.status_code == 200 and site.visit_a["uscc"] in page.text
        assert f"#{site.issue_a}" in page.text  # the business's issue
        form = c.get(f"/app/visits/{site.visit_a['id']}/interview/director")
        assert form.status_code == 200 and 'data-queue="interview"' in form.text
        assert form.text.count('type="radio"') >= 3 * 5
        finding = c.get(f"/app/visits/{site.visit_a['id']}/finding")
        assert 'hx-get="/app/provisions"' in finding.text and 'capture="environment"' in finding.text
        options = c.get("/app/provisions", params={"category": "records"})
        assert options.status_code == 200 and options.text.count("<option") >= 1
        refused = c.get(f"/app/visits/{site.visit_b['id']}")
        assert refused.status_code == 403 and 'data-testid="refused"' in refused.text
        assert "督查组" in refused.text  # says why: another team
        missing = c.get("/app/visits/999999")
        assert missing.status_code == 404 and "999999" in missing.text


def test_business_and_staff_pages(site: Fixture) -> None:
    with api_site.client(site.db, site.db.parent / "data") as (c, _lb):
        login(c, "business_a")
        assert c.get("/app/", follow_redirects=False).headers["location"] == "/app/business"
        page = c.get("/app/business")
        assert page.status_code == 200 and f"#{site.issue_a}" in page.text
        assert f"#{site.issue_b}" not in page.text
        assert 'data-queue="rectify"' in page.text and 'data-version="' in page.text
        c.cookies.clear()
        login(c, "office")
        assert c.get("/app/", follow_redirects=False).headers["location"] == "/app/office"
        overview = c.get("/app/overview")  # the old address: the console's dashboard
        assert overview.status_code == 200 and 'data-testid="figures"' in overview.text


def test_the_logout_form_needs_the_sessions_token(site: Fixture) -> None:
    with api_site.client(site.db, site.db.parent / "data") as (c, _lb):
        login(c, "viewer")
        assert c.post("/app/logout", data={"csrf": "x"}).status_code == 403
        assert c.get("/app/session").status_code == 200  # still logged in
        csrf = c.get("/app/session").json()["csrf"]
        r = c.post("/app/logout", data={"csrf": csrf}, follow_redirects=False)
        assert r.status_code == 303
        assert c.get("/app/session").status_code == 401  # ended on the server


def test_client_files_are_cached_long_compressed_and_the_worker_is_not(site: Fixture) -> None:
    from lookback.web.pages import ASSETS

    with api_site.client(site.db, site.db.parent / "data") as (c, _lb):
        for url in ASSETS.values():
            r = c.get(url, headers={"Accept-Encoding": "gzip"})
            assert r.status_code == 200
            assert "immutable" in r.headers["cache-control"]
            if int(r.headers.get("content-length", "1000")) > 500:
                assert r.headers.get("content-encoding") == "gzip", url
        sw = c.get("/app/sw.js")
        assert sw.headers["cache-control"] == "no-cache"
        assert "__VERSION__" not in sw.text and "/app/static/app.js?v=" in sw.text


def test_a_cadre_sees_their_businesses_and_this_periods_visit(site: Fixture) -> None:
    web_site.add_cadre_user(site, "zhao", "W1", "赵干部")
    with api_site.client(site.db, site.db.parent / "data") as (c, _lb):
        login(c, "zhao")
        assert c.get("/app/", follow_redirects=False).headers["location"] == "/app/cadre"
        page = c.get("/app/cadre")
        assert page.status_code == 200 and "zhao · 包保干部 · W1" in page.text
        assert site.visit_a["uscc"] in page.text and "2023-09" in page.text
        assert 'data-queue="supervision"' in page.text and 'data-cadre="W1"' in page.text
        assert site.visit_b["uscc"] not in page.text


def test_open_lookbacks_show_the_finding_and_the_three_questions(site: Fixture) -> None:
    from tests.e2e.test_fieldwork_cli import run

    data = site.db.parent / "data"
    # a fortnight on, the look-backs of issues A and B fall due and open for their teams
    run("--db", str(site.db), "--data-dir", str(data), "--now", "2023-10-20T09:00:00+08:00",
        "followup", "sweep")
    with api_site.client(site.db, data) as (c, _lb):
        login(c, "auditor_a")
        page = c.get("/app/followups")
        assert page.status_code == 200
        assert f'data-url="/issues/{site.issue_a}/followup-checks"' in page.text
        assert f'/issues/{site.issue_b}/followup-checks' not in page.text  # team B's
        for question in ("是否采取硬措施", "问题是否真正解决", "是否建立长效机制"):
            assert question in page.text
        assert "台账缺失" in page.text  # the original finding


def test_the_visit_list_pages_through_every_visit_once_planned_first(
        site: Fixture, monkeypatch: pytest.MonkeyPatch) -> None:
    from lookback.web import pages

    monkeypatch.setattr(pages, "VISITS_PER_PAGE", 2)
    with api_site.client(site.db, site.db.parent / "data") as (c, lb):
        with lb.read_uow_factory()() as uow:
            mine = uow.fieldwork.list_visits(1, team=site.team_a, status=None)
        login(c, "auditor_a")
        seen: list[int] = []
        n_pages = -(-len(mine) // 2)
        for page in range(1, n_pages + 1):
            text = c.get("/app/visits", params={"page": page}).text
            ids = [int(i) for i in re.findall(r'href="/app/visits/(\d+)" data-testid', text)]
            assert 1 <= len(ids) <= 2, (page, ids)
            seen += ids
            assert ('rel="next"' in text) == (page < n_pages)
            assert ('rel="prev"' in text) == (page > 1)
        assert sorted(seen) == sorted(v.id for v in mine) and len(set(seen)) == len(seen)
        status = {v.id: v.status for v in mine}
        order = [status[i] for i in seen]
        assert order == sorted(order, key=lambda s: s != "planned")  # planned before done
        past = c.get("/app/visits", params={"page": n_pages + 5})
        assert past.status_code == 200 and 'data-testid="visit-link"' not in past.text


def test_the_batched_reads_answer_as_the_single_ones(site: Fixture) -> None:
    """The pages read look-backs and evidence for many issues at once: the same as asking
    one issue at a time."""
    with api_site.client(site.db, site.db.parent / "data") as (_c, lb), \
            lb.read_uow_factory()() as uow:
        ids = [i.id for i in uow.issues.list(IssueQuery())] + [10**12]
        assert len(ids) > 1
        assert uow.followups.of_issues(ids) == {i: uow.followups.of_issue(i) for i in ids}
        assert uow.fieldwork.evidence_of_many(ids) == {
            i: uow.fieldwork.evidence_of(i) for i in ids}
