"""Benchmark: the HTTP API on PostgreSQL with several `lookback serve` processes — concurrent
clients recording interviews, at saturation and at an offered rate — against one SQLite-backed
`lookback serve` under the same two loads, in one run.

    python bench/api_cluster.py                    # 4 processes, 50 clients for 60 s, 100/s
    python bench/api_cluster.py --clients 5 --seconds 3 --rate 20 --processes 2   # what CI runs

It needs a PostgreSQL database it may wipe: --database-url, else LOOKBACK_BENCH_DATABASE_URL,
else postgresql://lookback:lookback@127.0.0.1:5432/lookback_bench_api. Its name must contain
"bench" (a guard against wiping a real database); if the server cannot be reached, or the
database does not exist, the script says so and exits 2.

Setup (not timed), once per side, each in its own sub-folder of the work folder: the database is
emptied (PostgreSQL: DROP SCHEMA public CASCADE and CREATE SCHEMA public, so a second run starts
from nothing; SQLite: a new file), then registers and one launched campaign exactly as
bench/api_load.py prepares them (``_common.launch_campaign``, which takes the PostgreSQL URL as
it is: `lookback init` creates the schema there, `registry generate` / `registry import` and the
in-process ``create_campaign`` / ``launch`` under the fixed clock run against it), and one API
auditor per team (``api_load.add_auditors``). Both sides are set up the same way from the same
seed, rather than one database copied into the other, so each side's data went through our own
code on its own backend; they get the same plan and registers (their tokens differ).

Ours: --processes (default 4) `lookback serve` processes on the one PostgreSQL database, on ports
from 9100 up (the first free ones of 9100-9199), each one uvicorn worker with the same fixed clock
as the setup, waited for until GET /health answers. There is no proxy: client k talks to process
k mod --processes directly (keep-alive), so the spread is round-robin by client, fixed for the
run. Baseline: one `lookback serve` on the SQLite database (the next free port), started after
ours were stopped, so the two never compete for the CPUs.

Each side runs the same two phases, one after the other (``api_load.run_load``, with the request
mix of bench/api_load.py: ``POST /visits/{id}/interviews`` for a random visit of the client's team
(client k belongs to team k mod teams), a random role, a name unique to the run, every item of the
role's checklist answered, ~2% fail; the body is built outside the timer):

* Saturation: --clients (default 50) closed-loop clients released together, each sending back to
  back for --seconds (default 60); latency from the send. Printed: requests/s (2xx over the wall
  time from the release to the last response), p50 / p95 / p99 / max, errors.
* Offered load: an open loop of round(--rate x --seconds) requests, request i due at release +
  i / --rate (default 100/s) and sent by client i mod --clients (the same clients and spread over
  the processes); the latency runs from the due time, not the send, so a request that waits for
  its client's previous response is charged the wait (no coordinated omission). Printed: the
  achieved requests/s, p50 / p95 / p99 / max, errors, and the send lag (how late requests left
  after their due time: a large lag means the client side, not the server, fell behind).

Also printed: the CPU seconds of the server processes and of this process (the clients) during
each phase, and the load average before and after. The machine has few cores: clients,
servers and PostgreSQL share them, so the figures are a floor, not what separate machines give.

Checks, per side, after its servers stopped: the interviews stored (read with SQLAlchemy/psycopg
on PostgreSQL, sqlite3 on SQLite; ``api_load.stored``) are exactly the 2xx responses of both
phases — the same count and the same (visit, role, name) keys, so no write was lost and none
was made for a request that did not get 2xx — with exactly the answers of those requests. OK or
FAIL; the script exits 1 on FAIL.

Goals (ours): zero errors, zero lost writes, p95 <= 50 ms at the offered rate; each printed met /
missed, with the baseline's figure beside it (informational: only the checks decide the exit
code). The ratio printed is ours / baseline saturation throughput.

Set BENCH_JSON=1 to also print the figures as one JSON line.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import (
    ROLES,
    add_root_to_path,
    arg_parser,
    launch_campaign,
    print_json,
    work_folder,
)
from api_load import (
    Check,
    Figures,
    add_auditors,
    check_stored,
    cpu_seconds,
    run_load,
    start_server,
    stop_server,
    stored,
    summarise,
    wait_healthy,
)

DEFAULT_URL = "postgresql://lookback:lookback@127.0.0.1:5432/lookback_bench_api"
URL_VARIABLE = "LOOKBACK_BENCH_DATABASE_URL"
PORTS = range(9100, 9200)
P95_GOAL_MS = 50.0


def fail(message: str, code: int = 2) -> None:
    print(f"api_cluster: {message}", file=sys.stderr)
    sys.exit(code)


def free_ports(n: int) -> list[int]:
    """The first ``n`` ports of PORTS that 127.0.0.1 can bind now."""
    found: list[int] = []
    for port in PORTS:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        found.append(port)
        if len(found) == n:
            return found
    fail(f"only {len(found)} free ports in {PORTS.start}-{PORTS.stop - 1}, {n} needed")
    raise AssertionError  # unreachable


def reset_postgres(url: str) -> str:
    """Empty the database at ``url`` (drop and recreate schema public); its URL without the
    password. Exits 2 if it is not PostgreSQL, not a bench database, or not reachable."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, DBAPIError

    try:
        parsed = make_url(url)
    except ArgumentError:
        fail(f"not a database URL: {url!r}")
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() != "postgresql":
        fail(f"{shown}: not a PostgreSQL URL")
    if "bench" not in (parsed.database or ""):
        fail(f"{shown}: the benchmark wipes its database; give one whose name contains 'bench'")
    engine = create_engine(url, connect_args={"connect_timeout": 5})
    try:
        with engine.begin() as c:
            c.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            c.execute(text("CREATE SCHEMA public"))
    except DBAPIError as e:
        reason = str(e.orig).strip().splitlines()[0] if e.orig else str(e)
        fail(f"PostgreSQL is not usable at {shown}: {reason}\n"
             "  start it (pg_ctlcluster 15 main start), create the database (createdb -O "
             f"lookback {parsed.database}), or give --database-url / {URL_VARIABLE}")
    finally:
        engine.dispose()
    return shown


@dataclass
class Side:
    """One side of the comparison: its database, its servers and what its phases came to."""

    label: str
    db: Path | str  # an SQLite file, or the PostgreSQL URL
    shown: str  # the database as printed (no password)
    work: Path
    tokens: dict[int, str] = field(default_factory=dict)
    visits_by_team: dict[int, list[int]] = field(default_factory=dict)
    servers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    bases: list[str] = field(default_factory=list)
    phases: dict[str, Figures] = field(default_factory=dict)
    cpu: dict[str, tuple[float, float]] = field(default_factory=dict)  # servers, clients
    exits: list[int | None] = field(default_factory=list)
    check: Check | None = None


def set_up(side: Side, *, visits: int, seed: int) -> None:
    t = time.perf_counter()
    c = launch_campaign(side.db, side.work, title="基准测试：多进程接口并发录入谈话",
                        visits=visits, businesses=max(6_000, 3 * visits), seed=seed)
    for v in c.visits:
        side.visits_by_team.setdefault(v.team_no, []).append(v.id)
    side.tokens = add_auditors(side.db, side.work, c.campaign, sorted(side.visits_by_team))
    print(f"setup {side.label:<9} {side.shown}: campaign {c.campaign} launched with "
          f"{len(c.visits):,} visits by {len(side.visits_by_team)} teams, one auditor each; "
          f"{time.perf_counter() - t:.1f} s, not timed")


def run_side(side: Side, ports: list[int], items: dict[str, list[str]], args: Any) -> None:
    """Start the side's servers, run both phases, stop the servers (whatever happens)."""
    try:
        for n, port in enumerate(ports):
            side.servers.append(start_server(side.db, side.work, port, log=f"server{n}"))
            side.bases.append(f"http://127.0.0.1:{port}")
        up = max(wait_healthy(s, b, side.work, log=f"server{n}")
                 for n, (s, b) in enumerate(zip(side.servers, side.bases, strict=True)))
        print(f"{side.label}: {len(ports)} x lookback serve on {side.shown}, ports "
              f"{', '.join(map(str, ports))} (pids {', '.join(str(s.pid) for s in side.servers)}),"
              f" healthy after {up:.1f} s")
        for phase, rate in (("saturation", None), ("offered", args.rate)):
            what = (f"{args.clients} clients back to back" if rate is None else
                    f"{rate:g} requests/s offered by {args.clients} clients")
            print(f"  {phase}: {what} for {args.seconds:g} s ...", flush=True)
            cpu0 = sum(cpu_seconds(s.pid) for s in side.servers)
            own0 = time.process_time()
            logs, _start, wall = run_load(side.bases, side.tokens, side.visits_by_team, items,
                                          clients=args.clients, seconds=args.seconds,
                                          seed=args.seed, rate=rate, tag=phase[0])
            side.cpu[phase] = (sum(cpu_seconds(s.pid) for s in side.servers) - cpu0,
                               time.process_time() - own0)
            side.phases[phase] = summarise(logs, wall)
    finally:
        side.exits = [stop_server(s) for s in side.servers]
        for s in side.servers:
            if s.poll() is None:  # pragma: no cover - stop_server kills it already
                s.kill()
                s.wait()
    ok = [s for f in side.phases.values() for s in f.ok]
    interviews, answers = stored(side.db)
    side.check = check_stored(interviews, answers, ok)


def figures(side: Side) -> dict[str, Any]:
    out: dict[str, Any] = {"processes": len(side.bases), "server_exit": side.exits}
    for phase, f in side.phases.items():
        out[phase] = {"requests": len(f.sent), "ok": len(f.ok), "wall_s": f.wall, "rps": f.rps,
                      "p50_ms": f.p50, "p95_ms": f.p95, "p99_ms": f.p99, "mean_ms": f.mean_ms,
                      "max_ms": f.max_ms, "errors": dict(f.errors),
                      "server_cpu_s": side.cpu[phase][0], "clients_cpu_s": side.cpu[phase][1]}
    lag = sorted(s.lag_s * 1000 for s in side.phases["offered"].sent)
    out["offered"]["lag_p95_ms"] = lag[int(0.95 * (len(lag) - 1))] if lag else 0.0
    out["offered"]["lag_max_ms"] = lag[-1] if lag else 0.0
    assert side.check is not None
    out.update(stored=side.check.stored, lost=len(side.check.lost),
               phantom=len(side.check.phantom), check_ok=side.check.ok)
    return out


def main() -> None:
    ap = arg_parser(__doc__)
    ap.add_argument("--processes", type=int, default=4, help="lookback serve processes (ours)")
    ap.add_argument("--clients", type=int, default=50, help="concurrent HTTP clients")
    ap.add_argument("--seconds", type=float, default=60.0, help="how long each phase lasts")
    ap.add_argument("--rate", type=float, default=100.0, help="offered requests/s (open loop)")
    ap.add_argument("--visits", type=int, default=2_000, help="visits to launch")
    ap.add_argument("--database-url", default=os.environ.get(URL_VARIABLE, DEFAULT_URL),
                    help=f"the PostgreSQL database to wipe and use (default: ${URL_VARIABLE}, "
                    f"else {DEFAULT_URL})")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--work-dir", "--workdir", dest="work_dir", type=Path, default=None)
    args = ap.parse_args()
    if min(args.processes, args.clients, args.visits) < 1 or args.seconds <= 0 or args.rate <= 0:
        ap.error("--processes, --clients, --seconds, --rate and --visits must be positive")
    add_root_to_path()

    from domain.checklists import default_checklists

    shown = reset_postgres(args.database_url)
    ports = free_ports(args.processes + 1)
    checklists = default_checklists()
    items = {role: [i.id for i in checklists.for_role(role)] for role in ROLES}
    work = work_folder(args.work_dir, "lookback-bench-api-cluster-")
    (work / "pg").mkdir(exist_ok=True)
    (work / "sqlite").mkdir(exist_ok=True)
    ours = Side("ours", args.database_url, f"PostgreSQL {shown}", work / "pg")
    base = Side("baseline", work / "sqlite" / "api.db", "SQLite", work / "sqlite")
    for side in (ours, base):
        set_up(side, visits=args.visits, seed=args.seed)

    load0 = os.getloadavg()
    print(f"load average before      {load0[0]:.2f} / {load0[1]:.2f} / {load0[2]:.2f}   "
          f"({os.cpu_count()} CPUs); no proxy: client k -> process k mod {args.processes}")
    run_side(ours, ports[:args.processes], items, args)
    run_side(base, ports[args.processes:], items, args)
    load1 = os.getloadavg()

    def row(label: str, get: Any) -> None:
        print(f"{label:<34} {get(ours):>24} {get(base):>24}")

    def fig(phase: str, text: Any) -> Any:
        return lambda side: text(side.phases[phase], *side.cpu[phase])

    row("", lambda s: f"ours ({len(s.bases)} x PostgreSQL)" if s is ours else "baseline (1 x SQLite)")
    for phase, title in (("saturation", f"saturation ({args.clients} clients)"),
                         ("offered", f"offered {args.rate:g}/s (from due time)")):
        print(title)
        row("  requests (2xx)", fig(phase, lambda f, *_: f"{len(f.sent):,} ({len(f.ok):,})"))
        row("  throughput requests/s", fig(phase, lambda f, *_: f"{f.rps:.1f}"))
        row("  latency p50 / p95 / p99 ms",
            fig(phase, lambda f, *_: f"{f.p50:.1f} / {f.p95:.1f} / {f.p99:.1f}"))
        row("  latency mean / max ms", fig(phase, lambda f, *_: f"{f.mean_ms:.1f} / {f.max_ms:.1f}"))
        row("  errors", fig(phase, lambda f, *_: f"{f.n_err:,}"))
        row("  CPU s servers / clients", fig(phase, lambda _f, sc, cc: f"{sc:.1f} / {cc:.1f}"))
    js = {"ours": figures(ours), "baseline": figures(base)}
    row("  send lag p95 / max ms", lambda s: "{lag_p95_ms:.1f} / {lag_max_ms:.1f}".format(
        **js["ours" if s is ours else "baseline"]["offered"]))
    for side in (ours, base):
        for phase, f in side.phases.items():
            if f.n_err:
                print(f"errors {side.label} {phase}: {f.errors_text()}; first: {f.first_error()}")
    for side in (ours, base):
        assert side.check is not None
        n_ok = sum(len(f.ok) for f in side.phases.values())
        print(f"stored interviews {side.label:<9}{side.check.text(n_ok)}")

    sat_o, sat_b = ours.phases["saturation"], base.phases["saturation"]
    off_o, off_b = ours.phases["offered"], base.phases["offered"]
    ratio = sat_o.rps / sat_b.rps if sat_b.rps else 0.0
    assert ours.check is not None and base.check is not None
    goals = {"errors": sat_o.n_err + off_o.n_err == 0,
             "lost_writes": not ours.check.lost and ours.check.ok,
             "p95": off_o.p95 <= P95_GOAL_MS}

    def met(flag: bool) -> str:
        return "met   " if flag else "MISSED"

    print(f"ratio ours / baseline saturation throughput {ratio:.2f}   "
          f"({sat_o.rps:.1f} / {sat_b.rps:.1f} requests/s)")
    print(f"goal: zero errors              {met(goals['errors'])}   (ours "
          f"{sat_o.n_err + off_o.n_err:,}, baseline {sat_b.n_err + off_b.n_err:,})")
    print(f"goal: zero lost writes         {met(goals['lost_writes'])}   (ours lost "
          f"{len(ours.check.lost):,}, baseline lost {len(base.check.lost):,})")
    print(f"goal: p95 <= {P95_GOAL_MS:.0f} ms at {args.rate:g}/s   {met(goals['p95'])}   (ours "
          f"{off_o.p95:.1f} ms, baseline {off_b.p95:.1f} ms)")
    print(f"load average after       {load1[0]:.2f} / {load1[1]:.2f} / {load1[2]:.2f}")
    print("servers stopped          exit codes "
          + ", ".join("killed" if c is None else str(c) for c in ours.exits + base.exits))
    print(f"work folder              {work}")
    print_json({"processes": args.processes, "clients": args.clients, "seconds": args.seconds,
                "rate": args.rate, "cpus": os.cpu_count(), "load_before": load0,
                "load_after": load1, **js, "ratio": ratio, "goals": goals,
                "goals_met": all(goals.values()),
                "check_ok": ours.check.ok and base.check.ok})
    if not (ours.check.ok and base.check.ok):
        sys.exit(1)


if __name__ == "__main__":
    main()
