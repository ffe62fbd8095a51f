"""The look-back review flow (回头看): the one sweep, as a Prefect flow.

The flow runs :func:`domain.followups.sweep` — the same function the scheduler and ``lookback
followup sweep`` call: fire the due follow-ups, mark overdue issues, open the routine-supervision
visits of the periods that have begun. Each step commits in batches and skips rows another
transaction holds, so the flow is safe to run twice, beside the scheduler, or after a crash.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from domain import followups as svc
from flows.launch import RETRY
from flows.wiring import clock_for, publish_result, run_flow, uow_for

CHUNK = 500


@task(name="sweep", cache_policy=NO_CACHE, **RETRY)
def sweep_task(now_iso: str | None, worker: str) -> dict[str, Any]:
    logger = get_run_logger()
    fired = 0

    def progress(n: int) -> None:
        nonlocal fired
        fired += n
        logger.info("fired %d follow-ups so far", fired)

    r = svc.sweep(uow_factory=uow_for(), clock=clock_for(now_iso), worker=worker,
                  batch=CHUNK, on_batch=progress)
    return r.as_dict()


@task(name="fire", cache_policy=NO_CACHE, **RETRY)
def fire_task(ids: list[int], now_iso: str | None, worker: str) -> dict[str, Any]:
    r = svc.fire(ids, uow_factory=uow_for(), clock=clock_for(now_iso), worker=worker)
    get_run_logger().info("follow-ups %s: %d fired (%d look-backs opened, %d reminders, "
                          "%d cancelled)", ids, r.fired, r.opened, r.reminded, r.cancelled)
    return {**r.as_dict(), "followups": ids, "fired_ids": r.fired_ids}


@flow(name="lookback-review", log_prints=False, persist_result=True)
def lookback_review(now_iso: str | None = None, worker: str = "flow:lookback-review",
                    followup_ids: list[int] | None = None) -> dict[str, Any]:
    """Fire every due follow-up, mark overdue issues, open due supervision visits — or, given
    ``followup_ids`` (a scheduler's timer), fire just those (each only if still pending and
    due: a run submitted twice fires nothing twice)."""
    if followup_ids:
        fired: dict[str, Any] = fire_task(followup_ids, now_iso, worker)
        return publish_result(fired)
    result: dict[str, Any] = sweep_task(now_iso, worker)
    return publish_result(result)


def run_review(now_iso: str | None = None,
               worker: str = "flow:lookback-review") -> dict[str, Any]:
    """Run ``lookback_review`` in this process (``flows.wiring.run_flow``)."""
    result: dict[str, Any] = run_flow(lookback_review, now_iso, worker)
    return result
