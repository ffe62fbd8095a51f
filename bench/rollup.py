"""Benchmark: the national office's roll-up over a register of 1,000,000 businesses, against one
grouped scan of the business table, in one run. Goal: the roll-up answers in <= 1 s.

    python bench/rollup.py                                  # 1,000,000 businesses
    python bench/rollup.py --businesses 20000 --runs 2      # what CI runs

Setup (not timed): a fresh SQLite database in the work folder (`lookback init`: the schema and
the region codes), then, written directly with sqlite3 in a few transactions: --businesses active
businesses spread over every county code (director and officer named for about 70 %), an
assigned official for about 85 % of them (cadre_assignment, ~2,000 officials), one campaign,
--issues issues on random businesses (statuses, due dates, on-time and escalation mixed as a
season's would be) and --supervision supervision visits of the quarter (about 80 % done).

Timed, each --runs times, alternating, in this process on a warm database (medians):
- ours: ``domain.rollup.rollup`` for the national office at province level, supervision period
  2026Q4 — what `lookback rollup` and `GET /rollup` run: three grouped scans (businesses, with
  the ``covered`` flag the cadre import keeps; issues joined to their business; supervision
  visits joined to theirs), a distinct campaign count and the region names;
- floor: ``SELECT substr(region_code, 1, 2), COUNT(*) FROM business GROUP BY 1`` — one grouped
  scan of the business table, the least any roll-up by province must read.

Printed: the medians, the ratio, the goal, each query's plan (EXPLAIN QUERY PLAN), and a check
that the roll-up's totals equal direct counts (exit 1 otherwise). Also a city office's roll-up
(its territory a code range, which the index on region_code answers). BENCH_JSON=1 prints the
figures as one JSON line.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from _common import add_root_to_path, arg_parser, connect, print_json, run_cli, work_folder

GOAL = 1.0
TODAY = date(2026, 12, 7)
STATUSES = ["open"] * 30 + ["rectification_reported"] * 15 + ["verified"] * 40 + \
    ["overdue"] * 10 + ["notified"] * 5


def build(db: Path, work: Path, *, businesses: int, issues: int, supervision: int,
          seed: int) -> None:
    run_cli("init", db=db, work=work)
    rng = random.Random(seed)
    conn = connect(db, ("journal_mode=WAL", "synchronous=OFF"))
    counties = [c for (c,) in conn.execute("SELECT code FROM region WHERE level = 'county'")]
    now = "2026-10-01 00:00:00.000000"
    conn.execute("BEGIN")
    usccs = []
    rows = []
    for n in range(businesses):
        uscc = f"91{n:016d}"
        usccs.append(uscc)
        code = counties[n % len(counties)]
        named = rng.random() < 0.7
        rows.append((uscc, f"主体{n}", code, code[:2] + "0000", "catering", "B",
                     "张三" if named else "", "李四" if named or rng.random() < 0.2 else "",
                     "active"))
        if len(rows) == 50_000:
            conn.executemany("INSERT INTO business (uscc, name, region_code, province_code, "
                             "category, risk_level, director, officer, status, address) "
                             "VALUES (?,?,?,?,?,?,?,?,?,'')", rows)
            rows.clear()
    if rows:
        conn.executemany("INSERT INTO business (uscc, name, region_code, province_code, "
                         "category, risk_level, director, officer, status, address) "
                         "VALUES (?,?,?,?,?,?,?,?,?,'')", rows)
    cadres = [(f"C{i:05d}", f"干部{i}", "township", counties[i % len(counties)])
              for i in range(2000)]
    conn.executemany("INSERT INTO cadre (cadre_id, name, level, region_code, position, phone) "
                     "VALUES (?,?,?,?,'','')", cadres)
    conn.executemany("INSERT INTO cadre_assignment (cadre_id, uscc) VALUES (?, ?)",
                     ((cadres[i % 2000][0], u) for i, u in enumerate(usccs)
                      if rng.random() < 0.85))
    # what a cadre import keeps: whether a business has an assigned official
    conn.execute("UPDATE business SET covered = EXISTS (SELECT 1 FROM cadre_assignment a "
                 "WHERE a.uscc = business.uscc)")
    conn.execute("INSERT INTO campaign (id, office, office_short, title, kind, status, "
                 "starts_on, ends_on, seed, seed_auto, plan_json, plan_source, created_at) "
                 "VALUES (1, '国务院食品安全委员会办公室', '食安办', '基准督查', 'inspection', "
                 "'launched', '2026-09-01', '2026-12-31', 's', 0, '{}', '', ?)", (now,))
    picked = rng.sample(usccs, min(issues, len(usccs)))
    conn.executemany(
        "INSERT INTO issue (campaign_id, uscc, item_id, category, severity, description, "
        "legal_basis, status, found_on, rect_workdays, due_on, due_provisional, escalation, "
        "on_time, version, created_at, updated_at) VALUES (1, ?, NULL, 'records', 'general', "
        "'台账缺失', '', ?, '2026-09-15', 10, ?, 0, ?, ?, 1, ?, ?)",
        ((u, (st := rng.choice(STATUSES)),
          (date(2026, 9, 29) + timedelta(days=rng.randrange(120))).isoformat(),
          rng.choice([0, 0, 0, 1, 2]), (rng.random() < 0.8) if st == "verified" else None,
          now, now) for u in picked))
    sup = rng.sample(usccs, min(supervision, len(usccs)))
    conn.executemany(
        "INSERT INTO supervision_visit (cadre_id, uscc, level, period, period_start, period_end, "
        "status, opened_at, note, recorded_by) VALUES (?, ?, 'township', '2026Q4', "
        "'2026-10-01', '2026-12-31', ?, ?, '', '')",
        ((cadres[i % 2000][0], u, "done" if rng.random() < 0.8 else "open", now)
         for i, u in enumerate(sup)))
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()


def main() -> None:
    ap = arg_parser(__doc__)
    ap.add_argument("--businesses", type=int, default=1_000_000)
    ap.add_argument("--issues", type=int, default=100_000)
    ap.add_argument("--supervision", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--work-dir", dest="work_dir", type=Path, default=None)
    args = ap.parse_args()
    add_root_to_path()
    from domain import rollup as ru
    from domain.offices import OfficeLevel
    from storage.db import make_engine
    from storage.uow import uow_factory

    work = work_folder(args.work_dir, "rollup-bench-")
    db = work / "rollup.db"
    t = time.perf_counter()
    build(db, work, businesses=args.businesses, issues=min(args.issues, args.businesses),
          supervision=min(args.supervision, args.businesses), seed=args.seed)
    print(f"database ready: {args.businesses:,} businesses, {args.issues:,} issues, "
          f"{args.supervision:,} supervision visits ({time.perf_counter() - t:.1f} s, not timed)")

    engine = make_engine(f"sqlite:///{db}")
    uows = uow_factory(engine, read_only=True)
    period = "2026Q4"
    floor_sql = "SELECT substr(region_code, 1, 2), COUNT(*) FROM business GROUP BY 1"
    raw = connect(db, ())

    def ours() -> ru.Rollup:
        return ru.rollup(territory="", office_level=OfficeLevel.NATIONAL, level="province",
                         period=period, today=TODAY, uow_factory=uows)

    ours()  # warm: the database's pages in the cache, SQLAlchemy's statements compiled
    raw.execute(floor_sql).fetchall()
    ours_s, floor_s = [], []
    result = None
    for _ in range(args.runs):
        t = time.perf_counter()
        result = ours()
        ours_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        raw.execute(floor_sql).fetchall()
        floor_s.append(time.perf_counter() - t)
    assert result is not None
    city = min(r.counts.code for r in result.rows) + "01"
    t = time.perf_counter()
    city_rollup = ru.rollup(territory=city, office_level=OfficeLevel.CITY, period=period,
                            today=TODAY, uow_factory=uows)
    city_s = time.perf_counter() - t

    problems = []
    total = result.total.counts
    (active,), = raw.execute("SELECT COUNT(*) FROM business WHERE status = 'active'")
    (covered,), = raw.execute("SELECT COUNT(DISTINCT uscc) FROM cadre_assignment")
    (issues,), = raw.execute("SELECT COUNT(*) FROM issue")
    (required, done), = raw.execute("SELECT COUNT(*), SUM(status = 'done') FROM "
                                    "supervision_visit")
    for name, ours_v, direct in (("businesses", total.businesses, active),
                                 ("covered", total.covered, covered),
                                 ("issues", total.issues, issues),
                                 ("supervision required", total.supervision_required, required),
                                 ("supervision done", total.supervision_done, done)):
        if ours_v != direct:
            problems.append(f"{name}: roll-up {ours_v:,}, direct count {direct:,}")

    o, f = statistics.median(ours_s), statistics.median(floor_s)
    print(f"\nnational roll-up by province ({len(result.rows)} provinces), "
          f"{args.runs} run(s), medians")
    print(f"  ours: domain.rollup.rollup           {o:8.3f} s   goal <= {GOAL} s: "
          f"{'met' if o <= GOAL else 'MISSED'}")
    print(f"  floor: one grouped scan of business  {f:8.3f} s")
    print(f"  ratio (ours / floor)                 {o / f:8.2f}")
    print(f"  a city office's roll-up ({city}, {len(city_rollup.rows)} counties) "
          f"{city_s:.3f} s")
    d = result.total.as_dict()
    print(f"  totals: coverage {d['coverage_rate']:.3f}, staffing {d['staffing_rate']:.3f}, "
          f"supervision {d['supervision_rate']:.3f}, rectification {d['rectification_rate']:.3f}"
          f", on time {d['on_time_rate']:.3f}, overdue {d['overdue']:,}, escalated "
          f"{d['escalated']:,}")
    print("\nquery plans (SQLite EXPLAIN QUERY PLAN):")
    from storage.rollup import SqlRollupRepository

    for label, sql in SqlRollupRepository.queries():
        print(f"  {label}:")
        params = {"lo": "", "hi": "~", "n": 2, "today": TODAY.isoformat(),
                  "start": "2026-10-01", "end": "2026-12-31"}
        for row in raw.execute("EXPLAIN QUERY PLAN " + sql, params):
            print(f"    {row[-1]}")
    raw.close()
    engine.dispose()
    print(f"work folder {work}")
    print_json({"businesses": args.businesses, "ours_s": o, "floor_s": f, "ratio": o / f,
                "city_s": city_s, "goal_met": o <= GOAL})
    if problems:
        print("CHECK FAILED: " + "; ".join(problems))
        sys.exit(1)


if __name__ == "__main__":
    main()
