"""The scheduler daemon as real processes on a real SQLite file (DESIGN §7): a look-back fires
exactly once per issue and due date across a kill -9 in the middle of a sweep and a restart, with
two scheduler processes at once (the standby takes over when the holder dies), none lost while the
scheduler was down, and never early.

Each test starts `lookback scheduler run` (lease 3 s, sweep every 2 s) as a child process,
polls the database with timeouts, and kills its children in ``finally``. SQLite only: on
PostgreSQL (LOOKBACK_TEST_DATABASE_URL) these are skipped, test_followups.py covers the claims.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import pytest

from domain import followups as fu
from domain.clock import CHINA_TZ, FixedClock
from storage.db import make_engine
from storage.uow import SqlUnitOfWork
from tests.integration._support import PG_URL
from tests.integration.test_lifecycle import FAILED, Template, make_registers

pytestmark = pytest.mark.skipif(bool(PG_URL), reason="process tests run on the SQLite file")

LOOKBACK = str(Path(sys.executable).with_name("lookback"))
FIRED_KINDS = ("followup.opened", "followup.reminded", "followup.cancelled")
REGISTERED = FixedClock(datetime(2026, 3, 10, 9, 0, tzinfo=UTC))


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    """A launched campaign with three issues (and their revision-1 follow-ups)."""
    folder = tmp_path_factory.mktemp("scheduler")
    t = Template(folder, make_registers(folder / "registers"))
    c = t.fresh()
    out = c.interview(c.visits[0], "director", FAILED, clock=REGISTERED, actor="test")
    assert len(out.issues_registered) == 3
    c.engine.dispose()
    t.path = c.engine.url.database  # later copies start from this one
    return t


class Site:
    """A private copy of the template database and the scheduler processes run on it."""

    def __init__(self, template: Template, folder: Path) -> None:
        c = template.fresh()
        c.engine.dispose()
        self.path = Path(str(c.engine.url.database))
        self.url = f"sqlite:///{self.path}"
        self.folder = folder
        self.data = template.campaign.data_dir
        self.procs: list[tuple[subprocess.Popen[bytes], Path]] = []
        with self.db() as conn:
            self.issues = [r[0] for r in conn.execute("SELECT id FROM issue ORDER BY id")]

    def db(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30)
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    def q(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        conn = self.db()
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()

    def add_followups(self, due_at: Callable[[int], int], n: int, *, first_revision: int
                      ) -> list[int]:
        """``n`` follow-ups (reviews and reminders, over the three issues) with revisions from
        ``first_revision``; the i-th one is due at ``due_at(i)``. Returns their ids."""
        rows = []
        for k in range(n):
            issue = self.issues[k % 3]
            kind = fu.REVIEW if (k // 3) % 2 == 0 else fu.REMINDER
            rows.append(fu.NewFollowUp(issue, kind, first_revision + k // 6, date(2026, 3, 9),
                                       due_at(k), 1))
        engine = make_engine(self.url)
        try:
            with SqlUnitOfWork(engine) as uow:
                uow.followups.add_many(rows, datetime.now(UTC))
                uow.commit()
        finally:
            engine.dispose()
        got = self.q("SELECT id FROM followup WHERE revision >= ? ORDER BY id", first_revision)
        ids = [r[0] for r in got]
        assert len(ids) == n
        return ids

    def start(self, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = self.folder / f"scheduler-{len(self.procs)}.log"
        f: IO[bytes] = log.open("wb")
        p = subprocess.Popen(
            [LOOKBACK, "--db", self.url, "--data-dir", str(self.data), "--lang", "en",
             "scheduler", "run", "--lease-seconds", "3", "--sweep-seconds", "2", *extra],
            stdout=f, stderr=subprocess.STDOUT, env={**os.environ, "COLUMNS": "200", **(env or {})})
        f.close()
        self.procs.append((p, log))
        return p

    def log(self, p: subprocess.Popen[bytes]) -> str:
        return next(log for q, log in self.procs if q is p).read_text(errors="replace")

    def stop_all(self) -> None:
        for p, _ in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait(10)

    def status_of(self, ids: list[int]) -> dict[str, int]:
        out: dict[str, int] = {}
        for chunk in range(0, len(ids), 500):
            part = ids[chunk:chunk + 500]
            marks = ",".join("?" * len(part))
            for st, n in self.q(f"SELECT status, COUNT(*) FROM followup WHERE id IN ({marks}) "
                                "GROUP BY status", *part):
                out[st] = out.get(st, 0) + n
        return out

    def fired_events(self) -> dict[str, int]:
        """Firing events per follow-up entity."""
        marks = ",".join("?" * len(FIRED_KINDS))
        return dict(self.q(f"SELECT entity, COUNT(*) FROM event WHERE kind IN ({marks}) "
                           "GROUP BY entity", *FIRED_KINDS))

    def lease_holder(self) -> str | None:
        got = self.q("SELECT holder, expires_at FROM scheduler_lease WHERE name = 'scheduler'")
        if not got or got[0][1] < time.time():
            return None
        return str(got[0][0])


def holder_of(p: subprocess.Popen[bytes]) -> str:
    return f"{socket.gethostname()}:{p.pid}"


def wait_for(what: str, cond: Callable[[], Any], timeout_s: float, *, every_s: float = 0.1,
             procs: list[subprocess.Popen[bytes]] | None = None) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        got = cond()
        if got:
            return got
        for p in procs or []:
            assert p.poll() is None, f"scheduler {p.pid} exited with {p.returncode}"
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(every_s)


@pytest.fixture
def site(template: Template, tmp_path: Path) -> Iterator[Site]:
    s = Site(template, tmp_path)
    try:
        yield s
    finally:
        s.stop_all()


def assert_fired_once(site: Site, ids: list[int]) -> None:
    st = site.status_of(ids)
    assert "pending" not in st and "running" not in st, st
    per = site.fired_events()
    counts = [per.get(f"followup:{i}", 0) for i in ids]
    assert counts == [1] * len(ids), {i: n for i, n in zip(ids, counts, strict=True) if n != 1}
    assert max(per.values()) == 1  # nor any other follow-up twice


def audit_verify(site: Site) -> None:
    r = subprocess.run([LOOKBACK, "--db", site.url, "--data-dir", str(site.data), "audit",
                        "verify"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


# --- the tests -------------------------------------------------------------------------------

def test_a_kill_mid_sweep_and_a_restart_fire_every_due_follow_up_once(site: Site) -> None:
    now = int(time.time())
    n = 3000
    ids = site.add_followups(lambda k: now - 3600 - k, n, first_revision=100)
    a = site.start()
    # Kill it once some batches of the start-up sweep are in, before the last one.
    fired = wait_for("the sweep to be under way",
                     lambda: (lambda d: d if 0 < d < n else 0)(n - site.status_of(ids)
                                                               .get("pending", 0)),
                     30, every_s=0.005, procs=[a])
    a.send_signal(signal.SIGKILL)
    a.wait(10)
    st = site.status_of(ids)
    assert 0 < n - st.get("pending", 0) < n, (fired, st)  # the kill really landed mid-sweep
    assert "running" not in st  # a claim only lives inside its transaction
    per = site.fired_events()
    assert sum(per.get(f"followup:{i}", 0) for i in ids) == n - st["pending"]

    b = site.start()
    wait_for("every due follow-up to fire", lambda: "pending" not in site.status_of(ids), 30,
             procs=[b])
    b.send_signal(signal.SIGTERM)
    assert b.wait(15) == 0, site.log(b)
    assert_fired_once(site, ids)
    audit_verify(site)


def test_two_schedulers_never_fire_twice_and_the_standby_takes_over(site: Site) -> None:
    a = site.start()
    wait_for("the first scheduler to lead", lambda: site.lease_holder() == holder_of(a), 15,
             procs=[a])
    b = site.start()
    wait_for("the second to wait as standby", lambda: "standby" in site.log(b), 15,
             procs=[a, b])
    now = int(time.time())
    first = site.add_followups(lambda k: now + 2 + k % 3, 300, first_revision=100)
    wait_for("the first batch to fire", lambda: "pending" not in site.status_of(first), 20,
             procs=[a, b])
    assert_fired_once(site, first)
    assert {r[0] for r in site.q("SELECT DISTINCT fired_by FROM followup WHERE revision >= 100"
                                 )} == {holder_of(a)}
    assert site.lease_holder() == holder_of(a)

    a.send_signal(signal.SIGKILL)
    a.wait(10)
    now = int(time.time())
    later = site.add_followups(lambda k: now + 6 + k % 3, 300, first_revision=1000)
    wait_for("the standby to take over", lambda: site.lease_holder() == holder_of(b), 15,
             procs=[b])
    assert site.status_of(later) == {"pending": 300}  # not due yet
    wait_for("the later batch to fire", lambda: "pending" not in site.status_of(later), 20,
             procs=[b])
    assert_fired_once(site, first + later)
    assert {r[0] for r in site.q("SELECT DISTINCT fired_by FROM followup WHERE revision >= 1000"
                                 )} == {holder_of(b)}
    fired_at = site.q("SELECT MIN(fired_at) FROM followup WHERE revision >= 1000")[0][0]
    assert datetime.fromisoformat(fired_at).replace(tzinfo=UTC).timestamp() >= now + 6
    b.send_signal(signal.SIGTERM)
    assert b.wait(15) == 0, site.log(b)
    audit_verify(site)


def test_a_scheduler_down_across_a_due_date_runs_it_on_start_up(site: Site) -> None:
    a = site.start()
    wait_for("the scheduler to lead", lambda: site.lease_holder() == holder_of(a), 15,
             procs=[a])
    a.send_signal(signal.SIGTERM)
    assert a.wait(15) == 0, site.log(a)
    now = int(time.time())
    ids = site.add_followups(lambda k: now + 1, 30, first_revision=100)
    time.sleep(max(0.0, now + 2 - time.time()))  # they come due while nobody runs
    assert site.status_of(ids) == {"pending": 30}
    b = site.start()
    wait_for("the missed follow-ups to fire", lambda: "pending" not in site.status_of(ids), 20,
             procs=[b])
    assert_fired_once(site, ids)
    wait_for("the start-up report", lambda: "due on start-up fired" in site.log(b), 10,
             procs=[b])
    assert "30 follow-ups due on start-up fired" in site.log(b), site.log(b)
    b.send_signal(signal.SIGTERM)
    assert b.wait(15) == 0, site.log(b)


def test_nothing_runs_before_its_due_instant(site: Site) -> None:
    # The earliest revision-1 follow-up of the template's issues: a real 00:00 China time.
    fid, due_at = site.q("SELECT id, due_at FROM followup WHERE status = 'pending' "
                         "ORDER BY due_at, id LIMIT 1")[0]
    due = datetime.fromtimestamp(due_at, UTC)
    assert due.astimezone(CHINA_TZ).strftime("%H:%M:%S") == "00:00:00"
    started = time.monotonic()
    a = site.start("--now", (due - timedelta(seconds=6)).isoformat())
    wait_for("the scheduler to lead", lambda: site.lease_holder() == holder_of(a), 15,
             procs=[a])
    # Shortly before the due instant (on the scheduler's clock) it has not fired.
    time.sleep(max(0.0, started + 4 - time.monotonic()))
    assert site.status_of([fid]) == {"pending": 1}, site.log(a)
    wait_for("the follow-up to fire", lambda: "pending" not in site.status_of([fid]), 15,
             procs=[a])
    fired_at = site.q("SELECT fired_at FROM followup WHERE id = ?", fid)[0][0]
    assert datetime.fromisoformat(fired_at).replace(tzinfo=UTC) >= due
    a.send_signal(signal.SIGTERM)
    assert a.wait(15) == 0, site.log(a)
    assert_fired_once(site, [fid])


def test_with_a_prefect_server_that_does_not_answer_look_backs_fire_here(site: Site) -> None:
    """A scheduler configured for a Prefect server (PREFECT_API_URL) that is down says so and
    fires the due follow-ups in its own process: nothing waits on workers that cannot be
    reached. (With a server up, they go to the workers: tests/cluster.)"""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    a = site.start(env={"PREFECT_API_URL": f"http://127.0.0.1:{port}/api"})
    wait_for("the scheduler to lead", lambda: site.lease_holder() == holder_of(a), 30,
             procs=[a])
    now = int(time.time())
    ids = site.add_followups(lambda k: now, 6, first_revision=300)
    wait_for("the follow-ups to fire", lambda: "pending" not in site.status_of(ids), 20,
             procs=[a])
    assert_fired_once(site, ids)
    assert "does not answer" in site.log(a) and "fire in this process" in site.log(a)
    fired_by = {r[0] for r in site.q("SELECT fired_by FROM followup WHERE revision >= 300")}
    assert fired_by == {holder_of(a)}
    a.send_signal(signal.SIGTERM)
    assert a.wait(15) == 0, site.log(a)
