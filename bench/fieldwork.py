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

import csv
import json
import math
import random
import sqlite3
import subprocess
import sys
import time
from collections import Counter
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


def run_baseline(db: Path, answers: Path) -> tuple[float, int]:
    """(seconds, interviews) of plain executemany INSERTs of the same rows on ``db``."""
    conn = connect(db)  # the pragmas our engine sets
    # Parsed outside the timer, into exactly the values our import stores.
    at_text = stored_datetime(datetime.fromisoformat(NOW))
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
    print_json({"answers": n, "interviews": summary["interviews"],
                "issues": summary["issues_registered"], "events": events, "ours_s": ours_s,
                "baseline_s": base_s, "ratio": ratio, "fixed_s": fixed_s,
                "peak_rss_mb": peak_rss_mb})
    if args.profile:
        profile_ours(prof_db, work, answers, args.profile_top)


if __name__ == "__main__":
    main()
