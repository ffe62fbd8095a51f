"""How a command runs Lookback's flows with Prefect.

- **On a Prefect server** when one is configured (``PREFECT_API_URL`` in the environment or the
  active Prefect profile): runs, their parameters and their logs show in its UI.
- **Otherwise on Prefect's temporary local server**, which Prefect starts for the process. Its
  database under ``PREFECT_HOME`` is prepared ahead (:func:`prepare`, which ``lookback init``
  and the demo call too), because a first start that has to migrate a new database can take
  longer than Prefect's own 20 s start-up limit; the limit itself is raised to
  ``LOOKBACK_PREFECT_STARTUP_TIMEOUT`` seconds (default 120; Prefect's own setting
  ``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS`` wins when set).

The terminal stays quiet (the command reports failures itself) while INFO logs still reach the
server. The flow's database is passed through the environment, never as a flow parameter.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from domain.errors import LookbackError
from lookback.bootstrap import App
from lookback.output import Output

DEFAULT_STARTUP_TIMEOUT = 120
MARKER = "lookback-prefect-db"


class PrefectUnavailableError(LookbackError):
    code = "prefect_unavailable"
    exit_code = 2


def configure() -> None:
    """Settings for Prefect, before it is imported: quiet terminal, INFO to the server, a
    start-up limit that a slow first start fits in, no analytics."""
    env = os.environ
    env.setdefault("PREFECT_LOGGING_LEVEL", "INFO")
    env.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    env.setdefault("PREFECT_LOGGING_TO_API_ENABLED", "true")
    env.setdefault("PREFECT_INTERNAL_LOGGING_LEVEL", "CRITICAL")
    env.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "CRITICAL")
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    env.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS",
                   env.get("LOOKBACK_PREFECT_STARTUP_TIMEOUT", str(DEFAULT_STARTUP_TIMEOUT)))


def server_url() -> str | None:
    """The Prefect server flows report to, or None for the temporary one."""
    configure()
    from flows.wiring import server_url as configured

    return configured()


def _home() -> Path:
    from prefect.settings import get_current_settings

    return Path(get_current_settings().home).expanduser()


def _stamp() -> str:
    import prefect
    from prefect.settings import get_current_settings

    url = get_current_settings().server.database.connection_url
    return f"{prefect.__version__} {url.get_secret_value() if url else 'default'}\n"


def prepare(out: Output | None = None) -> str:
    """Make Prefect's local database ready for the temporary server: ``server`` (a server is
    configured, nothing to do), ``ready`` (prepared before) or ``prepared`` (migrated now).
    Safe to run twice and from two processes at once (a file lock)."""
    if server_url() is not None:
        return "server"
    home = _home()
    marker = home / MARKER
    stamp = _stamp()
    if marker.is_file() and marker.read_text(encoding="utf-8") == stamp:
        return "ready"
    import fcntl

    home.mkdir(parents=True, exist_ok=True)
    with (home / f"{MARKER}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.is_file() and marker.read_text(encoding="utf-8") == stamp:
            return "ready"
        if out is not None:
            out.note(f"Preparing Prefect's database in {home} (once)…",
                     f"正在准备Prefect数据库（{home}，仅首次）…")
        done = subprocess.run(
            [sys.executable, "-m", "prefect", "server", "database", "upgrade", "-y"],
            capture_output=True, text=True, timeout=900, env=os.environ.copy(), check=False)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise PrefectUnavailableError(
                f"Prefect's database in {home} could not be prepared: {' / '.join(tail)}. "
                "Check that the folder is writable (PREFECT_HOME), or point PREFECT_API_URL at "
                "a running Prefect server",
                f"无法准备Prefect数据库（{home}）：{' / '.join(tail)}。请检查该目录可写"
                "（PREFECT_HOME），或将PREFECT_API_URL指向正在运行的Prefect服务")
        marker.write_text(stamp, encoding="utf-8")
    return "prepared"


@dataclass(frozen=True)
class Runner:
    """How a command's flows run: through the deployments of a running `lookback up` stack on
    this database, or of a work pool named by the environment (``stack`` set: its ``ui_url``
    and ``slots``), or in this process."""

    stack: Any = None

    def deployment(self, name: str, parameters: dict[str, Any], *, wait: bool,
                   out: Output) -> dict[str, Any]:
        """Submit a run of deployment ``name`` to the stack's work pool, over Prefect's REST API
        (``lookback.prefect_http``: this process never imports Prefect). With ``wait``, the
        flow's result once a worker has run it; else the flow run's id and state at once."""
        from lookback.prefect_http import PrefectAPI, PrefectHTTPError

        try:
            with PrefectAPI(self.stack.prefect_api_url) as api:
                run = api.submit(f"{name}/{name}", parameters)
                url = f"{self.stack.ui_url}/runs/flow-run/{run.id}"
                out.note(f"Flow run {run.name} of {name}: {url}",
                         f"{name}的流程运行{run.name}：{url}")
                if not wait:
                    return {"flow_run_id": run.id, "flow_run": run.name, "url": url,
                            "state": run.state_type}
                run = api.wait(run.id)
                result = api.result(run.id) if run.state_type == "COMPLETED" else None
        except PrefectHTTPError as e:
            raise PrefectUnavailableError(
                f"the Prefect server at {self.stack.prefect_api_url} did not take the run of "
                f"{name}: {e}",
                f"Prefect服务（{self.stack.prefect_api_url}）未能接收{name}的运行：{e}") from None
        if run.state_type != "COMPLETED" or result is None:
            message = run.message or ("no result" if result is None else "")
            raise PrefectUnavailableError(
                f"flow run {run.name} of {name} ended {run.state_name}: {message} ({url})",
                f"{name}的流程运行{run.name}结束状态为{run.state_name}：{message}（{url}）",
                code="flow_run_failed")
        return {**result, "flow_run_id": run.id, "url": url}


@contextmanager
def flows(lb: App, out: Output) -> Iterator[Runner]:
    """Run flows against the command's database: through a running stack's deployments when it
    serves this database; else in this process, on the configured Prefect server or on a
    temporary one (whose database is prepared first). Prefect's start-up failure becomes a
    clear error."""
    from flows.wiring import use_database
    from lookback import stack as local_stack

    found = local_stack.discover(lb.data_dir.expanduser().resolve(), lb.database_url)
    if found is not None:
        out.note(f"Running on the Lookback stack (Prefect {found.ui_url})…",
                 f"在Lookback服务栈上运行（Prefect {found.ui_url}）…")
        yield Runner(found)
        return
    pool = local_stack.configured_pool()
    if pool is not None:
        out.note(f"Submitting to the workers of work pool {local_stack.POOL} ({pool.ui_url})…",
                 f"提交给工作池{local_stack.POOL}的工作进程（{pool.ui_url}）…")
        yield Runner(pool)
        return
    if prepare(out) != "server":
        out.note("Starting a temporary Prefect server (set PREFECT_API_URL to use a running "
                 "one)…", "正在启动临时Prefect服务（设置PREFECT_API_URL可使用已运行的服务）…")
    try:
        with use_database(lb.database_url):
            yield Runner()
    except RuntimeError as e:
        if "ephemeral Prefect API server" not in str(e):
            raise
        limit = os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS")
        raise PrefectUnavailableError(
            f"Prefect's temporary server did not start within {limit} s. Try again; if it keeps "
            "failing, raise LOOKBACK_PREFECT_STARTUP_TIMEOUT (seconds), run `lookback init` to "
            "prepare Prefect's database, or set PREFECT_API_URL to a running Prefect server",
            f"Prefect临时服务未能在{limit}秒内启动。请重试；如仍失败，可调大"
            "LOOKBACK_PREFECT_STARTUP_TIMEOUT（秒），运行`lookback init`准备Prefect数据库，"
            "或将PREFECT_API_URL指向正在运行的Prefect服务") from None
