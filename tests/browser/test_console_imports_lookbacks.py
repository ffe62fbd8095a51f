"""The console's imports and look-backs pages in Chromium on a phone (390×844): a CSV with one
bad row uploaded through the htmx form, the counts shown in place and the reject report
downloaded; the look-backs page fitting the screen, its lists reached by keyboard. Screenshots
of both go to docs/screenshots/."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import fits, log_in, shot
from tests.e2e.api_site import Fixture, sql

SCREENSHOTS = Path(__file__).parents[2] / "docs" / "screenshots"


@pytest.fixture
def page(context: Any) -> Any:
    """The planner, logged in on a phone."""
    p = context.new_page()
    log_in(p, "planner", next="/app/office")
    return p


def test_upload_a_csv_with_a_bad_row_and_download_the_report(page: Any, site: Fixture,
                                                             tmp_path: Path) -> None:
    rows = sql(site.db, "SELECT uscc, name, region_code, category, risk_level FROM business "
                        "ORDER BY uscc LIMIT 2")
    register = tmp_path / "名录.csv"
    register.write_text("uscc,name,region_code,category,risk_level\n" + "".join(
        ",".join(r) + "\n" for r in rows) + "BAD-USCC,坏行,110101,catering,A\n", encoding="utf-8")
    page.goto("/app/office/imports")
    fits(page)
    page.select_option('select[name="kind"]', "businesses")
    page.set_input_files('input[type="file"]', str(register))
    page.click('[data-testid="imp-form"] button[type="submit"]')
    page.wait_for_selector('[data-testid="imp-result"]')
    assert page.inner_text('[data-testid="imp-read"]') == "3"
    assert page.inner_text('[data-testid="imp-accepted"]') == "2"
    assert page.inner_text('[data-testid="imp-rejected"]') == "1"
    assert "名录.csv" in page.inner_text('[data-testid="imp-recent"]')
    shot(page, "console-imports")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "console-imports.png"), full_page=True)
    with page.expect_download() as got:
        page.click('[data-testid="imp-report"]')
    saved = tmp_path / "report.csv"
    got.value.save_as(saved)
    data = saved.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    lines = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert {line[0] for line in lines[1:]} == {"4"} and "BAD-USCC" in lines[1]
    # the form was replaced by a fresh one: a second upload is a new import
    page.set_input_files('input[type="file"]', str(register))
    page.click('[data-testid="imp-form"] button[type="submit"]')
    page.wait_for_function("document.querySelectorAll('[data-testid=imp-recent] tbody tr')"
                           ".length >= 2")


def test_a_bad_file_is_explained_in_place(page: Any, tmp_path: Path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("hello", encoding="utf-8")
    page.goto("/app/office/imports")
    page.set_input_files('input[type="file"]', str(bad))
    page.click('[data-testid="imp-form"] button[type="submit"]')
    page.wait_for_selector('[data-testid="imp-error"]')
    assert "不是CSV或XLSX" in page.inner_text('[data-testid="imp-error"]')


def test_the_lookbacks_page_on_a_phone(page: Any) -> None:
    page.goto("/app/office/lookbacks?tab=pending")
    fits(page)
    assert page.is_visible('[data-testid="lbk-scheduler"]')
    assert page.is_visible('[data-testid="lbk-no-scheduler"]')  # nothing runs in this test
    assert page.locator('[data-testid="lbk-list"] tbody tr').count() >= 2
    shot(page, "console-lookbacks")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "console-lookbacks.png"), full_page=True)
    # the lists by keyboard: focus the "late" tab and follow it
    page.focus('[data-testid="lbk-tabs"] a[data-tab="late"]')
    page.keyboard.press("Enter")
    page.wait_for_url("**tab=late")
    assert page.get_attribute('[data-tab="late"]', "aria-current") == "page"
