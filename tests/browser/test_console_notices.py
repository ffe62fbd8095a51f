"""The console's notices in Chromium on a 390 px phone, against a real `lookback serve`: issue a
batch and watch its progress to the end, void a notice with a reason, and open the notice's
public check page (the address its QR code holds) in a fresh browser with no log-in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.browser.conftest import PHONE, fits, log_in, shot
from tests.e2e import web_site
from tests.e2e.api_site import Fixture, sql

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "console-notices.png"


TIMEOUT_MS = 20_000  # a batch is issued in the server while the page polls


def test_issue_a_batch_and_watch_it_to_the_end(context: Any, site: Fixture) -> None:
    page = context.new_page()
    log_in(page, "office", next="/app/office/notices")
    assert page.locator('[data-testid="ntc-card"]').count() == 0
    form = page.locator('[data-testid="ntc-issue"] form')
    form.locator('select[name="campaign"]').select_option("1")
    form.locator('select[name="kind"]').select_option("rectification_order")
    form.locator('button[type="submit"]').click()
    progress = page.locator('[data-testid="ntc-progress"]')
    progress.wait_for()
    page.wait_for_selector('[data-testid="ntc-progress"][data-finished="yes"]', timeout=120_000)
    issued = sql(site.db, "SELECT number FROM notice WHERE kind = 'rectification_order' "
                          "AND status = 'issued'")
    assert len(issued) == 2  # the two businesses with open issues
    assert f"{len(issued)} / {len(issued)}" in page.inner_text('[data-testid="ntc-count"]')
    shot(page, "console-notices-issued")
    page.click('text=查看本批文书')
    page.wait_for_url("**/app/office/notices?campaign=1*")
    cards = page.locator('[data-testid="ntc-card"]')
    assert cards.count() == 2
    assert {cards.nth(i).locator('[data-testid="ntc-number"]').inner_text()
            for i in range(2)} == {n for (n,) in issued}
    fits(page)


def test_void_one_with_a_reason_and_check_it_on_a_phone(context: Any, chromium: Any,
                                                        server: web_site.Server,
                                                        site: Fixture) -> None:
    page = context.new_page()
    log_in(page, "office", next="/app/office/notices")
    card = page.locator('[data-testid="ntc-card"][data-status="issued"]').first
    number = card.locator('[data-testid="ntc-number"]').inner_text()
    card.locator("summary").click()
    card.locator('button[type="submit"]').click()  # no reason yet: refused, said so
    voided = page.locator('[data-testid="ntc-card"]', has_text=number)
    voided.locator('[data-testid="ntc-error"]').wait_for()
    assert "作废理由" in voided.locator('[data-testid="ntc-error"]').inner_text()
    voided.locator('textarea[name="reason"]').fill("主送单位名称有误，重新签发")
    voided.locator('button[type="submit"]').click()
    page.wait_for_selector(f'[data-testid="ntc-card"][data-status="void"]:has-text("{number}")')
    card = page.locator('[data-testid="ntc-card"][data-status="void"]', has_text=number)
    assert "主送单位名称有误" in card.locator('[data-testid="ntc-void-reason"]').inner_text()
    (status, code), = sql(site.db, "SELECT status, verify_code FROM notice WHERE number = ?",
                          number)
    assert status == "void" and code
    page.goto("/app/office/notices")
    page.wait_for_selector('[data-testid="ntc-card"]')
    shot(page, "console-notices")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))  # the phone's screen, 390 × 844

    # a phone that scans the QR code: no log-in, no cookie
    phone = chromium.new_context(viewport=PHONE, base_url=server.url, locale="zh-CN")
    try:
        check = phone.new_page()
        answer = check.goto(f"/verify/{code}")
        assert answer is not None and answer.status == 200
        assert check.locator('[data-testid="verify-status"]').get_attribute(
            "data-status") == "void"
        assert "已作废" in check.inner_text('[data-testid="verify-status"]')
        assert check.inner_text('[data-testid="verify-number"]') == number
        assert "*" in check.inner_text('[data-testid="verify-addressee"]')
        assert "主送单位名称有误" not in check.content()
        fits(check)
        assert phone.cookies() == []
        shot(check, "console-notices-verify")
        missing = check.goto("/verify/no-such-code-0000000000")
        assert missing is not None and missing.status == 404
        assert "未找到" in check.inner_text("main")
    finally:
        phone.close()
