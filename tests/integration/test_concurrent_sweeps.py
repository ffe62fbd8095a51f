"""Concurrent sweeps on PostgreSQL: any number of `lookback followup sweep` processes at once, and
a look-back check recorded while they run, all succeed, and together they do every job once.

The data is built through the services: a launched campaign (tests/integration/test_lifecycle.py),
its assigned officials imported, a few hundred issues registered by interviews that fail every
item (each with its review and reminder planned), some of them then notified, reported rectified
(整改报告), verified, already marked overdue, or extended past the sweep's day. One notified
issue has its look-back open: its due follow-ups are fired beforehand.

Then, with every due date passed (the clock set with ``--now``), 2 or 3 real
`lookback followup sweep` processes start together, and once they are under way a
`lookback followup record ISSUE --outcome not_rectified` of the open look-back starts too. Each
process is started ahead, imports what it needs, says it is ready and waits for its start signal
(one byte on its stdin), so the sweeps begin within microseconds of each other whatever the
start-up time.

Afterwards:

* every process exited 0;
* every follow-up that was pending and due fired exactly once (one ``followup.opened``,
  ``followup.reminded`` or ``followup.cancelled`` event), and none is left pending or running;
* every issue that should be overdue (due date passed, status ``open`` or ``notified``: no
  rectification reported) was marked overdue exactly once (one ``issue.mark_overdue`` event),
  and nothing else was: the issues that reported their rectification stay
  ``rectification_reported``, the verified stay verified, those extended past the day stay as
  they were, those already overdue are not marked again;
* the checked issue has its check recorded once and is ``notified`` with its new due date; it
  was marked overdue at most once, and only before the check;
* each routine supervision period was opened once (one ``supervision.opened`` event each);
* `lookback audit verify` passes.

PostgreSQL only (LOOKBACK_TEST_DATABASE_URL): SQLite serialises its writers, so this is where
concurrent sweeps meet.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from domain import fieldwork as fw
from domain import followups as fu
from domain import issues as iss
from domain.clock import FixedClock, china_date
from domain.importing import import_register
from domain.issues import Action
from domain.registers import RegisterKind
from storage.readers import RegisterFile
from storage.reports import ListProblemSink
from tests.integration._support import PG_URL, migrated_engine, reset_postgres
from tests.integration.test_lifecycle import NOW, Campaign, launch_campaign, make_registers

pytestmark = pytest.mark.skipif(not PG_URL, reason="concurrent sweeps run on PostgreSQL "
                                "(set LOOKBACK_TEST_DATABASE_URL)")

#: The sweeps' clock: every due date of the issues registered at NOW (2026-03-10) has passed, and
#: every review (due date + 5 working days) and reminder is due.
SWEEP_NOW = "2026-04-20T09:00:00+08:00"
SWEEP_INSTANT = datetime.fromisoformat(SWEEP_NOW)
TODAY = china_date(SWEEP_INSTANT)
FIRED_KINDS = ("followup.opened", "followup.reminded", "followup.cancelled")
ROLES_FAILED = ("director", "officer", "owner")
ACTOR = "test:concurrent"
BATCH = "25"  # follow-ups per transaction: many transactions per sweep, so the sweeps interleave
TIMEOUT_S = 300

#: A child process: the imports first, then "ready" on its pipe, then the command once it reads
#: the start byte. It runs the same entry point as the `lookback` script.
CHILD = r"""
import os, sys
import lookback.cli
import domain.followups, domain.supervision, domain.fieldwork, storage.uow, storage.db, psycopg
ready = int(sys.argv[1])
os.write(ready, b"r")
os.close(ready)
if sys.stdin.buffer.read(1) != b"g":
    sys.exit(99)
sys.argv = ["lookback", *sys.argv[2:]]
lookback.cli.main()
"""


# --- the data --------------------------------------------------------------------------------

@dataclass
class Scenario:
    """The database before the sweeps, and what they are expected to do."""

    campaign: Campaign
    url: str
    due_followups: list[int]  # pending and due at SWEEP_NOW
    to_mark: list[int]  # open or notified, due date passed: to be marked overdue once
    reported: list[int]  # rectification_reported, due date passed: to stay so
    verified: list[int]
    already_overdue: list[int]
    extended: list[int]  # due after TODAY
    checked: int  # notified, past due, its look-back open: recorded mid-sweep
    statuses: dict[int, str] = field(default_factory=dict)
    fired_before: int = 0
    marks_before: Counter[int] = field(default_factory=Counter)


def q(engine: Engine, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params).all()]


def build(registers: Path, folder: Path) -> Scenario:
    assert PG_URL
    reset_postgres(PG_URL)
    engine = migrated_engine(PG_URL)
    c = launch_campaign(engine, registers, folder / "data")
    f = RegisterFile(registers / "cadres.csv", RegisterKind.CADRES)
    s = import_register(RegisterKind.CADRES, f.rows(), uow_factory=c.uow_factory, clock=NOW,
                        sink=ListProblemSink(), source=str(f), sha256=f.sha256)
    assert s.inserted > 0

    issues: list[int] = []
    for visit in c.visits:
        for role in ROLES_FAILED:
            items = {i.id: "fail" for i in c.checklists.for_role(role)}
            out = c.interview(visit, role, items, clock=NOW, actor=ACTOR)
            issues += out.issues_registered
    issues.sort()

    later = FixedClock(datetime(2026, 3, 27, 1, 0, tzinfo=UTC))  # every due date has passed
    kw: dict[str, Any] = {"actor": ACTOR, "uow_factory": c.uow_factory}
    notified, reported, verified, overdue, extended = [], [], [], [], []
    for n, i in enumerate(issues):
        kind = n % 10
        if kind in (1, 2):
            iss.transition(i, Action.NOTIFY, clock=NOW, **kw)
            notified.append(i)
        elif kind == 3:
            fw.rectify(i, measures="已整改并上传照片", evidence=[], clock=NOW, **kw)
            reported.append(i)
        elif kind == 4:
            iss.transition(i, Action.NOTIFY, clock=NOW, **kw)
            fw.rectify(i, measures="已整改", evidence=[], clock=NOW, **kw)
            reported.append(i)
        elif kind == 5 and n < 100:
            fw.rectify(i, measures="已整改", evidence=[], clock=NOW, **kw)
            iss.transition(i, Action.VERIFY, clock=NOW, **kw)
            verified.append(i)
        elif kind == 6 and n < 100:
            iss.transition(i, Action.MARK_OVERDUE, clock=later, **kw)
            overdue.append(i)
        elif kind == 7 and n < 100:
            fw.extend(i, workdays=40, reason="设备待更换", approver="李科长", clock=NOW,
                      calendar=c.calendar, **kw)
            extended.append(i)

    # The checked issue: notified, and its look-back opened (its due follow-ups fired) already.
    checked = notified[0]
    with c.read() as uow:
        mine = [x for x in uow.followups.of_issue(checked) if x.status == "pending"]
    assert {x.kind for x in mine} >= {fu.REVIEW}
    opened_at = FixedClock(datetime.fromtimestamp(max(x.due_at for x in mine), UTC))
    fired = fu.fire([x.id for x in mine], uow_factory=c.uow_factory, clock=opened_at,
                    worker=ACTOR)
    assert fired.opened == 1

    due_epoch = fu.epoch(SWEEP_INSTANT)
    due = [r[0] for r in q(engine, "SELECT id FROM followup WHERE status = 'pending' AND "
                           "due_at <= :t ORDER BY id", t=due_epoch)]
    statuses = dict(q(engine, "SELECT id, status FROM issue"))
    past = {r[0] for r in q(engine, "SELECT id FROM issue WHERE due_on < :d", d=TODAY)}
    to_mark = sorted(i for i, st in statuses.items()
                     if st in ("open", "notified") and i in past and i != checked)
    sc = Scenario(c, PG_URL, due, to_mark, sorted(i for i in reported if i in past), verified,
                  overdue, extended, checked, statuses)
    assert not past & set(extended) and checked in past
    sc.fired_before = fired_event_count(engine)
    sc.marks_before = marks(engine)
    # A few hundred of each, so the sweeps have real work to share.
    assert len(due) >= 300 and len(to_mark) >= 200 and len(sc.reported) >= 50, (
        len(due), len(to_mark), len(sc.reported))
    return sc


def fired_event_count(engine: Engine) -> int:
    return int(q(engine, "SELECT COUNT(*) FROM event WHERE kind IN "
                 "('followup.opened', 'followup.reminded', 'followup.cancelled')")[0][0])


def marks(engine: Engine) -> Counter[int]:
    return Counter({int(e.split(":")[1]): n for e, n in q(
        engine, "SELECT entity, COUNT(*) FROM event WHERE kind = 'issue.mark_overdue' "
        "GROUP BY entity")})


# --- the processes ---------------------------------------------------------------------------

@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


class Children:
    """Child processes started ahead and held at a start barrier."""

    def __init__(self, sc: Scenario, folder: Path) -> None:
        self.sc = sc
        self.folder = folder
        self.children: list[Child] = []

    def prepare(self, name: str, *args: str) -> Child:
        """Start a `lookback` process with ``args`` and wait until it is ready to run."""
        r, w = os.pipe()
        log = self.folder / f"{name}.log"
        out: IO[bytes] = log.open("wb")
        cmd = [sys.executable, "-c", CHILD, str(w), "--db", self.sc.url, "--data-dir",
               str(self.sc.campaign.data_dir), "--now", SWEEP_NOW, "--lang", "en", *args]
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=out,
                                    stderr=subprocess.STDOUT, pass_fds=(w,),
                                    env={**os.environ, "COLUMNS": "200"})
        finally:
            os.close(w)
            out.close()
        child = Child(name, proc, log)
        self.children.append(child)
        try:
            ready = os.read(r, 1)  # blocks until the child has imported everything (or died)
        finally:
            os.close(r)
        assert ready == b"r", f"{name} died before it was ready:\n{child.output()}"
        return child

    @staticmethod
    def release(*children: Child) -> None:
        for c in children:
            assert c.proc.stdin is not None
            c.proc.stdin.write(b"g")
            c.proc.stdin.close()

    def wait_all(self) -> dict[str, int]:
        deadline = time.monotonic() + TIMEOUT_S
        codes = {}
        for c in self.children:
            codes[c.name] = c.proc.wait(max(1.0, deadline - time.monotonic()))
        return codes

    def stop(self) -> None:
        for c in self.children:
            if c.proc.poll() is None:
                c.proc.kill()
            c.proc.wait(10)


def wait_until(what: str, cond: Callable[[], bool], timeout_s: float) -> None:
    """Poll ``cond`` (a condition on the database, not a guess at timing) until it holds."""
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.002)


@pytest.fixture(scope="module")
def registers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_registers(tmp_path_factory.mktemp("registers"))


@pytest.fixture
def scenario(registers: Path, tmp_path: Path) -> Iterator[Scenario]:
    sc = build(registers, tmp_path)
    yield sc
    sc.campaign.engine.dispose()


def audit_verify(sc: Scenario) -> str:
    """`lookback audit verify` on the database: "" when it passes, else what it said."""
    r = subprocess.run([str(Path(sys.executable).with_name("lookback")), "--db", sc.url,
                        "--data-dir", str(sc.campaign.data_dir), "audit", "verify"],
                       capture_output=True, text=True, timeout=120)
    if r.returncode == 0:
        return ""
    return f"audit verify exited {r.returncode}: {(r.stdout + r.stderr).strip()[-400:]}"


# --- the tests -------------------------------------------------------------------------------

@pytest.mark.parametrize("sweeps", [2, 3])
def test_concurrent_sweeps_and_a_check_mid_sweep_all_succeed_and_do_each_job_once(
        scenario: Scenario, tmp_path: Path, sweeps: int) -> None:
    sc = scenario
    engine = sc.campaign.engine
    kids = Children(sc, tmp_path)
    try:
        sweepers = [kids.prepare(f"sweep-{k}", "--json", "followup", "sweep", "--batch", BATCH)
                    for k in range(sweeps)]
        checker = kids.prepare("record", "--json", "followup", "record", str(sc.checked),
                               "--outcome", "not_rectified", "--note", "复查发现仍未整改")
        kids.release(*sweepers)  # the sweeps start together
        # The check starts once the sweeps are under way (their first batch is in).
        wait_until("the sweeps to fire their first batch",
                   lambda: fired_event_count(engine) > sc.fired_before
                   or any(s.proc.poll() is not None for s in sweepers), 120)
        kids.release(checker)
        codes = kids.wait_all()
    finally:
        kids.stop()

    problems: list[str] = []
    outputs = {c.name: c.output() for c in kids.children}
    for name, code in codes.items():
        if code != 0:
            problems.append(f"{name} exited {code}: {outputs[name].strip()[-600:]}")

    # Every due follow-up fired exactly once, none left pending.
    status = dict(q(engine, "SELECT id, status FROM followup"))
    per = Counter({int(e.split(":")[1]): n for e, n in q(
        engine, "SELECT entity, COUNT(*) FROM event WHERE kind IN ('followup.opened', "
        "'followup.reminded', 'followup.cancelled') GROUP BY entity")})
    left = [i for i in sc.due_followups if status[i] in ("pending", "running")]
    if left:
        problems.append(f"{len(left)} due follow-ups not fired, e.g. {left[:10]}")
    wrong = {i: per[i] for i in sc.due_followups if per[i] != 1}
    if wrong:
        problems.append(f"{len(wrong)} due follow-ups fired other than once (id: events), e.g. "
                        f"{dict(list(wrong.items())[:10])}")
    twice = {i: n for i, n in per.items() if n > 1}
    if twice:
        problems.append(f"follow-ups fired more than once: {dict(list(twice.items())[:10])}")
    new_fired = fired_event_count(engine) - sc.fired_before
    if new_fired != len(sc.due_followups):
        problems.append(f"{new_fired} firing events for {len(sc.due_followups)} due follow-ups")

    # Overdue: the open and notified issues past due, each once; nothing else.
    m = marks(engine)
    new_marks = m - sc.marks_before
    issue_status = dict(q(engine, "SELECT id, status FROM issue"))
    not_once = {i: m[i] for i in sc.to_mark if m[i] != 1}
    if not_once:
        problems.append(f"{len(not_once)} of {len(sc.to_mark)} issues due to be marked overdue "
                        f"were marked other than once (id: marks), e.g. "
                        f"{dict(list(not_once.items())[:10])}")
    not_overdue = [i for i in sc.to_mark if issue_status[i] != "overdue"]
    if not_overdue:
        problems.append(f"{len(not_overdue)} issues due to be overdue are not, e.g. "
                        f"{[(i, issue_status[i]) for i in not_overdue[:5]]}")
    stray = {i: n for i, n in new_marks.items() if i not in sc.to_mark and i != sc.checked}
    if stray:
        kinds = Counter(sc.statuses[i] for i in stray)
        problems.append(f"{len(stray)} issues marked overdue that should not have been (their "
                        f"status before: {dict(kinds)}), e.g. {list(stray)[:10]}")
    moved = [i for i in sc.reported if issue_status[i] != "rectification_reported"]
    if moved:
        problems.append(f"{len(moved)} of {len(sc.reported)} issues past due with their "
                        "rectification reported are no longer rectification_reported (now "
                        f"{dict(Counter(issue_status[i] for i in moved))})")
    for group, expected in (("verified", "verified"), ("already_overdue", "overdue")):
        changed = [i for i in getattr(sc, group) if issue_status[i] != expected]
        if changed:
            problems.append(f"{group} issues changed: {changed[:10]}")
    changed = [i for i in sc.extended if issue_status[i] != sc.statuses[i]]
    if changed:
        problems.append(f"issues extended past the day changed: {changed[:10]}")

    # The check: recorded once, the issue notified again with a later due date; marked overdue
    # at most once, and then only before the check.
    recorded = q(engine, "SELECT seq FROM event WHERE kind = 'followup.recorded' AND "
                 "payload LIKE :p", p=f'%"issue":{sc.checked},%')
    checked_marks = q(engine, "SELECT seq FROM event WHERE kind = 'issue.mark_overdue' AND "
                      "entity = :e", e=f"issue:{sc.checked}")
    if len(recorded) != 1:
        problems.append(f"the check of issue {sc.checked} was recorded {len(recorded)} times")
    if issue_status[sc.checked] != "notified":
        problems.append(f"the checked issue {sc.checked} is {issue_status[sc.checked]}, not "
                        "notified")
    if len(checked_marks) > 1 or (checked_marks and recorded
                                  and checked_marks[0][0] > recorded[0][0]):
        problems.append(f"the checked issue {sc.checked} was marked overdue at events "
                        f"{checked_marks}, the check is event {recorded}")
    swept = []
    for s in sweepers:
        try:
            result = json.loads(outputs[s.name])
        except ValueError:
            continue
        if isinstance(result, dict) and result.get("ok"):
            swept.append(result)
    if len(swept) == sweeps:
        told = sum(r["marked_overdue"] for r in swept)
        if told != sum(new_marks.values()):
            problems.append(f"the sweeps reported {told} issues marked overdue, the log holds "
                            f"{sum(new_marks.values())}")

    # Routine supervision: each period opened once.
    opened = q(engine, "SELECT entity, COUNT(*) FROM event WHERE kind = 'supervision.opened' "
               "GROUP BY entity")
    if not opened or any(n != 1 for _, n in opened):
        problems.append(f"supervision periods opened (entity, events): {opened}")

    # The hash chain holds.
    verified = audit_verify(sc)
    if verified:
        problems.append(verified)

    assert not problems, (f"{sweeps} concurrent sweeps and a check: {len(problems)} problems:\n"
                          + "\n".join(f"- {p}" for p in problems))


def test_the_expectations_hold_for_one_sweep_alone_apart_from_the_reported_rule(
        scenario: Scenario, tmp_path: Path) -> None:
    """A baseline that does not depend on concurrency: one sweep and then the check, one after
    the other, on the same data. (Until the rule change, the sweep marks the issues that reported
    their rectification overdue too; that is all this test allows besides the expectations.)"""
    sc = scenario
    engine = sc.campaign.engine
    kids = Children(sc, tmp_path)
    try:
        sweeper = kids.prepare("sweep", "--json", "followup", "sweep", "--batch", BATCH)
        kids.release(sweeper)
        assert sweeper.proc.wait(TIMEOUT_S) == 0, sweeper.output()
        checker = kids.prepare("record", "--json", "followup", "record", str(sc.checked),
                               "--outcome", "not_rectified", "--note", "复查发现仍未整改")
        kids.release(checker)
        assert checker.proc.wait(TIMEOUT_S) == 0, checker.output()
    finally:
        kids.stop()
    per = Counter({int(e.split(":")[1]): n for e, n in q(
        engine, "SELECT entity, COUNT(*) FROM event WHERE kind IN ('followup.opened', "
        "'followup.reminded', 'followup.cancelled') GROUP BY entity")})
    assert all(per[i] == 1 for i in sc.due_followups)
    assert fired_event_count(engine) - sc.fired_before == len(sc.due_followups)
    m = marks(engine)
    assert all(m[i] == 1 for i in sc.to_mark)
    issue_status = dict(q(engine, "SELECT id, status FROM issue"))
    # the checked issue: past due and notified at the sweep, so marked; then the check
    assert m[sc.checked] == 1 and issue_status[sc.checked] == "notified"
    extra = set(m - sc.marks_before) - set(sc.to_mark) - {sc.checked}
    assert extra <= set(sc.reported)
    assert all(issue_status[i] == "verified" for i in sc.verified)
    assert all(issue_status[i] == sc.statuses[i] for i in sc.extended)
    opened = q(engine, "SELECT entity, COUNT(*) FROM event WHERE kind = 'supervision.opened' "
               "GROUP BY entity")
    assert opened and all(n == 1 for _, n in opened)
    assert audit_verify(sc) == ""
