"""The look-back loop (回头看 / 复查): follow-ups as data, firing them, recording the checks, and the
escalation ladder.

Every issue's due date has follow-up rows (the source of truth the scheduler works from): a
*review* ``lookback_grace_workdays`` working days after the due date, when the campaign's team
checks the issue again, and a *reminder* ``reminder_workdays`` working days before it. The rows of
one due date share a *revision* (1 for the first due date, 2 after the first change, …); when the
due date changes the pending rows of the old revision are cancelled and a new revision is planned,
in the same transaction as the change.

Firing claims rows atomically (``pending → running``: only one claim of a row can succeed) and
records the outcome and its event in the same transaction, so a follow-up fires exactly once even
with two schedulers or a crash in the middle; a row is never claimed before its due instant.

A check that finds the problem not (or only partly) rectified gives a new due date and climbs one
step of the ladder: reminder → warning talk (约谈, notice issued) → circular (通报, listed in the
next circular) → referral to enforcement (移送, with the case outcome 立案 once known).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Protocol

from domain import issues, supervision
from domain.clock import Clock, china_date
from domain.errors import BadArgumentError, ConflictError, NotFoundError
from domain.followup_plan import (
    REMINDER,
    REVIEW,
    FollowUpPlanRepository,
    NewFollowUp,
    epoch,
    fire_instant,
    plan_for,
    workday_before,
)
from domain.issues import Action, Issue, IssueStatus
from domain.supervision import DEFAULT_FREQUENCIES, SupervisionUnitOfWork
from domain.text import has_visible, refuse_controls
from domain.visits import EvidenceRef, FieldworkUnitOfWork
from domain.vocabulary import LADDER, LADDER_ZH, OUTCOME_ZH, OUTCOMES
from domain.workdays import HolidaySource, add_workdays

# The planning names and the ladder's vocabulary, for the callers that know them from here.
__all__ = ["LADDER", "LADDER_ZH", "OUTCOMES", "OUTCOME_ZH", "REMINDER", "REVIEW", "NewFollowUp",
           "epoch", "fire_instant", "plan_for", "workday_before"]
WARNING_TALK, CIRCULAR, REFERRAL = 2, 3, 4
TOP = len(LADDER) - 1


def next_level(level: int) -> int:
    """One step up the ladder (a failed check); the top step stays the top."""
    if level < 0:
        raise ValueError(f"escalation level {level} is negative")
    return min(level + 1, TOP)


@dataclass
class FollowUp:
    id: int
    issue_id: int
    kind: str
    revision: int
    due_on: date
    due_at: int
    status: str
    team_no: int | None
    fired_at: datetime | None = None
    outcome: str = ""
    hard_measures: bool | None = None
    fixed: bool | None = None
    mechanism: bool | None = None
    note: str = ""
    recorded_at: datetime | None = None
    recorded_by: str = ""
    escalation_after: int | None = None
    campaign_id: int | None = None
    uscc: str = ""
    business_name: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "issue": self.issue_id, "kind": self.kind,
                "revision": self.revision, "due_on": self.due_on.isoformat(),
                "due_at": datetime.fromtimestamp(self.due_at, UTC).isoformat(),
                "status": self.status, "team": self.team_no,
                "fired_at": self.fired_at.isoformat() if self.fired_at else None,
                "outcome": self.outcome or None, "hard_measures": self.hard_measures,
                "fixed": self.fixed, "mechanism": self.mechanism, "note": self.note,
                "recorded_by": self.recorded_by or None,
                "escalation_after": None if self.escalation_after is None
                else LADDER[self.escalation_after],
                "campaign": self.campaign_id, "uscc": self.uscc, "business": self.business_name}


@dataclass(frozen=True)
class Claimed:
    """A claimed follow-up with what firing it needs to know about its issue."""

    id: int
    issue_id: int
    kind: str
    revision: int
    team_no: int | None
    issue_status: str
    uscc: str
    issue_due_on: date


@dataclass(frozen=True)
class Lease:
    name: str
    holder: str
    acquired_at: datetime
    heartbeat_at: datetime
    expires_at: int


class FollowUpRepository(FollowUpPlanRepository, Protocol):
    def due_ids(self, now: int, limit: int) -> list[int]: ...
    def claim(self, ids: Sequence[int], now: int) -> list[Claimed]: ...
    def finish(self, rows: Sequence[tuple[int, str]], at: datetime, worker: str) -> None: ...
    def open_review(self, issue_id: int) -> FollowUp | None: ...
    def get(self, followup_id: int) -> FollowUp | None: ...
    def of_issue(self, issue_id: int) -> list[FollowUp]: ...
    def of_issues(self, issue_ids: Sequence[int]) -> dict[int, list[FollowUp]]:
        """:meth:`of_issue` for several issues in one read."""
        ...
    def list(self, *, status: str | None, kind: str | None, team: int | None,
             campaign_id: int | None, due_before: int | None, limit: int) -> list[FollowUp]: ...
    def count(self, *, status: str | None, kind: str | None, team: int | None,
              campaign_id: int | None, due_before: int | None) -> int: ...
    def record(self, followup_id: int, *, outcome: str, hard: bool, fixed: bool, mechanism: bool,
               note: str, at: datetime, actor: str, escalation_after: int) -> None: ...
    def counts(self) -> dict[str, int]: ...
    def pending_among(self, ids: Sequence[int]) -> set[int]: ...
    def count_pending(self, *, due_before: int | None) -> int: ...
    def add_referral(self, *, source: str, issue_id: int | None, supervision_visit_id: int | None,
                     uscc: str, description: str, on: date, actor: str) -> int: ...
    def referral_of(self, issue_id: int) -> dict[str, Any] | None: ...
    def set_case(self, referral_id: int, *, status: str, number: str, on: date) -> None: ...
    def referral_counts(self) -> dict[str, int]: ...
    def lease(self, name: str) -> Lease | None: ...
    def take_lease(self, name: str, holder: str, now: datetime, ttl: int) -> bool: ...
    def release_lease(self, name: str, holder: str) -> None: ...


class FollowUpUnitOfWork(FieldworkUnitOfWork, SupervisionUnitOfWork, Protocol):
    @property
    def followups(self) -> FollowUpRepository: ...


FollowUpUowFactory = Callable[[], FollowUpUnitOfWork]


# --- firing -----------------------------------------------------------------------------------

@dataclass
class SweepResult:
    opened: int = 0  # reviews fired: a check task is open for the team
    reminded: int = 0
    cancelled: int = 0  # the issue was closed before its follow-up came due
    marked_overdue: int = 0
    supervision_opened: int = 0
    batches: int = 0
    fired_ids: list[int] = field(default_factory=list)

    @property
    def fired(self) -> int:
        return self.opened + self.reminded + self.cancelled

    def as_dict(self) -> dict[str, Any]:
        return {"fired": self.fired, "opened": self.opened, "reminded": self.reminded,
                "cancelled": self.cancelled, "marked_overdue": self.marked_overdue,
                "supervision_opened": self.supervision_opened, "batches": self.batches}


def _fire_batch(uow: FollowUpUnitOfWork, ids: Sequence[int], *, now: datetime, worker: str,
                result: SweepResult) -> None:
    """Claim ``ids`` (those still pending and due) and record each one's outcome and event."""
    claimed = uow.followups.claim(ids, epoch(now))
    outcomes: list[tuple[int, str]] = []
    events: list[tuple[datetime, str, str, str, dict[str, Any]]] = []
    for c in claimed:
        if c.issue_status == IssueStatus.VERIFIED.value:
            outcomes.append((c.id, "cancelled"))
            events.append((now, worker, "followup.cancelled", f"followup:{c.id}",
                           {"issue": c.issue_id, "kind": c.kind, "reason": "issue closed"}))
            result.cancelled += 1
        elif c.kind == REVIEW:
            outcomes.append((c.id, "open"))
            events.append((now, worker, "followup.opened", f"followup:{c.id}",
                           {"issue": c.issue_id, "team": c.team_no, "revision": c.revision,
                            "due_on": c.issue_due_on.isoformat(), "status": c.issue_status}))
            result.opened += 1
        else:
            outcomes.append((c.id, "done"))
            events.append((now, worker, "followup.reminded", f"followup:{c.id}",
                           {"issue": c.issue_id, "uscc": c.uscc,
                            "due_on": c.issue_due_on.isoformat()}))
            result.reminded += 1
        result.fired_ids.append(c.id)
    if outcomes:
        uow.followups.finish(outcomes, now, worker)
        uow.events.append_many(events)


def fire(ids: Sequence[int] | None, *, uow_factory: FollowUpUowFactory, clock: Clock,
         worker: str, batch: int = 1000, on_batch: Callable[[int], None] | None = None
         ) -> SweepResult:
    """Fire due follow-ups — all of them (``ids=None``, the sweep) or the given ones (a scheduler
    job) — in transactions of ``batch`` rows. Rows not yet due, or already fired, are left."""
    now = clock.now()
    result = SweepResult()
    remaining = list(ids) if ids is not None else None
    while True:
        with uow_factory() as uow:
            if remaining is None:
                chunk = uow.followups.due_ids(epoch(now), batch)
            else:
                chunk, remaining = remaining[:batch], remaining[batch:]
            if not chunk:
                break
            before = result.fired
            _fire_batch(uow, chunk, now=now, worker=worker, result=result)
            uow.commit()
        result.batches += 1
        if on_batch:
            on_batch(result.fired - before)
        if remaining is not None and not remaining:
            break
    return result


def sweep(*, uow_factory: FollowUpUowFactory, clock: Clock, worker: str,
          batch: int = 1000, on_batch: Callable[[int], None] | None = None,
          frequencies: Mapping[str, str] = DEFAULT_FREQUENCIES,
          fire_due: bool = True) -> SweepResult:
    """The one sweep (the scheduler's safety net, ``lookback followup sweep`` and the Prefect flow
    ``lookback-review``): fire everything due, mark the issues whose due date passed with nothing
    reported as overdue, and open the routine-supervision visits of the periods that have begun.

    Each step commits on its own, in batches, and skips what another transaction holds, so any
    number of sweeps may run at once: each row is done by exactly one of them. ``fire_due``
    False leaves the due follow-ups to the caller (a scheduler that hands them to workers).
    """
    result = (fire(None, uow_factory=uow_factory, clock=clock, worker=worker, batch=batch,
                   on_batch=on_batch) if fire_due else SweepResult())
    result.marked_overdue = len(issues.mark_overdue(today=china_date(clock.now()), actor=worker,
                                                    uow_factory=uow_factory, clock=clock,
                                                    batch=batch))
    result.supervision_opened = supervision.open_due(uow_factory=uow_factory, clock=clock,
                                                     frequencies=frequencies, actor=worker)
    return result


# --- recording a check ------------------------------------------------------------------------

@dataclass
class CheckResult:
    followup_id: int
    issue: Issue
    outcome: str
    escalation: int
    new_due_on: date | None
    referral_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"followup": self.followup_id, "issue": self.issue.id, "outcome": self.outcome,
                "status": self.issue.status.value, "escalation": LADDER[self.escalation],
                "escalation_level": self.escalation,
                "due_on": self.new_due_on.isoformat() if self.new_due_on else None,
                "due_provisional": self.issue.due_provisional if self.new_due_on else None,
                "referral": self.referral_id}


def _three_answers(outcome: str, hard: bool | None, fixed: bool | None,
                   mechanism: bool | None) -> tuple[bool, bool, bool]:
    """The look-back's three questions (hard measures taken? problem really fixed? lasting
    mechanism in place?), defaulted from the outcome and checked against it."""
    default = outcome == "verified"
    if outcome == "partial" and None in (hard, fixed, mechanism):
        raise BadArgumentError(
            "--outcome partial: answer all three questions (--hard-measures, --fixed, "
            "--mechanism yes|no)",
            "--outcome partial：请回答三个问题（--hard-measures、--fixed、--mechanism 填yes或no）")
    h = default if hard is None else hard
    f = default if fixed is None else fixed
    m = default if mechanism is None else mechanism
    if outcome == "verified" and not (h and f and m):
        raise BadArgumentError(
            "--outcome verified needs yes to all three questions; use partial otherwise",
            "--outcome verified要求三个问题都为“是”；否则请用partial")
    if outcome == "not_rectified" and f:
        raise BadArgumentError("--outcome not_rectified contradicts --fixed yes",
                               "--outcome not_rectified与--fixed yes矛盾")
    if outcome == "partial" and h and f and m:
        raise BadArgumentError("--outcome partial with yes to all three questions: use verified",
                               "--outcome partial但三个问题都为“是”：请用verified")
    return h, f, m


def record_check(issue_id: int, *, outcome: str, note: str, evidence: Sequence[EvidenceRef],
                 hard_measures: bool | None, fixed: bool | None, mechanism: bool | None,
                 team: int | None, actor: str, uow_factory: FollowUpUowFactory,
                 clock: Clock, calendar: HolidaySource,
                 expected_version: int | None = None) -> CheckResult:
    """Record the look-back check of an issue's open review.

    ``verified`` closes the issue (it must have reported its rectification); ``partial`` and
    ``not_rectified`` give it a new due date (the plan's days for its severity, counted from
    today) and climb one step of the ladder; at the top step the case is referred (移送).
    """
    if outcome not in OUTCOMES:
        raise BadArgumentError(f"--outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}",
                               f"--outcome应为{'、'.join(OUTCOMES)}之一，而不是“{outcome}”")
    refuse_controls(note, "--note")
    if not has_visible(note):
        raise BadArgumentError("--note is empty: say what the check found",
                               "--note为空：请写明复查所见")
    h, f, m = _three_answers(outcome, hard_measures, fixed, mechanism)
    now = clock.now()
    today = china_date(now)
    with uow_factory() as uow:
        issue = issues.load(uow, issue_id, expected_version=expected_version)
        review = uow.followups.open_review(issue_id)
        if review is None:
            pending = [fu for fu in uow.followups.of_issue(issue_id)
                       if fu.kind == REVIEW and fu.status == "pending"]
            when = (f"; the next one is due on {pending[0].due_on.isoformat()}" if pending else "")
            when_zh = (f"；下次复查日期为{pending[0].due_on.isoformat()}" if pending else "")
            raise ConflictError(f"issue {issue_id} has no open look-back{when}",
                                f"问题{issue_id}当前没有待复查任务{when_zh}", code="no_open_review")
        if team is not None and review.team_no is not None and team != review.team_no:
            raise ConflictError(
                f"the look-back of issue {issue_id} belongs to team {review.team_no}, not team "
                f"{team}", f"问题{issue_id}的复查属于第{review.team_no}组，不属于第{team}组",
                code="wrong_team")
        payload = {"followup": review.id, "outcome": outcome, "hard_measures": h, "fixed": f,
                   "mechanism": m, "note": note.strip(),
                   "evidence": [r.sha256 for r in evidence]}
        referral_id = None
        action = Action.VERIFY if outcome == "verified" else Action.NOT_RECTIFIED
        issues.step(issue.id, issue.status, action)  # refuse before writing anything
        level = issue.escalation if outcome == "verified" else next_level(issue.escalation)
        # The check is recorded first: a new due date then replans around it, not over it.
        uow.followups.record(review.id, outcome=outcome, hard=h, fixed=f, mechanism=m,
                             note=note.strip(), at=now, actor=actor, escalation_after=level)
        if outcome == "verified":
            issue = issues.apply(uow, issue, Action.VERIFY, at=now, actor=actor, payload=payload)
            new_due = None
            uow.followups.cancel_pending([issue_id])
        else:
            due = add_workdays(today, uow.issues.rules(issue.campaign_id).days_for(issue.severity),
                               calendar)
            issue = issues.apply(uow, issue, Action.NOT_RECTIFIED, at=now, actor=actor, due=due,
                                 escalation=level, calendar=calendar,
                                 payload={**payload, "step": LADDER[level]})
            new_due = due.date
            if level == REFERRAL and uow.followups.referral_of(issue_id) is None:
                referral_id = uow.followups.add_referral(
                    source="followup", issue_id=issue_id, supervision_visit_id=None,
                    uscc=issue.uscc, description=issue.description, on=today, actor=actor)
                uow.events.append(at=now, actor=actor, kind="referral.made",
                                  entity=f"referral:{referral_id}",
                                  payload={"issue": issue_id, "uscc": issue.uscc,
                                           "source": "followup"})
        for ref in evidence:
            uow.fieldwork.add_evidence(issue_id, ref, "followup", now, actor)
        uow.events.append(at=now, actor=actor, kind="followup.recorded",
                          entity=f"followup:{review.id}",
                          payload={"issue": issue_id, "outcome": outcome,
                                   "escalation": LADDER[level]})
        uow.commit()
    return CheckResult(review.id, issue, outcome, level, new_due, referral_id)


CASE_STATUSES = ("filed", "declined")


def record_case(issue_id: int, *, status: str, number: str, actor: str,
                uow_factory: FollowUpUowFactory, clock: Clock) -> dict[str, Any]:
    """The enforcement outcome of a referred issue: a case filed (立案, with its number) or
    declined."""
    if status not in CASE_STATUSES:
        raise BadArgumentError(f"--status must be filed or declined, not {status!r}",
                               f"--status应为filed（立案）或declined（不予立案），而不是“{status}”")
    if status == "filed" and not number.strip():
        raise BadArgumentError("--case-number is needed when the case is filed",
                               "立案时需要--case-number（案号）")
    now = clock.now()
    with uow_factory() as uow:
        if uow.issues.get(issue_id) is None:
            raise issues.not_found(issue_id)
        ref = uow.followups.referral_of(issue_id)
        if ref is None:
            raise NotFoundError(f"issue {issue_id} has not been referred to enforcement",
                                f"问题{issue_id}尚未移送")
        if ref["case_status"] != "referred":
            raise ConflictError(f"the referral of issue {issue_id} already has an outcome: "
                                f"{ref['case_status']}",
                                f"问题{issue_id}的移送已有结果：{ref['case_status']}",
                                code="case_recorded")
        uow.followups.set_case(ref["id"], status=status, number=number.strip(),
                               on=china_date(now))
        uow.events.append(at=now, actor=actor, kind=f"referral.{status}",
                          entity=f"referral:{ref['id']}",
                          payload={"issue": issue_id, "case_number": number.strip()})
        uow.commit()
        out = uow.followups.referral_of(issue_id)
    assert out is not None
    return out


# --- the scheduler's lease --------------------------------------------------------------------

LEASE = "scheduler"
#: A due follow-up counts as late once it has waited this long without being fired (the
#: scheduler fires at the due instant; a few seconds' wait is not yet a sign of trouble).
FIRE_GRACE_SECONDS = 60


# --- the office's look-back lists ---------------------------------------------------------------

#: The office console's three lists of look-backs (reviews; reminders are not listed).
LOOKBACK_TABS = ("pending", "open", "late")


@dataclass(frozen=True)
class LookbackQuery:
    """One of the office's look-back lists, in a territory (a region-code prefix, "" for all):

    - ``pending``: planned, not yet due (still ``pending``, not yet late to fire);
    - ``open``: fired, waiting for the team's check, its look-back day not past;
    - ``late``: open past its look-back day, or due more than :data:`FIRE_GRACE_SECONDS` and
      never fired (no scheduler ran).

    ``now`` is the instant (seconds since the epoch), ``today`` its date in China.
    """

    tab: str
    now: int
    today: date
    territory: str = ""

    def __post_init__(self) -> None:
        if self.tab not in LOOKBACK_TABS:
            raise BadArgumentError(f"no look-back list {self.tab!r}; use one of "
                                   f"{', '.join(LOOKBACK_TABS)}",
                                   f"没有“{self.tab}”回头看列表；可用：{'、'.join(LOOKBACK_TABS)}")

    @property
    def late_before(self) -> int:
        """A pending follow-up due at or before this instant is late to fire."""
        return self.now - FIRE_GRACE_SECONDS


def take_lease(holder: str, *, uow_factory: FollowUpUowFactory, now: datetime,
               ttl: int) -> bool:
    """Take or renew the scheduler lease; False while another holder's lease is alive."""
    with uow_factory() as uow:
        ok = uow.followups.take_lease(LEASE, holder, now, ttl)
        uow.commit()
    return ok


def release_lease(holder: str, *, uow_factory: FollowUpUowFactory) -> None:
    with uow_factory() as uow:
        uow.followups.release_lease(LEASE, holder)
        uow.commit()
