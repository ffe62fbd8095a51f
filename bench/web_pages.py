"""Benchmark: the field app's pages under load — logged-in auditors reading their pages on one
SQLite-backed `lookback serve` — against the JSON API's reads of the same data by as many
bearer-token clients, on the same server in the same run.

    python bench/web_pages.py                          # 20 users, 4 runs of 30 s (see below)
    python bench/web_pages.py --users 3 --seconds 2    # what CI runs

Setup (not timed): a fresh SQLite database in the work folder with registers and one launched
campaign of --visits visits, as bench/api_load.py prepares it (``_common.launch_campaign``; the
default 2,000 visits make 5 teams of 400 with the generated registers), then one auditor per
team (`lookback users add bench-team-N --role auditor --team N --campaign C --json`,
``api_load.add_auditors``: its token kept for the baseline), each given a password with the
credentials repository (``uow.credentials.set_password(..., must_change=False)`` as
tests/e2e/web_site.py does). So that the pages have something to show, the first --issue-visits
visits of every team get --issues-per-visit issues each and one follow-up per issue due by
2026-04-20 (``add_issues`` / ``add_due_followups`` of bench/followups.py, sqlite3), fired by one
``domain.followups.sweep`` at that date: ~70% of them become the team's open look-backs. Then a
real `lookback serve` subprocess on a free port of 127.0.0.1 (one process, one uvicorn worker)
with its clock fixed at 2026-04-20 09:30 China time (the campaign still running), waited for
until GET /health answers.

Ours: --users threads (user k belongs to team k mod teams), each with its own ``httpx.Client``
(one keep-alive connection, httpx's default Accept-Encoding, so the pages come gzip-compressed as
a browser gets them) logged in through the form (GET /app/login, the hidden ``csrf`` field read
from the page and its cookie kept, POST name, password and csrf; a 303 and the session cookie
expected), then one untimed warm-up round, released together and looping for --seconds over the
auditor's pages in turn: /app/visits, /app/visits/{id} and /app/visits/{id}/interview/director
and /app/visits/{id}/finding for the first visit of its team (which has issues and look-backs),
and /app/followups. Each GET is timed (the ``get`` call, the body read); redirects are not
followed, so anything but 200 is an error. Printed, per page and overall: requests, p50 / p95 /
p99 / max in ms, requests/s, the mean response size on the wire, and errors (non-200 by status,
exceptions by type); the server's CPU time per request; and, as "alone", each page's p50 when
one logged-in user has the server to itself (--alone-rounds rounds over the same pages, before
the load: what a page costs with nobody to wait for).

Baseline, in the same run on the same server right after ours: as many threads, each with the
bearer token of the same team, looping for the same time over the JSON API's reads of the same
data: GET /campaigns/{c}/visits?team=N&limit=500 (all the team's visits, as the page lists them,
in the API's largest page), GET /visits/{id} of the same visit, and GET /followups. The same
figures are printed ("alone" with one bearer-token client before the load), and the ratio of our
p95 to the baseline's p95 (what rendering the pages, the session cookie and compression add).

Four runs, in this order: ours and the baseline with people's pauses — each user waits between
two pages for an exponentially distributed time of mean --pause-ms (1 s by default; a person
reads a page, fills a field, before the next click) — then ours and the baseline with the same
users clicking back-to-back, which shows the server's capacity (pages per second) and the
queueing once it is saturated. The ratio is printed for both.

Check: zero errors (every run, and the users alone); the script exits 1 otherwise.
Goal: our overall p95 <= 50 ms with 20 users clicking with pauses; printed met / missed
(informational), with the back-to-back p95 beside it.

Set BENCH_JSON=1 to also print the figures as one JSON line.
"""

from __future__ import annotations

import os
import random
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from _common import (
    add_root_to_path,
    arg_parser,
    launch_campaign,
    print_json,
    work_folder,
)
from api_load import (
    USER,
    add_auditors,
    cpu_seconds,
    free_port,
    percentile,
    stop_server,
    wait_healthy,
)
from api_load import start_server as serve_at
from followups import NOW as FOLLOWUP_NOW
from followups import add_due_followups, add_issues

NOW = FOLLOWUP_NOW  # the server's clock: every follow-up fired, the campaign still running
PASSWORD = "川菜馆后厨-每周排查-2026"
P95_GOAL_MS = 50.0
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Timed:
    """One GET: which page, how long, what came back."""

    page: str
    ms: float
    status: int | None  # None: an exception instead of a response
    wire_bytes: int = 0
    error: str = ""


@dataclass
class Side:
    """One side's requests (ours or the baseline) and its wall time."""

    name: str
    timed: list[Timed] = field(default_factory=list)
    wall: float = 0.0
    server_cpu: float = 0.0
    alone: list[Timed] = field(default_factory=list)  # one user by itself, before the load


# --- setup --------------------------------------------------------------------------------------

def set_passwords(db: Path, work: Path, names: list[str]) -> None:
    """``PASSWORD`` for each user, no change required (as tests/e2e/web_site.py does)."""
    from lookback.bootstrap import bootstrap
    from lookback.settings import Settings

    lb = bootstrap(Settings(database_url=f"sqlite:///{db}", data_dir=work / "data",
                            now=datetime.fromisoformat(NOW)))
    try:
        for name in names:
            with lb.uow_factory()() as uow:
                cred = uow.credentials.credentials(name)
                if cred is None:
                    sys.exit(f"no user {name}")
                uow.credentials.set_password(cred.user.principal.id, lb.hasher.hash(PASSWORD),
                                             must_change=False)
                uow.commit()
    finally:
        lb.close()


def add_lookbacks(db: Path, campaign: int, visits_by_team: dict[int, list[Any]], *,
                  per_team: int, per_visit: int, seed: int) -> tuple[int, dict[str, int]]:
    """Issues on the first ``per_team`` visits of every team, one follow-up each, fired by one
    sweep at NOW; the number of issues and the follow-ups by status afterwards."""
    from domain import followups as svc
    from domain.clock import FixedClock
    from flows.wiring import engine_for, uow_for

    plan = []
    for team in sorted(visits_by_team):
        for v in visits_by_team[team][:per_team]:
            plan += add_issues(db, campaign, [(v.id, v.uscc, team)], per_visit, seed + v.id)
    add_due_followups(db, plan, seed)
    url = f"sqlite:///{db}"
    uow: Any = uow_for(url)
    svc.sweep(uow_factory=uow, clock=FixedClock(datetime.fromisoformat(NOW)),
              worker="bench:web-pages")
    engine_for(url).dispose()
    conn = sqlite3.connect(db)
    try:
        statuses = dict(conn.execute("SELECT status, COUNT(*) FROM followup GROUP BY status"))
    finally:
        conn.close()
    return len(plan), statuses


def start_server(db: Path, work: Path, port: int) -> subprocess.Popen[bytes]:
    """`lookback serve` on 127.0.0.1:``port`` at NOW, its output to WORK/server.std*."""
    return serve_at(db, work, port, now=NOW)


# --- the load -----------------------------------------------------------------------------------

def log_in(http: Any, name: str) -> None:
    """Through the form, as a browser does; exits unless the session cookie is set."""
    form = http.get("/app/login")
    found = CSRF_FIELD.search(form.text)
    if form.status_code != 200 or found is None:
        sys.exit(f"GET /app/login: {form.status_code}, no csrf field")
    r = http.post("/app/login", data={"name": name, "password": PASSWORD, "csrf": found[1],
                                      "next": "/app/visits"})
    if r.status_code != 303 or "lookback_session" not in http.cookies:
        sys.exit(f"log-in of {name} failed: {r.status_code} {r.text[:300]}")


def by_itself(make_client: Callable[[int], Any], pages: list[tuple[str, str]],
              rounds: int) -> list[Timed]:
    """One client alone on the server (client 0, after one untimed round): ``rounds`` rounds
    over ``pages``, each GET timed. What a page costs without anyone to wait for."""
    http = make_client(0)
    timed = []
    try:
        for _label, url in pages:
            http.get(url)
        for _ in range(rounds):
            for label, url in pages:
                t = time.perf_counter()
                r = http.get(url)
                timed.append(Timed(label, (time.perf_counter() - t) * 1000, r.status_code,
                                   r.num_bytes_downloaded,
                                   "" if r.status_code == 200 else r.text[:200]))
    finally:
        http.close()
    return timed


def run_side(name: str, users: int, seconds: float, server_pid: int,
             make_client: Callable[[int], Any], pages: Callable[[int], list[tuple[str, str]]],
             pause_ms: float = 0.0, seed: int = 0) -> Side:
    """``users`` threads, client k from ``make_client(k)`` (ready to send), looping over
    ``pages(k)`` (label, URL) for ``seconds`` after one untimed round; every GET timed. With
    ``pause_ms``, each user waits before each page (the first too, so that they do not all
    start at once) for an exponentially distributed time of that mean (its own seeded random
    stream): people reading a page before the next click; without, the users click
    back-to-back (the server's capacity)."""
    logs: list[list[Timed]] = [[] for _ in range(users)]
    done_at = [0.0] * users
    ready = threading.Barrier(users + 1)
    start = [0.0]
    failed: list[str] = []

    def user(k: int) -> None:
        http, mine = None, []
        try:
            http = make_client(k)
            mine = pages(k)
            for _label, url in mine:  # warm-up, not timed
                http.get(url)
        except BaseException as e:  # the barrier must still be reached
            failed.append(f"user {k}: {type(e).__name__}: {e}")
        ready.wait()
        pauses = random.Random(seed * 1000 + k)
        try:
            deadline = start[0] + seconds
            log = logs[k]
            i = 0
            while http is not None and not failed and time.perf_counter() < deadline:
                if pause_ms > 0:  # before each page, the first too: the users start apart
                    time.sleep(min(pauses.expovariate(1000.0 / pause_ms),
                                   max(0.0, deadline - time.perf_counter())))
                    if time.perf_counter() >= deadline:
                        break
                label, url = mine[i % len(mine)]
                i += 1
                t = time.perf_counter()
                try:
                    r = http.get(url)
                    ms = (time.perf_counter() - t) * 1000
                    log.append(Timed(label, ms, r.status_code, r.num_bytes_downloaded,
                                     "" if r.status_code == 200 else r.text[:200]))
                except Exception as e:  # every failure is counted, by type
                    ms = (time.perf_counter() - t) * 1000
                    log.append(Timed(label, ms, None, 0, f"{type(e).__name__}: {e}"[:200]))
            done_at[k] = time.perf_counter()
        finally:
            if http is not None:
                http.close()

    threads = [threading.Thread(target=user, args=(k,), daemon=True) for k in range(users)]
    for th in threads:
        th.start()
    cpu0 = cpu_seconds(server_pid)
    start[0] = time.perf_counter()
    ready.wait()
    for th in threads:
        th.join()
    if failed:
        sys.exit(f"{name}: clients could not start:\n" + "\n".join(failed))
    side = Side(name, [t for log in logs for t in log])
    side.wall = max(done_at) - start[0]
    side.server_cpu = cpu_seconds(server_pid) - cpu0
    return side


# --- the report ---------------------------------------------------------------------------------

@dataclass
class Row:
    label: str
    n: int
    p50: float
    p95: float
    p99: float
    max_ms: float
    rps: float
    kb: float  # mean response size on the wire
    errors: Counter[str]
    alone: float  # p50 of one user by itself

    def text(self) -> str:
        errs = ", ".join(f"{k}: {v:,}" for k, v in self.errors.most_common()) or "0"
        return (f"  {self.label:<36} {self.n:>7,} {self.p50:7.1f} {self.p95:7.1f} "
                f"{self.p99:7.1f} {self.max_ms:7.1f} {self.rps:8.1f} {self.kb:7.1f} "
                f"{self.alone:7.1f}   {errs}")

    def as_dict(self) -> dict[str, Any]:
        return {"requests": self.n, "p50_ms": self.p50, "p95_ms": self.p95, "p99_ms": self.p99,
                "max_ms": self.max_ms, "rps": self.rps, "kb": self.kb,
                "errors": dict(self.errors), "alone_p50_ms": self.alone}


def row(label: str, timed: list[Timed], wall: float, alone: list[Timed]) -> Row:
    lat = sorted(t.ms for t in timed)
    errors: Counter[str] = Counter(str(t.status) if t.status is not None else
                                   t.error.split(":", 1)[0] for t in timed if t.status != 200)
    kb = sum(t.wire_bytes for t in timed) / len(timed) / 1024 if timed else 0.0
    p50, p95, p99 = (percentile(lat, p) for p in (50, 95, 99))
    rps = len(timed) / wall if wall > 0 else 0.0
    return Row(label, len(timed), p50, p95, p99, lat[-1] if lat else 0.0, rps, kb, errors,
               percentile(sorted(t.ms for t in alone), 50))


def page_row(side: Side, label: str) -> Row:
    return row(label, [t for t in side.timed if t.page == label], side.wall,
               [t for t in side.alone if t.page == label])


def report(side: Side, labels: list[str]) -> Row:
    """Print one side's table; its overall row."""
    print(f"{side.name}: {len(side.timed):,} requests in {side.wall:.1f} s; server CPU "
          f"{side.server_cpu:.1f} s ({side.server_cpu / side.wall:.0%} of one core, "
          f"{side.server_cpu / max(1, len(side.timed)) * 1000:.1f} ms per request)")
    print(f"  {'page':<36} {'requests':>7} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7} "
          f"{'req/s':>8} {'KB':>7} {'alone':>7}   errors")
    for label in labels:
        print(page_row(side, label).text())
    overall = row("overall", side.timed, side.wall, side.alone)
    print(overall.text())
    alone_err = sum(t.status != 200 for t in side.alone)
    if alone_err:
        print(f"  one user by itself: {alone_err} errors")
    first = next((t for t in side.timed + side.alone if t.status != 200), None)
    if first is not None:
        print(f"  first error: {first.page} {first.status} {first.error}")
    return overall


def main() -> None:
    ap = arg_parser(__doc__)
    ap.add_argument("--users", type=int, default=20, help="concurrent logged-in auditors")
    ap.add_argument("--seconds", type=float, default=30.0, help="how long each side loops")
    ap.add_argument("--visits", type=int, default=2_000, help="visits to launch")
    ap.add_argument("--issue-visits", type=int, default=3,
                    help="visits of each team that get issues and look-backs")
    ap.add_argument("--issues-per-visit", type=int, default=3)
    ap.add_argument("--alone-rounds", type=int, default=10,
                    help="rounds over the pages by one user alone, before the load")
    ap.add_argument("--pause-ms", type=float, default=1000.0,
                    help="mean pause of a user between two pages (exponential); the goal is "
                         "checked with it, and the same users back-to-back are measured after")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--work-dir", "--workdir", dest="work_dir", type=Path, default=None)
    args = ap.parse_args()
    if args.users < 1 or args.seconds <= 0 or args.visits < 1:
        ap.error("--users, --seconds and --visits must be positive")
    add_root_to_path()
    import httpx

    work = work_folder(args.work_dir, "lookback-bench-web-pages-")
    db = work / "web.db"

    t = time.perf_counter()
    c = launch_campaign(db, work, title=f"基准测试：现场页面并发浏览 {args.users}",
                        visits=args.visits, businesses=max(6_000, 3 * args.visits),
                        seed=args.seed)
    visits_by_team: dict[int, list[Any]] = {}
    for v in c.visits:
        visits_by_team.setdefault(v.team_no, []).append(v)
    teams = sorted(visits_by_team)
    tokens = add_auditors(db, work, c.campaign, teams)
    set_passwords(db, work, [USER.format(team=team) for team in teams])
    n_issues, followups = add_lookbacks(db, c.campaign, visits_by_team,
                                        per_team=args.issue_visits,
                                        per_visit=args.issues_per_visit, seed=args.seed)
    per_team = sorted(len(vs) for vs in visits_by_team.values())
    print(f"database ready: campaign {c.campaign} launched with {len(c.visits):,} visits by "
          f"{len(teams)} teams ({per_team[0]}-{per_team[-1]} each), one auditor each with a "
          f"password; {n_issues:,} issues, follow-ups {followups}; setup "
          f"{time.perf_counter() - t:.1f} s, not timed")

    def team_of(k: int) -> int:
        return teams[k % len(teams)]

    def visit_of(k: int) -> int:
        return int(visits_by_team[team_of(k)][0].id)

    def page_urls(k: int) -> list[tuple[str, str]]:
        v = visit_of(k)
        return [("/app/visits", "/app/visits"), ("/app/visits/{id}", f"/app/visits/{v}"),
                ("/app/visits/{id}/interview/director", f"/app/visits/{v}/interview/director"),
                ("/app/visits/{id}/finding", f"/app/visits/{v}/finding"),
                ("/app/followups", "/app/followups")]

    def api_urls(k: int) -> list[tuple[str, str]]:
        return [("GET /campaigns/{c}/visits?team=N",
                 f"/campaigns/{c.campaign}/visits?team={team_of(k)}&limit=500"),
                ("GET /visits/{id}", f"/visits/{visit_of(k)}"),
                ("GET /followups", "/followups")]

    port = free_port()
    base = f"http://127.0.0.1:{port}"

    def page_client(k: int) -> Any:
        http = httpx.Client(base_url=base, timeout=60.0)
        log_in(http, USER.format(team=team_of(k)))
        return http

    def api_client(k: int) -> Any:
        return httpx.Client(base_url=base, timeout=60.0,
                            headers={"Authorization": f"Bearer {tokens[team_of(k)]}"})

    server = start_server(db, work, port)
    exit_code: int | None = None
    try:
        up_s = wait_healthy(server, base, work)
        print(f"lookback serve on {base} (pid {server.pid}), healthy after {up_s:.1f} s; "
              f"{args.users} users for {args.seconds:g} s on each side ...")
        ours_alone = by_itself(page_client, page_urls(0), args.alone_rounds)
        base_alone = by_itself(api_client, api_urls(0), args.alone_rounds)
        pause = f"pauses of {args.pause_ms:g} ms on average"
        ours = run_side(f"ours: the pages ({pause})", args.users, args.seconds, server.pid,
                        page_client, page_urls, args.pause_ms, args.seed)
        baseline = run_side(f"baseline: the JSON API ({pause})", args.users, args.seconds,
                            server.pid, api_client, api_urls, args.pause_ms, args.seed)
        ours.alone, baseline.alone = ours_alone, base_alone
        ours_full = run_side("ours: the pages, back-to-back", args.users, args.seconds,
                             server.pid, page_client, page_urls)
        base_full = run_side("baseline: the JSON API, back-to-back", args.users, args.seconds,
                             server.pid, api_client, api_urls)
        ours_full.alone, base_full.alone = ours_alone, base_alone
    finally:
        exit_code = stop_server(server)

    print()
    o = report(ours, [label for label, _url in page_urls(0)])
    print()
    b = report(baseline, [label for label, _url in api_urls(0)])
    print()
    of = report(ours_full, [label for label, _url in page_urls(0)])
    print()
    bf = report(base_full, [label for label, _url in api_urls(0)])
    print()
    ratio = o.p95 / b.p95 if b.p95 else 0.0
    ratio_full = of.p95 / bf.p95 if bf.p95 else 0.0
    n_err = sum(o.errors.values()) + sum(b.errors.values()) + sum(of.errors.values()) + sum(
        bf.errors.values()) + sum(t.status != 200 for t in ours.alone + baseline.alone)
    goal = o.p95 <= P95_GOAL_MS
    print(f"ratio (our p95 / baseline p95) {ratio:6.1f}   ({o.p95:.1f} / {b.p95:.1f} ms, "
          f"{pause})")
    print(f"ratio, back-to-back          {ratio_full:6.1f}   ({of.p95:.1f} / {bf.p95:.1f} ms; "
          f"capacity {of.rps:.0f} pages/s vs {bf.rps:.0f} API reads/s)")
    load_err = sum(x for r in (o, b, of, bf) for x in r.errors.values())
    print(f"check: zero errors       {'OK' if n_err == 0 else 'FAIL'}   (under load "
          f"{load_err:,}, one user by itself {n_err - load_err:,})")
    print(f"goal: p95 <= {P95_GOAL_MS:.0f} ms        {'met' if goal else 'MISSED'}   "
          f"(p95 {o.p95:.1f} ms, {args.users} users, {pause}; back-to-back {of.p95:.1f} ms; "
          f"{os.cpu_count()} cores)")
    print(f"server stopped           exit code {exit_code if exit_code is not None else 'killed'}")
    print(f"work folder              {work}")
    print_json({"users": args.users, "seconds": args.seconds, "visits": len(c.visits),
                "teams": len(teams), "ours": o.as_dict(), "baseline": b.as_dict(),
                "ours_pages": {label: page_row(ours, label).as_dict() for label, _ in page_urls(0)},
                "server_cpu_s": ours.server_cpu, "baseline_server_cpu_s": baseline.server_cpu,
                "pause_ms": args.pause_ms, "ours_back_to_back": of.as_dict(),
                "baseline_back_to_back": bf.as_dict(), "ratio_p95_back_to_back": ratio_full,
                "ratio_p95": ratio, "errors": n_err, "goal_met": goal,
                "server_exit": exit_code})
    if n_err:
        sys.exit(1)


if __name__ == "__main__":
    main()
