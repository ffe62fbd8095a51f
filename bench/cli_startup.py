"""How long the CLI takes to answer: ``lookback --help`` and ``lookback issue show N``, side by
side with ``python -c pass`` (the interpreter's own start, the floor of any command), in one run.

Each command is the installed entry point's code path (``python -m lookback.cli``, which calls
the same ``main()``), run as a fresh child process ``--runs`` times; the best and the median wall
times are printed, with the goal (``--help`` ≤ 0.35 s, ``issue show`` ≤ 0.7 s) and the ratio to
the floor. Also printed: how many modules each command loads, and whether it loaded SQLAlchemy,
Prefect, FastAPI, WeasyPrint or httpx.

    python bench/cli_startup.py [--runs 7] [--businesses 1500]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from _common import ROOT, SETUP_NOW, add_root_to_path, launch_campaign, print_json

HEAVY = ("sqlalchemy", "prefect", "fastapi", "weasyprint", "httpx")
PROBE = ("import runpy, sys, json\n"
         "sys.argv = ['lookback', *json.loads(sys.argv[1])]\n"
         "try:\n"
         "    runpy.run_module('lookback.cli', run_name='__main__')\n"
         "except SystemExit:\n"
         "    pass\n"
         "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n")


def wall(cmd: list[str], runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, cwd=ROOT, check=False)
        times.append(time.perf_counter() - t)
        if done.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed: {done.stderr.decode()[-500:]}")
    return min(times), statistics.median(times)


def modules(args: list[str]) -> list[str]:
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], capture_output=True,
                          text=True, cwd=ROOT, check=False)
    loaded: list[str] = json.loads(done.stderr.strip().splitlines()[-1])
    return loaded


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--businesses", type=int, default=1500)
    args = ap.parse_args()
    add_root_to_path()
    from domain import fieldwork as fw
    from domain.clock import FixedClock
    from domain.vocabulary import CATEGORIES
    from flows.wiring import engine_for, uow_for
    from storage.calendar import ChineseCalendarSource

    work = Path(tempfile.mkdtemp(prefix="bench-cli-"))
    db = work / "lookback.db"
    c = launch_campaign(db, work, title="基准测试：命令行启动", visits=12,
                        businesses=args.businesses, seed=5)
    url = f"sqlite:///{db}"
    clock = FixedClock(datetime.fromisoformat(SETUP_NOW))
    issue = fw.add_issue(c.visits[0].id, category="records", severity="general",
                         description="进货查验记录缺失", evidence=[], team=None,
                         actor="bench", uow_factory=uow_for(url), clock=clock,
                         calendar=ChineseCalendarSource(work / "data"), categories=CATEGORIES, provision=1)
    engine_for(url).dispose()

    py = sys.executable
    cases = {
        "python -c pass (floor)": ([py, "-c", "pass"], None, []),
        "lookback --help": ([py, "-m", "lookback.cli", "--help"], 0.35, ["--help"]),
        f"lookback issue show {issue}": (
            [py, "-m", "lookback.cli", "--db", str(db), "--lang", "en", "issue", "show",
             str(issue)], 0.7, ["--db", str(db), "issue", "show", str(issue)]),
    }
    figures: dict[str, object] = {"runs": args.runs}
    floor = None
    print(f"{'command':<32} {'best':>7} {'median':>7} {'× floor':>8} {'goal':>7} {'modules':>8}  "
          "heavy libraries loaded")
    for name, (cmd, goal, probe) in cases.items():
        best, median = wall(cmd, args.runs)
        floor = floor or best
        loaded = modules(probe) if probe else []
        heavy = sorted({m.split(".")[0] for m in loaded if m.split(".")[0] in HEAVY})
        met = "" if goal is None else ("met" if best <= goal else "NOT met")
        print(f"{name:<32} {best:7.3f} {median:7.3f} {best / floor:8.1f} "
              f"{'' if goal is None else f'≤{goal}':>7} {len(loaded) or '':>8}  "
              f"{', '.join(heavy) or '—'} {met}")
        figures[name] = {"best_s": round(best, 3), "median_s": round(median, 3),
                         "modules": len(loaded), "heavy": heavy, "goal_s": goal}
    print_json(figures)


if __name__ == "__main__":
    main()
