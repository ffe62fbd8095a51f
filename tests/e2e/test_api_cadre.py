"""Assigned officials (包保干部) log in as themselves, through the API: a cadre user sees the
businesses assigned to them and the issues found there, records their own supervision visits
with findings and leads, and nothing of another official's or of the campaigns' fieldwork."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from domain import access
from domain.errors import BadArgumentError, NotFoundError
from lookback.bootstrap import bootstrap
from lookback.settings import Settings
from tests.e2e import api_site
from tests.e2e.api_site import NOW, Fixture, _cli, sql
from tests.e2e.test_fieldwork_cli import launched

__all__ = ["launched"]


@pytest.fixture(scope="module")
def site(launched: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("cadre")
    f: Fixture = api_site.prepare(launched, folder)
    a, b = f.visit_a["uscc"], f.visit_b["uscc"]
    (third,), = sql(f.db, "SELECT MIN(uscc) FROM business WHERE uscc NOT IN (?, ?)", a, b)
    cadres = folder / "cadres.csv"
    cadres.write_text("cadre_id,name,level,region_code,assigned_uscc\n"
                      f"C1,张干部,township,{f.visit_a['region']},{a};{third}\n"
                      f"C2,李干部,township,{f.visit_b['region']},{b}\n", encoding="utf-8")
    data = folder / "data"
    _cli(f.db, data, "registry", "import", str(cadres), "--kind", "cadres")
    _cli(f.db, data, "supervision", "open")
    lb = bootstrap(Settings(database_url=f"sqlite:///{f.db}", data_dir=data, now=NOW))
    try:
        tokens = {name: access.add_user(name, "cadre", team=None, campaign_id=None, uscc=None,
                                        actor="test", uow_factory=lb.uow_factory(),
                                        clock=lb.clock, cadre_id=cid)[1]
                  for name, cid in (("zhang", "C1"), ("li", "C2"))}
        tokens["office"] = access.add_user("office1", "office", team=None, campaign_id=None,
                                           uscc=None, actor="test",
                                           uow_factory=lb.uow_factory(), clock=lb.clock)[1]
        for bad, kw in (("no-cadre", {}), ("not-a-cadre", {"cadre_id": "C1", "role": "viewer"}),
                        ("ghost", {"cadre_id": "C9"})):
            with pytest.raises(NotFoundError if bad == "ghost" else BadArgumentError):
                access.add_user(bad, str(kw.pop("role", "cadre")), team=None, campaign_id=None,
                                uscc=None, actor="test", uow_factory=lb.uow_factory(),
                                clock=lb.clock, **kw)  # type: ignore[arg-type]
    finally:
        lb.close()
    return {"f": f, "a": a, "b": b, "third": third, "tokens": tokens, "data": data}


def _h(site: dict[str, Any], who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {site['tokens'][who]}"}


def test_a_cadre_sees_the_businesses_assigned_to_them(site: dict[str, Any]) -> None:
    f = site["f"]
    with api_site.client(f.db, site["data"]) as (c, _lb):
        mine = c.get("/supervision/assigned", headers=_h(site, "zhang")).json()
        assert (mine["cadre_id"], mine["cadre"]) == ("C1", "张干部")
        assert {b["uscc"] for b in mine["items"]} == {site["a"], site["third"]}
        assert all(b["visit"] and b["visit"]["status"] == "open" and b["visit"]["period"] == "2023-09"
                   for b in mine["items"]), mine
        assert c.get("/supervision/assigned", params={"cadre": "C2"},
                     headers=_h(site, "zhang")).status_code == 403
        # the office reads any official's list
        assert c.get("/supervision/assigned", params={"cadre": "C2"},
                     headers=_h(site, "office")).json()["items"][0]["uscc"] == site["b"]
        assert c.get("/supervision/assigned", headers=_h(site, "office")).status_code == 400

        issues = {i["id"] for i in c.get("/issues", headers=_h(site, "zhang")).json()["items"]}
        assert f.issue_a in issues and f.issue_b not in issues
        assert c.get(f"/issues/{f.issue_a}", headers=_h(site, "zhang")).status_code == 200
        assert c.get(f"/issues/{f.issue_b}", headers=_h(site, "zhang")).status_code == 403
        assert c.get(f"/issues/{f.issue_b}", headers=_h(site, "li")).status_code == 200
        # nothing of the campaign's fieldwork or its notices
        assert c.get("/campaigns/1/visits", headers=_h(site, "zhang")).status_code == 403
        assert c.get(f"/visits/{f.visit_a['id']}", headers=_h(site, "zhang")).status_code == 403
        assert c.get("/notices", headers=_h(site, "zhang")).json()["count"] == 0


def test_a_cadre_records_their_own_visits_only(site: dict[str, Any]) -> None:
    f = site["f"]
    body = {"cadre_id": "C1", "uscc": site["a"], "note": "查看后厨", "date": "2023-09-25",
            "issues": ["hygiene_storage:general:冷藏温度不达标"], "leads": ["疑似无证经营"]}
    with api_site.client(f.db, site["data"]) as (c, _lb):
        for who, other in (("zhang", {"cadre_id": "C2", "uscc": site["b"]}),  # another's visit
                           ("zhang", {"uscc": site["b"]}),  # a business not assigned to them
                           ("li", {})):  # another official recording C1's
            r = c.post("/supervision/visits", json={**body, **other}, headers=_h(site, who))
            assert r.status_code == 403, r.text
        r = c.post("/supervision/visits", json=body, headers=_h(site, "zhang"))
        assert r.status_code == 201, r.text
        done = r.json()
        assert (done["status"], done["recorded_by"]) == ("done", "api:zhang")
        assert len(done["findings"]) == 1 and len(done["referrals"]) == 1

        listed = c.get("/supervision/visits", headers=_h(site, "zhang")).json()
        assert {v["cadre_id"] for v in listed["items"]} == {"C1"} and listed["count"] == 2
        assert c.get("/supervision/visits", params={"cadre": "C2"},
                     headers=_h(site, "zhang")).json()["count"] == 0
        rates = c.get("/supervision/rates", params={"period": "2023-09"},
                      headers=_h(site, "zhang")).json()
        assert (rates["total"]["required"], rates["total"]["done"]) == (2, 1)
        assert rates["findings"]["registered"] == 1
        li = c.get("/supervision/rates", params={"period": "2023-09"},
                   headers=_h(site, "li")).json()
        assert (li["total"]["required"], li["total"]["done"], li["findings"]["registered"]) == (
            1, 0, 0)
        # the finding is an issue of an assigned business: the cadre sees it
        found = done["findings"][0]["id"]
        assert c.get(f"/issues/{found}", headers=_h(site, "zhang")).status_code == 200
        assert c.get(f"/issues/{found}", headers=_h(site, "li")).status_code == 403
