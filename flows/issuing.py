"""Issuing notices without Prefect: the same steps as the ``issue-notices`` flow (record, load
the pending contents, render, store) run one after the other in this process, for the HTTP API.
The flow loads its contents with :func:`pending_contents` too."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from domain import notices as svc
from domain.clock import Clock
from domain.unit_of_work import UnitOfWork
from flows.render_worker import render_chunk

CHUNK = 25  # notices rendered, then stored in one transaction


def pending_contents(ids: Sequence[int], *, uow_factory: Callable[[], UnitOfWork]
                     ) -> list[tuple[int, dict[str, Any]]]:
    """The content of each of these notices that is still pending (issued ones are left)."""
    out = []
    with uow_factory() as uow:
        for i in ids:
            n = uow.notices.get(i)
            if n is not None and n.status == "pending":
                out.append((i, n.content))
    return out


def issue_inline(campaign_id: int, kind: str, lang: str, *,
                 uow_factory: Callable[[], UnitOfWork], clock: Clock, actor: str,
                 chunk: int = CHUNK) -> dict[str, Any]:
    """Number, render and store the notices of one kind for a campaign, here and now; returns
    how many were pending, how many were issued now and their numbers. Safe to rerun (see
    ``domain.notices``): a crash leaves pending notices that the next run renders."""
    from report_templates.render import check_fonts

    check_fonts()  # refuse before numbering anything, not after
    ids = svc.record_notices(campaign_id, kind, lang, uow_factory=uow_factory, clock=clock,
                             actor=actor)
    items = pending_contents(ids, uow_factory=uow_factory)
    issued = 0
    for start in range(0, len(items), chunk):
        issued += svc.store_issued(render_chunk(items[start:start + chunk]),
                                   uow_factory=uow_factory, clock=clock, actor=actor)
    with uow_factory() as uow:
        numbers = [n.number for n in (uow.notices.get(i) for i, _ in items)
                   if n is not None and n.status == "issued"]
    return {"recorded": len(ids), "issued": issued, "numbers": numbers}
