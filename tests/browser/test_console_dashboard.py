"""The office console's dashboard in Chromium: an office user logs in, lands on the dashboard,
drills down region by region to a county, a business and an issue with its history; the pages
fit a 360 px phone and are usable from the keyboard."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import PHONE, fits, log_in, shot
from tests.e2e import web_site
from tests.e2e.api_site import Fixture


def test_drill_down_from_the_dashboard_to_an_issue(context: Any, site: Fixture) -> None:
    page = context.new_page()
    log_in(page, "office")
    page.wait_for_url("**/app/office")
    assert page.locator('[data-testid="figures"] li').count() >= 8
    assert page.locator("svg.chart").count() == 1
    shot(page, "console-01-dashboard")
    region = site.visit_a["region"]
    for digits in (2, 4, 6):  # province, city, county
        page.click(f'a[href="/app/office?region={region[:digits]}"]')
        page.wait_for_url(f"**/app/office?region={region[:digits]}")
    assert page.locator('[data-testid="businesses"]').is_visible()
    page.click(f'a[href="/app/office/businesses/{site.visit_a["uscc"]}"]')
    page.click(f'a[href="/app/office/issues/{site.issue_a}"]')
    page.wait_for_url(f"**/app/office/issues/{site.issue_a}")
    assert page.locator('[data-testid="history"] tbody tr').count() >= 1
    assert "台账缺失" in page.inner_text("main")
    shot(page, "console-02-issue")
    fits(page, PHONE["width"])


def test_the_dashboard_fits_a_narrow_phone_and_the_keyboard(chromium: Any,
                                                           server: web_site.Server) -> None:
    ctx = chromium.new_context(viewport={"width": 360, "height": 740}, base_url=server.url)
    try:
        page = ctx.new_page()
        log_in(page, "viewer")
        page.wait_for_url("**/app/office")
        fits(page, 360)
        # Tab reaches the console's navigation, and Enter follows a link
        for _ in range(12):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.closest('[data-testid=console-nav]') "
                             "!== null"):
                break
        else:
            raise AssertionError("the console's navigation is not reachable with Tab")
        page.keyboard.press("Tab")  # the second link: campaigns
        page.keyboard.press("Enter")
        page.wait_for_url("**/app/office/campaigns*")
    finally:
        ctx.close()
