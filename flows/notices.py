"""The notice-issuing flow: record (number) the notices, render them in parallel processes in
chunks, store each chunk's PDFs. Safe to rerun, also after a kill -9 mid-batch (see
``domain.notices``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.utilities.annotations import quote

from domain import notices as svc
from domain.errors import BadArgumentError
from flows.issuing import CHUNK, issued_numbers, pending_contents, run_issuing
from flows.launch import RETRY
from flows.wiring import clock_for, run_flow, uow_for


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
                                             clock=clock_for(now_iso), actor=actor)
    return svc.record_notices(campaign_id, kind, lang, uow_factory=uow_for(),
                              clock=clock_for(now_iso), actor=actor)


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


@flow(name="issue-notices", log_prints=False, persist_result=True)
def issue_notices(campaign_id: int | None, kind: str, lang: str,
                  now_iso: str | None = None, actor: str = "system",
                  workers: int = 0, office: str | None = None,
                  office_short: str | None = None) -> dict[str, Any]:
    """Number, render and store the notices of one kind for a campaign — or, with no campaign,
    the rectification orders of routine supervision in ``office``'s series
    (``flows.issuing.run_issuing``, each step a task, renders over ``workers`` processes)."""
    return run_issuing(_TaskSteps(campaign_id, kind, lang, now_iso, actor, office,
                                  office_short),
                       workers=workers or default_workers(), chunk=CHUNK)


def run_issue(campaign_id: int | None, kind: str, lang: str, now_iso: str | None = None,
              actor: str = "system", workers: int = 0, office: str | None = None,
              office_short: str | None = None) -> dict[str, Any]:
    """Run ``issue_notices`` in this process (``flows.wiring.run_flow``)."""
    result: dict[str, Any] = run_flow(issue_notices, campaign_id, kind, lang, now_iso, actor,
                                      workers, office, office_short)
    return result
