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
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

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
    latency_s: float = 0.0  # from the send (closed loop) or the scheduled send time (open loop)
    done_at: float = 0.0  # perf_counter when the response (or the exception) came back
    lag_s: float = 0.0  # open loop: how late the request was sent after its scheduled time
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


def add_auditors(db: Path | str, work: Path, campaign: int, teams: list[int]) -> dict[int, str]:
    """One auditor per team (`lookback users add`, a few at a time); team -> token."""
    def add(team: int) -> tuple[int, str]:
        out = lookback("users", "add", USER.format(team=team), "--role", "auditor", "--team",
                       str(team), "--campaign", str(campaign), db=db, work=work)
        return team, str(out["token"])

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(pool.map(add, teams))


def start_server(db: Path | str, work: Path, port: int, log: str = "server",
                 now: str = NOW) -> subprocess.Popen[bytes]:
    """`lookback serve` on 127.0.0.1:``port`` for ``db`` (an SQLite file or a database URL) with
    its clock at ``now``, its output to WORK/LOG.stdout and WORK/LOG.stderr."""
    cmd = [sys.executable, *cli_args("serve", "--host", "127.0.0.1", "--port", str(port),
                                     db=db, work=work, now=now)]
    out = (work / f"{log}.stdout").open("wb")
    err = (work / f"{log}.stderr").open("wb")
    return subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=err)


def wait_healthy(server: subprocess.Popen[bytes], base: str, work: Path,
                 timeout_s: float = 60.0, log: str = "server") -> float:
    """Seconds until GET /health answers 200; exits if the server dies or never answers."""
    import httpx

    t = time.perf_counter()
    while time.perf_counter() - t < timeout_s:
        if server.poll() is not None:
            sys.exit(f"lookback serve exited with {server.returncode}:\n"
                     f"{(work / f'{log}.stderr').read_text(errors='replace')}")
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


def run_load(base: str | Sequence[str], tokens: dict[int, str],
             visits_by_team: dict[int, list[int]], items: dict[str, list[str]], *, clients: int,
             seconds: float, seed: int, rate: float | None = None,
             tag: str = "") -> tuple[list[ClientLog], float, float]:
    """The clients' logs, the release time and the wall time from release to last response.

    Client k talks to ``base`` (or to the k mod len-th of several) with the token of team k mod
    teams. Closed loop (``rate`` None): each client sends back to back until ``seconds`` after
    the release; the latency runs from the send. Open loop: request i of round(rate x seconds)
    is due at release + i / rate and is sent by client i mod clients (as soon as it is due, or
    when that client's previous response came back if that is later); its latency runs from the
    due time, so a server that falls behind is charged for the wait (no coordinated omission).
    ``tag`` goes into the names, to keep them unique across runs on one database."""
    import httpx

    bases = [base] if isinstance(base, str) else list(base)
    teams = sorted(tokens)
    logs = [ClientLog() for _ in range(clients)]
    ready = threading.Barrier(clients + 1)
    start = [0.0]
    total = round(rate * seconds) if rate is not None else 0

    def client(k: int) -> None:
        rng = random.Random(seed * 1_000_003 + k)
        team = teams[k % len(teams)]
        log = logs[k]
        with httpx.Client(base_url=bases[k % len(bases)], timeout=60.0,
                          headers={"Authorization": f"Bearer {tokens[team]}"}) as http:
            ready.wait()
            deadline = start[0] + seconds
            n = 0
            while True:
                due: float | None = None
                if rate is None:
                    if time.perf_counter() >= deadline:
                        break
                else:
                    i = k + n * clients
                    if i >= total:
                        break
                    due = start[0] + i / rate
                n += 1
                role = rng.choice(ROLES)
                s = Sent(team, rng.choice(visits_by_team[team]), role,
                         f"{random_name(rng)}-{tag}{k:03d}-{n:06d}", [])
                for item_id in items[role]:
                    fail = rng.random() < FAIL_RATE
                    s.answers.append((item_id, "fail" if fail else "pass",
                                      "现场检查发现问题" if fail else ""))
                body = json.dumps({"role": s.role, "name": s.name, "answers": [
                    {"item_id": i, "result": r, "note": note} for i, r, note in s.answers]},
                    ensure_ascii=False).encode()
                url = f"/visits/{s.visit_id}/interviews"
                if due is not None and (wait := due - time.perf_counter()) > 0:
                    time.sleep(wait)
                t = time.perf_counter()
                if due is not None:
                    s.lag_s, t = t - due, due
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


@dataclass
class Figures:
    """What a load run's requests came to."""

    sent: list[Sent]
    ok: list[Sent]  # the 2xx, in completion order
    failed: list[Sent]
    errors: Counter[str]  # non-2xx by status, exceptions by type
    lat: list[float]  # every request's latency in ms, ascending
    wall: float
    p50: float
    p95: float
    p99: float
    mean_ms: float
    rps: float  # 2xx per second of wall time

    @property
    def n_err(self) -> int:
        return sum(self.errors.values())

    @property
    def max_ms(self) -> float:
        return self.lat[-1] if self.lat else 0.0

    def errors_text(self) -> str:
        return ", ".join(f"{k}: {v:,}" for k, v in self.errors.most_common()) or "none"

    def first_error(self) -> str:
        first = min(self.failed, key=lambda s: s.done_at)
        return f"{first.status} {first.error}"


def summarise(logs: list[ClientLog], wall: float) -> Figures:
    sent = [s for log in logs for s in log.sent]
    ok = sorted((s for s in sent if s.ok), key=lambda s: s.done_at)  # in completion order
    failed = [s for s in sent if not s.ok]
    errors: Counter[str] = Counter(str(s.status) if s.status is not None else
                                   s.error.split(":", 1)[0] for s in failed)
    lat = sorted(s.latency_s * 1000 for s in sent)
    p50, p95, p99 = (percentile(lat, p) for p in (50, 95, 99))
    mean_ms = sum(lat) / len(lat) if lat else 0.0
    rps = len(ok) / wall if wall > 0 else 0.0
    return Figures(sent, ok, failed, errors, lat, wall, p50, p95, p99, mean_ms, rps)


Key = tuple[int, str, str]
Answers = Counter[tuple[Key, str, str, str]]

INTERVIEWS_SQL = "SELECT visit_id, role, name, recorded_at, recorded_by FROM interview"
ANSWERS_SQL = ("SELECT i.visit_id, i.role, i.name, a.item_id, a.result, a.note "
               "FROM answer a JOIN interview i ON i.id = a.interview_id")


def stored(db: Path | str) -> tuple[dict[Key, tuple[Any, str]], Answers]:
    """Interviews by (visit, role, name) -> (recorded_at, recorded_by), and the answers; ``db``
    an SQLite file (read with sqlite3) or a database URL (read with SQLAlchemy)."""
    def read(execute: Callable[[str], Iterable[Any]]) -> tuple[dict[Key, tuple[Any, str]],
                                                                Answers]:
        interviews = {(v, r, n): (at, by) for v, r, n, at, by in execute(INTERVIEWS_SQL)}
        answers: Answers = Counter(
            ((v, r, n), item, res, note) for v, r, n, item, res, note in execute(ANSWERS_SQL))
        return interviews, answers

    if isinstance(db, Path):
        conn = sqlite3.connect(db)
        try:
            return read(conn.execute)
        finally:
            conn.close()
    from sqlalchemy import create_engine

    engine = create_engine(db)
    try:
        with engine.connect() as c:
            return read(c.exec_driver_sql)
    finally:
        engine.dispose()


@dataclass
class Check:
    """The database against the 2xx responses: exactly their interviews, with their answers."""

    stored: int
    lost: set[Key]  # 2xx without an interview
    phantom: set[Key]  # interviews without a 2xx
    answers: int
    want_answers: int
    ok: bool

    def text(self, n_ok: int) -> str:
        return (f"{self.stored:>10,}   2xx {n_ok:,}, lost {len(self.lost):,}, phantom "
                f"{len(self.phantom):,}, answers {self.answers:,} (expected "
                f"{self.want_answers:,})   {'OK' if self.ok else 'FAIL'}")


def check_stored(interviews: Mapping[Key, Any], answers: Answers, ok: list[Sent]) -> Check:
    ok_keys = {(s.visit_id, s.role, s.name) for s in ok}
    lost = ok_keys - interviews.keys()
    phantom = interviews.keys() - ok_keys
    want: Answers = Counter(
        ((s.visit_id, s.role, s.name), i, r, note) for s in ok for i, r, note in s.answers)
    good = len(interviews) == len(ok) and not lost and not phantom and answers == want
    return Check(len(interviews), lost, phantom, sum(answers.values()), sum(want.values()), good)


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

    f = summarise(logs, wall)
    sent, ok, errors, lat = f.sent, f.ok, f.errors, f.lat
    p50, p95, p99, mean_ms, rps = f.p50, f.p95, f.p99, f.mean_ms, f.rps

    # The checks: the database holds exactly the 2xx interviews and their answers.
    interviews, answers = stored(db)
    check = check_stored(interviews, answers, ok)
    lost, phantom, checks_ok = check.lost, check.phantom, check.ok

    # The baseline: the same interviews, in the order their responses came back.
    base_s = run_baseline(base_db, work, ok) if ok else 0.0
    per_base_ms = base_s / len(ok) * 1000 if ok else 0.0
    base_interviews, base_answers = stored(base_db)
    same = (base_interviews == interviews and base_answers == answers) if ok else True
    ratio = mean_ms / per_base_ms if per_base_ms else 0.0

    n_err = f.n_err
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
    print(f"errors                   {n_err:>10,}   {f.errors_text()}")
    if n_err:
        print(f"  first error: {f.first_error()}")
    print(f"stored interviews        {check.text(len(ok))}")
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
                "p99_ms": p99, "mean_ms": mean_ms, "server_cpu_s": server_cpu, "clients_cpu_s": clients_cpu, "max_ms": f.max_ms,
                "errors": dict(errors), "stored": len(interviews), "lost": len(lost),
                "phantom": len(phantom), "check_ok": checks_ok, "same_as_baseline": same,
                "baseline_ms": per_base_ms, "ratio": ratio, "cpu_ratio": cpu_ratio,
                "goals_met": all(goals.values()), "server_exit": exit_code})
    if not (checks_ok and same):
        sys.exit(1)


if __name__ == "__main__":
    main()
