"""The territory rule as a property, through the API: for any user — office level × territory ×
staff role — and any resource and action, the answer is what the records say it should be.

The grid: the six offices of the territory tests (national, A's province, city and county,
another city of that province, and no office) × the four staff roles (planner, office, viewer,
admin). Hypothesis draws a user and an endpoint; the oracle is the database itself, read here in
plain SQL: where each issue, visit, notice, follow-up, campaign and supervision visit lies. Every
list must hold exactly the rows inside the user's territory, every read of one row answers 200
inside and 403 outside, every figure (metrics, supervision rates, roll-up) counts only inside,
and a write (an extension, a supervision record) is refused with 403 outside the territory for
every role, and inside for every role but the office (and admin). ``test_the_grid_covers_every
_list_and_metrics_endpoint`` fails when a new GET route is added without a case here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain import access
from domain.offices import OfficeLevel, Territory
from lookback.bootstrap import bootstrap
from lookback.settings import Settings
from tests.e2e import api_site
from tests.e2e.api_site import NOW, Fixture, _cli, sql
from tests.e2e.test_api_territory import fx  # the fixture is used by name
from tests.e2e.test_fieldwork_cli import launched  # noqa: F401  (fx needs it)

__all__ = ["fx"]

OFFICES = {"national": "国家食安办", "province": "甲省食安办", "city": "甲市食安办",
           "county": "甲县食安办", "other_city": "乙市食安办", "nowhere": None}
ROLES = ("planner", "office", "viewer", "admin")
PERIOD = "2023Q3"  # NOW (2023-09-25) lies in it


@dataclass
class Grid:
    fixture: Fixture
    client: Any
    tokens: dict[tuple[str, str], str]  # (office key, role) → token
    prefixes: dict[str, str]
    issue_region: dict[int, str]
    visit_region: dict[int, str]
    notice_region: dict[int, str]
    followup_issues: set[int]
    campaign_territory: dict[int, str]
    supervision_region: dict[int, str]
    supervision_required: dict[int, tuple[str, str]]  # id → (region, period_end)
    business_region: dict[str, str]
    cadre_pick: tuple[str, str] = ("", "")  # an assignment (cadre, uscc), for the write case
    extra: dict[str, Any] = field(default_factory=dict)


def _within(region: str, prefix: str) -> bool:
    return region.startswith(prefix)


@pytest.fixture(scope="module")
def grid(fx: tuple[Fixture, dict[str, str]]) -> Iterator[Grid]:
    f, tokens = fx
    data = f.db.parent / "data"
    # Assigned officials for businesses inside and outside each office's territory (A's, B's
    # and one business of every other county), then this month's supervision visits.
    picks = sql(f.db, "SELECT MIN(uscc), region_code FROM business WHERE status = 'active' "
                      "GROUP BY region_code ORDER BY region_code LIMIT 40")
    chosen = {f.visit_a["uscc"]: f.visit_a["region"], f.visit_b["uscc"]: f.visit_b["region"],
              **{u: r for u, r in picks}}
    cadres = data.parent / "cadres.csv"
    cadres.write_text("cadre_id,name,level,region_code,assigned_uscc\n" + "".join(
        f"T{n:03d},干部{n},township,{region},{uscc}\n"
        for n, (uscc, region) in enumerate(sorted(chosen.items()))), encoding="utf-8")
    _cli(f.db, data, "registry", "import", str(cadres), "--kind", "cadres")
    _cli(f.db, data, "supervision", "open")
    lb = bootstrap(Settings(database_url=f"sqlite:///{f.db}", data_dir=data, now=NOW))
    grid_tokens: dict[tuple[str, str], str] = {}
    try:
        for key, office in OFFICES.items():
            grid_tokens[(key, "office")] = tokens[key]
            for role in ("planner", "viewer", "admin"):
                _p, grid_tokens[(key, role)] = access.add_user(
                    f"{role}_{key}", role, team=None, campaign_id=None, uscc=None,
                    actor="test", uow_factory=lb.uow_factory(), clock=lb.clock, office=office)
    finally:
        lb.close()
    business_region = dict(sql(f.db, "SELECT uscc, region_code FROM business"))
    offices = {oid: Territory.of(OfficeLevel(level), code).prefix
               for oid, level, code in sql(f.db, "SELECT id, level, territory FROM office")}
    campaigns = {cid: offices.get(oid, "") if oid is not None else ""
                 for cid, oid in sql(f.db, "SELECT id, office_id FROM campaign")}
    issue_region = {i: business_region[u] for i, u in sql(f.db, "SELECT id, uscc FROM issue")}
    notices = {nid: business_region[u] if u else campaigns.get(cid, "")
               for nid, u, cid in sql(f.db, "SELECT id, uscc, campaign_id FROM notice")}
    supervision = {vid: (business_region[u], str(end)) for vid, u, end in sql(
        f.db, "SELECT id, uscc, period_end FROM supervision_visit")}
    assert supervision, "the fixture must have supervision visits to test"
    cadre_pick = sql(f.db, "SELECT cadre_id, uscc FROM cadre_assignment ORDER BY uscc LIMIT 1")[0]
    with api_site.client(f.db, data) as (c, _lb):
        yield Grid(
            fixture=f, client=c, tokens=grid_tokens,
            prefixes={k: tokens[f"prefix:{k}"] for k in OFFICES},
            issue_region=issue_region,
            visit_region={int(v["id"]): v["region"] for v in (f.visit_a, f.visit_b)},
            notice_region=notices,
            followup_issues={i for (i,) in sql(f.db, "SELECT DISTINCT issue_id FROM followup")},
            campaign_territory=campaigns,
            supervision_region={k: r for k, (r, _e) in supervision.items()},
            supervision_required=supervision,
            business_region=business_region,
            cadre_pick=(str(cadre_pick[0]), str(cadre_pick[1])))


def _get(g: Grid, token: str, path: str) -> tuple[int, Any]:
    r = g.client.get(path, headers={"Authorization": f"Bearer {token}"})
    body = r.json() if r.headers.get("content-type", "").endswith("json") else None
    return r.status_code, body


def _post(g: Grid, token: str, path: str, body: dict[str, Any],
          headers: dict[str, str] | None = None) -> int:
    r = g.client.post(path, json=body, headers={"Authorization": f"Bearer {token}",
                                                 **(headers or {})})
    return int(r.status_code)


# --- the cases: each checks one resource and action for one user -------------------------------

Case = Callable[[Grid, str, str, str], None]  # grid, token, role, territory prefix


def list_issues(g: Grid, token: str, role: str, prefix: str) -> None:
    status, body = _get(g, token, "/issues?limit=500")
    assert status == 200
    assert {i["id"] for i in body["items"]} == {
        i for i, r in g.issue_region.items() if _within(r, prefix)}
    assert all(_within(i["region"], prefix) for i in body["items"])


def read_issue(g: Grid, token: str, role: str, prefix: str) -> None:
    for issue, region in g.issue_region.items():
        inside = _within(region, prefix)
        for tail in ("", "/history", "/followups", "/evidence"):
            status, body = _get(g, token, f"/issues/{issue}{tail}")
            assert status == (200 if inside else 403), (issue, tail, body)


def list_visits(g: Grid, token: str, role: str, prefix: str) -> None:
    status, body = _get(g, token, "/campaigns/1/visits?limit=500")
    assert status == 200
    regions = [v["region_code"] for v in body["items"]]
    assert all(_within(r, prefix) for r in regions)
    for vid, region in g.visit_region.items():
        assert (vid in {v["id"] for v in body["items"]}) == _within(region, prefix)


def read_visit(g: Grid, token: str, role: str, prefix: str) -> None:
    for vid, region in g.visit_region.items():
        assert _get(g, token, f"/visits/{vid}")[0] == (200 if _within(region, prefix) else 403)


def list_followups(g: Grid, token: str, role: str, prefix: str) -> None:
    status, body = _get(g, token, "/followups?limit=500")
    assert status == 200
    assert {fu["issue"] for fu in body["items"]} == {
        i for i in g.followup_issues if _within(g.issue_region[i], prefix)}


def list_notices(g: Grid, token: str, role: str, prefix: str) -> None:
    status, body = _get(g, token, "/notices?limit=500")
    assert status == 200
    assert {n["id"] for n in body["items"]} == {
        n for n, r in g.notice_region.items() if _within(r, prefix)}


def read_notice(g: Grid, token: str, role: str, prefix: str) -> None:
    for nid, region in g.notice_region.items():
        expected = 200 if _within(region, prefix) else 403
        assert _get(g, token, f"/notices/{nid}")[0] == expected
        assert _get(g, token, f"/notices/{nid}/pdf")[0] in (
            (expected, 409) if expected == 200 else (403,))  # 409: a notice not yet rendered


def list_campaigns(g: Grid, token: str, role: str, prefix: str) -> None:
    status, body = _get(g, token, "/campaigns?limit=500")
    assert status == 200
    assert {c["id"] for c in body["items"]} == {
        c for c, t in g.campaign_territory.items() if _within(t, prefix)}


def read_campaign(g: Grid, token: str, role: str, prefix: str) -> None:
    for cid, territory in g.campaign_territory.items():
        expected = 200 if _within(territory, prefix) else 403
        for tail in ("", "/metrics", "/draw"):
            status, body = _get(g, token, f"/campaigns/{cid}{tail}")
            assert status in ((expected, 404) if tail == "/draw" and expected == 200
                              else (expected,)), (cid, tail, body)  # 404: a draft, not drawn
        if expected == 200:
            status, m = _get(g, token, f"/campaigns/{cid}/metrics")
            overdue = m.get("overdue") or m.get("overdue_issues") or []
            for o in overdue if isinstance(overdue, list) else []:
                assert _within(g.issue_region[o["id"]], prefix)


def list_supervision(g: Grid, token: str, role: str, prefix: str) -> None:
    status, body = _get(g, token, "/supervision/visits?limit=500")
    assert status == 200
    assert body["count"] == sum(1 for r in g.supervision_region.values() if _within(r, prefix))
    assert all(_within(v["region"], prefix) for v in body["items"])


def supervision_rates(g: Grid, token: str, role: str, prefix: str) -> None:
    status, body = _get(g, token, f"/supervision/rates?period={PERIOD}")
    assert status == 200
    expected = sum(1 for r, end in g.supervision_required.values()
                   if _within(r, prefix) and "2023-07-01" <= end <= "2023-09-30")
    assert body["total"]["required"] == expected
    assert expected > 0 or prefix  # the whole country has this quarter's visits
    assert all(_within(v["region"], prefix) for v in body["overdue"])


def rollup(g: Grid, token: str, role: str, prefix: str) -> None:
    status, body = _get(g, token, f"/rollup?period={PERIOD}")
    assert status == 200
    assert body["territory"] == prefix
    assert all(row["code"].startswith(prefix) for row in body["rows"])
    (active,), = sql(g.fixture.db, "SELECT COUNT(*) FROM business WHERE status = 'active' AND "
                                   "region_code LIKE ?", prefix + "%")
    assert body["total"]["businesses"] == active


def approve_extension(g: Grid, token: str, role: str, prefix: str) -> None:
    """A stale If-Match: refused (403) before the version is even looked at, or refused for the
    version (412) once allowed; nothing changes either way."""
    for issue, region in g.issue_region.items():
        status = _post(g, token, f"/issues/{issue}/extensions",
                       {"workdays": 5, "reason": "test", "approver": "test"},
                       headers={"If-Match": '"999999"'})
        allowed = role in ("office", "admin") and _within(region, prefix)
        assert (status != 403) == allowed, (issue, role, prefix, status)
        assert status != 200


def record_supervision(g: Grid, token: str, role: str, prefix: str) -> None:
    """A record dated outside any period this fixture could hold: refused (403) outside the
    territory or for the wrong role, else refused for the date (400); never stored."""
    cadre, uscc = g.cadre_pick
    status = _post(g, token, "/supervision/visits",
                   {"cadre_id": cadre, "uscc": uscc, "note": "test", "date": "2099-01-01"})
    allowed = role in ("office", "admin") and _within(g.business_region[uscc], prefix)
    assert (status != 403) == allowed, (role, prefix, status)
    assert status not in (200, 201)


CASES: dict[str, Case] = {
    "list_issues": list_issues, "read_issue": read_issue, "list_visits": list_visits,
    "read_visit": read_visit, "list_followups": list_followups, "list_notices": list_notices,
    "read_notice": read_notice, "list_campaigns": list_campaigns,
    "read_campaign": read_campaign, "list_supervision": list_supervision,
    "supervision_rates": supervision_rates, "rollup": rollup,
    "approve_extension": approve_extension, "record_supervision": record_supervision,
}

#: Every GET route and the case that covers it (or why none is needed).
COVERED = {
    "/campaigns": "list_campaigns", "/campaigns/{campaign_id}": "read_campaign",
    "/campaigns/{campaign_id}/metrics": "read_campaign",
    "/campaigns/{campaign_id}/draw": "read_campaign",
    "/campaigns/{campaign_id}/visits": "list_visits", "/visits/{visit_id}": "read_visit",
    "/issues": "list_issues", "/issues/{issue_id}": "read_issue",
    "/issues/{issue_id}/history": "read_issue", "/issues/{issue_id}/followups": "read_issue",
    "/issues/{issue_id}/evidence": "read_issue",
    "/issues/{issue_id}/evidence/{sha256}": "read_issue (the same guard as the list)",
    "/followups": "list_followups", "/notices": "list_notices",
    "/notices/{notice_id}": "read_notice", "/notices/{notice_id}/pdf": "read_notice",
    "/supervision/visits": "list_supervision", "/supervision/rates": "supervision_rates",
    "/supervision/assigned": "tests/e2e/test_api_cadre.py (an official's own businesses)",
    "/rollup": "rollup",
    "/health": "no records", "/provisions": "the law's text, no records",
    "/jobs/{job_id}": "a job's progress; its notices are read through /notices",
}


def test_the_grid_covers_every_list_and_metrics_endpoint() -> None:
    from lookback.api.app import create_app
    from lookback.bootstrap import bootstrap as _bootstrap

    lb = _bootstrap(Settings(database_url="sqlite://", now=NOW))
    try:  # the API's routes as its schema publishes them (the pages are tested apart)
        schema = create_app(lb).openapi()
    finally:
        lb.close()
    paths = {path for path, ops in schema["paths"].items() if "get" in ops}
    assert {"/issues", "/notices", "/supervision/visits", "/rollup"} <= paths  # really read
    assert paths - set(COVERED) == set(), "a GET route the territory grid does not cover"


@settings(max_examples=120, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(office=st.sampled_from(sorted(OFFICES)), role=st.sampled_from(ROLES),
       case=st.sampled_from(sorted(CASES)))
def test_every_user_sees_and_acts_only_within_the_territory(grid: Grid, office: str, role: str,
                                                            case: str) -> None:
    CASES[case](grid, grid.tokens[(office, role)], role, grid.prefixes[office])


def test_every_combination_once(grid: Grid) -> None:
    """The exhaustive grid (6 offices × 4 roles × every case), so no combination depends on
    what hypothesis happened to draw."""
    for office in OFFICES:
        for role in ROLES:
            for name, case in CASES.items():
                try:
                    case(grid, grid.tokens[(office, role)], role, grid.prefixes[office])
                except AssertionError as e:
                    raise AssertionError(f"{office} × {role} × {name}: {e}") from e


def test_the_writes_changed_nothing(grid: Grid) -> None:
    (recorded,), = sql(grid.fixture.db, "SELECT COUNT(*) FROM event WHERE kind IN "
                                        "('issue.extended', 'supervision.recorded')")
    assert recorded == 0


