"""The office console's notices through HTTP (the browser tests drive the same pages in
Chromium): the register's filters, pages and territory; issuing a batch with its progress
(in a thread of the server, or as a job on Prefect workers); voiding (a reason, the office role);
checking an uploaded PDF; the QR code of a newly issued notice; and the public check page
``/verify/{code}`` (masked addressee, valid then void, 404, 429, no cookie, no cache).

On the territory tests' database: offices for A's province, city and county, another city and
the country, one office user each, and the rectification orders of businesses A and B issued
as the API issues them."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import api_site, web_site
from tests.e2e.api_site import Fixture, sql
from tests.e2e.test_api_territory import fx  # the fixture is used by name
from tests.e2e.test_fieldwork_cli import launched  # noqa: F401  (fx needs it)
from tests.e2e.test_web_pages import login

__all__ = ["fx"]

OFFICE_USERS = ("national", "province", "city", "county", "other_city", "nowhere")
REGISTER = "/app/office/notices"


@pytest.fixture(scope="module")
def site(fx: tuple[Fixture, dict[str, str]]) -> tuple[Fixture, dict[str, str]]:
    f, tokens = fx
    web_site.set_passwords(f, [*OFFICE_USERS, "viewer", "business_a"])
    return f, tokens


@contextmanager
def logged_in(f: Fixture, name: str) -> Iterator[tuple[Any, str]]:
    """A client logged in as ``name``, and its session's anti-forgery token."""
    with api_site.client(f.db, f.db.parent / "data") as (c, _lb):
        assert login(c, name).status_code == 303
        yield c, c.get("/app/session").json()["csrf"]


def post(c: Any, csrf: str, url: str, **kwargs: Any) -> Any:
    """A console form as htmx sends it: the token and a fresh Idempotency-Key."""
    headers = {"X-CSRF-Token": csrf, "Idempotency-Key": f"k-{time.monotonic_ns()}",
               "HX-Request": "true"}
    return c.post(url, headers=headers, **kwargs)


def numbers(page: str) -> list[str]:
    return re.findall(r'data-testid="ntc-number">([^<]+)<', page)


def notice_regions(f: Fixture) -> dict[str, str]:
    """The oracle: where each notice lies (its business's region, else its campaign's
    territory), by number, read in plain SQL."""
    business = dict(sql(f.db, "SELECT uscc, region_code FROM business"))
    offices = {oid: code for oid, code in sql(f.db, "SELECT id, territory FROM office")}
    levels = {oid: lv for oid, lv in sql(f.db, "SELECT id, level FROM office")}
    keep = {"national": 0, "province": 2, "city": 4, "county": 6, "township": 9}
    campaign = {cid: (offices[oid][:keep[levels[oid]]] if oid else "")
                for cid, oid in sql(f.db, "SELECT id, office_id FROM campaign")}
    return {num: business.get(u, "") if u else campaign.get(cid, "")
            for num, u, cid in sql(f.db, "SELECT number, uscc, campaign_id FROM notice")}


def notice_of(f: Fixture, uscc: str) -> tuple[int, str, str, str]:
    (row,) = sql(f.db, "SELECT id, number, verify_code, addressee FROM notice "
                       "WHERE uscc = ? AND kind = 'rectification_order'", uscc)
    return int(row[0]), str(row[1]), str(row[2]), str(row[3])


def test_the_register_shows_only_the_users_territory(site: tuple[Fixture, dict[str, str]]
                                                     ) -> None:
    f, tokens = site
    regions = notice_regions(f)
    assert len(regions) >= 2
    for user in OFFICE_USERS:
        prefix = tokens[f"prefix:{user}"]
        with logged_in(f, user) as (c, _csrf):
            page = c.get(REGISTER)
        assert page.status_code == 200, user
        expected = {n for n, r in regions.items() if r.startswith(prefix)}
        assert set(numbers(page.text)) == expected, user
    # a city office never sees a neighbouring city's notices: A's order is in A's city only
    _id, number_a, _code, _name = notice_of(f, f.visit_a["uscc"])
    with logged_in(f, "other_city") as (c, _csrf):
        assert number_a not in c.get(REGISTER).text
        # nor downloads it
        nid = notice_of(f, f.visit_a["uscc"])[0]
        assert c.get(f"{REGISTER}/{nid}/pdf").status_code == 403
    with logged_in(f, "city") as (c, _csrf):
        assert number_a in numbers(c.get(REGISTER).text)


def test_filters_and_pages_are_done_by_the_database(site: tuple[Fixture, dict[str, str]],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from lookback.web.console import notices as page_module

    f, _tokens = site
    _ida, number_a, _code, name_a = notice_of(f, f.visit_a["uscc"])
    _idb, number_b, _code, _name = notice_of(f, f.visit_b["uscc"])
    with logged_in(f, "national") as (c, _csrf):
        everything = numbers(c.get(REGISTER).text)
        newest_first = [n for (n,) in sql(f.db, "SELECT number FROM notice ORDER BY id DESC")]
        assert everything == newest_first
        found = numbers(c.get(REGISTER, params={"q": name_a[2:8]}).text)
        assert found == [number_a]
        found = numbers(c.get(REGISTER, params={"q": number_b}).text)
        assert found == [number_b]
        assert numbers(c.get(REGISTER, params={"kind": "warning_talk"}).text) == []
        orders = numbers(c.get(REGISTER, params={"kind": "rectification_order",
                                                 "status": "issued", "campaign": "1"}).text)
        assert {number_a, number_b} <= set(orders)
        assert numbers(c.get(REGISTER, params={"status": "pending"}).text) == []
        day = "2023-09-25"  # the fixture's NOW, China's day
        assert number_a in numbers(c.get(REGISTER, params={"from": day, "to": day}).text)
        assert numbers(c.get(REGISTER, params={"from": "2023-09-26"}).text) == []
        assert numbers(c.get(REGISTER, params={"to": "2023-09-24"}).text) == []
        # bad filters: each named, nothing listed, no error page
        bad = c.get(REGISTER, params={"from": "25/09/2023", "status": "lost", "campaign": "x"})
        assert bad.status_code == 200 and 'data-testid="ntc-filter-errors"' in bad.text
        assert "签发日期自" in bad.text and "状态" in bad.text and "督查：" in bad.text
        assert numbers(bad.text) == []
        # one notice a page: the pager walks them, keeping the filters
        monkeypatch.setattr(page_module, "PER_PAGE", 1)
        query = {"kind": "rectification_order", "campaign": "1"}
        first = c.get(REGISTER, params=query)
        assert len(numbers(first.text)) == 1 and 'rel="next"' in first.text
        link = re.search(r'href="(\?page=2[^"]*)" rel="next"', first.text)
        assert link is not None and "kind=rectification_order" in link.group(1)
        second = c.get(REGISTER + link.group(1).replace("&amp;", "&"))
        assert len(numbers(second.text)) == 1 and numbers(second.text) != numbers(first.text)
        beyond = c.get(REGISTER, params={**query, "page": "999"})
        assert beyond.status_code == 200 and numbers(beyond.text) == []


def test_a_new_notice_carries_the_qr_code_of_its_check_page(
        site: tuple[Fixture, dict[str, str]]) -> None:
    import json

    import pypdf
    import segno

    from report_templates.render import render

    f, _tokens = site
    nid, number, code, _name = notice_of(f, f.visit_a["uscc"])
    assert len(code) >= 16 and code != number and number not in code
    (content_json,), = sql(f.db, "SELECT content_json FROM notice WHERE id = ?", nid)
    content = json.loads(content_json)
    url = f"http://127.0.0.1:8000/verify/{code}"  # the default public address
    assert content["verify_url"] == url
    codes = [c for (c,) in sql(f.db, "SELECT verify_code FROM notice")]
    assert len(set(codes)) == len(codes)  # unique
    with logged_in(f, "national") as (c, _csrf):
        pdf = c.get(f"{REGISTER}/{nid}/pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert render(content) == pdf.content  # reproducible: the same content, the same bytes
    # the image on the first page is the QR code of that URL, module for module
    images = pypdf.PdfReader(io.BytesIO(pdf.content)).pages[0].images
    assert len(images) == 1
    picture = images[0].image.convert("L")
    matrix = segno.make_qr(url, error="m").matrix
    scale, border = 8, 4
    assert picture.size == ((len(matrix) + 2 * border) * scale,) * 2
    read = [[picture.getpixel(((x + border) * scale + scale // 2,
                               (y + border) * scale + scale // 2)) < 128
             for x in range(len(matrix))] for y in range(len(matrix))]
    assert read == [[bool(v) for v in row] for row in matrix]


def test_the_pdf_is_the_apis_download(site: tuple[Fixture, dict[str, str]]) -> None:
    f, tokens = site
    nid = notice_of(f, f.visit_a["uscc"])[0]
    with logged_in(f, "county") as (c, _csrf):
        page = c.get(f"{REGISTER}/{nid}/pdf")
    with api_site.client(f.db, f.db.parent / "data") as (c, _lb):
        api = c.get(f"/notices/{nid}/pdf", headers={"Authorization": f"Bearer {tokens['county']}"})
    assert page.status_code == api.status_code == 200
    assert page.content == api.content
    for header in ("content-type", "content-disposition", "etag", "x-notice-status"):
        assert page.headers[header] == api.headers[header], header


def test_verifying_an_uploaded_pdf(site: tuple[Fixture, dict[str, str]]) -> None:
    f, _tokens = site
    nid, number, _code, _name = notice_of(f, f.visit_a["uscc"])
    with logged_in(f, "viewer") as (c, csrf):
        pdf = c.get(f"{REGISTER}/{nid}/pdf").content
        url = f"{REGISTER}/verify"
        genuine = post(c, csrf, url, files={"file": ("a.pdf", pdf, "application/pdf")})
        assert genuine.status_code == 200
        assert 'data-result="valid"' in genuine.text and number in genuine.text
        altered = post(c, csrf, url, files={"file": ("a.pdf", pdf + b"\n% changed\n",
                                                     "application/pdf")})
        assert 'data-result="altered"' in altered.text
        other = post(c, csrf, url, files={"file": ("x.pdf", b"%PDF-1.4 nothing", "x")})
        assert 'data-result="unknown"' in other.text
        empty = post(c, csrf, url, files={"file": ("e.pdf", b"", "application/pdf")})
        assert empty.status_code == 200 and 'data-testid="ntc-verify-error"' in empty.text
        assert "PDF文件" in empty.text
        # not from this session's page: refused
        assert c.post(url, files={"file": ("a.pdf", pdf, "application/pdf")}).status_code == 403


def test_voiding_needs_the_office_and_a_reason(site: tuple[Fixture, dict[str, str]]) -> None:
    f, _tokens = site
    nid, number, code, _name = notice_of(f, f.visit_b["uscc"])
    url = f"{REGISTER}/{nid}/void"

    def status() -> tuple[str, str]:
        (row,) = sql(f.db, "SELECT status, void_reason FROM notice WHERE id = ?", nid)
        return str(row[0]), str(row[1])

    with logged_in(f, "viewer") as (c, csrf):
        assert 'hx-post="' + url not in c.get(REGISTER).text  # no form for a viewer
        refused = post(c, csrf, url, data={"reason": "写错了"})
        assert refused.status_code == 403 and 'data-testid="refused"' in refused.text
    assert status() == ("issued", "")
    with logged_in(f, "national") as (c, csrf):
        assert c.post(url, data={"reason": "写错了"}).status_code == 403  # no token
        blank = post(c, csrf, url, data={"reason": "   "})
        assert blank.status_code == 200 and 'data-testid="ntc-error"' in blank.text
        assert "作废理由" in blank.text
        assert status() == ("issued", "")
        done = post(c, csrf, url, data={"reason": "主送单位名称有误"})
        assert done.status_code == 200 and 'data-status="void"' in done.text
        assert "主送单位名称有误" in done.text
        assert status() == ("void", "主送单位名称有误")
        again = post(c, csrf, url, data={"reason": "再次作废"})
        assert 'data-testid="ntc-error"' in again.text and status()[1] == "主送单位名称有误"
        listed = c.get(REGISTER, params={"status": "void"}).text
        assert numbers(listed) == [number] and "主送单位名称有误" in listed
    # the public page says so, without the reason
    with api_site.client(f.db, f.db.parent / "data") as (c, _lb):
        page = c.get(f"/verify/{code}")
    assert page.status_code == 200 and 'data-status="void"' in page.text
    assert "已作废" in page.text and "2023-09-25" in page.text
    assert "主送单位名称有误" not in page.text


def test_the_public_check_page(site: tuple[Fixture, dict[str, str]]) -> None:
    f, _tokens = site
    nid, number, code, name = notice_of(f, f.visit_a["uscc"])
    (row,) = sql(f.db, "SELECT status, content_json FROM notice WHERE id = ?", nid)
    assert row[0] == "issued"
    with api_site.client(f.db, f.db.parent / "data") as (c, _lb):
        page = c.get(f"/verify/{code}")
        assert page.status_code == 200
        assert page.headers["cache-control"] == "no-store"
        assert "set-cookie" not in page.headers
        text = page.text
        assert 'data-status="valid"' in text and "有效" in text and number in text
        masked = re.search(r'data-testid="verify-addressee">([^<]+)<', text).group(1)  # type: ignore[union-attr]
        assert masked == name[:2] + "*" * (len(name) - 4) + name[-2:]
        assert name not in text and f.visit_a["uscc"] not in text
        assert "台账缺失" not in text  # nothing of the content
        assert f"/notices/{nid}" not in text and "<script" not in text
        for wrong in ("x" * 22, code[:-1] + ("A" if code[-1] != "A" else "B"), "short"):
            missing = c.get(f"/verify/{wrong}")
            assert missing.status_code == 404 and "未找到" in missing.text and "Not found" in \
                missing.text
            assert missing.headers["cache-control"] == "no-store"
            assert "set-cookie" not in missing.headers
        # a logged-in browser gets no cookie either
        login(c, "national")
        assert "set-cookie" not in c.get(f"/verify/{code}").headers


def test_the_public_check_page_is_rate_limited(site: tuple[Fixture, dict[str, str]]) -> None:
    from lookback.web.verify import LIMIT

    f, _tokens = site
    code = notice_of(f, f.visit_a["uscc"])[2]
    with api_site.client(f.db, f.db.parent / "data") as (c, _lb):
        answers = [c.get(f"/verify/{code}" if i % 2 else "/verify/unknown-code-0000000")
                   for i in range(LIMIT)]
        assert {a.status_code for a in answers} == {200, 404}
        busy = c.get(f"/verify/{code}")
        assert busy.status_code == 429
        assert 0 < int(busy.headers["retry-after"]) <= 60
        assert "请求过于频繁" in busy.text and "Too many requests" in busy.text
        assert busy.headers["cache-control"] == "no-store"


def test_the_sliding_window() -> None:
    from lookback.web.verify import SlidingWindow

    w = SlidingWindow(limit=2, window=60, max_keys=2)
    assert w.hit("a", 0) == 0 and w.hit("a", 10) == 0
    assert w.hit("a", 20) == pytest.approx(40)  # until the first leaves the window
    assert w.hit("b", 20) == 0  # another client is not held back
    assert w.hit("a", 60.5) == 0  # the first has left
    assert w.hit("c", 200) == 0  # a third client: the idle ones are forgotten
    assert w.hit("a", 200) == 0


def _wait_finished(c: Any, fragment: str, seconds: float = 120) -> str:
    deadline = time.monotonic() + seconds
    while 'data-finished="no"' in fragment:
        assert time.monotonic() < deadline, fragment
        poll = re.search(r'hx-get="([^"]+)"', fragment)
        assert poll is not None
        time.sleep(0.3)
        answer = c.get(poll.group(1))
        assert answer.status_code == 200
        fragment = answer.text
    return fragment


def test_issuing_a_batch_in_the_server_with_progress(site: tuple[Fixture, dict[str, str]]
                                                     ) -> None:
    f, _tokens = site
    circulars = "SELECT COUNT(*) FROM notice WHERE kind = 'circular' AND campaign_id = 1"
    before = web_site.count(f, circulars)
    url = f"{REGISTER}/issue"
    with logged_in(f, "county") as (c, csrf):  # campaign 1 is the nation's: not the county's
        refused = post(c, csrf, url, data={"campaign": "1", "kind": "circular", "lang": "zh"})
        assert refused.status_code == 403
    with logged_in(f, "viewer") as (c, csrf):
        assert 'hx-post="/app/office/notices/issue"' not in c.get(REGISTER).text
    with logged_in(f, "national") as (c, csrf):
        bad = post(c, csrf, url, data={"campaign": "1", "kind": "poster", "lang": "zh"})
        assert bad.status_code == 200 and 'data-testid="ntc-issue-error"' in bad.text
        assert "文书种类" in bad.text
        started = post(c, csrf, url, data={"campaign": "1", "kind": "circular", "lang": "zh"})
        assert started.status_code == 200 and 'data-testid="ntc-progress"' in started.text
        assert 'hx-trigger="every 1s"' in started.text or 'data-finished="yes"' in started.text
        done = _wait_finished(c, started.text)
        assert 'data-testid="ntc-finished"' in done and "hx-trigger" not in done
        assert "1 / 1" in done
        assert web_site.count(f, circulars) == before + 1
        # again: nothing is owed, nothing issued twice
        again = _wait_finished(c, post(c, csrf, url, data={
            "campaign": "1", "kind": "circular", "lang": "zh"}).text)
        assert "0 / 0" in again and web_site.count(f, circulars) == before + 1
        listed = c.get(REGISTER, params={"kind": "circular", "campaign": "1"}).text
        assert len(numbers(listed)) == before + 1


class _Run:
    def __init__(self, job_id: str) -> None:
        self.id, self.parameters = job_id, {"campaign_id": 1}


def test_a_batch_on_prefect_workers_is_followed_as_a_job(
        site: tuple[Fixture, dict[str, str]], monkeypatch: pytest.MonkeyPatch) -> None:
    """With a work pool serving the database the batch is the API's job (submitted the same
    way); its fragment follows the run's state and done/total until the run has ended."""
    from lookback import jobs

    f, _tokens = site
    job_id = "0b9c3a52-6d9e-4cf2-a3f5-0d3b1f6f2f11"
    submitted: list[dict[str, Any]] = []
    states = iter(["RUNNING", "COMPLETED"])

    def job(state: str, done: int) -> dict[str, Any]:
        return {"id": job_id, "kind": "issue-notices", "state": state, "state_message": None,
                "campaign_id": 1, "notice_kind": "followup_opinion", "done": done, "total": 4,
                "result": None, "url": f"http://prefect.test/runs/flow-run/{job_id}"}

    def submit(pool: Any, parameters: dict[str, Any]) -> dict[str, Any]:
        submitted.append(parameters)
        return job("SCHEDULED", 0)

    monkeypatch.setattr(jobs, "workers_for", lambda lb: object())
    monkeypatch.setattr(jobs, "submit_notices", submit)
    monkeypatch.setattr(jobs, "read_run", lambda lb, jid: (_Run(jid), object()))
    monkeypatch.setattr(jobs, "progress", lambda lb, run, pool: job(next(states), 4))
    with logged_in(f, "national") as (c, csrf):
        started = post(c, csrf, f"{REGISTER}/issue",
                       data={"campaign": "1", "kind": "followup_opinion", "lang": "zh"})
        assert submitted and submitted[0]["campaign_id"] == 1
        assert submitted[0]["kind"] == "followup_opinion" and submitted[0]["actor"]
        assert f'hx-get="/app/office/notices/jobs/{job_id}"' in started.text
        assert 'data-testid="ntc-state">SCHEDULED' in started.text
        running = c.get(f"/app/office/notices/jobs/{job_id}").text
        assert 'hx-trigger="every 1s"' in running and "4 / 4" in running
        finished = c.get(f"/app/office/notices/jobs/{job_id}").text
        assert "hx-trigger" not in finished and "COMPLETED" in finished
        assert f"http://prefect.test/runs/flow-run/{job_id}" in finished


def test_pages_need_a_log_in(site: tuple[Fixture, dict[str, str]], tmp_path: Path) -> None:
    f, _tokens = site
    with api_site.client(f.db, f.db.parent / "data") as (c, _lb):
        assert c.get(REGISTER, follow_redirects=False).status_code == 303
        login(c, "business_a")
        assert c.get(REGISTER).status_code == 403


@pytest.mark.parametrize(("name", "shown"), [
    ("徐州佳金餐厅", "徐州**餐厅"), ("某市好味道餐饮管理有限公司", "某市*********公司"),
    ("张三丰", "张*丰"), ("张三", "张*"), ("张", "张"), ("Acme Foods Ltd", "Ac**********td"),
])
def test_the_addressee_is_masked(name: str, shown: str) -> None:
    from domain.notices import mask_name

    assert mask_name(name) == shown
