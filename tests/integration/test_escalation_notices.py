"""Notices along the escalation ladder, on a real database (SQLite file; PostgreSQL when
LOOKBACK_TEST_DATABASE_URL is set).

A launched campaign's issues go through look-back checks (follow-ups fired by ``sweep`` with a
clock moved past their due dates, then ``record_check``) that fail and climb the ladder:

- warning talks (约谈通知书) go only to businesses with issues at level 2 or above, once per set of
  escalated issues: a rerun issues nothing, an issue climbing further issues nothing, another issue
  of the same business reaching the step issues a new one, an issue closed meanwhile does not;
- follow-up opinions (复查意见书): one per recorded check, never twice, with the deadline the check
  was about, the new one and the escalation step;
- the circular (督查通报) names the issues at level 3 and above, lists the referrals (移送) with their
  case status and gives the look-back figures;
- the rendered PDFs (WeasyPrint, Noto CJK) carry the Chinese text.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from domain import campaigns as csvc
from domain import notices as svc
from domain.checklists import default_checklists
from domain.clock import FixedClock
from domain.fieldwork import Answer, record_interview, rectify
from domain.followups import record_case, record_check, sweep
from domain.issues import IssueQuery
from storage.calendar import ChineseCalendarSource
from storage.synthetic import generate
from storage.uow import SqlUnitOfWork
from tests.integration.test_campaigns import create, load
from tests.plans import small_plan

LAUNCH = FixedClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
PLAN = small_plan(title="问题整改逐级升级测试", starts_on="2026-03-02", ends_on="2027-06-30",
                  days={"minor": 3, "general": 5, "serious": 8})
NOTES = {"partial": "已整改一部分，记录仍不全", "not_rectified": "现场复查仍未整改，台账缺失"}


def at(day: str) -> FixedClock:
    return FixedClock(datetime.fromisoformat(f"{day}T02:00:00+00:00"))


class Site:
    """A launched campaign: business X with issues a0 and a1, business Y with b, Z with c."""

    def __init__(self, uow_factory: Callable[[], SqlUnitOfWork], cid: int, calendar: Any,
                 issues: dict[str, int]) -> None:
        self.uow_factory, self.cid, self.calendar, self.issues = uow_factory, cid, calendar, issues

    def look_back(self, day: str, outcomes: dict[str, str]) -> None:
        """On ``day``: fire every due follow-up, then record these checks."""
        clock = at(day)
        sweep(uow_factory=self.uow_factory, clock=clock, worker="test:scheduler")
        for name, outcome in outcomes.items():
            if outcome == "verified":
                rectify(self.issues[name], measures="已整改", evidence=[], actor="t:business",
                        uow_factory=self.uow_factory, clock=clock)
            record_check(self.issues[name], outcome=outcome,
                         note=NOTES.get(outcome, "整改到位，长效机制已建立"), evidence=[],
                         hard_measures=None if outcome != "partial" else True,
                         fixed=None if outcome != "partial" else False,
                         mechanism=None if outcome != "partial" else False, team=None,
                         actor="t:team", uow_factory=self.uow_factory, clock=clock,
                         calendar=self.calendar)

    def level(self, name: str) -> int:
        with self.uow_factory() as uow:
            i = uow.issues.get(self.issues[name])
        assert i is not None
        return i.escalation

    def record(self, kind: str, day: str) -> list[svc.Notice]:
        """Record (number) the notices of ``kind`` on ``day``; the new ones."""
        with self.uow_factory() as uow:
            before = {n.id for n in uow.notices.list_notices(self.cid, kind)}
        svc.record_notices(self.cid, kind, "zh", uow_factory=self.uow_factory, clock=at(day),
                           actor="t:office")
        with self.uow_factory() as uow:
            return [n for n in uow.notices.list_notices(self.cid, kind) if n.id not in before]


@pytest.fixture(scope="module")
def registers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("registers")
    generate(folder, businesses=1000, seed=11)
    return folder


@pytest.fixture
def site(uow_factory: Callable[[], SqlUnitOfWork], registers: Path, tmp_path: Path) -> Site:
    load(uow_factory, registers)
    cid = create(uow_factory, PLAN)
    csvc.launch(cid, uow_factory=uow_factory, clock=LAUNCH)
    checklists = default_checklists()
    items = [i.id for i in checklists.for_role("owner")][:2]
    calendar = ChineseCalendarSource(tmp_path)
    with uow_factory() as uow:
        visits = uow.fieldwork.list_visits(cid, team=None, status=None)[:3]
    fails = [[Answer(items[0], "fail"), Answer(items[1], "fail")],
             [Answer(items[0], "fail"), Answer(items[1], "pass")],
             [Answer(items[0], "fail"), Answer(items[1], "pass")]]
    for v, answers in zip(visits, fails, strict=True):
        record_interview(v.id, "owner", "业主", answers, team=None, actor="t", uow_factory=uow_factory,
                         clock=LAUNCH, checklists=checklists, calendar=calendar)
    with uow_factory() as uow:
        issues = uow.issues.list(IssueQuery(campaign_id=cid))
    by_visit: dict[int, list[int]] = {}
    for i in issues:
        by_visit.setdefault(i.visit_id, []).append(i.id)
    a0, a1 = sorted(by_visit[visits[0].id])
    names = {"a0": a0, "a1": a1, "b": by_visit[visits[1].id][0], "c": by_visit[visits[2].id][0]}
    s = Site(uow_factory, cid, calendar, names)
    assert len(s.record("rectification_order", "2026-03-03")) == 3
    return s


def _issue_ids(n: svc.Notice) -> list[int]:
    return [int(i["id"]) for i in n.content["issues"]]


def test_warning_talks_follow_the_ladder(site: Site) -> None:
    i = site.issues
    # Round 1: three failed checks climb one step each (reminder): no talk yet.
    site.look_back("2026-05-04", {"a0": "partial", "b": "not_rectified", "c": "not_rectified"})
    assert [site.level(n) for n in ("a0", "a1", "b", "c")] == [1, 0, 1, 1]
    assert site.record("warning_talk", "2026-05-05") == []
    # Round 2: a0 and b reach the warning-talk step; c is verified (closed at level 1).
    site.look_back("2026-07-01", {"a0": "not_rectified", "b": "partial", "c": "verified"})
    talks = site.record("warning_talk", "2026-07-02")
    assert sorted(_issue_ids(n) for n in talks) == sorted([[i["a0"]], [i["b"]]])
    x = next(n for n in talks if _issue_ids(n) == [i["a0"]])
    assert x.content["issues"][0]["escalation"] == "warning_talk"
    failed = x.content["issues"][0]["checks"]
    assert [c["outcome"] for c in failed] == ["partial", "not_rectified"]
    assert [c["date"] for c in failed] == ["2026-05-04", "2026-07-01"]
    assert failed[1]["note"] == NOTES["not_rectified"]
    assert set(x.content["talk"]) == {"date", "time", "place", "attendees"}
    # Rerun the same day and the next: nothing new.
    assert site.record("warning_talk", "2026-07-02") == []
    assert site.record("warning_talk", "2026-07-03") == []
    # Round 3: a0 and b climb to the circular step, a1 gets its first failed check: an issue
    # already talked about climbing further is no reason for a second talk.
    site.look_back("2026-09-01", {"a0": "not_rectified", "b": "not_rectified",
                                  "a1": "not_rectified"})
    assert [site.level(n) for n in ("a0", "a1", "b")] == [3, 1, 3]
    assert site.record("warning_talk", "2026-09-02") == []
    # Round 4: a1 reaches the warning-talk step: a new talk for business X, naming both issues.
    site.look_back("2026-11-02", {"a1": "partial", "a0": "not_rectified"})
    assert site.level("a1") == 2 and site.level("a0") == 4
    again = site.record("warning_talk", "2026-11-03")
    assert [_issue_ids(n) for n in again] == [sorted([i["a0"], i["a1"]])]
    assert again[0].uscc == x.uscc
    assert site.record("warning_talk", "2026-11-03") == []
    # Round 5: a1 is closed; X still has a0 escalated, but that one was already talked about.
    site.look_back("2027-01-04", {"a1": "verified"})
    assert site.record("warning_talk", "2027-01-05") == []
    with site.uow_factory() as uow:
        seqs = sorted(int(n.number.split("〕")[1][:-1])
                      for n in uow.notices.list_notices(site.cid, "warning_talk"))
    assert seqs == [1, 2, 3]


def test_one_followup_opinion_per_recorded_check(site: Site) -> None:
    i = site.issues
    with site.uow_factory() as uow:
        first_due = uow.issues.get(i["b"]).due_on.isoformat()  # type: ignore[union-attr]
    site.look_back("2026-05-04", {"a0": "partial", "b": "not_rectified"})
    ops = site.record("followup_opinion", "2026-05-05")
    assert len(ops) == 2
    assert site.record("followup_opinion", "2026-05-05") == []
    site.look_back("2026-07-01", {"b": "not_rectified", "a0": "verified"})
    new = site.record("followup_opinion", "2026-07-02")
    assert len(new) == 2
    assert site.record("followup_opinion", "2026-07-03") == []
    with site.uow_factory() as uow:
        recorded = uow.followups.list(status="recorded", kind="review", team=None,
                                      campaign_id=site.cid, due_before=None, limit=100)
        b_now = uow.issues.get(i["b"])
    assert len(recorded) == 4
    keys = {n.content["followup"]["followup"] for n in ops + new}
    assert keys == {f.id for f in recorded}
    b1 = next(n for n in ops if n.content["issue"]["id"] == i["b"])
    f = b1.content["followup"]
    assert b1.content["issue"]["due_on"] == first_due  # the deadline the check was about
    assert f["outcome"] == "not_rectified" and f["date"] == "2026-05-04"
    assert (f["hard_measures"], f["fixed"], f["lasting_mechanism"]) == (False, False, False)
    assert f["note"] == NOTES["not_rectified"]
    assert f["new_due_on"] > "2026-05-04"
    assert f["escalation_step"] == {"from": "none", "to": "reminder", "level": 1}
    b2 = next(n for n in new if n.content["issue"]["id"] == i["b"])
    assert b2.content["issue"]["due_on"] == f["new_due_on"]
    assert b2.content["followup"]["escalation_step"]["to"] == "warning_talk"
    assert b2.content["followup"]["new_due_on"] == b_now.due_on.isoformat()  # type: ignore[union-attr]
    a2 = next(n for n in new if n.content["issue"]["id"] == i["a0"])
    assert a2.content["followup"]["outcome"] == "verified"
    assert "new_due_on" not in a2.content["followup"]
    assert "escalation_step" not in a2.content["followup"]
    a1 = next(n for n in ops if n.content["issue"]["id"] == i["a0"])
    assert (a1.content["followup"]["hard_measures"], a1.content["followup"]["fixed"]) == (True,
                                                                                         False)
    assert all(n.number.startswith("某市食品安全委员会办公室复查〔2026〕") for n in ops + new)


def _climb(site: Site) -> None:
    """a0 to referral (4), b to circular (3), c verified, a1 left at level 0."""
    site.look_back("2026-05-04", {"a0": "not_rectified", "b": "not_rectified",
                                  "c": "partial"})
    site.look_back("2026-07-01", {"a0": "not_rectified", "b": "partial", "c": "verified"})
    site.look_back("2026-09-01", {"a0": "partial", "b": "not_rectified"})
    site.look_back("2026-11-02", {"a0": "not_rectified"})
    assert [site.level(n) for n in ("a0", "a1", "b", "c")] == [4, 0, 3, 1]


def test_circular_names_escalated_issues_and_referrals(site: Site) -> None:
    i = site.issues
    _climb(site)
    [c] = site.record("circular", "2026-11-03")
    body = c.content
    named = {e["issue"]: e for e in body["escalated"]}
    assert set(named) == {i["a0"], i["b"]}
    assert [e["issue"] for e in body["escalated"]] == [i["a0"], i["b"]]  # highest step first
    assert named[i["a0"]]["step"] == "referral" and named[i["b"]]["step"] == "circular"
    assert [k["outcome"] for k in named[i["a0"]]["checks"]] == [
        "not_rectified", "not_rectified", "partial", "not_rectified"]
    assert named[i["b"]]["name"] and named[i["b"]]["uscc"]
    [r] = body["referrals"]
    assert r["issue"] == i["a0"] and r["case_status"] == "referred"
    assert r["referred_on"] == "2026-11-02"
    fu = body["followups"]
    assert (fu["recorded"], fu["verified"], fu["partial"], fu["not_rectified"]) == (9, 1, 3, 5)
    assert fu["escalations"] == {"reminder": 3, "warning_talk": 2, "circular": 2, "referral": 1}
    assert fu["cases"]["referred"] == 1
    assert site.record("circular", "2026-11-03") == []
    # The case is filed: the next circular shows it.
    record_case(i["a0"], status="filed", number="某市监立〔2026〕88号", actor="t:office",
                uow_factory=site.uow_factory, clock=at("2026-11-10"))
    [later] = site.record("circular", "2026-11-11")
    [r2] = later.content["referrals"]
    assert (r2["case_status"], r2["case_number"]) == ("filed", "某市监立〔2026〕88号")
    assert later.content["followups"]["cases"]["filed"] == 1


# --- rendered ---------------------------------------------------------------------------------

def _fonts_ok() -> bool:
    try:
        from report_templates.render import check_fonts

        check_fonts()
    except Exception:
        return False
    return True


@pytest.mark.skipif(not _fonts_ok(), reason="fonts-noto-cjk is not installed")
def test_rendered_pdfs_carry_the_chinese_text(site: Site) -> None:
    from report_templates.render import extract_content, render
    from tests.integration.test_render import _text

    i = site.issues
    _climb(site)
    site.look_back("2027-01-04", {"a1": "not_rectified"})
    site.look_back("2027-03-01", {"a1": "partial"})
    talks = site.record("warning_talk", "2027-03-02")
    opinions = site.record("followup_opinion", "2027-03-02")
    [circ] = site.record("circular", "2027-03-02")
    x = next(n for n in talks if i["a1"] in _issue_ids(n))
    a0_last = max((n for n in opinions if n.content["issue"]["id"] == i["a0"]),
                  key=lambda n: n.content["followup"]["followup"])
    chosen = [x, a0_last, circ]
    rendered = [(n.id, render(n.content)) for n in chosen]
    assert svc.store_issued(rendered, uow_factory=site.uow_factory, clock=at("2027-03-02"),
                            actor="t:office") == 3
    with site.uow_factory() as uow:
        stored = {n.id: uow.notices.pdf(uow.notices.get(n.id).pdf_sha256)  # type: ignore[union-attr,arg-type]
                  for n in chosen}
    for n in chosen:
        assert extract_content(stored[n.id]) == n.content  # type: ignore[arg-type]
    talk = _text(stored[x.id])  # type: ignore[arg-type]
    assert "约谈通知书" in talk and x.addressee in talk
    assert "经复查仍未整改到位" in talk and "升级至约谈" in talk
    assert "2026年5月4日" in talk and "未整改到位" in talk and "部分整改到位" in talk
    assert NOTES["not_rectified"] in talk
    assert "约谈时间" in talk and "参加人员" in talk and "主要负责人" in talk
    opinion = _text(stored[a0_last.id])  # type: ignore[arg-type]
    assert "复查意见书" in opinion
    for q in ("硬措施是否落实否", "问题是否真正解决否", "长效机制是否建立否", "未整改到位"):
        assert q in opinion
    assert "升级至移送" in opinion and "将问题线索移送有关部门依法处理" in opinion
    assert "如不服本意见书，可在收到之日起六十日内依法申请行政复议" in opinion
    assert "送达回执" in opinion
    circular = _text(stored[circ.id])  # type: ignore[arg-type]
    assert "“回头看”复查及问题升级情况" in circular
    assert "通报问题名单" in circular and "移送问题线索及办理情况" in circular
    assert "已移送，待立案" in circular
    for e in circ.content["escalated"]:
        assert e["name"] in circular
    assert circ.content["escalated"][0]["step"] == "referral"
