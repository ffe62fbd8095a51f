"""The look-back review flow (回头看): fire the due follow-ups in chunks, then mark overdue issues.

Each task claims its chunk atomically and records the outcome and the events in the same
transaction, so the flow is safe to run twice, beside the scheduler, or after a crash: a
follow-up already fired is not claimed again.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from domain import followups as svc
from domain.clock import china_date
from domain.fieldwork import mark_overdue
from flows.launch import RETRY
from flows.wiring import clock_for, uow_for

CHUNK = 500


@task(name="due-followups", cache_policy=NO_CACHE, **RETRY)
def due_task(database_url: str, now_iso: str | None, limit: int) -> list[int]:
    clock = clock_for(now_iso)
    with uow_for(database_url)() as uow:
        return uow.followups.due_ids(svc.epoch(clock.now()), limit)


@task(name="open-lookbacks", cache_policy=NO_CACHE, **RETRY)
def fire_task(database_url: str, now_iso: str | None, ids: list[int], worker: str) -> dict[str, Any]:
    r = svc.fire(ids, uow_factory=uow_for(database_url), clock=clock_for(now_iso), worker=worker,
                 batch=CHUNK)
    return r.as_dict()


@task(name="mark-overdue", cache_policy=NO_CACHE, **RETRY)
def overdue_task(database_url: str, now_iso: str | None, worker: str) -> int:
    clock = clock_for(now_iso)
    return len(mark_overdue(today=china_date(clock.now()), actor=worker,
                            uow_factory=uow_for(database_url), clock=clock))


@flow(name="lookback-review", log_prints=False)
def lookback_review(database_url: str, now_iso: str | None = None,
                    worker: str = "flow:lookback-review") -> dict[str, Any]:
    """Open a look-back task for every due follow-up (each chunk one task), then mark overdue."""
    total = {"fired": 0, "opened": 0, "reminded": 0, "cancelled": 0, "batches": 0}
    while True:
        ids = due_task(database_url, now_iso, CHUNK)
        if not ids:
            break
        done = fire_task(database_url, now_iso, ids, worker)
        for k in total:
            total[k] += done[k]
    total["marked_overdue"] = overdue_task(database_url, now_iso, worker)
    return total


def run_review(database_url: str, now_iso: str | None = None,
               worker: str = "flow:lookback-review") -> dict[str, Any]:
    """Run ``lookback_review`` without flow-run heartbeats (see ``flows.launch.run_launch``)."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        result: dict[str, Any] = lookback_review(database_url, now_iso, worker)
    return result
