"""Jobs: work the API hands to the Prefect workers instead of doing it in the request.

When a `lookback up` stack serves the API's database, or the environment names a work pool
(``LOOKBACK_SUBMIT_TO_WORKERS``), ``POST /campaigns/{id}/notices`` submits an ``issue-notices``
run and answers 202 with a job; ``GET /jobs/{id}`` follows it. The job is the flow run (its id is
the run's id); its progress is counted from the records: the notices of the batch's chunk runs
(tagged ``batch:<run id>``) that are issued, out of all of them. Nothing about a job is stored
by Lookback itself, so any API process answers for any job.
"""

from __future__ import annotations

import uuid
from typing import Any

from domain.errors import NotFoundError
from lookback.bootstrap import App

NOTICES_DEPLOYMENT = "issue-notices/issue-notices"


def workers_for(lb: App) -> Any | None:
    """The stack or work pool this API's flows go to, or None (then it works in-process)."""
    from lookback import stack

    found = stack.discover(lb.data_dir.expanduser().resolve(), lb.database_url)
    return found if found is not None else stack.configured_pool()


def submit_notices(pool: Any, parameters: dict[str, Any]) -> dict[str, Any]:
    """Submit an ``issue-notices`` run (fanned out over the pool's slots); the new job."""
    from lookback.prefect_runtime import configure

    configure()
    from prefect.deployments import run_deployment

    run = run_deployment(NOTICES_DEPLOYMENT, timeout=0, parameters={
        **parameters, "fan_out": max(1, int(pool.slots) - 1)})
    return _job(run, pool.ui_url, done=0, total=0)


def _job(run: Any, ui_url: str, *, done: int, total: int,
         result: dict[str, Any] | None = None) -> dict[str, Any]:
    params = run.parameters or {}
    state = run.state.type.value if run.state else "SCHEDULED"
    return {"id": str(run.id), "kind": "issue-notices", "state": state,
            "state_message": (run.state.message if run.state else None) or None,
            "campaign_id": params.get("campaign_id"), "notice_kind": params.get("kind"),
            "done": done, "total": total, "result": result,
            "url": f"{ui_url}/runs/flow-run/{run.id}"}


def read_run(lb: App, job_id: str) -> tuple[Any, Any]:
    """The flow run of job ``job_id`` and the pool; NotFoundError when there is no such job."""
    if len(job_id) > 64:  # not an id, and not to be echoed whole
        raise NotFoundError(f"job {job_id[:64]}… does not exist", f"任务{job_id[:64]}…不存在")
    missing = NotFoundError(f"job {job_id} does not exist", f"任务{job_id}不存在")
    pool = workers_for(lb)
    try:
        run_id = uuid.UUID(job_id)
    except ValueError:
        raise missing from None
    if pool is None:
        raise missing
    from lookback.prefect_runtime import configure

    configure()
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            run = client.read_flow_run(run_id)
            dep = client.read_deployment(run.deployment_id) if run.deployment_id else None
        except ObjectNotFound:
            raise missing from None
    if dep is None or dep.name != "issue-notices":
        raise missing
    return run, pool


def progress(lb: App, run: Any, pool: Any) -> dict[str, Any]:
    """The job of ``run``: its state, and done/total counted from the batch's notices."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

    from flows.notices import batch_tag

    with get_client(sync_client=True) as client:
        chunks = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            tags=FlowRunFilterTags(all_=[batch_tag(str(run.id))])), limit=200)
    ids = sorted({int(i) for c in chunks for i in (c.parameters or {}).get("ids", [])})
    with lb.read_uow_factory()() as uow:
        status = uow.notices.statuses(ids)
    done = sum(1 for i in ids if status.get(i) == "issued")
    result = None
    if run.state is not None and run.state.is_completed():
        try:
            result = dict(run.state.result())
        except Exception:  # the result is kept where the worker ran: state and counts only
            result = None
    return _job(run, pool.ui_url, done=done, total=len(ids), result=result)
