"""The issue (问题) and the one place its state changes.

::

    open ──notify──▶ notified ──report──▶ rectification_reported ──verify (look-back)──▶ verified
      │                 │                        │
      └── due date passed, nothing reported ─────┼──▶ overdue ──report──▶ rectification_reported
                                                 │       └── verify (look-back finds it fixed) ──▶ verified
                                                 └── look-back: partial / not rectified ──▶ notified
                                                     (a new due date, one step up the ladder)

Overdue (逾期未整改) means the due date passed and no rectification was reported: only an
``open`` or ``notified`` issue becomes ``overdue``. A reported issue waits for its look-back,
which comes after the due date and either verifies it — *on time* when the report came by the
due date (extensions included) and no earlier look-back had failed — or finds it partial or not
rectified. An approved extension moves the due date (and brings an overdue issue back to
``notified``); when a year's official calendar arrives, provisional due dates are recomputed.

Everything that changes an issue goes through :func:`apply`: it checks the step against the
state machine, saves the issue at the version it was read at, writes exactly one event, and —
whenever the due date moves — replans the issue's follow-ups in the same transaction
(:func:`replan`). :func:`register` is the one way issues come into being, from a checklist
answer, a free-form finding or a routine-supervision visit alike. Callers (fieldwork, the bulk
import, look-backs, notices, supervision) own the transaction; this module never commits except
in the few services at the bottom that are whole transactions of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Protocol

from domain.clock import Clock, china_date
from domain.errors import ConflictError, NotFoundError
from domain.events import EventLog
from domain.followup_plan import (
    DEFAULT_GRACE_WORKDAYS,
    DEFAULT_REMINDER_WORKDAYS,
    FollowUpPlanRepository,
    NewFollowUp,
    plan_for,
)
from domain.ports import Transaction
from domain.vocabulary import DEFAULT_RECT_WORKDAYS, STATUS_ZH
from domain.workdays import DueDate, HolidaySource, add_workdays

# --- the state machine -------------------------------------------------------------------------


class IssueStatus(StrEnum):
    OPEN = "open"
    NOTIFIED = "notified"
    RECTIFICATION_REPORTED = "rectification_reported"
    OVERDUE = "overdue"
    VERIFIED = "verified"


class Action(StrEnum):
    NOTIFY = "notify"
    REPORT = "report_rectification"
    MARK_OVERDUE = "mark_overdue"
    VERIFY = "verify"
    NOT_RECTIFIED = "follow_up_not_rectified"
    EXTEND = "extend"
    RECOMPUTE = "due_recomputed"


ACTION_ZH = MappingProxyType({
    Action.NOTIFY: "下达整改通知",
    Action.REPORT: "报告整改",
    Action.MARK_OVERDUE: "标记逾期",
    Action.VERIFY: "核验销号",
    Action.NOT_RECTIFIED: "复查未整改",
    Action.EXTEND: "延期",
    Action.RECOMPUTE: "重算整改期限",
})

S = IssueStatus
_UNCLOSED = (S.OPEN, S.NOTIFIED, S.RECTIFICATION_REPORTED, S.OVERDUE)
TRANSITIONS: Mapping[Action, Mapping[IssueStatus, IssueStatus]] = MappingProxyType({
    Action.NOTIFY: {S.OPEN: S.NOTIFIED},
    Action.REPORT: {S.OPEN: S.RECTIFICATION_REPORTED, S.NOTIFIED: S.RECTIFICATION_REPORTED,
                    S.OVERDUE: S.RECTIFICATION_REPORTED},
    # 逾期未整改: the deadline passed with nothing reported. A reported issue waits for its
    # look-back instead.
    Action.MARK_OVERDUE: {S.OPEN: S.OVERDUE, S.NOTIFIED: S.OVERDUE},
    # The look-back may find an overdue issue fixed on site (late); it cannot verify an issue
    # still waiting for its order (open) or one the business has not yet had to fix (notified).
    Action.VERIFY: {S.RECTIFICATION_REPORTED: S.VERIFIED, S.OVERDUE: S.VERIFIED},
    Action.NOT_RECTIFIED: {S.RECTIFICATION_REPORTED: S.NOTIFIED, S.OVERDUE: S.NOTIFIED,
                           S.NOTIFIED: S.NOTIFIED},
    Action.EXTEND: {S.OPEN: S.OPEN, S.NOTIFIED: S.NOTIFIED,
                    S.RECTIFICATION_REPORTED: S.RECTIFICATION_REPORTED, S.OVERDUE: S.NOTIFIED},
    Action.RECOMPUTE: {s: s for s in _UNCLOSED},
})
#: The statuses a passed due date turns into ``overdue``.
OVERDUE_FROM = (S.OPEN, S.NOTIFIED)


@dataclass(frozen=True)
class Transition:
    action: Action
    before: IssueStatus
    after: IssueStatus


def step(issue_id: int, status: IssueStatus, action: Action) -> Transition:
    """The transition ``action`` makes from ``status``; a ConflictError naming the current state
    when the step is not allowed."""
    after = TRANSITIONS[action].get(status)
    if after is None:
        allowed = sorted(a.value for a, table in TRANSITIONS.items()
                         if status in table and a is not Action.RECOMPUTE)
        raise ConflictError(
            f"issue {issue_id} is {status.value}; it cannot {action.value.replace('_', ' ')}"
            + (f" (allowed now: {', '.join(allowed)})" if allowed else " (it is closed)"),
            f"问题{issue_id}当前状态为“{STATUS_ZH[status]}”，不能{ACTION_ZH[action]}"
            + ("" if allowed else "（已销号）"),
            code="illegal_transition",
        )
    return Transition(action, status, after)


def allowed_actions(status: IssueStatus) -> list[Action]:
    return [a for a, table in TRANSITIONS.items() if status in table]


# --- the issue -------------------------------------------------------------------------------

CAMPAIGN, SUPERVISION = "campaign", "supervision"
SOURCES = (CAMPAIGN, SUPERVISION)


@dataclass
class Issue:
    """A problem found, on a campaign visit or a routine-supervision visit (``source``)."""

    id: int
    campaign_id: int | None
    visit_id: int | None
    uscc: str
    item_id: str | None
    category: str
    severity: str
    description: str
    legal_basis: str
    status: IssueStatus
    found_on: date
    rect_workdays: int
    due_on: date
    due_provisional: bool
    escalation: int
    version: int
    business_name: str = ""
    province_code: str = ""
    due_basis: date | None = None
    due_workdays: int | None = None
    supervision_visit_id: int | None = None
    team_no: int | None = None  # the campaign team that does its look-backs (None: supervision)
    reported_on: date | None = None  # China date of the latest rectification report
    on_time: bool | None = None  # set when verified: reported by the due date, no failed check
    region_code: str = ""

    @property
    def source(self) -> str:
        return SUPERVISION if self.supervision_visit_id is not None else CAMPAIGN


@dataclass(frozen=True)
class NewIssue:
    campaign_id: int | None
    visit_id: int | None
    uscc: str
    item_id: str | None
    category: str
    severity: str
    description: str
    legal_basis: str
    found_on: date
    rect_workdays: int
    due: DueDate
    supervision_visit_id: int | None = None
    team_no: int | None = None


@dataclass(frozen=True)
class IssueRules:
    """The deadlines an issue's campaign plan sets (routine supervision uses the defaults)."""

    rect_workdays: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_RECT_WORKDAYS))
    grace_workdays: int = DEFAULT_GRACE_WORKDAYS
    reminder_workdays: int = DEFAULT_REMINDER_WORKDAYS

    @classmethod
    def from_plan(cls, plan: Mapping[str, Any]) -> IssueRules:
        days = dict(DEFAULT_RECT_WORKDAYS)
        days.update({k: int(v) for k, v in (plan.get("rectification_days") or {}).items()})
        return cls(days, int(plan.get("lookback_grace_workdays", DEFAULT_GRACE_WORKDAYS)),
                   int(plan.get("reminder_workdays", DEFAULT_REMINDER_WORKDAYS)))

    def days_for(self, severity: str) -> int:
        return int(self.rect_workdays.get(severity, DEFAULT_RECT_WORKDAYS[severity]))


@dataclass(frozen=True)
class IssueQuery:
    """Criteria for :meth:`IssueRepository.list`; every given criterion must hold."""

    campaign_id: int | None = None
    source: str | None = None  # campaign | supervision
    statuses: tuple[str, ...] = ()
    due_before: date | None = None  # due date strictly before this day
    province: str | None = None
    #: Only issues of businesses whose region code starts with this (an office's territory).
    territory: str | None = None
    uscc: str | None = None
    ids: tuple[int, ...] | None = None
    supervision_visit_id: int | None = None
    provisional: bool | None = None
    #: Overdue on this day: marked overdue, or open / notified with the due date before it (a
    #: reported issue waits for its look-back and is not overdue).
    overdue_on: date | None = None
    limit: int | None = None
    #: Lock the rows for this transaction and skip rows another transaction holds (PostgreSQL's
    #: ``FOR UPDATE SKIP LOCKED``; SQLite's single writer makes it moot there).
    skip_locked: bool = False


class IssueRepository(Protocol):
    """The issue store: get, save, list by criteria (and the rules of an issue's campaign)."""

    def get(self, issue_id: int, *, lock: bool = False) -> Issue | None:
        """The issue, with ``lock`` held until the transaction ends (``FOR UPDATE``)."""
        ...

    def add(self, issues: Sequence[NewIssue], at: datetime) -> list[int]:
        """Store new issues (status open, version 1); their ids in the same order."""
        ...

    def save(self, issue: Issue, *, expected_version: int, at: datetime) -> None:
        """Write the issue's state and due date as version ``expected_version + 1``; a
        ConflictError when the stored version is no longer ``expected_version``."""
        ...

    def list(self, query: IssueQuery) -> list[Issue]:
        """The issues matching ``query``, by id."""
        ...

    def rules(self, campaign_id: int | None) -> IssueRules: ...


class IssueUnitOfWork(Transaction, Protocol):
    """What the issue owner needs of a transaction."""

    @property
    def issues(self) -> IssueRepository: ...
    @property
    def followups(self) -> FollowUpPlanRepository: ...
    @property
    def events(self) -> EventLog: ...


# --- reading ---------------------------------------------------------------------------------

def not_found(issue_id: int) -> NotFoundError:
    return NotFoundError(f"issue {issue_id} does not exist", f"问题{issue_id}不存在")


def check_version(issue: Issue, expected: int | None) -> None:
    """Refuse a change made against an older version of the issue (HTTP If-Match)."""
    if expected is not None and expected != issue.version:
        raise ConflictError(f"issue {issue.id} is at version {issue.version}, not {expected}: it "
                            "was changed meanwhile; read it again",
                            f"问题{issue.id}当前为第{issue.version}版而非第{expected}版：已被他人修改，"
                            "请重新读取", code="stale_version")


def load(uow: IssueUnitOfWork, issue_id: int, *, expected_version: int | None = None) -> Issue:
    """The issue, locked for this transaction, at ``expected_version`` if one is given."""
    issue = uow.issues.get(issue_id, lock=True)
    if issue is None:
        raise not_found(issue_id)
    check_version(issue, expected_version)
    return issue


def on_time(issue: Issue) -> bool:
    """Whether verifying ``issue`` now counts as on time (按期整改): its rectification was reported
    by its due date (extensions included) and no look-back had found it unrectified."""
    return (issue.reported_on is not None and issue.reported_on <= issue.due_on
            and issue.escalation == 0)


# --- registering -------------------------------------------------------------------------------

def register(uow: IssueUnitOfWork, new: Sequence[NewIssue], *, at: datetime, actor: str,
             calendar: HolidaySource,
             payloads: Sequence[Mapping[str, Any]] | None = None) -> list[int]:
    """Store new issues, plan each one's first follow-ups and write one ``issue.registered``
    event each (``payloads`` adds what the caller knows of where each came from)."""
    if not new:
        return []
    extra = list(payloads) if payloads is not None else [{}] * len(new)
    if len(extra) != len(new):
        raise ValueError("one payload per new issue")
    ids = uow.issues.add(new, at)
    today = china_date(at)
    rules: dict[int | None, IssueRules] = {}
    rows: list[NewFollowUp] = []
    events: list[tuple[datetime, str, str, str, dict[str, Any]]] = []
    for issue_id, ni, more in zip(ids, new, extra, strict=True):
        r = rules.get(ni.campaign_id)
        if r is None:
            r = rules[ni.campaign_id] = uow.issues.rules(ni.campaign_id)
        rows += plan_for(issue_id, 1, ni.due.date, team_no=ni.team_no,
                         grace_workdays=r.grace_workdays, reminder_workdays=r.reminder_workdays,
                         calendar=calendar, today=today)
        where: dict[str, Any] = ({"supervision": ni.supervision_visit_id}
                                 if ni.supervision_visit_id is not None else {"visit": ni.visit_id})
        events.append((at, actor, "issue.registered", f"issue:{issue_id}",
                       {**where, "uscc": ni.uscc, "category": ni.category,
                        "severity": ni.severity, "due_on": ni.due.date.isoformat(),
                        "provisional": ni.due.provisional, **more}))
    uow.followups.add_many(rows, at)
    uow.events.append_many(events)
    return ids


# --- changing ----------------------------------------------------------------------------------

def apply(uow: IssueUnitOfWork, issue: Issue, action: Action, *, at: datetime, actor: str,
          payload: Mapping[str, Any] | None = None, due: DueDate | None = None,
          escalation: int | None = None, calendar: HolidaySource | None = None) -> Issue:
    """Apply one step of the state machine to ``issue`` (as read in this transaction): save it,
    write its one event, and replan its follow-ups when the due date moves (``calendar`` is then
    required). Returns the issue as saved."""
    t = step(issue.id, issue.status, action)
    changes: dict[str, Any] = {"status": t.after}
    if due is not None:
        changes.update(due_on=due.date, due_provisional=due.provisional, due_basis=due.start,
                       due_workdays=due.workdays)
    if escalation is not None:
        changes["escalation"] = escalation
    if action is Action.REPORT:
        changes["reported_on"] = china_date(at)
    extra: dict[str, Any] = {}
    if action is Action.VERIFY:
        changes["on_time"] = extra["on_time"] = on_time(issue)
    new = replace(issue, **changes, version=issue.version + 1)
    moved = due is not None and (due.date, due.provisional) != (issue.due_on,
                                                                issue.due_provisional)
    if moved and calendar is None:
        raise ValueError(f"{action.value} moves the due date of issue {issue.id}: a calendar "
                         "is needed to replan its follow-ups")
    uow.issues.save(new, expected_version=issue.version, at=at)
    body: dict[str, Any] = {"from": t.before.value, "to": t.after.value,
                            "due_on": new.due_on.isoformat(), "provisional": new.due_provisional,
                            "escalation": new.escalation, **extra, **(payload or {})}
    if action is Action.RECOMPUTE:
        body["old_due_on"] = issue.due_on.isoformat()
    uow.events.append(at=at, actor=actor, kind=f"issue.{action.value}", entity=f"issue:{new.id}",
                      payload=body)
    if moved:
        assert calendar is not None
        replan(uow, new, calendar=calendar, at=at, actor=actor)
    return new


def replan(uow: IssueUnitOfWork, issue: Issue, *, calendar: HolidaySource, at: datetime,
           actor: str) -> int:
    """Plan the follow-ups of the issue's new due date: what still waits for the old one is
    cancelled — pending rows, and an open look-back (one event each) — and a new revision is
    planned. Returns the number of rows planned."""
    uow.followups.cancel_pending([issue.id])
    for fid in uow.followups.cancel_open(issue.id, at=at):
        uow.events.append(at=at, actor=actor, kind="followup.cancelled", entity=f"followup:{fid}",
                          payload={"issue": issue.id, "kind": "review",
                                   "reason": "due date moved",
                                   "due_on": issue.due_on.isoformat()})
    revision = uow.followups.revisions([issue.id]).get(issue.id, 0) + 1
    r = uow.issues.rules(issue.campaign_id)
    rows = plan_for(issue.id, revision, issue.due_on, team_no=issue.team_no,
                    grace_workdays=r.grace_workdays, reminder_workdays=r.reminder_workdays,
                    calendar=calendar, today=china_date(at))
    return uow.followups.add_many(rows, at)


# --- services that are whole transactions --------------------------------------------------------

IssueUowFactory = Callable[[], IssueUnitOfWork]


def transition(issue_id: int, action: Action, *, actor: str, uow_factory: IssueUowFactory,
               clock: Clock, payload: Mapping[str, Any] | None = None, due: DueDate | None = None,
               escalation: int | None = None, calendar: HolidaySource | None = None,
               expected_version: int | None = None) -> Issue:
    """Apply one lifecycle step in a transaction of its own."""
    now = clock.now()
    with uow_factory() as uow:
        issue = apply(uow, load(uow, issue_id, expected_version=expected_version), action,
                      at=now, actor=actor, payload=payload, due=due, escalation=escalation,
                      calendar=calendar)
        uow.commit()
    return issue


def mark_overdue(*, today: date, actor: str, uow_factory: IssueUowFactory, clock: Clock,
                 batch: int = 1000) -> list[int]:
    """Mark overdue every open or notified issue whose due date is before ``today``, one event
    each, in transactions of ``batch`` issues. Rows another transaction holds are skipped (it
    is marking them, or changing them), so any number of sweeps can run at once."""
    now = clock.now()
    marked: list[int] = []
    while True:
        with uow_factory() as uow:
            due = uow.issues.list(IssueQuery(statuses=tuple(OVERDUE_FROM), due_before=today,
                                             limit=batch, skip_locked=True))
            if not due:
                break
            for issue in due:
                apply(uow, issue, Action.MARK_OVERDUE, at=now, actor=actor,
                      payload={"today": today.isoformat()})
            uow.commit()
        marked += [i.id for i in due]
        if len(due) < batch:
            break
    return marked


def recomputed_due(issue: Issue, calendar: HolidaySource, extensions: Sequence[int] = ()) -> DueDate:
    """The issue's due date counted again with ``calendar`` (after a year's data arrived)."""
    if issue.due_basis is not None and issue.due_workdays is not None:
        return add_workdays(issue.due_basis, issue.due_workdays, calendar)
    due = add_workdays(issue.found_on, issue.rect_workdays, calendar)  # stored before the basis
    for days in extensions:
        due = add_workdays(due.date, days, calendar)
    return due
