"""Benchmark: `lookback fieldwork import` against plain `sqlite3.executemany`, in one run.

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
note, ~1% na) until there are --answers rows (the last interview may be cut short). A copy of the
database is taken with the sqlite3 backup API (so whatever is still in the WAL is included).

Ours: `lookback --json fieldwork import FILE` as a subprocess, timed end to end (process start,
encoding detection, parsing, validation of every row, visit / duplicate / issue look-ups, issues
registered with working-day due dates, one hash-chained event per interview and per issue), with
the child's peak RSS; its JSON must say read == stored == --answers and issues_registered > 0.

Baseline: on the copy, the same CSV parsed with `csv` *outside* the timer into the same column
values our import stores (one interview row per distinct visit/role/name with explicit ids, and
one answer row per line); then, timed, one `executemany` into interview and one into answer in a
single transaction, with the pragmas our engine sets (WAL, synchronous=FULL, foreign keys, cache).
Afterwards both databases must hold identical interview and answer tables. Goal: ours / baseline
<= 4 (we validate, register issues and write events; the baseline does none of that). For context,
the fixed cost of one run of our command is printed too (the same import of a header-only file);
at small --answers it is nearly all of our time, so the ratio means little there.

--profile also runs our import under cProfile on a second copy and prints where the time goes.
Set BENCH_JSON=1 to also print the figures as one JSON line.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import pstats
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ROLES = ("director", "officer", "owner", "cadre", "regulator")
NOW = "2026-03-16T09:30:00+08:00"  # a Monday within the plan's dates
ACTOR = "bench:fieldwork"
FAIL_RATE, NA_RATE = 0.02, 0.01
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平"
HEADER = ("visit_id", "role", "name", "item_id", "result", "note", "team")
# As storage.db._sqlite_on_connect sets them for our import.
PRAGMAS = ("journal_mode=WAL", "foreign_keys=ON", "synchronous=FULL", "busy_timeout=30000",
           "cache_size=-65536")

PLAN = """\
[campaign]
office = "国务院食品安全委员会办公室"
office_short = "食安办"
title = "基准测试：现场谈话批量导入 {total}"
kind = "inspection"
starts_on = 2026-03-02
ends_on = 2026-04-30
seed = 20260302

[scope]
exclusion_days = 0

[[stages]]
unit = "business"

[sample]
total = {total}
strata = ["province"]
allocation = "proportional"

[teams]
count = {teams}
members = {members}
avoidance = "city"
"""


def lookback(*args: str, db: Path, work: Path) -> dict[str, Any]:
    """Run the CLI in a child process (setup only); its JSON output."""
    cmd = [sys.executable, "-m", "lookback.cli", "--db", str(db), "--data-dir",
           str(work / "data"), "--json", *args]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd[2:])} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    return json.loads(r.stdout) if r.stdout.strip() else {}


def team_spec(inspectors_csv: Path) -> tuple[int, int]:
    """(teams, members): more teams than active inspectors in any one home city, so every
    business has a team with nobody from its city."""
    from domain.regions import city_of

    with inspectors_csv.open(encoding="utf-8", newline="") as f:
        active = [r for r in csv.DictReader(f) if r["active"] == "yes"]
    worst = max(Counter(city_of(r["home_region"]) for r in active).values())
    teams = max(5, worst + 1)
    members = 3 if teams * 3 <= len(active) else 2
    if teams * members > len(active):
        sys.exit(f"{len(active)} active inspectors cannot fill {teams} teams of {members}")
    return teams, members


def setup_database(db: Path, work: Path, *, visits: int, businesses: int,
                   seed: int) -> list[tuple[int, int]]:
    """A fresh database with one launched campaign; (visit id, team) of its visits, by id."""
    from domain.campaigns import create_campaign, launch
    from domain.clock import FixedClock
    from flows.wiring import engine_for, uow_for

    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    regs = work / "registers"
    lookback("init", db=db, work=work)
    lookback("registry", "generate", "--businesses", str(businesses), "--seed", str(seed),
             "--out", str(regs), db=db, work=work)
    for kind in ("businesses", "inspectors"):
        lookback("registry", "import", str(regs / f"{kind}.csv"), "--kind", kind, db=db,
                 work=work)
    teams, members = team_spec(regs / "inspectors.csv")
    plan = PLAN.format(total=visits, teams=teams, members=members)
    plan_path = work / "plan.toml"
    plan_path.write_text(plan, encoding="utf-8")

    url = f"sqlite:///{db}"
    uow = uow_for(url)
    clock = FixedClock(datetime.fromisoformat(NOW))
    cid = create_campaign(plan, source=str(plan_path), uow_factory=uow, clock=clock,
                          new_seed=lambda: "1")
    launch(cid, uow_factory=uow, clock=clock)
    with uow() as u:
        counts = u.campaigns.counts(cid)
        found = u.fieldwork.list_visits(cid, team=None, status=None)
    engine_for(url).dispose()  # no connection of ours stays open during the timed runs
    assert counts is not None
    if counts.campaign.status != "launched" or counts.visits_planned != visits:
        sys.exit(f"campaign {cid}: status {counts.campaign.status}, {counts.visits_planned} "
                 f"visits planned; expected {visits} launched")
    print(f"database ready: {businesses:,} businesses, campaign {cid} launched with {visits:,} "
          f"visits by {teams} teams of {members}")
    return sorted((v.id, v.team_no) for v in found)


def write_answers(path: Path, visits: list[tuple[int, int]], n: int, seed: int) -> Counter[str]:
    """The deterministic CSV of ``n`` answers; counts of each result."""
    from domain.checklists import default_checklists

    checklists = default_checklists()
    items = {role: [i.id for i in checklists.for_role(role)] for role in ROLES}
    rng = random.Random(seed)
    rows: list[tuple[object, ...]] = []
    for visit_id, team in visits:
        for role in ROLES:
            name = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)
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


def backup(src: Path, dst: Path) -> None:
    """A consistent copy of ``src`` including its WAL (sqlite3 backup API)."""
    for suffix in ("", "-wal", "-shm"):
        Path(str(dst) + suffix).unlink(missing_ok=True)
    s, d = sqlite3.connect(src), sqlite3.connect(dst)
    try:
        s.backup(d)
    finally:
        d.close()
        s.close()


def import_cmd(db: Path, work: Path, answers: Path) -> list[str]:
    return ["-m", "lookback.cli", "--db", str(db), "--data-dir", str(work / "data"), "--now",
            NOW, "--actor", ACTOR, "--json", "fieldwork", "import", str(answers)]


def run_ours(db: Path, work: Path, answers: Path) -> tuple[float, float, dict[str, Any]]:
    """(seconds, peak RSS in MB, JSON summary) of our import, a child process end to end."""
    out_path = work / "import.json"
    err_path = work / "import.stderr"
    cmd = [sys.executable, *import_cmd(db, work, answers)]
    with out_path.open("w") as out_f, err_path.open("w") as err_f:
        t = time.perf_counter()
        child = subprocess.Popen(cmd, stdout=out_f, stderr=err_f, cwd=ROOT)
        _pid, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - t
    child.returncode = os.waitstatus_to_exitcode(status)
    peak_rss_mb = usage.ru_maxrss / 1024  # this child only (Linux reports kB)
    if child.returncode != 0:
        sys.exit(f"fieldwork import failed ({child.returncode}):\n{out_path.read_text()}"
                 f"{err_path.read_text()}")
    return seconds, peak_rss_mb, json.loads(out_path.read_text())


def stored_datetime(iso: str) -> str:
    """How SQLAlchemy's DateTime stores an instant on SQLite: naive UTC (our clock is UTC)."""
    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def run_baseline(db: Path, answers: Path) -> tuple[float, int]:
    """(seconds, interviews) of plain executemany INSERTs of the same rows on ``db``."""
    conn = sqlite3.connect(db, isolation_level=None)
    for pragma in PRAGMAS:
        conn.execute(f"PRAGMA {pragma}")
    # Parsed outside the timer, into exactly the values our import stores.
    at_text = stored_datetime(NOW)
    top = conn.execute("SELECT COALESCE(MAX(id), 0) FROM interview").fetchone()[0]
    ids: dict[tuple[int, str, str], int] = {}
    interviews: list[tuple[int, int, str, str, str, str]] = []
    answer_rows: list[tuple[int, str, str, str]] = []
    with answers.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        next(reader)
        for visit_id, role, name, item_id, result, note, _team in reader:
            key = (int(visit_id), role, name)
            iid = ids.get(key)
            if iid is None:
                iid = ids[key] = top + len(ids) + 1
                interviews.append((iid, key[0], role, name, at_text, ACTOR))
            answer_rows.append((iid, item_id, result, note))
    t = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT INTO interview (id, visit_id, role, name, recorded_at, recorded_by) "
                     "VALUES (?, ?, ?, ?, ?, ?)", interviews)
    conn.executemany("INSERT INTO answer (interview_id, item_id, result, note) "
                     "VALUES (?, ?, ?, ?)", answer_rows)
    conn.execute("COMMIT")
    seconds = time.perf_counter() - t
    conn.close()
    return seconds, len(interviews)


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
    stats = pstats.Stats(str(prof))
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--answers", type=int, default=100_000, help="answer rows in the file")
    ap.add_argument("--visits", type=int, default=None,
                    help="visits to launch (default: 2,000, or more if --answers needs them)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--work-dir", "--workdir", dest="work_dir", type=Path, default=None)
    ap.add_argument("--profile", action="store_true",
                    help="also profile our import (cProfile) on another copy of the database")
    ap.add_argument("--profile-top", type=int, default=30)
    args = ap.parse_args()
    if args.answers < 1:
        ap.error("--answers must be at least 1")
    if str(ROOT) not in sys.path:  # the setup imports the project (installed or not)
        sys.path.insert(0, str(ROOT))

    from domain.checklists import default_checklists

    checklists = default_checklists()
    per_visit = sum(len(checklists.for_role(r)) for r in ROLES)
    visits = args.visits or max(2_000, math.ceil(args.answers / per_visit))
    businesses = max(6_000, 3 * visits)

    work = args.work_dir or Path(tempfile.mkdtemp(prefix="lookback-bench-fieldwork-"))
    work.mkdir(parents=True, exist_ok=True)
    ours_db, base_db, prof_db = work / "ours.db", work / "baseline.db", work / "profile.db"
    answers = work / "answers.csv"

    t = time.perf_counter()
    visit_list = setup_database(ours_db, work, visits=visits, businesses=businesses,
                                seed=args.seed)
    results = write_answers(answers, visit_list, args.answers, args.seed)
    backup(ours_db, base_db)
    if args.profile:
        backup(ours_db, prof_db)
    print(f"{args.answers:,} answers written to {answers} ({results['pass']:,} pass, "
          f"{results['fail']:,} fail, {results['na']:,} na); setup "
          f"{time.perf_counter() - t:.1f} s, not timed")

    ours_s, peak_rss_mb, summary = run_ours(ours_db, work, answers)
    if not (summary["read"] == summary["stored"] == args.answers and summary["rejected"] == 0
            and summary["issues_registered"] > 0):
        sys.exit(f"unexpected import summary: {summary}")
    base_s, base_interviews = run_baseline(base_db, answers)

    ours_tables, base_tables = tables(ours_db), tables(base_db)
    if len(ours_tables[1]) != args.answers or ours_tables != base_tables:
        sys.exit("ours and the baseline stored different interview/answer rows")
    assert summary["interviews"] == base_interviews, (summary, base_interviews)
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

    ratio = ours_s / base_s
    n = args.answers
    print(f"answers                          {n:>10,}")
    print(f"interviews                       {summary['interviews']:>10,}   issues registered "
          f"{summary['issues_registered']:,}, events written {events:,}")
    print(f"lookback fieldwork import        {ours_s:10.2f} s  ({n / ours_s:,.0f} rows/s)")
    print(f"baseline sqlite3.executemany     {base_s:10.2f} s  ({n / base_s:,.0f} rows/s)")
    print(f"ratio (ours / baseline)          {ratio:10.2f}    goal <= 4")
    print(f"  of ours, fixed per run         {fixed_s:10.2f} s  (same command, header-only file: "
          "process start, imports, schema check)")
    print(f"peak RSS of the import           {peak_rss_mb:10.1f} MB")
    print(f"work folder                      {work}")
    if os.environ.get("BENCH_JSON"):
        print(json.dumps({"answers": n, "interviews": summary["interviews"],
                          "issues": summary["issues_registered"], "events": events,
                          "ours_s": ours_s, "baseline_s": base_s, "ratio": ratio,
                          "fixed_s": fixed_s, "peak_rss_mb": peak_rss_mb}))
    if args.profile:
        profile_ours(prof_db, work, answers, args.profile_top)


if __name__ == "__main__":
    main()
