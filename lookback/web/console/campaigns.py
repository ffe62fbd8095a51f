"""The office console's campaigns (督查), see ``lookback.web.console``: the campaigns of the
user's territory, creating one from a plan (a TOML file, or the form), launching it with live
progress, and a campaign's page — details, the draw to download and verify, the teams, the
figures, and closing it.

Every step is the one the CLI and the API take: the plan is checked by
``domain.plan.parse_plan`` (every mistake at once, each with its key path) and stored by
``domain.campaigns.create_campaign``; a launch goes to the ``launch-campaign`` deployment when a
Prefect stack or work pool serves this database (``lookback.jobs.workers_for``), else runs the
same launch sequence (``domain.campaigns.launch``) in a thread of this server; the draw's files
are the bytes ``lookback draw export`` writes (``lookback.draw_files``); the verification is
``domain.campaigns.verify_campaign``; the figures are ``domain.metrics.campaign_metrics``.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from domain import access
from domain import campaigns as svc
from domain.access import Action, Principal
from domain.errors import LookbackError, NotFoundError, PermissionDeniedError
from domain.offices import Office, get_office
from domain.plan import (
    ALLOCATIONS,
    AVOIDANCE,
    KINDS,
    STRATA_FIELDS,
    PlanError,
    plan_toml,
)
from domain.registers import CATEGORY_ZH, Category, RiskLevel
from lookback.bootstrap import App
from lookback.draw_files import FRAME_FILE, RECORD_FILE, frame_csv, record_json
from lookback.scope import readable_campaigns, readable_metrics
from lookback.web import text
from lookback.web.console.base import (
    PER_PAGE,
    Who,
    check_csrf,
    china_time,
    guard,
    lb_of,
    pager,
    render,
    staff,
)
from lookback.web.pages import _lang
from lookback.web.text import Lang

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)

BASE = "/app/office/campaigns"
LAUNCH_DEPLOYMENT = "launch-campaign/launch-campaign"
#: A Prefect flow run in one of these states has ended: its fragment stops polling.
FINAL = frozenset({"COMPLETED", "FAILED", "CRASHED", "CANCELLED"})
#: The largest plan file taken (a plan is a page of TOML).
MAX_PLAN_BYTES = 256 * 1024
STATUSES = ("draft", "launched", "closed")

text.add({
    "cmp_title": ("督查列表", "Campaigns"),
    "cmp_new": ("新建督查", "New campaign"),
    "cmp_none": ("辖区内暂无督查", "No campaign in your territory"),
    "cmp_all": ("全部", "All"),
    "cmp_filter": ("筛选", "Filter"),
    "cmp_status_draft": ("草稿", "draft"),
    "cmp_status_launched": ("已启动", "launched"),
    "cmp_status_closed": ("已结束", "closed"),
    "cmp_kind_inspection": ("督查", "inspection"),
    "cmp_kind_lookback": ("回头看", "look-back"),
    "cmp_office": ("发文机关", "Office"),
    "cmp_dates": ("时间", "Dates"),
    "cmp_kind": ("类型", "Kind"),
    "cmp_frame": ("抽样框", "Frame"),
    "cmp_sampled": ("抽中", "Drawn"),
    "cmp_teams": ("督查组", "Teams"),
    "cmp_visits": ("检查（待检查/已完成）", "Visits (planned / done)"),
    "cmp_seed": ("随机种子", "Seed"),
    "cmp_seed_auto": ("（随机生成并已记录）", " (drawn at random and recorded)"),
    "cmp_source": ("回头看对象", "Looks back on"),
    "cmp_created_at": ("创建时间", "Created"),
    "cmp_launched_at": ("启动时间", "Launched"),
    # creating
    "cmp_upload": ("上传计划文件（TOML）", "Upload a plan (TOML)"),
    "cmp_upload_file": ("计划文件", "Plan file"),
    "cmp_upload_hint": ("格式见 examples/plan-2023-two-responsibilities.toml",
                        "The format: examples/plan-2023-two-responsibilities.toml"),
    "cmp_or_form": ("或填写表单", "Or fill in the form"),
    "cmp_create": ("校验并创建", "Check and create"),
    "cmp_owner": ("本督查属于", "The campaign belongs to"),
    "cmp_source_campaign": ("回头看对象（原督查编号，仅回头看）",
                            "Campaign looked back on (its id; a look-back only)"),
    "cmp_sec_campaign": ("基本信息", "The campaign"),
    "cmp_sec_scope": ("范围", "Scope"),
    "cmp_sec_stages": ("抽样阶段", "Stages"),
    "cmp_sec_sample": ("样本", "Sample"),
    "cmp_sec_teams": ("督查组", "Teams"),
    "cmp_sec_rect": ("整改期限", "Rectification"),
    "cmp_f_title": ("督查名称", "Title"),
    "cmp_f_office": ("发文机关名称", "Issuing office"),
    "cmp_f_office_short": ("发文机关简称（文书编号用）", "Office's short name (document numbers)"),
    "cmp_f_starts_on": ("开始日期", "Starts on"),
    "cmp_f_ends_on": ("结束日期", "Ends on"),
    "cmp_f_seed": ("随机种子（留空则随机生成并记录）", "Seed (empty: drawn at random and recorded)"),
    "cmp_f_provinces": ("省份代码（空格或逗号分隔，留空为全部）",
                        "Province codes (space or comma separated; empty: all)"),
    "cmp_f_categories": ("主体类别（不选为全部）", "Business categories (none: all)"),
    "cmp_f_risk_levels": ("风险等级（不选为全部）", "Risk levels (none: all)"),
    "cmp_f_exclusion_days": ("排除近N天内检查过的主体", "Leave out businesses inspected in the last N days"),
    "cmp_f_province_count": ("先抽取省份数（可空）", "Provinces drawn first (optional)"),
    "cmp_f_city_per_parent": ("每省抽取城市数（可空）", "Cities drawn in each province (optional)"),
    "cmp_f_total": ("样本量（主体数）", "Sample size (businesses)"),
    "cmp_f_fraction": ("或抽样比例（0–1）", "Or a fraction (0–1)"),
    "cmp_f_per_stratum": ("或每层数量", "Or a number per stratum"),
    "cmp_f_all": ("或全部入样", "Or every business in the frame"),
    "cmp_f_strata": ("分层", "Strata"),
    "cmp_f_allocation": ("分配方式", "Allocation"),
    "cmp_f_min_per_stratum": ("每层至少", "At least per stratum"),
    "cmp_f_team_count": ("督查组数", "Teams"),
    "cmp_f_members": ("每组人数（至少2人）", "Inspectors per team (at least 2)"),
    "cmp_f_avoidance": ("回避级别", "Avoidance"),
    "cmp_f_days": ("整改期限（工作日）", "Working days to rectify"),
    "cmp_f_minor": ("轻微", "minor"),
    "cmp_f_general": ("一般", "general"),
    "cmp_f_serious": ("严重", "serious"),
    "cmp_f_grace": ("到期后多少个工作日回头看", "Look back this many working days after the due date"),
    "cmp_f_reminder": ("到期前多少个工作日提醒", "Remind this many working days before it"),
    "cmp_mistakes": ("计划有{n}处错误，请逐项修改：", "The plan has {n} mistake(s); correct each:"),
    "cmp_created": ("已创建督查{id}：{title}", "Campaign {id} created: {title}"),
    "cmp_open": ("打开督查页面以启动", "Open the campaign to launch it"),
    "cmp_not_utf8": ("计划文件不是UTF-8文本", "the plan file is not UTF-8 text"),
    "cmp_too_big": ("计划文件过大（上限256 KB）", "the plan file is too large (256 KB at most)"),
    "cmp_needs_source": ("回头看须填写所复查的原督查编号", "a look-back needs the id of the campaign it re-checks"),
    "cmp_bad_source": ("应为督查编号（正整数）", "expected a campaign id (a whole number)"),
    # launching
    "cmp_launch": ("启动（冻结抽样框、抽取、组建督查组、计划检查）",
                   "Launch (freeze the frame, draw, form teams, plan visits)"),
    "cmp_relaunch": ("重新运行启动（安全，可重复）", "Run the launch again (safe to repeat)"),
    "cmp_progress": ("启动进度", "Launch progress"),
    "cmp_step_frame": ("冻结抽样框", "Frame frozen"),
    "cmp_step_draw": ("抽取", "Drawn"),
    "cmp_step_teams": ("组建督查组", "Teams formed"),
    "cmp_step_visits": ("计划检查", "Visits planned"),
    "cmp_step_launched": ("已启动", "Launched"),
    "cmp_state": ("运行状态", "Run state"),
    "cmp_state_SCHEDULED": ("已排队", "scheduled"),
    "cmp_state_PENDING": ("等待执行", "pending"),
    "cmp_state_RUNNING": ("运行中", "running"),
    "cmp_state_COMPLETED": ("已完成", "completed"),
    "cmp_state_FAILED": ("失败", "failed"),
    "cmp_state_CRASHED": ("中断", "crashed"),
    "cmp_state_CANCELLED": ("已取消", "cancelled"),
    "cmp_state_CANCELLING": ("正在取消", "cancelling"),
    "cmp_state_PAUSED": ("已暂停", "paused"),
    "cmp_state_UNKNOWN": ("未知", "unknown"),
    "cmp_in_process": ("在本服务进程中运行", "running in this server's process"),
    "cmp_prefect_run": ("在Prefect中查看此运行", "This run in the Prefect UI"),
    "cmp_reload": ("刷新页面查看抽取结果与督查组", "Reload the page to see the draw and the teams"),
    "cmp_internal": ("内部错误，详见服务器日志", "internal error; see the server's log"),
    "cmp_closed_note": ("督查已结束，检查不再可记录", "The campaign is closed: its visits can no longer be recorded"),
    # the draw
    "cmp_draw": ("抽取结果", "The draw"),
    "cmp_not_drawn": ("尚未抽取", "Not drawn yet"),
    "cmp_download_record": ("下载抽取记录（record.json）", "Download the draw record (record.json)"),
    "cmp_download_frame": ("下载抽样框（frame.csv）", "Download the frame (frame.csv)"),
    "cmp_verify": ("核验抽取结果", "Verify the draw"),
    "cmp_verify_ok": ("核验通过：重新计算得到相同的抽取结果（{n}个主体；抽样框SHA-256 {sha}）",
                      "OK: recomputing gives the same draw ({n} businesses; frame SHA-256 {sha})"),
    "cmp_verify_bad": ("不一致：", "MISMATCH: "),
    "cmp_algorithm": ("算法", "Algorithm"),
    "cmp_frame_sha": ("抽样框SHA-256", "Frame SHA-256"),
    "cmp_team_no": ("组号", "Team"),
    "cmp_inspectors": ("督查人员", "Inspectors"),
    "cmp_no_teams": ("尚未组建督查组", "No teams yet"),
    # figures
    "cmp_metrics": ("督查情况", "Figures"),
    "cmp_completion": ("检查完成率", "Visits done"),
    "cmp_interviews": ("谈话", "Interviews"),
    "cmp_issues": ("问题（登记/销号）", "Issues (registered / verified)"),
    "cmp_rect_rate": ("整改率", "Rectification rate"),
    "cmp_on_time": ("按期整改率", "On-time rate"),
    "cmp_overdue": ("逾期未整改", "Overdue"),
    "cmp_province": ("省份", "Province"),
    "cmp_as_of": ("截至{today}", "as of {today}"),
    "cmp_source_issues": ("原督查问题复查", "The source campaign's issues re-checked"),
    # closing
    "cmp_close": ("结束督查", "Close the campaign"),
    "cmp_close_confirm": ("结束后该督查的检查将不能再记录。确定结束吗？",
                          "Once closed, the campaign's visits can no longer be recorded. Close it?"),
})


# --- who may do what ---------------------------------------------------------------------------

def _may_plan(p: Principal, region: str | None = None) -> bool:
    """Whether ``p`` may create, launch and close (for showing the buttons; a write is guarded
    again, and its refusal recorded)."""
    try:
        access.authorize(p, Action.PLAN, region=region)
    except PermissionDeniedError:
        return False
    return True


def _owner(request: Request, who: Who) -> Office | None:
    """The planner's own office, which owns the campaigns they create (as ``lookback campaign
    create --as``); None for a user of no office. Refused without the PLAN permission."""
    p = who[0]
    if p.office_id is None:
        guard(request, who, Action.PLAN, "campaign:new")
        return None
    owner = get_office(p.office_id, uow_factory=lb_of(request).read_uow_factory())
    guard(request, who, Action.PLAN, f"office:{owner.id}", region=owner.territory.prefix)
    return owner


def _readable(request: Request, who: Who, action: Action,
              campaign_id: int) -> svc.CampaignCounts:
    """The campaign with its counts, once the user may ``action`` it (its office's territory)."""
    with lb_of(request).read_uow_factory()() as uow:
        counts = uow.campaigns.counts(campaign_id)
    if counts is None:
        raise svc.not_found(campaign_id)
    guard(request, who, action, f"campaign:{campaign_id}", region=counts.campaign.territory)
    return counts


# --- the list ----------------------------------------------------------------------------------

@router.get(BASE)
def campaign_list(request: Request, page: int = 1, status: str = "") -> Response:
    """The campaigns of the user's territory, newest first, with their counts."""
    who = staff(request)
    if isinstance(who, Response):
        return who
    rows = readable_campaigns(who[0], lb_of(request),
                              status=status if status in STATUSES else None)[::-1]
    pg = pager(page, len(rows), query=f"&status={status}" if status in STATUSES else "")
    return render(request, "console/campaigns.html", who, rows=rows[pg.offset:pg.offset + PER_PAGE],
                  chosen=status, statuses=STATUSES, may_plan=_may_plan(who[0]), **pg.context())


# --- creating ----------------------------------------------------------------------------------

#: The form's fields that hold whole numbers, a fraction or a date (the rest are text).
INT_FIELDS = ("campaign.seed", "scope.exclusion_days", "sample.total", "sample.per_stratum",
              "sample.min_per_stratum", "teams.count", "teams.members",
              "rectification.days.minor", "rectification.days.general",
              "rectification.days.serious", "rectification.lookback_grace_workdays",
              "rectification.reminder_workdays")
#: A whole number as typed (at most 18 digits: a TOML integer has 64 bits; a longer seed stays
#: text, which the plan takes too).
WHOLE = re.compile(r"[+-]?\d{1,18}")
LIST_FIELDS = ("scope.categories", "scope.risk_levels", "sample.strata")
#: What a new form holds.
DEFAULTS = {"campaign.kind": ["inspection"], "scope.exclusion_days": ["0"],
            "sample.allocation": ["proportional"], "sample.min_per_stratum": ["0"],
            "teams.members": ["2"], "teams.avoidance": ["city"],
            "rectification.days.minor": ["5"], "rectification.days.general": ["10"],
            "rectification.days.serious": ["15"], "rectification.lookback_grace_workdays": ["5"],
            "rectification.reminder_workdays": ["3"]}


def _typed(name: str, raw: str) -> Any:
    """A form value as the plan holds it: a whole number, a fraction or a date when it reads as
    one, else the text as typed (so ``parse_plan`` names the field that is wrong)."""
    if name in INT_FIELDS and WHOLE.fullmatch(raw):
        return int(raw)
    if name == "sample.fraction":
        try:
            return float(raw)
        except ValueError:
            return raw
    if name in ("campaign.starts_on", "campaign.ends_on"):
        try:
            return date.fromisoformat(raw)
        except ValueError:
            return raw
    return raw


def plan_data(fields: dict[str, list[str]]) -> tuple[dict[str, Any], dict[str, str]]:
    """The plan a filled form describes (sections of keys, as ``tomllib`` reads a file), and
    which form field each ``stages[i]`` came from. Empty fields are left out: a required one is
    then reported missing, an optional one takes its default."""
    data: dict[str, Any] = {}
    for name, values in fields.items():
        section, _, key = name.partition(".")
        if section not in ("campaign", "scope", "sample", "teams", "rectification") or not key:
            continue
        if name in LIST_FIELDS:
            value: Any = [v for v in values if v]
        elif name == "scope.provinces":
            value = [v for v in re.split(r"[\s,，、]+", values[0] if values else "") if v]
        elif name == "sample.all":
            value = "true" in values or None
        else:
            raw = (values[-1] if values else "").strip()
            value = _typed(name, raw) if raw else None
        if value is None or value == []:
            continue
        node = data.setdefault(section, {})
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    stages: list[dict[str, Any]] = []
    stage_fields: dict[str, str] = {}
    for name, unit, key in (("stages.province_count", "province", "count"),
                            ("stages.city_per_parent", "city", "per_parent")):
        raw = (fields.get(name) or [""])[-1].strip()
        if raw:
            stage_fields[f"stages[{len(stages)}]"] = name
            stages.append({"unit": unit, key: int(raw) if WHOLE.fullmatch(raw) else raw})
    data["stages"] = [*stages, {"unit": "business"}]
    return data, stage_fields


@dataclass(frozen=True)
class Problem:
    """One mistake to show: its key path, the form field it points at, and what is wrong."""

    path: str
    field: str
    message: str


def _problems(e: PlanError, lang: Lang, stage_fields: dict[str, str]) -> list[Problem]:
    out = []
    for path, en, zh in e.problems:
        stage = re.match(r"stages\[\d+\]", path)
        field = stage_fields.get(stage.group(0), "") if stage else path
        out.append(Problem(path, field, zh if lang == "zh" else en))
    return out


@router.get(f"{BASE}/new")
def new_campaign(request: Request) -> Response:
    """The create page: upload a plan, or fill in the form (planners)."""
    who = staff(request)
    if isinstance(who, Response):
        return who
    owner = _owner(request, who)
    return render(request, "console/campaigns_new.html", who,
                  **_form_context(owner, DEFAULTS, [], _lang(request)))


def _form_context(owner: Office | None, values: dict[str, list[str]], problems: list[Problem],
                  lang: Lang, source: str = "") -> dict[str, Any]:
    """What the create section shows: the owner, the values typed, the mistakes, the choices."""
    def named(value: str, zh: str) -> tuple[str, str]:
        return value, zh if lang == "zh" else value.replace("_", " ")

    return {"owner": owner, "values": values, "problems": problems, "source": source,
            "bad_fields": {p.field for p in problems},
            "kind_options": [(k, text.t(f"cmp_kind_{k}", lang)) for k in KINDS],
            "category_options": [named(c.value, CATEGORY_ZH[c]) for c in Category],
            "risk_options": [(r.value, r.value) for r in RiskLevel],
            "strata_options": [named(f, STRATA_ZH[f]) for f in STRATA_FIELDS],
            "allocation_options": [named(a, ALLOCATION_ZH[a]) for a in ALLOCATIONS],
            "avoidance_options": [named(a, AVOIDANCE_ZH[a]) for a in AVOIDANCE]}


STRATA_ZH = {"province": "省", "city": "市", "county": "县", "category": "主体类别",
             "risk_level": "风险等级"}
ALLOCATION_ZH = {"proportional": "按比例", "equal": "等额", "risk_weighted": "按风险加权"}
AVOIDANCE_ZH = {"city": "本市回避", "province": "本省回避", "county": "本县回避"}


@router.post(BASE)
async def create(request: Request) -> Response:
    """Create a campaign from an uploaded plan or the form: the created campaign, or the form
    again with every mistake of the plan listed at once, each with its key path."""
    form = await request.form()
    upload = form.get("plan_file")
    content: bytes | None = None
    filename = ""
    if isinstance(upload, UploadFile) and upload.filename:
        filename = upload.filename
        content = await upload.read(MAX_PLAN_BYTES + 1)
    return await run_in_threadpool(_create, request, _fields(form), filename, content)


def _fields(form: FormData) -> dict[str, list[str]]:
    return {k: [v for v in form.getlist(k) if isinstance(v, str)] for k in form}


def _create(request: Request, fields: dict[str, list[str]], filename: str,
            content: bytes | None) -> Response:
    who = staff(request)
    if isinstance(who, Response):
        return who
    check_csrf(request, who)
    owner = _owner(request, who)
    lang = _lang(request)
    source_raw = (fields.get("source_campaign") or [""])[-1].strip()
    keep = {k: v for k, v in fields.items() if k != "csrf"}

    def again(problems: list[Problem]) -> Response:
        return render(request, "console/campaigns_create.html", who, **_form_context(
            owner, keep if content is None else DEFAULTS, problems, lang, source_raw))

    if source_raw and not source_raw.isdigit():
        return again([Problem("source_campaign", "source_campaign",
                              text.t("cmp_bad_source", lang))])
    stage_fields: dict[str, str] = {}
    if content is not None:
        if len(content) > MAX_PLAN_BYTES:
            return again([Problem("(file)", "plan_file", text.t("cmp_too_big", lang))])
        try:
            plan_text = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            return again([Problem("(file)", "plan_file", text.t("cmp_not_utf8", lang))])
        source = f"console upload: {filename}"
    else:
        data, stage_fields = plan_data(fields)
        plan_text, source = plan_toml(data), "console form"
    try:
        cid = _store(request, who, owner, plan_text, source,
                     int(source_raw) if source_raw else None)
    except PlanError as e:
        return again(_problems(e, lang, stage_fields))
    except PermissionDeniedError:
        raise
    except LookbackError as e:
        if e.code == "lookback_needs_source":
            return again([Problem("source_campaign", "source_campaign",
                                  text.t("cmp_needs_source", lang))])
        field = "source_campaign" if source_raw else ""
        return again([Problem(field, field, e.message(lang))])
    counts = _readable(request, who, Action.READ, cid)
    return render(request, "console/campaigns_created.html", who, c=counts.campaign)


def _store(request: Request, who: Who, owner: Office | None, plan_text: str, source: str,
           source_id: int | None) -> int:
    """``create_campaign``, or ``create_lookback_campaign`` over a source campaign the user may
    read — the services of ``lookback campaign create`` and ``lookback campaign lookback``."""
    from lookback.cli_campaign import new_seed

    lb = lb_of(request)
    common: dict[str, Any] = {"source": source, "uow_factory": lb.uow_factory(),
                              "clock": lb.clock, "new_seed": new_seed, "office": owner}
    if source_id is None:
        return svc.create_campaign(plan_text, actor=who[0].actor, **common)
    _readable(request, who, Action.READ, source_id)
    return svc.create_lookback_campaign(source_id, plan_text, actor=who[0].actor, **common)


# --- a campaign's page -------------------------------------------------------------------------

@router.get(f"{BASE}/{{campaign_id}}")
def campaign_page(request: Request, campaign_id: int, page: int = 1) -> Response:
    """Details, launch and its progress, the draw, the teams (paginated), the figures."""
    who = staff(request)
    if isinstance(who, Response):
        return who
    counts = _readable(request, who, Action.READ, campaign_id)
    lb = lb_of(request)
    with lb.read_uow_factory()() as uow:
        record = uow.campaigns.get_record(campaign_id)
        teams = [(t["team"], [p["unit"] for p in t["inspectors"]])
                 for t in (record or {}).get("teams", [])]
        pg = pager(page, len(teams))
        shown = [(no, [(i, _inspector_name(uow, i)) for i in members])
                 for no, members in teams[pg.offset:pg.offset + PER_PAGE]]
    return render(request, "console/campaigns_show.html", who, record=record, teams=shown,
                  china_time=china_time, metrics=readable_metrics(who[0], lb, campaign_id),
                  source_figures=svc.source_issue_figures(
                      campaign_id, uow_factory=lb.read_uow_factory()),
                  **_actions_context(lb, who[0], counts, None, _lang(request)), **pg.context())


def _inspector_name(uow: Any, inspector_id: str) -> str:
    found = uow.registers.get_inspector(inspector_id)
    return str(found.name) if found is not None else ""


@router.get(f"{BASE}/{{campaign_id}}/draw/{RECORD_FILE}")
def download_record(request: Request, campaign_id: int) -> Response:
    """The draw record, byte for byte what ``lookback draw export`` writes."""
    who = staff(request)
    if isinstance(who, Response):
        return who
    record, _lines = _draw(request, who, campaign_id)
    return _download(record_json(record), "application/json", campaign_id, RECORD_FILE)


@router.get(f"{BASE}/{{campaign_id}}/draw/{FRAME_FILE}")
def download_frame(request: Request, campaign_id: int) -> Response:
    """The frozen frame, byte for byte what ``lookback draw export`` writes."""
    who = staff(request)
    if isinstance(who, Response):
        return who
    _record, lines = _draw(request, who, campaign_id)
    return _download(frame_csv(lines), "text/csv; charset=utf-8", campaign_id, FRAME_FILE)


def _draw(request: Request, who: Who, campaign_id: int) -> tuple[dict[str, Any], list[str]]:
    """The published record and the frozen frame's lines, once the user may read the campaign."""
    _readable(request, who, Action.READ, campaign_id)
    with lb_of(request).read_uow_factory()() as uow:
        record = uow.campaigns.get_record(campaign_id)
        frame = uow.campaigns.get_frame(campaign_id)
    if record is None or frame is None:
        raise NotFoundError(f"campaign {campaign_id} has not been drawn yet",
                            f"督查{campaign_id}尚未抽取")
    return record, frame.lines


def _download(body: str, media_type: str, campaign_id: int, name: str) -> Response:
    return Response(body.encode("utf-8"), media_type=media_type, headers={
        "Content-Disposition": f'attachment; filename="campaign-{campaign_id}-{name}"',
        "Cache-Control": "private, no-cache"})


@router.post(f"{BASE}/{{campaign_id}}/verify")
def verify(request: Request, campaign_id: int) -> Response:
    """Recompute the draw from the stored frame and compare (``lookback draw verify``)."""
    who = staff(request)
    if isinstance(who, Response):
        return who
    check_csrf(request, who)
    _readable(request, who, Action.READ, campaign_id)
    try:
        result: svc.Verification | None = svc.verify_campaign(
            campaign_id, uow_factory=lb_of(request).read_uow_factory())
        error = ""
    except PermissionDeniedError:
        raise
    except LookbackError as e:
        result, error = None, e.message(_lang(request))
    return render(request, "console/campaigns_verify.html", who, result=result, error=error)


# --- launching and closing: the actions fragment -----------------------------------------------

@dataclass
class InProcessLaunch:
    """A launch running in a thread of this server: RUNNING, then COMPLETED or FAILED (with the
    error's message)."""

    state: str = "RUNNING"
    en: str = ""
    zh: str = ""


_LAUNCHES: dict[tuple[str, int], InProcessLaunch] = {}
_LAUNCHES_LOCK = threading.Lock()


def start_in_process(lb: App, campaign_id: int) -> InProcessLaunch:
    """Launch in a background thread of this process, unless a launch of the campaign already
    runs here (a second one would be harmless — every step is idempotent — but pointless)."""
    key = (lb.database_url, campaign_id)
    with _LAUNCHES_LOCK:
        job = _LAUNCHES.get(key)
        if job is not None and job.state == "RUNNING":
            return job
        job = _LAUNCHES[key] = InProcessLaunch()
    threading.Thread(target=_launch_in_process, args=(lb, campaign_id, job),
                     name=f"launch-campaign-{campaign_id}", daemon=True).start()
    return job


def _launch_in_process(lb: App, campaign_id: int, job: InProcessLaunch) -> None:
    """The launch sequence of the ``launch-campaign`` flow (``run_launch_steps``), its steps
    called in this thread; an error is kept for the page to show."""
    try:
        svc.launch(campaign_id, uow_factory=lb.uow_factory(), clock=lb.clock)
    except LookbackError as e:
        job.en, job.zh, job.state = e.en, e.zh, "FAILED"
    except Exception:  # shown as an internal error; the details go to the server's log
        log.exception("launch of campaign %s failed", campaign_id)
        job.en, job.zh = text.t("cmp_internal", "en"), text.t("cmp_internal", "zh")
        job.state = "FAILED"
    else:
        job.state = "COMPLETED"


def workers(lb: App) -> Any | None:
    """The Prefect stack or work pool that runs this database's flows, or None."""
    from lookback.jobs import workers_for

    return workers_for(lb)


def submit(pool: Any, lb: App, campaign_id: int, key: str) -> Any:
    """Submit a ``launch-campaign`` run without waiting (as ``lookback campaign launch
    --no-wait``); a retried request with the same key finds the same run."""
    from lookback.prefect_http import PrefectAPI

    now = lb.settings.now.isoformat() if lb.settings.now else None
    with PrefectAPI(pool.prefect_api_url) as api:
        return api.submit(LAUNCH_DEPLOYMENT, {"campaign_id": campaign_id, "now_iso": now},
                          idempotency_key=f"console-launch:{campaign_id}:{key}")


def read_run(pool: Any, run_id: str) -> Any:
    """A flow run's state (``lookback.prefect_http.FlowRun``)."""
    from lookback.prefect_http import PrefectAPI

    with PrefectAPI(pool.prefect_api_url) as api:
        return api.read(run_id)


@dataclass(frozen=True)
class LaunchView:
    """What the progress shows: the run's state (a Prefect state type), its message, a link to
    the run in the Prefect UI, and whether it has ended (then the fragment stops polling)."""

    state: str = ""
    message: str = ""
    url: str = ""
    run: str = ""
    final: bool = True
    in_process: bool = False


def _launch_view(lb: App, lang: Lang, c: svc.Campaign, run: str | None) -> LaunchView:
    if run:
        pool = workers(lb)
        if pool is None:
            return LaunchView("UNKNOWN", run=run)
        from lookback.prefect_http import PrefectHTTPError

        url = f"{pool.ui_url}/runs/flow-run/{run}"
        try:
            fr = read_run(pool, run)
        except PrefectHTTPError as e:  # the server busy or away: keep asking
            return LaunchView("UNKNOWN", str(e), url, run, final=False)
        return LaunchView(fr.state_type, fr.message, url, run, final=fr.state_type in FINAL)
    job = _LAUNCHES.get((lb.database_url, c.id))
    if job is not None:
        return LaunchView(job.state, job.zh if lang == "zh" else job.en,
                          final=job.state != "RUNNING", in_process=True)
    return LaunchView("COMPLETED" if c.status != "draft" else "")


def _actions_context(lb: App, p: Principal, counts: svc.CampaignCounts, run: str | None,
                     lang: Lang = "zh", note: str = "") -> dict[str, Any]:
    c = counts.campaign
    view = _launch_view(lb, lang, c, run)
    steps = [("cmp_step_frame", counts.frame_businesses is not None),
             ("cmp_step_draw", counts.sampled is not None),
             ("cmp_step_teams", counts.teams > 0),
             ("cmp_step_visits", counts.visits_planned + counts.visits_done > 0),
             ("cmp_step_launched", c.status != "draft")]
    return {"n": counts, "c": c, "launch": view, "steps": steps, "note": note,
            "may_plan": _may_plan(p, c.territory)}


def _actions(request: Request, who: Who, campaign_id: int, run: str | None = None,
             note: str = "") -> Response:
    counts = _readable(request, who, Action.READ, campaign_id)
    lang = _lang(request)
    return render(request, "console/campaigns_actions.html", who,
                  **_actions_context(lb_of(request), who[0], counts, run, lang, note))


@router.get(f"{BASE}/{{campaign_id}}/progress")
def progress(request: Request, campaign_id: int, run: str = "") -> Response:
    """The actions fragment, polled every second while a launch runs: the campaign's status and
    counts from the database, and the Prefect run's state (``run``) or the in-process launch's."""
    who = staff(request)
    if isinstance(who, Response):
        return who
    return _actions(request, who, campaign_id, _run_id(run))


def _run_id(run: str) -> str | None:
    if not run:
        return None
    try:
        return str(uuid.UUID(run))
    except ValueError:
        raise NotFoundError(f"flow run {run[:60]} does not exist",
                            f"流程运行{run[:60]}不存在") from None


@router.post(f"{BASE}/{{campaign_id}}/launch")
def launch(request: Request, campaign_id: int) -> Response:
    """Start the launch (planners): submitted to the Prefect workers when they serve this
    database, else run in this server; answers the actions fragment, which polls its progress.
    Safe to send again: every step of a launch is idempotent."""
    who = staff(request)
    if isinstance(who, Response):
        return who
    check_csrf(request, who)
    counts = _readable(request, who, Action.PLAN, campaign_id)
    lb = lb_of(request)
    if counts.campaign.status == "closed":
        return _actions(request, who, campaign_id, note=text.t("cmp_closed_note", _lang(request)))
    pool = workers(lb)
    if pool is None:
        start_in_process(lb, campaign_id)
        return _actions(request, who, campaign_id)
    from lookback.prefect_http import PrefectHTTPError

    try:
        run = submit(pool, lb, campaign_id, request.headers.get("idempotency-key", "")
                     or uuid.uuid4().hex)
    except PrefectHTTPError as e:
        return _actions(request, who, campaign_id, note=str(e))
    return _actions(request, who, campaign_id, str(run.id))


@router.post(f"{BASE}/{{campaign_id}}/close")
def close(request: Request, campaign_id: int) -> Response:
    """Close a launched campaign (planners, after a confirmation): ``close_campaign``."""
    who = staff(request)
    if isinstance(who, Response):
        return who
    check_csrf(request, who)
    _readable(request, who, Action.PLAN, campaign_id)
    lb = lb_of(request)
    try:
        svc.close_campaign(campaign_id, uow_factory=lb.uow_factory(), clock=lb.clock,
                           actor=who[0].actor)
        note = ""
    except PermissionDeniedError:
        raise
    except LookbackError as e:
        note = e.message(_lang(request))
    return _actions(request, who, campaign_id, note=note)
