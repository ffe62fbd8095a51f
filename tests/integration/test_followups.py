"""The look-back loop through the domain services on a real database (SQLite file, or PostgreSQL
when LOOKBACK_TEST_DATABASE_URL is set).

Follow-up rows are planned wherever a due date is set (revision 1 for a new issue, a new revision
after an extension or a failed check, the old pending rows cancelled); firing claims each row once,
even with four threads sweeping at once, and never before its due instant; a check climbs the
escalation ladder exactly one step per failure, refers the case once at the top, and verified
closes the issue. Every state change writes its event and the hash chain stays valid.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from domain import fieldwork as fw
from domain import followups as fu
from domain import issues as iss
from domain.clock import CHINA_TZ, FixedClock, china_date
from domain.errors import BadArgumentError, ConflictError, NotFoundError
from domain.followups import REFERRAL, fire_instant, workday_before
from domain.issues import Action, IssueStatus
from domain.vocabulary import LADDER
from domain.workdays import add_workdays
from tests.integration.test_lifecycle import (
    FAILED,
    NOW,
    RECT_DAYS,
    Campaign,
    Template,
    make_registers,
)

ACTOR = "test:followups"
GRACE, REMIND = 5, 3  # the plan's defaults (tests/plans.py sets neither)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    folder = tmp_path_factory.mktemp("followups")
    return Template(folder, make_registers(folder / "registers"))


@pytest.fixture
def c(template: Template) -> Any:
    camp = template.fresh()
    yield camp
    template.done(camp)


# --- helpers ---------------------------------------------------------------------------------

def issues(c: Campaign) -> list[int]:
    """Three issues on the first visit, registered at NOW (2026-03-10 09:00 UTC)."""
    out = c.interview(c.visits[0], "director", FAILED, clock=NOW, actor=ACTOR)
    assert len(out.issues_registered) == 3
    return out.issues_registered


def rows(c: Campaign, issue_id: int) -> list[fu.FollowUp]:
    with c.read() as uow:
        return uow.followups.of_issue(issue_id)


def row(c: Campaign, followup_id: int) -> fu.FollowUp:
    with c.read() as uow:
        found = uow.followups.get(followup_id)
    assert found is not None
    return found


def pending_review(c: Campaign, issue_id: int) -> fu.FollowUp:
    [r] = [x for x in rows(c, issue_id) if x.kind == fu.REVIEW and x.status == "pending"]
    return r


def at(instant: datetime) -> FixedClock:
    return FixedClock(instant)


def fire_all(c: Campaign, clock: FixedClock, *, batch: int = 500) -> fu.SweepResult:
    return fu.fire(None, uow_factory=c.uow_factory, clock=clock, worker="test:worker",
                   batch=batch)


def open_review(c: Campaign, issue_id: int) -> tuple[fu.FollowUp, FixedClock]:
    """Fire the issue's pending review at its due instant; returns it and that clock."""
    r = pending_review(c, issue_id)
    clock = at(datetime.fromtimestamp(r.due_at, UTC))
    fu.fire([r.id], uow_factory=c.uow_factory, clock=clock, worker="test:worker")
    opened = row(c, r.id)
    assert opened.status == "open"
    return opened, clock


def check(c: Campaign, issue_id: int, outcome: str, clock: FixedClock, **answers: Any
          ) -> fu.CheckResult:
    return fu.record_check(issue_id, outcome=outcome, note="复查所见", evidence=[],
                           hard_measures=answers.get("hard"), fixed=answers.get("fixed"),
                           mechanism=answers.get("mechanism"), team=answers.get("team"),
                           actor=ACTOR, uow_factory=c.uow_factory, clock=clock,
                           calendar=c.calendar)


def table_counts(c: Campaign) -> dict[str, int]:
    with c.engine.connect() as conn:
        return {t: int(conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one())
                for t in ("event", "followup", "referral", "issue", "evidence")}


def snapshot(c: Campaign, issue_id: int) -> tuple[Any, ...]:
    return (c.issue(issue_id), [(x.id, x.status, x.outcome, x.revision) for x in rows(c, issue_id)],
            table_counts(c))


def events(c: Campaign, kind_prefix: str = "") -> list[Any]:
    with c.read() as uow:
        return [e for e in uow.events.all() if e.kind.startswith(kind_prefix)]


def chain_ok(c: Campaign) -> None:
    result = c.chain()
    assert result.ok, result


# --- planning --------------------------------------------------------------------------------

def test_new_issues_get_a_review_and_a_reminder_of_revision_1(c: Campaign) -> None:
    today = china_date(NOW.now())
    team = c.visits[0].team_no
    seen_reminder = False
    for i in issues(c):
        issue = c.issue(i)
        got = rows(c, i)
        review_on = add_workdays(issue.due_on, GRACE, c.calendar).date
        remind_on = workday_before(issue.due_on, REMIND, c.calendar)
        expected = {(fu.REVIEW, 1, review_on, fu.epoch(fire_instant(review_on)))}
        if remind_on > today:
            expected.add((fu.REMINDER, 1, remind_on, fu.epoch(fire_instant(remind_on))))
            seen_reminder = True
        assert {(x.kind, x.revision, x.due_on, x.due_at) for x in got} == expected
        assert all(x.status == "pending" and x.team_no == team for x in got)
        assert review_on > issue.due_on and remind_on < issue.due_on
    assert seen_reminder


def test_a_reminder_already_past_is_not_planned(c: Campaign) -> None:
    i = issues(c)[0]
    issue = c.issue(i)
    # Extend on the day before the due date: the new due date is one working day later, so the
    # new reminder (three working days before it) lies in the past.
    late = at(datetime.combine(issue.due_on - timedelta(days=1), datetime.min.time(), UTC)
              + timedelta(hours=2))
    fw.extend(i, workdays=1, reason="设备待更换", approver="李科长", actor=ACTOR,
              uow_factory=c.uow_factory, clock=late, calendar=c.calendar)
    rev2 = [x for x in rows(c, i) if x.revision == 2]
    assert [x.kind for x in rev2] == [fu.REVIEW]


def test_an_extension_cancels_the_pending_rows_and_plans_revision_2(c: Campaign) -> None:
    i = issues(c)[2]
    before = rows(c, i)
    assert {x.revision for x in before} == {1}
    old_due = c.issue(i).due_on
    events_before = table_counts(c)["event"]
    issue = fw.extend(i, workdays=10, reason="设备待更换", approver="李科长", actor=ACTOR,
                      uow_factory=c.uow_factory, clock=NOW, calendar=c.calendar)
    assert issue.due_on > old_due
    after = {x.id: x for x in rows(c, i)}
    for x in before:  # the old revision: cancelled, not deleted
        assert (after[x.id].status, after[x.id].outcome) == ("cancelled", "superseded")
    rev2 = [x for x in after.values() if x.revision == 2]
    review_on = add_workdays(issue.due_on, GRACE, c.calendar).date
    remind_on = workday_before(issue.due_on, REMIND, c.calendar)
    assert {(x.kind, x.due_on, x.status) for x in rev2} == {
        (fu.REVIEW, review_on, "pending"), (fu.REMINDER, remind_on, "pending")}
    assert table_counts(c)["event"] == events_before + 1  # issue.extend
    chain_ok(c)


# --- firing ----------------------------------------------------------------------------------

def test_nothing_fires_before_its_due_instant(c: Campaign) -> None:
    i = issues(c)[1]
    r = pending_review(c, i)
    due = datetime.fromtimestamp(r.due_at, UTC)
    assert due == fire_instant(r.due_on)
    assert due.astimezone(CHINA_TZ).time().isoformat() == "00:00:00"
    early = fire_all(c, at(due - timedelta(seconds=1)))
    assert r.id not in early.fired_ids
    assert row(c, r.id).status == "pending"
    assert fu.fire([r.id], uow_factory=c.uow_factory, clock=at(due - timedelta(milliseconds=1)),
                   worker="w").fired == 0
    assert row(c, r.id).status == "pending"
    done = fire_all(c, at(due))
    assert r.id in done.fired_ids
    fired = row(c, r.id)
    assert fired.status == "open" and fired.fired_at is not None
    assert fired.fired_at >= due


def test_a_review_opens_and_a_reminder_is_sent_once_each(c: Campaign) -> None:
    ids = issues(c)
    everything = [x for i in ids for x in rows(c, i)]
    latest = max(x.due_at for x in everything)
    clock = at(datetime.fromtimestamp(latest, UTC))
    before = table_counts(c)["event"]
    r1 = fire_all(c, clock, batch=2)
    assert r1.batches >= 2
    assert sorted(r1.fired_ids) == sorted(x.id for x in everything)
    assert r1.opened == 3 and r1.reminded == len(everything) - 3 and r1.cancelled == 0
    assert table_counts(c)["event"] == before + len(everything)
    for x in everything:
        assert row(c, x.id).status == ("open" if x.kind == fu.REVIEW else "done")
    assert fire_all(c, clock).fired == 0  # a second sweep finds nothing
    assert table_counts(c)["event"] == before + len(everything)
    opened = events(c, "followup.opened")
    assert {e.entity for e in opened} == {f"followup:{x.id}" for x in everything
                                          if x.kind == fu.REVIEW}
    chain_ok(c)


def test_a_verified_issues_due_follow_up_is_cancelled_when_fired(c: Campaign) -> None:
    i = issues(c)[0]
    fw.rectify(i, measures="已整改", evidence=[], actor=ACTOR, uow_factory=c.uow_factory, clock=NOW)
    iss.transition(i, Action.VERIFY, actor=ACTOR, uow_factory=c.uow_factory, clock=NOW)
    r = pending_review(c, i)
    result = fire_all(c, at(datetime.fromtimestamp(r.due_at, UTC)))
    assert r.id in result.fired_ids and result.cancelled >= 1
    assert row(c, r.id).status == "cancelled"
    [e] = [e for e in events(c, "followup.") if e.entity == f"followup:{r.id}"]
    assert e.kind == "followup.cancelled" and e.payload["issue"] == i
    chain_ok(c)


def test_four_threads_sweeping_fire_each_follow_up_exactly_once(c: Campaign) -> None:
    ids = issues(c)
    past = fu.epoch(NOW.now()) - 3600
    extra = [fu.NewFollowUp(i, kind, rev, date(2026, 3, 9), past - rev, 1)
             for i in ids for kind in (fu.REVIEW, fu.REMINDER) for rev in range(10, 310)]
    with c.uow_factory() as uow:
        uow.followups.add_many(extra, NOW.now())
        uow.commit()
    with c.read() as uow:
        due = uow.followups.count_pending(due_before=fu.epoch(NOW.now()))
    assert due == len(extra) == 1800
    results: list[fu.SweepResult] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def worker(n: int) -> None:
        try:
            start.wait()
            results.append(fu.fire(None, uow_factory=c.uow_factory, clock=NOW,
                                   worker=f"thread-{n}", batch=50))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    fired = [x for r in results for x in r.fired_ids]
    assert len(fired) == len(set(fired)) == due
    per_entity = Counter(e.entity for e in events(c, "followup."))
    assert len(per_entity) == due and set(per_entity.values()) == {1}
    with c.read() as uow:
        assert uow.followups.count_pending(due_before=fu.epoch(NOW.now())) == 0
    chain_ok(c)


# --- recording checks ------------------------------------------------------------------------

def test_the_ladder_climbs_one_step_per_failed_check_and_refers_once(c: Campaign) -> None:
    i = issues(c)[1]
    outcomes = ["not_rectified", "partial", "not_rectified", "partial", "not_rectified",
                "partial"]
    partial = {"hard": True, "fixed": False, "mechanism": False}
    for n, outcome in enumerate(outcomes, start=1):
        review, clock = open_review(c, i)
        assert review.revision == n
        # The sweep at this instant marks the issue overdue (its due date has passed).
        fu.sweep(uow_factory=c.uow_factory, clock=clock, worker="test:worker")
        assert c.issue(i).status == IssueStatus.OVERDUE
        before = table_counts(c)
        level_before = c.issue(i).escalation
        r = check(c, i, outcome, clock, **(partial if outcome == "partial" else {}))
        expected = min(n, REFERRAL)
        assert r.escalation == expected == min(level_before + 1, REFERRAL)
        issue = c.issue(i)
        assert (issue.status, issue.escalation) == (IssueStatus.NOTIFIED, expected)
        today = china_date(clock.now())
        assert r.new_due_on == issue.due_on == add_workdays(
            today, RECT_DAYS[issue.severity], c.calendar).date
        recorded = row(c, review.id)
        assert (recorded.status, recorded.outcome, recorded.escalation_after) == (
            "recorded", outcome, expected)
        assert recorded.recorded_by == ACTOR
        new = [x for x in rows(c, i) if x.revision == n + 1]
        assert {x.kind for x in new} >= {fu.REVIEW} and all(x.status == "pending" for x in new)
        after = table_counts(c)
        referred = n == REFERRAL
        assert after["referral"] - before["referral"] == int(referred)
        assert (r.referral_id is not None) == referred
        # issue.follow_up_not_rectified + followup.recorded (+ referral.made)
        assert after["event"] - before["event"] == 2 + int(referred)
        last = events(c)[-1]
        assert (last.kind, last.payload["escalation"]) == ("followup.recorded", LADDER[expected])
    assert table_counts(c)["referral"] == 1
    with c.read() as uow:
        ref = uow.followups.referral_of(i)
    assert ref is not None and ref["case_status"] == "referred"
    assert len(events(c, "referral.made")) == 1
    chain_ok(c)

    # The enforcement outcome: filed once, with its number; a second outcome is refused.
    before = table_counts(c)["event"]
    out = fu.record_case(i, status="filed", number="某市监立〔2026〕3号", actor=ACTOR,
                         uow_factory=c.uow_factory, clock=NOW)
    assert (out["case_status"], out["case_number"]) == ("filed", "某市监立〔2026〕3号")
    assert table_counts(c)["event"] == before + 1
    assert events(c)[-1].kind == "referral.filed"
    with pytest.raises(ConflictError) as e:
        fu.record_case(i, status="declined", number="", actor=ACTOR,
                       uow_factory=c.uow_factory, clock=NOW)
    assert e.value.code == "case_recorded"
    assert table_counts(c)["event"] == before + 1
    chain_ok(c)


def test_record_case_declined_and_refusals(c: Campaign) -> None:
    i, j = issues(c)[:2]
    with pytest.raises(NotFoundError):
        fu.record_case(i, status="declined", number="", actor=ACTOR,
                       uow_factory=c.uow_factory, clock=NOW)
    with pytest.raises(BadArgumentError):
        fu.record_case(i, status="maybe", number="", actor=ACTOR,
                       uow_factory=c.uow_factory, clock=NOW)
    with pytest.raises(BadArgumentError):
        fu.record_case(i, status="filed", number=" ", actor=ACTOR,
                       uow_factory=c.uow_factory, clock=NOW)
    with c.uow_factory() as uow:
        issue = uow.issues.get(i)
        assert issue is not None
        uow.followups.add_referral(source="followup", issue_id=i, supervision_visit_id=None,
                                   uscc=issue.uscc, description="x", on=date(2026, 3, 10),
                                   actor=ACTOR)
        uow.commit()
    before = table_counts(c)["event"]
    out = fu.record_case(i, status="declined", number="", actor=ACTOR,
                         uow_factory=c.uow_factory, clock=NOW)
    assert (out["case_status"], out["case_number"], out["case_on"]) == (
        "declined", None, "2026-03-10")
    assert table_counts(c)["event"] == before + 1 and events(c)[-1].kind == "referral.declined"
    with c.read() as uow:
        assert uow.followups.referral_of(j) is None


def test_an_extension_during_an_open_look_back_closes_it_and_plans_the_next(
        c: Campaign) -> None:
    i = issues(c)[2]
    review, clock = open_review(c, i)
    before = table_counts(c)
    fw.extend(i, workdays=5, reason="等待检测报告", approver="李科长", actor=ACTOR,
              uow_factory=c.uow_factory, clock=clock, calendar=c.calendar)
    # The open look-back of the old due date is closed as cancelled, with its event ...
    assert row(c, review.id).status == "cancelled"
    after = table_counts(c)
    assert after["event"] - before["event"] == 2
    extend_event, cancelled = events(c)[-2:]
    assert extend_event.kind == "issue.extend"
    assert (cancelled.kind, cancelled.entity) == ("followup.cancelled", f"followup:{review.id}")
    assert cancelled.payload["issue"] == i and cancelled.payload["reason"] == "due date moved"
    # ... and the look-back of the new due date is planned (revision 2).
    rev2 = [x for x in rows(c, i) if x.revision == 2 and x.kind == fu.REVIEW]
    assert len(rev2) == 1 and rev2[0].status == "pending"
    assert rev2[0].due_on > c.issue(i).due_on
    with pytest.raises(ConflictError) as e:
        check(c, i, "verified", clock)
    assert e.value.code == "no_open_review"
    chain_ok(c)


def test_verified_closes_the_issue_and_cancels_pending_follow_ups(c: Campaign) -> None:
    i = issues(c)[2]
    fw.rectify(i, measures="已整改并建立台账", evidence=[], actor=ACTOR, uow_factory=c.uow_factory,
               clock=NOW)
    review, clock = open_review(c, i)
    # A follow-up still pending when the check verifies the issue (planted: a reminder of a
    # later revision) is cancelled by the verification.
    with c.uow_factory() as uow:
        uow.followups.add_many([fu.NewFollowUp(i, fu.REMINDER, 9, date(2027, 1, 4),
                                               fu.epoch(fire_instant(date(2027, 1, 4))), 1)],
                               clock.now())
        uow.commit()
    planted = [x for x in rows(c, i) if x.revision == 9]
    before = table_counts(c)
    r = check(c, i, "verified", clock)
    assert r.outcome == "verified" and r.new_due_on is None
    assert c.issue(i).status == IssueStatus.VERIFIED
    assert row(c, planted[0].id).status == "cancelled"
    assert row(c, review.id).status == "recorded"
    after = table_counts(c)
    assert after["event"] - before["event"] == 2  # issue.verify + followup.recorded
    assert after["followup"] == before["followup"] and after["referral"] == before["referral"]
    assert [e.kind for e in events(c)[-2:]] == ["issue.verify", "followup.recorded"]
    # Reported before the due date and verified by the look-back: on time, never overdue.
    assert c.issue(i).on_time is True
    assert not [e for e in events(c) if e.entity == f"issue:{i}" and e.kind == "issue.mark_overdue"]
    # Nothing is left to fire for it, and a second check finds no open look-back.
    later = fire_all(c, at(clock.now() + timedelta(days=400)))
    assert not {x.id for x in rows(c, i)} & set(later.fired_ids)
    with pytest.raises(ConflictError) as e:
        check(c, i, "verified", clock)
    assert e.value.code == "no_open_review"
    chain_ok(c)


def test_verified_without_a_reported_rectification_changes_nothing(c: Campaign) -> None:
    i = issues(c)[0]
    review, clock = open_review(c, i)
    before = snapshot(c, i)
    with pytest.raises(ConflictError) as e:
        check(c, i, "verified", clock)
    assert e.value.code == "illegal_transition"
    assert f"issue {i} is open" in e.value.en
    assert snapshot(c, i) == before
    assert row(c, review.id).status == "open"
    chain_ok(c)


def test_no_open_review_is_refused_naming_the_next_due_date(c: Campaign) -> None:
    i = issues(c)[0]
    r = pending_review(c, i)
    before = snapshot(c, i)
    with pytest.raises(ConflictError) as e:
        check(c, i, "not_rectified", NOW)
    assert e.value.code == "no_open_review"
    assert r.due_on.isoformat() in e.value.en and r.due_on.isoformat() in e.value.zh
    assert snapshot(c, i) == before
    with pytest.raises(NotFoundError):
        check(c, 999_999, "not_rectified", NOW)


def test_the_wrong_team_is_refused(c: Campaign) -> None:
    i = issues(c)[0]
    _, clock = open_review(c, i)
    team = c.visits[0].team_no
    before = snapshot(c, i)
    with pytest.raises(ConflictError) as e:
        check(c, i, "not_rectified", clock, team=team % 3 + 1)
    assert e.value.code == "wrong_team"
    assert snapshot(c, i) == before


BAD_ANSWERS = [
    ("verified", {"hard": True, "fixed": True, "mechanism": False}),
    ("verified", {"fixed": False}),
    ("partial", {}),
    ("partial", {"hard": True, "fixed": False}),
    ("partial", {"hard": True, "fixed": True, "mechanism": True}),
    ("not_rectified", {"fixed": True}),
    ("rectified", {}),
]


def test_the_three_questions_are_checked_before_anything_is_written(c: Campaign) -> None:
    i = issues(c)[0]
    _, clock = open_review(c, i)
    fu.sweep(uow_factory=c.uow_factory, clock=clock, worker="test:worker")  # overdue
    before = snapshot(c, i)
    for outcome, answers in BAD_ANSWERS:
        with pytest.raises(BadArgumentError) as e:
            check(c, i, outcome, clock, **answers)
        assert e.value.en and e.value.zh, (outcome, answers)
        assert snapshot(c, i) == before, (outcome, answers)
    with pytest.raises(BadArgumentError):
        fu.record_check(i, outcome="not_rectified", note="  ", evidence=[], hard_measures=None,
                        fixed=None, mechanism=None, team=None, actor=ACTOR,
                        uow_factory=c.uow_factory, clock=clock, calendar=c.calendar)
    assert snapshot(c, i) == before
    # not_rectified may still say hard measures were taken; the answers are stored.
    r = check(c, i, "not_rectified", clock, hard=True)
    recorded = row(c, r.followup_id)
    assert (recorded.hard_measures, recorded.fixed, recorded.mechanism) == (True, False, False)
