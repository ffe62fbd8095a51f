"""The issue owner and the services that use it — fieldwork, the bulk import, look-backs,
notices, routine supervision — on the in-memory world of ``lifecycle_fakes`` (milliseconds; the
same services run on SQLite and PostgreSQL in tests/integration)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import fieldwork as fw
from domain import followups as fu
from domain import issues
from domain import notices as nsvc
from domain import supervision as sv
from domain.checklists import default_checklists
from domain.clock import FixedClock
from domain.errors import ConflictError, InputError
from domain.events import verify_chain
from domain.issues import Action, IssueStatus
from domain.registers import Business, Cadre, CadreLevel, Category, RiskLevel
from domain.visits import Answer, Visit
from domain.workdays import YearCalendar, add_workdays
from tests.unit.lifecycle_fakes import World


class NoHolidays:
    """Every weekday a working day, in every year (and known, so never provisional)."""

    def year(self, year: int) -> YearCalendar:
        return YearCalendar(year, frozenset(), frozenset(), "test")


CAL = NoHolidays()
MON = FixedClock(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))  # Monday 2 March 2026, 09:00 China
B1, B2 = "911101010000000001", "911101010000000002"
ACTOR = "test"


def world() -> World:
    w = World()
    w.plans[1] = {"rectification_days": {"general": 10, "minor": 5, "serious": 15},
                  "lookback_grace_workdays": 5, "reminder_workdays": 3}
    for u in (B1, B2):
        w.businesses[u] = Business(u, f"主体{u[-1]}", "110101", Category.CATERING, RiskLevel.B)
    w.visits[1] = Visit(1, 1, "launched", B1, "主体1", "110101", 1, "planned", None)
    w.visits[2] = Visit(2, 1, "launched", B2, "主体2", "110101", 2, "planned", None)
    w.cadres["T1"] = Cadre("T1", "王干部", CadreLevel.TOWNSHIP, "110101")
    w.assignments.add(("T1", B1))
    return w


def finding(w: World, visit: int = 1, clock: FixedClock = MON) -> int:
    return fw.add_issue(visit, provision=1, category="records", severity="general", description="台账缺失",
                        evidence=[], team=None, actor=ACTOR, uow_factory=w.uow, clock=clock,
                        calendar=CAL, categories=("records",))


def at_day(d: date) -> FixedClock:
    return FixedClock(datetime(d.year, d.month, d.day, 1, 0, tzinfo=UTC))


# --- registering and changing ---------------------------------------------------------------

def test_a_finding_is_registered_with_its_follow_ups_and_one_event() -> None:
    w = world()
    i = finding(w)
    issue = w.issues[i]
    assert issue.due_on == add_workdays(date(2026, 3, 2), 10, CAL).date == date(2026, 3, 16)
    assert (issue.status, issue.version, issue.team_no) == (IssueStatus.OPEN, 1, 1)
    rows = sorted((f.kind, f.revision, f.due_on) for f in w.followups.values())
    assert rows == [("reminder", 1, date(2026, 3, 11)), ("review", 1, date(2026, 3, 23))]
    assert w.kinds(f"issue:{i}") == ["issue.registered"]
    assert verify_chain(w.events).ok


def test_a_stale_version_changes_nothing() -> None:
    w = world()
    i = finding(w)
    before = (dict(w.issues), list(w.events), w.commits)
    with pytest.raises(ConflictError) as e:
        fw.rectify(i, measures="已整改", evidence=[], actor=ACTOR, uow_factory=w.uow, clock=MON,
                   expected_version=7)
    assert e.value.code == "stale_version"
    assert (dict(w.issues), list(w.events), w.commits) == before


def test_rectify_records_the_report_date() -> None:
    w = world()
    i = finding(w)
    out = fw.rectify(i, measures="已整改", evidence=[], actor=ACTOR, uow_factory=w.uow,
                     clock=at_day(date(2026, 3, 10)))
    assert out.status is IssueStatus.RECTIFICATION_REPORTED
    assert w.issues[i].reported_on == date(2026, 3, 10) and w.issues[i].version == 2
    assert w.kinds(f"issue:{i}")[-1] == "issue.report_rectification"


def test_an_extension_during_an_open_look_back_cancels_it_and_plans_the_next() -> None:
    w = world()
    i = finding(w)
    review = next(f for f in w.followups.values() if f.kind == "review")
    fu.fire(None, uow_factory=w.uow, clock=FixedClock(datetime.fromtimestamp(review.due_at, UTC)),
            worker=ACTOR)
    assert w.followups[review.id].status == "open"
    fw.extend(i, workdays=5, reason="等待检测", approver="李科长", actor=ACTOR,
              uow_factory=w.uow, clock=MON, calendar=CAL)
    assert w.followups[review.id].status == "cancelled"
    assert w.kinds()[-2:] == ["issue.extend", "followup.cancelled"]
    assert w.issues[i].due_on == date(2026, 3, 23)
    rev2 = [f for f in w.followups.values() if f.revision == 2]
    assert {(f.kind, f.status) for f in rev2} == {("review", "pending"), ("reminder", "pending")}


def test_mark_overdue_takes_open_and_notified_never_a_reported_issue() -> None:
    w = world()
    opened, notified, reported = finding(w), finding(w), finding(w)
    issues.transition(notified, Action.NOTIFY, actor=ACTOR, uow_factory=w.uow, clock=MON)
    fw.rectify(reported, measures="已整改", evidence=[], actor=ACTOR, uow_factory=w.uow, clock=MON)
    marked = issues.mark_overdue(today=date(2026, 3, 17), actor=ACTOR, uow_factory=w.uow,
                                 clock=MON)
    assert marked == [opened, notified]
    assert w.issues[reported].status is IssueStatus.RECTIFICATION_REPORTED
    assert [e.entity for e in w.events if e.kind == "issue.mark_overdue"] == [
        f"issue:{opened}", f"issue:{notified}"]
    assert issues.mark_overdue(today=date(2026, 3, 17), actor=ACTOR, uow_factory=w.uow,
                               clock=MON) == []
    # Not before the due date has passed.
    w2 = world()
    finding(w2)
    assert issues.mark_overdue(today=date(2026, 3, 16), actor=ACTOR, uow_factory=w2.uow,
                               clock=MON) == []


# --- look-backs ---------------------------------------------------------------------------------

def _open_review(w: World, issue_id: int) -> tuple[int, FixedClock]:
    review = next(f for f in sorted(w.followups.values(), key=lambda f: -f.revision)
                  if f.issue_id == issue_id and f.kind == "review" and f.status == "pending")
    clock = FixedClock(datetime.fromtimestamp(review.due_at, UTC))
    early = FixedClock(clock.now() - timedelta(seconds=1))
    assert fu.fire(None, uow_factory=w.uow, clock=early, worker=ACTOR).opened == 0  # not early
    assert fu.fire(None, uow_factory=w.uow, clock=clock, worker=ACTOR).opened >= 1
    assert fu_open(w, issue_id)
    assert fu.fire(None, uow_factory=w.uow, clock=clock, worker=ACTOR).fired == 0  # once
    return review.id, clock


def _check(w: World, i: int, outcome: str, clock: FixedClock) -> fu.CheckResult:
    return fu.record_check(i, outcome=outcome, note="复查所见", evidence=[], hard_measures=None,
                           fixed=None, mechanism=None, team=None, actor=ACTOR, uow_factory=w.uow,
                           clock=clock, calendar=CAL)


def test_reported_in_time_then_verified_is_on_time_and_never_overdue() -> None:
    w = world()
    i = finding(w)
    fw.rectify(i, measures="已整改", evidence=[], actor=ACTOR, uow_factory=w.uow,
               clock=at_day(date(2026, 3, 12)))
    review, clock = _open_review(w, i)
    issues.mark_overdue(today=clock.now().date(), actor=ACTOR, uow_factory=w.uow, clock=clock)
    r = _check(w, i, "verified", clock)
    assert r.issue.status is IssueStatus.VERIFIED and w.issues[i].on_time is True
    assert "issue.mark_overdue" not in w.kinds(f"issue:{i}")
    assert w.followups[review].status == "recorded"
    assert all(f.status != "pending" for f in w.followups.values() if f.issue_id == i)


def test_reported_late_or_after_a_failed_check_is_not_on_time() -> None:
    w = world()
    late, failed = finding(w), finding(w)
    _, clock = _open_review(w, late)  # both fall due at the same instant: both open
    issues.mark_overdue(today=clock.now().date(), actor=ACTOR, uow_factory=w.uow, clock=clock)
    assert w.issues[late].status is IssueStatus.OVERDUE
    fw.rectify(late, measures="补报整改", evidence=[], actor=ACTOR, uow_factory=w.uow, clock=clock)
    _check(w, late, "verified", clock)
    assert w.issues[late].on_time is False

    assert fu_open(w, failed)
    r = _check(w, failed, "not_rectified", clock)
    assert r.escalation == 1 and r.new_due_on is not None
    assert w.issues[failed].status is IssueStatus.NOTIFIED
    fw.rectify(failed, measures="已整改", evidence=[], actor=ACTOR, uow_factory=w.uow, clock=clock)
    _, clock2 = _open_review(w, failed)
    _check(w, failed, "verified", clock2)
    assert w.issues[failed].on_time is False  # a look-back had found it unrectified


def fu_open(w: World, issue_id: int) -> bool:
    return any(f.issue_id == issue_id and f.status == "open" for f in w.followups.values())


def test_failed_checks_climb_the_ladder_to_one_referral() -> None:
    w = world()
    i = finding(w)
    levels = []
    for _ in range(5):
        _, clock = _open_review(w, i)
        issues.mark_overdue(today=clock.now().date(), actor=ACTOR, uow_factory=w.uow,
                            clock=clock)  # as the sweep does: nothing reported
        r = _check(w, i, "not_rectified", clock)
        levels.append(r.escalation)
        assert {f.revision for f in w.followups.values() if f.issue_id == i} == set(
            range(1, len(levels) + 2))
    assert levels == [1, 2, 3, 4, 4]
    assert [r["issue_id"] for r in w.referrals.values()] == [i]
    assert verify_chain(w.events).ok


# --- interviews through the bulk path -----------------------------------------------------------

def test_an_interview_registers_each_failed_item_once_per_business() -> None:
    w = world()
    items = [it.id for it in default_checklists().for_role("owner")][:3]
    out = fw.record_interview(1, "Owner", "业主", [Answer(items[0].lower(), "不合格", "缺"),
                                                 Answer(items[1], "pass")],
                              team=None, actor=ACTOR, uow_factory=w.uow, clock=MON,
                              checklists=default_checklists(), calendar=CAL)
    assert out.failed == 1 and len(out.issues_registered) == 1
    again = fw.record_interview(1, "director", "总监", [Answer(items[0], "fail", "仍缺")],
                                team=None, actor=ACTOR, uow_factory=w.uow, clock=MON,
                                checklists=default_checklists(), calendar=CAL) \
        if items[0] in {it.id for it in default_checklists().for_role("director")} else None
    if again is not None:
        assert again.issues_registered == [] and again.issues_existing == out.issues_registered
    assert w.kinds().count("issue.registered") == 1
    assert w.kinds().count("interview.recorded") == (2 if again else 1)


def test_bad_answers_are_all_refused_at_once_and_nothing_is_stored() -> None:
    w = world()
    item = next(iter(default_checklists().for_role("owner"))).id
    with pytest.raises(InputError) as e:
        fw.record_interview(1, "owner", "业主", [Answer("NOPE-99", "pass"), Answer(item, "maybe")],
                            team=None, actor=ACTOR, uow_factory=w.uow, clock=MON,
                            checklists=default_checklists(), calendar=CAL)
    assert "NOPE-99" in e.value.en and "maybe" in e.value.en
    assert (w.interviews, w.answers, w.issues, w.events) == ({}, [], {}, [])


# --- notices ----------------------------------------------------------------------------------

def test_an_issued_order_notifies_its_issues_once() -> None:
    w = world()
    r = sv.record(cadre_id="T1", uscc=B1, note="督导", uow_factory=w.uow, clock=MON,
                  calendar=CAL, actor=ACTOR, findings=["records:general:台账缺失"])
    [i] = r.finding_ids
    ids = nsvc.record_supervision_orders("zh", office="某县食安办", uow_factory=w.uow, clock=MON,
                                         actor=ACTOR)
    assert len(ids) == 1 and w.notices[ids[0]].number == "某县食安办责改〔2026〕1号"
    assert nsvc.record_supervision_orders("zh", office="某县食安办", uow_factory=w.uow,
                                          clock=MON, actor=ACTOR) == ids  # nothing new
    assert nsvc.store_issued([(ids[0], b"%PDF-1.7 test")], uow_factory=w.uow, clock=MON,
                             actor=ACTOR) == 1
    assert nsvc.store_issued([(ids[0], b"%PDF-1.7 test")], uow_factory=w.uow, clock=MON,
                             actor=ACTOR) == 0
    assert w.issues[i].status is IssueStatus.NOTIFIED
    assert w.kinds(f"issue:{i}") == ["issue.registered", "issue.notify"]


# --- routine supervision --------------------------------------------------------------------------

def test_supervision_findings_are_issues_with_follow_ups() -> None:
    w = world()
    r = sv.record(cadre_id="T1", uscc=B1, note="督导", uow_factory=w.uow, clock=MON,
                  calendar=CAL, actor=ACTOR, findings=["records:minor:台账缺页",
                                                      "hygiene_storage:serious:过期食品"],
                  leads=["涉嫌销售过期食品"])
    found = [w.issues[i] for i in r.finding_ids]
    assert [(i.campaign_id, i.visit_id, i.supervision_visit_id, i.source) for i in found] == [
        (None, None, r.visit.id, "supervision")] * 2
    assert [i.due_on for i in found] == [date(2026, 3, 9), date(2026, 3, 23)]  # 5 and 15 days
    assert {f.issue_id for f in w.followups.values() if f.kind == "review"} == set(r.finding_ids)
    assert len(w.referrals) == 1
    with pytest.raises(ConflictError):
        sv.record(cadre_id="T1", uscc=B1, note="再次", uow_factory=w.uow, clock=MON, calendar=CAL,
                  actor=ACTOR)
    with pytest.raises(ConflictError) as e:
        sv.record(cadre_id="T1", uscc=B2, note="不是包保", uow_factory=w.uow, clock=MON,
                  calendar=CAL, actor=ACTOR)
    assert e.value.code == "not_assigned"


# --- the state machine, as a property ----------------------------------------------------------

STEPS = st.lists(st.sampled_from(["notify", "report", "overdue", "verify", "not_rectified",
                                  "extend"]), max_size=12)


@settings(max_examples=300, deadline=None)
@given(steps=STEPS, days=st.lists(st.integers(0, 40), min_size=12, max_size=12))
def test_every_action_is_one_event_and_a_reported_issue_is_never_overdue(
        steps: list[str], days: list[int]) -> None:
    w = world()
    i = finding(w)
    day = date(2026, 3, 2)
    for step, gap in zip(steps, days, strict=False):
        day += timedelta(days=gap)
        clock = at_day(day)
        before, events = w.issues[i], len(w.events)
        try:
            if step == "notify":
                issues.transition(i, Action.NOTIFY, actor=ACTOR, uow_factory=w.uow, clock=clock)
            elif step == "report":
                fw.rectify(i, measures="已整改", evidence=[], actor=ACTOR, uow_factory=w.uow,
                           clock=clock)
            elif step == "overdue":
                issues.mark_overdue(today=day, actor=ACTOR, uow_factory=w.uow, clock=clock)
            elif step == "verify":
                issues.transition(i, Action.VERIFY, actor=ACTOR, uow_factory=w.uow, clock=clock)
            elif step == "not_rectified":
                issues.transition(i, Action.NOT_RECTIFIED, actor=ACTOR, uow_factory=w.uow,
                                  clock=clock, due=add_workdays(day, 10, CAL),
                                  escalation=before.escalation + 1, calendar=CAL)
            else:
                fw.extend(i, workdays=3, reason="r", approver="a", actor=ACTOR,
                          uow_factory=w.uow, clock=clock, calendar=CAL)
        except ConflictError:
            assert w.issues[i] == before and len(w.events) == events  # refused: nothing changed
            continue
        after = w.issues[i]
        changed = after != before
        assert after.version == before.version + (1 if changed else 0)
        assert len([e for e in w.events[events:] if e.entity == f"issue:{i}"]) == (
            1 if changed else 0)
        if before.status is IssueStatus.RECTIFICATION_REPORTED:
            assert after.status is not IssueStatus.OVERDUE
        # The pending review always belongs to the current due date.
        pending = [f for f in w.followups.values()
                   if f.issue_id == i and f.kind == "review" and f.status == "pending"]
        if after.status is not IssueStatus.VERIFIED:
            assert len(pending) <= 1
            assert all(f.revision == max(g.revision for g in w.followups.values()
                                         if g.issue_id == i) for f in pending)
        if after.status is IssueStatus.VERIFIED:
            assert after.on_time == (after.reported_on is not None
                                     and after.reported_on <= after.due_on
                                     and after.escalation == 0)
    assert verify_chain(w.events).ok
