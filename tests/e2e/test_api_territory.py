"""Territory (属地管理) through the API: an office's users see and act only within its territory,
a higher office over everything below it.

On the launched campaign of the API tests: offices are added for the province, the city and
the county of issue A's business, for another city of that province, and a national office;
then one user per office, and one of no office. Each user must see exactly the issues and
visits whose business's region code starts with its office's territory prefix — A's county,
city and province offices see issue A; whether they see issue B depends on where B's business
lies, and is computed the same way; the other city sees neither; the national office and a user
of no office see both. Asked for an issue or visit outside, the answer is 403 naming the
territory. Campaigns: the national one only for the national level; one planned by A's city
office for that office and those above it, not for the county below it or the other city.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from domain import access
from domain.offices import NewOffice, add_offices
from lookback.bootstrap import bootstrap
from lookback.settings import Settings
from tests.e2e import api_site
from tests.e2e.api_site import NOW, Fixture, _cli
from tests.e2e.test_fieldwork_cli import launched  # the fixture is used by name
from tests.plans import small_plan

__all__ = ["launched"]


@pytest.fixture(scope="module")
def fx(launched: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Fixture, dict[str, str]]:
    folder = tmp_path_factory.mktemp("territory")
    fx = api_site.prepare(launched, folder)
    region_a = fx.visit_a["region"]
    province, city = region_a[:2] + "0000", region_a[:4] + "00"
    lb = bootstrap(Settings(database_url=f"sqlite:///{fx.db}", data_dir=folder / "data",
                            now=NOW))
    try:
        with lb.read_uow_factory()() as uow:
            other_city = next(c for c in (f"{region_a[:2]}{n:02d}00" for n in range(1, 99))
                              if c != city and uow.regions.region_level(c) == "city")
        add_offices([
            NewOffice("国家食安办", "国食安办", "national", "000000", None),
            NewOffice("甲省食安办", "甲省食安办", "province", province, "国家食安办"),
            NewOffice("甲市食安办", "甲市食安", "city", city, "甲省食安办"),
            NewOffice("甲县食安办", "甲县食安", "county", region_a, "甲市食安办"),
            NewOffice("乙市食安办", "乙市食安", "city", other_city, "甲省食安办"),
        ], actor="test", uow_factory=lb.uow_factory(), clock=lb.clock)
        from flows.issuing import issue_inline

        # rectification orders for the businesses with open issues (A's and B's), as the API
        # issues them
        issue_inline(1, "rectification_order", "zh", uow_factory=lb.uow_factory(),
                     clock=lb.clock, actor="test")
        tokens = {}
        for name, office in (("national", "国家食安办"), ("province", "甲省食安办"),
                             ("city", "甲市食安办"), ("county", "甲县食安办"),
                             ("other_city", "乙市食安办"), ("nowhere", None)):
            _p, tokens[name] = access.add_user(name, "office", team=None, campaign_id=None,
                                               uscc=None, actor="test",
                                               uow_factory=lb.uow_factory(), clock=lb.clock,
                                               office=office)
    finally:
        lb.close()
    tokens["prefix:national"] = tokens["prefix:nowhere"] = ""
    tokens["prefix:province"], tokens["prefix:city"] = region_a[:2], region_a[:4]
    tokens["prefix:county"], tokens["prefix:other_city"] = region_a, other_city[:4]
    plan = folder / "city.toml"
    plan.write_text(small_plan(title="甲市督查"), encoding="utf-8")
    created = json.loads(_cli(fx.db, folder / "data", "--json", "campaign", "create", str(plan),
                              "--office", "甲市食安办"))
    tokens["city_campaign"] = str(created["campaign_id"])
    return fx, tokens


def _get(fx: Fixture, token: str, path: str) -> tuple[int, object]:
    with api_site.client(fx.db, fx.db.parent / "data") as (c, _lb):
        r = c.get(path, headers={"Authorization": f"Bearer {token}"})
    return r.status_code, (r.json() if r.headers.get("content-type", "").endswith("json")
                           else None)


USERS = ("national", "nowhere", "province", "city", "county", "other_city")


@pytest.mark.parametrize("user", USERS)
def test_issues_and_visits_by_territory(fx: tuple[Fixture, dict[str, str]], user: str) -> None:
    f, tokens = fx
    prefix = tokens[f"prefix:{user}"]
    sees_a = f.visit_a["region"].startswith(prefix)
    sees_b = f.visit_b["region"].startswith(prefix)
    assert sees_a == (user != "other_city")
    status, body = _get(f, tokens[user], "/issues")
    assert status == 200
    listed = {i["id"] for i in body["items"]}  # type: ignore[index]
    assert (f.issue_a in listed, f.issue_b in listed) == (sees_a, sees_b)
    for issue, sees in ((f.issue_a, sees_a), (f.issue_b, sees_b)):
        status, body = _get(f, tokens[user], f"/issues/{issue}")
        assert status == (200 if sees else 403), body
        if not sees:
            assert "territory" in body["detail_en"]  # type: ignore[index]
    for visit, sees in ((f.visit_a, sees_a), (f.visit_b, sees_b)):
        assert _get(f, tokens[user], f"/visits/{visit['id']}")[0] == (200 if sees else 403)
    status, body = _get(f, tokens[user], "/campaigns/1/visits?limit=500")
    if user in ("national", "nowhere"):
        assert status == 200
    if status == 200:
        regions = [v["region_code"] for v in body["items"]]  # type: ignore[index]
        assert all(r.startswith(prefix) for r in regions)
        assert (f.visit_a["region"] in regions, f.visit_b["region"] in regions) == \
            (sees_a, sees_b)


@pytest.mark.parametrize("user", USERS)
def test_followups_by_territory(fx: tuple[Fixture, dict[str, str]], user: str) -> None:
    f, tokens = fx
    prefix = tokens[f"prefix:{user}"]
    status, body = _get(f, tokens[user], "/followups?limit=500")
    assert status == 200
    issues = {fu["issue"] for fu in body["items"]}  # type: ignore[index]
    if user in ("national", "nowhere"):
        assert {f.issue_a, f.issue_b} <= issues  # both have their look-backs planned
    for issue, visit in ((f.issue_a, f.visit_a), (f.issue_b, f.visit_b)):
        assert (issue in issues) == visit["region"].startswith(prefix)


@pytest.mark.parametrize("user", USERS)
def test_notices_by_territory(fx: tuple[Fixture, dict[str, str]], user: str) -> None:
    """A rectification order lies where its addressee does: listed and downloadable only
    within the territory."""
    f, tokens = fx
    prefix = tokens[f"prefix:{user}"]
    status, body = _get(f, tokens["national"], "/notices")
    assert status == 200
    everyone = body["items"]  # type: ignore[index]
    region = {f.visit_a["uscc"]: f.visit_a["region"], f.visit_b["uscc"]: f.visit_b["region"]}
    orders = [n for n in everyone if n["uscc"] in region]
    assert len(orders) == 2
    status, body = _get(f, tokens[user], "/notices")
    assert status == 200
    listed = {n["id"] for n in body["items"]}  # type: ignore[index]
    for n in orders:
        sees = region[n["uscc"]].startswith(prefix)
        assert (n["id"] in listed) == sees
        assert _get(f, tokens[user], f"/notices/{n['id']}")[0] == (200 if sees else 403)
        assert _get(f, tokens[user], f"/notices/{n['id']}/pdf")[0] == (200 if sees else 403)


@pytest.mark.parametrize(("user", "national_campaign", "city_campaign"), [
    ("national", True, True), ("nowhere", True, True), ("province", False, True),
    ("city", False, True), ("county", False, False), ("other_city", False, False)])
def test_campaigns_by_the_office_that_owns_them(fx: tuple[Fixture, dict[str, str]], user: str,
                                                national_campaign: bool,
                                                city_campaign: bool) -> None:
    f, tokens = fx
    city_id = int(tokens["city_campaign"])
    status, body = _get(f, tokens[user], "/campaigns")
    assert status == 200
    listed = {c["id"] for c in body["items"]}  # type: ignore[index]
    assert (1 in listed, city_id in listed) == (national_campaign, city_campaign)
    for cid, sees in ((1, national_campaign), (city_id, city_campaign)):
        assert _get(f, tokens[user], f"/campaigns/{cid}")[0] == (200 if sees else 403)
        assert _get(f, tokens[user], f"/campaigns/{cid}/metrics")[0] == (200 if sees else 403)


def test_a_campaign_of_an_office_is_in_its_name_and_series(
        fx: tuple[Fixture, dict[str, str]]) -> None:
    f, tokens = fx
    status, body = _get(f, tokens["city"], f"/campaigns/{tokens['city_campaign']}")
    assert status == 200 and body["office"] == "甲市食安办"  # type: ignore[index]


@pytest.mark.parametrize("user", USERS)
def test_the_rollup_covers_the_territory_region_by_region(fx: tuple[Fixture, dict[str, str]],
                                                         user: str) -> None:
    """Each office's roll-up: one row per region one level below it, whose figures add up to
    what the records hold in its territory (counted here directly in SQL)."""
    from tests.e2e.api_site import sql

    f, tokens = fx
    prefix = tokens[f"prefix:{user}"]
    status, body = _get(f, tokens[user], "/rollup?period=2026Q2")
    assert status == 200, body
    r: dict = body  # type: ignore[assignment]
    expected_level = {0: "province", 2: "city", 4: "county", 6: "county"}[len(prefix)]
    assert r["level"] == expected_level and r["territory"] == prefix
    digits = {"province": 2, "city": 4, "county": 6}[expected_level]
    assert all(len(row["code"]) == digits and row["code"].startswith(prefix)
               for row in r["rows"])
    hi = prefix[:-1] + chr(ord(prefix[-1]) + 1) if prefix else "~"
    (businesses, covered, staffed), = sql(
        f.db, "SELECT COUNT(*), SUM(EXISTS (SELECT 1 FROM cadre_assignment a WHERE a.uscc = "
        "b.uscc)), SUM(director <> '' AND officer <> '') FROM business b WHERE status = "
        "'active' AND region_code >= ? AND region_code < ?", prefix, hi)
    (issues,), = sql(f.db, "SELECT COUNT(*) FROM issue i JOIN business b ON b.uscc = i.uscc "
                           "WHERE b.region_code >= ? AND b.region_code < ?", prefix, hi)
    total = r["total"]
    assert (total["businesses"], total["covered"], total["staffed"], total["issues"]) == (
        businesses, covered or 0, staffed or 0, issues)
    assert sum(row["businesses"] for row in r["rows"]) == businesses
    seen = {f.issue_a: f.visit_a["region"].startswith(prefix),
            f.issue_b: f.visit_b["region"].startswith(prefix)}
    assert issues >= sum(seen.values())


def test_the_rollup_is_for_staff_and_below_the_office(fx: tuple[Fixture, dict[str, str]]) -> None:
    f, tokens = fx
    assert _get(f, tokens["province"], "/rollup?level=province")[0] == 400
    assert _get(f, tokens["province"], "/rollup?level=county")[0] == 200
    auditor = f.users["auditor_a"].token
    assert _get(f, auditor, "/rollup")[0] == 403
