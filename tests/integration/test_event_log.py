"""The hash-chained event log against a real database.

Every state change writes exactly one event in the same transaction as the change (a failure later
in the transaction takes both back); the chain verifies, and tampering in the database (a changed
payload or actor, a deleted, replaced or reordered event) is caught by ``verify_chain`` and by
``lookback audit verify``; two writers at once keep the sequence gapless; recomputing provisional
due dates once a year's calendar arrives writes one event per changed issue.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Self

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from domain import campaigns as svc
from domain import fieldwork as fw
from domain import issues
from domain.clock import FixedClock
from domain.errors import ConflictError
from domain.events import Event, body, chain_hash, verify_chain
from domain.issues import Action, IssueStatus
from domain.vocabulary import CATEGORIES
from domain.workdays import add_workdays
from storage.calendar import ChineseCalendarSource, add_year_file
from storage.uow import SqlUnitOfWork
from tests.integration.test_lifecycle import Campaign, cli, launch_campaign, make_registers

NOW = FixedClock(datetime(2026, 3, 10, 9, 0, tzinfo=UTC))
ACTOR = "test:officer"


@pytest.fixture(scope="module")
def registers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_registers(tmp_path_factory.mktemp("registers"))


@pytest.fixture
def campaign(engine: Engine, registers: Path, tmp_path: Path) -> Campaign:
    return launch_campaign(engine, registers, tmp_path / "data")


def all_events(c: Campaign) -> list[Event]:
    with c.read() as uow:
        return list(uow.events.all())


def new_events(c: Campaign, action: Callable[[], Any]) -> tuple[Any, list[Event]]:
    """Run ``action``; what it returned and the events it wrote."""
    before = c.event_count()
    result = action()
    return result, [e for e in all_events(c) if e.seq > before]


def kinds(events: list[Event]) -> list[tuple[str, str]]:
    return [(e.kind, e.entity) for e in events]


def common(c: Campaign, clock: FixedClock = NOW) -> dict[str, Any]:
    return {"actor": ACTOR, "uow_factory": c.uow_factory, "clock": clock}


# --- one event per change, in the change's transaction ---------------------------------------

def test_every_state_change_writes_exactly_one_event(campaign: Campaign) -> None:
    c, v = campaign, campaign.visits[0]
    launch = all_events(c)
    assert {"registry.imported", "campaign.created"} <= {e.kind for e in launch}
    assert verify_chain(launch).ok

    done, ev = new_events(c, lambda: fw.complete_visit(v.id, team=None, **common(c)))
    assert done.status == "done" and kinds(ev) == [("visit.completed", f"visit:{v.id}")]

    out, ev = new_events(c, lambda: c.interview(
        v, "director", {"STAFF-04": "fail", "RISK-01": "fail", "RISK-02": "pass"}, clock=NOW,
        actor=ACTOR))
    a, b = out.issues_registered
    assert kinds(ev) == [("interview.recorded", f"interview:{out.interview_id}"),
                         ("issue.registered", f"issue:{a}"), ("issue.registered", f"issue:{b}")]
    assert ev[0].payload["failed"] == ["STAFF-04", "RISK-01"]

    d, ev = new_events(c, lambda: fw.add_issue(v.id, provision=1, category="hygiene_storage", severity="minor", description="冷库温度记录缺失",
        evidence=[], team=None, calendar=c.calendar, categories=CATEGORIES, **common(c)))
    assert kinds(ev) == [("issue.registered", f"issue:{d}")] and ev[0].payload["from"] == "finding"

    _, ev = new_events(c, lambda: issues.transition(a, Action.NOTIFY, **common(c)))
    assert kinds(ev) == [("issue.notify", f"issue:{a}")]
    _, ev = new_events(c, lambda: fw.rectify(a, measures="已整改", evidence=[], **common(c)))
    assert kinds(ev) == [("issue.report_rectification", f"issue:{a}")]
    _, ev = new_events(c, lambda: fw.extend(a, workdays=2, reason="待复查", approver="李科长",
                                            calendar=c.calendar, **common(c)))
    assert kinds(ev) == [("issue.extend", f"issue:{a}")]

    _, ev = new_events(c, lambda: issues.transition(a, Action.VERIFY, **common(c)))
    assert kinds(ev) == [("issue.verify", f"issue:{a}")]

    # mark_overdue: one event per issue it marks, and only those (not the verified one).
    later = FixedClock(datetime(2026, 6, 1, 9, 0, tzinfo=UTC))
    marked, ev = new_events(c, lambda: issues.mark_overdue(today=date(2026, 6, 1), **common(c, later)))
    assert sorted(marked) == sorted([b, d])
    assert kinds(ev) == [("issue.mark_overdue", f"issue:{n}") for n in marked]
    assert all(c.issue(n).status == IssueStatus.OVERDUE for n in marked)
    marked, ev = new_events(c, lambda: issues.mark_overdue(today=date(2026, 6, 1), **common(c, later)))
    assert marked == [] and ev == []

    # A refusal writes nothing.
    with pytest.raises(ConflictError):
        fw.complete_visit(v.id, team=None, **common(c))
    with pytest.raises(ConflictError):  # b is overdue: no rectification order any more
        issues.transition(b, Action.NOTIFY, **common(c))
    assert len(all_events(c)) == len(launch) + 1 + 3 + 1 + 4 + 2

    _, ev = new_events(c, lambda: svc.close_campaign(c.campaign_id, uow_factory=c.uow_factory,
                                                     clock=NOW, actor=ACTOR))
    assert kinds(ev) == [("campaign.closed", f"campaign:{c.campaign_id}")]

    events = all_events(c)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert all(e.actor == ACTOR for e in events[len(launch):])
    assert verify_chain(events).ok


def test_a_failing_second_step_rolls_back_the_first_change_and_its_event(
        campaign: Campaign) -> None:
    c = campaign
    a, b = c.interview(c.visits[0], "director", {"STAFF-04": "fail", "RISK-01": "fail"},
                       clock=NOW).issues_registered
    before, counts = (c.issue(a), c.issue(b)), c.counts()
    with pytest.raises(ConflictError), c.uow_factory() as uow:
        issues.apply(uow, c.issue(a), Action.NOTIFY, at=NOW.now(), actor=ACTOR, payload={})
        # The first change and its event are in this transaction ...
        assert uow.issues.get(a).status == IssueStatus.NOTIFIED  # type: ignore[union-attr]
        assert uow.events.count() == counts["event"] + 1
        # ... and the second step is illegal (an open issue cannot be verified).
        issues.apply(uow, c.issue(b), Action.VERIFY, at=NOW.now(), actor=ACTOR, payload={})
        uow.commit()  # pragma: no cover - not reached
    assert (c.issue(a), c.issue(b)) == before
    assert c.counts() == counts and c.chain().ok


class FailingUnitOfWork(SqlUnitOfWork):
    """A unit of work whose ``target`` (events.append or issues.save) fails on
    its ``nth`` call, like a full disk or a lost connection half way through."""

    def __init__(self, engine: Engine, target: str, nth: int) -> None:
        super().__init__(engine)
        self.target, self.nth = target, nth

    def __enter__(self) -> Self:
        super().__enter__()
        owner_name, method = self.target.split(".")
        owner = getattr(self, owner_name)
        real = getattr(owner, method)
        calls = [0]

        def failing(*args: Any, **kwargs: Any) -> Any:
            calls[0] += 1
            if calls[0] == self.nth:
                raise RuntimeError(f"{self.target} failed")
            return real(*args, **kwargs)

        setattr(owner, method, failing)
        return self


@pytest.mark.parametrize("target", ["events.append", "issues.save"])
def test_a_write_failing_in_the_second_of_two_changes_stores_neither(campaign: Campaign,
                                                                     target: str) -> None:
    """mark_overdue marks two issues in one transaction; the second one's write fails."""
    c = campaign
    ids = c.interview(c.visits[0], "director", {"STAFF-04": "fail", "RISK-01": "fail"},
                      clock=NOW).issues_registered
    before, counts = [c.issue(n) for n in ids], c.counts()
    later = FixedClock(datetime(2026, 6, 1, 9, 0, tzinfo=UTC))
    with pytest.raises(RuntimeError, match="failed"):
        issues.mark_overdue(today=date(2026, 6, 1), actor=ACTOR, clock=later,
                        uow_factory=lambda: FailingUnitOfWork(c.engine, target, 2))
    assert [c.issue(n) for n in ids] == before
    assert c.counts() == counts and c.chain().ok
    # Without the failure both are marked, each with its event.
    assert sorted(issues.mark_overdue(today=date(2026, 6, 1), actor=ACTOR, clock=later,
                                  uow_factory=c.uow_factory)) == sorted(ids)
    assert c.event_count() == counts["event"] + 2


def test_an_event_that_cannot_be_written_takes_the_change_with_it(campaign: Campaign) -> None:
    """rectify writes a rectification, the new state and one event: no event, no change."""
    c = campaign
    [n] = c.interview(c.visits[0], "director", {"STAFF-04": "fail"}, clock=NOW).issues_registered
    before, counts = c.issue(n), c.counts()
    with pytest.raises(RuntimeError):
        fw.rectify(n, measures="已整改", evidence=[], actor=ACTOR, clock=NOW,
                   uow_factory=lambda: FailingUnitOfWork(c.engine, "events.append", 1))
    assert c.issue(n) == before and c.counts() == counts


# --- tampering -------------------------------------------------------------------------------

def tamper(engine: Engine, how: str, k: int, last: int) -> tuple[int, str]:
    """Change the stored log behind the application's back; the event verification should name
    first and (part of) the reason it should give."""
    with engine.begin() as conn:
        if how == "payload":
            raw = conn.execute(text("SELECT payload FROM event WHERE seq = :k"),
                               {"k": k}).scalar_one()
            payload = json.loads(raw)
            payload["due_on"] = "2099-12-31"
            conn.execute(text("UPDATE event SET payload = :p WHERE seq = :k"),
                         {"p": json.dumps(payload, ensure_ascii=False, sort_keys=True), "k": k})
            return k, "content does not match its hash"
        if how == "actor":
            conn.execute(text("UPDATE event SET actor = 'cli:someone-else' WHERE seq = :k"),
                         {"k": k})
            return k, "content does not match its hash"
        if how == "delete_middle":
            conn.execute(text("DELETE FROM event WHERE seq = :k"), {"k": k})
            return k + 1, f"sequence jumps from {k - 1} to {k + 1}"
        if how == "replace_last":
            conn.execute(text("DELETE FROM event WHERE seq = :k"), {"k": last})
            at = NOW.now()
            payload = {"from": "open", "to": "verified"}
            wrong_prev = "f" * 64
            h = chain_hash(wrong_prev, body(last, at, "cli:forger", "issue.verify", "issue:1",
                                            payload))
            conn.execute(text(
                "INSERT INTO event (seq, at, actor, kind, entity, payload, prev_hash, hash) "
                "VALUES (:s, :at, 'cli:forger', 'issue.verify', 'issue:1', :p, :prev, :h)"),
                {"s": last, "at": at.isoformat(), "p": json.dumps(payload), "prev": wrong_prev,
                 "h": h})
            return last, "previous-hash does not match"
        if how == "swap":
            for old, new in ((k, -1), (k + 1, k), (-1, k + 1)):
                conn.execute(text("UPDATE event SET seq = :new WHERE seq = :old"),
                             {"new": new, "old": old})
            return k, "previous-hash does not match"
    raise AssertionError(how)


@pytest.mark.parametrize("how", ["payload", "actor", "delete_middle", "replace_last", "swap"])
def test_tampering_in_the_database_is_detected(campaign: Campaign, db_url: str,
                                               how: str) -> None:
    c = campaign
    [a, b] = c.interview(c.visits[0], "director", {"STAFF-04": "fail", "RISK-01": "fail"},
                         clock=NOW).issues_registered
    issues.transition(a, Action.NOTIFY, **common(c))
    fw.rectify(a, measures="已整改", evidence=[], **common(c))
    fw.extend(b, workdays=3, reason="待审批", approver="李科长", calendar=c.calendar, **common(c))
    last = c.event_count()
    k = last - 2  # the rectification report: a middle event
    base = ["--db", db_url, "--data-dir", str(c.data_dir)]
    ok = cli(*base, "--lang", "en", "audit", "verify")
    assert ok.exit_code == 0 and f"OK: {last} events" in ok.stdout, ok.output

    first, reason = tamper(c.engine, how, k, last)
    check = c.chain()
    assert not check.ok and check.first_broken == first and reason in (check.reason or "")

    human = cli(*base, "--lang", "en", "audit", "verify")
    assert human.exit_code == 1, human.output
    assert f"BROKEN at event {first}: " in human.stdout and reason in human.stdout
    zh = cli(*base, "--lang", "zh", "audit", "verify")
    assert zh.exit_code == 1 and f"哈希链在第{first}条事件处断裂" in zh.stdout
    machine = cli(*base, "--json", "audit", "verify")
    assert machine.exit_code == 1, machine.output
    got = json.loads(machine.stdout)
    assert (got["ok"], got["first_broken"]) == (False, first) and reason in got["reason"]
    assert "Traceback" not in human.output + zh.output + machine.output


# --- two writers at once ---------------------------------------------------------------------

def test_concurrent_appends_keep_the_chain_valid_and_gapless(campaign: Campaign) -> None:
    c = campaign
    ids = c.interview(c.visits[0], "director",
                      {"STAFF-04": "fail", "RISK-01": "fail", "RISK-02": "fail",
                       "RISK-03": "fail"}, clock=NOW).issues_registered
    before = c.event_count()
    plan = [("extend", 0), ("rectify", 0), ("extend", 1), ("extend", 0), ("rectify", 1),
            ("extend", 1), ("extend", 0), ("extend", 1)]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker(mine: list[int], actor: str) -> None:
        try:
            barrier.wait(timeout=30)
            for op, which in plan:
                n = mine[which]
                if op == "rectify":
                    fw.rectify(n, measures=f"{actor}整改", evidence=[], actor=actor,
                               uow_factory=c.uow_factory, clock=NOW)
                else:
                    fw.extend(n, workdays=1, reason="并发", approver="李科长", actor=actor,
                              uow_factory=c.uow_factory, clock=NOW, calendar=c.calendar)
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(ids[:2], "team:1")),
               threading.Thread(target=worker, args=(ids[2:], "team:2"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads) and errors == []

    events = all_events(c)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert len(events) == before + 2 * len(plan)
    assert verify_chain(events).ok
    for n, (ext, rect) in zip(ids, [(3, 1), (3, 1)] * 2, strict=True):
        mine = [e.kind for e in c.events_of(f"issue:{n}")]
        assert mine.count("issue.extend") == ext and mine.count("issue.report_rectification") == rect
        issue = c.issue(n)
        assert issue.status == IssueStatus.RECTIFICATION_REPORTED
        assert issue.version == 1 + ext + rect


# --- provisional due dates once the year's calendar arrives ----------------------------------

DEC_24 = FixedClock(datetime(2026, 12, 24, 2, 0, tzinfo=UTC))  # a Thursday, 10:00 in Beijing
YEAR_2027 = """\
year = 2027
source = "国务院办公厅关于2027年部分节假日安排的通知（测试用）"
[[holidays]]
name = "元旦"
dates = ["2027-01-01", "2027-01-02", "2027-01-03"]
[[holidays]]
name = "春节"
dates = ["2027-02-06", "2027-02-07", "2027-02-08", "2027-02-09", "2027-02-10", "2027-02-11",
         "2027-02-12", "2027-02-13"]
[[workdays]]
name = "春节调休"
dates = ["2027-02-14"]
"""


def provisional_issues(c: Campaign) -> tuple[int, int, int]:
    """A serious issue due in 2027 (provisional), a general one extended into 2027 (provisional)
    and a minor one due in 2026 (final)."""
    out = c.interview(c.visits[1], "officer", {"HYG-01": "fail"}, clock=DEC_24)
    [serious] = out.issues_registered
    [general] = c.interview(c.visits[1], "director", {"STAFF-04": "fail"},
                            clock=DEC_24).issues_registered
    [minor] = c.interview(c.visits[1], "owner", {"TRAIN-06": "fail"},
                          clock=DEC_24).issues_registered
    fw.extend(general, workdays=3, reason="春节前无法完成", approver="李科长", actor=ACTOR,
              uow_factory=c.uow_factory, clock=DEC_24, calendar=c.calendar)
    s, g, m = c.issue(serious), c.issue(general), c.issue(minor)
    # 12 working days from Thu 2026-12-24 without a 2027 calendar: Fri 2027-01-01 counts.
    assert (s.severity, s.due_on, s.due_provisional) == ("serious", date(2027, 1, 11), True)
    assert (g.due_on, g.due_provisional) == (date(2027, 1, 7), True)  # 7 days to 01-04, +3
    assert (m.due_on, m.due_provisional) == (date(2026, 12, 29), False)
    return serious, general, minor


def write_year(tmp_path: Path) -> Path:
    f = tmp_path / "2027-in.toml"
    f.write_text(YEAR_2027, encoding="utf-8")
    return f


def test_recompute_provisional_after_the_year_file_arrives(campaign: Campaign,
                                                           tmp_path: Path) -> None:
    c = campaign
    serious, general, minor = provisional_issues(c)
    before = {n: c.issue(n) for n in (serious, general, minor)}
    add_year_file(c.data_dir, write_year(tmp_path))
    calendar = ChineseCalendarSource(c.data_dir)
    later = FixedClock(datetime(2026, 12, 28, 1, 0, tzinfo=UTC))

    changed, ev = new_events(c, lambda: fw.recompute_provisional(
        actor=ACTOR, uow_factory=c.uow_factory, clock=later, calendar=calendar))
    assert sorted(changed) == [serious, general]
    assert kinds(ev) == [("issue.due_recomputed", f"issue:{n}") for n in changed]

    s = c.issue(serious)
    expected = add_workdays(s.found_on, 12, calendar)
    assert expected.date == date(2027, 1, 12) and not expected.provisional  # 元旦 skipped
    assert (s.due_on, s.due_provisional) == (expected.date, False)
    assert (s.status, s.version) == (before[serious].status, before[serious].version + 1)
    g = c.issue(general)
    assert (g.due_on, g.due_provisional) == (
        add_workdays(add_workdays(g.found_on, 7, calendar).date, 3, calendar).date, False)
    assert g.due_on == date(2027, 1, 8)
    assert (g.due_basis, g.due_workdays) == (date(2026, 12, 24), 10)  # 7 + 3 extended
    assert c.issue(minor) == before[minor]
    by_entity = {e.entity: e for e in ev}
    assert by_entity[f"issue:{serious}"].payload.items() >= {
        "old_due_on": "2027-01-11", "due_on": "2027-01-12", "provisional": False}.items()
    assert by_entity[f"issue:{serious}"].kind == "issue.due_recomputed"
    assert all(e.at == later.now() and e.actor == ACTOR for e in ev)

    again, ev = new_events(c, lambda: fw.recompute_provisional(
        actor=ACTOR, uow_factory=c.uow_factory, clock=later, calendar=calendar))
    assert again == [] and ev == []
    assert c.chain().ok


def test_recompute_an_issue_stored_without_a_due_date_basis(campaign: Campaign,
                                                           tmp_path: Path) -> None:
    """Issues from before the basis was recorded: found_on + rect_workdays + extensions."""
    c = campaign
    _, general, _ = provisional_issues(c)
    with c.engine.begin() as conn:
        conn.execute(text("UPDATE issue SET due_basis = NULL, due_workdays = NULL WHERE id = :n"),
                     {"n": general})
    add_year_file(c.data_dir, write_year(tmp_path))
    changed, ev = new_events(c, lambda: fw.recompute_provisional(
        actor=ACTOR, uow_factory=c.uow_factory, clock=DEC_24,
        calendar=ChineseCalendarSource(c.data_dir)))
    assert general in changed and ("issue.due_recomputed", f"issue:{general}") in kinds(ev)
    g = c.issue(general)
    assert (g.due_on, g.due_provisional) == (date(2027, 1, 8), False)


def test_recompute_keeps_a_due_date_set_by_a_follow_up(campaign: Campaign,
                                                       tmp_path: Path) -> None:
    """A follow-up that finds the problem not rectified sets a new due date (lifecycle: "back to
    notified with a new due date"). When that date is provisional, recomputing it must count from
    the follow-up, not from when the issue was found."""
    c = campaign
    found = FixedClock(datetime(2026, 12, 10, 2, 0, tzinfo=UTC))
    [n] = c.interview(c.visits[2], "director", {"STAFF-04": "fail"}, clock=found).issues_registered
    assert (c.issue(n).due_on, c.issue(n).due_provisional) == (date(2026, 12, 21), False)
    fw.rectify(n, measures="已整改", evidence=[], actor=ACTOR, uow_factory=c.uow_factory,
               clock=DEC_24)
    new_due = add_workdays(DEC_24.now().date(), 7, c.calendar)
    assert (new_due.date, new_due.provisional) == (date(2027, 1, 4), True)
    issues.transition(n, Action.NOT_RECTIFIED, actor=ACTOR, uow_factory=c.uow_factory, clock=DEC_24,
                  payload={"outcome": "not_rectified"}, due=new_due, escalation=1,
                  calendar=c.calendar)
    assert c.issue(n).due_on == date(2027, 1, 4)

    add_year_file(c.data_dir, write_year(tmp_path))
    calendar = ChineseCalendarSource(c.data_dir)
    fw.recompute_provisional(actor=ACTOR, uow_factory=c.uow_factory, clock=DEC_24,
                             calendar=calendar)
    issue = c.issue(n)
    assert (issue.due_on, issue.due_provisional) == (
        add_workdays(DEC_24.now().date(), 7, calendar).date, False), (
        "the follow-up's due date was replaced by one counted from when the issue was found")


def test_cli_add_year_recomputes_provisional_due_dates(campaign: Campaign, db_url: str,
                                                       tmp_path: Path) -> None:
    c = campaign
    serious, general, minor = provisional_issues(c)
    minor_before = c.issue(minor)
    base = ["--db", db_url, "--data-dir", str(c.data_dir), "--actor", "cli:office",
            "--now", "2026-12-28T09:00:00+08:00"]
    events = c.event_count()
    result = cli(*base, "--json", "calendar", "add-year", str(write_year(tmp_path)))
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert (out["ok"], out["year"], out["changed"], out["recomputed"]) == (True, 2027, True, 2)

    assert (c.issue(serious).due_on, c.issue(serious).due_provisional) == (date(2027, 1, 12),
                                                                           False)
    assert (c.issue(general).due_on, c.issue(general).due_provisional) == (date(2027, 1, 8),
                                                                           False)
    assert c.issue(minor) == minor_before
    ev = [e for e in all_events(c) if e.seq > events]
    assert sorted(kinds(ev)) == sorted([("issue.due_recomputed", f"issue:{serious}"),
                                        ("issue.due_recomputed", f"issue:{general}")])
    assert all(e.actor == "cli:office" and e.at == datetime(2026, 12, 28, 1, 0, tzinfo=UTC)
               for e in ev)

    # Storing the same file again changes nothing and recomputes nothing.
    again = cli(*base, "--json", "calendar", "add-year", str(write_year(tmp_path)))
    assert again.exit_code == 0 and json.loads(again.stdout)["recomputed"] == 0
    assert c.event_count() == events + 2
    verified = cli(*base, "--lang", "en", "audit", "verify")
    assert verified.exit_code == 0 and f"OK: {events + 2} events" in verified.stdout
    shown = cli(*base, "--json", "calendar", "add-workdays", "2026-12-24", "12")
    assert json.loads(shown.stdout)["due"] == "2027-01-12"
