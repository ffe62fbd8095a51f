"""Benchmark: `lookback fieldwork import` against two floors of plain `sqlite3.executemany`, in
one run.

    python bench/fieldwork.py                    # 100,000 answers, a team's large export
    python bench/fieldwork.py --answers 5000     # what CI runs

Setup (not timed): a fresh SQLite database in the work folder (`lookback init`), registers from
`lookback registry generate` imported with `lookback registry import` (businesses, inspectors), a
campaign from a plan written here (one business stage, strata ["province"], --visits businesses,
exclusion_days 0, enough teams that avoidance cannot fail) created with ``create_campaign`` and
launched directly with ``domain.campaigns.launch`` (no Prefect) through ``flows.wiring.uow_for`` and
a fixed clock. Then a deterministic CSV of --answers interview answers: for the visits in id order,
for the roles director, officer, owner, cadre and regulator, one interviewee each, answering every
item of that role's checklist (``default_checklists().for_role(role)``; mostly pass, ~2% fail with a
note, ~1% na) until there are --answers rows (the last interview may be cut short). Two copies of
the database are taken with the sqlite3 backup API (so whatever is still in the WAL is included),
one per floor.

Ours: `lookback --json fieldwork import FILE` as a subprocess, timed end to end (process start,
encoding detection, parsing, validation of every row, visit / duplicate / issue look-ups, issues
registered with working-day due dates and their follow-ups planned, one hash-chained event per
interview and per issue), with the child's peak RSS; its JSON must say read == stored == --answers
and issues_registered > 0.

Both floors: the rows are worked out *outside* the timer, then written, timed, in one transaction
of `executemany` INSERTs with the pragmas our engine sets (WAL, synchronous=FULL, foreign keys,
cache); sqlite3 directly, in this process.

* Old floor: the interviews and the answers only — the same CSV parsed with `csv` into the column
  values our import stores (one interview row per distinct visit/role/name with explicit ids, one
  answer row per line). Afterwards both databases must hold identical interview and answer tables.
  The old goal, ours / old floor <= 4, is printed for comparison with earlier figures.
* Fair floor: every row our import writes — the same interviews and answers, one issue per
  campaign, business and failed item (description, legal basis, working-day due date from
  ``domain.workdays.add_workdays`` with the plan's rectification days and the calendar our CLI
  uses), the follow-ups ``domain.followups.plan_for`` plans for each, and one event per interview
  and per issue with the same kinds and payloads, hash-chained with ``domain.events.make_event``
  from the database's head. The chain is computed outside the timer too (its time is printed
  separately). Afterwards the five tables must have the same row counts as ours and identical
  interview and answer rows; whether the issue, follow-up and event rows are identical as well
  (they are, while the floor keeps up with the import) is printed. Goal: ours / fair floor <= 3.

For context, the fixed cost of one run of our command is printed too (the same import of a
header-only file): at small --answers it is nearly all of our time, so the ratios mean little
there; at any size it counts against the goal in full, since both floors run in this process.

--profile also runs our import under cProfile on another copy and prints where the time goes.
Set BENCH_JSON=1 to also print the figures as one JSON line (ours_s, old_floor_s, fair_floor_s,
ratio_old, ratio_fair, …).
"""

from __future__ import annotations

import csv
import json
import math
import random
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from _common import (
    ROLES,
    ROOT,
    SETUP_NOW,
    add_root_to_path,
    add_run_options,
    arg_parser,
    backup,
    cli_args,
    connect,
    launch_campaign,
    print_json,
    print_profile,
    random_name,
    stored_datetime,
    timed_child,
    work_folder,
)

NOW = SETUP_NOW  # a Monday within the plan's dates
ACTOR = "bench:fieldwork"
FAIL_RATE, NA_RATE = 0.02, 0.01
GOAL_OLD, GOAL_FAIR = 4.0, 3.0
HEADER = ("visit_id", "role", "name", "item_id", "result", "note", "team")


def setup_database(db: Path, work: Path, *, visits: int, businesses: int,
                   seed: int) -> list[tuple[int, int]]:
    """A fresh database with one launched campaign; (visit id, team) of its visits, by id."""
    c = launch_campaign(db, work, title=f"基准测试：现场谈话批量导入 {visits}", visits=visits,
                        businesses=businesses, seed=seed, now=NOW)
    print(f"database ready: {businesses:,} businesses, campaign {c.campaign} launched with "
          f"{visits:,} visits by {c.teams} teams of {c.members}")
    return [(v.id, v.team_no) for v in c.visits]


def write_answers(path: Path, visits: list[tuple[int, int]], n: int, seed: int) -> Counter[str]:
    """The deterministic CSV of ``n`` answers; counts of each result."""
    from domain.checklists import default_checklists

    checklists = default_checklists()
    items = {role: [i.id for i in checklists.for_role(role)] for role in ROLES}
    rng = random.Random(seed)
    rows: list[tuple[object, ...]] = []
    for visit_id, team in visits:
        for role in ROLES:
            name = random_name(rng)
            for item_id in items[role]:
                roll = rng.random()
                result = "fail" if roll < FAIL_RATE else "na" if roll > 1 - NA_RATE else "pass"
                note = "现场检查发现问题" if result == "fail" else ""
                rows.append((visit_id, role, name, item_id, result, note, team))
                if len(rows) == n:
                    break
            if len(rows) == n:
                break
        if len(rows) == n:
            break
    if len(rows) < n:
        sys.exit(f"{len(visits)} visits hold only {len(rows)} answers; raise --visits")
    if not any(r[4] == "fail" for r in rows):  # a tiny --answers: still register an issue
        rows[0] = (*rows[0][:4], "fail", "现场检查发现问题", rows[0][6])
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        w.writerows(rows)
    return Counter(r[4] for r in rows)


def import_cmd(db: Path, work: Path, answers: Path) -> list[str]:
    return cli_args("fieldwork", "import", str(answers), db=db, work=work, now=NOW, actor=ACTOR)


def run_ours(db: Path, work: Path, answers: Path) -> tuple[float, float, dict[str, Any]]:
    """(seconds, peak RSS in MB, JSON summary) of our import, a child process end to end."""
    out_path = work / "import.json"
    err_path = work / "import.stderr"
    cmd = [sys.executable, *import_cmd(db, work, answers)]
    m = timed_child(cmd, out_path, err_path)
    if m.code != 0:
        sys.exit(f"fieldwork import failed ({m.code}):\n{out_path.read_text()}"
                 f"{err_path.read_text()}")
    return m.seconds, m.rss_mb, json.loads(out_path.read_text())  # this child only


def run_old_floor(db: Path, answers: Path) -> tuple[float, int]:
    """(seconds, interviews) of plain executemany INSERTs of the same interview and answer rows
    on ``db`` (nothing else: no issues, follow-ups or events)."""
    conn = connect(db)  # the pragmas our engine sets
    # Parsed outside the timer, into exactly the values our import stores.
    top = conn.execute("SELECT COALESCE(MAX(id), 0) FROM interview").fetchone()[0]
    interviews, answer_rows, _groups = interview_rows(answers, top)
    t = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(INSERT_INTERVIEW, interviews)
    conn.executemany(INSERT_ANSWER, answer_rows)
    conn.execute("COMMIT")
    seconds = time.perf_counter() - t
    conn.close()
    return seconds, len(interviews)


INSERT_INTERVIEW = ("INSERT INTO interview (id, visit_id, role, name, recorded_at, recorded_by) "
                    "VALUES (?, ?, ?, ?, ?, ?)")
INSERT_ANSWER = "INSERT INTO answer (interview_id, item_id, result, note) VALUES (?, ?, ?, ?)"
INSERT_ISSUE = (
    "INSERT INTO issue (id, campaign_id, visit_id, uscc, item_id, category, severity, "
    "description, legal_basis, status, found_on, rect_workdays, due_on, due_provisional, "
    "due_basis, due_workdays, escalation, version, created_at, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
INSERT_FOLLOWUP = (
    "INSERT INTO followup (issue_id, kind, revision, due_on, due_at, status, team_no, "
    "created_at, fired_by, outcome, note, recorded_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
INSERT_EVENT = ("INSERT INTO event (seq, at, actor, kind, entity, payload, prev_hash, hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")


def interview_rows(answers: Path, top: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]],
                                                     list[tuple[int, int, str, str, list[Any]]]]:
    """The interview rows (explicit ids after ``top``, one per distinct visit/role/name in the
    order of their first line), the answer rows, and per interview (id, visit, role, name, its
    (item, result, note) answers in line order): the CSV as our import stores it."""
    at_text = stored_datetime(datetime.fromisoformat(NOW))
    ids: dict[tuple[int, str, str], int] = {}
    groups: dict[int, tuple[int, int, str, str, list[Any]]] = {}
    interviews: list[tuple[Any, ...]] = []
    answer_rows: list[tuple[Any, ...]] = []
    with answers.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        next(reader)
        for visit_id, role, name, item_id, result, note, _team in reader:
            key = (int(visit_id), role, name)
            iid = ids.get(key)
            if iid is None:
                iid = ids[key] = top + len(ids) + 1
                interviews.append((iid, key[0], role, name, at_text, ACTOR))
                groups[iid] = (iid, key[0], role, name, [])
            answer_rows.append((iid, item_id, result, note))
            groups[iid][4].append((item_id, result, note))
    return interviews, answer_rows, list(groups.values())


@dataclass
class FairRows:
    """Every row our import writes, computed outside the timer (see ``fair_rows``)."""

    interviews: list[tuple[Any, ...]]
    answers: list[tuple[Any, ...]]
    issues: list[tuple[Any, ...]]
    followups: list[tuple[Any, ...]]
    events: list[tuple[Any, ...]]
    chain_s: float  # of the preparation: make_event (canonical JSON and SHA-256) for every event


def fair_rows(db: Path, work: Path, answers: Path) -> FairRows:
    """What our import writes for ``answers`` on ``db``, worked out with the domain's pure
    functions the way ``domain.fieldwork_import.record_batch`` does it (the file is valid, so
    nothing is refused): the interviews and answers; one issue per campaign, business and failed
    item (the first failing answer in file order; description, working-day due date from the
    campaign plan's rectification days and the calendar our CLI uses); the follow-ups of each
    issue (``plan_for``); and one event per interview, then one per issue, chained with
    ``make_event`` from the database's current head."""
    from domain.checklists import default_checklists
    from domain.clock import FixedClock, china_date
    from domain.events import GENESIS, make_event
    from domain.followup_plan import plan_for
    from domain.issues import IssueRules
    from domain.workdays import add_workdays
    from storage.calendar import ChineseCalendarSource

    checklists = default_checklists()
    calendar = ChineseCalendarSource(work / "data")  # the --data-dir our import gets
    now = FixedClock(datetime.fromisoformat(NOW)).now()
    today, at_text = china_date(now), stored_datetime(now)
    conn = connect(db)
    try:
        top_interview, top_issue = (conn.execute(f"SELECT COALESCE(MAX(id), 0) FROM {t}")
                                    .fetchone()[0] for t in ("interview", "issue"))
        visits = {r[0]: r[1:] for r in conn.execute(
            "SELECT id, campaign_id, uscc, team_no FROM visit")}
        plans = {r[0]: json.loads(r[1]) for r in conn.execute("SELECT id, plan_json FROM campaign")}
        existing = {tuple(r) for r in conn.execute(
            "SELECT campaign_id, uscc, item_id FROM issue WHERE item_id IS NOT NULL")}
        head = conn.execute("SELECT seq, hash FROM event ORDER BY seq DESC LIMIT 1").fetchone()
    finally:
        conn.close()
    if existing:
        sys.exit("the fair floor expects a database without issues")
    interviews, answer_rows, groups = interview_rows(answers, top_interview)
    kinds: list[tuple[str, str, dict[str, Any]]] = []
    issues: list[tuple[Any, ...]] = []
    followups: list[tuple[Any, ...]] = []
    registered: set[tuple[int, str, str]] = set()
    issue_events: list[tuple[str, str, dict[str, Any]]] = []
    for iid, visit_id, role, name, rows in groups:
        campaign, uscc, team = visits[visit_id]
        failed = [(item_id, note) for item_id, result, note in rows if result == "fail"]
        kinds.append(("interview.recorded", f"interview:{iid}",
                      {"visit": visit_id, "uscc": uscc, "role": role, "name": name,
                       "answers": len(rows), "failed": [i for i, _ in failed]}))
        for item_id, note in failed:
            if (campaign, uscc, item_id) in registered:
                continue
            registered.add((campaign, uscc, item_id))
            item = checklists.get(item_id)
            assert item is not None
            days = IssueRules.from_plan(plans[campaign]).days_for(item.severity)
            due = add_workdays(today, days, calendar)
            isid = top_issue + len(issues) + 1
            desc = item.question_zh + (f"（{note}）" if note else "")
            issues.append((isid, campaign, visit_id, uscc, item.id, item.category, item.severity,
                           desc[:2000], item.legal_basis_zh[:500], "open", today.isoformat(), days,
                           due.date.isoformat(), int(due.provisional), due.start.isoformat(),
                           due.workdays, 0, 1, at_text, at_text))
            issue_events.append(("issue.registered", f"issue:{isid}",
                                 {"visit": visit_id, "uscc": uscc, "item": item.id,
                                  "category": item.category, "severity": item.severity,
                                  "due_on": due.date.isoformat(), "provisional": due.provisional,
                                  "from": "checklist"}))
            followups += [(f.issue_id, f.kind, f.revision, f.due_on.isoformat(), f.due_at,
                           "pending", f.team_no, at_text, "", "", "", "")
                          for f in plan_for(isid, 1, due.date, team_no=team,
                                            grace_workdays=IssueRules.from_plan(
                                                plans[campaign]).grace_workdays,
                                            reminder_workdays=IssueRules.from_plan(
                                                plans[campaign]).reminder_workdays,
                                            calendar=calendar, today=today)]
    t = time.perf_counter()
    seq, prev = (int(head[0]), str(head[1])) if head else (0, GENESIS)
    events: list[tuple[Any, ...]] = []
    for kind, entity, payload in kinds + issue_events:
        seq += 1
        e = make_event(seq, prev, now, ACTOR, kind, entity, payload)
        events.append((e.seq, e.at.isoformat(), e.actor, e.kind, e.entity, e.payload_json,
                       e.prev_hash, e.hash))
        prev = e.hash
    chain_s = time.perf_counter() - t
    return FairRows(interviews, answer_rows, issues, followups, events, chain_s)


def run_fair_floor(db: Path, rows: FairRows) -> float:
    """Seconds of one transaction of executemany INSERTs of every row in ``rows`` on ``db``."""
    conn = connect(db)  # the pragmas our engine sets
    t = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(INSERT_INTERVIEW, rows.interviews)
    conn.executemany(INSERT_ANSWER, rows.answers)
    conn.executemany(INSERT_ISSUE, rows.issues)
    conn.executemany(INSERT_FOLLOWUP, rows.followups)
    conn.executemany(INSERT_EVENT, rows.events)
    conn.execute("COMMIT")
    seconds = time.perf_counter() - t
    conn.close()
    return seconds


WRITTEN = ("interview", "answer", "issue", "followup", "event")
"""The tables our import writes."""


def counts(db: Path) -> dict[str, int]:
    conn = sqlite3.connect(db)
    try:
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in WRITTEN}
    finally:
        conn.close()


def contents(db: Path, table: str) -> list[tuple[Any, ...]]:
    """Every row of ``table`` in key order."""
    order = {"answer": "interview_id, item_id", "event": "seq"}.get(table, "id")
    conn = sqlite3.connect(db)
    try:
        return conn.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
    finally:
        conn.close()


def tables(db: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    conn = sqlite3.connect(db)
    try:
        interviews = conn.execute("SELECT id, visit_id, role, name, recorded_at, recorded_by "
                                  "FROM interview ORDER BY id").fetchall()
        answer_rows = conn.execute("SELECT interview_id, item_id, result, note FROM answer "
                                   "ORDER BY interview_id, item_id").fetchall()
    finally:
        conn.close()
    return interviews, answer_rows


def profile_ours(db: Path, work: Path, answers: Path, top: int) -> None:
    """Our import again, on a fresh copy, under cProfile; the top functions."""
    prof = work / "fieldwork-import.prof"
    cmd = [sys.executable, "-m", "cProfile", "-o", str(prof), *import_cmd(db, work, answers)]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
    if r.returncode != 0:
        sys.exit(f"profiled import failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    print(f"\nwhere our import's time goes (cProfile of the whole process; {prof}):")
    print_profile(prof, top)


def main() -> None:
    ap = arg_parser(__doc__)
    ap.add_argument("--answers", type=int, default=100_000, help="answer rows in the file")
    ap.add_argument("--visits", type=int, default=None,
                    help="visits to launch (default: 2,000, or more if --answers needs them)")
    add_run_options(ap, "our import")
    args = ap.parse_args()
    if args.answers < 1:
        ap.error("--answers must be at least 1")
    add_root_to_path()  # the setup imports the project (installed or not)

    from domain.checklists import default_checklists

    checklists = default_checklists()
    per_visit = sum(len(checklists.for_role(r)) for r in ROLES)
    visits = args.visits or max(2_000, math.ceil(args.answers / per_visit))
    businesses = max(6_000, 3 * visits)

    work = work_folder(args.work_dir, "lookback-bench-fieldwork-")
    ours_db, old_db, fair_db = work / "ours.db", work / "old-floor.db", work / "fair-floor.db"
    prof_db = work / "profile.db"
    answers = work / "answers.csv"

    t = time.perf_counter()
    visit_list = setup_database(ours_db, work, visits=visits, businesses=businesses,
                                seed=args.seed)
    results = write_answers(answers, visit_list, args.answers, args.seed)
    backup(ours_db, old_db)
    backup(ours_db, fair_db)
    if args.profile:
        backup(ours_db, prof_db)
    print(f"{args.answers:,} answers written to {answers} ({results['pass']:,} pass, "
          f"{results['fail']:,} fail, {results['na']:,} na); setup "
          f"{time.perf_counter() - t:.1f} s, not timed")

    ours_s, peak_rss_mb, summary = run_ours(ours_db, work, answers)
    if not (summary["read"] == summary["stored"] == args.answers and summary["rejected"] == 0
            and summary["issues_registered"] > 0):
        sys.exit(f"unexpected import summary: {summary}")
    old_s, old_interviews = run_old_floor(old_db, answers)
    t = time.perf_counter()
    fair = fair_rows(fair_db, work, answers)
    prep_s = time.perf_counter() - t
    fair_s = run_fair_floor(fair_db, fair)

    ours_tables = tables(ours_db)
    if len(ours_tables[1]) != args.answers or ours_tables != tables(old_db):
        sys.exit("ours and the old floor stored different interview/answer rows")
    assert summary["interviews"] == old_interviews, (summary, old_interviews)
    ours_counts, fair_counts = counts(ours_db), counts(fair_db)
    if ours_counts != fair_counts or ours_tables != tables(fair_db):
        sys.exit(f"ours and the fair floor stored different rows: ours {ours_counts}, "
                 f"fair floor {fair_counts}")
    # Beyond the counts: is the fair floor still writing what our import writes? (It is
    # worked out separately here, so a change to the import shows up as a difference.)
    differ = [t for t in ("issue", "followup", "event")
              if contents(ours_db, t) != contents(fair_db, t)]
    conn = sqlite3.connect(ours_db)
    events = conn.execute("SELECT COUNT(*) FROM event WHERE kind IN ('interview.recorded', "
                          "'issue.registered')").fetchone()[0]
    conn.close()

    # The fixed cost of one run of the command (interpreter, imports, schema check, an empty
    # transaction): the same import of a header-only file. Context for small --answers only.
    empty = work / "header-only.csv"
    empty.write_text(",".join(HEADER) + "\n", encoding="utf-8")
    fixed_s, _rss, empty_summary = run_ours(ours_db, work, empty)
    assert empty_summary["read"] == 0, empty_summary

    ratio_old, ratio_fair = ours_s / old_s, ours_s / fair_s
    n = args.answers
    print(f"answers                          {n:>10,}")
    print(f"interviews                       {summary['interviews']:>10,}   issues registered "
          f"{summary['issues_registered']:,}, follow-ups planned {ours_counts['followup']:,}, "
          f"events written {events:,}")
    print(f"lookback fieldwork import        {ours_s:10.2f} s  ({n / ours_s:,.0f} rows/s)")
    print(f"old floor (interviews, answers)  {old_s:10.2f} s  ({n / old_s:,.0f} rows/s)")
    print(f"fair floor (all five tables)     {fair_s:10.2f} s  ({n / fair_s:,.0f} rows/s)")
    print(f"ratio (ours / old floor)         {ratio_old:10.2f}    (the old goal was <= "
          f"{GOAL_OLD:g}, against this floor)")
    print(f"ratio (ours / fair floor)        {ratio_fair:10.2f}    goal <= {GOAL_FAIR:g}"
          f"{'' if ratio_fair <= GOAL_FAIR else '  MISSED'}")
    print(f"  of ours, fixed per run         {fixed_s:10.2f} s  (same command, header-only file: "
          "process start, imports, schema check)")
    print(f"  fair floor's rows, untimed     {prep_s:10.2f} s  (parse, issues, due dates, "
          f"follow-ups; of it the event chain {fair.chain_s:.2f} s for {len(fair.events):,} "
          "events)")
    print(f"check (fair floor): OK: row counts {fair_counts} as ours; interview and answer rows "
          "identical; issue, follow-up and event rows "
          + ("identical" if not differ else f"DIFFERENT in {', '.join(differ)} (the floor no "
             "longer writes what our import writes: update fair_rows)"))
    print(f"peak RSS of the import           {peak_rss_mb:10.1f} MB")
    print(f"work folder                      {work}")
    print_json({"answers": n, "interviews": summary["interviews"],
                "issues": summary["issues_registered"], "followups": ours_counts["followup"],
                "events": events, "ours_s": ours_s, "old_floor_s": old_s, "fair_floor_s": fair_s,
                "ratio_old": ratio_old, "ratio_fair": ratio_fair, "fair_prep_s": prep_s,
                "fair_chain_s": fair.chain_s, "fair_same_rows": not differ, "fixed_s": fixed_s,
                "peak_rss_mb": peak_rss_mb})
    if args.profile:
        profile_ours(prof_db, work, answers, args.profile_top)


if __name__ == "__main__":
    main()
