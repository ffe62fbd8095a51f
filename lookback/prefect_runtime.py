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
from pathlib import Path

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
    from prefect.settings import get_current_settings

    return get_current_settings().api.url or None


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


@contextmanager
def flows(lb: App, out: Output) -> Iterator[None]:
    """Run flows in this process against the command's database: prepares the temporary
    server's database when no server is configured (and says a temporary server starts), and
    turns Prefect's start-up failure into a clear error."""
    from flows.wiring import use_database

    if prepare(out) != "server":
        out.note("Starting a temporary Prefect server (set PREFECT_API_URL to use a running "
                 "one)…", "正在启动临时Prefect服务（设置PREFECT_API_URL可使用已运行的服务）…")
    try:
        with use_database(lb.database_url):
            yield
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
