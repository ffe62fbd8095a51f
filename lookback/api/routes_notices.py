"""Notices (文书): list, show, download the PDF, verify a PDF, void, and issue a campaign's notices.

A business user sees and downloads only the notices addressed to it; staff see all. Only the
office (or an administrator) issues and voids notices. Issuing runs the same steps as
``lookback notices issue`` (record, render, store): in this process, or — when the API's flows
go to Prefect workers (a `lookback up` stack, or a work pool named by the environment) — as an
``issue-notices`` run, answered 202 with a job to follow at ``/jobs/{id}`` (``lookback.jobs``).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Query, Request, Response, UploadFile
from fastapi.responses import JSONResponse

from domain import notices as svc
from domain.access import Action, Principal, Role
from domain.errors import BadArgumentError, NotFoundError
from lookback.api.deps import AppDep, GuardDep, PageDep, UserDep
from lookback.api.limits import UPLOAD_LIMIT
from lookback.api.problems import wants_english
from lookback.api.schemas import (
    NoticeIssueCreate,
    NoticeJob,
    NoticeKind,
    NoticeList,
    NoticePublic,
    NoticesIssued,
    NoticeVerification,
    NoticeVoid,
    notice_public,
)
from lookback.bootstrap import App
from lookback.scope import notice_region as _region
from lookback.scope import notice_teams as _teams
from lookback.scope import readable_notices as _readable

router = APIRouter()


def load_notice(lb: App, notice_id: int) -> svc.Notice:
    with lb.read_uow_factory()() as uow:
        n = uow.notices.get(notice_id)
    if n is None:
        raise NotFoundError(f"notice {notice_id} does not exist", f"文书{notice_id}不存在")
    return n


def _mine(user: Principal, n: svc.Notice) -> bool:
    return user.role != Role.BUSINESS or (n.uscc is not None and n.uscc == user.uscc)


@router.get("/notices", tags=["notices"])
def list_notices(lb: AppDep, user: UserDep, page: PageDep,
                 campaign: Annotated[int | None, Query(ge=1, le=2**62)] = None,
                 kind: Annotated[NoticeKind | None, Query()] = None) -> NoticeList:
    """Notices in the order they were numbered; a business user sees only those addressed to
    it."""
    with lb.read_uow_factory()() as uow:
        rows = uow.notices.list_notices(campaign, kind)
    rows = _readable(user, lb, rows)
    return NoticeList(**page.meta(len(rows)), items=[notice_public(n) for n in page.slice(rows)])


@router.get("/notices/{notice_id}", tags=["notices"])
def get_notice(notice_id: int, lb: AppDep, guard: GuardDep) -> NoticePublic:
    """One notice: number, kind, addressee, status, content and PDF hashes."""
    n = load_notice(lb, notice_id)
    guard(Action.READ_NOTICE, f"notice:{notice_id}", campaign_id=n.campaign_id, uscc=n.uscc,
          teams=_teams(lb, [n])[n.id], region=_region(lb, guard.user, n))
    return notice_public(n)


@router.get("/notices/{notice_id}/pdf", tags=["notices"], response_class=Response,
            responses={200: {"content": {"application/pdf": {}}}})
def notice_pdf(notice_id: int, lb: AppDep, guard: GuardDep) -> Response:
    """The PDF of an issued (or since voided) notice, byte for byte as issued."""
    n = load_notice(lb, notice_id)
    guard(Action.READ_NOTICE, f"notice:{notice_id}", campaign_id=n.campaign_id, uscc=n.uscc,
          teams=_teams(lb, [n])[n.id], region=_region(lb, guard.user, n))
    with lb.read_uow_factory()() as uow:
        data = uow.notices.pdf(n.pdf_sha256) if n.pdf_sha256 else None
    if data is None:
        raise NotFoundError(f"notice {n.number} has no PDF yet (status {n.status})",
                            f"文书{n.number}尚无PDF（状态{n.status}）", code="no_pdf")
    name = n.number + ".pdf"
    return Response(data, media_type="application/pdf", headers={
        "Content-Disposition": f"attachment; filename=\"notice-{n.id}.pdf\"; "
                               f"filename*=UTF-8''{quote(name)}",
        "ETag": f'"{n.pdf_sha256}"', "X-Notice-Status": n.status})


_RESULT = {"valid": "OK", "altered": "ALTERED", "void": "VOID", "unknown": "UNKNOWN"}


@router.post("/notices/verify", tags=["notices"])
def verify_notice(request: Request, lb: AppDep, user: UserDep,
                  file: Annotated[UploadFile, File(description="A notice PDF (at most "
                                                   f"{UPLOAD_LIMIT // 2**20} MB).")],
                  ) -> NoticeVerification:
    """Check a PDF against the records (as ``lookback notices verify`` does): OK with its number
    and addressee, ALTERED, VOID, or UNKNOWN."""
    from report_templates.render import extract_content

    data = file.file.read(UPLOAD_LIMIT + 1)
    if not data:
        raise BadArgumentError("file: the upload is empty", "file：上传的文件为空")
    if len(data) > UPLOAD_LIMIT:  # the body limit stops it first; this keeps memory bounded
        raise BadArgumentError("file: larger than the upload limit", "file：超过上传大小限制",
                               code="too_large")
    r = svc.verify_pdf(data, extract=extract_content, uow_factory=lb.read_uow_factory())
    n = r.notice
    en, zh = r.en, r.zh
    if n is not None and r.status == "altered" and not _mine(user, n):
        # A forged claim to another business's notice tells a business user nothing about it.
        n = None
        en = "ALTERED: its bytes differ from every notice issued to you"
        zh = "已被篡改：与发给您的任何文书都不一致"
    return NoticeVerification(
        result=_RESULT[r.status], ok=r.ok,  # type: ignore[arg-type]
        number=n.number if n else None, addressee=n.addressee if n else None,
        kind=n.kind if n else None, issued_at=n.issued_at if n else None,
        voided_at=n.voided_at if n else None,
        message=en if wants_english(request) else zh, message_en=en, message_zh=zh)


@router.post("/notices/{notice_id}/void", tags=["notices"])
def void_notice(notice_id: int, body: NoticeVoid, lb: AppDep, guard: GuardDep,
                user: UserDep) -> NoticePublic:
    """Void an issued notice (office only); it keeps its number, which is never reused."""
    n = load_notice(lb, notice_id)
    guard(Action.ISSUE_NOTICE, f"notice:{notice_id}", campaign_id=n.campaign_id, uscc=n.uscc,
          region=_region(lb, guard.user, n))
    voided = svc.void_notice(n.number, body.reason, uow_factory=lb.uow_factory(),
                             clock=lb.clock, actor=user.actor)
    return notice_public(voided)


@router.post("/campaigns/{campaign_id}/notices", tags=["notices"], response_model=NoticesIssued,
             responses={
    202: {"model": NoticeJob, "description": "Submitted to the Prefect workers: a job to "
          "follow at its Location (/jobs/{id})."}})
def issue_notices(campaign_id: int, body: NoticeIssueCreate, lb: AppDep, guard: GuardDep,
                  user: UserDep) -> Any:
    """Number, render and store the notices of one kind that the campaign still owes (office
    only); rerunning issues nothing twice. Here and now (200: ``recorded``, the notices that were
    pending — numbered now or left by an interrupted run; ``issued``, those issued now), or, when
    the API's flows go to Prefect workers, submitted as a job (202)."""
    from flows.issuing import issue_inline
    from lookback import jobs

    guard(Action.ISSUE_NOTICE, f"campaign:{campaign_id}", campaign_id=campaign_id)
    with lb.read_uow_factory()() as uow:
        c = uow.campaigns.get(campaign_id)
    if c is None:
        raise NotFoundError(f"campaign {campaign_id} does not exist", f"督查{campaign_id}不存在")
    # an office issues the notices of its own campaigns and of the offices below it
    guard(Action.ISSUE_NOTICE, f"campaign:{campaign_id}", campaign_id=campaign_id,
          region=c.territory)
    pool = jobs.workers_for(lb)
    if pool is not None:
        job = jobs.submit_notices(pool, {
            "campaign_id": campaign_id, "kind": body.kind, "lang": body.lang,
            "now_iso": lb.settings.now.isoformat() if lb.settings.now else None,
            "actor": user.actor})
        return JSONResponse(NoticeJob(**job).model_dump(), status_code=202,
                            headers={"Location": f"/jobs/{job['id']}"})
    result = issue_inline(campaign_id, body.kind, body.lang, uow_factory=lb.uow_factory(),
                          clock=lb.clock, actor=user.actor, public_url=lb.settings.public_url)
    return NoticesIssued(**result)


@router.get("/jobs/{job_id}", tags=["notices"])
def get_job(job_id: str, lb: AppDep, guard: GuardDep) -> NoticeJob:
    """A notice job: the flow run's state, done/total, and the result once completed (whoever
    may issue the campaign's notices)."""
    from lookback import jobs

    run, pool = jobs.read_run(lb, job_id)
    campaign_id = (run.parameters or {}).get("campaign_id")
    guard(Action.ISSUE_NOTICE, f"job:{job_id}", campaign_id=campaign_id)
    return NoticeJob(**jobs.progress(lb, run, pool))
