"""Issuing notices: the one sequence (number and record, load the pending contents, render in
chunks, store each chunk), run by the ``issue-notices`` flow (each step a Prefect task, renders
fanned out over processes) and by the HTTP API (each step a plain call, here and now).

Safe to rerun (see ``domain.notices``): a crash leaves pending notices that the next run renders.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Protocol

from domain import notices as svc
from domain.clock import Clock
from domain.unit_of_work import UnitOfWork
from flows.render_worker import render_chunk

CHUNK = 25  # notices rendered, then stored in one transaction

Rendered = list[tuple[int, bytes]]
Contents = list[tuple[int, dict[str, Any]]]


def pending_contents(ids: Sequence[int], *, uow_factory: Callable[[], UnitOfWork]
                     ) -> Contents:
    """The content of each notice of ``ids`` still pending (not yet rendered and stored)."""
    out = []
    with uow_factory() as uow:
        for i in ids:
            n = uow.notices.get(i)
            if n is not None and n.status == "pending":
                out.append((i, n.content))
    return out


def pending_ids(ids: Sequence[int], *, uow_factory: Callable[[], UnitOfWork]) -> list[int]:
    """Those of ``ids`` still pending, in order, without loading their contents."""
    with uow_factory() as uow:
        status = uow.notices.statuses(ids)
    return [i for i in ids if status.get(i) == "pending"]


class IssuingSteps(Protocol):
    def record(self) -> list[int]: ...
    def load(self, ids: list[int]) -> Contents: ...
    def store(self, rendered: Rendered) -> int: ...
    def numbers(self, ids: list[int]) -> list[str]: ...


def rendered_chunks(chunks: list[Contents], workers: int) -> Iterator[Rendered]:
    """Each chunk rendered to PDFs: here, or in ``workers`` processes (as they finish)."""
    if workers <= 1 or len(chunks) <= 1:
        for chunk in chunks:
            yield render_chunk(chunk)
        return
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(chunks)), mp_context=ctx) as pool:
        pending: set[Future[Rendered]] = {pool.submit(render_chunk, c) for c in chunks}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                yield fut.result()


def run_issuing(steps: IssuingSteps, *, workers: int = 1, chunk: int = CHUNK) -> dict[str, Any]:
    """The one issuing sequence; returns how many notices were recorded or left pending, how
    many were issued now and the numbers of those issued."""
    from report_templates.render import check_fonts

    check_fonts()  # refuse before numbering anything, not after
    ids = steps.record()
    items = steps.load(ids)
    chunks = [items[i : i + chunk] for i in range(0, len(items), chunk)]
    issued = sum(steps.store(r) for r in rendered_chunks(chunks, workers))
    return {"recorded_or_pending": len(ids), "recorded": len(ids), "issued": issued,
            "numbers": steps.numbers([i for i, _ in items])}


@dataclass(frozen=True)
class InProcessSteps:
    """The steps as plain calls; no campaign means routine supervision's rectification orders,
    numbered in ``office``'s series. ``public_url``: where the QR codes of new notices point
    (default: ``LOOKBACK_PUBLIC_URL``, see ``flows.wiring.public_url``)."""

    campaign_id: int | None
    kind: str
    lang: str
    uow_factory: Callable[[], UnitOfWork]
    clock: Clock
    actor: str
    office: str | None = None
    office_short: str | None = None
    public_url: str | None = None

    def record(self) -> list[int]:
        from flows.wiring import public_url

        base = self.public_url or public_url()
        if self.campaign_id is None:
            return svc.record_supervision_orders(self.lang, office=self.office or "",
                                                 office_short=self.office_short,
                                                 uow_factory=self.uow_factory, clock=self.clock,
                                                 actor=self.actor, public_url=base)
        return svc.record_notices(self.campaign_id, self.kind, self.lang,
                                  uow_factory=self.uow_factory, clock=self.clock,
                                  actor=self.actor, public_url=base)

    def load(self, ids: list[int]) -> Contents:
        return pending_contents(ids, uow_factory=self.uow_factory)

    def store(self, rendered: Rendered) -> int:
        return svc.store_issued(rendered, uow_factory=self.uow_factory, clock=self.clock,
                                actor=self.actor)

    def numbers(self, ids: list[int]) -> list[str]:
        return issued_numbers(ids, uow_factory=self.uow_factory)


def issued_numbers(ids: Sequence[int], *, uow_factory: Callable[[], UnitOfWork]) -> list[str]:
    with uow_factory() as uow:
        return [n.number for n in (uow.notices.get(i) for i in ids)
                if n is not None and n.status == "issued"]


def issue_inline(campaign_id: int, kind: str, lang: str, *,
                 uow_factory: Callable[[], UnitOfWork], clock: Clock, actor: str,
                 chunk: int = CHUNK, public_url: str | None = None) -> dict[str, Any]:
    """Number, render and store the notices of one kind for a campaign, here and now."""
    return run_issuing(InProcessSteps(campaign_id, kind, lang, uow_factory, clock, actor,
                                      public_url=public_url), chunk=chunk)
