"""How a task opens the database: from its process's settings, one engine per URL and process,
a unit of work per call.

Flows and tasks take ids and plain values only — never a database URL, a password, a session or
a client — so their parameters, which a Prefect server shows to anyone with its API or UI, hold
no credentials, and they run the same in another process or on another machine (a worker). The
database is the worker's own: ``LOOKBACK_DATABASE_URL`` in its environment, or the Prefect
Secret block named by ``LOOKBACK_DATABASE_SECRET``. A CLI that runs a flow in its own process
sets ``LOOKBACK_DATABASE_URL`` for it first (:func:`use_database`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy.engine import Engine

from domain.clock import Clock, FixedClock, SystemClock
from domain.errors import LookbackError
from storage.db import make_engine
from storage.uow import SqlUnitOfWork

URL_VARIABLE = "LOOKBACK_DATABASE_URL"
SECRET_VARIABLE = "LOOKBACK_DATABASE_SECRET"
PUBLIC_URL_VARIABLE = "LOOKBACK_PUBLIC_URL"


class NoDatabaseError(LookbackError):
    code = "no_database"
    exit_code = 2


def database_url() -> str:
    """The database of this process: ``LOOKBACK_DATABASE_URL``, else the Prefect Secret block
    named by ``LOOKBACK_DATABASE_SECRET``."""
    url = os.environ.get(URL_VARIABLE)
    if url:
        return url
    secret = os.environ.get(SECRET_VARIABLE)
    if secret:
        return _secret(secret)
    raise NoDatabaseError(
        f"this worker has no database: set {URL_VARIABLE} (or {SECRET_VARIABLE}, the name of a "
        "Prefect Secret block holding the URL) in its environment",
        f"此工作进程未配置数据库：请在其环境中设置{URL_VARIABLE}（或{SECRET_VARIABLE}，"
        "即保存数据库地址的Prefect Secret块的名称）")


@lru_cache(maxsize=4)
def _secret(name: str) -> str:
    from prefect.blocks.system import Secret

    value = Secret.load(name).get()
    return str(value)


@contextmanager
def use_database(url: str) -> Iterator[None]:
    """Run flows in this process against ``url`` (a CLI command's ``--db``)."""
    before = os.environ.get(URL_VARIABLE)
    os.environ[URL_VARIABLE] = url
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(URL_VARIABLE, None)
        else:
            os.environ[URL_VARIABLE] = before


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    return make_engine(url)


def uow_for(url: str | None = None) -> Callable[[], SqlUnitOfWork]:
    """Units of work on ``url``, by default this process's database (:func:`database_url`)."""
    engine = engine_for(url or database_url())
    return lambda: SqlUnitOfWork(engine)


def public_url() -> str:
    """Where this deployment's public check page (``/verify/{code}``) is served, which a new
    notice's QR code points to: ``LOOKBACK_PUBLIC_URL``, as the API's settings read it."""
    from domain.notices import DEFAULT_PUBLIC_URL

    return (os.environ.get(PUBLIC_URL_VARIABLE, "").strip() or DEFAULT_PUBLIC_URL).rstrip("/")


def clock_for(now_iso: str | None) -> Clock:
    return FixedClock(datetime.fromisoformat(now_iso)) if now_iso else SystemClock()


def server_url() -> str | None:
    """The Prefect server flows report to (``PREFECT_API_URL`` in the environment or the active
    Prefect profile), or None: then Prefect starts a temporary one for this process."""
    from prefect.settings import get_current_settings

    return get_current_settings().api.url or None


RESULT_ARTIFACT = "lookback-result"


def publish_result(result: dict[str, Any]) -> dict[str, Any]:
    """Attach a flow run's result to the run as an artifact of type ``lookback-result`` (JSON),
    when the run came from a deployment: the command that submitted it reads it over the REST
    API (``lookback.prefect_http``) without importing Prefect, and the UI shows it under the
    run's artifacts. Returns ``result`` unchanged."""
    from prefect.runtime import deployment

    if deployment.id:
        from prefect.artifacts import Artifact

        Artifact(type=RESULT_ARTIFACT, data=result,
                 description="Lookback: the result of this run").create()
    return result


def run_flow(flow_fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a flow in this process. On a Prefect server heartbeats stay on, so that a run killed
    midway is marked crashed; on a temporary server they are off (a heartbeat thread makes a
    short synchronous flow wait about a second on exit, and nobody watches a temporary server)."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    quiet = nullcontext() if server_url() else temporary_settings(
        {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None})
    with quiet:
        return flow_fn(*args, **kwargs)
