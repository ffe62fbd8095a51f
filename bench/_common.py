"""What the benchmarks under bench/ share: the child-process CLI helper, the plan of a launched
campaign, the team size for a register, a local stack (`lookback up`) started and stopped, SQLite
set-up and copies, peak-RSS measurement, and the JSON line printed under BENCH_JSON.

bench/ is not a package: each script is run as ``python bench/X.py``, so Python puts bench/ first
on ``sys.path`` and the scripts ``import _common`` as a sibling module. Everything here is a plain
function or constant; nothing runs on import, and the project itself (``domain``, ``flows``,
``storage``) is imported only inside the functions that need it, after ``add_root_to_path()``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import pstats
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
"""The project folder: the working directory of every child process."""

ROLES = ("director", "officer", "owner", "cadre", "regulator")
"""The interviewee roles, in checklist order."""

SETUP_NOW = "2026-03-16T09:30:00+08:00"
"""A Monday within the plans' dates: when the campaigns are launched and the fieldwork recorded."""

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平"

PRAGMAS = ("journal_mode=WAL", "foreign_keys=ON", "synchronous=FULL", "busy_timeout=30000",
           "cache_size=-65536")
"""The pragmas storage.db._sqlite_on_connect sets on every connection of our engine."""

OFFICE, OFFICE_SHORT = "国务院食品安全委员会办公室", "食安办"

PLAN = """\
[campaign]
office = "{office}"
office_short = "{office_short}"
title = "{title}"
kind = "inspection"
starts_on = 2026-03-02
ends_on = 2026-04-30
seed = {seed}

[scope]
exclusion_days = 0

[[stages]]
unit = "business"

[sample]
total = {total}
strata = ["province"]
allocation = "proportional"

[teams]
count = {teams}
members = {members}
avoidance = "city"
"""
"""The plan of a benchmark campaign: one business stage, strata ["province"], exclusion_days 0;
filled in by ``plan_toml``."""


def plan_toml(*, title: str, total: int, teams: int, members: int, seed: str = "20260302",
              office: str = OFFICE, office_short: str = OFFICE_SHORT) -> str:
    """``PLAN`` filled in; ``seed`` is TOML as written (``'"auto"'`` for a drawn seed)."""
    return PLAN.format(office=office, office_short=office_short, title=title, seed=seed,
                       total=total, teams=teams, members=members)


# --- the project and the CLI --------------------------------------------------------------------

def add_root_to_path() -> None:
    """Make the project importable whether it is installed or not."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


def cli_args(*args: str, db: Path | str, work: Path | None = None, now: str | None = None,
             actor: str | None = None) -> list[str]:
    """``-m lookback.cli --db DB [--data-dir WORK/data] [--now NOW] [--actor ACTOR] --json
    ARGS``: the interpreter's arguments for one CLI command (put ``sys.executable`` first, or a
    profiler's options before them)."""
    return ["-m", "lookback.cli", "--db", str(db),
            *(["--data-dir", str(work / "data")] if work is not None else []),
            *(["--now", now] if now is not None else []),
            *(["--actor", actor] if actor is not None else []),
            "--json", *args]


def run_cli(*args: str, db: Path | str, work: Path | None = None,
            env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run one CLI command in a child process (in ROOT, output captured); whatever it returns."""
    cmd = [sys.executable, *cli_args(*args, db=db, work=work)]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, check=False)


def lookback(*args: str, db: Path | str, work: Path | None = None,
             env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Run the CLI in a child process (setup only); its JSON output. Exits on failure."""
    r = run_cli(*args, db=db, work=work, env=env)
    if r.returncode != 0:
        shown = cli_args(*args, db=db, work=work)[1:]  # from lookback.cli on
        sys.exit(f"{' '.join(shown)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    return json.loads(r.stdout) if r.stdout.strip() else {}


def team_spec(inspectors_csv: Path) -> tuple[int, int, int]:
    """(teams, members, active inspectors): more teams than active inspectors in any one home
    city, so every business has a team with nobody from its city."""
    from domain.regions import city_of

    with inspectors_csv.open(encoding="utf-8", newline="") as f:
        active = [r for r in csv.DictReader(f) if r["active"] == "yes"]
    worst = max(Counter(city_of(r["home_region"]) for r in active).values())
    teams = max(5, worst + 1)
    members = 3 if teams * 3 <= len(active) else 2
    if teams * members > len(active):
        sys.exit(f"{len(active)} active inspectors cannot fill {teams} teams of {members}")
    return teams, members, len(active)


@dataclass(frozen=True)
class Launched:
    """A launched campaign: its id, its visits (the store's rows, by id) and its teams."""

    campaign: int
    visits: list[Any]
    teams: int
    members: int


def launch_campaign(db: Path | str, work: Path, *, title: str, visits: int, businesses: int,
                    seed: int, now: str = SETUP_NOW, office: str = OFFICE,
                    office_short: str = OFFICE_SHORT,
                    env: Mapping[str, str] | None = None) -> Launched:
    """A fresh SQLite database ``db`` (`lookback init`) with registers of ``businesses``
    businesses (`registry generate`, then `registry import` of businesses and inspectors) and one
    campaign of ``visits`` visits from ``plan_toml`` (written to WORK/plan.toml), created with
    ``create_campaign`` and launched with ``domain.campaigns.launch`` (no Prefect) under a fixed
    clock at ``now``. No connection of ours stays open afterwards. Exits unless every visit was
    planned.

    ``db`` may also be a database URL (e.g. ``postgresql://...``): the same steps on it, which
    the caller must have emptied first (an SQLite file is deleted here; a server database is
    not touched before `lookback init`)."""
    from domain.campaigns import launch
    from domain.clock import FixedClock
    from flows.wiring import engine_for, uow_for

    teams, members = setup_registers(db, work, businesses=businesses, seed=seed, env=env)
    [cid] = create_campaigns(db, work, title=title, visits=visits, teams=teams, members=members,
                             count=1, now=now, office=office, office_short=office_short)
    url = f"sqlite:///{db}" if isinstance(db, Path) else db
    uow = uow_for(url)
    clock = FixedClock(datetime.fromisoformat(now))
    launch(cid, uow_factory=uow, clock=clock)  # type: ignore[arg-type]
    with uow() as u:
        counts = u.campaigns.counts(cid)
        found = u.fieldwork.list_visits(cid, team=None, status=None)
    engine_for(url).dispose()  # no connection of ours stays open during the timed runs
    assert counts is not None
    if counts.campaign.status != "launched" or counts.visits_planned != visits:
        sys.exit(f"campaign {cid}: status {counts.campaign.status}, {counts.visits_planned} "
                 f"visits planned; expected {visits} launched")
    return Launched(cid, sorted(found, key=lambda v: v.id), teams, members)


def setup_registers(db: Path | str, work: Path, *, businesses: int, seed: int,
                    env: Mapping[str, str] | None = None) -> tuple[int, int]:
    """A fresh database ``db`` (an SQLite file, deleted first, or an emptied server database's
    URL; `lookback init`) with registers of ``businesses`` businesses (`registry generate` into
    WORK/registers, then `registry import` of businesses and inspectors); the (teams, members)
    of ``team_spec`` for them."""
    if isinstance(db, Path):
        remove_database(db)
    regs = work / "registers"
    lookback("init", db=db, work=work, env=env)
    lookback("registry", "generate", "--businesses", str(businesses), "--seed", str(seed),
             "--out", str(regs), db=db, work=work, env=env)
    for kind in ("businesses", "inspectors"):
        lookback("registry", "import", str(regs / f"{kind}.csv"), "--kind", kind, db=db,
                 work=work, env=env)
    teams, members, _active = team_spec(regs / "inspectors.csv")
    return teams, members


def create_campaigns(db: Path | str, work: Path, *, title: str, visits: int, teams: int, members: int,
                     count: int, now: str = SETUP_NOW, office: str = OFFICE,
                     office_short: str = OFFICE_SHORT) -> list[int]:
    """``count`` identical draft campaigns of ``visits`` visits from ``plan_toml`` (written to
    WORK/plan.toml), created with ``create_campaign`` under a fixed clock at ``now``; their ids.
    No connection of ours stays open afterwards."""
    from domain.campaigns import create_campaign
    from domain.clock import FixedClock
    from flows.wiring import engine_for, uow_for

    plan = plan_toml(title=title, total=visits, teams=teams, members=members, office=office,
                     office_short=office_short)
    plan_path = work / "plan.toml"
    plan_path.write_text(plan, encoding="utf-8")
    url = f"sqlite:///{db}" if isinstance(db, Path) else db
    uow = uow_for(url)
    clock = FixedClock(datetime.fromisoformat(now))
    ids = [create_campaign(plan, source=str(plan_path), uow_factory=uow, clock=clock,  # type: ignore[arg-type]
                           new_seed=lambda: "1") for _ in range(count)]
    engine_for(url).dispose()
    return ids


def random_name(rng: random.Random) -> str:
    """A three-character Chinese name (one surname, two given characters)."""
    return rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)


# --- the local stack (`lookback up`) ------------------------------------------------------------

@contextmanager
def stack_up(db: Path, work: Path, *, prefect_port: int, api_port: int, workers: int = 1,
             worker_limit: int | None = None, now: str | None = None,
             env: Mapping[str, str] | None = None, timeout: float = 240) -> Iterator[Any]:
    """`lookback up` on ``db`` with data folder WORK/data (its output in WORK/up-P.log), until
    its state file is written and ``workers`` workers of the pool are online; yields the state
    (``lookback.stack.State``). Afterwards, whatever happened: `lookback down`, then any part or
    supervisor still alive is killed. Exits if the stack does not come up."""
    import httpx

    from lookback import stack

    data = (work / "data").resolve()
    cmd = [sys.executable, *cli_args("up", "--prefect-port", str(prefect_port), "--api-port",
                                     str(api_port), "--workers", str(workers),
                                     *(["--worker-limit", str(worker_limit)]
                                       if worker_limit is not None else []),
                                     db=db, work=work, now=now)]
    log = work / f"up-{prefect_port}.log"
    with log.open("w") as f:
        up = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
    state = None
    try:
        deadline = time.monotonic() + timeout
        while True:
            if up.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"`lookback up` did not come up ({up.returncode}):\n"
                         f"{log.read_text(errors='replace')[-2000:]}")
            state = state or stack.read_state(data)
            if state is not None and len(online_workers(state.prefect_api_url, httpx)) >= workers:
                break
            time.sleep(0.5)
        yield state
    finally:
        run_cli("down", db=db, work=work, env=env)
        try:
            up.wait(timeout=60)
        except subprocess.TimeoutExpired:
            up.kill()
            up.wait()
        for part in state.parts if state is not None else ():
            if stack.alive(part.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(part.pid, signal.SIGKILL)


def online_workers(api_url: str, httpx: Any) -> list[str]:
    """The names of the online workers of the pool ``lookback`` on the Prefect server."""
    try:
        r = httpx.post(f"{api_url}/work_pools/lookback/workers/filter", json={}, timeout=5)
    except httpx.HTTPError:
        return []
    if r.status_code != 200:
        return []
    return [w["name"] for w in r.json() if w.get("status") == "ONLINE"]


def stack_env(work: Path, prefect_home: Path) -> dict[str, str]:
    """The environment of our child processes when a stack is involved: this one without
    PREFECT_API_URL (the commands find the stack by its state file), PREFECT_HOME in the work
    folder (shared by the stack, its workers and the CLI: the runs' persisted results live
    there), quiet logs and no analytics."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env.update(PREFECT_HOME=str(prefect_home), PREFECT_SERVER_ANALYTICS_ENABLED="false",
               LOOKBACK_DATA_DIR=str(work / "data"))
    return env


# --- SQLite -------------------------------------------------------------------------------------

def remove_database(db: Path) -> None:
    """Delete an SQLite database file with its WAL and shared-memory files, if any."""
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)


def connect(db: Path, pragmas: Sequence[str] = PRAGMAS) -> sqlite3.Connection:
    """A plain sqlite3 connection in autocommit mode (explicit BEGIN) with ``pragmas`` set."""
    conn = sqlite3.connect(db, isolation_level=None)
    for pragma in pragmas:
        conn.execute(f"PRAGMA {pragma}")
    return conn


def backup(src: Path, dst: Path) -> None:
    """A consistent copy of ``src`` including its WAL (sqlite3 backup API)."""
    remove_database(dst)
    s, d = sqlite3.connect(src), sqlite3.connect(dst)
    try:
        s.backup(d)
    finally:
        d.close()
        s.close()


def stored_datetime(instant: datetime) -> str:
    """How SQLAlchemy's DateTime stores an instant on SQLite: naive UTC."""
    return instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


# --- child processes and their peak RSS ---------------------------------------------------------

def process_tree(root: int) -> list[int]:
    """``root`` and all its live descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def tree_cpu_s(root: int) -> float:
    """CPU seconds (user + system) used so far by ``root`` and its live descendants, and by every
    descendant that exited and was waited for (the cutime and cstime of /proc/PID/stat)."""
    ticks = 0
    for pid in process_tree(root):
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2:].split()
        ticks += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def tree_rss_kb(root: int) -> int:
    """Summed RSS (kB) of ``root`` and all its descendants, from /proc."""
    total = 0
    for pid in process_tree(root):
        try:
            with open(f"/proc/{pid}/statm", "rb") as f:
                total += int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
        except OSError:
            continue
    return total


@dataclass
class Measured:
    """A child process, measured by ``timed_child``."""

    seconds: float  # wall time, end to end
    cpu_s: float  # user + system time of the child and every process it waited for
    rss_mb: float  # peak RSS of the largest of those processes
    tree_rss_mb: float  # peak of the summed RSS of the process tree (0 unless sampled)
    code: int


def timed_child(cmd: list[str], out_path: Path, err_path: Path | None = None, *,
                env: Mapping[str, str] | None = None, sample_tree: bool = False) -> Measured:
    """``cmd`` as a child process in ROOT, timed end to end, its stdout to ``out_path`` and its
    stderr to ``err_path`` (discarded if None). With ``sample_tree``, a thread also samples the
    summed RSS of its process tree every 0.2 s."""
    peak_tree = [0]
    with out_path.open("w") as out_f, \
            (err_path.open("w") if err_path is not None else open(os.devnull, "w")) as err_f:
        t = time.perf_counter()
        child = subprocess.Popen(cmd, stdout=out_f, stderr=err_f, cwd=ROOT, env=env)
        if not sample_tree:
            _pid, status, usage = os.wait4(child.pid, 0)
            seconds = time.perf_counter() - t
        else:
            done = threading.Event()

            def sample() -> None:
                while not done.wait(0.2):
                    peak_tree[0] = max(peak_tree[0], tree_rss_kb(child.pid))

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            _pid, status, usage = os.wait4(child.pid, 0)
            seconds = time.perf_counter() - t
            done.set()
            sampler.join()
    # Linux: ru_maxrss in kB, the largest of the child and the descendants it waited for.
    return Measured(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024,
                    peak_tree[0] / 1024, os.waitstatus_to_exitcode(status))


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM: its own address space since exec; ru_maxrss of a child
    would start from the parent's size at fork)."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- the command line and the report ------------------------------------------------------------

def arg_parser(doc: str | None) -> argparse.ArgumentParser:
    """A parser whose --help is the script's docstring as written."""
    return argparse.ArgumentParser(description=doc, formatter_class=argparse.RawTextHelpFormatter)


def add_run_options(ap: argparse.ArgumentParser, profiled: str) -> None:
    """--seed, --work-dir (or --workdir), and --profile / --profile-top for ``profiled`` (what
    cProfile runs on another copy of the database, e.g. "our import")."""
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--work-dir", "--workdir", dest="work_dir", type=Path, default=None)
    ap.add_argument("--profile", action="store_true",
                    help=f"also profile {profiled} (cProfile) on another copy of the database")
    ap.add_argument("--profile-top", type=int, default=30)


def work_folder(given: Path | None, prefix: str) -> Path:
    """``given``, or a fresh temporary folder named ``prefix``…; created if need be."""
    work = given or Path(tempfile.mkdtemp(prefix=prefix))
    work.mkdir(parents=True, exist_ok=True)
    return work


def print_profile(prof: Path, top: int) -> None:
    """The ``top`` functions of a cProfile dump, by cumulative and then by own time."""
    stats = pstats.Stats(str(prof))
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)


def print_json(figures: Mapping[str, Any]) -> None:
    """The figures as one JSON line, when BENCH_JSON is set."""
    if os.environ.get("BENCH_JSON"):
        print(json.dumps(figures))
