"""The local stack (`lookback up`): a Prefect server with its UI, a worker of the process work
pool ``lookback``, the HTTP API and the scheduler, started and supervised by one process.

The supervisor writes ``DATA_DIR/stack.json`` — its own pid, each part's pid and URL, the Prefect
API URL and a SHA-256 of the database URL (never the URL: it may hold a password) — so that
commands in other terminals find the stack: with it running on their database, they run flows
through its deployments (``deployment_for``) instead of starting a temporary Prefect server.
Ctrl-C, SIGTERM or `lookback down` stop every part, the supervisor last.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from domain.errors import ConflictError, LookbackError

STATE = "stack.json"
POOL = "lookback"
#: The flows served as deployments of the work pool: flow name → entrypoint (module path).
DEPLOYMENTS = {
    "launch-campaign": "flows.launch.launch_campaign",
    "issue-notices": "flows.notices.issue_notices",
    "render-notices": "flows.notices.render_notices",
    "lookback-review": "flows.followups.lookback_review",
}


class StackError(LookbackError):
    code = "stack"
    exit_code = 2


@dataclass
class Part:
    name: str
    pid: int
    url: str
    health: str  # the URL that answers 200 when the part is healthy ("" for none)
    restarts: int = 0


@dataclass
class State:
    supervisor: int
    prefect_api_url: str
    ui_url: str
    database_sha256: str
    started_at: str
    parts: list[Part] = field(default_factory=list)
    #: Flow runs a fanned-out batch may use at once: its parent run and its chunk runs (by
    #: default every worker's limit, summed; with ``worker_limit`` N, workers x N + 1).
    slots: int = 2

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def database_sha256(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()


def state_path(data_dir: Path) -> Path:
    return data_dir / STATE


def read_state(data_dir: Path) -> State | None:
    """The stack's state, or None when no stack runs (no file, or its supervisor is gone)."""
    path = state_path(data_dir)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        state = State(**{**raw, "parts": [Part(**p) for p in raw.get("parts", [])]})
    except (OSError, ValueError, TypeError):
        return None
    return state if alive(state.supervisor) else None


def write_state(data_dir: Path, state: State) -> None:
    path = state_path(data_dir)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state.as_dict(), ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(tmp, path)


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, exited but not yet reaped by its parent, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def healthy(url: str, timeout: float = 2.0) -> bool:
    if not url:
        return True
    import httpx

    try:
        return httpx.get(url, timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


SUBMIT_VARIABLE = "LOOKBACK_SUBMIT_TO_WORKERS"
SLOTS_VARIABLE = "LOOKBACK_WORKER_SLOTS"


@dataclass(frozen=True)
class Pool:
    """The work pool of a Prefect server that another process runs (the national topology):
    commands submit to its deployments when ``LOOKBACK_SUBMIT_TO_WORKERS=1`` and
    ``PREFECT_API_URL`` are set; its workers must run on the same Lookback database."""

    prefect_api_url: str
    slots: int

    @property
    def ui_url(self) -> str:
        return self.prefect_api_url.removesuffix("/").removesuffix("/api")


def configured_pool() -> Pool | None:
    """The pool named by the environment, or None."""
    url = os.environ.get("PREFECT_API_URL", "")
    if os.environ.get(SUBMIT_VARIABLE, "") not in ("1", "true", "yes") or not url:
        return None
    try:
        slots = max(2, int(os.environ.get(SLOTS_VARIABLE, "") or 4))
    except ValueError:
        slots = 4
    return Pool(url, slots)


def discover(data_dir: Path, database_url: str) -> State | None:
    """The running stack when it serves this database (then ``PREFECT_API_URL`` is set for this
    process, unless already set), else None."""
    state = read_state(data_dir)
    if state is None:
        return None
    os.environ.setdefault("PREFECT_API_URL", state.prefect_api_url)
    return state if state.database_sha256 == database_sha256(database_url) else None


# --- starting -----------------------------------------------------------------------------------

def _python(*args: str) -> list[str]:
    return [sys.executable, *args]


def _wait(url: str, what: str, proc: subprocess.Popen[bytes], log: Path,
          timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(encoding="utf-8", errors="replace")[-800:]
            raise StackError(f"{what} exited with code {proc.returncode} while starting: {tail}",
                             f"{what}启动时退出（代码{proc.returncode}）：{tail}")
        if healthy(url, timeout=1.0):
            return
        time.sleep(0.3)
    raise StackError(f"{what} did not answer at {url} within {timeout:.0f} s (log: {log})",
                     f"{what}未在{timeout:.0f}秒内于{url}应答（日志：{log}）")


def register_deployments(api_url: str) -> list[str]:
    """Create the process work pool ``lookback`` (once) and the deployments of the three flows
    in it; the worker imports each flow by module path. Safe to run twice."""
    os.environ["PREFECT_API_URL"] = api_url
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.deployments.runner import EntrypointType
    from prefect.exceptions import ObjectAlreadyExists

    from flows.followups import lookback_review
    from flows.launch import launch_campaign
    from flows.notices import issue_notices, render_notices

    with get_client(sync_client=True) as client, contextlib.suppress(ObjectAlreadyExists):
        client.create_work_pool(WorkPoolCreate(name=POOL, type="process"))
    names = []
    for fl in (launch_campaign, issue_notices, render_notices, lookback_review):
        deployment = fl.to_deployment(name=fl.name, entrypoint_type=EntrypointType.MODULE_PATH,
                                      work_pool_name=POOL)
        deployment.apply(work_pool_name=POOL)
        names.append(f"{fl.name}/{fl.name}")
    ensure_crash_automation()
    return names


HEARTBEAT_SECONDS = 30  # how often a worker's flow run says it is alive (Prefect's minimum)
#: A flow run whose heartbeats stop for this long is marked CRASHED by the server.
CRASH_AFTER_SECONDS = 3 * HEARTBEAT_SECONDS
CRASH_AUTOMATION = "lookback: crash flow runs that stopped sending heartbeats"


def ensure_crash_automation(after_seconds: int = CRASH_AFTER_SECONDS) -> str:
    """The server's automation that marks a flow run CRASHED when its heartbeats stop (its
    worker or process was killed) — Prefect's server does not do that by itself. A proactive
    trigger per flow run: after a heartbeat, expect another heartbeat or a final state within
    ``after_seconds``, else change the run's state to Crashed. Created once (by name), or
    updated when its window changed; returns its id."""
    from datetime import timedelta

    from prefect.automations import Automation
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    automation = Automation(
        name=CRASH_AUTOMATION,
        description="Lookback: a flow run that stopped sending heartbeats (its worker or its "
                    "process was killed) is marked Crashed; the next run picks up its work.",
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.heartbeat", "prefect.flow-run.Completed",
                    "prefect.flow-run.Failed", "prefect.flow-run.Cancelled",
                    "prefect.flow-run.Crashed"},
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=after_seconds),
        ),
        actions=[ChangeFlowRunState(
            state=StateType.CRASHED,
            message=f"no heartbeat for {after_seconds} s: its worker or process was killed")],
    )
    try:
        existing = Automation.read(name=CRASH_AUTOMATION)
    except ValueError:  # none of that name yet
        existing = None
    if existing is None:
        return str(automation.create().id)
    if getattr(existing.trigger, "within", None) != timedelta(seconds=after_seconds):
        automation.id = existing.id
        automation.update()
    return str(existing.id)


class Supervisor:
    """Starts the four parts, restarts one that dies (up to 3 times), stops them all on
    SIGINT/SIGTERM."""

    def __init__(self, *, database_url: str, data_dir: Path, prefect_port: int, api_port: int,
                 cli_args: list[str], say: Any, workers: int = 1,
                 worker_limit: int | None = None) -> None:
        self.workers = workers
        #: Flow runs each worker runs at once (its ``--limit``). By default one per core, and at
        #: least two (a fanned-out batch's parent run waits while its chunks run), and a batch
        #: fans out over all the slots but the parent's. With ``worker_limit`` N: N chunk runs
        #: per worker plus one slot for a waiting parent run, so a batch fans out over exactly
        #: workers x N chunk runs (one worker's capacity, times the workers).
        self.worker_limit = worker_limit
        self.limit = max(2, os.cpu_count() or 1) if worker_limit is None else worker_limit + 1
        self.database_url, self.data_dir = database_url, data_dir
        self.prefect_port, self.api_port = prefect_port, api_port
        self.cli_args = cli_args  # --db/--data-dir/--now for the API and the scheduler
        self.say = say
        self.logs = data_dir / "logs"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.parts: dict[str, Part] = {}
        self.stopping = False

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.prefect_port}/api"

    def _env(self) -> dict[str, str]:
        env = {**os.environ, "PREFECT_API_URL": self.api_url,
               "LOOKBACK_DATABASE_URL": self.database_url,
               "LOOKBACK_DATA_DIR": str(self.data_dir),
               "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        # The worker's flow runs log INFO to the server and keep its terminal (the log) short;
        # it asks for new runs every 0.5 s (Prefect's default is 10 s).
        env.setdefault("PREFECT_LOGGING_LEVEL", "INFO")
        env.setdefault("PREFECT_WORKER_QUERY_SECONDS", "0.5")
        env.setdefault("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", str(HEARTBEAT_SECONDS))
        return env

    def _commands(self) -> dict[str, tuple[list[str], str, str]]:
        """name → (command, URL shown, health URL)."""
        ui = f"http://127.0.0.1:{self.prefect_port}"
        return {
            "prefect-server": (_python("-m", "prefect", "server", "start", "--host", "127.0.0.1",
                                       "--port", str(self.prefect_port)), ui,
                               f"{self.api_url}/health"),
            **{f"worker-{n}": (_python("-m", "lookback.worker", "--pool", POOL,
                                        "--limit", str(self.limit),
                                        "--name", f"lookback-{os.getpid()}-{n}"),
                                f"pool {POOL}", "") for n in range(1, self.workers + 1)},
            "api": (_python("-m", "lookback.cli", *self.cli_args, "serve", "--port",
                            str(self.api_port)), f"http://127.0.0.1:{self.api_port}",
                    f"http://127.0.0.1:{self.api_port}/health"),
            "scheduler": (_python("-m", "lookback.cli", *self.cli_args, "scheduler", "run"),
                          "", ""),
        }

    def _spawn(self, name: str) -> subprocess.Popen[bytes]:
        cmd, url, health = self._commands()[name]
        self.logs.mkdir(parents=True, exist_ok=True)
        log = self.logs / f"stack-{name}.log"
        env = self._env()
        if name == "prefect-server" and "PREFECT_SERVER_DATABASE_CONNECTION_URL" not in env:
            # The stack's own Prefect database, in its data folder: its runs, deployments and
            # logs stay with the Lookback data they are about.
            env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = (
                f"sqlite+aiosqlite:///{self.data_dir / 'prefect-server.db'}")
        with log.open("ab") as f:
            proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env,
                                    start_new_session=True)
        self.procs[name] = proc
        old = self.parts.get(name)
        self.parts[name] = Part(name, proc.pid, url, health, old.restarts + 1 if old else 0)
        return proc

    def _state(self) -> State:
        from datetime import UTC, datetime

        return State(os.getpid(), self.api_url, f"http://127.0.0.1:{self.prefect_port}",
                     database_sha256(self.database_url),
                     datetime.now(UTC).replace(microsecond=0).isoformat(),
                     list(self.parts.values()), slots=self.slots)

    @property
    def slots(self) -> int:
        """``State.slots``: what a fanned-out batch may use at once, its parent run included."""
        if self.worker_limit is None:
            return self.workers * self.limit
        return self.workers * self.worker_limit + 1

    def start(self) -> State:
        if read_state(self.data_dir) is not None:
            raise ConflictError(f"a stack already runs for {self.data_dir} (`lookback status`)",
                                f"{self.data_dir}的服务栈已在运行（`lookback status`）",
                                code="stack_running")
        try:
            server = self._spawn("prefect-server")
            self.say("Starting the Prefect server…", "正在启动Prefect服务…")
            _wait(f"{self.api_url}/health", "the Prefect server", server,
                  self.logs / "stack-prefect-server.log", 180)
            names = register_deployments(self.api_url)
            self.say(f"Deployments registered: {', '.join(names)}",
                     f"已注册部署：{'、'.join(names)}")
            for n in range(1, self.workers + 1):
                self._spawn(f"worker-{n}")
            api = self._spawn("api")
            _wait(f"http://127.0.0.1:{self.api_port}/health", "the API", api,
                  self.logs / "stack-api.log", 60)
            self._spawn("scheduler")
        except BaseException:
            self.stop()
            raise
        state = self._state()
        write_state(self.data_dir, state)
        return state

    def supervise(self) -> None:
        """Until stopped: restart a part that died (at most 3 times each)."""
        def stop(_sig: int, _frame: Any) -> None:
            self.stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        while not self.stopping:
            time.sleep(0.5)
            for name, proc in list(self.procs.items()):
                if self.stopping or proc.poll() is None:
                    continue
                if self.parts[name].restarts >= 3:
                    self.say(f"{name} exited ({proc.returncode}) 3 times; stopping the stack",
                             f"{name}已3次退出（{proc.returncode}），停止服务栈")
                    self.stopping = True
                    break
                self.say(f"{name} exited ({proc.returncode}); restarting it",
                         f"{name}已退出（{proc.returncode}），正在重启")
                self._spawn(name)
                write_state(self.data_dir, self._state())
        self.stop()

    def stop(self) -> None:
        """SIGTERM to every part; what is still running after its grace time is killed (the
        worker gets 3 s: a flow run it leaves unfinished is marked crashed by its missing
        heartbeats and picked up by the next run)."""
        grace = {f"worker-{n}": 3.0 for n in range(1, self.workers + 1)}
        for name in ("scheduler", "api", *grace, "prefect-server"):
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        start = time.monotonic()
        for name, proc in self.procs.items():
            try:
                proc.wait(timeout=max(0.1, start + grace.get(name, 10.0) - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        path = state_path(self.data_dir)
        try:
            if json.loads(path.read_text(encoding="utf-8")).get("supervisor") == os.getpid():
                path.unlink()
        except (OSError, ValueError):
            pass


def down(data_dir: Path, timeout: float = 40) -> State | None:
    """Stop the stack of this data folder: SIGTERM to its supervisor, which stops every part;
    the parts themselves if the supervisor does not finish in time."""
    state = read_state(data_dir)
    if state is None:
        return None
    os.kill(state.supervisor, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive(state.supervisor):
        time.sleep(0.2)
    for part in state.parts:
        if alive(part.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(part.pid, signal.SIGKILL)
    if alive(state.supervisor):
        os.kill(state.supervisor, signal.SIGKILL)
    state_path(data_dir).unlink(missing_ok=True)
    return state
