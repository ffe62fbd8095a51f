"""Benchmark: the fixed cost of a command that runs a flow (`lookback campaign launch` of a small
campaign) on the local stack, against the same services called directly, and Prefect's temporary
server for reference, in one run. Goal: with the stack up, <= 1.5 s over the direct call.

    python bench/flow_cost.py                   # 5 runs of each
    python bench/flow_cost.py --runs 1          # what CI runs

Setup (not timed): a fresh SQLite database in the work folder (`lookback init`), registers from
`lookback registry generate` (--businesses, default 1,500) imported with `lookback registry
import`, and identical draft campaigns of --visits visits (default 12; one business stage, strata
["province"], enough teams that avoidance cannot fail) created with ``create_campaign``, one for
each launch timed: a launch needs a campaign of its own. Then `lookback up --workers 1` on it
(Prefect server, one worker of the pool `lookback`, API, scheduler), until its worker is online;
one launch through it first warms it up (not counted).

Each figure is a fresh child process timed end to end, --runs times, interleaved (one of each in
turn), each waiting for the previous one's flow run to finish; median and min are printed:

- direct: ``python -c`` importing ``domain.campaigns`` and ``flows.wiring`` (SQLAlchemy, no
  Prefect, no Typer) and calling ``domain.campaigns.launch`` — the same steps the flow runs, as
  plain calls — then reading the campaign's counts as the command does. We chose a fresh process
  over an in-process call so that process start and imports count on both sides: the difference
  is what Prefect and the stack add, not what Python costs.
- stack --wait: `lookback --json campaign launch ID` (waits for the result).
- stack --no-wait: `lookback --json campaign launch ID --no-wait` (returns the submitted run).
- no stack: the same command with a data folder where no stack runs, so it runs the flow in its
  own process on Prefect's temporary server (PREFECT_HOME prepared by `lookback init`), measured
  after the stack is down.

Where the --wait time goes, from the flow run's state history on the stack's server (the
timestamps of SCHEDULED, PENDING, RUNNING, COMPLETED against the child's start and exit): the
command up to the run's creation (process start, imports, deployment look-up; the command
submits over Prefect's REST API with httpx and never imports Prefect), the worker's pick up (it
polls every PREFECT_WORKER_QUERY_SECONDS=0.5 s), the flow-run process (Lookback's worker forks it
from a fork server that imported Prefect and the flows once; Prefect's own process worker would
start ``python -m prefect.engine``, whose imports are printed for reference), the flow itself,
and from the COMPLETED state to the command's exit (the command polls the run, every 0.05 s at
first and less often later, then reads the run's result artifact and prints the counts). Also
timed, for reference:

- in-process on the stack's server: the same command with PREFECT_API_URL set to the stack's
  server and a data folder where no stack runs: the flow runs in the command's own process and
  reports to the stack's server (what ``prefect_runtime.flows`` does with a configured server).

Every launch must end with the campaign launched and --visits visits planned; exit 1 otherwise.
Set BENCH_JSON=1 to also print the figures as one JSON line.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from _common import (
    SETUP_NOW,
    add_root_to_path,
    arg_parser,
    cli_args,
    create_campaigns,
    print_json,
    setup_registers,
    stack_env,
    stack_up,
    timed_child,
    work_folder,
)

NOW = SETUP_NOW
GOAL = 1.5  # seconds over the direct call, with the stack up

# The direct call: the launch services in a fresh process, no Prefect, no CLI.
DIRECT = """\
import json, sys, time
t = time.perf_counter()
from datetime import datetime
from domain.campaigns import launch
from domain.clock import FixedClock
from flows.wiring import uow_for
imported = time.perf_counter()
url, cid, now = sys.argv[1], int(sys.argv[2]), sys.argv[3]
uow = uow_for(url)
launch(cid, uow_factory=uow, clock=FixedClock(datetime.fromisoformat(now)))
launched = time.perf_counter()
with uow() as u:
    c = u.campaigns.counts(cid)
print(json.dumps({"status": c.campaign.status, "visits_planned": c.visits_planned,
                  "imports_s": imported - t, "launch_s": launched - imported}))
"""

# What the worker's flow-run process imports before it can start the flow.
ENGINE_IMPORTS = "import prefect.engine, flows.launch"

VARIANTS = ("direct", "wait", "no-wait", "in-process", "no-stack")
LABELS = {
    "direct": "direct: domain launch, fresh process",
    "wait": "stack: campaign launch --wait",
    "no-wait": "stack: campaign launch --no-wait",
    "in-process": "  proposal: in-process, stack server",
    "no-stack": "no stack: temporary server",
}
PHASES = (("cli", "command start -> run created"),
          ("pickup", "created -> PENDING (worker poll)"),
          ("spawn", "PENDING -> RUNNING (flow process)"),
          ("flow", "RUNNING -> COMPLETED (the flow)"),
          ("after", "COMPLETED -> command exit"))


@dataclass
class Variant:
    seconds: list[float] = field(default_factory=list)
    phases: list[dict[str, float]] = field(default_factory=list)
    extra: list[dict[str, float]] = field(default_factory=list)


def state_times(api_url: str, flow_run_id: str) -> dict[str, float]:
    """The first time (epoch seconds) the flow run entered each state type."""
    import httpx

    states = httpx.get(f"{api_url}/flow_run_states/", params={"flow_run_id": flow_run_id},
                       timeout=10).json()
    first: dict[str, float] = {}
    for s in sorted(states, key=lambda s: s["timestamp"]):
        first.setdefault(s["type"], datetime.fromisoformat(s["timestamp"]).timestamp())
    return first


def wait_final(api_url: str, flow_run_id: str, timeout: float = 180) -> str:
    """Wait (untimed) for a flow run to reach a final state; its state type."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = httpx.get(f"{api_url}/flow_runs/{flow_run_id}", timeout=10).json()
        kind = (run.get("state") or {}).get("type", "")
        if kind in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            return str(kind)
        time.sleep(0.2)
    sys.exit(f"flow run {flow_run_id} did not finish within {timeout:.0f} s")


def phases(start: float, end: float, states: dict[str, float]) -> dict[str, float]:
    created, pending = states["SCHEDULED"], states["PENDING"]
    running, completed = states["RUNNING"], states["COMPLETED"]
    return {"cli": created - start, "pickup": pending - created, "spawn": running - pending,
            "flow": completed - running, "after": end - completed}


def check_launched(db: Path, campaign: int, visits: int, label: str) -> None:
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        status = conn.execute("SELECT status FROM campaign WHERE id = ?", (campaign,)).fetchone()
        planned = conn.execute("SELECT COUNT(*) FROM visit WHERE campaign_id = ?",
                               (campaign,)).fetchone()[0]
    finally:
        conn.close()
    if status is None or status[0] != "launched" or planned != visits:
        sys.exit(f"{label}: campaign {campaign} is {status and status[0]} with {planned} visits "
                 f"planned; expected launched with {visits}")


class Bench:
    """The timed launches: each takes the next draft campaign."""

    def __init__(self, db: Path, work: Path, env: dict[str, str], campaigns: list[int],
                 visits: int) -> None:
        self.db, self.work, self.env, self.visits = db, work, env, visits
        self.campaigns = iter(campaigns)
        self.results = {v: Variant() for v in VARIANTS}
        self.api_url = ""  # the stack's Prefect API, while it runs
        self.count = 0

    def _child(self, cmd: list[str], label: str,
               env: dict[str, str] | None = None) -> tuple[float, float, float, dict[str, Any]]:
        """(start, end as epoch seconds, wall seconds, JSON output) of one child process."""
        self.count += 1
        out, err = self.work / f"{label}-{self.count}.json", self.work / f"{label}-{self.count}.err"
        start = time.time()
        m = timed_child(cmd, out, err, env=env or self.env)
        end = start + m.seconds
        if m.code != 0:
            sys.exit(f"{label} failed ({m.code}):\n{out.read_text()}{err.read_text()[-3000:]}")
        return start, end, m.seconds, json.loads(out.read_text())

    def launch_cmd(self, campaign: int, *extra: str, work: Path | None = None) -> list[str]:
        return cli_args("campaign", "launch", str(campaign), *extra, db=self.db,
                        work=work or self.work, now=NOW)

    def direct(self, record: bool = True) -> None:
        cid = next(self.campaigns)
        _s, _e, seconds, out = self._child(
            [sys.executable, "-c", DIRECT, f"sqlite:///{self.db}", str(cid), NOW], "direct")
        check_launched(self.db, cid, self.visits, "direct")
        if record:
            self.results["direct"].seconds.append(seconds)
            self.results["direct"].extra.append({"imports": out["imports_s"],
                                                 "launch": out["launch_s"]})

    def through_stack(self, variant: str, record: bool = True) -> None:
        cid = next(self.campaigns)
        cmd = [sys.executable, *self.launch_cmd(cid, *(["--no-wait"] if variant == "no-wait"
                                                       else []))]
        start, end, seconds, out = self._child(cmd, variant)
        run_id = out.get("flow_run_id")
        if not run_id:
            sys.exit(f"{variant}: the command did not go through the stack: {out}")
        if wait_final(self.api_url, run_id) != "COMPLETED":
            sys.exit(f"{variant}: flow run {run_id} did not complete")
        check_launched(self.db, cid, self.visits, variant)
        if record:
            self.results[variant].seconds.append(seconds)
            if variant != "no-wait":
                self.results[variant].phases.append(
                    phases(start, end, state_times(self.api_url, run_id)))
            else:
                created = state_times(self.api_url, run_id)["SCHEDULED"]
                self.results[variant].extra.append({"cli": created - start,
                                                    "after": end - created})

    def in_process(self) -> None:
        """The command with the stack's server configured but no stack found for its data
        folder: the flow runs in the command's process, reporting to the stack's server."""
        cid = next(self.campaigns)
        env = {**self.env, "PREFECT_API_URL": self.api_url}
        _s, _e, seconds, out = self._child(
            [sys.executable, *self.launch_cmd(cid, work=self.work / "in-process")],
            "in-process", env)
        if "flow_run_id" in out:
            sys.exit(f"in-process: the command went through the stack: {out}")
        check_launched(self.db, cid, self.visits, "in-process")
        self.results["in-process"].seconds.append(seconds)

    def no_stack(self) -> None:
        cid = next(self.campaigns)
        _s, _e, seconds, out = self._child(
            [sys.executable, *self.launch_cmd(cid, work=self.work / "no-stack")], "no-stack")
        if "flow_run_id" in out:
            sys.exit(f"no stack: the command went through a stack: {out}")
        check_launched(self.db, cid, self.visits, "no stack")
        self.results["no-stack"].seconds.append(seconds)


def engine_imports(env: dict[str, str], runs: int) -> float:
    """Median seconds of ``python -c 'import prefect.engine, flows.launch'`` (what the worker's
    flow-run process imports before the flow starts) and of ``python -c pass``, subtracted."""
    import subprocess

    def wall(code: str) -> float:
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True, env=env,
                           cwd=Path(__file__).resolve().parent.parent)
            times.append(time.perf_counter() - t)
        return statistics.median(times)

    return wall(ENGINE_IMPORTS) - wall("pass")


def med(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def main() -> None:
    ap = arg_parser(__doc__)
    ap.add_argument("--runs", type=int, default=5, help="timed launches of each kind")
    ap.add_argument("--visits", type=int, default=12, help="visits of each small campaign")
    ap.add_argument("--businesses", type=int, default=1_500)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--work-dir", "--workdir", dest="work_dir", type=Path, default=None)
    ap.add_argument("--prefect-port", type=int, default=9201)
    ap.add_argument("--api-port", type=int, default=9202)
    args = ap.parse_args()
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    add_root_to_path()

    work = work_folder(args.work_dir, "flowbench-cost-").resolve()
    env = stack_env(work, work / "prefect-home")
    db = work / "cost.db"
    t = time.perf_counter()
    load_before = os.getloadavg()
    teams, members = setup_registers(db, work, businesses=args.businesses, seed=args.seed,
                                     env=env)
    per_round = len(VARIANTS)
    campaigns = create_campaigns(db, work, title="基准测试：流程固定开销", visits=args.visits,
                                 teams=teams, members=members, count=1 + per_round * args.runs,
                                 now=NOW)
    print(f"database ready: {args.businesses:,} businesses, {len(campaigns)} draft campaigns of "
          f"{args.visits} visits ({time.perf_counter() - t:.1f} s, not timed)")
    bench = Bench(db, work, env, campaigns, args.visits)

    t = time.perf_counter()
    with stack_up(db, work, prefect_port=args.prefect_port, api_port=args.api_port, workers=1,
                  now=NOW, env=env) as state:
        bench.api_url = state.prefect_api_url
        print(f"stack up: {state.ui_url}, 1 worker ({time.perf_counter() - t:.1f} s, not "
              "timed)")
        bench.through_stack("wait", record=False)  # warm-up
        round_steps: list[Callable[[], None]] = [
            bench.direct, lambda: bench.through_stack("wait"),
            lambda: bench.through_stack("no-wait"), bench.in_process]
        for _ in range(args.runs):
            for step in round_steps:
                step()
    for _ in range(args.runs):
        bench.no_stack()
    imports_s = engine_imports(env, max(3, args.runs))
    load_after = os.getloadavg()

    r = bench.results
    direct = med(r["direct"].seconds)
    print(f"\nlaunch of a small campaign ({args.visits} visits, {args.businesses:,} businesses), "
          f"{args.runs} run(s) each; {os.cpu_count()} cores")
    print(f"{'':38}{'median':>9}{'min':>9}{'over direct (median)':>24}")
    for v in VARIANTS:
        xs = r[v].seconds
        over = med(xs) - direct
        goal = ""
        if v in ("wait", "no-wait", "in-process"):
            goal = f"  goal <= {GOAL} s: {'met' if over <= GOAL else 'MISSED'}"
        print(f"{LABELS[v]:38}{med(xs):8.2f}s{min(xs):8.2f}s"
              f"{'' if v == 'direct' else f'{over:+22.2f} s'}{goal}")
    ex = r["direct"].extra
    print(f"  direct, inside its process: imports {med([e['imports'] for e in ex]):.2f} s, "
          f"launch {med([e['launch'] for e in ex]):.2f} s (the rest is interpreter start/exit)")
    print(f"where the time goes, {LABELS['wait']} (medians, from the run's states):")
    for key, label in PHASES:
        print(f"  {label:36}{med([p[key] for p in r['wait'].phases]):8.2f} s")
    nw = r["no-wait"].extra
    print(f"--no-wait: command start -> run created {med([e['cli'] for e in nw]):.2f} s, "
          f"created -> exit {med([e['after'] for e in nw]):.2f} s")
    print(f"imports of a flow-run process (prefect.engine + flows.launch, minus `python -c pass`)"
          f" {imports_s:.2f} s")
    print(f"load average (1 min)                  {load_before[0]:.2f} at the start, "
          f"{load_after[0]:.2f} at the end (other work on the machine skews every figure)")
    print(f"work folder                           {work}")
    print_json({
        "runs": args.runs, "visits": args.visits, "cores": os.cpu_count(),
        **{f"{v}_median_s": med(r[v].seconds) for v in VARIANTS},
        **{f"{v}_min_s": min(r[v].seconds) for v in VARIANTS},
        "wait_over_direct_s": med(r["wait"].seconds) - direct,
        "no_wait_over_direct_s": med(r["no-wait"].seconds) - direct,
        **{f"wait_{k}_s": med([p[k] for p in r["wait"].phases]) for k, _ in PHASES},
        "engine_imports_s": imports_s, "load_before": load_before[0],
        "load_after": load_after[0]})


if __name__ == "__main__":
    main()
