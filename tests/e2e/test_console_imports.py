"""The console's imports page through HTTP: a CSV and an XLSX register with good and bad rows
(the counts, the reject report's content, its download), a city office's import refusing
another city's rows, a retried upload (same Idempotency-Key) importing once, bad files storing
nothing, and the recent imports listed by territory, a page at a time."""

from __future__ import annotations

import csv
import functools
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lookback.web.console import base
from lookback.web.console import imports as imports_page
from tests.e2e import api_site, web_site
from tests.e2e.api_site import Fixture, sql
from tests.e2e.test_fieldwork_cli import launched
from tests.e2e.test_web_pages import login

__all__ = ["launched"]

HEADER = "uscc,name,region_code,category,risk_level,address\n"
BOUNDARY = "lookback-test-boundary"


@dataclass
class Site:
    f: Fixture
    city: str  # the prefix of business A's city
    other: str  # the prefix of another city of its province


@pytest.fixture(scope="module")
def site(launched: Path, tmp_path_factory: pytest.TempPathFactory) -> Site:
    f = web_site.prepare(launched, tmp_path_factory.mktemp("console-imports"))
    city, other = web_site.add_office_users(f)
    return Site(f, city, other)


def token_of(page: str) -> str:
    found = re.search(r'"X-CSRF-Token": "([^"]+)"', page)
    assert found, "the upload form carries the session's token"
    return found.group(1)


def upload(c: Any, name: str, content: bytes, kind: str = "businesses",
           key: str | None = None) -> Any:
    """The upload form sent as htmx sends it (its token; a fixed multipart boundary, so a
    retry is byte for byte the same request)."""
    token = token_of(c.get("/app/office/imports").text)
    headers = {"X-CSRF-Token": token, "HX-Request": "true",
               "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    if key:
        headers["Idempotency-Key"] = key
    return c.post("/app/office/imports", data={"kind": kind},
                  files={"file": (name, content, "application/octet-stream")}, headers=headers)


def businesses(site: Site, prefix: str, n: int) -> list[tuple[str, str, str, str, str]]:
    return [tuple(r) for r in sql(  # type: ignore[misc]
        site.f.db, "SELECT uscc, name, region_code, category, risk_level FROM business "
        "WHERE region_code LIKE ? ORDER BY uscc LIMIT ?", prefix + "%", n)]


def csv_of(rows: list[tuple[str, ...]]) -> bytes:
    return (HEADER + "".join(",".join(r) + ",某路1号\n" for r in rows)).encode("utf-8")


def figure(page: str, name: str) -> int:
    found = re.search(rf'data-testid="imp-{name}">(\d+)<', page)
    assert found, f"no {name} count on the page"
    return int(found.group(1))


def report_rows(c: Any, page: str) -> list[list[str]]:
    link = re.search(r'href="(/app/office/imports/\d+/rejects\.csv)"', page)
    assert link, "the result links its reject report"
    r = c.get(link.group(1))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    assert r.content.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM: Excel reads the Chinese
    return list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))


def runs(site: Site) -> int:
    return web_site.count(site.f, "SELECT COUNT(*) FROM import_run")


def test_a_city_office_imports_its_rows_and_refuses_another_citys(site: Site) -> None:
    mine = businesses(site, site.city, 2)
    theirs = businesses(site, site.other, 1)
    assert len(mine) == 2 and len(theirs) == 1
    rows = [(u, n + "（新）", r, c, k) for u, n, r, c, k in mine + theirs]
    rows.append(("12345", "=HYPERLINK(\"http://x\")", mine[0][2], "catering", "B"))
    with api_site.client(site.f.db, site.f.db.parent / "data") as (c, _lb):
        login(c, "planner_city")
        before = runs(site)
        r = upload(c, "甲市名录.csv", csv_of(rows))
        assert r.status_code == 200, r.text
        assert (figure(r.text, "read"), figure(r.text, "accepted"),
                figure(r.text, "rejected")) == (4, 2, 2)
        assert runs(site) == before + 1
        names = dict(sql(site.f.db, "SELECT uscc, name FROM business WHERE uscc IN (?, ?, ?)",
                         mine[0][0], mine[1][0], theirs[0][0]))
        assert names[mine[0][0]].endswith("（新）") and names[mine[1][0]].endswith("（新）")
        assert names[theirs[0][0]] == theirs[0][1]  # the other city's row was not stored
        report = report_rows(c, r.text)
        assert report[0][:5] == ["行号 row", "字段 field", "类型 kind", "原因 reason",
                                 "reason (English)"]
        by_row = {line[0]: line for line in report[1:]}
        outside = by_row["4"]  # the other city's business, on line 4 of the file
        assert outside[1] == "region_code" and site.other in outside[4]
        assert "outside" in outside[4] and theirs[0][0] in outside
        bad = by_row["5"]
        assert bad[2] == "拒绝 rejected" and "12345" in bad
        assert "'=HYPERLINK(\"http://x\")" in bad  # a formula stays text in a spreadsheet
        # the list of recent imports names it, with its report
        listed = c.get("/app/office/imports").text
        assert "甲市名录.csv" in listed and "/rejects.csv" in listed


def test_an_xlsx_register_with_a_bad_row(site: Site) -> None:
    from openpyxl import Workbook

    (u, n, region, cat, _risk), = businesses(site, site.city, 1)
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["统一社会信用代码", "名称", "行政区划代码", "类别", "风险等级"])
    ws.append([u, n, region, cat, "C"])
    ws.append(["91110000MA00000000", "坏行", region, cat, "Z"])
    buf = io.BytesIO()
    wb.save(buf)
    with api_site.client(site.f.db, site.f.db.parent / "data") as (c, _lb):
        login(c, "planner")  # of no office: the whole country
        r = upload(c, "名录.xlsx", buf.getvalue())
        assert r.status_code == 200, r.text
        assert (figure(r.text, "read"), figure(r.text, "accepted"),
                figure(r.text, "rejected")) == (2, 1, 1)
        report = report_rows(c, r.text)
        assert {line[0] for line in report[1:]} == {"3"}  # its problems, one line each
        assert "坏行" in report[1] and "Z" in report[1]
    assert sql(site.f.db, "SELECT risk_level FROM business WHERE uscc = ?", u) == [("C",)]


def test_a_retry_with_the_same_key_imports_once(site: Site) -> None:
    rows = [(u, n + "·重试", r, cat, k) for u, n, r, cat, k in businesses(site, site.city, 1)]
    with api_site.client(site.f.db, site.f.db.parent / "data") as (c, _lb):
        login(c, "planner_city")
        before = runs(site)
        first = upload(c, "重试.csv", csv_of(rows), key="retry-1")
        again = upload(c, "重试.csv", csv_of(rows), key="retry-1")
        assert first.status_code == again.status_code == 200
        assert again.headers.get("idempotent-replayed") == "true"
        assert again.text == first.text
        assert runs(site) == before + 1
        other = upload(c, "重试.csv", csv_of(rows), key="retry-2")  # a new form: a new import
        assert other.status_code == 200 and runs(site) == before + 2


@pytest.mark.parametrize(("name", "content", "says"), [
    ("名录.docx", b"PK\x03\x04whatever", "不是CSV或XLSX"),
    ("名录.csv", b"\xff\xfe" + (HEADER + "x,y,z,w,v,u\n").encode("utf-16-le"), "无法按UTF-8"),
    ("名录.csv", "name,region_code,category,risk_level\n某店,110101,catering,A\n".encode(),
     "统一社会信用代码"),
    ("名录.csv", HEADER.encode(), "只有标题行"),
    ("名录.csv", b"", "文件为空"),
])
def test_a_bad_file_says_why_and_stores_nothing(site: Site, name: str, content: bytes,
                                                says: str) -> None:
    with api_site.client(site.f.db, site.f.db.parent / "data") as (c, _lb):
        login(c, "planner_city")
        before = runs(site)
        events = web_site.count(site.f, "SELECT COUNT(*) FROM event")
        r = upload(c, name, content)
        assert r.status_code == 422
        assert 'data-testid="imp-error"' in r.text and says in r.text, r.text
        assert name in r.text or says == "文件为空"
        assert 'data-testid="imp-form"' in r.text  # a fresh form to try again
    assert runs(site) == before
    assert web_site.count(site.f, "SELECT COUNT(*) FROM event") == events
    assert not list((site.f.db.parent / "data" / "imports").glob(".upload-*"))


def test_a_file_too_large_is_refused(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imports_page, "MAX_UPLOAD", 100)
    rows = businesses(site, site.city, 3)
    with api_site.client(site.f.db, site.f.db.parent / "data") as (c, _lb):
        login(c, "planner_city")
        before = runs(site)
        c.cookies.set("lookback_lang", "en")
        r = upload(c, "big.csv", csv_of(rows))
        assert r.status_code == 422 and "larger than" in r.text
    assert runs(site) == before


def test_who_may_import_and_whose_imports_are_listed(site: Site,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    with api_site.client(site.f.db, site.f.db.parent / "data") as (c, _lb):
        login(c, "planner_city")
        upload(c, "甲市-1.csv", csv_of(businesses(site, site.city, 1)))
        upload(c, "甲市-2.csv", csv_of(businesses(site, site.city, 1)))
        login(c, "planner_other")
        upload(c, "乙市.csv", csv_of(businesses(site, site.other, 1)))
        other_page = c.get("/app/office/imports").text
        assert "乙市.csv" in other_page and "甲市-1.csv" not in other_page
        city_ids = [i for (i,) in sql(site.f.db, "SELECT entity FROM event WHERE kind = "
                                      "'registry.imported' AND payload LIKE ?",
                                      f'%"territory":"{site.city}%')]
        assert city_ids
        refused = c.get(f"/app/office/imports/{city_ids[0].removeprefix('import:')}/rejects.csv")
        assert refused.status_code in (403, 404)
        # a viewer of the city reads the list, without the form; an upload is refused
        login(c, "viewer_city")
        page = c.get("/app/office/imports").text
        assert "甲市-2.csv" in page and 'data-testid="imp-form"' not in page
        assert 'data-testid="imp-planners-only"' in page
        r = c.post("/app/office/imports", data={"kind": "businesses"},
                   files={"file": ("x.csv", b"x", "text/csv")},
                   headers={"X-CSRF-Token": token_of_meta(page)})
        assert r.status_code == 403
        # a page at a time, newest first
        monkeypatch.setattr(imports_page, "pager", functools.partial(base.pager, per_page=1))
        login(c, "planner_city")
        first, second = c.get("/app/office/imports").text, c.get(
            "/app/office/imports?page=2").text
        assert "甲市-2.csv" in first and "甲市-1.csv" not in first
        assert "甲市-1.csv" in second and 'rel="prev"' in second
        assert "乙市.csv" not in first + second


def test_a_report_of_another_territory_is_refused(site: Site) -> None:
    with api_site.client(site.f.db, site.f.db.parent / "data") as (c, _lb):
        login(c, "planner_city")
        bad = [("12345", "坏", "110101", "catering", "A")]
        r = upload(c, "坏.csv", csv_of(bad))
        link = re.search(r'href="(/app/office/imports/\d+/rejects\.csv)"', r.text)
        assert link
        login(c, "office_other")
        refused = c.get(link.group(1))
        assert refused.status_code == 403 and 'data-testid="refused"' in refused.text
        login(c, "office_city")
        assert c.get(link.group(1)).status_code == 200
        assert c.get("/app/office/imports/999999/rejects.csv").status_code == 404


def token_of_meta(page: str) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
    assert found
    return found.group(1)
