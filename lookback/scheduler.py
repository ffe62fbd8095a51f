"""The scheduler daemon (`lookback scheduler run`): one APScheduler 3 process over the follow-up
table.

The follow-up rows are the truth; APScheduler only holds timers for the ones due soon:

* **Lease.** Only the holder of the ``scheduler`` lease (a row renewed by heartbeat) schedules
  anything; a second process waits as a standby and takes over once the lease expires, so one
  job store never has two schedulers.
* **Start-up.** Jobs of rows no longer pending are removed from the store (APScheduler deletes a
  one-shot job when it hands it to the executor, so a crash can leave a row pending with no job,
  or a job whose row was already fired by the sweep); then a sweep fires everything already due
  (a scheduler down across a due date runs it now), and jobs are added for the earliest pending
  rows due within the horizon (``followup:{issue}:{revision}``, ``reminder:{issue}:{revision}``).
* **Jobs** claim their row atomically and record the outcome in the same transaction (see
  ``domain.followups``): a job that finds its row already fired does nothing.
* **Sweep** every ``sweep_seconds``: the safety net for anything due without a run, and the
  overdue marking. **Refill** tops up the timers as the horizon moves.
* **On a Prefect server** (``PREFECT_API_URL`` set, the ``lookback-review`` deployment
  registered) a due follow-up is not fired here but submitted as a ``lookback-review`` flow run
  that a worker takes (:class:`ReviewRuns`), so each fired look-back shows in the Prefect UI. The
  run's idempotency key names the follow-up, so a timer and a sweep, or a leader and the standby
  that took over from it, submit one run between them. What the server refuses, what its run
  ended without firing, and what a run has left pending for ``stale_seconds`` is fired here:
  nothing waits on a worker that is gone.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from domain import followups as svc
from domain.clock import Clock, OffsetClock, SystemClock
from lookback.bootstrap import App

log = logging.getLogger("lookback.scheduler")

JOBS_TABLE = "apscheduler_jobs"

# The running daemon, for the job functions: APScheduler stores jobs by reference
# (``lookback.scheduler:fire_job``) with plain arguments, so they find the database here.
_DAEMON: Daemon | None = None


def job_id(kind: str, issue_id: int, revision: int) -> str:
    return f"{'followup' if kind == svc.REVIEW else 'reminder'}:{issue_id}:{revision}"


def fire_job(followup_id: int) -> None:
    """A one-shot job: fire one follow-up (nothing if it was fired already or is not due)."""
    d = _DAEMON
    if d is None:  # pragma: no cover - a job left in the store fired by another process
        return
    d.fire_one(followup_id)


REVIEW_DEPLOYMENT = "lookback-review/lookback-review"
DISPATCH_MAX = 200  # follow-ups submitted one run each per sweep; a larger backlog fires here


@dataclass
class ReviewRuns:
    """Submits due follow-ups as runs of the ``lookback-review`` deployment, one run per
    follow-up and due instant (the idempotency key)."""

    deployment_id: Any
    holder: str
    stale_seconds: float = 600.0

    @classmethod
    def find(cls, holder: str) -> ReviewRuns | None:
        """The deployment on the configured Prefect server, or None (no server, or not
        registered: then the scheduler fires in its own process)."""
        from prefect.client.orchestration import get_client
        from prefect.exceptions import ObjectNotFound

        with get_client(sync_client=True) as client:
            try:
                dep = client.read_deployment_by_name(REVIEW_DEPLOYMENT)
            except ObjectNotFound:
                return None
        return cls(dep.id, holder)

    @staticmethod
    def key(fu: svc.FollowUp) -> str:
        return f"followup:{fu.id}:{fu.revision}:{fu.due_at}"

    def submit(self, due: list[svc.FollowUp], now_iso: str | None) -> list[int]:
        """Submit a run for each of ``due``; returns the ids to fire in this process instead: the
        run exists already and ended (it fired them, or found them not yet due), or it has been
        waiting for a worker longer than ``stale_seconds``."""
        from prefect.client.orchestration import get_client

        left: list[int] = []
        now = datetime.now(UTC)
        with get_client(sync_client=True) as client:
            for fu in due:
                run = client.create_flow_run_from_deployment(
                    self.deployment_id, idempotency_key=self.key(fu),
                    parameters={"followup_ids": [fu.id], "now_iso": now_iso,
                                "worker": f"flow:lookback-review:{self.holder}"},
                    tags=["lookback-review", f"issue:{fu.issue_id}"])
                state = run.state
                waited = (now - run.created).total_seconds() if run.created else 0.0
                if (state is not None and state.is_final()) or waited > self.stale_seconds:
                    left.append(fu.id)
        return left


@dataclass
class Daemon:
    app: App
    holder: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    lease_seconds: int = 15
    sweep_seconds: int = 60
    horizon_seconds: int = 24 * 3600
    max_jobs: int = 1000
    clock: Clock = field(default_factory=SystemClock)
    stop: threading.Event = field(default_factory=threading.Event)
    on_event: Any = None  # callable(str) for progress messages (the CLI prints them)
    runs: ReviewRuns | None = None  # set: due follow-ups go to the Prefect workers
    _scheduler: Any = None
    stats: dict[str, int] = field(default_factory=lambda: {"fired": 0, "sweeps": 0, "jobs": 0})

    # --- helpers ------------------------------------------------------------------------------

    def _say(self, msg: str) -> None:
        log.info(msg)
        if self.on_event:
            self.on_event(msg)

    def _real(self, instant: datetime) -> datetime:
        return self.clock.to_real(instant) if isinstance(self.clock, OffsetClock) else instant

    def fire_one(self, followup_id: int) -> None:
        with self.app.read_uow_factory()() as uow:
            fu = uow.followups.get(followup_id)
        if fu is None or fu.status != "pending":
            return
        wait = fu.due_at - self.clock.now().timestamp()
        if 0 < wait <= 5:  # timer and clock a hair apart: never fire early
            time.sleep(wait)
        ids = self._dispatch([fu]) if self.runs else [followup_id]
        if not ids:
            return
        r = svc.fire(ids, uow_factory=self.app.uow_factory(), clock=self.clock,
                     worker=self.holder)
        self.stats["fired"] += r.fired
        if r.fired:
            self._say(f"fired follow-up {followup_id} ({fu.kind} of issue {fu.issue_id})")

    def _now_iso(self) -> str | None:
        """The clock a submitted run fires by: the scheduler's own when it is shifted (--now)."""
        return self.clock.now().isoformat() if isinstance(self.clock, OffsetClock) else None

    def _dispatch(self, due: list[svc.FollowUp]) -> list[int]:
        """Submit ``due`` to the workers; the ids to fire here instead (all of them when the
        server does not answer)."""
        assert self.runs is not None
        try:
            left = self.runs.submit(due, self._now_iso())
        except Exception as e:  # the server is down or refuses: fire here, lose nothing
            log.warning("submitting %d follow-ups to Prefect failed (%s); firing them here",
                        len(due), e)
            return [fu.id for fu in due]
        if len(left) < len(due):
            self.stats["submitted"] = self.stats.get("submitted", 0) + len(due) - len(left)
            self._say(f"submitted {len(due) - len(left)} look-back runs to the Prefect workers")
        return left

    def _sweep_through_workers(self) -> tuple[svc.SweepResult, bool]:
        """The due follow-ups submitted as runs (what is left fired here); whether a backlog
        larger than one sweep submits is left to the in-process sweep."""
        with self.app.read_uow_factory()() as uow:
            due = uow.followups.list(status="pending", kind=None, team=None, campaign_id=None,
                                     due_before=svc.epoch(self.clock.now()),
                                     limit=DISPATCH_MAX)
        left = self._dispatch(due) if due else []
        r = (svc.fire(left, uow_factory=self.app.uow_factory(), clock=self.clock,
                      worker=self.holder) if left else svc.SweepResult())
        return r, len(due) >= DISPATCH_MAX

    def sweep(self) -> svc.SweepResult:
        # The one sweep: fire what is due, mark overdue, and open the routine-supervision visits
        # (包保督导) of any period that has begun, on the same clock.
        here, backlog = (self._sweep_through_workers() if self.runs
                         else (svc.SweepResult(), True))
        r = svc.sweep(uow_factory=self.app.uow_factory(), clock=self.clock, worker=self.holder,
                      fire_due=backlog)
        for name in ("opened", "reminded", "cancelled"):
            setattr(r, name, getattr(r, name) + getattr(here, name))
        self.stats["fired"] += r.fired
        self.stats["sweeps"] += 1
        if r.supervision_opened:
            self._say(f"supervision: {r.supervision_opened} visits opened for the periods begun "
                      "since the last opening")
        if r.fired or r.marked_overdue:
            self._say(f"sweep: {r.fired} fired ({r.opened} look-backs opened, {r.reminded} "
                      f"reminders, {r.cancelled} cancelled), {r.marked_overdue} marked overdue")
        return r

    # --- the lease ----------------------------------------------------------------------------

    def _take_lease(self) -> bool:
        return svc.take_lease(self.holder, uow_factory=self.app.uow_factory(),
                              now=datetime.now(UTC), ttl=self.lease_seconds)

    def _heartbeat(self) -> None:
        try:
            ok = self._take_lease()
        except Exception as e:  # the database is briefly unavailable: try again next beat
            log.warning("heartbeat failed: %s", e)
            return
        if not ok:
            self._say("lost the scheduler lease; going back to standby")
            self._shutdown()

    def _shutdown(self) -> None:
        sched = self._scheduler
        if sched is not None and sched.running:
            sched.shutdown(wait=False)

    # --- timers -------------------------------------------------------------------------------

    def _jobstore(self) -> Any:
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

        return SQLAlchemyJobStore(engine=self.app.engine, tablename=JOBS_TABLE)

    def reconcile(self) -> int:
        """Remove the timers whose follow-up is no longer pending (fired by a sweep, cancelled
        by a new due date); returns how many were removed."""
        sched = self._scheduler
        jobs = [j for j in sched.get_jobs(jobstore="default")
                if j.id.startswith(("followup:", "reminder:"))]
        if not jobs:
            return 0
        with self.app.read_uow_factory()() as uow:
            pending = uow.followups.pending_among([j.args[0] for j in jobs if j.args])
        removed = 0
        for j in jobs:
            if not j.args or j.args[0] not in pending:
                sched.remove_job(j.id, jobstore="default")
                removed += 1
        return removed

    def refill(self) -> int:
        """Add timers for the earliest pending follow-ups due within the horizon."""
        sched = self._scheduler
        now = self.clock.now()
        with self.app.read_uow_factory()() as uow:
            rows = uow.followups.list(status="pending", kind=None, team=None, campaign_id=None,
                                      due_before=svc.epoch(now) + self.horizon_seconds,
                                      limit=self.max_jobs)
        have = {j.id for j in sched.get_jobs(jobstore="default")}
        added = 0
        for fu in rows:
            jid = job_id(fu.kind, fu.issue_id, fu.revision)
            if jid in have:
                continue
            run_at = self._real(datetime.fromtimestamp(fu.due_at, UTC))
            sched.add_job(fire_job, "date", run_date=max(run_at, datetime.now(UTC)), id=jid,
                          args=[fu.id], jobstore="default", replace_existing=True)
            added += 1
        self.stats["jobs"] += added
        return added

    # --- running ------------------------------------------------------------------------------

    def start_up(self) -> dict[str, Any]:
        """What the leader does before its timers run: reconcile, sweep, add timers."""
        t0 = time.perf_counter()
        removed = self.reconcile()
        swept = self.sweep()
        added = self.refill()
        seconds = time.perf_counter() - t0
        self._say(f"started as {self.holder}: {removed} stale timers removed, {swept.fired} "
                  f"follow-ups due on start-up fired, {added} timers set ({seconds:.2f} s)")
        return {"removed": removed, "fired": swept.fired, "timers": added, "seconds": seconds}

    def _build(self) -> Any:
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.jobstores.memory import MemoryJobStore
        from apscheduler.schedulers.blocking import BlockingScheduler

        return BlockingScheduler(
            jobstores={"default": self._jobstore(), "memory": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(4)},
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
            timezone=UTC)

    def lead(self) -> None:
        """Run as the leader until stopped or the lease is lost."""
        sched = self._scheduler = self._build()
        now = datetime.now(UTC)
        beat = max(1.0, self.lease_seconds / 3)
        sched.add_job(self._heartbeat, "interval", seconds=beat, id="lease:heartbeat",
                      jobstore="memory", next_run_time=now + timedelta(seconds=beat))
        sched.add_job(self.sweep, "interval", seconds=self.sweep_seconds, id="sweep",
                      jobstore="memory", next_run_time=now + timedelta(seconds=self.sweep_seconds))
        sched.add_job(self.refill, "interval", seconds=max(5, min(300, self.sweep_seconds)),
                      id="refill", jobstore="memory")
        sched.add_job(self._watch_stop, "interval", seconds=0.5, id="stop", jobstore="memory")
        sched.add_job(self.start_up, "date", run_date=now, id="start-up", jobstore="memory")
        sched.start()  # blocks until shutdown
        self._scheduler = None

    def _watch_stop(self) -> None:
        if self.stop.is_set():
            self._shutdown()

    def run(self) -> None:
        """Standby until the lease is free, lead while it is held, until ``stop`` is set."""
        global _DAEMON
        _DAEMON = self
        waiting_said = False
        try:
            while not self.stop.is_set():
                if self._take_lease():
                    waiting_said = False
                    try:
                        self.lead()
                    finally:
                        if self.stop.is_set():
                            svc.release_lease(self.holder, uow_factory=self.app.uow_factory())
                    continue
                if not waiting_said:
                    with self.app.read_uow_factory()() as uow:
                        lease = uow.followups.lease(svc.LEASE)
                    self._say(f"standby: the scheduler lease is held by "
                              f"{lease.holder if lease else '?'}; waiting to take over")
                    waiting_said = True
                self.stop.wait(max(0.5, self.lease_seconds / 5))
        finally:
            _DAEMON = None


def install_signal_handlers(daemon: Daemon) -> None:
    """SIGTERM / SIGINT stop the daemon. The handler only sets the flag: it runs in the main
    thread between two bytecodes, possibly while that thread holds a lock of the connection pool
    or of APScheduler, so shutting the scheduler down from there could deadlock. A job checks the
    flag every half second and shuts the scheduler down from a worker thread."""

    def _stop(_signum: int, _frame: Any) -> None:
        daemon.stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)


def status(app: App, *, limit: int = 10) -> dict[str, Any]:
    """The lease holder, the next due follow-ups, and anything late (due, not yet fired)."""
    clock = app.clock
    now = clock.now()
    with app.read_uow_factory()() as uow:
        lease = uow.followups.lease(svc.LEASE)
        counts = uow.followups.counts()
        upcoming = uow.followups.list(status="pending", kind=None, team=None, campaign_id=None,
                                      due_before=None, limit=limit)
        late = uow.followups.list(status="pending", kind=None, team=None, campaign_id=None,
                                  due_before=svc.epoch(now) - svc.FIRE_GRACE_SECONDS, limit=limit)
        late_total = uow.followups.count_pending(due_before=svc.epoch(now) - svc.FIRE_GRACE_SECONDS)
    real_now = int(datetime.now(UTC).timestamp())
    return {
        "now": now.isoformat(),
        "lease": None if lease is None else {
            "holder": lease.holder, "acquired_at": lease.acquired_at.isoformat(),
            "heartbeat_at": lease.heartbeat_at.isoformat(),
            "expires_at": datetime.fromtimestamp(lease.expires_at, UTC).isoformat(),
            "alive": lease.expires_at >= real_now},
        "counts": counts,
        "next_due": [fu.as_dict() for fu in upcoming if fu.due_at > svc.epoch(now)][:limit],
        "late": [fu.as_dict() for fu in late],
        "late_total": late_total,
    }
