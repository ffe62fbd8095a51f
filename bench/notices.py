"""Benchmark: `lookback notices issue` against the single-process rendering floor, in one run.

    python bench/notices.py                     # 1,000 rectification orders
    python bench/notices.py --notices 20        # what CI runs

Setup (not timed): a fresh SQLite database in the work folder (`lookback init`), registers from
`lookback registry generate` (max(6,000, 3 x --notices) businesses) imported with `lookback
registry import`, and a campaign of --notices visits (one business stage, strata ["province"],
enough teams that avoidance cannot fail) created with ``create_campaign`` and launched directly
with ``domain.campaigns.launch`` (no Prefect) under a fixed clock. Then one interview per visit
(the owner, every item of the owner's checklist) recorded with
``domain.fieldwork_import.record_batch``, failing 1, 2 or 3 items in turn, so that every drawn
business has open issues: --notices rectification orders to issue, with 1-3 issues each.

Prefect's fixed cost. Without PREFECT_API_URL the command starts Prefect's temporary local server
for every run. We separate that cost with runs of the same command that have nothing to issue
(before the interviews are recorded: no open issue, nothing to number or render), timed end to
end like the real one: the first is a cold start (a fresh PREFECT_HOME in the work folder
migrates Prefect's own database, unless --prefect-home is given) and is only reported; the second
is the fixed cost of a run: process start, imports (Typer, SQLAlchemy, Prefect, WeasyPrint), font
check, the temporary server start, an empty flow, the exit. "Ours minus fixed" is what the notices
themselves cost. We chose empty runs over a long-running `prefect server start` because they
measure exactly what a user of the CLI pays, with nothing left running if the bench is killed.

Ours: `lookback --json notices issue --campaign C --kind rectification_order [--workers W]` as a
child process, timed end to end (record and number in one transaction, rendering in spawned
processes in chunks, storing each chunk's PDFs, notifying the issues, one event per change), with
the peak RSS of the largest process in its tree (os.wait4: the child and every process it
reaped, the Prefect server and the render workers included) and the peak of the whole tree's
summed RSS (sampled from /proc every 0.2 s), and the CPU time (user + system) of all of them.
Its JSON must say --notices issued; the database
must then hold --notices issued notices numbered 1..N and no open issue.

Floor: the contents our run recorded, loaded from the database after it, rendered with
``report_templates.render.render`` one after the other in one fresh process with no database and
no Prefect (imports and the font check before the timer). Rendering is deterministic, so every
floor PDF must have the SHA-256 of the PDF our run stored. Goal on a 2-core machine: ours <= 0.75
x floor (parallel rendering pays for our overhead). At small --notices the fixed cost dominates
and the ratio means little.

Set BENCH_JSON=1 to also print the figures as one JSON line.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from _common import (
    SETUP_NOW,
    Measured,
    add_root_to_path,
    arg_parser,
    cli_args,
    launch_campaign,
    print_json,
    random_name,
    timed_child,
    work_folder,
)

NOW = SETUP_NOW  # a Monday within the plan's dates
ACTOR = "bench:notices"
KIND = "rectification_order"
GOAL = 0.75
OFFICE, OFFICE_SHORT = "某市食品安全委员会办公室", "某市食安办"

# The floor: a fresh process that renders every content in order, no database, no Prefect.
FLOOR = """\
import hashlib, json, sys, time
from report_templates.render import check_fonts, render
contents = json.loads(open(sys.argv[1], encoding="utf-8").read())
check_fonts()
t = time.perf_counter()
shas = [hashlib.sha256(render(c)).hexdigest() for c in contents]
seconds = time.perf_counter() - t
print(json.dumps({"seconds": seconds, "sha256": shas}))
"""


def child_env(work: Path, prefect_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(PREFECT_HOME=str(prefect_home), PREFECT_LOGGING_LEVEL="CRITICAL",
               PREFECT_SERVER_ANALYTICS_ENABLED="false", LOOKBACK_DATA_DIR=str(work / "data"))
    return env


def setup_campaign(db: Path, work: Path, env: dict[str, str], *, visits: int, businesses: int,
                   seed: int) -> tuple[int, list[tuple[int, int]]]:
    """A fresh database with one launched campaign of ``visits`` visits: (campaign id,
    [(visit id, team)] by id)."""
    c = launch_campaign(db, work, title=f"基准测试：责令整改通知书批量签发 {visits}",
                        visits=visits, businesses=businesses, seed=seed, now=NOW, office=OFFICE,
                        office_short=OFFICE_SHORT, env=env)
    return c.campaign, [(v.id, v.team_no) for v in c.visits]


def record_fieldwork(db: Path, work: Path, visits: list[tuple[int, int]], seed: int) -> int:
    """One owner interview per visit failing 1, 2 or 3 items in turn; the issues registered."""
    from domain.checklists import default_checklists
    from domain.clock import FixedClock
    from domain.fieldwork_import import record_batch
    from flows.wiring import engine_for, uow_for
    from storage.calendar import ChineseCalendarSource
    from storage.reports import ListProblemSink

    checklists = default_checklists()
    items = [i.id for i in checklists.for_role("owner")]
    rng = random.Random(seed)
    rows: list[tuple[int, dict[str, object]]] = []
    for n, (visit_id, team) in enumerate(visits):
        name = random_name(rng)
        failing = set(rng.sample(items, min(len(items), 1 + n % 3)))
        for item_id in items:
            fail = item_id in failing
            rows.append((len(rows) + 2, {"visit_id": visit_id, "role": "owner", "name": name,
                                         "item_id": item_id, "result": "fail" if fail else "pass",
                                         "note": "现场检查发现问题" if fail else "", "team": team}))
    url = f"sqlite:///{db}"
    sink = ListProblemSink()
    summary = record_batch(rows, uow_factory=uow_for(url),
                           clock=FixedClock(datetime.fromisoformat(NOW)), checklists=checklists,
                           calendar=ChineseCalendarSource(work / "data"), sink=sink, actor=ACTOR)
    engine_for(url).dispose()
    if summary.rejected or summary.interviews != len(visits):
        sys.exit(f"fieldwork refused: {summary.first_problems[:3]}")
    return summary.issues


def issue_cmd(db: Path, work: Path, campaign: int, workers: int | None) -> list[str]:
    return [sys.executable,
            *cli_args("notices", "issue", "--campaign", str(campaign), "--kind", KIND,
                      *(["--workers", str(workers)] if workers is not None else []),
                      db=db, work=work, now=NOW, actor=ACTOR)]


def run_issue(db: Path, work: Path, env: dict[str, str], campaign: int, workers: int | None,
              label: str) -> tuple[Measured, dict[str, Any]]:
    out_path, err_path = work / f"{label}.json", work / f"{label}.stderr"
    m = timed_child(issue_cmd(db, work, campaign, workers), out_path, err_path, env=env,
                    sample_tree=True)
    if m.code != 0:
        sys.exit(f"notices issue ({label}) failed ({m.code}):\n{out_path.read_text()}"
                 f"{err_path.read_text()}")
    return m, json.loads(out_path.read_text())


def stored(db: Path, campaign: int) -> tuple[list[tuple[int, str, str, str]], int, int]:
    """([(seq, status, content_json, pdf_sha256)] by seq, open issues, notified issues)."""
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT seq, status, content_json, pdf_sha256 FROM notice "
                            "WHERE campaign_id = ? AND kind = ? ORDER BY seq",
                            (campaign, KIND)).fetchall()
        by_status = dict(conn.execute("SELECT status, COUNT(*) FROM issue WHERE campaign_id = ? "
                                      "GROUP BY status", (campaign,)).fetchall())
    finally:
        conn.close()
    return rows, by_status.get("open", 0), by_status.get("notified", 0)


def run_floor(work: Path, contents: list[dict[str, Any]],
              env: dict[str, str]) -> tuple[float, Measured, list[str]]:
    """(seconds of rendering, the process measured, SHA-256 of each PDF) of rendering
    ``contents`` one after the other in one fresh process."""
    src = work / "floor-contents.json"
    src.write_text(json.dumps(contents, ensure_ascii=False), encoding="utf-8")
    out_path, err_path = work / "floor.json", work / "floor.stderr"
    m = timed_child([sys.executable, "-c", FLOOR, str(src)], out_path, err_path, env=env,
                    sample_tree=True)
    if m.code != 0:
        sys.exit(f"floor failed ({m.code}):\n{err_path.read_text()}")
    result = json.loads(out_path.read_text())
    return result["seconds"], m, result["sha256"]


def main() -> None:
    ap = arg_parser(__doc__)
    ap.add_argument("--notices", type=int, default=1_000, help="rectification orders to issue")
    ap.add_argument("--workers", type=int, default=None,
                    help="rendering processes for our command (default: its own default, one "
                    "per core up to 4)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--workdir", "--work-dir", dest="workdir", type=Path, default=None)
    ap.add_argument("--prefect-home", type=Path, default=None,
                    help="PREFECT_HOME for our runs (default: a fresh one in the work folder)")
    args = ap.parse_args()
    if args.notices < 1:
        ap.error("--notices must be at least 1")
    if args.workers is not None and args.workers < 0:
        ap.error("--workers must be 0 (one per core, up to 4) or more")
    add_root_to_path()  # the setup imports the project (installed or not)

    work = work_folder(args.workdir, "lookback-bench-notices-").resolve()
    prefect_home = (args.prefect_home or work / "prefect-home").resolve()
    env = child_env(work, prefect_home)
    db = work / "notices.db"
    n = args.notices
    businesses = max(6_000, 3 * n)

    load_before = os.getloadavg()
    t = time.perf_counter()
    cid, visits = setup_campaign(db, work, env, visits=n, businesses=businesses, seed=args.seed)
    print(f"database ready: {businesses:,} businesses, campaign {cid} launched with {n:,} visits "
          f"({time.perf_counter() - t:.1f} s, not timed)")

    # Prefect's fixed cost: the same command with nothing to issue (no issue recorded yet).
    cold_m, cold = run_issue(db, work, env, cid, args.workers, "empty-cold")
    fixed_m, empty = run_issue(db, work, env, cid, args.workers, "empty")
    cold_s, fixed_s = cold_m.seconds, fixed_m.seconds
    assert cold["issued_now"] == empty["issued_now"] == empty["total"] == 0, (cold, empty)

    t = time.perf_counter()
    issues = record_fieldwork(db, work, visits, args.seed)
    print(f"{n:,} interviews recorded, {issues:,} open issues ({time.perf_counter() - t:.1f} s, "
          "not timed)")

    ours_m, summary = run_issue(db, work, env, cid, args.workers, "ours")
    ours_s = ours_m.seconds
    rows, still_open, notified = stored(db, cid)
    if summary["issued_now"] != n or summary["total"] != n:
        sys.exit(f"unexpected summary: issued_now {summary['issued_now']}, total "
                 f"{summary['total']}; expected {n}")
    if [r[0] for r in rows] != list(range(1, n + 1)) or {r[1] for r in rows} != {"issued"}:
        sys.exit("the stored notices are not numbered 1..N and all issued")
    if still_open or notified != issues:
        sys.exit(f"{still_open} issues still open, {notified} notified; expected 0 and {issues}")

    contents = [json.loads(r[2]) for r in rows]
    floor_s, floor_m, floor_shas = run_floor(work, contents, env)
    if floor_shas != [r[3] for r in rows]:
        sys.exit("the floor rendered different PDFs from the ones our run stored")

    workers = args.workers or max(1, min(4, os.cpu_count() or 1))
    marginal_s = ours_s - fixed_s
    ratio = ours_s / floor_s
    print(f"notices (rectification orders)   {n:>10,}   issues in them {issues:,}; "
          f"{os.cpu_count()} cores, {workers} render workers")
    print(f"lookback notices issue           {ours_s:10.2f} s  ({ours_s / n * 1000:,.0f} ms/notice)")
    print(f"  the flow, as the CLI times it  {summary['seconds']:10.2f} s  (from the Prefect "
          "server start to the last chunk stored; the rest is process start, imports, exit)")
    print(f"  of which fixed per run         {fixed_s:10.2f} s  (same command, nothing to issue: "
          "process, imports, Prefect's temporary server, an empty flow)")
    print(f"  ours minus fixed               {marginal_s:10.2f} s  "
          f"({marginal_s / n * 1000:,.0f} ms/notice)")
    print(f"  first (cold) run, not counted  {cold_s:10.2f} s  (fresh PREFECT_HOME: "
          "Prefect migrates its database)" if args.prefect_home is None else
          f"  first run, not counted         {cold_s:10.2f} s")
    print(f"floor: render() in one process   {floor_s:10.2f} s  ({floor_s / n * 1000:,.0f} "
          "ms/notice; same contents, byte-identical PDFs)")
    print(f"ratio (ours / floor)             {ratio:10.2f}    goal <= {GOAL}")
    print(f"ratio (ours minus fixed / floor) {marginal_s / floor_s:10.2f}")
    print(f"CPU time (user + system)         {ours_m.cpu_s:10.2f} s  (ours, every process; empty "
          f"run {fixed_m.cpu_s:.2f} s; floor process {floor_m.cpu_s:.2f} s with its imports)")
    print(f"peak RSS, largest process        {ours_m.rss_mb:10.1f} MB (ours; empty run "
          f"{fixed_m.rss_mb:.1f} MB; floor {floor_m.rss_mb:.1f} MB)")
    print(f"peak RSS, whole process tree     {ours_m.tree_rss_mb:10.1f} MB (ours: CLI, Prefect "
          "server, render workers, summed; sampled every 0.2 s)")
    load_after = os.getloadavg()
    print(f"load average (1 min)             {load_before[0]:10.2f} at the start, "
          f"{load_after[0]:.2f} at the end (other work on the machine skews every figure)")
    print(f"work folder                      {work}")
    print_json({
        "notices": n, "issues": issues, "workers": workers, "cores": os.cpu_count(),
        "ours_s": ours_s, "flow_s": summary["seconds"], "fixed_s": fixed_s,
        "empty_flow_s": empty["seconds"], "cold_s": cold_s, "marginal_s": marginal_s,
        "floor_s": floor_s, "ratio": ratio, "marginal_ratio": marginal_s / floor_s,
        "ours_cpu_s": ours_m.cpu_s, "fixed_cpu_s": fixed_m.cpu_s, "floor_cpu_s": floor_m.cpu_s,
        "peak_rss_mb": ours_m.rss_mb, "tree_rss_mb": ours_m.tree_rss_mb,
        "floor_rss_mb": floor_m.rss_mb, "load_before": load_before[0],
        "load_after": load_after[0]})


if __name__ == "__main__":
    main()
