"""Benchmark: the office console's dashboard (GET /app/office) for a national office over a
register of 1,000,000 businesses and 100,000 issues, on a real `lookback serve`, against the
roll-up alone as JSON (GET /rollup) on the same server in the same run. Goal: the national
dashboard's p95 <= 1 s.

    python bench/console_dashboard.py                      # 1,000,000 businesses, 100,000 issues
    python bench/console_dashboard.py --businesses 20000 --issues 2000 --supervision 2000 --runs 2
                                                           # what CI runs

Setup (not timed): the database of bench/rollup.py (``rollup.build``: --businesses active businesses
over every county, ~85 % with an assigned official, one campaign, --issues issues, --supervision
supervision visits of 2026Q4), then, with sqlite3, the issues made to look like a season's: build()
finds them all on 2026-09-15; here found_on is spread
over the 12 weeks of the trend (2026-09-21 to TODAY, 2026-12-07; the 'overdue' ones at least 29 days
before TODAY), due_on is 14-28 days after found_on, reported_on (the rectification_reported and
verified ones only) 0-19 days after found_on and not after TODAY, and a verified issue is on time
when reported by its due date. Then two offices (``domain.offices.add_offices``): the national
office (territory 000000) and the office of the city with the most businesses, and one user of role
"office" in each (``domain.access.add_user``: its bearer token kept), each given a password
(``web_pages.set_passwords``, no change required). Then a real `lookback serve` subprocess on a free
port of 127.0.0.1 with its clock at TODAY 09:30 China time, waited for until GET /health answers.

Timed, --runs rounds, alternating, after one untimed warm-up of each (p50 / p95 / max):
- ours: GET /app/office for the national user, logged in through the form (``web_pages.log_in``:
  an httpx client with the session cookie), the whole page read — the roll-up by province plus
  the dashboard's own queries (``storage.dashboard``: the escalation ladder, the oldest overdue
  issues, issues found and rectifications reported per day) rendered as HTML;
- baseline: GET /rollup with the same user's bearer token — the national roll-up alone as JSON,
  what the dashboard cannot do without.
Also the city office's dashboard (--city-runs, after a warm-up). Printed: the figures, the ratio
ours / baseline at p95, the goal (met / MISSED) and the server's CPU time per request of each.

Check (exit 1 otherwise): every response 200; the page's overdue count (data-testid
"overdue-count") equals a direct SQL count of the overdue issues (status 'overdue', or 'open' /
'notified' past due); the national page has one row in its table of regions (data-testid
"regions") per province with businesses, the city's one per county with businesses.

Also printed: the query plans (EXPLAIN QUERY PLAN) of ``SqlDashboardRepository.queries()`` and
``SqlRollupRepository.queries()`` (a territory's statements with the city's code range, the
country's with none). BENCH_JSON=1 prints the figures as one JSON line.
"""

from __future__ import annotations

import re
import sqlite3
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from _common import (
    add_root_to_path,
    arg_parser,
    connect,
    print_json,
    remove_database,
    work_folder,
)
from api_load import (
    cpu_seconds,
    free_port,
    percentile,
    start_server,
    stop_server,
    wait_healthy,
)
from rollup import TODAY, build
from web_pages import log_in, set_passwords

GOAL_S = 1.0
NOW = f"{TODAY.isoformat()}T09:30:00+08:00"  # the server's clock: TODAY, China time
NATIONAL, CITY = "bench-national", "bench-city"
OVERDUE_COUNT = re.compile(r'data-testid="overdue-count">\s*([0-9,]+)\s*<')
REGIONS = re.compile(r'<table data-testid="regions">.*?<tbody>(.*?)</tbody>', re.S)
WEEK = re.compile(r"<tr><td>(\d{4}-\d\d-\d\d)</td><td>(\d+)</td><td>(\d+)</td></tr>")

SEASON = f"""
UPDATE issue SET found_on = date('{TODAY}', '-' || (CASE WHEN status = 'overdue'
    THEN 29 + id % 49 ELSE (id * 7919) % 78 END) || ' days');
UPDATE issue SET due_on = date(found_on, '+' || (14 + id % 15) || ' days'),
    reported_on = CASE WHEN status IN ('rectification_reported', 'verified')
        THEN min(date(found_on, '+' || (id * 31 % 20) || ' days'), '{TODAY}') END;
UPDATE issue SET on_time = CASE WHEN status = 'verified' THEN reported_on <= due_on END;
"""
"""The issues spread over the 12 weeks before TODAY."""


# --- setup --------------------------------------------------------------------------------------

def season(db: Path) -> None:
    """``SEASON`` applied in one transaction, then the statistics brought up to date."""
    conn = connect(db, ("journal_mode=WAL",))
    try:
        conn.executescript(f"BEGIN;{SEASON}COMMIT;")
        conn.execute("ANALYZE")
    finally:
        conn.close()


def busiest_city(db: Path) -> str:
    """The six-digit code of the city (a region of level city) with the most businesses."""
    conn = sqlite3.connect(db)
    try:
        found = conn.execute(
            "SELECT r.code FROM (SELECT substr(region_code, 1, 4) || '00' AS code, COUNT(*) AS n "
            "FROM business GROUP BY 1) c JOIN region r ON r.code = c.code AND r.level = 'city' "
            "ORDER BY c.n DESC, r.code LIMIT 1").fetchone()
    finally:
        conn.close()
    if found is None:
        sys.exit("no city has businesses")
    return str(found[0])


def add_office_users(db: Path, work: Path, city: str) -> dict[str, str]:
    """The national office and the city's office, one office user in each; user -> token."""
    from domain import access
    from domain.offices import NewOffice, add_offices
    from lookback.bootstrap import bootstrap
    from lookback.settings import Settings

    lb = bootstrap(Settings(database_url=f"sqlite:///{db}", data_dir=work / "data",
                            now=datetime.fromisoformat(NOW)))
    try:
        add_offices([NewOffice("国家食安办", "国食安办", "national", "000000", None),
                     NewOffice("基准市食安办", "基准市食安", "city", city, "国家食安办")],
                    actor="bench", uow_factory=lb.uow_factory(), clock=lb.clock)
        tokens = {}
        for name, office in ((NATIONAL, "国家食安办"), (CITY, "基准市食安办")):
            _p, tokens[name] = access.add_user(name, "office", team=None, campaign_id=None,
                                               uscc=None, actor="bench",
                                               uow_factory=lb.uow_factory(), clock=lb.clock,
                                               office=office)
    finally:
        lb.close()
    set_passwords(db, work, [NATIONAL, CITY])
    return tokens


# --- the timed runs -----------------------------------------------------------------------------

class Timer:
    """One kind of request: its latencies (s), the server's CPU time spent on them, and any
    response other than 200; ``last`` is the last body read."""

    def __init__(self, name: str, get: Callable[[], Any], server_pid: int) -> None:
        self.name, self._get, self._pid = name, get, server_pid
        self.seconds: list[float] = []
        self.cpu = 0.0
        self.errors: list[str] = []
        self.last = ""

    def once(self, timed: bool = True) -> None:
        cpu0 = cpu_seconds(self._pid)
        t = time.perf_counter()
        r = self._get()
        body = r.text  # the whole page read and decoded
        took = time.perf_counter() - t
        if r.status_code != 200:
            self.errors.append(f"{self.name}: {r.status_code} {body[:200]}")
        self.last = body
        if timed:
            self.seconds.append(took)
            self.cpu += cpu_seconds(self._pid) - cpu0

    def figures(self) -> dict[str, float]:
        lat = sorted(self.seconds)
        return {"p50_s": percentile(lat, 50), "p95_s": percentile(lat, 95),
                "max_s": lat[-1] if lat else 0.0,
                "cpu_per_request_s": self.cpu / len(lat) if lat else 0.0}

    def line(self) -> str:
        f = self.figures()
        return (f"  {self.name:<44} {len(self.seconds):>4} {f['p50_s']:8.3f} {f['p95_s']:8.3f} "
                f"{f['max_s']:8.3f} {f['cpu_per_request_s']:8.3f}")


# --- the checks ---------------------------------------------------------------------------------

def page_figures(html: str) -> tuple[int | None, int | None]:
    """The page's overdue count and the rows of its table of regions (None when missing)."""
    found = OVERDUE_COUNT.search(html)
    table = REGIONS.search(html)
    return (int(found[1].replace(",", "")) if found else None,
            table[1].count("<tr") if table else None)


def trend(html: str) -> tuple[int, int, int]:
    """The page's weekly trend: weeks shown, issues found and rectifications reported in them."""
    weeks = WEEK.findall(html)
    return len(weeks), sum(int(f) for _w, f, _r in weeks), sum(int(r) for _w, _f, r in weeks)


def direct_counts(db: Path, prefix: str) -> tuple[int, int]:
    """Straight from the tables: the overdue issues of businesses whose code starts with
    ``prefix``, and the regions one level below it (provinces for "", counties for a city's
    four digits) that have businesses."""
    conn = sqlite3.connect(db)
    try:
        (overdue,), = conn.execute(
            "SELECT COUNT(*) FROM issue i JOIN business b ON b.uscc = i.uscc "
            "WHERE substr(b.region_code, 1, ?) = ? AND (i.status = 'overdue' OR "
            "(i.status IN ('open', 'notified') AND i.due_on < ?))",
            (len(prefix), prefix, TODAY.isoformat()))
        (regions,), = conn.execute(
            "SELECT COUNT(DISTINCT substr(region_code, 1, ?)) FROM business "
            "WHERE substr(region_code, 1, ?) = ?", (len(prefix) + 2, len(prefix), prefix))
    finally:
        conn.close()
    return int(overdue), int(regions)


def check_page(label: str, html: str, db: Path, prefix: str) -> list[str]:
    """What is wrong with a dashboard page against the direct counts, if anything."""
    overdue, rows = page_figures(html)
    want_overdue, want_rows = direct_counts(db, prefix)
    problems = []
    if overdue != want_overdue:
        problems.append(f"{label}: overdue on the page {overdue}, direct count {want_overdue}")
    if rows != want_rows:
        problems.append(f"{label}: {rows} rows of regions on the page, {want_rows} regions "
                        "with businesses")
    return problems


# --- the query plans ----------------------------------------------------------------------------

def print_plans(db: Path, city: str) -> None:
    """EXPLAIN QUERY PLAN of the dashboard's and the roll-up's statements: a territory's with
    the city's code range, the country's with every code."""
    from domain.dashboard import since
    from domain.offices import Territory
    from storage.dashboard import SqlDashboardRepository
    from storage.rollup import SqlRollupRepository

    lo, hi = Territory(city[:4]).code_range() or ("", "~")
    params = {"lo": lo, "hi": hi, "n": 6, "today": TODAY.isoformat(),
              "since": since(TODAY).isoformat(), "lim": 10, "off": 0,
              "start": "2026-10-01", "end": "2026-12-31"}
    conn = connect(db, ())
    try:
        for title, queries in (("dashboard", SqlDashboardRepository.queries()),
                               ("roll-up", SqlRollupRepository.queries())):
            print(f"\nquery plans of the {title} (SQLite EXPLAIN QUERY PLAN):")
            for label, sql in queries:
                print(f"  {label}:")
                for plan_row in conn.execute("EXPLAIN QUERY PLAN " + sql, params):
                    print(f"    {plan_row[-1]}")
    finally:
        conn.close()


# --- main ---------------------------------------------------------------------------------------

def main() -> None:
    ap = arg_parser(__doc__)
    ap.add_argument("--businesses", type=int, default=1_000_000)
    ap.add_argument("--issues", type=int, default=100_000)
    ap.add_argument("--supervision", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=20, help="timed rounds, ours and the baseline")
    ap.add_argument("--city-runs", type=int, default=5, help="timed city dashboards")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--work-dir", "--workdir", dest="work_dir", type=Path, default=None)
    args = ap.parse_args()
    if min(args.businesses, args.runs, args.city_runs) < 1:
        ap.error("--businesses, --runs and --city-runs must be positive")
    add_root_to_path()
    import httpx

    work = work_folder(args.work_dir, "lookback-bench-console-dashboard-")
    db = work / "dashboard.db"
    t = time.perf_counter()
    remove_database(db)  # build() adds to whatever is there
    build(db, work, businesses=args.businesses, issues=min(args.issues, args.businesses),
          supervision=min(args.supervision, args.businesses), seed=args.seed)
    season(db)
    city = busiest_city(db)
    tokens = add_office_users(db, work, city)
    print(f"database ready: {args.businesses:,} businesses, {args.issues:,} issues, "
          f"{args.supervision:,} supervision visits; offices national and city {city}, one "
          f"office user each ({time.perf_counter() - t:.1f} s, not timed)")

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(db, work, port, now=NOW)
    clients: list[Any] = []
    try:
        up_s = wait_healthy(server, base, work)
        print(f"lookback serve on {base} (pid {server.pid}), healthy after {up_s:.1f} s; "
              f"{args.runs} rounds ...")
        national = httpx.Client(base_url=base, timeout=120.0)
        city_http = httpx.Client(base_url=base, timeout=120.0)
        api = httpx.Client(base_url=base, timeout=120.0,
                           headers={"Authorization": f"Bearer {tokens[NATIONAL]}"})
        clients += [national, city_http, api]
        log_in(national, NATIONAL)
        log_in(city_http, CITY)
        ours = Timer("ours: GET /app/office (national)", lambda: national.get("/app/office"),
                     server.pid)
        baseline = Timer("baseline: GET /rollup (national, JSON)", lambda: api.get("/rollup"),
                         server.pid)
        city_page = Timer(f"GET /app/office (city {city})", lambda: city_http.get("/app/office"),
                          server.pid)
        for timer in (ours, baseline, city_page):
            timer.once(timed=False)  # warm: the pages in the cache, the statements compiled
        for _ in range(args.runs):
            ours.once()
            baseline.once()
        for _ in range(args.city_runs):
            city_page.once()
    finally:
        for http in clients:
            http.close()
        exit_code = stop_server(server)

    problems = [e for timer in (ours, baseline, city_page) for e in timer.errors]
    problems += check_page("national", ours.last, db, "")
    problems += check_page(f"city {city}", city_page.last, db, city[:4])
    o, b, c = ours.figures(), baseline.figures(), city_page.figures()
    ratio = o["p95_s"] / b["p95_s"] if b["p95_s"] else 0.0
    met = o["p95_s"] <= GOAL_S
    print(f"\n  {'request':<44} {'runs':>4} {'p50 s':>8} {'p95 s':>8} {'max s':>8} "
          f"{'CPU s':>8}")
    for timer in (ours, baseline, city_page):
        print(timer.line())
    print("  (CPU s: the server's CPU time per request, all its threads)")
    print(f"ratio (ours / baseline, p95)  {ratio:6.2f}")
    print(f"goal: national dashboard p95 <= {GOAL_S:.1f} s: {'met' if met else 'MISSED'} "
          f"({o['p95_s']:.3f} s)")
    overdue, rows = page_figures(ours.last)
    print(f"check: {'OK' if not problems else 'FAIL'}   (every response 200; national page: "
          f"{overdue} overdue, {rows} provinces)")
    n_weeks, found, reported = trend(ours.last)
    print(f"national trend: {n_weeks} weeks, {found:,} issues found, {reported:,} rectifications "
          "reported")
    for p in problems:
        print(f"  {p}")
    print(f"server stopped: exit code {exit_code if exit_code is not None else 'killed'}")
    print_plans(db, city)
    print(f"\nwork folder {work}")
    print_json({"businesses": args.businesses, "issues": args.issues, "runs": args.runs,
                "ours": o, "baseline": b, "city": c, "ratio_p95": ratio, "goal_met": met,
                "check_ok": not problems})
    if problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
