"""Benchmark: the follow-up sweep (claim and record) against two floors of plain `sqlite3`
statements, and the scheduler daemon's start-up, in one run.

    python bench/followups.py                       # 100,000 follow-ups, all due
    python bench/followups.py --followups 2000      # what CI runs

Setup (not timed): a fresh SQLite database in the work folder (`lookback init`), registers from
`lookback registry generate` imported with `lookback registry import`, and a campaign of enough
visits (one business stage, strata ["province"], exclusion_days 0, enough teams that avoidance
cannot fail) created with ``create_campaign`` and launched with ``domain.campaigns.launch`` under a
fixed clock, as bench/fieldwork.py does. Then, with sqlite3 directly (the data set-up is not what
is measured; every foreign key stays valid): --followups issues, one per (visit, checklist item)
with the visit's business, and one pending follow-up (revision 1) per issue:

* ~70% reviews of issues whose due date (2026-03-30) has passed: the issue is already ``overdue``
  (an earlier sweep marked it) and the review fell due between 2026-04-07 and 2026-04-20;
* ~25% reminders of ``notified`` issues due 2026-04-22..24, the reminder due 2026-04-15..20;
* ~5% reviews of issues already ``verified`` (the follow-up is cancelled when fired).

Every follow-up is due at NOW (2026-04-20 09:30 China time). Two copies of that database are taken
with the sqlite3 backup API, one per floor, and a third copy (before the follow-ups were added)
gets --followups pending follow-ups due in the *future* for the scheduler.

Ours: ``domain.followups.sweep`` (claim batches of 1,000 with UPDATE … WHERE status='pending' AND
due_at<=now RETURNING id, read the claimed rows with their issues, record each outcome and one
hash-chained event per follow-up in the same transaction; then mark_overdue) with the real
``SqlUnitOfWork`` on an engine from ``storage.db.make_engine`` (WAL, synchronous=FULL, foreign
keys), in a child process: the sweep is timed inside it (imports and engine creation before the
timer) and its peak RSS is the child's own (VmHWM). Afterwards: no follow-up pending or running,
each one fired exactly once (one followup.* event per follow-up, its entity unique), the status
counts as planned (open / done / cancelled), and the whole event chain verifies.

Both floors: sqlite3 directly, in this process, with the pragmas our engine sets; the outcome of
each follow-up (open for a review, done for a reminder, cancelled when the issue is verified) is
decided outside the timer.

* Old floor: one plain ``UPDATE followup SET status=?, fired_at=? WHERE id=?`` per row
  (``executemany``) in one transaction. Afterwards both databases must hold the same (id, status,
  fired_at) for every follow-up. The old goal, ours / old floor <= 5, is printed for comparison
  with earlier figures.
* Fair floor: the same status updates and the same events, in transactions of the same batch size
  (1,000) in the order ours fires them (batches by due_at and id, each by id): per batch, the claim
  (``UPDATE … SET status='running' WHERE id=? AND status='pending'``), the finish (the final
  status, fired_at and fired_by, ``… WHERE id=? AND status='running'``) and one INSERT per event,
  each an ``executemany``. The event payloads (same kinds and shapes as ours) are built outside
  the timer; hashing them into the chain with ``domain.events.make_event`` is inside it, since
  computing the chain is part of the work. It reads no head and no issue inside the timer, and
  does not run mark_overdue (which marks nothing here). Afterwards its (id, status, fired_at,
  fired_by) and its whole event table must be identical to ours. Goal: ours / fair floor <= 2.5.

Scheduler start-up: in another child process, on the third copy (with the real clock, since
APScheduler's timers are real; the issues' due dates are moved after today so that no issue turns
overdue): from constructing ``lookback.bootstrap.App`` and ``lookback.scheduler.Daemon`` through
the end of its first ``start_up()`` (lease, APScheduler BlockingScheduler with the
SQLAlchemyJobStore on the same database, reconcile, sweep, refill), run in a thread the way
``Daemon.run`` runs; then the daemon is stopped. The follow-ups are due from 10 minutes to 7 days
ahead, so about 1/7 fall within the 24 h horizon, and at most ``max_jobs`` (1,000) timers are set:
the figure is for reading 100,000 pending rows and setting the capped number of timers. Goal:
<= 10 s.

--profile also runs our sweep under cProfile (the sweep only, in its child process) on another
copy and prints where the time goes.
Set BENCH_JSON=1 to also print the figures as one JSON line (ours_s, old_floor_s, fair_floor_s,
ratio_old, ratio_fair, …).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import math
import os
import random
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from _common import (
    ROLES,
    ROOT,
    SETUP_NOW,  # the campaign is launched, the issues found
    add_root_to_path,
    add_run_options,
    arg_parser,
    backup,
    connect,
    launch_campaign,
    peak_rss_mb,
    print_json,
    print_profile,
    stored_datetime,
    work_folder,
)

NOW = "2026-04-20T09:30:00+08:00"  # the sweep: every follow-up is due
ACTOR = "bench:followups"
GOAL_OLD, GOAL_FAIR, GOAL_STARTUP_S = 5.0, 2.5, 10.0
BATCH = 1000  # follow-ups per transaction: ours (passed to sweep explicitly) and the floor's
REVIEW_SHARE, REMINDER_SHARE = 0.70, 0.25  # the rest: reviews of verified issues

# --- setup ----------------------------------------------------------------------------------

def setup_campaign(db: Path, work: Path, *, visits: int, businesses: int,
                   seed: int) -> tuple[int, list[tuple[int, str, int]]]:
    """A fresh database with one launched campaign; its id and (visit, uscc, team) by id."""
    c = launch_campaign(db, work, title=f"基准测试：回头看批量复查 {visits}", visits=visits,
                        businesses=businesses, seed=seed, now=SETUP_NOW)
    print(f"database ready: {businesses:,} businesses, campaign {c.campaign} launched with "
          f"{visits:,} visits by {c.teams} teams of {c.members}")
    return c.campaign, [(v.id, v.uscc, v.team_no) for v in c.visits]


def checklist_items() -> list[Any]:
    """Every checklist item once, in role order."""
    from domain.checklists import default_checklists

    checklists = default_checklists()
    seen: dict[str, Any] = {}
    for role in ROLES:
        for item in checklists.for_role(role):
            seen.setdefault(item.id, item)
    return list(seen.values())


def fire_epoch(d: date) -> int:
    from domain.followups import epoch, fire_instant

    return epoch(fire_instant(d))


def add_issues(db: Path, campaign: int, visits: list[tuple[int, str, int]], n: int,
               seed: int) -> list[tuple[int, int, str, int]]:
    """``n`` issues, one per (visit, checklist item) in order; (issue, team, status, kind index)
    where the kind index says which follow-up it gets: 0 review of an overdue issue, 1 reminder of
    a notified issue, 2 review of a verified issue."""
    items = checklist_items()
    rng = random.Random(seed)
    found_on = date(2026, 3, 16)
    at = stored_datetime(datetime.fromisoformat(SETUP_NOW))
    rows: list[tuple[Any, ...]] = []
    plan: list[tuple[int, int, str, int]] = []
    conn = connect(db)
    top = conn.execute("SELECT COALESCE(MAX(id), 0) FROM issue").fetchone()[0]
    for visit_id, uscc, team in visits:
        for item in items:
            if len(rows) == n:
                break
            roll = rng.random()
            which = 0 if roll < REVIEW_SHARE else 1 if roll < REVIEW_SHARE + REMINDER_SHARE else 2
            if which == 1:  # due soon after NOW: not overdue yet
                due_on, status = date(2026, 4, 22) + timedelta(days=rng.randrange(3)), "notified"
            else:
                due_on, status = date(2026, 3, 30), ("overdue" if which == 0 else "verified")
            workdays = (due_on - found_on).days * 5 // 7
            issue_id = top + len(rows) + 1
            rows.append((issue_id, campaign, visit_id, uscc, item.id, item.category,
                         item.severity, f"检查发现：{item.question_zh}"[:2000],
                         item.legal_basis_zh[:500], status, found_on.isoformat(), workdays,
                         due_on.isoformat(), 0, found_on.isoformat(), workdays,
                         1 if which == 0 else 0, 2, at, at))
            plan.append((issue_id, team, status, which))
        if len(rows) == n:
            break
    if len(rows) < n:
        sys.exit(f"{len(visits)} visits hold only {len(rows)} issues; raise --visits")
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        "INSERT INTO issue (id, campaign_id, visit_id, uscc, item_id, category, severity, "
        "description, legal_basis, status, found_on, rect_workdays, due_on, due_provisional, "
        "due_basis, due_workdays, escalation, version, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.execute("COMMIT")
    conn.close()
    return plan


def add_due_followups(db: Path, plan: list[tuple[int, int, str, int]], seed: int) -> Counter[str]:
    """One pending follow-up per issue, all due at NOW; the planned outcome counts."""
    rng = random.Random(seed + 1)
    at = stored_datetime(datetime.fromisoformat(SETUP_NOW))
    now = datetime.fromisoformat(NOW).date()
    rows = []
    expect: Counter[str] = Counter()
    for issue_id, team, _status, which in plan:
        if which == 1:
            due_on = now - timedelta(days=rng.randrange(6))
            kind = "reminder"
            expect["done"] += 1
        else:
            due_on = now - timedelta(days=rng.randrange(14))
            kind = "review"
            expect["open" if which == 0 else "cancelled"] += 1
        rows.append((issue_id, kind, 1, due_on.isoformat(), fire_epoch(due_on), "pending", team,
                     at, "", "", "", ""))
    insert_followups(db, rows)
    return expect


def add_future_followups(db: Path, plan: list[tuple[int, int, str, int]], seed: int,
                         real_now: datetime) -> int:
    """For the scheduler: issues still running (due after today), one pending follow-up each,
    due between 10 minutes and 7 days from now; how many fall within the next 24 hours."""
    rng = random.Random(seed + 2)
    start = int(real_now.timestamp()) + 600
    span = 7 * 24 * 3600
    horizon = int(real_now.timestamp()) + 24 * 3600
    conn = connect(db)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("UPDATE issue SET status = 'notified', due_on = ?",
                 ((real_now.date() + timedelta(days=60)).isoformat(),))
    conn.execute("COMMIT")
    conn.close()
    at = stored_datetime(real_now)
    rows = []
    within = 0
    for issue_id, team, _status, which in plan:
        due_at = start + rng.randrange(span)
        within += due_at <= horizon
        due_on = datetime.fromtimestamp(due_at, UTC).date()
        rows.append((issue_id, "reminder" if which == 1 else "review", 1, due_on.isoformat(),
                     due_at, "pending", team, at, "", "", "", ""))
    insert_followups(db, rows)
    return within


def insert_followups(db: Path, rows: list[tuple[Any, ...]]) -> None:
    conn = connect(db)
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        "INSERT INTO followup (issue_id, kind, revision, due_on, due_at, status, team_no, "
        "created_at, fired_by, outcome, note, recorded_by) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.execute("COMMIT")
    conn.close()


# --- the timed parts, each in a child process -------------------------------------------------

def child_sweep(db: Path, profile: Path | None = None) -> dict[str, Any]:
    """Ours: one sweep of everything due, timed after the imports and the engine; with
    ``profile``, under cProfile (the sweep only, dumped to that file)."""
    from domain import followups as svc
    from domain.clock import FixedClock
    from storage.db import make_engine
    from storage.uow import SqlUnitOfWork

    engine = make_engine(f"sqlite:///{db}")
    clock = FixedClock(datetime.fromisoformat(NOW))
    batches = 0

    def counted(_fired: int) -> None:
        nonlocal batches
        batches += 1

    prof = cProfile.Profile() if profile is not None else None
    t = time.perf_counter()
    if prof is not None:
        prof.enable()
    result = svc.sweep(uow_factory=lambda: SqlUnitOfWork(engine), clock=clock, worker=ACTOR,
                       batch=BATCH, on_batch=counted)
    if prof is not None:
        prof.disable()
    seconds = time.perf_counter() - t
    if prof is not None:
        prof.dump_stats(str(profile))
    engine.dispose()
    return {"seconds": seconds, **result.as_dict(), "fired_once": len(set(result.fired_ids))}


def child_scheduler(db: Path, work: Path) -> dict[str, Any]:
    """The daemon from construction through its first start-up, then stopped."""
    from lookback.bootstrap import App
    from lookback.scheduler import Daemon
    from lookback.settings import Settings

    t0 = time.perf_counter()
    app = App(settings=Settings(database_url=f"sqlite:///{db}", data_dir=work / "data",
                                actor=ACTOR), lang="en")
    daemon = Daemon(app=app, holder=f"{ACTOR}:{os.getpid()}")
    done = threading.Event()
    out: dict[str, Any] = {}
    inner = daemon.start_up

    def start_up() -> dict[str, Any]:
        try:
            r = inner()
            out.update(r, total_seconds=time.perf_counter() - t0)
            return r
        finally:
            done.set()

    daemon.start_up = start_up  # type: ignore[method-assign]
    runner = threading.Thread(target=daemon.run, name="daemon")
    runner.start()
    finished = done.wait(timeout=600)
    daemon.stop.set()
    runner.join(timeout=60)
    if not finished or "timers" not in out:
        sys.exit("the scheduler did not finish its start-up")
    conn = sqlite3.connect(db)
    out["jobs_stored"] = conn.execute(
        "SELECT COUNT(*) FROM apscheduler_jobs WHERE id LIKE 'followup:%' "
        "OR id LIKE 'reminder:%'").fetchone()[0]
    conn.close()
    out["max_jobs"] = daemon.max_jobs
    out["horizon_seconds"] = daemon.horizon_seconds
    app.close()
    return out


def run_child(mode: str, db: Path, work: Path, *, profile: Path | None = None
              ) -> tuple[dict[str, Any], float]:
    """(the child's JSON, its peak RSS in MB)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", mode, "--db", str(db),
           "--work-dir", str(work), *(["--profile-out", str(profile)] if profile else [])]
    out_path, err_path = work / f"{mode}.json", work / f"{mode}.stderr"
    with out_path.open("w") as out_f, err_path.open("w") as err_f:
        child = subprocess.Popen(cmd, stdout=out_f, stderr=err_f, cwd=ROOT)
        status = child.wait()
    if status != 0:
        sys.exit(f"{mode} failed:\n{out_path.read_text()}{err_path.read_text()}")
    lines = out_path.read_text().strip().splitlines()
    result = json.loads(lines[-1])
    return result, result["peak_rss_mb"]


def run_old_floor(db: Path) -> tuple[float, int]:
    """(seconds, rows updated) of one plain UPDATE per follow-up in one transaction."""
    conn = connect(db)
    fired_at = stored_datetime(datetime.fromisoformat(NOW))
    # Decided outside the timer: the outcome each row gets (as ours decides it).
    rows = [("cancelled" if st == "verified" else "open" if kind == "review" else "done",
             fired_at, fid)
            for fid, kind, st in conn.execute(
                "SELECT f.id, f.kind, i.status FROM followup f JOIN issue i ON i.id = f.issue_id "
                "WHERE f.status = 'pending' ORDER BY f.id")]
    t = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    cur = conn.executemany("UPDATE followup SET status=?, fired_at=? WHERE id=?", rows)
    updated = cur.rowcount
    conn.execute("COMMIT")
    seconds = time.perf_counter() - t
    conn.close()
    return seconds, updated


def fair_batches(db: Path, batch: int) -> list[list[tuple[int, str, str, dict[str, Any]]]]:
    """What our sweep fires, batch by batch, in the order it fires them: the due follow-ups by
    (due_at, id) in batches of ``batch``, each batch by id (the order ``claim`` returns); per
    follow-up (id, final status, event kind, event payload), decided and shaped as
    ``domain.followups._fire_batch`` does it."""
    from domain.followups import epoch

    now = epoch(datetime.fromisoformat(NOW))
    conn = connect(db)
    try:
        due = conn.execute(
            "SELECT f.id, f.issue_id, f.kind, f.revision, f.team_no, i.status, i.uscc, i.due_on "
            "FROM followup f JOIN issue i ON i.id = f.issue_id "
            "WHERE f.status = 'pending' AND f.due_at <= ? ORDER BY f.due_at, f.id",
            (now,)).fetchall()
    finally:
        conn.close()
    out = []
    for i in range(0, len(due), batch):
        rows = []
        for fid, issue, kind, revision, team, status, uscc, due_on in sorted(due[i : i + batch]):
            if status == "verified":
                rows.append((fid, "cancelled", "followup.cancelled",
                             {"issue": issue, "kind": kind, "reason": "issue closed"}))
            elif kind == "review":
                rows.append((fid, "open", "followup.opened",
                             {"issue": issue, "team": team, "revision": revision,
                              "due_on": due_on, "status": status}))
            else:
                rows.append((fid, "done", "followup.reminded",
                             {"issue": issue, "uscc": uscc, "due_on": due_on}))
        out.append(rows)
    return out


def run_fair_floor(db: Path, batches: list[list[tuple[int, str, str, dict[str, Any]]]]
                   ) -> tuple[float, int]:
    """(seconds, rows fired) of the same status updates and events as our sweep, with
    executemany in one transaction per batch: claim (pending → running, one UPDATE per row),
    finish (the final status, fired_at and fired_by, one UPDATE per row), and the batch's events,
    hash-chained with ``make_event`` inside the timer (the payloads are built outside)."""
    from domain.clock import FixedClock
    from domain.events import GENESIS, make_event

    now = FixedClock(datetime.fromisoformat(NOW)).now()
    fired_at, worker = stored_datetime(now), ACTOR[:200]
    conn = connect(db)
    head = conn.execute("SELECT seq, hash FROM event ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (int(head[0]), str(head[1])) if head else (0, GENESIS)
    fired = 0
    t = time.perf_counter()
    for rows in batches:
        conn.execute("BEGIN IMMEDIATE")
        cur = conn.executemany("UPDATE followup SET status = 'running' "
                               "WHERE id = ? AND status = 'pending'", [(r[0],) for r in rows])
        fired += cur.rowcount
        conn.executemany("UPDATE followup SET status = ?, fired_at = ?, fired_by = ? "
                         "WHERE id = ? AND status = 'running'",
                         [(st, fired_at, worker, fid) for fid, st, _k, _p in rows])
        events = []
        for fid, _st, kind, payload in rows:
            seq += 1
            e = make_event(seq, prev, now, worker, kind, f"followup:{fid}", payload)
            events.append((e.seq, e.at.isoformat(), e.actor, e.kind, e.entity, e.payload_json,
                           e.prev_hash, e.hash))
            prev = e.hash
        conn.executemany("INSERT INTO event (seq, at, actor, kind, entity, payload, prev_hash, "
                         "hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", events)
        conn.execute("COMMIT")
    seconds = time.perf_counter() - t
    conn.close()
    return seconds, fired


# --- checks -----------------------------------------------------------------------------------

def check_ours(db: Path, n: int, expect: Counter[str]) -> dict[str, Any]:
    """Every follow-up fired exactly once: nothing pending or running, one followup.* event per
    follow-up (distinct entities), the planned outcomes, and an intact event chain."""
    from domain.events import verify_chain
    from storage.db import make_engine
    from storage.uow import SqlUnitOfWork

    conn = sqlite3.connect(db)
    statuses = Counter(dict(conn.execute("SELECT status, COUNT(*) FROM followup GROUP BY status")))
    events, entities = conn.execute(
        "SELECT COUNT(*), COUNT(DISTINCT entity) FROM event WHERE kind LIKE 'followup.%'"
    ).fetchone()
    unfired = conn.execute("SELECT COUNT(*) FROM followup WHERE fired_at IS NULL").fetchone()[0]
    conn.close()
    engine = make_engine(f"sqlite:///{db}")
    with SqlUnitOfWork(engine, read_only=True) as uow:
        chain = verify_chain(uow.events.all())
    engine.dispose()
    ok = (statuses.get("pending", 0) == 0 and statuses.get("running", 0) == 0
          and events == entities == n and unfired == 0 and statuses == expect and chain.ok)
    return {"ok": ok, "statuses": dict(statuses), "events": events, "entities": entities,
            "unfired": unfired, "chain_ok": chain.ok, "chain_events": chain.events}


def fired_rows(db: Path, *, by: bool = False) -> list[tuple[Any, ...]]:
    """(id, status, fired_at[, fired_by]) of every follow-up, by id."""
    conn = sqlite3.connect(db)
    try:
        return conn.execute(f"SELECT id, status, fired_at{', fired_by' if by else ''} "
                            "FROM followup ORDER BY id").fetchall()
    finally:
        conn.close()


def event_rows(db: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT * FROM event ORDER BY seq").fetchall()
    finally:
        conn.close()


def print_sweep_profile(prof: Path, top: int) -> None:
    print(f"\nwhere our sweep's time goes (cProfile of the sweep in its child process; {prof}):")
    print_profile(prof, top)


def main() -> None:
    ap = arg_parser(__doc__)
    ap.add_argument("--followups", type=int, default=100_000,
                    help="pending follow-ups (one per issue), all due for the sweep")
    add_run_options(ap, "our sweep")
    ap.add_argument("--child", choices=("sweep", "scheduler"), help=argparse.SUPPRESS)
    ap.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--profile-out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    add_root_to_path()  # the project is imported (installed or not)
    if args.child:
        result = (child_sweep(args.db, args.profile_out) if args.child == "sweep"
                  else child_scheduler(args.db, args.work_dir))
        print(json.dumps({**result, "peak_rss_mb": peak_rss_mb()}))
        return
    if args.followups < 1:
        ap.error("--followups must be at least 1")

    n = args.followups
    visits = max(100, math.ceil(n / len(checklist_items())))
    businesses = max(6_000, 3 * visits)
    work = work_folder(args.work_dir, "lookback-bench-followups-")
    base_db, ours_db = work / "base.db", work / "ours.db"
    old_db, fair_db = work / "old-floor.db", work / "fair-floor.db"
    sched_db, prof_db = work / "scheduler.db", work / "profile.db"

    t = time.perf_counter()
    campaign, visit_list = setup_campaign(base_db, work, visits=visits, businesses=businesses,
                                          seed=args.seed)
    plan = add_issues(base_db, campaign, visit_list, n, args.seed)
    backup(base_db, ours_db)
    backup(base_db, sched_db)
    expect = add_due_followups(ours_db, plan, args.seed)
    backup(ours_db, old_db)
    backup(ours_db, fair_db)
    if args.profile:
        backup(ours_db, prof_db)
    within = add_future_followups(sched_db, plan, args.seed, datetime.now(UTC))
    print(f"{n:,} issues with one due follow-up each ({expect['open']:,} reviews to open, "
          f"{expect['done']:,} reminders, {expect['cancelled']:,} of verified issues); "
          f"setup {time.perf_counter() - t:.1f} s, not timed")

    ours, ours_rss = run_child("sweep", ours_db, work)
    check = check_ours(ours_db, n, expect)
    old_s, old_updated = run_old_floor(old_db)
    old_same = fired_rows(ours_db) == fired_rows(old_db)
    fair_s, fair_fired = run_fair_floor(fair_db, fair_batches(fair_db, BATCH))
    fair_same = fired_rows(ours_db, by=True) == fired_rows(fair_db, by=True)
    fair_events_same = event_rows(ours_db) == event_rows(fair_db)
    old_ok = old_updated == n and old_same
    fair_ok = fair_fired == n and fair_same and fair_events_same
    sched, sched_rss = run_child("scheduler", sched_db, work)

    ratio_old, ratio_fair = ours["seconds"] / old_s, ours["seconds"] / fair_s
    print(f"follow-ups                       {n:>10,}")
    print(f"our sweep (claim and record)     {ours['seconds']:10.2f} s  "
          f"({n / ours['seconds']:,.0f} rows/s, {ours['batches']} batches of <= {BATCH:,})")
    print(f"old floor: UPDATE per row        {old_s:10.2f} s  ({n / old_s:,.0f} rows/s)")
    print(f"fair floor: same updates, events {fair_s:10.2f} s  ({n / fair_s:,.0f} rows/s, "
          f"{math.ceil(n / BATCH)} transactions)")
    print(f"ratio (ours / old floor)         {ratio_old:10.2f}    (the old goal was <= "
          f"{GOAL_OLD:g}, against this floor)")
    print(f"ratio (ours / fair floor)        {ratio_fair:10.2f}    goal <= {GOAL_FAIR:g}"
          f"{'' if ratio_fair <= GOAL_FAIR else '  MISSED'}")
    print(f"check (ours): {'OK' if check['ok'] else 'FAILED'}: fired {ours['fired']:,} "
          f"(distinct {ours['fired_once']:,}), statuses {check['statuses']}, followup.* events "
          f"{check['events']:,} on {check['entities']:,} follow-ups, unfired {check['unfired']}, "
          f"event chain {'intact' if check['chain_ok'] else 'BROKEN'} "
          f"({check['chain_events']:,} events), marked overdue {ours['marked_overdue']}")
    print(f"check (old floor): {'OK' if old_ok else 'FAILED'}: {old_updated:,} rows updated; "
          f"(id, status, fired_at) {'identical to' if old_same else 'DIFFERENT from'} ours")
    print(f"check (fair floor): {'OK' if fair_ok else 'FAILED'}: {fair_fired:,} rows claimed; "
          f"(id, status, fired_at, fired_by) {'identical to' if fair_same else 'DIFFERENT from'} "
          f"ours; event table {'identical to' if fair_events_same else 'DIFFERENT from'} ours")
    print(f"scheduler start-up               {sched['total_seconds']:10.2f} s  goal <= "
          f"{GOAL_STARTUP_S:g}{'' if sched['total_seconds'] <= GOAL_STARTUP_S else '  MISSED'}"
          f"  (construction to first refill; start_up() itself {sched['seconds']:.2f} s)")
    print(f"  {n:,} pending, {within:,} within the {sched['horizon_seconds'] // 3600} h horizon: "
          f"{sched['timers']:,} timers set ({sched['jobs_stored']:,} in the job store), capped by "
          f"max_jobs = {sched['max_jobs']:,}; {sched['removed']} stale removed, "
          f"{sched['fired']} fired")
    print(f"peak RSS of the sweep            {ours_rss:10.1f} MB")
    print(f"peak RSS of the scheduler        {sched_rss:10.1f} MB")
    print(f"work folder                      {work}")
    print_json({"followups": n, "ours_s": ours["seconds"], "old_floor_s": old_s,
                "fair_floor_s": fair_s, "ratio_old": ratio_old, "ratio_fair": ratio_fair,
                "check_ok": check["ok"], "old_floor_ok": old_ok, "fair_floor_ok": fair_ok,
                "events": check["events"],
                "startup_s": sched["total_seconds"], "start_up_s": sched["seconds"],
                "timers": sched["timers"], "within_horizon": within,
                "max_jobs": sched["max_jobs"], "sweep_rss_mb": ours_rss,
                "scheduler_rss_mb": sched_rss})
    if args.profile:
        run_child("sweep", prof_db, work, profile=work / "sweep.prof")
        print_sweep_profile(work / "sweep.prof", args.profile_top)
    if not (check["ok"] and old_ok and fair_ok):
        sys.exit("a correctness check failed")


if __name__ == "__main__":
    main()
