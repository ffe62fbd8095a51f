"""The field app in Chromium: an online interview, a day offline (two interviews and a finding
with a photo, the page reloaded, the network back), a lost answer, a business's rectification,
a refusal, the keyboard and the 360 px layout, and screenshots of every page at 390×844."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from tests.browser.conftest import PHONE, log_in, shot
from tests.e2e import web_site
from tests.e2e.api_site import Fixture, sql
from tests.e2e.web_site import PASSWORD, count


def fill_interview(page: Any, name: str, fail_first: bool) -> None:
    page.fill('input[name="name"]', name)
    sets = page.locator("fieldset[data-item]")
    for i in range(sets.count()):
        s = sets.nth(i)
        s.locator('input[value="fail"]' if fail_first and i == 0 else 'input[value="pass"]').check()
        if fail_first and i == 0:
            s.locator("textarea").fill("未见记录 " + name)


def outbox_empty(page: Any, sent: int = 1, timeout: int = 20_000) -> None:
    """Wait until ``sent`` submissions have been sent (the outbox's log of what went) and
    nothing is left in the outbox."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(
            "n => JSON.parse(localStorage.getItem('lookback-recent') || '[]').length >= n && "
            "document.getElementById('outbox-count').textContent === '0'", arg=sent,
            timeout=timeout)
    except PlaywrightTimeout:
        held = page.evaluate("window.lookbackOutbox.items().then(all => all.map(i => "
                             "({label: i.label, state: i.state, message: i.message, "
                             "step: i.step})))")
        raise AssertionError(f"the outbox did not empty: {held}") from None


def interviews(f: Fixture, name: str) -> int:
    return count(f, "SELECT COUNT(*) FROM interview WHERE name = ?", name)


def photo(tmp_path: Path, width: int = 3000, height: int = 2000) -> Path:
    from PIL import Image

    path = tmp_path / "kitchen.jpg"
    Image.new("RGB", (width, height), (180, 90, 40)).save(path, "JPEG", quality=90)
    return path


def test_online_interview_registers_the_issue(context: Any, site: Fixture) -> None:
    page = context.new_page()
    log_in(page, "auditor_a")
    shot(page, "01-visits")
    page.click(f'a[href="/app/visits/{site.visit_a["id"]}"]')
    shot(page, "02-visit")
    page.click(f'a[href="/app/visits/{site.visit_a["id"]}/interview/director"]')
    fill_interview(page, "张总监", fail_first=True)
    shot(page, "03-interview")
    page.click('button[type="submit"].primary')
    outbox_empty(page)
    assert interviews(site, "张总监") == 1
    (issue_id,), = sql(site.db, "SELECT i.id FROM issue i JOIN answer a "
                                    "ON a.item_id = i.item_id JOIN interview v ON v.id = "
                                    "a.interview_id WHERE v.name = '张总监' AND a.result = "
                                    "'fail' AND i.visit_id = ?", site.visit_a["id"])
    page.goto(f"/app/visits/{site.visit_a['id']}")
    assert f"#{issue_id}" in page.inner_text('[data-testid="issues"]')


def test_a_day_offline_is_sent_once_when_the_network_returns(
        context: Any, site: Fixture, server: web_site.Server, tmp_path: Path) -> None:
    from PIL import Image

    visit = site.visit_a["id"]
    page = context.new_page()
    log_in(page, "auditor_a")
    page.goto("/app/visits")  # hands the day's pages to the service worker
    page.wait_for_function(
        f"async () => !!(await caches.match('/app/visits/{visit}/interview/officer')) && "
        f"!!(await caches.match('/app/visits/{visit}/finding'))", timeout=20_000)
    page.goto(f"/app/visits/{visit}/interview/director")
    assert page.evaluate("navigator.serviceWorker.controller !== null")

    server.stop()  # no network: the server is gone, and the browser knows it
    context.set_offline(True)
    try:
        fill_interview(page, "离线总监", fail_first=False)
        page.click('button[type="submit"].primary')
        page.wait_for_function("document.getElementById('outbox-count').textContent === '1'")
        page.goto(f"/app/visits/{visit}/interview/officer")  # never opened: cached for the day
        fill_interview(page, "离线安全员", fail_first=True)
        page.click('button[type="submit"].primary')
        page.goto(f"/app/visits/{visit}/finding")
        page.fill('textarea[name="description"]', "冷库温度记录缺失（离线）")
        page.set_input_files('input[name="photos"]', str(photo(tmp_path)))
        page.click('button[type="submit"].primary')
        page.wait_for_function("document.getElementById('outbox-count').textContent === '3'")
        page.reload()  # the queue is in IndexedDB, not in the page
        page.wait_for_function("document.getElementById('outbox-count').textContent === '3'")
        page.goto("/app/queue")
        shot(page, "04-outbox-offline")
        states = page.locator('#queue-list li[data-state="queued"]').count()
        assert states == 3
        assert interviews(site, "离线总监") == 0
    finally:
        server.start()
        context.set_offline(False)
    outbox_empty(page, sent=3, timeout=40_000)
    assert interviews(site, "离线总监") == 1 and interviews(site, "离线安全员") == 1
    assert count(site, "SELECT COUNT(*) FROM issue WHERE description = ?",
                 "冷库温度记录缺失（离线）") == 1
    (sha,), = sql(site.db, "SELECT e.sha256 FROM issue_evidence e JOIN issue i ON i.id = "
                  "e.issue_id WHERE i.description = ?", "冷库温度记录缺失（离线）")
    stored = next((site.db.parent / "data" / "evidence").rglob(sha))
    with Image.open(io.BytesIO(stored.read_bytes())) as img:
        assert max(img.size) <= 1600  # scaled in the browser before it was queued


def test_a_lost_answer_is_retried_and_stored_once(chromium: Any, server: web_site.Server,
                                                  site: Fixture) -> None:
    ctx = chromium.new_context(viewport=PHONE, base_url=server.url, service_workers="block")
    try:
        page = ctx.new_page()
        log_in(page, "auditor_a")
        dropped: list[str] = []

        def drop_the_first_answer(route: Any) -> None:
            if not dropped:
                route.fetch()  # the server receives it and stores the interview...
                dropped.append(route.request.headers.get("idempotency-key", ""))
                route.abort("connectionreset")  # ...and its answer never reaches the phone
            else:
                route.continue_()

        page.route("**/visits/*/interviews", drop_the_first_answer)
        page.goto(f"/app/visits/{site.visit_a['id']}/interview/owner")
        fill_interview(page, "丢包店主", fail_first=False)
        page.click('button[type="submit"].primary')
        page.wait_for_function("() => window.lookbackOutbox !== undefined")
        page.wait_for_timeout(500)
        assert dropped and interviews(site, "丢包店主") == 1  # stored, the answer lost
        assert page.inner_text("#outbox-count") == "1"  # so the phone still holds it
        page.evaluate("window.lookbackOutbox.flush()")
        outbox_empty(page)
        assert interviews(site, "丢包店主") == 1
    finally:
        ctx.close()


def test_a_business_reports_its_rectification_with_a_photo(context: Any, site: Fixture,
                                                          tmp_path: Path) -> None:
    page = context.new_page()
    log_in(page, "business_a")
    shot(page, "05-business")
    card = page.locator('[data-testid="issue"]', has_text=f"#{site.issue_a}")
    card.locator("summary").click()
    card.locator('textarea[name="measures"]').fill("已建立进货查验台账并培训员工")
    card.locator('input[name="photos"]').set_input_files(str(photo(tmp_path, 2400, 1800)))
    card.locator('button[type="submit"]').click()
    outbox_empty(page)
    (status,), = sql(site.db, "SELECT status FROM issue WHERE id = ?", site.issue_a)
    assert status == "rectification_reported"
    assert count(site, "SELECT COUNT(*) FROM issue_evidence WHERE issue_id = ? AND purpose = "
                       "'rectification'", site.issue_a) == 1


def test_another_teams_visit_is_a_clear_refusal(context: Any, site: Fixture) -> None:
    page = context.new_page()
    log_in(page, "auditor_a")
    response = page.goto(f"/app/visits/{site.visit_b['id']}")
    assert response.status == 403
    text = page.inner_text('[data-testid="refused"]')
    assert "督查组" in text
    shot(page, "06-refused")


def test_keyboard_only_and_360px(chromium: Any, server: web_site.Server, site: Fixture) -> None:
    ctx = chromium.new_context(viewport={"width": 360, "height": 740}, base_url=server.url)
    try:
        page = ctx.new_page()
        page.goto("/app/login")
        page.keyboard.type("auditor_b")  # the name field has the focus
        page.keyboard.press("Tab")
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url("**/app/visits")
        pages = ["/app/visits", f"/app/visits/{site.visit_b['id']}",
                 f"/app/visits/{site.visit_b['id']}/interview/officer",
                 f"/app/visits/{site.visit_b['id']}/finding", "/app/followups", "/app/queue"]
        for url in pages:
            page.goto(url)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 360, (url, width)
        # an interview by keyboard alone: the name, then each item's first choice (pass)
        page.goto(f"/app/visits/{site.visit_b['id']}/interview/officer")
        page.focus('input[name="name"]')
        page.keyboard.type("键盘安全员")
        for _ in range(page.locator("fieldset[data-item]").count()):
            page.keyboard.press("Tab")  # to the item's choices
            page.keyboard.press("Space")  # pass
            page.keyboard.press("Tab")  # its note
        page.keyboard.press("Tab")  # the save button
        page.keyboard.press("Enter")
        outbox_empty(page)
        assert interviews(site, "键盘安全员") == 1
    finally:
        ctx.close()


def test_logging_out_with_work_queued_asks_first(context: Any, site: Fixture,
                                                 server: web_site.Server) -> None:
    page = context.new_page()
    log_in(page, "auditor_b")
    page.goto(f"/app/visits/{site.visit_b['id']}/finding")
    context.set_offline(True)  # the outbox keeps it: no network to send it on
    page.fill('textarea[name="description"]', "留待联网发送")
    page.click('button[type="submit"].primary')
    page.wait_for_function("document.getElementById('outbox-count').textContent === '1'")
    asked: list[str] = []

    def answer(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.dismiss()  # "stay"

    page.on("dialog", answer)
    page.click("#logout-form button")
    page.wait_for_timeout(300)
    assert asked and "未发送" in asked[0]
    assert "/app/visits" in page.url  # still on the page, still logged in
    context.set_offline(False)
    outbox_empty(page)
    assert count(site, "SELECT COUNT(*) FROM issue WHERE description = '留待联网发送'") == 1
    page.remove_listener("dialog", answer)
    page.click("#logout-form button")  # nothing queued: no question, logged out
    page.wait_for_url("**/app/login")
    assert page.request.get("/app/session").status == 401


def test_an_auditor_records_a_lookback_check_and_completes_a_visit(
        context: Any, site: Fixture) -> None:
    from tests.e2e.test_fieldwork_cli import run

    run("--db", str(site.db), "--data-dir", str(site.db.parent / "data"), "--now",
        "2023-10-20T09:00:00+08:00", "followup", "sweep")  # issue B's look-back opens
    page = context.new_page()
    log_in(page, "auditor_b")
    page.goto("/app/followups")
    shot(page, "07-lookbacks")
    card = page.locator('[data-testid="lookback"]', has_text=f"#{site.issue_b}")
    card.locator('select[name="outcome"]').select_option("partial")
    card.locator('input[name="hard_measures"][value="true"]').check()
    card.locator('input[name="fixed"][value="false"]').check()
    card.locator('input[name="mechanism"][value="false"]').check()
    card.locator('textarea[name="note"]').fill("许可证已公示，但未建立长效机制")
    card.locator('button[type="submit"]').click()
    outbox_empty(page)
    (outcome, hard, fixed, mechanism), = sql(
        site.db, "SELECT outcome, hard_measures, fixed, mechanism FROM followup WHERE "
        "issue_id = ? AND outcome <> ''", site.issue_b)
    assert (outcome, bool(hard), bool(fixed), bool(mechanism)) == ("partial", True, False, False)
    page.goto(f"/app/visits/{site.visit_b['id']}")
    page.click('form[data-queue="complete"] button')
    outbox_empty(page, sent=2)
    (status,), = sql(site.db, "SELECT status FROM visit WHERE id = ?", site.visit_b["id"])
    assert status == "done"


def test_a_cadre_records_a_supervision_visit_with_a_finding_and_a_lead(
        context: Any, site: Fixture) -> None:
    web_site.add_cadre_user(site, "qian", "B1", "钱干部")
    page = context.new_page()
    log_in(page, "qian")
    shot(page, "08-cadre")
    card = page.locator('[data-testid="assigned"]').first
    card.locator("summary").click()
    card.locator('textarea[name="note"]').fill("检查后厨与冷库")
    card.locator('select[name="category"]').select_option("hygiene_storage")
    card.locator('textarea[name="description"]').fill("冷藏柜温度超标")
    card.locator('textarea[name="leads"]').fill("疑似销售过期食品")
    card.locator('button[type="submit"]').click()
    outbox_empty(page)
    (status, by), = sql(site.db, "SELECT status, recorded_by FROM supervision_visit WHERE "
                        "cadre_id = 'B1'")
    assert (status, by) == ("done", "api:qian")
    assert count(site, "SELECT COUNT(*) FROM issue WHERE description = '冷藏柜温度超标' AND "
                       "supervision_visit_id IS NOT NULL") == 1
    assert count(site, "SELECT COUNT(*) FROM referral WHERE description = '疑似销售过期食品'") == 1
