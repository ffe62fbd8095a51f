"""Fieldwork use cases: visits, interviews, issues and their lifecycle, each change one event.

Every service here opens one unit of work, checks what it is asked against the stored state, makes
the change, appends exactly one event per state change in the same transaction, and commits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from domain.checklists import Checklists
from domain.clock import Clock, china_date
from domain.errors import BadArgumentError, ConflictError, InputError, NotFoundError
from domain.events import Event
from domain.lifecycle import Action, IssueStatus, step
from domain.ports import UnitOfWork
from domain.vocabulary import ROLES, SEVERITIES, rect_workdays
from domain.workdays import DueDate, HolidaySource, add_workdays

RESULTS = ("pass", "fail", "na")
RESULT_ALIASES = {"pass": "pass", "ok": "pass", "yes": "pass", "合格": "pass", "是": "pass",
                  "fail": "fail", "no": "fail", "不合格": "fail", "否": "fail",
                  "na": "na", "n/a": "na", "not applicable": "na", "不适用": "na", "-": "na"}


@dataclass(frozen=True)
class Visit:
    id: int
    campaign_id: int
    campaign_status: str
    uscc: str
    business_name: str
    region_code: str
    team_no: int
    status: str
    visited_on: date | None


@dataclass
class Issue:
    id: int
    campaign_id: int
    visit_id: int
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


@dataclass(frozen=True)
class Answer:
    item_id: str
    result: str
    note: str = ""


@dataclass(frozen=True)
class NewIssue:
    campaign_id: int
    visit_id: int
    uscc: str
    item_id: str | None
    category: str
    severity: str
    description: str
    legal_basis: str
    found_on: date
    rect_workdays: int
    due: DueDate


@dataclass(frozen=True)
class EvidenceRef:
    sha256: str
    size: int
    filename: str


class EvidenceStore(Protocol):
    """Where evidence files go: content-addressed by SHA-256, never overwritten."""

    def put(self, path: str) -> EvidenceRef: ...


class FieldworkRepository(Protocol):
    def get_visit(self, visit_id: int) -> Visit | None: ...
    def list_visits(self, campaign_id: int, *, team: int | None,
                    status: str | None) -> list[Visit]: ...
    def complete_visit(self, visit_id: int, visited_on: date, at: datetime) -> None: ...
    def visits_by_ids(self, ids: Sequence[int]) -> dict[int, Visit]: ...
    def existing_interviews(self, visit_ids: Sequence[int]) -> set[tuple[int, str, str]]: ...
    def existing_issues(self, keys: Sequence[tuple[int, str]]) -> dict[tuple[int, str, str], int]: ...
    def reserve_ids(self, table: str, n: int) -> list[int]: ...
    def insert_interviews(self, rows: Sequence[tuple[int, int, str, str, datetime, str]]) -> None: ...
    def insert_answers(self, rows: Sequence[tuple[int, str, str, str]]) -> None: ...
    def insert_issues(self, rows: Sequence[tuple[int, NewIssue]], at: datetime) -> None: ...
    def add_issue(self, issue: NewIssue, at: datetime) -> int: ...
    def get_issue(self, issue_id: int) -> Issue | None: ...
    def list_issues(self, *, campaign_id: int | None, status: str | Sequence[str] | None,
                    overdue_on: date | None, province: str | None) -> list[Issue]: ...
    def set_issue_state(self, issue_id: int, *, status: IssueStatus, due_on: date,
                        due_provisional: bool, escalation: int, at: datetime,
                        expected_version: int, due_basis: date | None = None,
                        due_workdays: int | None = None) -> None: ...
    def add_rectification(self, issue_id: int, measures: str, at: datetime, actor: str) -> int: ...
    def add_extension(self, issue_id: int, workdays: int, reason: str, approver: str,
                      old_due: date, new_due: date, provisional: bool, at: datetime) -> int: ...
    def extensions(self, issue_id: int) -> list[int]: ...
    def add_evidence(self, issue_id: int, ref: EvidenceRef, purpose: str, at: datetime) -> None: ...
    def evidence_of(self, issue_id: int) -> list[tuple[str, str, int, str]]: ...
    def provisional_issues(self) -> list[Issue]: ...
    def campaign_plan(self, campaign_id: int) -> dict[str, Any]: ...
    def metrics(self, campaign_id: int, today: date) -> dict[str, Any]: ...


class EventLog(Protocol):
    def append(self, *, at: datetime, actor: str, kind: str, entity: str,
               payload: dict[str, Any]) -> Event: ...
    def append_many(self, items: Sequence[tuple[datetime, str, str, str, dict[str, Any]]]
                    ) -> list[Event]: ...
    def all(self) -> Iterable[Event]: ...
    def for_entity(self, entity: str) -> list[Event]: ...


# --- helpers ---------------------------------------------------------------------------------

def _visit(uow: UnitOfWork, visit_id: int) -> Visit:
    v = uow.fieldwork.get_visit(visit_id)
    if v is None:
        raise NotFoundError(f"visit {visit_id} does not exist", f"检查任务{visit_id}不存在")
    return v


def _writable(v: Visit, team: int | None) -> None:
    """Only a visit of a launched campaign, by its own team, can be recorded."""
    if v.campaign_status == "closed":
        raise ConflictError(f"campaign {v.campaign_id} is closed; visit {v.id} can no longer be "
                            "recorded", f"督查{v.campaign_id}已结束，不能再记录检查任务{v.id}",
                            code="campaign_closed")
    if v.campaign_status != "launched":
        raise ConflictError(f"campaign {v.campaign_id} has not been launched",
                            f"督查{v.campaign_id}尚未启动", code="campaign_not_launched")
    if team is not None and team != v.team_no:
        raise ConflictError(f"visit {v.id} belongs to team {v.team_no}, not team {team}",
                            f"检查任务{v.id}属于第{v.team_no}组，不属于第{team}组",
                            code="wrong_team")


def _issue(uow: UnitOfWork, issue_id: int) -> Issue:
    i = uow.fieldwork.get_issue(issue_id)
    if i is None:
        raise NotFoundError(f"issue {issue_id} does not exist", f"问题{issue_id}不存在")
    return i


def _schedule(uow: UnitOfWork, issues: list[tuple[int, int, date, int | None]], *,
              calendar: HolidaySource, at: datetime) -> None:
    from domain.followups import schedule  # the follow-up module builds on this one

    schedule(uow, issues, calendar=calendar, at=at)


def check_version(issue: Issue, expected: int | None) -> None:
    """Refuse a change made against an older version of the issue (HTTP If-Match)."""
    if expected is not None and expected != issue.version:
        raise ConflictError(f"issue {issue.id} is at version {issue.version}, not {expected}: it "
                            "was changed meanwhile; read it again",
                            f"问题{issue.id}当前为第{issue.version}版而非第{expected}版：已被他人修改，"
                            "请重新读取", code="stale_version")


def _team_of(uow: UnitOfWork, issue: Issue) -> int | None:
    v = uow.fieldwork.get_visit(issue.visit_id)
    return v.team_no if v else None


def rect_days(plan: dict[str, Any], severity: str) -> int:
    return rect_workdays(plan.get("rectification_days"), severity)


def normalise_result(raw: str) -> str | None:
    return RESULT_ALIASES.get(raw.strip().lower())


# --- interviews ------------------------------------------------------------------------------

@dataclass
class InterviewOutcome:
    interview_id: int
    answers: int
    failed: int
    issues_registered: list[int] = field(default_factory=list)
    issues_existing: list[int] = field(default_factory=list)


def check_answers(role: str, answers: Sequence[Answer], checklists: Checklists) -> list[tuple[str, str, str]]:
    """Every problem with a set of answers, as (where, English, Chinese)."""
    problems: list[tuple[str, str, str]] = []
    if role not in ROLES:
        problems.append(("role", f"{role!r} is not one of {', '.join(ROLES)}",
                         f"“{role}”不是{'、'.join(ROLES)}之一"))
    seen: set[str] = set()
    for a in answers:
        item = checklists.get(a.item_id)
        if item is None:
            problems.append((a.item_id, "no such checklist item", "没有该检查项"))
        elif role in ROLES and role not in item.roles:
            problems.append((a.item_id, f"this item is not asked of the {role} (asked of: "
                             f"{', '.join(item.roles)})", f"该项不适用于{role}（适用于："
                             f"{'、'.join(item.roles)}）"))
        if a.result not in RESULTS:
            problems.append((a.item_id, f"result {a.result!r} is not pass, fail or na",
                             f"结果“{a.result}”不是pass（合格）、fail（不合格）或na（不适用）"))
        if a.item_id in seen:
            problems.append((a.item_id, "answered twice", "重复作答"))
        seen.add(a.item_id)
        if len(a.note) > 1000:
            problems.append((a.item_id, "note longer than 1000 characters", "备注超过1000字"))
    if not answers:
        problems.append(("answers", "no answers given", "没有作答"))
    return problems


def record_interview(visit_id: int, role: str, name: str, answers: Sequence[Answer], *,
                     team: int | None, actor: str, uow_factory: Callable[[], UnitOfWork],
                     clock: Clock, checklists: Checklists,
                     calendar: HolidaySource) -> InterviewOutcome:
    """Record an interview with its answers; every mistake in the answers is reported at once.

    It goes through the same path as the bulk import, as a batch of one interview.
    """
    from domain.fieldwork_import import as_rows, record_batch

    name = name.strip()
    if not name:
        raise BadArgumentError("--name: the interviewee's name is empty", "--name：受访人姓名为空")
    answers = [Answer(a.item_id, normalise_result(a.result) or a.result, a.note) for a in answers]
    problems = check_answers(role, answers, checklists)
    if problems:
        raise InputError(
            "the answers have mistakes:\n" + "\n".join(f"  {w}: {en}" for w, en, _ in problems),
            "作答有误：\n" + "\n".join(f"  {w}：{zh}" for w, _, zh in problems),
            code="bad_answers")

    class _Raise:
        def add(self, problem: Any) -> None:  # pragma: no cover - raise_first raises before
            raise InputError(problem.en, problem.zh)

        def close(self) -> None:
            pass

    s = record_batch(as_rows(list(answers), visit_id, role, name, team), uow_factory=uow_factory,
                     clock=clock, checklists=checklists, calendar=calendar, sink=_Raise(),
                     actor=actor, raise_first=True)
    failed = sum(1 for a in answers if a.result == "fail")
    return InterviewOutcome(s.interview_ids[0], len(answers), failed, s.issue_ids,
                            s.existing_issue_ids)


def complete_visit(visit_id: int, *, team: int | None, actor: str,
                   uow_factory: Callable[[], UnitOfWork], clock: Clock) -> Visit:
    now = clock.now()
    with uow_factory() as uow:
        v = _visit(uow, visit_id)
        _writable(v, team)
        if v.status == "done":
            raise ConflictError(f"visit {visit_id} is already complete", f"检查任务{visit_id}已完成",
                                code="already_done")
        uow.fieldwork.complete_visit(visit_id, china_date(now), now)
        uow.events.append(at=now, actor=actor, kind="visit.completed", entity=f"visit:{visit_id}",
                          payload={"uscc": v.uscc, "campaign": v.campaign_id,
                                   "visited_on": china_date(now).isoformat()})
        uow.commit()
        done = uow.fieldwork.get_visit(visit_id)
    assert done is not None
    return done


# --- issues ----------------------------------------------------------------------------------

def add_issue(visit_id: int, *, category: str, severity: str, description: str,
              evidence: Sequence[EvidenceRef], team: int | None, actor: str,
              uow_factory: Callable[[], UnitOfWork], clock: Clock,
              calendar: HolidaySource, categories: Sequence[str]) -> int:
    """A free-form finding on a visit."""
    problems = []
    if category not in categories:
        problems.append(f"--category: {category!r} is not one of {', '.join(categories)}")
    if severity not in SEVERITIES:
        problems.append(f"--severity: {severity!r} is not one of {', '.join(SEVERITIES)}")
    if not description.strip():
        problems.append("--description is empty")
    if problems:
        raise BadArgumentError("; ".join(problems), "；".join(problems))
    now = clock.now()
    with uow_factory() as uow:
        v = _visit(uow, visit_id)
        _writable(v, team)
        days = rect_days(uow.fieldwork.campaign_plan(v.campaign_id), severity)
        due = add_workdays(china_date(now), days, calendar)
        issue_id = uow.fieldwork.add_issue(NewIssue(
            v.campaign_id, v.id, v.uscc, None, category, severity, description.strip(), "",
            china_date(now), days, due), now)
        for ref in evidence:
            uow.fieldwork.add_evidence(issue_id, ref, "finding", now)
        _schedule(uow, [(issue_id, v.campaign_id, due.date, v.team_no)], calendar=calendar, at=now)
        uow.events.append(at=now, actor=actor, kind="issue.registered", entity=f"issue:{issue_id}",
                          payload={"visit": v.id, "uscc": v.uscc, "category": category,
                                   "severity": severity, "due_on": due.date.isoformat(),
                                   "provisional": due.provisional, "from": "finding",
                                   "evidence": [r.sha256 for r in evidence]})
        uow.commit()
    return issue_id


EVIDENCE_PURPOSES = ("finding", "rectification", "followup")


def attach_evidence(issue_id: int, ref: EvidenceRef, *, purpose: str, actor: str,
                    uow_factory: Callable[[], UnitOfWork], clock: Clock) -> None:
    """Attach a stored evidence file to an issue (once per issue and file)."""
    if purpose not in EVIDENCE_PURPOSES:
        raise BadArgumentError(f"purpose must be one of {', '.join(EVIDENCE_PURPOSES)}",
                               f"purpose应为{'、'.join(EVIDENCE_PURPOSES)}之一")
    now = clock.now()
    with uow_factory() as uow:
        _issue(uow, issue_id)
        if any(sha == ref.sha256 for sha, _, _, _ in uow.fieldwork.evidence_of(issue_id)):
            return
        uow.fieldwork.add_evidence(issue_id, ref, purpose, now)
        uow.events.append(at=now, actor=actor, kind="issue.evidence_added",
                          entity=f"issue:{issue_id}",
                          payload={"sha256": ref.sha256, "filename": ref.filename,
                                   "size": ref.size, "purpose": purpose})
        uow.commit()


def _apply(uow: UnitOfWork, issue: Issue, action: Action, *, at: datetime, actor: str,
           payload: dict[str, Any], due: DueDate | None = None, escalation: int | None = None) -> Issue:
    t = step(issue.id, issue.status, action)
    new_due = due.date if due else issue.due_on
    provisional = due.provisional if due else issue.due_provisional
    level = issue.escalation if escalation is None else escalation
    uow.fieldwork.set_issue_state(issue.id, status=t.after, due_on=new_due,
                                  due_provisional=provisional, escalation=level, at=at,
                                  expected_version=issue.version,
                                  due_basis=due.start if due else None,
                                  due_workdays=due.workdays if due else None)
    uow.events.append(at=at, actor=actor, kind=f"issue.{action.value}", entity=f"issue:{issue.id}",
                      payload={"from": t.before.value, "to": t.after.value,
                               "due_on": new_due.isoformat(), "provisional": provisional,
                               "escalation": level, **payload})
    issue.status, issue.due_on, issue.due_provisional = t.after, new_due, provisional
    issue.escalation, issue.version = level, issue.version + 1
    return issue


def rectify(issue_id: int, *, measures: str, evidence: Sequence[EvidenceRef], actor: str,
            uow_factory: Callable[[], UnitOfWork], clock: Clock,
            expected_version: int | None = None) -> Issue:
    """The business reports the measures it took (整改报告)."""
    if not measures.strip():
        raise BadArgumentError("--measures is empty", "--measures（整改措施）为空")
    now = clock.now()
    with uow_factory() as uow:
        issue = _issue(uow, issue_id)
        check_version(issue, expected_version)
        rect_id = uow.fieldwork.add_rectification(issue_id, measures.strip(), now, actor)
        for ref in evidence:
            uow.fieldwork.add_evidence(issue_id, ref, "rectification", now)
        issue = _apply(uow, issue, Action.REPORT, at=now, actor=actor,
                       payload={"rectification": rect_id, "measures": measures.strip(),
                                "evidence": [r.sha256 for r in evidence]})
        uow.commit()
    return issue


def extend(issue_id: int, *, workdays: int, reason: str, approver: str, actor: str,
           uow_factory: Callable[[], UnitOfWork], clock: Clock,
           calendar: HolidaySource, expected_version: int | None = None) -> Issue:
    """An approved extension (延期): the due date moves by N working days from the current one."""
    if workdays < 1:
        raise BadArgumentError("--workdays must be at least 1", "--workdays至少为1")
    if not reason.strip():
        raise BadArgumentError("--reason is empty", "--reason（延期理由）为空")
    if not approver.strip():
        raise BadArgumentError("--approver is empty: an extension needs an approver",
                               "--approver为空：延期需要审批人")
    now = clock.now()
    with uow_factory() as uow:
        issue = _issue(uow, issue_id)
        check_version(issue, expected_version)
        step(issue.id, issue.status, Action.EXTEND)  # refuse before writing anything
        # N more working days after the current due date is the (M + N)-th working day after the
        # date the deadline was counted from: kept that way, a later recomputation (a year's
        # calendar arriving) moves the extended date together with the date it extends.
        if issue.due_basis is not None and issue.due_workdays is not None:
            due = add_workdays(issue.due_basis, issue.due_workdays + workdays, calendar)
        else:
            due = add_workdays(issue.due_on, workdays, calendar)
        ext_id = uow.fieldwork.add_extension(issue_id, workdays, reason.strip(), approver.strip(),
                                             issue.due_on, due.date, due.provisional, now)
        issue = _apply(uow, issue, Action.EXTEND, at=now, actor=actor, due=due,
                       payload={"extension": ext_id, "workdays": workdays,
                                "reason": reason.strip(), "approver": approver.strip()})
        _schedule(uow, [(issue.id, issue.campaign_id, due.date, _team_of(uow, issue))],
                 calendar=calendar, at=now)
        uow.commit()
    return issue


def transition(issue_id: int, action: Action, *, actor: str, uow_factory: Callable[[], UnitOfWork],
               clock: Clock, payload: dict[str, Any] | None = None, due: DueDate | None = None,
               escalation: int | None = None) -> Issue:
    """Apply one lifecycle step (notify, verify, mark overdue, follow-up not rectified)."""
    now = clock.now()
    with uow_factory() as uow:
        issue = _apply(uow, _issue(uow, issue_id), action, at=now, actor=actor,
                       payload=payload or {}, due=due, escalation=escalation)
        uow.commit()
    return issue


OVERDUE_FROM = (IssueStatus.OPEN, IssueStatus.NOTIFIED, IssueStatus.RECTIFICATION_REPORTED)


def mark_overdue(*, today: date, actor: str, uow_factory: Callable[[], UnitOfWork],
                 clock: Clock) -> list[int]:
    """Every issue whose due date has passed and that is not verified (open, notified, or
    reported but not yet verified): overdue, one event each (DESIGN §3)."""
    now = clock.now()
    marked = []
    with uow_factory() as uow:
        for issue in uow.fieldwork.list_issues(campaign_id=None, status=OVERDUE_FROM,
                                              overdue_on=today, province=None):
            if issue.status in OVERDUE_FROM:
                _apply(uow, issue, Action.MARK_OVERDUE, at=now, actor=actor,
                       payload={"today": today.isoformat()})
                marked.append(issue.id)
        uow.commit()
    return marked


def recompute_provisional(*, actor: str, uow_factory: Callable[[], UnitOfWork], clock: Clock,
                          calendar: HolidaySource) -> list[int]:
    """After a year's calendar arrives: recompute every provisional due date (with extensions)."""
    now = clock.now()
    changed = []
    with uow_factory() as uow:
        for issue in uow.fieldwork.provisional_issues():
            if issue.due_basis is not None and issue.due_workdays is not None:
                due = add_workdays(issue.due_basis, issue.due_workdays, calendar)
            else:  # an issue stored before the basis was recorded
                due = add_workdays(issue.found_on, issue.rect_workdays, calendar)
                for days in uow.fieldwork.extensions(issue.id):
                    due = add_workdays(due.date, days, calendar)
            if due.date == issue.due_on and due.provisional == issue.due_provisional:
                continue
            uow.fieldwork.set_issue_state(issue.id, status=issue.status, due_on=due.date,
                                          due_provisional=due.provisional,
                                          escalation=issue.escalation, at=now,
                                          expected_version=issue.version,
                                          due_basis=due.start, due_workdays=due.workdays)
            uow.events.append(at=now, actor=actor, kind="issue.due_recomputed",
                              entity=f"issue:{issue.id}",
                              payload={"old_due_on": issue.due_on.isoformat(),
                                       "due_on": due.date.isoformat(),
                                       "provisional": due.provisional})
            _schedule(uow, [(issue.id, issue.campaign_id, due.date, _team_of(uow, issue))],
                     calendar=calendar, at=now)
            changed.append(issue.id)
        uow.commit()
    return changed
