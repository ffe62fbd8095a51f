"""Benchmark: `lookback notices issue` of 1,000 rectification orders on the local stack with 2
workers against 1 worker, in one run. Goal: 2 workers >= 1.7x as fast, on 2 cores.

    python bench/notice_workers.py              # 1,000 rectification orders
    python bench/notice_workers.py --notices 20 # what CI runs

Setup (not timed), as bench/notices.py does it (its functions): a fresh SQLite database in the
work folder (`lookback init`), registers from `lookback registry generate` (max(6,000, 3 x
--notices) businesses) imported with `lookback registry import`, a campaign of --notices visits
launched directly with ``domain.campaigns.launch`` (no Prefect), and one owner interview per visit
failing 1, 2 or 3 items, so that every drawn business has open issues: --notices rectification
orders to issue. Then a copy of that database (SQLite backup API) for each configuration, each
with its own data folder (its own stack state, Prefect server database and logs).

Each configuration: `lookback up --workers W --worker-limit K` on its copy (Prefect server, W
workers of the pool `lookback`, API, scheduler), until its W workers are online; then `lookback
--json notices issue --campaign C --kind rectification_order` (it waits), a child process timed
end to end; then `lookback down`. With the stack the command fans out: the parent `issue-notices`
run numbers and records the notices, splits the pending ones into chunks and submits each as a
`render-notices` flow run (render, store the PDFs), workers x K at a time; any worker takes them.

Fairness. Both configurations give each worker the same capacity: K chunk runs at once
(--chunk-runs, default 1: one rendering process per worker, so 1 worker renders on one core and 2
workers on two), plus one slot for the parent run, which only waits while its chunks run
(`--worker-limit K`: each worker `--limit K+1`, the batch fanned out over workers x K chunk runs).
Without it the default limit, max(2, cores) per worker with the parent's slot taken from the
chunks', would give 1 worker 1 chunk run at once and 2 workers 3. The two runs use identical
databases, the same Prefect home and the same command; they run one after the other, 1 worker
first, with no other stack of ours up. Within the 2-worker run, which worker takes which chunk is
Prefect's choice; the peak of concurrent chunk runs, in all and per worker, is printed from the
runs' start and end times and the workers' `executed-flow-run` events.

Checks, in both configurations (exit 1 otherwise): the command says --notices issued; the
database holds exactly --notices rectification orders, numbered 1..N without gap or duplicate,
all issued with a PDF, and no issue left open; the numbers the command printed are distinct and
their serials 1..N; every chunk run completed and the chunks' ids add up to --notices.

Also printed: the chunks (Prefect's fan-out: about two chunks per slot, 10 to 200 notices each)
and the best ratio their split allows (the busiest slot's notices, 1 worker over 2), the CPU time (user + system) each part of the stack used
during the command (the Prefect server; each worker with the flow runs it spawned; the API and
the scheduler; the CLI), and the load average.

Set BENCH_JSON=1 to also print the figures as one JSON line.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from _common import (
    add_root_to_path,
    arg_parser,
    backup,
    print_json,
    stack_env,
    stack_up,
    timed_child,
    tree_cpu_s,
    work_folder,
)
from notices import NOW, issue_cmd, record_fieldwork, setup_campaign, stored

GOAL = 1.7


@dataclass
class Outcome:
    """One configuration's run."""

    workers: int
    seconds: float
    flow_s: float  # the command's own figure: the flow, as it times it
    chunks: list[dict[str, Any]]  # the render-notices runs: size, start, end, worker
    parent_s: float  # the issue-notices run, RUNNING to COMPLETED
    cpu: dict[str, float]  # CPU seconds by part during the command
    load: tuple[float, float]  # 1-min load average before and after


def chunk_runs(api_url: str) -> tuple[list[dict[str, Any]], float]:
    """The server's render-notices runs (size, state, start, end, worker) and the seconds the
    issue-notices run spent running."""
    import httpx

    def runs(flow: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = httpx.post(
            f"{api_url}/flow_runs/filter", timeout=30,
            json={"flows": {"name": {"any_": [flow]}}, "limit": 200}).json()
        return found

    events = httpx.post(f"{api_url}/events/filter", timeout=30, json={
        "filter": {"event": {"name": ["prefect.worker.executed-flow-run"]}}, "limit": 200},
    ).json().get("events", [])
    by_run = {}  # flow run id -> the name of the worker that ran it
    for e in events:
        for rel in e.get("related", []):
            if rel["prefect.resource.id"].startswith("prefect.flow-run."):
                by_run[rel["prefect.resource.id"].removeprefix("prefect.flow-run.")] = \
                    e["resource"].get("prefect.resource.name", e["resource"]["prefect.resource.id"])

    def at(value: str | None) -> float:
        return datetime.fromisoformat(value).timestamp() if value else math.nan

    chunks = [{"size": len(r["parameters"]["ids"]), "state": r["state"]["type"],
               "start": at(r["start_time"]), "end": at(r["end_time"]),
               "worker": by_run.get(r["id"], "?")} for r in runs("render-notices")]
    parents = runs("issue-notices")
    parent_s = sum(at(r["end_time"]) - at(r["start_time"]) for r in parents)
    return chunks, parent_s


def peak(intervals: list[tuple[float, float]]) -> int:
    """The most intervals open at once."""
    edges = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    now = best = 0
    for _, d in edges:
        now += d
        best = max(best, now)
    return best


def check(db: Path, campaign: int, n: int, issues: int, summary: dict[str, Any],
          chunks: list[dict[str, Any]], label: str) -> None:
    """Exit unless exactly ``n`` notices were issued, numbered 1..n, none twice."""
    rows, still_open, notified = stored(db, campaign)
    problems = []
    if summary.get("issued_now") != n or summary.get("total") != n:
        problems.append(f"the command says issued_now {summary.get('issued_now')}, total "
                        f"{summary.get('total')}")
    if [r[0] for r in rows] != list(range(1, n + 1)):
        problems.append(f"{len(rows)} notices stored, numbered {rows[0][0] if rows else '-'}.."
                        f"{rows[-1][0] if rows else '-'} (not 1..{n} once each)")
    if {r[1] for r in rows} != {"issued"} or any(not r[3] for r in rows):
        problems.append("not every notice is issued with a PDF")
    if still_open or notified != issues:
        problems.append(f"{still_open} issues still open, {notified} notified of {issues}")
    numbers = summary.get("numbers", [])
    serials = sorted(int(x.rsplit("〕", 1)[-1].rstrip("号")) for x in numbers)
    if len(set(numbers)) != len(numbers) or serials != list(range(1, n + 1)):
        problems.append(f"the command printed {len(numbers)} numbers, {len(set(numbers))} "
                        "distinct, not serials 1..N")
    if any(c["state"] != "COMPLETED" for c in chunks) or \
            sum(c["size"] for c in chunks if c["state"] == "COMPLETED") != n:
        problems.append("chunk runs: " + ", ".join(f"{c['size']} {c['state']}" for c in chunks))
    if problems:
        sys.exit(f"{label}: " + "; ".join(problems))


def run_config(master: Path, work: Path, env: dict[str, str], campaign: int, n: int,
               issues: int, *, workers: int, chunk_runs_per_worker: int, ports: tuple[int, int]
               ) -> Outcome:
    label = f"{workers} worker{'s' if workers > 1 else ''}"
    work.mkdir(parents=True, exist_ok=True)
    db = work / "notices.db"
    backup(master, db)
    with stack_up(db, work, prefect_port=ports[0], api_port=ports[1], workers=workers,
                  worker_limit=chunk_runs_per_worker, now=NOW, env=env) as state:
        if state.slots != workers * chunk_runs_per_worker + 1:
            sys.exit(f"{label}: the stack offers {state.slots} slots; expected "
                     f"{workers * chunk_runs_per_worker + 1}")
        parts = {p.name: p.pid for p in state.parts}
        load0 = os.getloadavg()[0]
        cpu0 = {name: tree_cpu_s(pid) for name, pid in parts.items()}
        out, err = work / "issue.json", work / "issue.stderr"
        m = timed_child(issue_cmd(db, work, campaign, None), out, err, env=env)
        cpu = {name: tree_cpu_s(pid) - cpu0[name] for name, pid in parts.items()}
        cpu["cli"] = m.cpu_s
        load1 = os.getloadavg()[0]
        if m.code != 0:
            sys.exit(f"{label}: notices issue failed ({m.code}):\n{out.read_text()}"
                     f"{err.read_text()[-3000:]}")
        summary = json.loads(out.read_text())
        chunks, parent_s = chunk_runs(state.prefect_api_url)
    check(db, campaign, n, issues, summary, chunks, label)
    return Outcome(workers, m.seconds, summary["seconds"], chunks, parent_s, cpu, (load0, load1))


def _busiest_slot(o: Outcome, slots: int) -> int:
    """Notices the busiest of ``slots`` chunk slots renders when the chunks are taken in order
    by whichever slot is free (equal speed: round robin)."""
    loads = [0] * slots
    for n, c in enumerate(o.chunks):
        loads[n % slots] += c["size"]
    return max(loads)


def describe(o: Outcome, fan_out: int) -> str:
    sizes = sorted({c["size"] for c in o.chunks}, reverse=True)
    rounds = math.ceil(len(o.chunks) / fan_out)
    workers = sorted({c["worker"] for c in o.chunks})
    per_worker = ", ".join(
        f"{w.rsplit('-', 1)[-1] if w != '?' else '?'}: "
        f"{sum(1 for c in o.chunks if c['worker'] == w)} chunks, peak "
        f"{peak([(c['start'], c['end']) for c in o.chunks if c['worker'] == w])}"
        for w in workers)
    return (f"{len(o.chunks)} chunks of {'/'.join(map(str, sizes))}, {fan_out} at a time: "
            f"{rounds} rounds; peak concurrent chunk runs "
            f"{peak([(c['start'], c['end']) for c in o.chunks])} (by worker {per_worker})")


def main() -> None:
    ap = arg_parser(__doc__)
    ap.add_argument("--notices", type=int, default=1_000, help="rectification orders to issue")
    ap.add_argument("--chunk-runs", type=int, default=1,
                    help="chunk runs each worker runs at once (`lookback up --worker-limit`)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--work-dir", "--workdir", dest="work_dir", type=Path, default=None)
    ap.add_argument("--port-base", type=int, default=9210,
                    help="the stacks' ports: BASE+1, +2 (1 worker) and BASE+3, +4 (2 workers)")
    args = ap.parse_args()
    if args.notices < 1:
        ap.error("--notices must be at least 1")
    if args.chunk_runs < 1:
        ap.error("--chunk-runs must be at least 1")
    add_root_to_path()

    work = work_folder(args.work_dir, "flowbench-workers-").resolve()
    env = stack_env(work, work / "prefect-home")
    master = work / "master.db"
    n, k = args.notices, args.chunk_runs
    businesses = max(6_000, 3 * n)
    load_start = os.getloadavg()
    t = time.perf_counter()
    cid, visits = setup_campaign(master, work, env, visits=n, businesses=businesses,
                                 seed=args.seed)
    issues = record_fieldwork(master, work, visits, args.seed)
    print(f"database ready: {businesses:,} businesses, campaign {cid} launched with {n:,} visits, "
          f"{issues:,} open issues ({time.perf_counter() - t:.1f} s, not timed)")

    outcomes = []
    for workers in (1, 2):
        base = args.port_base + 1 + 2 * (workers - 1)
        o = run_config(master, work / f"workers-{workers}", env, cid, n, issues,
                       workers=workers, chunk_runs_per_worker=k, ports=(base, base + 1))
        outcomes.append(o)
        print(f"{workers} worker(s): {o.seconds:.2f} s, checked ({describe(o, workers * k)})")
    one, two = outcomes
    ratio = one.seconds / two.seconds
    best = _busiest_slot(one, k) / _busiest_slot(two, 2 * k)
    load_end = os.getloadavg()

    print(f"\nrectification orders issued        {n:>10,}   (issues in them {issues:,}); "
          f"{os.cpu_count()} cores, {k} chunk run(s) per worker")
    for o in outcomes:
        print(f"{o.workers} worker{'s' if o.workers > 1 else ' '}, notices issue --wait   "
              f"{o.seconds:10.2f} s  ({o.seconds / n * 1000:,.0f} ms/notice; the flow as the "
              f"command times it {o.flow_s:.2f} s, the parent run {o.parent_s:.2f} s)")
    print(f"ratio (1 worker / 2 workers)       {ratio:10.2f}    goal >= {GOAL}: "
          f"{'met' if ratio >= GOAL else 'MISSED'}")
    print(f"best the chunks' split allows      {best:10.2f}    (notices of the busiest chunk slot, "
          "1 worker / 2 workers, if only rendering counted)")
    for o in outcomes:
        shown = ", ".join(f"{name} {s:.1f}" for name, s in o.cpu.items())
        print(f"CPU seconds, {o.workers} worker(s)            {sum(o.cpu.values()):10.1f} s  "
              f"({shown}; wall {o.seconds:.1f} s x {os.cpu_count()} cores = "
              f"{o.seconds * (os.cpu_count() or 1):.1f} core-s)")
    print(f"load average (1 min)               {load_start[0]:10.2f} at the start, "
          + ", ".join(f"{o.load[0]:.2f}/{o.load[1]:.2f} before/after {o.workers} worker(s)"
                      for o in outcomes)
          + f", {load_end[0]:.2f} at the end (other work on the machine skews every figure)")
    print(f"work folder                        {work}")
    print_json({
        "notices": n, "issues": issues, "chunk_runs_per_worker": k, "cores": os.cpu_count(),
        "one_worker_s": one.seconds, "two_workers_s": two.seconds, "ratio": ratio,
        "best_ratio_by_split": best, "chunks_one": len(one.chunks),
        "chunks_two": len(two.chunks), "cpu_one": one.cpu, "cpu_two": two.cpu,
        "load_start": load_start[0], "load_end": load_end[0]})


if __name__ == "__main__":
    main()
