"""The notice-issuing flow: record (number) the notices, render them in parallel processes in
chunks, store each chunk's PDFs. Safe to rerun, also after a kill -9 mid-batch (see
``domain.notices``)."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.utilities.annotations import quote

from domain import notices as svc
from flows.issuing import pending_contents
from flows.launch import RETRY
from flows.render_worker import render_chunk
from flows.wiring import clock_for, uow_for

CHUNK = 25


@task(name="record-notices", **RETRY)
def record_task(campaign_id: int, kind: str, lang: str, database_url: str, now_iso: str | None,
                actor: str) -> list[int]:
    return svc.record_notices(campaign_id, kind, lang, uow_factory=uow_for(database_url),
                              clock=clock_for(now_iso), actor=actor)


# No input hashing for cache keys: these tasks carry whole notices and PDFs.
@task(name="load-contents", cache_policy=NO_CACHE, **RETRY)
def load_task(database_url: str, ids: list[int]) -> list[tuple[int, dict[str, Any]]]:
    return pending_contents(ids, uow_factory=uow_for(database_url))


@task(name="store-rendered", cache_policy=NO_CACHE, **RETRY)
def store_task(database_url: str, rendered: list[tuple[int, bytes]], now_iso: str | None,
               actor: str) -> int:
    return svc.store_issued(rendered, uow_factory=uow_for(database_url), clock=clock_for(now_iso),
                            actor=actor)


def default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


@flow(name="issue-notices", log_prints=False)
def issue_notices(campaign_id: int, kind: str, lang: str, database_url: str,
                  now_iso: str | None = None, actor: str = "system",
                  workers: int = 0) -> dict[str, Any]:
    """Number, render and store the notices of one kind for a campaign."""
    ids = record_task(campaign_id, kind, lang, database_url, now_iso, actor)
    items = load_task(database_url, quote(ids))
    chunks = [items[i : i + CHUNK] for i in range(0, len(items), CHUNK)]
    stored = 0
    if chunks:
        n = workers or default_workers()
        if n == 1 or len(chunks) == 1:
            for chunk in chunks:
                stored += store_task(database_url, quote(render_chunk(chunk)), now_iso, actor)
        else:
            ctx = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=min(n, len(chunks)), mp_context=ctx) as pool:
                pending: set[Future[list[tuple[int, bytes]]]] = {
                    pool.submit(render_chunk, c) for c in chunks}
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        stored += store_task(database_url, quote(fut.result()), now_iso, actor)
    return {"recorded_or_pending": len(ids), "issued": stored}


def run_issue(campaign_id: int, kind: str, lang: str, database_url: str,
              now_iso: str | None = None, actor: str = "system", workers: int = 0) -> dict[str, Any]:
    """Run the flow as the CLI does, without flow-run heartbeats (see ``flows.launch.run_launch``)."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        result: dict[str, Any] = issue_notices(campaign_id, kind, lang, database_url, now_iso,
                                               actor, workers)
    return result
