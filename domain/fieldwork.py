"""Fieldwork use cases: visits, free-form findings, evidence, rectification reports and
extensions, each change one event.

Every service here opens one unit of work, checks what it is asked against the stored state, makes
the change, appends exactly one event per state change in the same transaction, and commits. The
issue's own state changes go through :mod:`domain.issues`; interviews (one or many) are recorded
by :mod:`domain.fieldwork_import`.
"""

from __future__ import annotations

from collections.abc import Sequence

from domain import issues
from domain.checklists import Checklists, default_checklists
from domain.clock import Clock, china_date
from domain.errors import BadArgumentError, ConflictError
from domain.fieldwork_import import InterviewOutcome, record_interview
from domain.issues import Action, Issue, IssueQuery, NewIssue
from domain.text import has_visible, refuse_controls
from domain.visits import (
    RESULT_ALIASES,
    RESULTS,
    Answer,
    Evidence,
    EvidenceRef,
    EvidenceStore,
    FieldworkRepository,
    FieldworkUnitOfWork,
    FieldworkUowFactory,
    Visit,
    check_writable,
    get_visit,
    normalise_result,
)
from domain.vocabulary import SEVERITIES
from domain.workdays import HolidaySource, add_workdays

__all__ = [
    "RESULTS",
    "RESULT_ALIASES",
    "Answer",
    "Evidence",
    "EvidenceRef",
    "EvidenceStore",
    "FieldworkRepository",
    "FieldworkUnitOfWork",
    "FieldworkUowFactory",
    "InterviewOutcome",
    "Issue",
    "NewIssue",
    "Visit",
    "add_issue",
    "attach_evidence",
    "check_quota",
    "check_takes_evidence",
    "check_writable",
    "complete_visit",
    "evidence_filename",
    "extend",
    "get_visit",
    "legal_basis_for",
    "normalise_result",
    "recompute_provisional",
    "record_interview",
    "rectify",
]

def complete_visit(visit_id: int, *, team: int | None, actor: str,
                   uow_factory: FieldworkUowFactory, clock: Clock) -> Visit:
    now = clock.now()
    with uow_factory() as uow:
        v = get_visit(uow, visit_id)
        check_writable(v, team)
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

MAX_LEGAL_BASIS = 500


def legal_basis_for(category: str, *, provision: int | None, legal_basis: str | None,
                    checklists: Checklists) -> str:
    """The legal basis of a free-form finding: the ``provision``-th (from 1) of the category's
    provisions (:meth:`Checklists.provisions`), or the ``legal_basis`` given, which must name the
    law or regulation in 《》. Exactly one of the two."""
    choices = checklists.provisions(category)
    listed_en = "; ".join(f"{n}. {p.basis_zh}" for n, p in enumerate(choices, start=1))
    listed_zh = "；".join(f"{n}.{p.basis_zh}" for n, p in enumerate(choices, start=1))
    if provision is not None and legal_basis is not None:
        raise BadArgumentError("give --provision or --legal-basis, not both",
                               "--provision（条款编号）与--legal-basis（依据）只能给出一个",
                               code="bad_legal_basis")
    if provision is not None:
        if not 1 <= provision <= len(choices):
            raise BadArgumentError(
                f"--provision: {provision} is not one of the {len(choices)} provisions of "
                f"category {category}" + (f" ({listed_en})" if choices else ""),
                f"--provision：{provision}不在类别{category}的{len(choices)}条依据之中"
                + (f"（{listed_zh}）" if choices else ""), code="bad_legal_basis")
        return choices[provision - 1].basis_zh
    if legal_basis is None or not has_visible(legal_basis):
        raise BadArgumentError(
            "a free-form finding needs a legal basis: --provision N (one of the category's "
            f"provisions: {listed_en or 'none'}) or --legal-basis naming the law in 《》",
            "自行发现的问题须写明违反的规定：--provision 条款编号（本类别的依据："
            f"{listed_zh or '无'}）或 --legal-basis 以《》写明法律法规", code="bad_legal_basis")
    refuse_controls(legal_basis, "--legal-basis")
    basis = legal_basis.strip()
    if len(basis) > MAX_LEGAL_BASIS:
        raise BadArgumentError(f"--legal-basis is longer than {MAX_LEGAL_BASIS} characters",
                               f"--legal-basis超过{MAX_LEGAL_BASIS}个字符", code="bad_legal_basis")
    if "《" not in basis or "》" not in basis:
        raise BadArgumentError(
            f"--legal-basis {basis!r} must name the law or regulation in 《》, e.g. "
            "《中华人民共和国食品安全法》第三十四条",
            f"--legal-basis“{basis}”须以《》写明法律法规，例如《中华人民共和国食品安全法》第三十四条",
            code="bad_legal_basis")
    return basis


def add_issue(visit_id: int, *, category: str, severity: str, description: str,
              evidence: Sequence[EvidenceRef], team: int | None, actor: str,
              uow_factory: FieldworkUowFactory, clock: Clock,
              calendar: HolidaySource, categories: Sequence[str],
              provision: int | None = None, legal_basis: str | None = None,
              checklists: Checklists | None = None) -> int:
    """A free-form finding on a visit, with the provision it breaches (:func:`legal_basis_for`)."""
    problems = []
    if category not in categories:
        problems.append(f"--category: {category!r} is not one of {', '.join(categories)}")
    if severity not in SEVERITIES:
        problems.append(f"--severity: {severity!r} is not one of {', '.join(SEVERITIES)}")
    refuse_controls(description, "--description")
    if not has_visible(description):
        problems.append("--description is empty")
    if problems:
        raise BadArgumentError("; ".join(problems), "；".join(problems))
    basis = legal_basis_for(category, provision=provision, legal_basis=legal_basis,
                            checklists=checklists or default_checklists())
    now = clock.now()
    today = china_date(now)
    with uow_factory() as uow:
        v = get_visit(uow, visit_id)
        check_writable(v, team)
        days = uow.issues.rules(v.campaign_id).days_for(severity)
        due = add_workdays(today, days, calendar)
        [issue_id] = issues.register(
            uow, [NewIssue(v.campaign_id, v.id, v.uscc, None, category, severity,
                           description.strip(), basis, today, days, due, team_no=v.team_no)],
            at=now, actor=actor, calendar=calendar,
            payloads=[{"from": "finding", "evidence": [r.sha256 for r in evidence]}])
        for ref in evidence:
            uow.fieldwork.add_evidence(issue_id, ref, "finding", now, actor)
        uow.commit()
    return issue_id


EVIDENCE_PURPOSES = ("finding", "rectification", "followup")
MAX_FILENAME_BYTES = 255  # what every common file system holds


def evidence_filename(raw: str | None) -> str:
    """The name an uploaded evidence file is kept under: its last path component, refused when
    it is empty, ``.`` or ``..``, holds control characters, or is longer than 255 bytes."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    if name in ("", ".", ".."):
        raise BadArgumentError(f"file: the filename {raw!r} names no file",
                               f"file：文件名“{raw}”不是一个文件名", code="bad_filename")
    if any(ord(c) < 32 or 0x7f <= ord(c) < 0xa0 for c in name):
        raise BadArgumentError("file: the filename holds control characters",
                               "file：文件名含有控制字符", code="bad_filename")
    if len(name.encode("utf-8")) > MAX_FILENAME_BYTES:
        raise BadArgumentError(f"file: the filename is longer than {MAX_FILENAME_BYTES} bytes",
                               f"file：文件名超过{MAX_FILENAME_BYTES}字节", code="bad_filename")
    return name


def check_takes_evidence(issue: Issue) -> None:
    """A closed (verified) issue takes no more evidence."""
    if issue.status is issues.IssueStatus.VERIFIED:
        raise ConflictError(f"issue {issue.id} is verified (closed): it takes no more evidence",
                            f"问题{issue.id}已核验销号，不能再添加证据", code="issue_closed")


def check_quota(issue: Issue, size: int, *, issue_bytes: int, business_bytes: int,
                quota_issue: int, quota_business: int) -> None:
    """Refuse an upload of ``size`` bytes that would take the issue or its business over its
    quota (``issue_bytes`` / ``business_bytes``: what they hold already)."""
    mb = 1024 * 1024
    if issue_bytes + size > quota_issue:
        raise BadArgumentError(
            f"file: issue {issue.id} would hold more than {quota_issue // mb} MB of evidence",
            f"file：问题{issue.id}的证据将超过{quota_issue // mb} MB上限", code="quota_exceeded")
    if business_bytes + size > quota_business:
        raise BadArgumentError(
            f"file: business {issue.uscc} would hold more than {quota_business // mb} MB of "
            "evidence", f"file：主体{issue.uscc}的证据将超过{quota_business // mb} MB上限",
            code="quota_exceeded")


def attach_evidence(issue_id: int, ref: EvidenceRef, *, purpose: str, actor: str,
                    uow_factory: FieldworkUowFactory, clock: Clock) -> Evidence:
    """Attach a stored evidence file to an issue, once per issue and file: the same bytes sent
    again to the same issue return the link made the first time, unchanged."""
    if purpose not in EVIDENCE_PURPOSES:
        raise BadArgumentError(f"purpose must be one of {', '.join(EVIDENCE_PURPOSES)}",
                               f"purpose应为{'、'.join(EVIDENCE_PURPOSES)}之一")
    now = clock.now()
    with uow_factory() as uow:
        issue = uow.issues.get(issue_id)
        if issue is None:
            raise issues.not_found(issue_id)
        check_takes_evidence(issue)
        held = _link(uow.fieldwork.evidence_of(issue_id), ref.sha256)
        if held is not None:
            return held
        uow.fieldwork.add_evidence(issue_id, ref, purpose, now, actor)
        uow.events.append(at=now, actor=actor, kind="issue.evidence_added",
                          entity=f"issue:{issue_id}",
                          payload={"sha256": ref.sha256, "filename": ref.filename,
                                   "size": ref.size, "purpose": purpose})
        made = _link(uow.fieldwork.evidence_of(issue_id), ref.sha256)
        uow.commit()
    assert made is not None
    return made


def _link(links: Sequence[Evidence], sha256: str) -> Evidence | None:
    return next((e for e in links if e.sha256 == sha256), None)


def rectify(issue_id: int, *, measures: str, evidence: Sequence[EvidenceRef], actor: str,
            uow_factory: FieldworkUowFactory, clock: Clock,
            expected_version: int | None = None) -> Issue:
    """The business reports the measures it took (整改报告)."""
    refuse_controls(measures, "--measures")
    if not has_visible(measures):
        raise BadArgumentError("--measures is empty", "--measures（整改措施）为空")
    now = clock.now()
    with uow_factory() as uow:
        issue = issues.load(uow, issue_id, expected_version=expected_version)
        issues.step(issue.id, issue.status, Action.REPORT)  # refuse before writing anything
        rect_id = uow.fieldwork.add_rectification(issue_id, measures.strip(), now, actor)
        for ref in evidence:
            uow.fieldwork.add_evidence(issue_id, ref, "rectification", now, actor)
        issue = issues.apply(uow, issue, Action.REPORT, at=now, actor=actor,
                             payload={"rectification": rect_id, "measures": measures.strip(),
                                      "evidence": [r.sha256 for r in evidence]})
        uow.commit()
    return issue


def extend(issue_id: int, *, workdays: int, reason: str, approver: str, actor: str,
           uow_factory: FieldworkUowFactory, clock: Clock,
           calendar: HolidaySource, expected_version: int | None = None) -> Issue:
    """An approved extension (延期): the due date moves by N working days from the current one.
    A look-back of the old due date that is already open is closed as cancelled."""
    if workdays < 1:
        raise BadArgumentError("--workdays must be at least 1", "--workdays至少为1")
    refuse_controls(reason, "--reason")
    refuse_controls(approver, "--approver")
    if not has_visible(reason):
        raise BadArgumentError("--reason is empty", "--reason（延期理由）为空")
    if not has_visible(approver):
        raise BadArgumentError("--approver is empty: an extension needs an approver",
                               "--approver为空：延期需要审批人")
    now = clock.now()
    with uow_factory() as uow:
        issue = issues.load(uow, issue_id, expected_version=expected_version)
        issues.step(issue.id, issue.status, Action.EXTEND)  # refuse before writing anything
        # N more working days after the current due date is the (M + N)-th working day after the
        # date the deadline was counted from: kept that way, a later recomputation (a year's
        # calendar arriving) moves the extended date together with the date it extends.
        if issue.due_basis is not None and issue.due_workdays is not None:
            due = add_workdays(issue.due_basis, issue.due_workdays + workdays, calendar)
        else:
            due = add_workdays(issue.due_on, workdays, calendar)
        ext_id = uow.fieldwork.add_extension(issue_id, workdays, reason.strip(), approver.strip(),
                                             issue.due_on, due.date, due.provisional, now)
        issue = issues.apply(uow, issue, Action.EXTEND, at=now, actor=actor, due=due,
                             calendar=calendar,
                             payload={"extension": ext_id, "workdays": workdays,
                                      "reason": reason.strip(), "approver": approver.strip()})
        uow.commit()
    return issue


def recompute_provisional(*, actor: str, uow_factory: FieldworkUowFactory, clock: Clock,
                          calendar: HolidaySource) -> list[int]:
    """After a year's calendar arrives: recompute every provisional due date (with extensions)."""
    now = clock.now()
    changed = []
    with uow_factory() as uow:
        unclosed = tuple(s.value for s in issues.IssueStatus if s is not issues.S.VERIFIED)
        for issue in uow.issues.list(IssueQuery(statuses=unclosed, provisional=True)):
            legacy = ([] if issue.due_basis is not None and issue.due_workdays is not None
                      else uow.fieldwork.extensions(issue.id))
            due = issues.recomputed_due(issue, calendar, legacy)
            if due.date == issue.due_on and due.provisional == issue.due_provisional:
                continue
            issues.apply(uow, issue, Action.RECOMPUTE, at=now, actor=actor, due=due,
                         calendar=calendar)
            changed.append(issue.id)
        uow.commit()
    return changed
