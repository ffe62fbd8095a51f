"""The campaign launch flow: freeze the frame, draw, form teams, plan visits in chunks, finish.

Each task opens its own unit of work and calls one domain service; every service is idempotent,
so the flow is safe to run twice, after a crash at any point, or twice at the same time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.utilities.annotations import quote

from domain import campaigns as svc
from domain.errors import LookbackError
from flows.wiring import clock_for, publish_result, run_flow, uow_for

VISIT_CHUNK = 500


def retry_unless_domain_error(_task: Any, _run: Any, state: Any) -> bool:
    """Retry database hiccups, never a domain error: the same input would fail the same way."""
    try:
        state.result()
    except LookbackError:
        return False
    except Exception:
        return True
    return False


RETRY = {"retries": 2, "retry_delay_seconds": 1, "retry_condition_fn": retry_unless_domain_error}


@task(name="freeze-frame", **RETRY)
def freeze_frame_task(campaign_id: int, now_iso: str | None) -> dict[str, Any]:
    frame = svc.freeze_frame(campaign_id, uow_factory=uow_for(),
                             clock=clock_for(now_iso))
    return {"sha256": frame.sha256, "businesses": frame.businesses,
            "inspectors": frame.inspectors}


@task(name="draw", cache_policy=NO_CACHE, **RETRY)
def draw_task(campaign_id: int,
              now_iso: str | None) -> list[tuple[str, int, str]]:
    """Draw (once) and return the visits to plan: (uscc, team, stratum)."""
    record = svc.run_draw(campaign_id, uow_factory=uow_for(),
                          clock=clock_for(now_iso))
    return svc.visit_rows(record)


@task(name="form-teams", **RETRY)
def teams_task(campaign_id: int) -> int:
    uow = uow_for()
    with uow() as u:
        record = u.campaigns.get_record(campaign_id)
    assert record is not None
    return svc.plan_teams(campaign_id, record, uow_factory=uow)


@task(name="plan-visits", cache_policy=NO_CACHE, **RETRY)
def visits_task(campaign_id: int, rows: list[tuple[str, int, str]]) -> int:
    return svc.plan_visits(campaign_id, rows, uow_factory=uow_for())


@task(name="finish-launch", **RETRY)
def finish_task(campaign_id: int, now_iso: str | None) -> None:
    svc.finish_launch(campaign_id, uow_factory=uow_for(), clock=clock_for(now_iso))


@dataclass(frozen=True)
class _TaskSteps:
    """Each launch step as its Prefect task (plain values in, so a worker can run it)."""

    campaign_id: int
    now_iso: str | None

    def freeze(self) -> dict[str, Any]:
        out: dict[str, Any] = freeze_frame_task(self.campaign_id, self.now_iso)
        return out

    def draw(self) -> list[tuple[str, int, str]]:
        rows: list[tuple[str, int, str]] = draw_task(self.campaign_id,
                                                     self.now_iso)
        return rows

    def teams(self) -> int:
        return int(teams_task(self.campaign_id))

    def visits(self, rows: list[tuple[str, int, str]]) -> int:
        # quote(): Prefect would otherwise walk every row of the chunk to track dependencies.
        return int(visits_task(self.campaign_id, quote(rows)))

    def finish(self) -> None:
        finish_task(self.campaign_id, self.now_iso)


@flow(name="launch-campaign", log_prints=False, persist_result=True)
def launch_campaign(campaign_id: int, now_iso: str | None = None) -> dict[str, Any]:
    """Launch a campaign: ``domain.campaigns.run_launch_steps``, each step a Prefect task."""
    return publish_result(svc.run_launch_steps(_TaskSteps(campaign_id, now_iso),
                                               chunk_rows=VISIT_CHUNK))


def run_launch(campaign_id: int, now_iso: str | None = None) -> dict[str, Any]:
    """Run ``launch_campaign`` in this process (``flows.wiring.run_flow``)."""
    result: dict[str, Any] = run_flow(launch_campaign, campaign_id, now_iso)
    return result
