"""Benchmark: the draw against its hashing floor, and a launch with and without Prefect.

    python bench/draw.py                                   # the issue's size (1-2 minutes)
    python bench/draw.py --frame 20000 --sample 500 --launch-businesses 3000 --launch-sample 300
                                                           # what CI runs (well under a minute)

1. Draw. An in-memory frame of --frame businesses (``FrameBusiness``; real region codes from the
   bundled snapshot, provinces weighted by population, deterministic, no database) and ~2,000
   inspectors with home cities. Timed: ``domain.sampling.draw`` for a stratified sample of
   --sample businesses (strata province x risk_level, proportional allocation, 20 teams of 3,
   avoidance by city). The floor, in the same run: a plain loop computing
   ``unit_key(seed, "business", stratum, uscc)`` for every unit of the frame (the strata are
   worked out before the timer starts). Each is timed --repeat times, interleaved, and the best
   kept. Goal: draw / floor <= 1.5. Inspectors' home cities are spread so that no city has as
   many inspectors as there are teams, so avoidance can never leave a business without a team.

2. Launch. A fresh SQLite database (`lookback init`), registers from `lookback registry generate`
   (--launch-businesses) imported with `lookback registry import`, a plan (one business stage,
   strata ["province"], total --launch-sample, exclusion_days 0, enough teams that avoidance cannot
   fail) and three campaigns from ``create_campaign``. Timed: ``domain.campaigns.launch`` (c1);
   Prefect's one-time costs (import, starting the temporary local server, a first trivial flow);
   ``flows.launch.launch_campaign`` (c2) with the server up; and ``launch`` again (c3) to show
   how much of any difference is only the order of the runs. Goal: Prefect adds <= 30% per launch.
   Prefect runs against a temporary PREFECT_HOME in the work folder (a cold first start) unless
   PREFECT_HOME or --prefect-home is given.

Set BENCH_JSON=1 to also print the figures as one JSON line; --profile prints where the draw's time
goes (cProfile, top functions by own time).
"""

from __future__ import annotations

import argparse
import bisect
import cProfile
import os
import pstats
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from _common import (
    arg_parser,
    lookback,
    plan_toml,
    print_json,
    remove_database,
    team_spec,
    work_folder,
)

from domain import uscc
from domain.regions import RegionLevel, city_of
from domain.sampling import (
    DrawParams,
    FrameBusiness,
    FrameInspector,
    draw,
    stratum_of,
    unit_key,
)

SEED = "20260101"
STRATA = ["province", "risk_level"]
RISK_CUM = (0.30, 0.72, 0.93, 1.0)  # A, B, C, D


# --- part 1: the draw ---------------------------------------------------------------------------

def build_frame(n_businesses: int, n_inspectors: int, teams: int,
                seed: int = 7) -> tuple[list[FrameBusiness], list[FrameInspector]]:
    """A deterministic synthetic frame: businesses in real counties, inspectors in real cities."""
    from storage.regions import read_snapshot
    from storage.synthetic import PROVINCE_WEIGHTS

    regions = list(read_snapshot())
    has_child = {r.parent_code for r in regions if r.parent_code}
    leaves: dict[str, list[str]] = {}
    for r in regions:
        if r.level is not RegionLevel.PROVINCE and r.code not in has_child:
            leaves.setdefault(r.code[:2], []).append(r.code)
    provinces = [p for p in sorted(PROVINCE_WEIGHTS) if p in leaves]
    cum, acc = [], 0.0
    for p in provinces:
        acc += PROVINCE_WEIGHTS[p]
        cum.append(acc)
    rng = random.Random(seed)
    rand = rng.random
    alphabet = uscc.ALPHABET
    businesses = []
    for i in range(n_businesses):
        p = provinces[min(bisect.bisect_right(cum, rand() * acc), len(provinces) - 1)]
        cands = sorted(leaves[p])
        leaf = cands[min(int(rand() * len(cands)), len(cands) - 1)]
        # The organisation code is the running number in base 31: unique by construction.
        org, k = [], i
        for _ in range(9):
            k, d = divmod(k, 31)
            org.append(alphabet[d])
        body = "91" + leaf + "".join(reversed(org))
        risk = "ABCD"[bisect.bisect_right(RISK_CUM, rand())]
        businesses.append(FrameBusiness(body + uscc.check_char(body), leaf, "catering", risk))
    # Inspectors: home cities dealt round-robin over the cities in a shuffled order, so no city
    # holds more than ceil(n / cities) of them; fewer than `teams` means avoidance cannot fail.
    cities = sorted({city_of(code) for codes in leaves.values() for code in codes})
    rng.shuffle(cities)
    per_city: Counter[str] = Counter()
    inspectors = []
    for i in range(n_inspectors):
        home = cities[i % len(cities)]
        per_city[home] += 1
        inspectors.append(FrameInspector(f"J{home}{per_city[home]:04d}", home))
    worst = max(per_city.values())
    if worst >= teams:
        sys.exit(f"{worst} inspectors share a home city; with {teams} teams avoidance could fail")
    return businesses, inspectors


def draw_params(sample: int, teams: int, members: int) -> DrawParams:
    return DrawParams(seed=SEED, stages=[{"unit": "business"}], provinces=[], total=sample,
                      fraction=None, per_stratum=None, strata=list(STRATA),
                      allocation="proportional", min_per_stratum=0,
                      risk_weights={"A": 1, "B": 2, "C": 3, "D": 4}, teams=teams,
                      members=members, avoidance="city")


def floor_loop(pairs: list[tuple[str, str]]) -> float:
    """The floor: one keyed hash per unit of the frame, nothing else."""
    seed = SEED
    key = unit_key
    t = time.perf_counter()
    for h, u in pairs:
        key(seed, "business", h, u)
    return time.perf_counter() - t


def bench_draw(args: argparse.Namespace) -> dict[str, Any]:
    teams, members = 20, 3
    t = time.perf_counter()
    businesses, inspectors = build_frame(args.frame, args.inspectors, teams)
    print(f"built a frame of {len(businesses):,} businesses and {len(inspectors):,} inspectors "
          f"in {time.perf_counter() - t:.1f} s (not timed)")
    params = draw_params(args.sample, teams, members)
    pairs = [(stratum_of(b, STRATA), b.uscc) for b in businesses]
    strata = len({h for h, _ in pairs})

    floor_s, draw_s = float("inf"), float("inf")
    result = None
    for _ in range(args.repeat):
        floor_s = min(floor_s, floor_loop(pairs))
        t = time.perf_counter()
        result = draw(params, businesses, inspectors)
        draw_s = min(draw_s, time.perf_counter() - t)
    assert result is not None
    assert len(result.businesses) == args.sample, len(result.businesses)
    assert len(result.assignments) == args.sample
    loads = Counter(result.assignments.values())
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        draw(params, businesses, inspectors)
        prof.disable()
        print("\nwhere the draw's time goes (cProfile, by own time; profiling slows it down):")
        pstats.Stats(prof).sort_stats("tottime").print_stats(15)
    return {"frame": len(businesses), "inspectors": len(inspectors), "sample": args.sample,
            "strata": strata, "teams": teams, "members": members,
            "team_load": [min(loads.values()), max(loads.values())],
            "draw_s": draw_s, "floor_s": floor_s, "ratio": draw_s / floor_s}


# --- part 2: the launch -------------------------------------------------------------------------

def bench_launch(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    # Prefect reads these when it is first imported, which is below, after they are set.
    os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ.pop("PREFECT_API_URL", None)
    if args.prefect_home:
        os.environ["PREFECT_HOME"] = str(args.prefect_home)
    elif "PREFECT_HOME" not in os.environ:
        os.environ["PREFECT_HOME"] = str(work / "prefect-home")

    from domain.campaigns import create_campaign, launch
    from domain.clock import SystemClock
    from flows.wiring import uow_for

    db_path = work / "launch.db"
    remove_database(db_path)
    url = f"sqlite:///{db_path}"
    regs = work / "registers"
    figures: dict[str, Any] = {"businesses": args.launch_businesses, "sample": args.launch_sample}

    t = time.perf_counter()
    lookback("init", db=url, work=work)
    lookback("registry", "generate", "--businesses", str(args.launch_businesses), "--seed", "7",
             "--out", str(regs), db=url, work=work)
    figures["generate_s"] = time.perf_counter() - t
    t = time.perf_counter()
    for kind in ("businesses", "inspectors"):
        summary = lookback("registry", "import", str(regs / f"{kind}.csv"), "--kind", kind, db=url,
                           work=work)
        figures[f"imported_{kind}"] = summary.get("inserted")
    figures["import_s"] = time.perf_counter() - t
    teams, members, active = team_spec(regs / "inspectors.csv")
    figures.update(teams=teams, members=members, active_inspectors=active)
    print(f"launch database ready ({args.launch_businesses:,} businesses, {active} active "
          f"inspectors; generate {figures['generate_s']:.1f} s, import "
          f"{figures['import_s']:.1f} s, not timed); plan: {teams} teams of {members}")

    uow = uow_for(url)
    clock = SystemClock()
    plan = plan_toml(title=f"基准测试 {args.launch_sample}", total=args.launch_sample,
                     teams=teams, members=members, seed='"auto"')
    (work / "plan.toml").write_text(plan, encoding="utf-8")
    c1, c2, c3 = (create_campaign(plan, source=str(work / "plan.toml"), uow_factory=uow,
                                  clock=clock, new_seed=lambda: "1") for _ in range(3))

    t = time.perf_counter()
    launch(c1, uow_factory=uow, clock=clock)
    figures["direct_s"] = time.perf_counter() - t

    t = time.perf_counter()
    from prefect import flow
    from prefect.server.api.server import SubprocessASGIServer

    from flows.launch import launch_campaign
    os.environ["LOOKBACK_DATABASE_URL"] = url  # the flow's database: the worker's setting
    figures["prefect_import_s"] = time.perf_counter() - t

    @flow(name="bench-warm-up")
    def warm_up() -> int:
        return 1

    server = SubprocessASGIServer()
    try:
        t = time.perf_counter()
        server.start()
        figures["prefect_server_start_s"] = time.perf_counter() - t
        t = time.perf_counter()
        assert warm_up() == 1
        figures["prefect_first_flow_s"] = time.perf_counter() - t

        t = time.perf_counter()
        result = launch_campaign(c2, None)
        figures["prefect_s"] = time.perf_counter() - t
        assert result["sampled"] == args.launch_sample, result
    finally:
        server.stop()

    t = time.perf_counter()
    launch(c3, uow_factory=uow, clock=clock)
    figures["direct_again_s"] = time.perf_counter() - t

    picks = []
    with uow() as u:
        for cid in (c1, c2, c3):
            counts = u.campaigns.counts(cid)
            record = u.campaigns.get_record(cid)
            assert counts is not None and record is not None
            if not (counts.sampled == counts.visits_planned == args.launch_sample
                    and counts.campaign.status == "launched"):
                sys.exit(f"campaign {cid}: {counts.sampled} sampled, {counts.visits_planned} "
                         f"visits planned, status {counts.campaign.status}; expected "
                         f"{args.launch_sample} launched")
            picks.append(sorted(p["unit"] for p in record["stages"][-1]["chosen"]))
    if not picks[0] == picks[1] == picks[2]:
        sys.exit("the campaigns drew different businesses from the same frame and seed")
    figures["visits_each"] = args.launch_sample
    figures["overhead_pct"] = 100 * (figures["prefect_s"] / figures["direct_s"] - 1)
    return figures


# --- main ---------------------------------------------------------------------------------------

def main() -> None:
    ap = arg_parser(__doc__)
    ap.add_argument("--frame", type=int, default=1_000_000, help="businesses in the draw's frame")
    ap.add_argument("--sample", type=int, default=10_000, help="businesses to draw")
    ap.add_argument("--inspectors", type=int, default=2_000, help="inspectors in the frame")
    ap.add_argument("--repeat", type=int, default=3, help="time the draw and the floor N times "
                    "each (interleaved), keep the best")
    ap.add_argument("--profile", action="store_true", help="profile one more draw")
    ap.add_argument("--launch-businesses", type=int, default=200_000,
                    help="registry size for the launch part")
    ap.add_argument("--launch-sample", type=int, default=10_000, help="businesses to launch")
    ap.add_argument("--skip-launch", action="store_true", help="only the draw benchmark")
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--prefect-home", type=Path, default=None,
                    help="PREFECT_HOME for the launch part (default: a fresh one in the workdir)")
    args = ap.parse_args()
    if args.repeat < 1 or args.sample < 1 or args.sample > args.frame:
        ap.error("need 1 <= --sample <= --frame and --repeat >= 1")

    load_before = os.getloadavg()[0]
    d = bench_draw(args)
    print(f"draw {d['draw_s']:.2f} s, floor {d['floor_s']:.2f} s (best of {args.repeat})")
    lf = None
    if not args.skip_launch:
        work = work_folder(args.workdir, "lookback-bench-draw-")
        lf = bench_launch(args, work)

    load = (load_before, os.getloadavg()[0])
    print()
    print(f"machine: {os.cpu_count()} CPUs, load average {load[0]:.1f} at the start and "
          f"{load[1]:.1f} at the end (other work on the machine makes the figures noisy)")
    print(f"draw: frame {d['frame']:,} businesses, {d['inspectors']:,} inspectors, "
          f"{d['strata']} strata (province x risk_level), sample {d['sample']:,}, "
          f"{d['teams']} teams of {d['members']} (visits per team {d['team_load'][0]}-"
          f"{d['team_load'][1]})")
    print(f"  domain.sampling.draw                  {d['draw_s']:8.2f} s")
    print(f"  floor: unit_key for every unit        {d['floor_s']:8.2f} s")
    print(f"  ratio (draw / floor)                  {d['ratio']:8.2f}   goal <= 1.5")
    if lf is not None:
        print(f"launch: registry {lf['businesses']:,} businesses, {lf['active_inspectors']} "
              f"active inspectors, sample {lf['sample']:,}, {lf['teams']} teams of "
              f"{lf['members']}; {lf['visits_each']:,} visits planned in each campaign")
        print(f"  direct launch (c1)                    {lf['direct_s']:8.2f} s")
        print(f"  Prefect one-time: import              {lf['prefect_import_s']:8.2f} s")
        print(f"  Prefect one-time: start local server  {lf['prefect_server_start_s']:8.2f} s")
        print(f"  Prefect one-time: first trivial flow  {lf['prefect_first_flow_s']:8.2f} s")
        print(f"  Prefect launch_campaign (c2)          {lf['prefect_s']:8.2f} s")
        print(f"  direct launch again (c3)              {lf['direct_again_s']:8.2f} s")
        print(f"  Prefect overhead per launch (c2/c1)   {lf['overhead_pct']:+8.1f} % goal <= 30 %")
    print_json({"draw": d, "launch": lf, "load_average": load})


if __name__ == "__main__":
    main()
