"""The national topology on one machine, for tests and trials: Lookback on PostgreSQL, a Prefect
server on its own PostgreSQL database, N workers of the process pool ``lookback``, M API
processes and a scheduler leader with standbys. On real machines each role runs under its own
systemd unit (docs/deploy.md); this script starts the same commands side by side.

    python scripts/cluster.py up --run-dir /tmp/lookback-cluster [--workers 2] [--apis 2]
    python scripts/cluster.py status --run-dir /tmp/lookback-cluster
    python scripts/cluster.py down --run-dir /tmp/lookback-cluster

``up`` prepares both databases (the Lookback schema; the Prefect database and its ``pg_trgm``
extension), starts the Prefect server and waits for it, registers the work pool and the
deployments (`lookback deploy`), then starts the workers, the API processes and the schedulers,
waits until every API answers, and writes ``RUN_DIR/cluster.json``: each role's pid, URL and log,
and the environment a client needs (``PREFECT_API_URL``, ``LOOKBACK_SUBMIT_TO_WORKERS``). Each
process runs in its own session, so ``down`` (or a test that kills one role) reaches its
children too. ``down`` sends SIGTERM to every process group, and SIGKILL to what is left after
15 s. Exit codes: 0 done, 1 a part did not start (its log is named), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from lookback.stack import alive  # noqa: E402  (the one liveness check, zombies included)

STATE = "cluster.json"
DEFAULT_DB = "postgresql://lookback:lookback@127.0.0.1:5432/lookback_cluster"
DEFAULT_PREFECT_DB = "postgresql://lookback:lookback@127.0.0.1:5432/lookback_prefect"


def _fail(msg: str, code: int = 1) -> None:
    print(f"cluster: {msg}", file=sys.stderr)
    raise SystemExit(code)


def _driver(url: str, driver: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme.split('+', 1)[0]}+{driver}://{rest}"


def ensure_database(url: str, *, extensions: tuple[str, ...] = ()) -> None:
    """Create the PostgreSQL database of ``url`` if it is missing, and its extensions."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit((parts.scheme.split("+", 1)[0], parts.netloc, "/postgres", "", ""))
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(urlunsplit((parts.scheme.split("+", 1)[0], parts.netloc, parts.path,
                                     "", "")), autocommit=True) as conn:
        for ext in extensions:
            conn.execute(f"CREATE EXTENSION IF NOT EXISTS {ext}")


def _healthy(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


class Cluster:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.logs = run_dir / "logs"
        self.parts: list[dict[str, Any]] = []

    @property
    def state_path(self) -> Path:
        return self.run_dir / STATE

    def spawn(self, name: str, cmd: list[str], env: dict[str, str], url: str = "") -> int:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = self.logs / f"{name}.log"
        with log.open("ab") as f:
            proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
                                    start_new_session=True)
        self.parts.append({"name": name, "pid": proc.pid, "url": url, "log": str(log),
                           "command": cmd})
        return proc.pid

    def wait(self, name: str, health: str, timeout: float) -> None:
        part = next(p for p in self.parts if p["name"] == name)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not alive(part["pid"]):
                tail = Path(part["log"]).read_text(encoding="utf-8", errors="replace")[-1500:]
                _fail(f"{name} exited while starting; {part['log']}:\n{tail}")
            if _healthy(health):
                return
            time.sleep(0.3)
        _fail(f"{name} did not answer at {health} within {timeout:.0f} s; see {part['log']}")

    def write(self, extra: dict[str, Any]) -> None:
        self.state_path.write_text(json.dumps({**extra, "parts": self.parts}, indent=2,
                                              ensure_ascii=False), encoding="utf-8")


def up(a: argparse.Namespace) -> None:
    run_dir = a.run_dir.resolve()
    if (run_dir / STATE).exists():
        _fail(f"a cluster is recorded in {run_dir / STATE}; run `down` first", 2)
    run_dir.mkdir(parents=True, exist_ok=True)
    data = run_dir / "data"
    py = sys.executable
    prefect_api = f"http://127.0.0.1:{a.prefect_port}/api"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "LOOKBACK_"))}
    base.update({"PREFECT_HOME": str(run_dir / "prefect-home"), "LOOKBACK_LANG": "en",
                 "PREFECT_SERVER_ANALYTICS_ENABLED": "false"})
    role_env = {**base, "PREFECT_API_URL": prefect_api, "LOOKBACK_DATABASE_URL": a.database_url,
                "LOOKBACK_DATA_DIR": str(data)}
    cli = [py, "-m", "lookback.cli", "--db", a.database_url, "--data-dir", str(data)]
    clock = ["--now", a.now] if a.now else []  # the APIs' and schedulers' shifted clock

    ensure_database(a.database_url)
    ensure_database(a.prefect_database_url, extensions=("pg_trgm",))
    done = subprocess.run([*cli, "init"], env=role_env, cwd=ROOT, capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        _fail(f"lookback init failed: {done.stderr.strip()}")

    c = Cluster(run_dir)
    try:
        server_env = {**base, "PREFECT_SERVER_DATABASE_CONNECTION_URL":
                      _driver(a.prefect_database_url, "asyncpg"),
                      "PREFECT_SERVER_LOGGING_LEVEL": "WARNING"}
        c.spawn("prefect-server", [py, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                                   "--port", str(a.prefect_port)], server_env,
                f"http://127.0.0.1:{a.prefect_port}")
        c.wait("prefect-server", f"{prefect_api}/health", 240)
        done = subprocess.run([*cli, "deploy"], env=role_env, cwd=ROOT, capture_output=True,
                              text=True, check=False)
        if done.returncode != 0:
            _fail(f"lookback deploy failed: {done.stderr.strip() or done.stdout.strip()}")
        worker_env = {**role_env, "PREFECT_WORKER_QUERY_SECONDS": "0.5",
                      "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30",
                      "PREFECT_LOGGING_LEVEL": "INFO",
                      "LOOKBACK_NOTICE_CHUNK_TIMEOUT": str(a.chunk_timeout)}
        for n in range(1, a.workers + 1):
            c.spawn(f"worker-{n}", [py, "-m", "lookback.worker", "--pool", "lookback",
                                    "--limit", str(a.worker_limit),
                                    "--name", f"cluster-worker-{n}"], worker_env)
        # The APIs hand notice batches to the workers (202 and a job) instead of rendering in
        # the request.
        api_env = {**role_env, "LOOKBACK_SUBMIT_TO_WORKERS": "1",
                   "LOOKBACK_WORKER_SLOTS": str(a.workers * a.worker_limit)}
        for n in range(1, a.apis + 1):
            port = a.api_port + n - 1
            c.spawn(f"api-{n}", [*cli, *clock, "serve", "--port", str(port)], api_env,
                    f"http://127.0.0.1:{port}")
        for n in range(1, a.schedulers + 1):
            c.spawn(f"scheduler-{n}", [*cli, *clock, "scheduler", "run", "--lease-seconds",
                                       str(a.lease_seconds), "--sweep-seconds",
                                       str(a.sweep_seconds)], role_env)
        for n in range(1, a.apis + 1):
            c.wait(f"api-{n}", f"http://127.0.0.1:{a.api_port + n - 1}/health", 90)
    except BaseException:
        stop(c.parts)
        raise
    c.write({"prefect_api_url": prefect_api, "ui_url": f"http://127.0.0.1:{a.prefect_port}",
             "data_dir": str(data), "client_env": {
                 "PREFECT_API_URL": prefect_api, "LOOKBACK_SUBMIT_TO_WORKERS": "1",
                 "LOOKBACK_WORKER_SLOTS": str(a.workers * a.worker_limit)}})
    for p in c.parts:
        print(f"{p['name']:<15} pid {p['pid']:<8} {p['url']}")
    print(f"cluster up: Prefect UI http://127.0.0.1:{a.prefect_port}; state {c.state_path}")


def stop(parts: list[dict[str, Any]], grace: float = 15.0) -> None:
    for p in reversed(parts):  # schedulers and APIs first, the Prefect server last
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(p["pid"], signal.SIGTERM)
    deadline = time.monotonic() + grace
    for p in parts:
        while alive(p["pid"]) and time.monotonic() < deadline:
            time.sleep(0.2)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(p["pid"], signal.SIGKILL)
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(p["pid"], os.WNOHANG)


def read(run_dir: Path) -> dict[str, Any] | None:
    try:
        state: dict[str, Any] = json.loads((run_dir / STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state


def down(a: argparse.Namespace) -> None:
    state = read(a.run_dir)
    if state is None:
        print("cluster: nothing recorded; nothing to stop")
        return
    stop(state["parts"])
    (a.run_dir / STATE).unlink(missing_ok=True)
    print(f"cluster down: {len(state['parts'])} processes stopped")


def status(a: argparse.Namespace) -> None:
    state = read(a.run_dir)
    if state is None:
        print("cluster: not running")
        raise SystemExit(1)
    bad = 0
    for p in state["parts"]:
        ok = alive(p["pid"])
        bad += not ok
        print(f"{p['name']:<15} pid {p['pid']:<8} {'running' if ok else 'GONE':<8} {p['url']}")
    raise SystemExit(1 if bad else 0)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=("up", "down", "status"))
    ap.add_argument("--run-dir", type=Path, default=Path("/tmp/lookback-cluster"))
    ap.add_argument("--database-url", default=os.environ.get("LOOKBACK_CLUSTER_DATABASE_URL",
                                                             DEFAULT_DB))
    ap.add_argument("--prefect-database-url",
                    default=os.environ.get("LOOKBACK_CLUSTER_PREFECT_DATABASE_URL",
                                           DEFAULT_PREFECT_DB))
    ap.add_argument("--prefect-port", type=int, default=4300)
    ap.add_argument("--api-port", type=int, default=8300, help="first API port; one per API")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--worker-limit", type=int, default=2, help="flow runs per worker at once")
    ap.add_argument("--apis", type=int, default=2)
    ap.add_argument("--schedulers", type=int, default=2)
    ap.add_argument("--lease-seconds", type=int, default=15)
    ap.add_argument("--sweep-seconds", type=int, default=60)
    ap.add_argument("--now", default="", help="run the APIs' and schedulers' clocks from this "
                    "instant (ISO 8601), for trials and tests")
    ap.add_argument("--chunk-timeout", type=float, default=600.0,
                    help="seconds before a notice chunk's run is taken for lost")
    a = ap.parse_args(argv)
    for name in ("workers", "worker_limit", "apis", "schedulers"):
        if getattr(a, name) < (0 if name == "schedulers" else 1):
            _fail(f"--{name.replace('_', '-')} must be at least 1", 2)
    {"up": up, "down": down, "status": status}[a.command](a)


if __name__ == "__main__":
    main()
