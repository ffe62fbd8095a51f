"""The issue lifecycle against a real database.

A Hypothesis state machine drives a launched campaign's issues (registered through interviews with
failing answers) through every action in random order: an action succeeds exactly when
``lifecycle.TRANSITIONS`` allows it from the current state, each success writes exactly one event
and each refusal writes nothing and changes nothing, and the audit chain stays valid throughout.
Plain tests cover how interviews register issues: once per business and item, never on a closed
campaign or by the wrong team, and with due dates from the plan's working days.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import text
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from domain import campaigns as svc
from domain import fieldwork as fw
from domain import issues
from domain.checklists import Checklists, default_checklists
from domain.clock import FixedClock
from domain.errors import ConflictError
from domain.events import verify_chain
from domain.fieldwork_import import as_rows, record_batch
from domain.importing import import_register
from domain.issues import TRANSITIONS, Action, IssueStatus
from domain.registers import RegisterKind
from domain.vocabulary import STATUS_ZH
from domain.workdays import add_workdays, workdays_between
from storage.calendar import ChineseCalendarSource
from storage.db import make_engine
from storage.readers import RegisterFile
from storage.reports import ListProblemSink
from storage.synthetic import generate
from storage.uow import SqlUnitOfWork
from tests.integration._support import PG_URL, migrated_engine, reset_postgres
from tests.plans import small_plan

LAUNCH_CLOCK = FixedClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
#: Rectification days deliberately not the defaults (5/10/15), so a due date that ignored the
#: campaign's plan would show.
RECT_DAYS = {"minor": 3, "general": 7, "serious": 12}

PLAN = small_plan(title="问题整改生命周期测试", starts_on="2026-03-02", ends_on="2027-06-30",
                  days=RECT_DAYS)

TABLES = ("interview", "answer", "issue", "rectification", "extension", "event")


# --- shared set-up (test_event_log.py uses these too) ----------------------------------------

def make_registers(folder: Path) -> Path:
    generate(folder, businesses=1000, seed=11)
    return folder


@dataclass
class Campaign:
    """A launched campaign on a migrated database, and what the services need to act on it."""

    engine: Engine
    campaign_id: int
    visits: list[fw.Visit]
    data_dir: Path
    checklists: Checklists = field(default_factory=default_checklists)

    @property
    def uow_factory(self) -> Callable[[], SqlUnitOfWork]:
        engine = self.engine
        return lambda: SqlUnitOfWork(engine)

    @property
    def calendar(self) -> ChineseCalendarSource:
        return ChineseCalendarSource(self.data_dir)

    def read(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, read_only=True)

    def issue(self, issue_id: int) -> fw.Issue:
        with self.read() as uow:
            found = uow.issues.get(issue_id)
        assert found is not None, issue_id
        return found

    def event_count(self) -> int:
        with self.read() as uow:
            return uow.events.count()

    def events_of(self, entity: str) -> list[Any]:
        with self.read() as uow:
            return uow.events.for_entity(entity)

    def chain(self) -> Any:
        with self.read() as uow:
            return verify_chain(uow.events.all())

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return {t: int(conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one())
                    for t in TABLES}

    def interview(self, visit: fw.Visit, role: str, results: dict[str, str], *, clock: FixedClock,
                  name: str = "张三", team: int | None = None,
                  actor: str = "test:inspector") -> fw.InterviewOutcome:
        answers = [fw.Answer(item, result) for item, result in results.items()]
        return fw.record_interview(visit.id, role, name, answers, team=team, actor=actor,
                                   uow_factory=self.uow_factory, clock=clock,
                                   checklists=self.checklists, calendar=self.calendar)


def launch_campaign(engine: Engine, registers: Path, data_dir: Path) -> Campaign:
    """Import the registers, create the campaign from PLAN and launch it."""
    def uow_factory() -> SqlUnitOfWork:
        return SqlUnitOfWork(engine)

    for kind in (RegisterKind.BUSINESSES, RegisterKind.INSPECTORS):
        f = RegisterFile(registers / f"{kind.value}.csv", kind)
        s = import_register(kind, f.rows(), uow_factory=uow_factory, clock=LAUNCH_CLOCK,
                            sink=ListProblemSink(), source=str(f), sha256=f.sha256)
        assert s.rejected == 0
    cid = svc.create_campaign(PLAN, source="plan.toml", uow_factory=uow_factory,
                              clock=LAUNCH_CLOCK, new_seed=lambda: "1")
    svc.launch(cid, uow_factory=uow_factory, clock=LAUNCH_CLOCK)
    with uow_factory() as uow:
        visits = uow.fieldwork.list_visits(cid, team=None, status=None)
    assert len(visits) == 12
    data_dir.mkdir(parents=True, exist_ok=True)
    return Campaign(engine, cid, visits, data_dir)


def cli(*args: str) -> Any:
    from lookback.cli import app

    return CliRunner().invoke(app, list(args))


@pytest.fixture(scope="module")
def registers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_registers(tmp_path_factory.mktemp("registers"))


@pytest.fixture
def campaign(engine: Engine, registers: Path, tmp_path: Path) -> Campaign:
    return launch_campaign(engine, registers, tmp_path / "data")


# --- the state machine -----------------------------------------------------------------------

NOW = FixedClock(datetime(2026, 3, 10, 9, 0, tzinfo=UTC))
ACTOR = "test:machine"
#: What the machine's issues come from: one director interview failing three items.
FAILED = {"STAFF-04": "fail", "RISK-01": "fail", "TRAIN-03": "fail", "RISK-02": "pass"}
N_ISSUES = 3
pick = st.integers(0, N_ISSUES - 1)


class Template:
    """A launched campaign to start every machine run from.

    SQLite: a template file copied (with the backup API) to a fresh file per run. PostgreSQL has
    one test database: it is set up once and every run puts it back by emptying what the
    previous run wrote (fieldwork rows, and the events after the launch).
    """

    def __init__(self, folder: Path, registers: Path) -> None:
        self.folder = folder
        self.numbers = itertools.count()
        if PG_URL:
            reset_postgres(PG_URL)
            self.engine = migrated_engine(PG_URL)
            self.campaign = launch_campaign(self.engine, registers, folder / "data")
        else:
            self.path = folder / "template.db"
            engine = migrated_engine(f"sqlite:///{self.path}")
            self.campaign = launch_campaign(engine, registers, folder / "data")
            engine.dispose()
        self.baseline = self.campaign.event_count() if PG_URL else 0

    def fresh(self) -> Campaign:
        c = self.campaign
        if PG_URL:
            with self.engine.begin() as conn:
                # CASCADE empties whatever refers to them too (answers, rectifications, ...).
                conn.execute(text("TRUNCATE interview, issue, evidence CASCADE"))
                conn.execute(text("DELETE FROM event WHERE seq > :n"), {"n": self.baseline})
            return c
        path = self.folder / f"run-{next(self.numbers)}.db"
        src, dst = sqlite3.connect(self.path), sqlite3.connect(path)
        try:
            src.backup(dst)
        finally:
            src.close()
            dst.close()
        return Campaign(make_engine(f"sqlite:///{path}"), c.campaign_id, c.visits, c.data_dir,
                        c.checklists)

    def done(self, c: Campaign) -> None:
        if not PG_URL:
            c.engine.dispose()


@dataclass
class Model:
    status: IssueStatus
    due_on: date
    escalation: int
    version: int


class LifecycleMachine(RuleBasedStateMachine):
    def __init__(self, template: Template) -> None:
        super().__init__()
        self.template = template
        self.c = template.fresh()
        self.ids: list[int] = []
        self.model: dict[int, Model] = {}

    def teardown(self) -> None:
        self.template.done(self.c)

    @initialize()
    def register_issues(self) -> None:
        before = self.c.event_count()
        out = self.c.interview(self.c.visits[0], "director", FAILED, clock=NOW, actor=ACTOR)
        assert len(out.issues_registered) == N_ISSUES and out.failed == N_ISSUES
        assert self.c.event_count() == before + 1 + N_ISSUES
        self.ids = out.issues_registered
        for i in self.ids:
            issue = self.c.issue(i)
            assert issue.status == IssueStatus.OPEN and issue.version == 1
            self.model[i] = Model(issue.status, issue.due_on, issue.escalation, issue.version)

    # One rule per action; each tries it on a random issue, legal or not.

    @rule(i=pick)
    def notify(self, i: int) -> None:
        self.attempt(i, Action.NOTIFY, lambda n: issues.transition(
            n, Action.NOTIFY, actor=ACTOR, uow_factory=self.c.uow_factory, clock=NOW))

    @rule(i=pick)
    def report_rectification(self, i: int) -> None:
        self.attempt(i, Action.REPORT, lambda n: fw.rectify(
            n, measures="已补齐台账并完成培训", evidence=[], actor=ACTOR,
            uow_factory=self.c.uow_factory, clock=NOW))

    @rule(i=pick)
    def mark_overdue(self, i: int) -> None:
        self.attempt(i, Action.MARK_OVERDUE, lambda n: issues.transition(
            n, Action.MARK_OVERDUE, actor=ACTOR, uow_factory=self.c.uow_factory, clock=NOW,
            payload={"today": NOW.now().date().isoformat()}))

    @rule(i=pick)
    def verify(self, i: int) -> None:
        self.attempt(i, Action.VERIFY, lambda n: issues.transition(
            n, Action.VERIFY, actor=ACTOR, uow_factory=self.c.uow_factory, clock=NOW,
            payload={"outcome": "verified"}))

    @rule(i=pick, new_due=st.booleans(), escalate=st.booleans())
    def follow_up_not_rectified(self, i: int, new_due: bool, escalate: bool) -> None:
        m = self.model[self.ids[i]]
        due = add_workdays(NOW.now().date(), RECT_DAYS["general"], self.c.calendar) \
            if new_due else None
        level = m.escalation + 1 if escalate else None
        self.attempt(i, Action.NOT_RECTIFIED, lambda n: issues.transition(
            n, Action.NOT_RECTIFIED, actor=ACTOR, uow_factory=self.c.uow_factory, clock=NOW,
            payload={"outcome": "not_rectified"}, due=due, escalation=level,
            calendar=self.c.calendar),
            due=due.date if due else None, escalation=level)

    @rule(i=pick, days=st.integers(1, 20))
    def extend(self, i: int, days: int) -> None:
        m = self.model[self.ids[i]]
        due = add_workdays(m.due_on, days, self.c.calendar).date
        self.attempt(i, Action.EXTEND, lambda n: fw.extend(
            n, workdays=days, reason="设备待更换", approver="李科长", actor=ACTOR,
            uow_factory=self.c.uow_factory, clock=NOW, calendar=self.c.calendar), due=due)

    def attempt(self, i: int, action: Action, call: Callable[[int], fw.Issue], *,
                due: date | None = None, escalation: int | None = None) -> None:
        n = self.ids[i]
        m = self.model[n]
        before = self.c.issue(n)
        counts = self.c.counts()
        allowed = TRANSITIONS[action].get(m.status)
        try:
            returned = call(n)
        except ConflictError as e:
            assert allowed is None, f"{action.value} from {m.status.value} was refused: {e}"
            assert e.code == "illegal_transition"
            assert f"issue {n} is {m.status.value}" in e.en, e.en
            assert STATUS_ZH[m.status] in e.zh, e.zh
            assert self.c.issue(n) == before  # status, due date, escalation, version
            assert self.c.counts() == counts  # no event, no rectification, no extension
            return
        assert allowed is not None, f"{action.value} from {m.status.value} was accepted"
        after = self.c.issue(n)
        expected_due = due if due is not None else m.due_on
        expected_level = escalation if escalation is not None else m.escalation
        assert (after.status, after.due_on, after.escalation, after.version) == (
            allowed, expected_due, expected_level, m.version + 1)
        assert (returned.status, returned.due_on, returned.version) == (
            allowed, expected_due, m.version + 1)
        grown = {t: self.c.counts()[t] - counts[t] for t in TABLES}
        assert grown == {"interview": 0, "answer": 0, "issue": 0,
                         "rectification": int(action == Action.REPORT),
                         "extension": int(action == Action.EXTEND), "event": 1}
        last = self.c.events_of(f"issue:{n}")[-1]
        assert last.seq == counts["event"] + 1  # the one new event is this issue's
        assert last.kind == f"issue.{action.value}" and last.actor == ACTOR
        assert last.at == NOW.now()
        assert (last.payload["from"], last.payload["to"]) == (m.status.value, allowed.value)
        assert last.payload["due_on"] == expected_due.isoformat()
        self.model[n] = Model(allowed, expected_due, expected_level, m.version + 1)

    @invariant()
    def stored_state_matches_model_and_chain_is_valid(self) -> None:
        for n, m in self.model.items():
            issue = self.c.issue(n)
            assert (issue.status, issue.due_on, issue.escalation, issue.version) == (
                m.status, m.due_on, m.escalation, m.version)
            # The due date is always its basis counted forward (so a recomputation keeps it).
            assert issue.due_basis is not None and issue.due_workdays is not None
            assert add_workdays(issue.due_basis, issue.due_workdays,
                                self.c.calendar).date == issue.due_on
        check = self.c.chain()
        assert check.ok, check


def test_lifecycle_state_machine(registers: Path, tmp_path: Path) -> None:
    template = Template(tmp_path, registers)
    try:
        run_state_machine_as_test(
            lambda: LifecycleMachine(template),
            settings=settings(max_examples=25, stateful_step_count=15, deadline=None,
                              suppress_health_check=[HealthCheck.too_slow]))
    finally:
        if PG_URL:
            template.engine.dispose()


# --- plain tests -----------------------------------------------------------------------------

PATHS = {IssueStatus.OPEN: [], IssueStatus.NOTIFIED: [Action.NOTIFY],
         IssueStatus.RECTIFICATION_REPORTED: [Action.REPORT],
         IssueStatus.OVERDUE: [Action.MARK_OVERDUE],
         IssueStatus.VERIFIED: [Action.REPORT, Action.VERIFY]}
DIRECTOR_ITEMS = ["STAFF-04", "RISK-01", "RISK-02", "RISK-03", "ROUT-02", "REC-02", "TRAIN-02"]


def act(c: Campaign, n: int, action: Action) -> fw.Issue:
    """Take ``action`` on issue ``n`` through its service."""
    common: dict[str, Any] = {"actor": ACTOR, "uow_factory": c.uow_factory, "clock": NOW}
    if action == Action.REPORT:
        return fw.rectify(n, measures="已整改", evidence=[], **common)
    if action == Action.EXTEND:
        return fw.extend(n, workdays=3, reason="待审批", approver="李科长",
                         calendar=c.calendar, **common)
    if action == Action.RECOMPUTE:  # the due date counted again (a year's calendar arrived)
        issue = c.issue(n)
        return issues.transition(n, action, due=add_workdays(issue.due_on, 1, c.calendar),
                                 calendar=c.calendar, **common)
    return issues.transition(n, action, **common)


@pytest.mark.parametrize("status", list(IssueStatus))
def test_every_action_from_every_state(campaign: Campaign, status: IssueStatus) -> None:
    """The state machine's table exhaustively: each action once from ``status``."""
    c = campaign
    out = c.interview(c.visits[4], "director", dict.fromkeys(DIRECTOR_ITEMS, "fail"), clock=NOW)
    assert len(out.issues_registered) == len(Action)
    for n, action in zip(out.issues_registered, Action, strict=True):
        for a in PATHS[status]:
            act(c, n, a)
        before, events = c.issue(n), c.event_count()
        assert before.status == status
        allowed = TRANSITIONS[action].get(status)
        if allowed is None:
            with pytest.raises(ConflictError) as e:
                act(c, n, action)
            assert f"issue {n} is {status.value}" in e.value.en
            assert (c.issue(n), c.event_count()) == (before, events)
            if status == IssueStatus.VERIFIED:
                assert "closed" in e.value.en and "已销号" in e.value.zh
        else:
            act(c, n, action)
            assert c.issue(n).status == allowed and c.event_count() == events + 1
            assert c.events_of(f"issue:{n}")[-1].kind == f"issue.{action.value}"
    assert c.chain().ok


def issues_of(c: Campaign, uscc: str, item: str) -> list[int]:
    with c.engine.connect() as conn:
        return [int(r[0]) for r in conn.execute(text(
            "SELECT id FROM issue WHERE campaign_id = :c AND uscc = :u AND item_id = :i"),
            {"c": c.campaign_id, "u": uscc, "i": item}).all()]


def registered_events(c: Campaign) -> int:
    with c.engine.connect() as conn:
        return int(conn.execute(text(
            "SELECT COUNT(*) FROM event WHERE kind = 'issue.registered'")).scalar_one())


def test_two_roles_failing_the_same_item_register_one_issue(campaign: Campaign) -> None:
    c, v = campaign, campaign.visits[0]
    first = c.interview(v, "director", {"ROUT-01": "fail", "RISK-02": "pass"}, clock=NOW,
                        name="王总监")
    assert len(first.issues_registered) == 1 and first.issues_existing == []
    second = c.interview(v, "officer", {"ROUT-01": "fail", "HYG-01": "pass"}, clock=NOW,
                         name="赵安全员")
    assert second.failed == 1
    assert second.issues_registered == [] and second.issues_existing == first.issues_registered
    assert issues_of(c, v.uscc, "ROUT-01") == first.issues_registered
    assert registered_events(c) == 1
    # The same within one batch: two interviews failing the same item of another business.
    w = c.visits[1]
    rows = as_rows([fw.Answer("STAFF-01", "fail")], w.id, "owner", "钱老板", None) + [
        (n + 10, r) for n, r in as_rows([fw.Answer("STAFF-01", "fail")], w.id, "officer",
                                         "孙安全员", None)]
    sink = ListProblemSink()
    s = record_batch(rows, uow_factory=c.uow_factory, clock=NOW, checklists=c.checklists,
                     calendar=c.calendar, sink=sink, actor="test")
    assert sink.problems == [] and s.interviews == 2 and s.issues == 1
    assert issues_of(c, w.uscc, "STAFF-01") == s.issue_ids
    assert registered_events(c) == 2
    # ... while the same item failed at another business is that business's own issue.
    other = c.interview(c.visits[2], "director", {"ROUT-01": "fail"}, clock=NOW)
    assert len(other.issues_registered) == 1
    assert other.issues_registered != first.issues_registered
    assert c.chain().ok


def test_a_closed_campaign_refuses_answers_and_stores_nothing(campaign: Campaign) -> None:
    c = campaign
    svc.close_campaign(c.campaign_id, uow_factory=c.uow_factory, clock=NOW)
    before = c.counts()
    with pytest.raises(ConflictError) as e:
        c.interview(c.visits[0], "director", {"STAFF-04": "fail", "RISK-01": "fail"}, clock=NOW)
    assert e.value.code == "campaign_closed"
    assert f"campaign {c.campaign_id} is closed" in e.value.en
    assert f"visit {c.visits[0].id}" in e.value.en and "已结束" in e.value.zh
    assert c.counts() == before
    assert c.chain().ok


def test_a_wrong_team_is_refused_and_nothing_is_stored(campaign: Campaign) -> None:
    c, v = campaign, campaign.visits[0]
    wrong = v.team_no % 3 + 1
    before = c.counts()
    with pytest.raises(ConflictError) as e:
        c.interview(v, "director", {"STAFF-04": "fail"}, clock=NOW, team=wrong)
    assert e.value.code == "wrong_team"
    assert f"visit {v.id} belongs to team {v.team_no}, not team {wrong}" in e.value.en
    assert c.counts() == before
    # The visit's own team is accepted.
    ok = c.interview(v, "director", {"STAFF-04": "fail"}, clock=NOW, team=v.team_no)
    assert len(ok.issues_registered) == 1


def test_a_wrong_team_option_is_refused_by_the_cli(campaign: Campaign, db_url: str,
                                                   tmp_path: Path) -> None:
    c, v = campaign, campaign.visits[0]
    answers = tmp_path / "answers.toml"
    answers.write_text('STAFF-04 = "fail"\n', encoding="utf-8")
    wrong = v.team_no % 3 + 1
    before = c.counts()
    base = ["--db", db_url, "--data-dir", str(c.data_dir), "--now", "2026-03-10T09:00:00Z"]
    args = ["interview", "record", "--visit", str(v.id), "--role", "director", "--name", "张三",
            "--answers", str(answers)]
    result = cli(*base, "--lang", "en", *args, "--team", str(wrong))
    assert result.exit_code == 4, result.output
    assert f"belongs to team {v.team_no}, not team {wrong}" in result.output
    assert "Traceback" not in result.output
    assert c.counts() == before
    result = cli(*base, "--json", *args, "--team", str(v.team_no))
    assert result.exit_code == 0, result.output
    assert c.counts()["issue"] == before["issue"] + 1


@pytest.mark.parametrize("today", [date(2026, 3, 10), date(2026, 9, 28), date(2026, 12, 30)])
def test_due_dates_count_the_plans_working_days_for_each_severity(campaign: Campaign,
                                                                  today: date) -> None:
    """found_on + the plan's working days for the severity, under the official calendar (the
    autumn date runs through the National Day holidays and their make-up working days)."""
    c = campaign
    clock = FixedClock(datetime(today.year, today.month, today.day, 2, 0, tzinfo=UTC))
    # One interview per severity (different interviewees): minor, general, serious.
    by_severity = {"minor": ("owner", "TRAIN-06"), "general": ("director", "STAFF-04"),
                   "serious": ("officer", "HYG-01")}
    for severity, (role, item) in by_severity.items():
        assert c.checklists.require(item).severity == severity
        out = c.interview(c.visits[3], role, {item: "fail"}, clock=clock, name=f"{severity}君")
        [n] = out.issues_registered
        issue = c.issue(n)
        expected = add_workdays(today, RECT_DAYS[severity], c.calendar)
        assert issue.found_on == today and issue.severity == severity
        assert issue.rect_workdays == RECT_DAYS[severity]
        assert (issue.due_on, issue.due_provisional) == (expected.date, expected.provisional)
        assert workdays_between(today, issue.due_on, c.calendar) == RECT_DAYS[severity]
        [event] = c.events_of(f"issue:{n}")
        assert event.payload["due_on"] == expected.date.isoformat()
    if today == date(2026, 9, 28):  # 国庆: Oct 1–7 off, Sat Oct 10 worked; serious = 12 days
        assert c.issue(max(issues_of(c, c.visits[3].uscc, "HYG-01"))).due_on == date(2026, 10, 20)
    if today == date(2026, 12, 30):  # runs into 2027: no official calendar yet
        assert c.issue(max(issues_of(c, c.visits[3].uscc, "HYG-01"))).due_provisional
