"""The HTTP API's look-back, notice and supervision routes end to end: ``TestClient(create_app)``
on a real SQLite file, one API user per role.

The database is built once per module at the domain level (registers imported through the CLI, a
campaign launched with ``domain.campaigns.launch``, one issue on a visit of each of two teams and
businesses, the users added with ``domain.access.add_user``); a second copy has the look-backs
opened by a sweep at the review instant, and a third has the rectification orders issued through
the API (real WeasyPrint rendering, in process). Every test works on its own copy.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from domain import access
from domain import followups as fsvc
from domain.clock import FixedClock
from lookback.api.app import create_app
from lookback.bootstrap import bootstrap
from lookback.settings import Settings
from tests.e2e.test_notices_cli import NOW, OFFICE, OFFICE_SHORT, copy_db, run
from tests.plans import small_plan

PLAN = small_plan(title="接口复查文书测试督查", office=OFFICE, office_short=OFFICE_SHORT,
                  starts_on="2026-03-02", ends_on="2026-06-30", total=8)
PROBLEM = "application/problem+json"
ROLES = ("planner", "office", "viewer", "admin", "auditor_a", "auditor_b", "business_a",
         "business_b")


@dataclass
class Built:
    folder: Path
    fresh: Path  # issues open, their reviews pending (at NOW)
    swept: Path  # the look-backs open (at LATER)
    later: str
    issue_a: int
    issue_b: int
    team_a: int
    team_b: int
    uscc_a: str
    uscc_b: str
    cadre: str
    cadre_uscc: str
    tokens: dict[str, str] = field(default_factory=dict)

    def h(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}


def sql(db: Path, query: str, *params: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(query, params).fetchall()
    finally:
        conn.close()


def events(db: Path, kind: str | None = None) -> int:
    if kind is None:
        return int(sql(db, "SELECT COUNT(*) FROM event")[0][0])
    return int(sql(db, "SELECT COUNT(*) FROM event WHERE kind = ?", kind)[0][0])


def refusals(db: Path, actor: str) -> int:
    return int(sql(db, "SELECT COUNT(*) FROM event WHERE kind = 'access.refused' AND actor = ?",
                   f"api:{actor}")[0][0])


@contextmanager
def api(db: Path, data: Path, now: str = NOW) -> Iterator[TestClient]:
    lb = bootstrap(Settings(database_url=f"sqlite:///{db}", data_dir=data, now=now))
    try:
        with TestClient(create_app(lb), raise_server_exceptions=False) as c:
            yield c
    finally:
        lb.close()


def problem(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith(PROBLEM), r.headers
    body: dict[str, Any] = r.json()
    assert body["status"] == status and body["detail_en"] and body["detail_zh"]
    return body


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    import csv

    from domain import fieldwork as fw
    from domain.campaigns import create_campaign, launch
    from domain.vocabulary import CATEGORIES
    from flows.wiring import engine_for, uow_for
    from storage.calendar import ChineseCalendarSource

    folder = tmp_path_factory.mktemp("api_fns")
    db = folder / "fresh.db"
    base = ["--db", str(db), "--data-dir", str(folder / "data"), "--lang", "en", "--now", NOW]
    run(*base, "init")
    run(*base, "registry", "generate", "--businesses", "1500", "--seed", "11", "--out",
        str(folder / "reg"))
    for kind in ("businesses", "inspectors", "cadres"):
        run(*base, "registry", "import", str(folder / "reg" / f"{kind}.csv"), "--kind", kind)
    with (folder / "reg" / "cadres.csv").open(encoding="utf-8-sig", newline="") as f:
        cadre_row = next(r for r in csv.DictReader(f)
                         if r["level"] == "township" and r["assigned_uscc"])

    url = f"sqlite:///{db}"
    uow = uow_for(url)
    clock = FixedClock(datetime.fromisoformat(NOW))
    cid = create_campaign(PLAN, source="plan.toml", uow_factory=uow, clock=clock,
                          new_seed=lambda: "1")
    launch(cid, uow_factory=uow, clock=clock)
    with uow() as u:
        visits = sorted(u.fieldwork.list_visits(cid, team=None, status=None), key=lambda v: v.id)
    va = visits[0]
    vb = next(v for v in visits if v.team_no != va.team_no and v.uscc != va.uscc)
    calendar = ChineseCalendarSource(folder / "data")
    ids = [fw.add_issue(v.id, provision=1, category="records", severity="general", description=text,
                        evidence=[], team=v.team_no, actor="test:team", uow_factory=uow,
                        clock=clock, calendar=calendar, categories=CATEGORIES)
           for v, text in ((va, "台账缺失"), (vb, "未公示许可证"))]
    b = Built(folder, db, folder / "swept.db", "", ids[0], ids[1], va.team_no, vb.team_no,
              va.uscc, vb.uscc, cadre_row["cadre_id"], cadre_row["assigned_uscc"].split(";")[0])
    spec: dict[str, dict[str, Any]] = {
        "planner": {"role": "planner"}, "office": {"role": "office"},
        "viewer": {"role": "viewer"}, "admin": {"role": "admin"},
        "auditor_a": {"role": "auditor", "team": va.team_no},
        "auditor_b": {"role": "auditor", "team": vb.team_no},
        "business_a": {"role": "business", "uscc": va.uscc},
        "business_b": {"role": "business", "uscc": vb.uscc}}
    for name, s in spec.items():
        _, b.tokens[name] = access.add_user(name, s["role"], team=s.get("team"),
                                            campaign_id=None, uscc=s.get("uscc"), actor="test",
                                            uow_factory=uow, clock=clock)
    with uow() as u:
        due = max(fu.due_at for i in ids for fu in u.followups.of_issue(i)
                  if fu.kind == fsvc.REVIEW)
    engine_for(url).dispose()
    b.later = datetime.fromtimestamp(due, UTC).isoformat()

    copy_db(db, b.swept)
    swept_url = f"sqlite:///{b.swept}"
    result = fsvc.sweep(uow_factory=uow_for(swept_url),
                        clock=FixedClock(datetime.fromisoformat(b.later)), worker="test:sweep")
    assert result.opened == 2
    engine_for(swept_url).dispose()
    return b


@pytest.fixture
def fresh(built: Built, tmp_path: Path) -> Path:
    return copy_db(built.fresh, tmp_path / "fresh.db")


@pytest.fixture
def swept(built: Built, tmp_path: Path) -> Path:
    return copy_db(built.swept, tmp_path / "swept.db")


# --- follow-ups -------------------------------------------------------------------------------

def test_followup_list_per_role(built: Built, swept: Path) -> None:
    with api(swept, built.folder / "data", built.later) as c:
        for who in ("planner", "office", "viewer", "admin"):
            r = c.get("/followups", params={"status": "open"}, headers=built.h(who))
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["count"] == 2
            assert {f["issue"] for f in body["items"]} == {built.issue_a, built.issue_b}
        a = c.get("/followups", params={"status": "open"}, headers=built.h("auditor_a")).json()
        assert a["count"] == 1 and a["items"][0]["issue"] == built.issue_a
        assert a["items"][0]["team"] == built.team_a
        assert a["items"][0]["finding"] == {"category": "records", "severity": "general",
                                            "description": "台账缺失",
                                            "issue_status": "overdue"}
        mine = c.get("/followups", headers=built.h("business_b")).json()
        assert mine["count"] >= 1 and {f["uscc"] for f in mine["items"]} == {built.uscc_b}
        assert c.get("/followups", params={"kind": "reminder", "status": "done", "due": "true"},
                     headers=built.h("office")).json()["count"] == 2
        page = c.get("/followups", params={"limit": 1, "offset": 1},
                     headers=built.h("viewer")).json()
        assert page["count"] == 4 and len(page["items"]) == 1

        # An auditor asking for another team's look-backs is refused and the refusal recorded.
        before = refusals(swept, "auditor_a")
        problem(c.get("/followups", params={"team": built.team_b},
                      headers=built.h("auditor_a")), 403)
        assert refusals(swept, "auditor_a") == before + 1
        problem(c.get("/followups", params={"kind": "bogus"}, headers=built.h("office")), 422)
        problem(c.get("/followups", params={"campaign": 2**63}, headers=built.h("office")), 422)
        problem(c.get("/followups"), 401)


def test_issue_followups_read_rules(built: Built, swept: Path) -> None:
    with api(swept, built.folder / "data", built.later) as c:
        for who in ("planner", "office", "viewer", "admin", "auditor_a", "business_a"):
            r = c.get(f"/issues/{built.issue_a}/followups", headers=built.h(who))
            assert r.status_code == 200, (who, r.text)
            body = r.json()
            assert body["issue"] == built.issue_a and body["referral"] is None
            assert {(f["kind"], f["status"]) for f in body["items"]} == {
                ("review", "open"), ("reminder", "done")}
        for who in ("auditor_b", "business_b"):
            before = refusals(swept, who)
            problem(c.get(f"/issues/{built.issue_a}/followups", headers=built.h(who)), 403)
            assert refusals(swept, who) == before + 1
        problem(c.get("/issues/999999/followups", headers=built.h("office")), 404)
        problem(c.get(f"/issues/{2**70}/followups", headers=built.h("office")), 404)
        problem(c.get("/issues/x/followups", headers=built.h("office")), 422)


def _issue_version(db: Path, issue_id: int) -> int:
    return int(sql(db, "SELECT version FROM issue WHERE id = ?", issue_id)[0][0])


def test_record_check_roles_if_match_and_stale_version(built: Built, swept: Path) -> None:
    url = f"/issues/{built.issue_a}/followup-checks"
    body = {"outcome": "not_rectified", "note": "台账仍未建立"}
    with api(swept, built.folder / "data", built.later) as c:
        r = c.get(f"/issues/{built.issue_a}", headers=built.h("auditor_a"))
        tag = r.headers["ETag"]
        version = _issue_version(swept, built.issue_a)
        assert tag == f'"v{version}"'
        # Refused: the office, the other team, the business, a viewer (each recorded).
        for who in ("office", "auditor_b", "business_a", "viewer", "planner"):
            before = refusals(swept, who)
            problem(c.post(url, json=body, headers={**built.h(who), "If-Match": tag}), 403)
            assert refusals(swept, who) == before + 1
        n = events(swept)
        problem(c.post(url, json=body, headers=built.h("auditor_a")), 428)
        stale = problem(c.post(url, json=body, headers={**built.h("auditor_a"),
                                                        "If-Match": f'"v{version - 1}"'}), 412)
        assert stale["code"] == "stale_version"
        problem(c.post(url, json=body, headers={**built.h("auditor_a"), "If-Match": "v1"}), 412)
        # Nothing changed: the issue's version, its follow-ups, the event log.
        assert _issue_version(swept, built.issue_a) == version
        assert events(swept) == n
        assert sql(swept, "SELECT COUNT(*) FROM followup WHERE issue_id = ? AND status = "
                   "'recorded'", built.issue_a) == [(0,)]
        # Bad bodies: 422 for the schema, 400 for the domain's rules; nothing stored either.
        hdr = {**built.h("auditor_a"), "If-Match": tag}
        problem(c.post(url, json={**body, "outcome": "fine"}, headers=hdr), 422)
        problem(c.post(url, json={**body, "extra": 1}, headers=hdr), 422)
        problem(c.post(url, json={**body, "note": ""}, headers=hdr), 422)
        problem(c.post(url, content=b"{not json", headers={**hdr, "content-type":
                                                           "application/json"}), 422)
        problem(c.post(url, json={"outcome": "partial", "note": "部分"}, headers=hdr), 400)
        problem(c.post(url, json={**body, "fixed": True}, headers=hdr), 400)
        assert events(swept) == n

        r = c.post(url, json={**body, "hard_measures": True}, headers=hdr)
        assert r.status_code == 201, r.text
        out = r.json()
        assert (out["issue"], out["outcome"], out["escalation"], out["escalation_level"],
                out["referral"]) == (built.issue_a, "not_rectified", "reminder", 1, None)
        assert out["due_on"] is not None
        new_version = _issue_version(swept, built.issue_a)
        assert new_version > version and r.headers["ETag"] == f'"v{new_version}"'
        now = c.get(f"/issues/{built.issue_a}", headers=built.h("viewer"))
        assert now.headers["ETag"] == r.headers["ETag"]
        assert now.json()["status"] == out["status"] != "verified"
        assert now.json()["due_on"] == out["due_on"]
        # No open look-back any more: a second check is a conflict.
        again = problem(c.post(url, json=body, headers={**hdr, "If-Match": r.headers["ETag"]}),
                        409)
        assert again["code"] == "no_open_review"
        # The administrator may record too (issue B, any team).
        tag_b = c.get(f"/issues/{built.issue_b}", headers=built.h("admin")).headers["ETag"]
        r = c.post(f"/issues/{built.issue_b}/followup-checks",
                   json={"outcome": "partial", "note": "部分整改", "hard_measures": True,
                         "fixed": False, "mechanism": False},
                   headers={**built.h("admin"), "If-Match": tag_b})
        assert r.status_code == 201 and r.json()["outcome"] == "partial", r.text
        problem(c.post("/issues/999999/followup-checks", json=body,
                       headers={**built.h("admin"), "If-Match": tag}), 404)


def test_case_outcome_office_only(built: Built, swept: Path) -> None:
    from flows.wiring import engine_for, uow_for
    from storage.calendar import ChineseCalendarSource

    url = f"sqlite:///{swept}"
    with api(swept, built.folder / "data", built.later) as c:
        case = {"status": "filed", "case_number": "某市监立〔2026〕9号"}
        # Not referred yet.
        problem(c.post(f"/issues/{built.issue_a}/case", json=case, headers=built.h("office")),
                404)
    # Four failed checks climb the ladder to referral (移送).
    when = built.later
    for _ in range(4):
        fsvc.record_check(built.issue_a, outcome="not_rectified", note="仍未整改", evidence=[],
                          hard_measures=None, fixed=None, mechanism=None, team=None,
                          actor="test", uow_factory=uow_for(url),
                          clock=FixedClock(datetime.fromisoformat(when)),
                          calendar=ChineseCalendarSource(built.folder / "data"))
        with uow_for(url)() as u:
            [nxt] = [f for f in u.followups.of_issue(built.issue_a)
                     if f.kind == fsvc.REVIEW and f.status == "pending"]
        when = datetime.fromtimestamp(nxt.due_at, UTC).isoformat()
        fsvc.sweep(uow_factory=uow_for(url), clock=FixedClock(datetime.fromisoformat(when)),
                   worker="test")
    engine_for(url).dispose()
    with api(swept, built.folder / "data", when) as c:
        shown = c.get(f"/issues/{built.issue_a}/followups", headers=built.h("auditor_a")).json()
        assert shown["referral"]["case_status"] == "referred"
        for who in ("auditor_a", "planner", "viewer", "business_a"):
            problem(c.post(f"/issues/{built.issue_a}/case", json=case, headers=built.h(who)),
                    403)
        problem(c.post(f"/issues/{built.issue_a}/case", json={"status": "maybe"},
                       headers=built.h("office")), 422)
        problem(c.post(f"/issues/{built.issue_a}/case", json={"status": "filed"},
                       headers=built.h("office")), 400)
        r = c.post(f"/issues/{built.issue_a}/case", json=case, headers=built.h("office"))
        assert r.status_code == 200, r.text
        assert (r.json()["case_status"], r.json()["case_number"]) == ("filed", case["case_number"])
        assert problem(c.post(f"/issues/{built.issue_a}/case", json={"status": "declined"},
                              headers=built.h("admin")), 409)["code"] == "case_recorded"
        problem(c.post(f"/issues/{2**64}/case", json=case, headers=built.h("office")), 404)


# --- notices ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def noticed(built: Built) -> tuple[Path, dict[str, Any]]:
    """The rectification orders issued through the API by the office."""
    db = copy_db(built.fresh, built.folder / "noticed.db")
    with api(db, built.folder / "data") as c:
        r = c.post("/campaigns/1/notices", json={"kind": "rectification_order", "lang": "zh"},
                   headers=built.h("office"))
    assert r.status_code == 200, r.text
    return db, r.json()


@pytest.fixture
def ndb(noticed: tuple[Path, dict[str, Any]], tmp_path: Path) -> Path:
    return copy_db(noticed[0], tmp_path / "n.db")


def _notices(c: TestClient, built: Built, who: str = "office") -> dict[str, dict[str, Any]]:
    items = c.get("/notices", params={"kind": "rectification_order"},
                  headers=built.h(who)).json()["items"]
    return {n["uscc"]: n for n in items}


def test_issue_notices_office_only_and_once(built: Built, noticed: tuple[Path, dict[str, Any]],
                                            ndb: Path) -> None:
    result = noticed[1]
    assert result["recorded"] == 2 and result["issued"] == 2 and len(result["numbers"]) == 2
    assert all(n.startswith(f"{OFFICE_SHORT}责改〔2026〕") for n in result["numbers"])
    assert events(ndb, "notice.issued") == 2
    body = {"kind": "rectification_order", "lang": "zh"}
    with api(ndb, built.folder / "data") as c:
        for who in ("planner", "viewer", "auditor_a", "business_a"):
            before = refusals(ndb, who)
            problem(c.post("/campaigns/1/notices", json=body, headers=built.h(who)), 403)
            assert refusals(ndb, who) == before + 1
        # Rerunning issues nothing twice.
        r = c.post("/campaigns/1/notices", json=body, headers=built.h("admin"))
        assert r.status_code == 200 and r.json() == {"recorded": 0, "issued": 0, "numbers": []}
        problem(c.post("/campaigns/1/notices", json={"kind": "memo"}, headers=built.h("office")),
                422)
        problem(c.post("/campaigns/1/notices", json={**body, "lang": "fr"},
                       headers=built.h("office")), 422)
        problem(c.post("/campaigns/99/notices", json=body, headers=built.h("office")), 404)
        problem(c.post(f"/campaigns/{2**63}/notices", json=body, headers=built.h("office")), 404)
    assert events(ndb, "notice.issued") == 2
    assert sql(ndb, "SELECT status FROM issue ORDER BY id") == [("notified",), ("notified",)]


def test_notice_list_and_show_per_role(built: Built, ndb: Path) -> None:
    with api(ndb, built.folder / "data") as c:
        for who in ("planner", "office", "viewer", "admin"):
            listed = c.get("/notices", params={"campaign": 1}, headers=built.h(who)).json()
            assert listed["count"] == 2
        # An auditor reads the notices of their own team's issues only (the rule for reading a
        # notice is the rule for reading what it is about).
        theirs = c.get("/notices", params={"campaign": 1}, headers=built.h("auditor_b")).json()
        assert theirs["count"] == 1 and theirs["items"][0]["uscc"] == built.uscc_b
        mine = c.get("/notices", headers=built.h("business_a")).json()
        assert mine["count"] == 1 and mine["items"][0]["uscc"] == built.uscc_a
        assert c.get("/notices", params={"kind": "circular"},
                     headers=built.h("office")).json()["count"] == 0
        problem(c.get("/notices", params={"kind": "memo"}, headers=built.h("office")), 422)
        notices = _notices(c, built)
        a, b = notices[built.uscc_a], notices[built.uscc_b]
        shown = c.get(f"/notices/{a['id']}", headers=built.h("business_a")).json()
        assert shown["number"] == a["number"] and shown["status"] == "issued"
        assert shown["pdf_sha256"] and shown["kind"] == "rectification_order"
        before = refusals(ndb, "business_a")
        problem(c.get(f"/notices/{b['id']}", headers=built.h("business_a")), 403)
        assert refusals(ndb, "business_a") == before + 1
        problem(c.get("/notices/999999", headers=built.h("office")), 404)
        problem(c.get(f"/notices/{2**63}", headers=built.h("office")), 404)


def test_pdf_download_verify_ok_and_altered(built: Built, ndb: Path) -> None:
    with api(ndb, built.folder / "data") as c:
        notices = _notices(c, built)
        a, b = notices[built.uscc_a], notices[built.uscc_b]
        r = c.get(f"/notices/{a['id']}/pdf", headers=built.h("business_a"))
        assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
        stored = sql(ndb, "SELECT data FROM notice_pdf WHERE sha256 = ?", a["pdf_sha256"])[0][0]
        assert r.content == bytes(stored)
        assert hashlib.sha256(r.content).hexdigest() == a["pdf_sha256"]
        for who in ("office", "viewer", "auditor_a", "admin"):
            assert c.get(f"/notices/{a['id']}/pdf", headers=built.h(who)).content == r.content
        # Another team's notice: 403 for the auditor, as for the issue it is about.
        body = problem(c.get(f"/notices/{a['id']}/pdf", headers=built.h("auditor_b")), 403)
        assert "another team" in body["detail_en"]
        assert c.get(f"/notices/{b['id']}/pdf", headers=built.h("auditor_b")).status_code == 200

        # Another business's notice: 403, and the refusal is in the event log.
        before = refusals(ndb, "business_a")
        body = problem(c.get(f"/notices/{b['id']}/pdf", headers=built.h("business_a")), 403)
        assert "another business" in body["detail_en"]
        assert refusals(ndb, "business_a") == before + 1
        [(payload,)] = sql(ndb, "SELECT payload FROM event WHERE kind = 'access.refused' AND "
                           "actor = 'api:business_a' ORDER BY seq DESC LIMIT 1")
        assert f"notice:{b['id']}" in payload

        ok = c.post("/notices/verify", files={"file": ("a.pdf", r.content, "application/pdf")},
                    headers={**built.h("business_b"), "Accept-Language": "en"})
        assert ok.status_code == 200, ok.text
        v = ok.json()
        assert (v["result"], v["ok"], v["number"], v["addressee"]) == (
            "OK", True, a["number"], a["addressee"])
        assert v["message"].startswith("OK") and v["message_zh"].startswith("核验通过")

        data = bytearray(r.content)
        assert data[:10] == b"%PDF-1.7\n%"
        data[11] ^= 0x01  # one byte in the binary comment: still a readable PDF
        bad = c.post("/notices/verify", files={"file": ("x.pdf", bytes(data))},
                     headers=built.h("office")).json()
        assert (bad["result"], bad["ok"], bad["number"]) == ("ALTERED", False, a["number"])
        # A business user is not told whose notice an altered copy claims to be, unless its own.
        hidden = c.post("/notices/verify", files={"file": ("x.pdf", bytes(data))},
                        headers=built.h("business_b")).json()
        assert (hidden["result"], hidden["number"], hidden["addressee"]) == ("ALTERED", None, None)
        own = c.post("/notices/verify", files={"file": ("x.pdf", bytes(data))},
                     headers=built.h("business_a")).json()
        assert (own["result"], own["number"]) == ("ALTERED", a["number"])
        unknown = c.post("/notices/verify", files={"file": ("x.pdf", b"%PDF-1.7\nnothing")},
                         headers=built.h("viewer")).json()
        assert (unknown["result"], unknown["number"]) == ("UNKNOWN", None)
        problem(c.post("/notices/verify", files={"file": ("x.pdf", b"")},
                       headers=built.h("viewer")), 400)
        problem(c.post("/notices/verify", headers=built.h("viewer")), 422)
        problem(c.post("/notices/verify", files={"file": ("x.pdf", r.content)}), 401)
        big = c.post("/notices/verify", files={"file": ("x.pdf", b"0" * (20 * 2**20 + 1))},
                     headers=built.h("viewer"))
        assert big.status_code == 413

        problem(c.get("/notices/999999/pdf", headers=built.h("office")), 404)


def test_pending_notice_has_no_pdf(built: Built, ndb: Path) -> None:
    from domain import notices as nsvc
    from flows.wiring import engine_for, uow_for

    url = f"sqlite:///{ndb}"
    [pending] = nsvc.record_notices(1, "draw_publication", "zh", uow_factory=uow_for(url),
                                    clock=FixedClock(datetime.fromisoformat(NOW)), actor="test")
    engine_for(url).dispose()
    with api(ndb, built.folder / "data") as c:
        assert c.get(f"/notices/{pending}", headers=built.h("viewer")).json()["status"] == \
            "pending"
        assert problem(c.get(f"/notices/{pending}/pdf", headers=built.h("viewer")),
                       404)["code"] == "no_pdf"
        # Issuing that kind now renders the one left pending, without a second number.
        r = c.post("/campaigns/1/notices", json={"kind": "draw_publication", "lang": "zh"},
                   headers=built.h("office"))
        assert r.status_code == 200 and (r.json()["recorded"], r.json()["issued"]) == (1, 1)
        assert c.get(f"/notices/{pending}/pdf", headers=built.h("viewer")).status_code == 200


def test_void_office_only_then_verify_says_void(built: Built, ndb: Path) -> None:
    with api(ndb, built.folder / "data") as c:
        a = _notices(c, built)[built.uscc_a]
        pdf = c.get(f"/notices/{a['id']}/pdf", headers=built.h("office")).content
        for who in ("planner", "viewer", "auditor_a", "business_a"):
            problem(c.post(f"/notices/{a['id']}/void", json={"reason": "错误"},
                           headers=built.h(who)), 403)
        problem(c.post(f"/notices/{a['id']}/void", json={"reason": ""},
                       headers=built.h("office")), 422)
        problem(c.post(f"/notices/{a['id']}/void", json={}, headers=built.h("office")), 422)
        r = c.post(f"/notices/{a['id']}/void", json={"reason": "送达地址错误"},
                   headers=built.h("office"))
        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["void_reason"]) == ("void", "送达地址错误")
        assert problem(c.post(f"/notices/{a['id']}/void", json={"reason": "again"},
                              headers=built.h("admin")), 409)
        v = c.post("/notices/verify", files={"file": ("a.pdf", pdf)},
                   headers=built.h("office")).json()
        assert (v["result"], v["number"]) == ("VOID", a["number"])
        problem(c.post("/notices/999999/void", json={"reason": "x"}, headers=built.h("office")),
                404)


# --- supervision ------------------------------------------------------------------------------

def test_supervision_record_list_and_rates(built: Built, fresh: Path) -> None:
    body = {"cadre_id": built.cadre, "uscc": built.cadre_uscc, "note": "查看冷库",
            "date": "2026-03-10", "issues": ["hygiene_storage:general:过期牛奶"],
            "leads": ["涉嫌销售过期食品"]}
    with api(fresh, built.folder / "data") as c:
        for who in ("planner", "viewer", "auditor_a", "business_a"):
            before = refusals(fresh, who)
            problem(c.post("/supervision/visits", json=body, headers=built.h(who)), 403)
            assert refusals(fresh, who) == before + 1
        assert events(fresh, "supervision.recorded") == 0
        # Bad input: schema 422, the domain's rules 400 / 404 / 409; nothing recorded.
        problem(c.post("/supervision/visits", json={**body, "extra": 1},
                       headers=built.h("office")), 422)
        problem(c.post("/supervision/visits", json={**body, "date": "2026-13-01"},
                       headers=built.h("office")), 422)
        problem(c.post("/supervision/visits", json={**body, "issues": ["no colons"]},
                       headers=built.h("office")), 400)
        problem(c.post("/supervision/visits", json={**body, "date": "2027-01-01"},
                       headers=built.h("office")), 400)
        problem(c.post("/supervision/visits", json={**body, "period": "2026Q9"},
                       headers=built.h("office")), 400)
        problem(c.post("/supervision/visits", json={**body, "cadre_id": "nobody"},
                       headers=built.h("office")), 404)
        assert events(fresh, "supervision.recorded") == 0

        r = c.post("/supervision/visits", json=body, headers=built.h("office"))
        assert r.status_code == 201, r.text
        v = r.json()
        assert (v["cadre_id"], v["uscc"], v["status"], v["period"], v["done_on"]) == (
            built.cadre, built.cadre_uscc, "done", "2026-03", "2026-03-10")
        assert v["opened_now"] is True and len(v["referrals"]) == 1
        assert [(f["category"], f["severity"]) for f in v["findings"]] == [
            ("hygiene_storage", "general")]
        assert v["findings"][0]["id"] > 0
        assert problem(c.post("/supervision/visits", json=body, headers=built.h("admin")),
                       409)["code"] == "already_recorded"
        assert events(fresh, "supervision.recorded") == 1

        listed = c.get("/supervision/visits", params={"period": "2026-03", "status": "done"},
                       headers=built.h("viewer")).json()
        assert listed["count"] == 1 and listed["items"][0]["id"] == v["id"]
        assert c.get("/supervision/visits", params={"cadre": built.cadre},
                     headers=built.h("planner")).json()["count"] == 1
        # Routine supervision is not a campaign auditor's: they see none of it.
        assert c.get("/supervision/visits", params={"cadre": built.cadre},
                     headers=built.h("auditor_a")).json()["count"] == 0
        other = "business_a" if built.uscc_a != built.cadre_uscc else "business_b"
        assert c.get("/supervision/visits", headers=built.h(other)).json()["count"] == 0
        problem(c.get("/supervision/visits", params={"status": "late"},
                      headers=built.h("viewer")), 422)
        problem(c.get("/supervision/visits", params={"period": "March"},
                      headers=built.h("viewer")), 400)

        rates = c.get("/supervision/rates", params={"period": "2026Q1", "by": "level"},
                      headers=built.h("planner"))
        assert rates.status_code == 200, rates.text
        q = rates.json()
        assert (q["period"], q["by"], q["total"]["done"]) == ("2026Q1", "level", 1)
        assert q["total"]["required"] >= 1 and q["groups"][0]["key"] == "township"
        assert q["overdue_count"] == len(q["overdue"]) == 0
        by_province = c.get("/supervision/rates", params={"period": "2026-03", "by": "province"},
                            headers=built.h("business_a")).json()
        assert by_province["total"]["done"] == 1 and by_province["groups"]
        problem(c.get("/supervision/rates", params={"period": "2026Q1", "by": "city"},
                      headers=built.h("viewer")), 422)
        problem(c.get("/supervision/rates", headers=built.h("viewer")), 422)
        problem(c.get("/supervision/rates", params={"period": "2026Q5"},
                      headers=built.h("viewer")), 400)
        problem(c.get("/supervision/rates", params={"period": "2026Q1"}), 401)
