"""Visits, interviews, issues (add, rectify, extend, history) and evidence (upload, download).

An auditor sees and writes only the visits of their own team, and the interviews and issues of
those visits; a business user sees and rectifies only its own issues; only the office approves
extensions. Refusals are 403 and written to the event log. Issue updates need ``If-Match``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Response, UploadFile
from fastapi.responses import FileResponse

from domain import access
from domain import fieldwork as fw
from domain.access import Action, Principal, Role
from domain.errors import BadArgumentError, NotFoundError
from domain.issues import IssueQuery
from lookback.api.deps import (
    AppDep,
    GuardDep,
    IfMatch,
    PageDep,
    UserDep,
    etag,
    parse_if_match,
)
from lookback.api.schemas import (
    EvidenceList,
    EvidencePublic,
    ExtensionCreate,
    HistoryEvent,
    HistoryList,
    InterviewCreate,
    InterviewPublic,
    IssueCreate,
    IssueList,
    IssuePublic,
    ProvisionList,
    ProvisionPublic,
    RectificationCreate,
    VisitList,
    VisitPublic,
    evidence_public,
    issue_public,
    visit_public,
)
from lookback.bootstrap import App
from lookback.scope import readable_issues

router = APIRouter()

def load_visit(lb: App, visit_id: int) -> fw.Visit:
    with lb.read_uow_factory()() as uow:
        v = uow.fieldwork.get_visit(visit_id)
    if v is None:
        raise NotFoundError(f"visit {visit_id} does not exist", f"检查任务{visit_id}不存在")
    return v


def load_issue(lb: App, issue_id: int) -> tuple[fw.Issue, int | None]:
    """The issue and the team of its visit."""
    with lb.read_uow_factory()() as uow:
        i = uow.issues.get(issue_id)
        v = uow.fieldwork.get_visit(i.visit_id) if i is not None and i.visit_id is not None else None
    if i is None:
        raise NotFoundError(f"issue {issue_id} does not exist", f"问题{issue_id}不存在")
    return i, (v.team_no if v else None)


def _team_for(user: Principal) -> int | None:
    """The team an auditor's lists are limited to (None: no limit)."""
    return user.team if user.role == Role.AUDITOR else None


# --- visits -----------------------------------------------------------------------------------

@router.get("/campaigns/{campaign_id}/visits", tags=["visits"])
def list_visits(campaign_id: int, lb: AppDep, user: UserDep, guard: GuardDep, page: PageDep,
                status: Annotated[str | None, Query(pattern="^(planned|done)$")] = None,
                team: Annotated[int | None, Query(ge=1, le=10**6)] = None) -> VisitList:
    """A campaign's visits; an auditor sees only those of their own team."""
    if user.role in (Role.BUSINESS, Role.CADRE):
        guard(Action.READ_VISIT, f"campaign:{campaign_id}")
    if user.role == Role.AUDITOR:
        if (team is not None and team != user.team) or (
                user.campaign_id is not None and user.campaign_id != campaign_id):
            guard(Action.READ_VISIT, f"campaign:{campaign_id}", campaign_id=campaign_id,
                  team=team if team is not None else -1)
        team = user.team
    with lb.read_uow_factory()() as uow:
        if uow.campaigns.get(campaign_id) is None:
            raise NotFoundError(f"campaign {campaign_id} does not exist",
                                f"督查{campaign_id}不存在")
        visits = uow.fieldwork.list_visits(campaign_id, team=team, status=status)
    visits = [v for v in visits if access.in_territory(user, v.region_code)]
    return VisitList(**page.meta(len(visits)), items=[visit_public(v) for v in page.slice(visits)])


@router.get("/visits/{visit_id}", tags=["visits"])
def get_visit(visit_id: int, lb: AppDep, guard: GuardDep) -> VisitPublic:
    v = load_visit(lb, visit_id)
    guard(Action.READ_VISIT, f"visit:{visit_id}", campaign_id=v.campaign_id, team=v.team_no,
          region=v.region_code)
    return visit_public(v)


@router.post("/visits/{visit_id}/complete", tags=["visits"])
def complete_visit(visit_id: int, lb: AppDep, guard: GuardDep, user: UserDep) -> VisitPublic:
    """Mark a visit done (its own team only)."""
    v = load_visit(lb, visit_id)
    guard(Action.WRITE_FIELDWORK, f"visit:{visit_id}", campaign_id=v.campaign_id, team=v.team_no,
          region=v.region_code)
    done = fw.complete_visit(visit_id, team=None, actor=user.actor,
                             uow_factory=lb.uow_factory(), clock=lb.clock)
    return visit_public(done)


@router.post("/visits/{visit_id}/interviews", status_code=201, tags=["visits"])
def record_interview(visit_id: int, body: InterviewCreate, lb: AppDep, guard: GuardDep,
                     user: UserDep) -> InterviewPublic:
    """Record an interview with its answers; failed items register issues (once per business
    and item). Every mistake in the answers is reported at once (400)."""
    v = load_visit(lb, visit_id)
    guard(Action.WRITE_FIELDWORK, f"visit:{visit_id}", campaign_id=v.campaign_id, team=v.team_no,
          region=v.region_code)
    o = fw.record_interview(visit_id, body.role, body.name,
                            [fw.Answer(a.item_id, a.result, a.note) for a in body.answers],
                            team=None, actor=user.actor, uow_factory=lb.uow_factory(),
                            clock=lb.clock, checklists=lb.checklists, calendar=lb.calendar)
    return InterviewPublic(interview_id=o.interview_id, answers=o.answers, failed=o.failed,
                           issues_registered=o.issues_registered,
                           issues_existing=o.issues_existing)


# --- issues -----------------------------------------------------------------------------------

@router.get("/provisions", tags=["issues"])
def list_provisions(category: str, user: UserDep) -> ProvisionList:
    """The numbered provisions a free-form finding of ``category`` may cite (the legal bases of
    that category's checklist items)."""
    from domain.checklists import default_checklists
    from domain.vocabulary import CATEGORIES

    if category not in CATEGORIES:
        raise BadArgumentError(f"category: {category!r} is not one of {', '.join(CATEGORIES)}",
                               f"category：“{category}”不是{'、'.join(CATEGORIES)}之一")
    found = default_checklists().provisions(category)
    return ProvisionList(category=category, count=len(found), items=[
        ProvisionPublic(provision=n, legal_basis=p.basis_zh, legal_basis_en=p.basis_en)
        for n, p in enumerate(found, start=1)])


@router.post("/visits/{visit_id}/issues", status_code=201, tags=["issues"])
def add_issue(visit_id: int, body: IssueCreate, lb: AppDep, guard: GuardDep, user: UserDep,
              response: Response) -> IssuePublic:
    """A free-form finding on a visit of the auditor's own team."""
    from domain.vocabulary import CATEGORIES

    v = load_visit(lb, visit_id)
    guard(Action.WRITE_FIELDWORK, f"visit:{visit_id}", campaign_id=v.campaign_id, team=v.team_no,
          region=v.region_code)
    issue_id = fw.add_issue(visit_id, category=body.category, severity=body.severity,
                            description=body.description, evidence=[], team=None,
                            actor=user.actor, uow_factory=lb.uow_factory(), clock=lb.clock,
                            calendar=lb.calendar, categories=CATEGORIES,
                            provision=body.provision, legal_basis=body.legal_basis)
    i, _ = load_issue(lb, issue_id)
    response.headers["ETag"] = etag(i.version)
    response.headers["Location"] = f"/issues/{issue_id}"
    return issue_public(i)


@router.get("/issues", tags=["issues"])
def list_issues(lb: AppDep, user: UserDep, page: PageDep,
                campaign: Annotated[int | None, Query(ge=1, le=2**62)] = None,
                status: Annotated[str | None, Query(max_length=30)] = None,
                overdue: bool = False,
                province: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
                business: Annotated[str | None, Query(max_length=18)] = None) -> IssueList:
    """Issues, filtered; a business user sees only its own, an auditor only its team's."""
    from domain.clock import china_date

    with lb.read_uow_factory()() as uow:
        issues = uow.issues.list(IssueQuery(
            campaign_id=campaign, statuses=(status,) if status else (), province=province,
            territory=user.territory or None,
            overdue_on=china_date(lb.clock.now()) if overdue else None))
    issues = readable_issues(user, lb, issues)
    if business is not None:
        issues = [i for i in issues if i.uscc == business]
    return IssueList(**page.meta(len(issues)), items=[issue_public(i) for i in page.slice(issues)])


@router.get("/issues/{issue_id}", tags=["issues"])
def get_issue(issue_id: int, lb: AppDep, guard: GuardDep, response: Response) -> IssuePublic:
    """One issue; its ``ETag`` is the version an update must send back in ``If-Match``."""
    i, team = load_issue(lb, issue_id)
    guard(Action.READ_ISSUE, f"issue:{issue_id}", campaign_id=i.campaign_id, team=team,
          uscc=i.uscc, region=i.region_code)
    response.headers["ETag"] = etag(i.version)
    return issue_public(i)


@router.get("/issues/{issue_id}/history", tags=["issues"])
def issue_history(issue_id: int, lb: AppDep, guard: GuardDep) -> HistoryList:
    """Every event of the issue, oldest first."""
    i, team = load_issue(lb, issue_id)
    guard(Action.READ_ISSUE, f"issue:{issue_id}", campaign_id=i.campaign_id, team=team,
          uscc=i.uscc, region=i.region_code)
    with lb.read_uow_factory()() as uow:
        events = uow.events.for_entity(f"issue:{issue_id}")
    return HistoryList(count=len(events), items=[
        HistoryEvent(seq=e.seq, at=e.at, actor=e.actor, kind=e.kind, payload=e.payload)
        for e in events])


@router.post("/issues/{issue_id}/rectification", tags=["issues"])
def rectify(issue_id: int, body: RectificationCreate, lb: AppDep, guard: GuardDep,
            user: UserDep, response: Response, if_match: IfMatch = None) -> IssuePublic:
    """The business reports its rectification (needs ``If-Match``)."""
    i, team = load_issue(lb, issue_id)
    guard(Action.RECTIFY, f"issue:{issue_id}", campaign_id=i.campaign_id, team=team,
          uscc=i.uscc, region=i.region_code)
    done = fw.rectify(issue_id, measures=body.measures, evidence=[], actor=user.actor,
                      uow_factory=lb.uow_factory(), clock=lb.clock,
                      expected_version=parse_if_match(if_match))
    response.headers["ETag"] = etag(done.version)
    return issue_public(done)


@router.post("/issues/{issue_id}/extensions", tags=["issues"])
def extend(issue_id: int, body: ExtensionCreate, lb: AppDep, guard: GuardDep,
           user: UserDep, response: Response, if_match: IfMatch = None) -> IssuePublic:
    """The office approves an extension of N working days (needs ``If-Match``)."""
    i, team = load_issue(lb, issue_id)
    guard(Action.APPROVE_EXTENSION, f"issue:{issue_id}", campaign_id=i.campaign_id, team=team,
          uscc=i.uscc, region=i.region_code)
    done = fw.extend(issue_id, workdays=body.workdays, reason=body.reason,
                     approver=body.approver, actor=user.actor, uow_factory=lb.uow_factory(),
                     clock=lb.clock, calendar=lb.calendar,
                     expected_version=parse_if_match(if_match))
    response.headers["ETag"] = etag(done.version)
    return issue_public(done)


# --- evidence ---------------------------------------------------------------------------------

@router.post("/issues/{issue_id}/evidence", status_code=201, tags=["issues"])
def upload_evidence(issue_id: int, lb: AppDep, guard: GuardDep, user: UserDep,
                    file: Annotated[UploadFile, File(description="A photo or document "
                                                     "(at most 20 MB).")],
                    purpose: Annotated[str, Form(pattern="^(finding|rectification|followup)$")]
                    = "finding") -> EvidencePublic:
    """Attach evidence to an issue: the auditor of its team (finding, followup) or the business
    (rectification). Stored by SHA-256, never overwritten."""
    i, team = load_issue(lb, issue_id)
    action = Action.RECTIFY if purpose == "rectification" else Action.WRITE_FIELDWORK
    guard(action, f"issue:{issue_id}", campaign_id=i.campaign_id, team=team, uscc=i.uscc, region=i.region_code)
    fw.check_takes_evidence(i)  # before anything is stored
    name = fw.evidence_filename(file.filename)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "upload"  # the user's name is kept apart, never used as a path
        with path.open("wb") as out:
            while chunk := file.file.read(1 << 20):
                out.write(chunk)
        size = path.stat().st_size
        if size == 0:
            raise BadArgumentError("file: the upload is empty", "file：上传的文件为空")
        with lb.read_uow_factory()() as uow:
            held = sum(e.size for e in uow.fieldwork.evidence_of(issue_id))
            business = uow.fieldwork.evidence_bytes_of_business(i.uscc)
        fw.check_quota(i, size, issue_bytes=held, business_bytes=business,
                       quota_issue=lb.settings.evidence_quota_issue_mb * 2**20,
                       quota_business=lb.settings.evidence_quota_business_mb * 2**20)
        stored = lb.evidence.put(str(path))
        ref = fw.EvidenceRef(stored.sha256, stored.size, name)
    return evidence_public(fw.attach_evidence(issue_id, ref, purpose=purpose, actor=user.actor,
                                              uow_factory=lb.uow_factory(), clock=lb.clock))


@router.get("/issues/{issue_id}/evidence", tags=["issues"])
def list_evidence(issue_id: int, lb: AppDep, guard: GuardDep) -> EvidenceList:
    i, team = load_issue(lb, issue_id)
    guard(Action.READ_ISSUE, f"issue:{issue_id}", campaign_id=i.campaign_id, team=team,
          uscc=i.uscc, region=i.region_code)
    with lb.read_uow_factory()() as uow:
        rows = uow.fieldwork.evidence_of(issue_id)
    return EvidenceList(count=len(rows), items=[evidence_public(e) for e in rows])


@router.get("/issues/{issue_id}/evidence/{sha256}", tags=["issues"],
            response_class=FileResponse, responses={200: {"content": {
                "application/octet-stream": {}}}})
def download_evidence(issue_id: int, sha256: Annotated[str, "hex"], lb: AppDep,
                      guard: GuardDep) -> FileResponse:
    """The bytes of one evidence file of the issue."""
    i, team = load_issue(lb, issue_id)
    guard(Action.READ_ISSUE, f"issue:{issue_id}", campaign_id=i.campaign_id, team=team,
          uscc=i.uscc, region=i.region_code)
    with lb.read_uow_factory()() as uow:
        rows = {e.sha256: e.filename for e in uow.fieldwork.evidence_of(issue_id)}
    if sha256 not in rows:
        raise NotFoundError(f"issue {issue_id} has no evidence {sha256}",
                            f"问题{issue_id}没有证据{sha256}")
    path = lb.evidence.path_of(sha256)
    if not path.is_file():
        raise NotFoundError(f"the evidence file {sha256} is missing from the store",
                            f"证据文件{sha256}不在存储中")
    return FileResponse(path, filename=rows[sha256], media_type="application/octet-stream")
