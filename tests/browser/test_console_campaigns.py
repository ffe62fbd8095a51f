"""The office console's campaigns in Chromium at 390×844, against a real `lookback serve` (no
Prefect stack: the launch runs in the server's process): a plan filled in the form with its
mistakes shown at once, then created; the launch watched until the campaign is launched; the
draw record downloaded and verified; the campaign closed after the confirmation."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from tests.browser.conftest import PHONE, log_in, shot
from tests.e2e.api_site import Fixture, sql

SCREENSHOT = Path(__file__).parents[2] / "docs" / "screenshots" / "console-campaigns.png"


TIMEOUT_MS = 20_000  # the launch runs in the server while the page polls


def fill_plan(page: Any, title: str) -> None:
    """The small plan of the fieldwork tests, typed into the form (title left as given)."""
    form = page.locator('[data-testid="cmp-plan-form"]')
    for name, value in (("campaign.title", title), ("campaign.office", "某市食品安全委员会办公室"),
                        ("campaign.starts_on", "2023-09-01"), ("campaign.ends_on", "2023-12-31"),
                        ("campaign.seed", "7"), ("scope.provinces", "370000 410000 440000 320000"),
                        ("stages.city_per_parent", "2"), ("sample.total", "12"),
                        ("sample.min_per_stratum", "1"), ("teams.count", "3")):
        form.locator(f'[name="{name}"]').fill(value)
    form.locator('input[name="sample.strata"][value="city"]').check()


def test_create_launch_download_verify_and_close(context: Any, site: Fixture,
                                                 tmp_path: Path) -> None:
    page = context.new_page()
    log_in(page, "planner")
    page.goto("/app/office/campaigns")
    page.click('[data-testid="cmp-new"]')
    page.wait_for_url("**/app/office/campaigns/new")

    # mistakes: no title, the end before the start, one inspector a team — all shown at once
    fill_plan(page, "")
    page.fill('[name="campaign.ends_on"]', "2023-08-01")
    page.fill('[name="teams.members"]', "1")
    page.click('[data-testid="cmp-create"]')
    errors = page.locator('[data-testid="cmp-errors"] li')
    errors.first.wait_for()
    assert sorted(errors.evaluate_all("els => els.map(e => e.dataset.path)")) == [
        "campaign.ends_on", "campaign.title", "teams.members"]
    assert page.locator('[name="teams.members"]').get_attribute("aria-invalid") == "true"
    shot(page, "console-campaigns-01-mistakes")

    # corrected (what was typed is kept), then created
    page.fill('[name="campaign.title"]', "浏览器创建的督查")
    page.fill('[name="campaign.ends_on"]', "2023-12-31")
    page.fill('[name="teams.members"]', "2")
    page.click('[data-testid="cmp-create"]')
    page.locator('[data-testid="cmp-created"]').wait_for()
    (cid, status), = sql(site.db, "SELECT id, status FROM campaign WHERE title = ?",
                         "浏览器创建的督查")
    assert status == "draft"
    page.click('[data-testid="cmp-open"]')
    page.wait_for_url(f"**/app/office/campaigns/{cid}")

    # launch, and watch the progress reach "launched" (run in the server's process)
    page.click('[data-testid="cmp-launch"]')
    page.locator('[data-testid="cmp-actions"][data-state="RUNNING"], '
                 '[data-testid="cmp-actions"][data-state="COMPLETED"]').first.wait_for()
    page.locator('[data-testid="cmp-actions"][data-status="launched"]'
                 '[data-state="COMPLETED"]').wait_for(timeout=60_000)
    assert page.inner_text('[data-testid="cmp-status"]') == "已启动"
    assert page.locator('[data-testid="cmp-actions"]').get_attribute("hx-trigger") is None
    shot(page, "console-campaigns-02-launched")
    page.click('[data-testid="cmp-reload"]')
    assert page.locator('[data-testid="cmp-teams"] tbody tr').count() == 3

    # the draw record downloaded: the published record of the launch
    with page.expect_download() as info:
        page.click('[data-testid="cmp-record"]')
    download = info.value
    assert download.suggested_filename == f"campaign-{cid}-record.json"
    saved = tmp_path / "record.json"
    download.save_as(str(saved))
    record = json.loads(saved.read_text(encoding="utf-8"))
    (stored,), = sql(site.db, "SELECT record_json FROM draw_record WHERE campaign_id = ?", cid)
    assert record == json.loads(stored) and record["total"] == 12

    page.click('[data-testid="cmp-verify"]')
    result = page.locator('[data-testid="cmp-verify-result"]')
    result.wait_for()
    assert result.get_attribute("data-ok") == "true" and "核验通过" in result.inner_text()

    # close, after the confirmation
    dialogs: list[str] = []

    def accept(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    page.click('[data-testid="cmp-close"]')
    page.locator('[data-testid="cmp-actions"][data-status="closed"]').wait_for()
    assert dialogs and "确定结束" in dialogs[0]
    assert sql(site.db, "SELECT status FROM campaign WHERE id = ?", cid) == [("closed",)]

    page.goto("/app/office/campaigns")
    page.locator(f'[data-campaign="{cid}"]').wait_for()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    path = shot(page, "console-campaigns")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, SCREENSHOT)
