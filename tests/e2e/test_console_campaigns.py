"""The office console's campaigns through HTTP (TestClient on the real app, a SQLite file): the
list and a campaign's page by territory, creating from the form or a TOML file with every
mistake shown at once by its key path, a retried create stored once, the launch in this server's
process watched to the end, the draw's files (the bytes of `lookback draw export`), the
verification, closing, who may do what, and the Prefect run's state as the page shows it."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from lookback.prefect_http import FlowRun
from lookback.web.console import campaigns as console
from tests.e2e import api_site, web_site
from tests.e2e.api_site import Fixture, _cli
from tests.e2e.test_fieldwork_cli import launched
from tests.e2e.test_web_pages import login

__all__ = ["launched"]

BASE = "/app/office/campaigns"


@pytest.fixture(scope="module")
def site(launched: Path, tmp_path_factory: pytest.TempPathFactory) -> Fixture:
    """The page tests' site, with two city offices of one province and a planner, an office
    user and a viewer in each (``planner_city``, ``planner_other``, …)."""
    f = web_site.prepare(launched, tmp_path_factory.mktemp("console-campaigns"))
    web_site.add_office_users(f)
    return f


def csrf(c: Any) -> str:
    page = c.get(BASE)
    return re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]


def post(c: Any, path: str, key: str | None = None, **kw: Any) -> Any:
    headers = {"X-CSRF-Token": csrf(c), "HX-Request": "true"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return c.post(path, headers=headers, **kw)


def plan_form(title: str, **changes: str) -> dict[str, Any]:
    """A valid plan as the form sends it (the small plan of the fieldwork tests)."""
    form: dict[str, Any] = {
        "campaign.title": title, "campaign.office": "某市食品安全委员会办公室",
        "campaign.kind": "inspection", "campaign.starts_on": "2023-09-01",
        "campaign.ends_on": "2023-12-31", "campaign.seed": "7",
        "scope.provinces": "370000 410000, 440000 320000", "scope.exclusion_days": "0",
        "stages.city_per_parent": "2", "sample.total": "12", "sample.strata": ["city"],
        "sample.allocation": "proportional", "sample.min_per_stratum": "1",
        "teams.count": "3", "teams.members": "2", "teams.avoidance": "city",
        "rectification.days.minor": "5", "rectification.days.general": "10",
        "rectification.days.serious": "15", "rectification.lookback_grace_workdays": "5",
        "rectification.reminder_workdays": "3"}
    form.update(changes)
    return form


def campaigns_titled(f: Fixture, title: str) -> list[tuple[Any, ...]]:
    return api_site.sql(f.db, "SELECT id, office_id, status FROM campaign WHERE title = ?", title)


def created_id(html: str) -> int:
    m = re.search(r'href="/app/office/campaigns/(\d+)" data-testid="cmp-open"', html)
    assert m, html
    return int(m.group(1))


def client(f: Fixture) -> Any:
    return api_site.client(f.db, f.db.parent / "data")


def test_a_plan_with_mistakes_shows_every_key_path_and_stores_nothing(site: Fixture) -> None:
    with client(site) as (c, _lb):
        login(c, "planner")
        form = plan_form("", **{"campaign.ends_on": "2023-08-01", "sample.total": "many",
                                "teams.members": "1", "teams.count": "",
                                "stages.city_per_parent": "0",
                                "rectification.days.serious": "-3"})
        r = post(c, BASE, data=form)
        assert r.status_code == 200
        paths = set(re.findall(r'<li data-path="([^"]+)">', r.text))
        assert paths == {"campaign.title", "campaign.ends_on", "sample.total", "teams.members",
                         "teams.count", "stages[0].per_parent", "rectification.days.serious"}
        assert "计划有7处错误" in r.text
        for name in ("campaign.ends_on", "sample.total", "teams.members", "teams.count",
                     "stages.city_per_parent", "rectification.days.serious"):
            # the field itself is marked, and keeps what was typed
            assert re.search(rf'name="{re.escape(name)}" value="[^"]*" [^>]*aria-invalid="true"',
                             r.text), name
        assert 'value="many"' in r.text
        # the same mistakes from a file, in English
        c.get("/app/lang/en", follow_redirects=False)
        bad = "[campaign]\ntitle = 5\n\n[sample]\ntotal = 0\n\n[teams]\ncount = 1\nmembers = 1\n"
        r = post(c, BASE, files={"plan_file": ("plan.toml", bad.encode(), "text/plain")})
        paths = set(re.findall(r'<li data-path="([^"]+)">', r.text))
        assert {"campaign.office", "campaign.title", "campaign.starts_on", "campaign.ends_on",
                "sample.total", "teams.members"} <= paths
        assert "The plan has" in r.text and "expected the campaign title" in r.text
        r = post(c, BASE, files={"plan_file": ("plan.toml", "标题".encode("gbk"), "text/plain")})
        assert 'data-path="(file)"' in r.text and "not UTF-8" in r.text
    assert api_site.sql(site.db, "SELECT COUNT(*) FROM campaign WHERE title = ''") == [(0,)]


def test_create_from_the_form_and_from_a_file(site: Fixture) -> None:
    with client(site) as (c, _lb):
        login(c, "planner_city")
        page = c.get(f"{BASE}/new")
        assert page.status_code == 200 and "甲市食安办" in page.text
        r = post(c, BASE, data=plan_form("表单创建的督查", **{"campaign.seed": ""}))
        assert r.status_code == 200 and 'data-testid="cmp-created"' in r.text
        cid = created_id(r.text)
        (row,) = campaigns_titled(site, "表单创建的督查")
        office_id = api_site.sql(site.db, "SELECT id FROM office WHERE name = '甲市食安办'")[0][0]
        assert row == (cid, office_id, "draft")  # the planner's own office owns it
        assert "随机生成并已记录" in r.text  # an empty seed: drawn and recorded
        plan = (Path(__file__).parents[2] / "examples" /
                "plan-2023-two-responsibilities.toml").read_text(encoding="utf-8")
        r = post(c, BASE, files={"plan_file": ("plan.toml", plan.encode(), "text/plain")})
        assert 'data-testid="cmp-created"' in r.text
        assert campaigns_titled(site, "2023年落实食品安全“两个责任”督查")[-1][1] == office_id


def test_a_retried_create_with_the_same_key_stores_one_campaign(site: Fixture) -> None:
    with client(site) as (c, _lb):
        login(c, "planner")
        form = plan_form("重试的督查")
        first = post(c, BASE, key="create-retry-1", data=form)
        again = post(c, BASE, key="create-retry-1", data=form)
        assert first.status_code == again.status_code == 200
        assert again.headers.get("idempotent-replayed") == "true"
        assert created_id(first.text) == created_id(again.text)
        assert len(campaigns_titled(site, "重试的督查")) == 1


def test_territory_a_city_sees_only_its_own_campaigns(site: Fixture) -> None:
    with client(site) as (c, _lb):
        login(c, "planner_city")
        cid = created_id(post(c, BASE, data=plan_form("甲市的督查")).text)
    with client(site) as (c, _lb):
        login(c, "viewer_city")
        listed = c.get(BASE)
        assert f'href="{BASE}/{cid}"' in listed.text
        assert f'href="{BASE}/1"' not in listed.text  # the national campaign (no office)
        assert c.get(f"{BASE}/{cid}").status_code == 200
    for user in ("viewer_other", "planner_other"):
        with client(site) as (c, _lb):
            login(c, user)
            listed = c.get(BASE)
            assert listed.status_code == 200 and f'href="{BASE}/{cid}"' not in listed.text
            refused = c.get(f"{BASE}/{cid}")
            assert refused.status_code == 403 and "辖区" in refused.text
            assert c.get(f"{BASE}/{cid}/draw/record.json").status_code == 403
            assert post(c, f"{BASE}/{cid}/launch").status_code == 403
    with client(site) as (c, _lb):
        login(c, "viewer")  # a user of no office: the whole country
        assert f'href="{BASE}/{cid}"' in c.get(BASE).text


def test_a_viewer_may_read_but_not_create_launch_or_close(site: Fixture) -> None:
    with client(site) as (c, _lb):
        login(c, "viewer_city")
        assert 'data-testid="cmp-new"' not in c.get(BASE).text
        assert c.get(f"{BASE}/new").status_code == 403
        assert post(c, BASE, data=plan_form("观察员的督查")).status_code == 403
        assert campaigns_titled(site, "观察员的督查") == []
    with client(site) as (c, _lb):
        login(c, "viewer")
        page = c.get(f"{BASE}/1")
        assert page.status_code == 200 and 'data-testid="cmp-close"' not in page.text
        assert post(c, f"{BASE}/1/launch").status_code == 403
        assert post(c, f"{BASE}/1/close").status_code == 403
        # a write without the session's token is refused too
        assert c.post(f"{BASE}/1/verify").status_code == 403
    assert api_site.sql(site.db, "SELECT status FROM campaign WHERE id = 1") == [("launched",)]


def wait_for(c: Any, cid: int, states: set[str], timeout: float = 60) -> str:
    """Poll the progress fragment as the page does, until the run's state is one of
    ``states``; returns the last fragment."""
    deadline = time.monotonic() + timeout
    while True:
        r = c.get(f"{BASE}/{cid}/progress")
        assert r.status_code == 200
        state = re.search(r'data-state="([A-Z]*)"', r.text).group(1)  # type: ignore[union-attr]
        if state in states:
            return str(r.text)
        assert 'hx-trigger="every 1s"' in r.text  # still running: the fragment polls
        assert time.monotonic() < deadline, r.text
        time.sleep(0.2)


def test_launch_in_process_draw_files_verify_and_close(site: Fixture, tmp_path: Path) -> None:
    with client(site) as (c, _lb):
        login(c, "planner")
        cid = created_id(post(c, BASE, data=plan_form("在服务中启动的督查")).text)
        page = c.get(f"{BASE}/{cid}")
        assert 'data-testid="cmp-launch"' in page.text and "尚未抽取" in page.text
        assert post(c, f"{BASE}/{cid}/close").text.count("只有已启动的督查可以结束") == 1
        r = post(c, f"{BASE}/{cid}/launch", key=f"launch-{cid}")
        assert r.status_code == 200 and 'data-testid="cmp-actions"' in r.text
        done = wait_for(c, cid, {"COMPLETED", "FAILED"})
        assert 'data-state="COMPLETED"' in done and 'data-status="launched"' in done
        assert 'hx-trigger' not in done  # ended: no more polling
        assert "计划检查" in done and 'data-testid="cmp-close"' in done
        # launching again is safe: the same draw, no visit twice
        post(c, f"{BASE}/{cid}/launch")
        wait_for(c, cid, {"COMPLETED", "FAILED"})
        assert api_site.sql(site.db, "SELECT COUNT(*) FROM visit WHERE campaign_id = ?",
                            cid) == [(12,)]
        page = c.get(f"{BASE}/{cid}")
        assert 'data-testid="cmp-teams"' in page.text and page.text.count("<tr><td>") >= 3
        record = c.get(f"{BASE}/{cid}/draw/record.json")
        frame = c.get(f"{BASE}/{cid}/draw/frame.csv")
        assert record.status_code == frame.status_code == 200
        assert "attachment" in record.headers["content-disposition"]
        _cli(site.db, site.db.parent / "data", "draw", "export", str(cid), str(tmp_path))
        assert record.content == (tmp_path / "record.json").read_bytes()
        assert frame.content == (tmp_path / "frame.csv").read_bytes()
        assert json.loads(record.content)["total"] == 12
        verified = post(c, f"{BASE}/{cid}/verify")
        assert 'data-ok="true"' in verified.text and "核验通过" in verified.text
        metrics = c.get(f"/campaigns/{cid}/metrics", headers=site.users["planner"].headers)
        assert f"{metrics.json()['visits']['planned']}" in page.text
        closed = post(c, f"{BASE}/{cid}/close")
        assert 'data-status="closed"' in closed.text and 'data-testid="cmp-close"' not in closed.text
        c.get("/app/lang/en", follow_redirects=False)
        english = c.get(f"{BASE}/{cid}")
        assert "Rectification rate" in english.text and ">closed<" in english.text
        assert "Download the draw record" in english.text
    assert api_site.sql(site.db, "SELECT status FROM campaign WHERE id = ?", cid) == [("closed",)]


def test_a_launch_the_draw_refuses_shows_why(site: Fixture) -> None:
    with client(site) as (c, _lb):
        login(c, "planner")
        # the generated register has two businesses in Tibet (540000): too few for 12
        cid = created_id(post(c, BASE, data=plan_form(
            "空抽样框的督查", **{"scope.provinces": "540000"})).text)
        post(c, f"{BASE}/{cid}/launch")
        failed = wait_for(c, cid, {"COMPLETED", "FAILED"})
        assert 'data-state="FAILED"' in failed and "样本量（12）大于抽样框（2）" in failed
        assert 'data-status="draft"' in failed and 'data-testid="cmp-launch"' in failed


class FakePool:
    prefect_api_url = "http://prefect.invalid/api"
    ui_url = "http://prefect.invalid"


def test_the_prefect_runs_state_is_shown_and_polled_until_it_ends(
        site: Fixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a Prefect stack serving the database the launch is submitted, not run here; the
    fragment shows the run's state and message and links to it, polling until it ends."""
    run_id = "0b5e3c51-2f5c-4c59-9a43-7f3a3e9a1d11"
    state = {"run": FlowRun(run_id, "brave-otter", "SCHEDULED", "Scheduled", "")}
    submitted: list[tuple[int, str]] = []

    def submit(pool: Any, lb: Any, campaign_id: int, key: str) -> FlowRun:
        submitted.append((campaign_id, key))
        return state["run"]

    monkeypatch.setattr(console, "workers", lambda lb: FakePool())
    monkeypatch.setattr(console, "submit", submit)
    monkeypatch.setattr(console, "read_run", lambda pool, run: state["run"])
    with client(site) as (c, _lb):
        login(c, "planner")
        cid = created_id(post(c, BASE, data=plan_form("交给Prefect的督查")).text)
        r = post(c, f"{BASE}/{cid}/launch", key="prefect-launch")
        assert submitted == [(cid, "prefect-launch")]
        assert 'data-state="SCHEDULED"' in r.text and "已排队" in r.text
        assert f'hx-get="{BASE}/{cid}/progress?run={run_id}" hx-trigger="every 1s"' in r.text
        assert f'href="http://prefect.invalid/runs/flow-run/{run_id}"' in r.text
        assert 'data-testid="cmp-launch"' not in r.text  # no second launch while it runs
        for kind, name in (("PENDING", "Pending"), ("RUNNING", "Running")):
            state["run"] = FlowRun(run_id, "brave-otter", kind, name, "")
            r = c.get(f"{BASE}/{cid}/progress", params={"run": run_id})
            assert f'data-state="{kind}"' in r.text and 'hx-trigger="every 1s"' in r.text
        state["run"] = FlowRun(run_id, "brave-otter", "FAILED", "Failed",
                               "Flow run encountered an exception: the frame is empty")
        r = c.get(f"{BASE}/{cid}/progress", params={"run": run_id})
        assert 'data-state="FAILED"' in r.text and "失败" in r.text
        assert "the frame is empty" in r.text and "hx-trigger" not in r.text
        assert c.get(f"{BASE}/{cid}/progress", params={"run": "not-a-run"}).status_code == 404
