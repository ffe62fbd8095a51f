"""The office console's notices (文书) pages under ``/app/office/notices`` (see
``lookback.web.console``): the register, issuing a batch with its progress, each notice's PDF,
voiding one, and checking an uploaded PDF.

Everything goes through the services the API and the command line use: the register reads one
page of ``NoticeRepository.page`` (filters, territory and paging in SQL) and keeps what
``lookback.scope.readable_notices`` allows; a batch is ``flows.issuing.issue_inline`` (in a
thread of this server) or, when a Prefect work pool serves the database, the same
``issue-notices`` job the API submits (``lookback.jobs``); voiding is
``domain.notices.void_notice``, checking ``domain.notices.verify_pdf``, and the PDF is the API's
own answer (``GET /notices/{id}/pdf``)."""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response

from domain import access
from domain import notices as svc
from domain.access import Action, Principal
from domain.errors import BadArgumentError, LookbackError, NotFoundError, PermissionDeniedError
from domain.notices import NoticeQuery
from lookback.api.deps import Guard
from lookback.api.limits import UPLOAD_LIMIT
from lookback.bootstrap import App
from lookback.scope import notice_region, notice_teams, readable_notices
from lookback.web import pages, text
from lookback.web.console.base import PER_PAGE, Who, check_csrf, guard, lb_of, pager, render, staff

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)

text.add({
    "ntc_title": ("文书台账", "Notice register"),
    "ntc_filter": ("筛选", "Filter"),
    "ntc_all": ("全部", "All"),
    "ntc_kind": ("文书种类", "Kind"),
    "ntc_status": ("状态", "Status"),
    "ntc_pending": ("待签发", "pending"),
    "ntc_issued": ("已签发", "issued"),
    "ntc_void": ("已作废", "void"),
    "ntc_search": ("文号或主送单位", "Number or addressee"),
    "ntc_from": ("签发日期自", "Issued from"),
    "ntc_to": ("签发日期至", "Issued to"),
    "ntc_count": ("共 {total} 份", "{total} notice(s)"),
    "ntc_none": ("没有符合条件的文书", "No notice matches"),
    "ntc_fix_filter": ("请先改正筛选条件", "Correct the filter first"),
    "ntc_number": ("文号", "Number"),
    "ntc_addressee": ("主送", "Addressee"),
    "ntc_issued_at": ("签发", "Issued"),
    "ntc_voided_at": ("作废", "Voided"),
    "ntc_reason": ("作废理由", "Reason for voiding"),
    "ntc_pdf": ("下载PDF", "Download PDF"),
    "ntc_void_it": ("作废此文书", "Void this notice"),
    "ntc_void_confirm": ("确认作废（文号不再使用）", "Void it (its number is never reused)"),
    "ntc_reason_needed": ("作废理由：必填，请说明为何作废", "Reason for voiding: required; say why"),
    "ntc_voided_ok": ("已作废", "Voided"),
    "ntc_issue": ("签发文书", "Issue notices"),
    "ntc_issue_help": ("签发所选督查尚欠的该类文书；重复签发不会产生重复文书。",
                       "Issues what the campaign still owes of this kind; running it again "
                       "issues nothing twice."),
    "ntc_issue_start": ("开始签发", "Start issuing"),
    "ntc_lang": ("文书语言", "Language of the notices"),
    "ntc_lang_zh": ("中文", "Chinese"),
    "ntc_lang_en": ("英文", "English"),
    "ntc_no_campaigns": ("本辖区没有已启动的督查", "No launched campaign in your territory"),
    "ntc_office_only": ("仅食安办（office）可签发和作废文书。",
                        "Only the office role issues and voids notices."),
    "ntc_progress": ("签发进度", "Progress"),
    "ntc_numbering": ("正在编号…", "Numbering…"),
    "ntc_running": ("签发中", "issuing"),
    "ntc_done": ("完成：本次签发 {issued} 份", "Done: {issued} issued now"),
    "ntc_nothing_owed": ("没有需要签发的文书", "Nothing was owed"),
    "ntc_failed": ("签发失败", "Issuing failed"),
    "ntc_state": ("Prefect状态", "Prefect state"),
    "ntc_run_link": ("在Prefect中查看", "Open the run in Prefect"),
    "ntc_see_issued": ("查看本批文书", "See these notices"),
    "ntc_verify": ("核验PDF", "Verify a PDF"),
    "ntc_verify_help": ("上传文书PDF，核对是否为已签发的真实文书、已作废或被篡改。",
                        "Upload a notice PDF: is it a genuine issued notice, void, or altered?"),
    "ntc_file": ("PDF文件", "PDF file"),
    "ntc_verify_start": ("核验", "Verify"),
    "ntc_file_needed": ("PDF文件：请选择要核验的文件", "PDF file: choose the file to check"),
    "ntc_file_too_large": ("PDF文件：超过上传大小限制", "PDF file: larger than the upload limit"),
    "ntc_valid": ("真实有效", "genuine"),
    "ntc_altered": ("已被篡改", "altered"),
    "ntc_unknown": ("未知文书", "unknown"),
    "ntc_verify_page": ("公开核验页", "Public check page"),
})

STATUSES = ("pending", "issued", "void")
#: In-process batches remembered (finished ones are forgotten oldest first beyond this).
KEEP_BATCHES = 100
#: Prefect states after which a job's progress stops being polled.
FINAL_STATES = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")


def _kind_name(kind: str, lang: str) -> str:
    return svc.KIND_EN.get(kind, kind) if lang == "en" else svc.KIND_ZH.get(kind, kind)


def _say(request: Request, zh: str, en: str) -> str:
    """A message in the page's language."""
    return en if pages._lang(request) == "en" else zh


def _message(e: LookbackError, request: Request) -> str:
    return _say(request, e.zh, e.en)


def _may_issue(p: Principal) -> bool:
    """Whether the user's role issues and voids notices (the rule of ``domain.access``; the
    territory is checked per campaign or notice when they act)."""
    try:
        access.authorize(p, Action.ISSUE_NOTICE)
    except PermissionDeniedError:
        return False
    return True


# --- the register ------------------------------------------------------------------------------

@dataclass
class Filters:
    """The register's filters as typed (kept in the form and the pager's links), what they mean,
    and what is wrong with them (each message names its field)."""

    raw: dict[str, str]
    query: NoticeQuery = field(default_factory=NoticeQuery)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (zh, en)

    @property
    def link(self) -> str:
        kept = {k: v for k, v in self.raw.items() if v}
        return "&" + urlencode(kept) if kept else ""


def _date(raw: str, zh: str, en: str, errors: list[tuple[str, str]]) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors.append((f"{zh}：“{raw[:20]}”不是日期（例如2026-12-01）",
                       f"{en}: {raw[:20]!r} is not a date (e.g. 2026-12-01)"))
        return None


def parse_filters(campaign: str, kind: str, status: str, q: str, issued_from: str,
                  issued_to: str) -> Filters:
    """The register's filters from the query string: every bad one named, none guessed."""
    raw = {"campaign": campaign.strip(), "kind": kind.strip(), "status": status.strip(),
           "q": q.strip()[:100], "from": issued_from.strip(), "to": issued_to.strip()}
    errors: list[tuple[str, str]] = []
    campaign_id = None
    if raw["campaign"]:
        if raw["campaign"].isdigit() and 0 < int(raw["campaign"]) < 2**62:
            campaign_id = int(raw["campaign"])
        else:
            errors.append((f"督查：“{raw['campaign'][:20]}”不是督查编号",
                           f"Campaign: {raw['campaign'][:20]!r} is not a campaign number"))
    if raw["kind"] and raw["kind"] not in svc.KINDS:
        errors.append(("文书种类：未知的种类", f"Kind: unknown kind {raw['kind'][:30]!r}"))
    if raw["status"] and raw["status"] not in STATUSES:
        errors.append(("状态：应为待签发、已签发或已作废",
                       "Status: must be pending, issued or void"))
    start = _date(raw["from"], "签发日期自", "Issued from", errors)
    end = _date(raw["to"], "签发日期至", "Issued to", errors)
    if start and end and start > end:
        errors.append(("签发日期：起始日期晚于截止日期", "Issued dates: the start is after the end"))
    query = NoticeQuery(campaign_id=campaign_id, kind=raw["kind"] or None,
                        status=raw["status"] or None, text=raw["q"], issued_from=start,
                        issued_to=end)
    return Filters(raw, query, errors)


def _campaigns(lb: App, p: Principal) -> list[Any]:
    """The launched and closed campaigns in the user's territory (the API's rule for listing
    campaigns): the register's choice and, launched, the batch's."""
    with lb.read_uow_factory()() as uow:
        found = [c for status in ("launched", "closed")
                 for c in uow.campaigns.with_status(status)]
    return sorted((c for c in found if access.in_territory(p, c.territory)),
                  key=lambda c: -c.id)


def _page(lb: App, p: Principal, query: NoticeQuery, campaigns: list[Any],
          page: int) -> tuple[list[svc.Notice], int]:
    """One page of the register within the user's territory, newest first, and the total."""
    scoped = replace(query, territory=p.territory or "",
                     campaigns=tuple(c.id for c in campaigns))
    with lb.read_uow_factory()() as uow:
        rows, total = uow.notices.page(scoped, limit=PER_PAGE, offset=(page - 1) * PER_PAGE)
    return readable_notices(p, lb, rows), total


@router.get("/app/office/notices")
def register(request: Request) -> Response:
    """The register: filters (``campaign``, ``kind``, ``status``, ``q``, issued ``from`` and
    ``to``), one page of notices with their actions, the batch form and the PDF check."""
    who = staff(request)
    if isinstance(who, Response):
        return who
    lb, p = lb_of(request), who[0]
    get = request.query_params.get
    filters = parse_filters(get("campaign", ""), get("kind", ""), get("status", ""),
                            get("q", ""), get("from", ""), get("to", ""))
    page = get("page", "1")
    number = int(page) if page.isdigit() and 0 < int(page) < 10**6 else 1
    campaigns = _campaigns(lb, p)
    rows: list[svc.Notice] = []
    total = 0
    if not filters.errors:
        rows, total = _page(lb, p, filters.query, campaigns, number)
    paging = pager(number, total, per_page=PER_PAGE, query=filters.link)
    return render(request, "console/notices.html", who, filters=filters, rows=rows,
                  campaigns=campaigns, titles={c.id: c.title for c in campaigns},
                  launched=[c for c in campaigns if c.status == "launched"],
                  kinds=svc.KINDS, issuable=svc.ISSUABLE, statuses=STATUSES,
                  kind_name=_kind_name, may_issue=_may_issue(p),
                  error="", done="", progress=None, chosen={}, result=None, filename="",
                  **paging.context())


# --- one notice: the PDF, voiding ---------------------------------------------------------------

def _notice(request: Request, who: Who, notice_id: int, action: Action) -> svc.Notice:
    """A notice the user may ``action`` (the API's guard, with the API's scope)."""
    from lookback.api.routes_notices import load_notice

    lb = lb_of(request)
    n = load_notice(lb, notice_id)
    guard(request, who, action, f"notice:{notice_id}", campaign_id=n.campaign_id, uscc=n.uscc,
          teams=notice_teams(lb, [n])[n.id], region=notice_region(lb, who[0], n))
    return n


@router.get("/app/office/notices/{notice_id}/pdf")
def notice_pdf(request: Request, notice_id: int) -> Response:
    """The PDF exactly as ``GET /notices/{id}/pdf`` answers it (bytes and headers)."""
    from lookback.api.routes_notices import notice_pdf as api_pdf

    who = staff(request)
    if isinstance(who, Response):
        return who
    lb = lb_of(request)
    return api_pdf(notice_id, lb, Guard(request, lb, who[0]))


def _card(request: Request, who: Who, n: svc.Notice, *, error: str = "", done: str = "",
          campaign_title: str = "") -> Response:
    return render(request, "console/notices_card.html", who, n=n, error=error, done=done,
                  kind_name=_kind_name, may_issue=_may_issue(who[0]),
                  titles={n.campaign_id: campaign_title} if n.campaign_id else {})


def _title(lb: App, campaign_id: int | None) -> str:
    if campaign_id is None:
        return ""
    with lb.read_uow_factory()() as uow:
        c = uow.campaigns.get(campaign_id)
    return c.title if c is not None else ""


@router.post("/app/office/notices/{notice_id}/void")
def void(request: Request, notice_id: int, reason: str = Form("")) -> Response:
    """Void an issued notice with a reason (the office; ``POST /notices/{id}/void``'s service):
    the card again, void with its reason, or with what stopped it."""
    who = staff(request)
    if isinstance(who, Response):
        return who
    check_csrf(request, who)
    lb = lb_of(request)
    n = _notice(request, who, notice_id, Action.ISSUE_NOTICE)
    title = _title(lb, n.campaign_id)
    if not reason.strip():
        e = BadArgumentError("Reason for voiding: required; say why the notice is void",
                             "作废理由：必填，请说明作废原因")
        return _card(request, who, n, error=_message(e, request), campaign_title=title)
    try:
        voided = svc.void_notice(n.number, reason.strip()[:1000], uow_factory=lb.uow_factory(),
                                 clock=lb.clock, actor=who[0].actor)
    except LookbackError as e:
        return _card(request, who, n, error=_message(e, request), campaign_title=title)
    return _card(request, who, voided, done="ntc_voided_ok", campaign_title=title)


# --- checking an uploaded PDF -------------------------------------------------------------------

@router.post("/app/office/notices/verify")
def verify(request: Request, file: UploadFile | None = File(None)) -> Response:
    """Whether an uploaded PDF is a genuine issued notice, a void one, or altered (the service of
    ``POST /notices/verify``): the check section again, with the verdict."""
    from report_templates.render import extract_content

    who = staff(request)
    if isinstance(who, Response):
        return who
    check_csrf(request, who)
    lb = lb_of(request)
    data = file.file.read(UPLOAD_LIMIT + 1) if file is not None else b""
    error, result = "", None
    if not data:
        error = "ntc_file_needed"
    elif len(data) > UPLOAD_LIMIT:
        error = "ntc_file_too_large"
    else:
        result = svc.verify_pdf(data, extract=extract_content, uow_factory=lb.read_uow_factory())
    return render(request, "console/notices_verify.html", who, error=error, result=result,
                  filename=(file.filename or "")[:200] if file is not None else "",
                  kind_name=_kind_name)


# --- issuing a batch ----------------------------------------------------------------------------

@dataclass
class Batch:
    """A batch issued in a thread of this server, counted from the database while it runs."""

    id: str
    campaign_id: int
    kind: str
    lang: str
    issued_before: int
    result: dict[str, Any] | None = None
    error: tuple[str, str] | None = None  # (zh, en)
    finished: threading.Event = field(default_factory=threading.Event)


_batches: dict[str, Batch] = {}
_batches_lock = threading.Lock()


def _counts(lb: App, campaign_id: int, kind: str) -> dict[str, int]:
    with lb.read_uow_factory()() as uow:
        return uow.notices.status_counts(campaign_id, kind)


def _run(lb: App, batch: Batch, actor: str) -> None:
    """The batch's thread: the API's in-process issuing, its outcome kept for the page."""
    from flows.issuing import issue_inline

    try:
        batch.result = issue_inline(batch.campaign_id, batch.kind, batch.lang,
                                    uow_factory=lb.uow_factory(), clock=lb.clock, actor=actor,
                                    public_url=lb.settings.public_url)
    except LookbackError as e:
        batch.error = (e.zh, e.en)
    except Exception:  # the page says it failed; the log has why
        log.exception("issuing batch %s failed", batch.id)
        batch.error = ("签发时出现内部错误，已记录日志；可重新签发，不会重复。",
                       "an internal error stopped the batch (logged); issuing again is safe")
    finally:
        batch.finished.set()


def _start(lb: App, p: Principal, campaign_id: int, kind: str, lang: str) -> Batch:
    """A new batch in a thread — or the one already running for this campaign and kind."""
    with _batches_lock:
        for b in _batches.values():
            if (b.campaign_id, b.kind, b.lang) == (campaign_id, kind, lang) \
                    and not b.finished.is_set():
                return b
        done = [k for k, b in _batches.items() if b.finished.is_set()]
        for k in done[:max(0, len(_batches) - KEEP_BATCHES + 1)]:
            del _batches[k]
        batch = Batch(uuid.uuid4().hex, campaign_id, kind, lang,
                      _counts(lb, campaign_id, kind).get("issued", 0))
        _batches[batch.id] = batch
    threading.Thread(target=_run, args=(lb, batch, p.actor), daemon=True,
                     name=f"notices-{batch.id[:8]}").start()
    return batch


def _batch_view(lb: App, batch: Batch) -> dict[str, Any]:
    """What the progress fragment shows of an in-process batch (done/total from the records)."""
    counts = _counts(lb, batch.campaign_id, batch.kind)
    finished = batch.finished.is_set()
    done = max(0, counts.get("issued", 0) - batch.issued_before)
    if finished and batch.result is not None:
        done = int(batch.result.get("issued", done))
    total = done + (0 if finished else counts.get("pending", 0))
    return {"poll": None if finished else f"/app/office/notices/batches/{batch.id}",
            "campaign_id": batch.campaign_id, "kind": batch.kind, "done": done,
            "total": total, "finished": finished, "failed": batch.error is not None,
            "error": batch.error, "state": None, "url": None,
            "numbers": (batch.result or {}).get("numbers", [])}


def _job_view(job: dict[str, Any]) -> dict[str, Any]:
    """What the progress fragment shows of a job on the Prefect workers (``lookback.jobs``)."""
    state = str(job.get("state") or "SCHEDULED")
    finished = state in FINAL_STATES
    result = job.get("result") or {}
    return {"poll": None if finished else f"/app/office/notices/jobs/{job['id']}",
            "campaign_id": job.get("campaign_id"), "kind": job.get("notice_kind"),
            "done": int(job.get("done") or 0), "total": int(job.get("total") or 0),
            "finished": finished, "failed": finished and state != "COMPLETED",
            "error": ((job.get("state_message") or state,) * 2
                      if finished and state != "COMPLETED" else None),
            "state": state, "url": job.get("url"), "numbers": result.get("numbers", [])}


def _issue_section(request: Request, who: Who, *, error: str = "",
                   progress: dict[str, Any] | None = None,
                   chosen: dict[str, str] | None = None) -> Response:
    lb = lb_of(request)
    campaigns = _campaigns(lb, who[0])
    return render(request, "console/notices_issue.html", who, error=error, progress=progress,
                  launched=[c for c in campaigns if c.status == "launched"],
                  issuable=svc.ISSUABLE, kind_name=_kind_name, may_issue=_may_issue(who[0]),
                  chosen=chosen or {})


@router.post("/app/office/notices/issue")
def issue(request: Request, campaign: str = Form(""), kind: str = Form(""),
          lang: str = Form("zh")) -> Response:
    """Issue what a campaign owes of one kind (``POST /campaigns/{id}/notices``'s service): on
    the Prefect workers when a pool serves this database, else in a thread of this server. The
    section again, with the batch's progress (polled until it ends)."""
    from lookback import jobs

    who = staff(request)
    if isinstance(who, Response):
        return who
    check_csrf(request, who)
    lb = lb_of(request)
    chosen = {"campaign": campaign, "kind": kind, "lang": lang}
    problem = _issue_problem(campaign, kind, lang)
    if problem:
        return _issue_section(request, who, error=_say(request, *problem), chosen=chosen)
    campaign_id = int(campaign)
    with lb.read_uow_factory()() as uow:
        c = uow.campaigns.get(campaign_id)
    if c is None:
        raise NotFoundError(f"campaign {campaign_id} does not exist", f"督查{campaign_id}不存在")
    guard(request, who, Action.ISSUE_NOTICE, f"campaign:{campaign_id}", campaign_id=campaign_id,
          region=c.territory)
    if c.status != "launched":
        return _issue_section(request, who, chosen=chosen, error=_say(
            request, f"督查：“{c.title}”未处于已启动状态，只有已启动的督查可以签发文书",
            f"Campaign: {c.title} is {c.status}; notices are issued for a launched campaign"))
    pool = jobs.workers_for(lb)
    if pool is not None:
        job = jobs.submit_notices(pool, {
            "campaign_id": campaign_id, "kind": kind, "lang": lang,
            "now_iso": lb.settings.now.isoformat() if lb.settings.now else None,
            "actor": who[0].actor})
        return _issue_section(request, who, progress=_job_view(job), chosen=chosen)
    batch = _start(lb, who[0], campaign_id, kind, lang)
    return _issue_section(request, who, progress=_batch_view(lb, batch), chosen=chosen)


def _issue_problem(campaign: str, kind: str, lang: str) -> tuple[str, str] | None:
    """What is wrong with the batch form, naming the field, as (zh, en); None when nothing."""
    if not campaign.isdigit() or not 0 < int(campaign) < 2**62:
        return "督查：请选择要签发文书的督查", "Campaign: choose the campaign"
    if kind not in svc.ISSUABLE:
        return "文书种类：请选择要签发的种类", "Kind: choose the kind of notice"
    if lang not in ("zh", "en"):
        return "文书语言：应为中文或英文", "Language: Chinese or English"
    return None


def _progress(request: Request, who: Who, view: dict[str, Any]) -> Response:
    return render(request, "console/notices_progress.html", who, progress=view,
                  kind_name=_kind_name)


@router.get("/app/office/notices/batches/{batch_id}")
def batch_progress(request: Request, batch_id: str) -> Response:
    """An in-process batch's progress (polled by its fragment until it has ended)."""
    who = staff(request)
    if isinstance(who, Response):
        return who
    batch = _batches.get(batch_id)
    if batch is None:
        raise NotFoundError(f"batch {batch_id[:40]} is not known to this server (restarted?); "
                            "the register shows what was issued",
                            f"本服务没有批次{batch_id[:40]}（可能已重启）；已签发的文书见台账")
    guard(request, who, Action.ISSUE_NOTICE, f"campaign:{batch.campaign_id}",
          campaign_id=batch.campaign_id)
    return _progress(request, who, _batch_view(lb_of(request), batch))


@router.get("/app/office/notices/jobs/{job_id}")
def job_progress(request: Request, job_id: str) -> Response:
    """A job's progress on the Prefect workers: its state, done/total and the run's link."""
    from lookback import jobs

    who = staff(request)
    if isinstance(who, Response):
        return who
    lb = lb_of(request)
    run, pool = jobs.read_run(lb, job_id)
    campaign_id = (run.parameters or {}).get("campaign_id")
    guard(request, who, Action.ISSUE_NOTICE, f"job:{job_id}", campaign_id=campaign_id)
    return _progress(request, who, _job_view(jobs.progress(lb, run, pool)))
