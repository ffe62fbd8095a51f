"""The notice-issuing flow: record (number) the notices, render them in parallel processes in
chunks, store each chunk's PDFs. Safe to rerun, also after a kill -9 mid-batch (see
``domain.notices``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.utilities.annotations import quote

from domain import notices as svc
from domain.errors import BadArgumentError
from flows.issuing import CHUNK, issued_numbers, pending_contents, pending_ids, run_issuing
from flows.launch import RETRY
from flows.render_worker import render_chunk
from flows.wiring import clock_for, public_url, publish_result, run_flow, uow_for


@task(name="record-notices", **RETRY)
def record_task(campaign_id: int | None, kind: str, lang: str,
                now_iso: str | None, actor: str, office: str | None = None,
                office_short: str | None = None) -> list[int]:
    """Number and record: a campaign's notices, or (no campaign) the rectification orders of
    routine supervision's findings in ``office``'s series."""
    if campaign_id is None:
        if kind != "rectification_order":
            raise BadArgumentError(
                "routine supervision issues rectification orders only (--kind rectification_order)",
                "包保督导只签发责令整改通知书（--kind rectification_order）")
        return svc.record_supervision_orders(lang, office=office or "",
                                             office_short=office_short,
                                             uow_factory=uow_for(),
                                             clock=clock_for(now_iso), actor=actor,
                                             public_url=public_url())
    return svc.record_notices(campaign_id, kind, lang, uow_factory=uow_for(),
                              clock=clock_for(now_iso), actor=actor, public_url=public_url())


# No input hashing for cache keys: these tasks carry whole notices and PDFs.
@task(name="load-contents", cache_policy=NO_CACHE, **RETRY)
def load_task(ids: list[int]) -> list[tuple[int, dict[str, Any]]]:
    return pending_contents(ids, uow_factory=uow_for())


@task(name="store-rendered", cache_policy=NO_CACHE, **RETRY)
def store_task(rendered: list[tuple[int, bytes]], now_iso: str | None,
               actor: str) -> int:
    return svc.store_issued(rendered, uow_factory=uow_for(), clock=clock_for(now_iso),
                            actor=actor)


def default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class _TaskSteps:
    """Each issuing step as its Prefect task."""

    campaign_id: int | None
    kind: str
    lang: str
    now_iso: str | None
    actor: str
    office: str | None = None
    office_short: str | None = None

    def record(self) -> list[int]:
        ids: list[int] = record_task(self.campaign_id, self.kind, self.lang,
                                     self.now_iso, self.actor, self.office, self.office_short)
        return ids

    def load(self, ids: list[int]) -> list[tuple[int, dict[str, Any]]]:
        items: list[tuple[int, dict[str, Any]]] = load_task(quote(ids))
        return items

    def store(self, rendered: list[tuple[int, bytes]]) -> int:
        return int(store_task(quote(rendered), self.now_iso, self.actor))

    def numbers(self, ids: list[int]) -> list[str]:
        return issued_numbers(ids, uow_factory=uow_for())


@flow(name="render-notices", log_prints=False, persist_result=True)
def render_notices(ids: list[int], now_iso: str | None = None, actor: str = "system") -> int:
    """One chunk of a fanned-out batch, its own flow run that any worker takes: render the
    notices of ``ids`` still pending and store them in one transaction; how many were issued.
    Run again — after a kill midway, or twice at once — it issues nothing twice: what is no
    longer pending is skipped, and storing re-checks it under lock."""
    items = pending_contents(ids, uow_factory=uow_for())
    if not items:
        return 0
    return svc.store_issued(render_chunk(items), uow_factory=uow_for(),
                            clock=clock_for(now_iso), actor=actor)


FAN_OUT_TRIES = 3
CHUNK_TIMEOUT_VARIABLE = "LOOKBACK_NOTICE_CHUNK_TIMEOUT"
DEFAULT_CHUNK_TIMEOUT = 600.0


def chunk_timeout() -> float:
    """Seconds a chunk's run may take before it is taken for lost (its worker killed, the run
    left RUNNING) and submitted again: ``LOOKBACK_NOTICE_CHUNK_TIMEOUT``, default 600."""
    raw = os.environ.get(CHUNK_TIMEOUT_VARIABLE, "")
    try:
        return max(1.0, float(raw)) if raw else DEFAULT_CHUNK_TIMEOUT
    except ValueError:
        return DEFAULT_CHUNK_TIMEOUT


def _give_up(run_id: Any, why: str) -> None:
    """Mark a chunk's run that outlived its time CRASHED, so that the UI shows what happened and
    no worker starts it late (if it still runs somewhere, its store re-checks under lock)."""
    from prefect.client.orchestration import get_client
    from prefect.states import Crashed

    with get_client(sync_client=True) as client:
        client.set_flow_run_state(run_id, Crashed(message=why), force=True)


def _render_remotely(ids: list[int], now_iso: str | None, actor: str, logger: Any,
                     batch: str) -> int:
    """Run one chunk as a ``render-notices`` flow run on the work pool. A run that crashed or
    failed, or did not finish within :func:`chunk_timeout` (its worker was killed), is
    submitted again, up to three times in all; what the lost run stored stays stored once."""
    from prefect.deployments import run_deployment

    last = ""
    limit = chunk_timeout()
    for _ in range(FAN_OUT_TRIES):
        run = run_deployment("render-notices/render-notices", as_subflow=False, timeout=limit,
                             poll_interval=1, tags=[batch],
                             parameters={"ids": ids, "now_iso": now_iso, "actor": actor})
        state = run.state
        if state is not None and state.is_completed():
            return int(state.result())
        if state is None or not state.is_final():
            why = f"no result within {limit:.0f} s ({CHUNK_TIMEOUT_VARIABLE}); submitted again"
            _give_up(run.id, why)
            last = f"{run.name}: {why}"
        else:
            last = f"{run.name}: {state.name}"
        logger.warning("chunk of %d notices: %s; submitting it again", len(ids), last)
    raise RuntimeError(f"a chunk of {len(ids)} notices did not finish after {FAN_OUT_TRIES} "
                       f"tries (last {last})")


def batch_tag(parent_run_id: str) -> str:
    """The tag of every chunk run of one fanned-out batch."""
    return f"batch:{parent_run_id}"


MAX_CHUNK = 200  # notices per chunk run at most: what a retry after a lost worker repeats
MIN_CHUNK = 10


def fan_out_chunk(pending: int, slots: int) -> int:
    """Notices per chunk. The chunk count is a multiple of ``slots`` (two per slot, more when
    that would exceed 200 notices a chunk), so that every slot renders about the same number of
    notices and the batch ends when they all do; at least 10 notices a chunk."""
    slots = max(1, slots)
    rounds = max(2, -(-pending // (slots * MAX_CHUNK)))
    return max(MIN_CHUNK, min(MAX_CHUNK, -(-pending // (slots * rounds))))


@flow(name="issue-notices", log_prints=False, persist_result=True)
def issue_notices(campaign_id: int | None, kind: str, lang: str,
                  now_iso: str | None = None, actor: str = "system",
                  workers: int = 0, office: str | None = None,
                  office_short: str | None = None, fan_out: int = 0) -> dict[str, Any]:
    """Number, render and store the notices of one kind for a campaign — or, with no campaign,
    the rectification orders of routine supervision in ``office``'s series.

    ``fan_out`` 0: ``flows.issuing.run_issuing``, each step a task, renders over ``workers``
    processes. ``fan_out`` N (on a work pool with N run slots): the pending notices are split
    into chunks, each a ``render-notices`` flow run that any worker takes, N at a time."""
    steps = _TaskSteps(campaign_id, kind, lang, now_iso, actor, office, office_short)
    if not fan_out:
        return publish_result(run_issuing(steps, workers=workers or default_workers(),
                                          chunk=CHUNK))
    from concurrent.futures import ThreadPoolExecutor

    from report_templates.render import check_fonts

    check_fonts()
    ids = steps.record()
    pending = pending_ids(ids, uow_factory=uow_for())
    size = fan_out_chunk(len(pending), fan_out)
    chunks = [pending[i : i + size] for i in range(0, len(pending), size)]
    # The chunks are waited for in threads, outside the run's context: they log through the
    # run's logger, taken here.
    logger = get_run_logger()
    logger.info("%d notices pending: %d chunks of up to %d", len(pending), len(chunks), size)
    from prefect.runtime import flow_run

    batch = batch_tag(str(flow_run.get_id()))  # the chunks' tag: a job's progress counts them
    with ThreadPoolExecutor(max(1, min(len(chunks), fan_out))) as pool:
        issued = sum(pool.map(lambda c: _render_remotely(c, now_iso, actor, logger, batch),
                              chunks))
    return publish_result({"recorded_or_pending": len(ids), "recorded": len(ids),
                           "issued": issued, "numbers": steps.numbers(pending),
                           "chunks": len(chunks)})


def run_issue(campaign_id: int | None, kind: str, lang: str, now_iso: str | None = None,
              actor: str = "system", workers: int = 0, office: str | None = None,
              office_short: str | None = None) -> dict[str, Any]:
    """Run ``issue_notices`` in this process (``flows.wiring.run_flow``)."""
    result: dict[str, Any] = run_flow(issue_notices, campaign_id, kind, lang, now_iso, actor,
                                      workers, office, office_short)
    return result
