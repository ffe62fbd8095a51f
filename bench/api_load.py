"""Benchmark: the HTTP API under load — concurrent clients recording interviews on one
SQLite-backed `lookback serve` — against the same interviews recorded in-process, in one run.

    python bench/api_load.py                            # 50 clients for 60 s
    python bench/api_load.py --clients 5 --seconds 3    # what CI runs

Setup (not timed): a fresh SQLite database in the work folder with registers and one launched
campaign, exactly as bench/fieldwork.py prepares it (``_common.launch_campaign``: `lookback init`,
`registry generate` / `registry import`, ``create_campaign`` and ``domain.campaigns.launch`` under
a fixed clock), then one API auditor per team of the campaign (`lookback users add
bench-team-N --role auditor --team N --campaign C`, its token from the JSON). A copy of that
database is taken with the sqlite3 backup API for the baseline. Then a real `lookback serve`
subprocess on a free port of 127.0.0.1 (one process, one uvicorn worker, the same fixed clock as
the setup), waited for until GET /health answers.

Ours: --clients threads, each with its own ``httpx.Client`` (one keep-alive connection) and the
token of one team (client k belongs to team k mod teams), released together and sending requests
back to back for --seconds: ``POST /visits/{id}/interviews`` for a random visit of its team, a
random role, a name unique to the run (a Chinese name plus the client and its request number) and
every item of that role's checklist answered (``default_checklists().for_role(role)``; ~2% fail
with a note, the rest pass). The request body is built outside the timer; the latency is the
``post`` call. Requests in flight at the deadline are waited for and counted. Printed: requests/s
(2xx responses over the wall time from the release to the last response), latency p50 / p95 /
p99 / mean / max in ms, and errors (every non-2xx by status, every exception by type). The server
is then stopped with SIGINT (uvicorn's graceful shutdown; killed in a ``finally`` whatever
happens).

Checks: the interviews stored in the database (read with sqlite3 after the server stopped) are
exactly the 2xx responses — the same count and the same (visit, role, name) keys, so no write was
lost and none was made for a request that did not get 2xx — and the answers stored are exactly
those of the 2xx requests. OK or FAIL; the script exits 1 on FAIL.

Goals: zero errors, zero lost writes, p95 <= 100 ms; each printed met / missed (informational:
only the checks decide the exit code).

Baseline: on the copy, the interviews that got 2xx, in the order their responses came back,
recorded sequentially in this process with ``domain.fieldwork.record_interview`` (the function the
route calls, with the same actor, fixed clock, checklists and calendar; imports and engine
creation before the timer). Printed: its time per interview, and the ratio of the API's mean
latency to it (what HTTP, authentication, authorization, the thread pool and waiting for the
other 49 clients' write transactions add). Afterwards the copy must hold the same interview and
answer rows as the API's database (compared by key).

Set BENCH_JSON=1 to also print the figures as one JSON line.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from _common import (
    ROLES,
    ROOT,
    SETUP_NOW,
    add_root_to_path,
    arg_parser,
    backup,
    cli_args,
    launch_campaign,
    lookback,
    print_json,
    random_name,
    work_folder,
)

NOW = SETUP_NOW  # the server's fixed clock and the baseline's: within the campaign's dates
FAIL_RATE = 0.02
P95_GOAL_MS = 100.0
USER = "bench-team-{team}"


@dataclass
class Sent:
    """One request: what was sent and what came back."""

    team: int
    visit_id: int
    role: str
    name: str
    answers: list[tuple[str, str, str]]
    latency_s: float = 0.0
    done_at: float = 0.0  # perf_counter when the response (or the exception) came back
    status: int | None = None  # None: an exception instead of a response
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class ClientLog:
    sent: list[Sent] = field(default_factory=list)
    done_at: float = 0.0  # perf_counter when its last response came back


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def add_auditors(db: Path, work: Path, campaign: int, teams: list[int]) -> dict[int, str]:
    """One auditor per team (`lookback users add`, a few at a time); team -> token."""
    def add(team: int) -> tuple[int, str]:
        out = lookback("users", "add", USER.format(team=team), "--role", "auditor", "--team",
                       str(team), "--campaign", str(campaign), db=db, work=work)
        return team, str(out["token"])

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(pool.map(add, teams))


def start_server(db: Path, work: Path, port: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, *cli_args("serve", "--host", "127.0.0.1", "--port", str(port),
                                     db=db, work=work, now=NOW)]
    out = (work / "server.stdout").open("wb")
    err = (work / "server.stderr").open("wb")
    return subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=err)


def wait_healthy(server: subprocess.Popen[bytes], base: str, work: Path,
                 timeout_s: float = 60.0) -> float:
    """Seconds until GET /health answers 200; exits if the server dies or never answers."""
    import httpx

    t = time.perf_counter()
    while time.perf_counter() - t < timeout_s:
        if server.poll() is not None:
            sys.exit(f"lookback serve exited with {server.returncode}:\n"
                     f"{(work / 'server.stderr').read_text(errors='replace')}")
        try:
            if httpx.get(f"{base}/health", timeout=2.0).status_code == 200:
                return time.perf_counter() - t
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    sys.exit(f"lookback serve did not answer /health within {timeout_s:.0f} s")


def stop_server(server: subprocess.Popen[bytes], timeout_s: float = 20.0) -> int | None:
    """SIGINT (graceful shutdown), then SIGKILL if it does not exit; its exit code (None if it
    had to be killed)."""
    if server.poll() is not None:
        return server.returncode
    server.send_signal(signal.SIGINT)
    try:
        return server.wait(timeout_s)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
        return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (all its threads), from /proc."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(b")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_load(base: str, tokens: dict[int, str], visits_by_team: dict[int, list[int]],
             items: dict[str, list[str]], *, clients: int, seconds: float,
             seed: int) -> tuple[list[ClientLog], float, float]:
    """The clients' logs, the release time and the wall time from release to last response."""
    import httpx

    teams = sorted(tokens)
    logs = [ClientLog() for _ in range(clients)]
    ready = threading.Barrier(clients + 1)
    start = [0.0]

    def client(k: int) -> None:
        rng = random.Random(seed * 1_000_003 + k)
        team = teams[k % len(teams)]
        log = logs[k]
        with httpx.Client(base_url=base, timeout=60.0,
                          headers={"Authorization": f"Bearer {tokens[team]}"}) as http:
            ready.wait()
            deadline = start[0] + seconds
            n = 0
            while time.perf_counter() < deadline:
                n += 1
                role = rng.choice(ROLES)
                s = Sent(team, rng.choice(visits_by_team[team]), role,
                         f"{random_name(rng)}-{k:03d}-{n:06d}", [])
                for item_id in items[role]:
                    fail = rng.random() < FAIL_RATE
                    s.answers.append((item_id, "fail" if fail else "pass",
                                      "现场检查发现问题" if fail else ""))
                body = json.dumps({"role": s.role, "name": s.name, "answers": [
                    {"item_id": i, "result": r, "note": note} for i, r, note in s.answers]},
                    ensure_ascii=False).encode()
                url = f"/visits/{s.visit_id}/interviews"
                t = time.perf_counter()
                try:
                    r = http.post(url, content=body,
                                  headers={"Content-Type": "application/json"})
                    s.done_at = time.perf_counter()
                    s.latency_s = s.done_at - t
                    s.status = r.status_code
                    if not 200 <= r.status_code < 300:
                        s.error = r.text[:300]
                except Exception as e:  # every failure is counted, by type
                    s.done_at = time.perf_counter()
                    s.latency_s = s.done_at - t
                    s.error = f"{type(e).__name__}: {e}"[:300]
                log.sent.append(s)
            log.done_at = time.perf_counter()

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(clients)]
    for th in threads:
        th.start()
    start[0] = time.perf_counter()
    ready.wait()
    for th in threads:
        th.join()
    wall = max(log.done_at for log in logs) - start[0]
    return logs, start[0], wall


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list (0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), round(p / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


Key = tuple[int, str, str]


def stored(db: Path) -> tuple[dict[Key, tuple[str, str]], Counter[tuple[Key, str, str, str]]]:
    """Interviews by (visit, role, name) -> (recorded_at, recorded_by), and the answers."""
    conn = sqlite3.connect(db)
    try:
        interviews = {(v, r, n): (at, by) for v, r, n, at, by in conn.execute(
            "SELECT visit_id, role, name, recorded_at, recorded_by FROM interview")}
        answers: Counter[tuple[Key, str, str, str]] = Counter(
            ((v, r, n), item, res, note) for v, r, n, item, res, note in conn.execute(
                "SELECT i.visit_id, i.role, i.name, a.item_id, a.result, a.note "
                "FROM answer a JOIN interview i ON i.id = a.interview_id"))
    finally:
        conn.close()
    return interviews, answers


def run_baseline(db: Path, work: Path, ok: list[Sent]) -> float:
    """Seconds to record ``ok`` sequentially with domain.fieldwork.record_interview on ``db``."""
    from domain import fieldwork as fw
    from domain.checklists import default_checklists
    from domain.clock import FixedClock
    from flows.wiring import engine_for, uow_for
    from storage.calendar import ChineseCalendarSource

    url = f"sqlite:///{db}"
    uow = uow_for(url)
    clock = FixedClock(datetime.fromisoformat(NOW))
    checklists = default_checklists()
    calendar = ChineseCalendarSource(work / "data")
    with uow() as u:  # open the engine's first connection before the timer
        u.fieldwork.get_visit(ok[0].visit_id)
    t = time.perf_counter()
    for s in ok:
        fw.record_interview(s.visit_id, s.role, s.name,
                            [fw.Answer(i, r, note) for i, r, note in s.answers], team=None,
                            actor=f"api:{USER.format(team=s.team)}", uow_factory=uow,
                            clock=clock, checklists=checklists, calendar=calendar)
    seconds = time.perf_counter() - t
    engine_for(url).dispose()
    return seconds


def main() -> None:
    ap = arg_parser(__doc__)
    ap.add_argument("--clients", type=int, default=50, help="concurrent HTTP clients")
    ap.add_argument("--seconds", type=float, default=60.0, help="how long they send requests")
    ap.add_argument("--visits", type=int, default=2_000, help="visits to launch")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--work-dir", "--workdir", dest="work_dir", type=Path, default=None)
    args = ap.parse_args()
    if args.clients < 1 or args.seconds <= 0 or args.visits < 1:
        ap.error("--clients, --seconds and --visits must be positive")
    add_root_to_path()

    from domain.checklists import default_checklists

    checklists = default_checklists()
    items = {role: [i.id for i in checklists.for_role(role)] for role in ROLES}
    work = work_folder(args.work_dir, "lookback-bench-api-load-")
    db, base_db = work / "api.db", work / "baseline.db"

    t = time.perf_counter()
    c = launch_campaign(db, work, title=f"基准测试：接口并发录入谈话 {args.clients}",
                        visits=args.visits, businesses=max(6_000, 3 * args.visits),
                        seed=args.seed, now=NOW)
    visits_by_team: dict[int, list[int]] = {}
    for v in c.visits:
        visits_by_team.setdefault(v.team_no, []).append(v.id)
    tokens = add_auditors(db, work, c.campaign, sorted(visits_by_team))
    backup(db, base_db)
    print(f"database ready: campaign {c.campaign} launched with {len(c.visits):,} visits by "
          f"{len(visits_by_team)} teams, one auditor each; setup {time.perf_counter() - t:.1f} s, "
          "not timed")

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(db, work, port)
    exit_code: int | None = None
    try:
        up_s = wait_healthy(server, base, work)
        print(f"lookback serve on {base} (pid {server.pid}), healthy after {up_s:.1f} s; "
              f"{args.clients} clients for {args.seconds:g} s ...")
        cpu0, own0 = cpu_seconds(server.pid), time.process_time()
        logs, _start, wall = run_load(base, tokens, visits_by_team, items, clients=args.clients,
                                      seconds=args.seconds, seed=args.seed)
        server_cpu, clients_cpu = cpu_seconds(server.pid) - cpu0, time.process_time() - own0
    finally:
        exit_code = stop_server(server)
        if server.poll() is None:  # pragma: no cover - stop_server kills it already
            server.kill()
            server.wait()

    sent = [s for log in logs for s in log.sent]
    ok = sorted((s for s in sent if s.ok), key=lambda s: s.done_at)  # in completion order
    failed = [s for s in sent if not s.ok]
    errors: Counter[str] = Counter(str(s.status) if s.status is not None else
                                   s.error.split(":", 1)[0] for s in failed)
    lat = sorted(s.latency_s * 1000 for s in sent)
    p50, p95, p99 = (percentile(lat, p) for p in (50, 95, 99))
    mean_ms = sum(lat) / len(lat) if lat else 0.0
    rps = len(ok) / wall if wall > 0 else 0.0

    # The checks: the database holds exactly the 2xx interviews and their answers.
    interviews, answers = stored(db)
    ok_keys = {(s.visit_id, s.role, s.name) for s in ok}
    lost = ok_keys - interviews.keys()
    phantom = interviews.keys() - ok_keys
    want_answers: Counter[tuple[Key, str, str, str]] = Counter(
        ((s.visit_id, s.role, s.name), i, r, note) for s in ok for i, r, note in s.answers)
    checks_ok = (len(interviews) == len(ok) and not lost and not phantom
                 and answers == want_answers)

    # The baseline: the same interviews, in the order their responses came back.
    base_s = run_baseline(base_db, work, ok) if ok else 0.0
    per_base_ms = base_s / len(ok) * 1000 if ok else 0.0
    base_interviews, base_answers = stored(base_db)
    same = (base_interviews == interviews and base_answers == answers) if ok else True
    ratio = mean_ms / per_base_ms if per_base_ms else 0.0

    n_err = sum(errors.values())
    goals = {"errors": n_err == 0, "lost_writes": not lost and checks_ok, "p95": p95 <= P95_GOAL_MS}

    def met(flag: bool) -> str:
        return "met" if flag else "MISSED"

    print(f"requests                 {len(sent):>10,}   2xx {len(ok):,} in {wall:.1f} s "
          f"({args.clients} clients, {len(visits_by_team)} teams)")
    print(f"throughput               {rps:10.1f} requests/s")
    print(f"latency p50 / p95 / p99 {p50:8.1f} / {p95:.1f} / {p99:.1f} ms   (mean {mean_ms:.1f},"
          f" max {lat[-1] if lat else 0:.1f})")
    print(f"CPU during the load       server {server_cpu:.1f} s ({server_cpu / wall:.0%} of one core, "
          f"{server_cpu / max(1, len(sent)) * 1000:.1f} ms per request), clients {clients_cpu:.1f} s;"
          f" {os.cpu_count()} cores")
    print(f"errors                   {n_err:>10,}   "
          + (", ".join(f"{k}: {v:,}" for k, v in errors.most_common()) or "none"))
    if n_err:
        first = min(failed, key=lambda s: s.done_at)
        print(f"  first error: {first.status} {first.error}")
    print(f"stored interviews        {len(interviews):>10,}   2xx {len(ok):,}, lost {len(lost):,}, "
          f"phantom {len(phantom):,}, answers {sum(answers.values()):,} (expected "
          f"{sum(want_answers.values()):,})   {'OK' if checks_ok else 'FAIL'}")
    print(f"baseline record_interview {per_base_ms:9.2f} ms per interview, in-process, sequential "
          f"({len(ok):,} in {base_s:.1f} s); same rows stored: {'OK' if same else 'FAIL'}")
    cpu_ratio = server_cpu / max(1, len(sent)) * 1000 / per_base_ms if per_base_ms else 0.0
    print(f"ratio (API mean latency / baseline) {ratio:6.1f}   (server CPU per request / "
          f"baseline {cpu_ratio:.1f}; the rest is queueing behind the other clients)")
    print(f"goal: zero errors        {met(goals['errors'])}")
    print(f"goal: zero lost writes   {met(goals['lost_writes'])}")
    print(f"goal: p95 <= {P95_GOAL_MS:.0f} ms       {met(goals['p95'])}   (p95 {p95:.1f} ms)")
    print(f"server stopped           exit code {exit_code if exit_code is not None else 'killed'}")
    print(f"work folder              {work}")
    print_json({"clients": args.clients, "seconds": args.seconds, "requests": len(sent),
                "ok": len(ok), "wall_s": wall, "rps": rps, "p50_ms": p50, "p95_ms": p95,
                "p99_ms": p99, "mean_ms": mean_ms, "server_cpu_s": server_cpu, "clients_cpu_s": clients_cpu, "max_ms": lat[-1] if lat else 0.0,
                "errors": dict(errors), "stored": len(interviews), "lost": len(lost),
                "phantom": len(phantom), "check_ok": checks_ok, "same_as_baseline": same,
                "baseline_ms": per_base_ms, "ratio": ratio, "cpu_ratio": cpu_ratio,
                "goals_met": all(goals.values()), "server_exit": exit_code})
    if not (checks_ok and same):
        sys.exit(1)


if __name__ == "__main__":
    main()
