"""Schema families per resource: ``…Create`` (what a client sends), ``…Update``, ``…Public``
(what the API returns) and ``…List`` (a page of them with the total count)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Text = Field(min_length=1, max_length=2000)


class Paged(BaseModel):
    """The one shape of every list (the CLI's ``--json`` lists too): ``items`` (one page),
    ``count`` (the true total matching the filters), ``offset``, ``limit`` and ``truncated``
    (more match than this page holds)."""

    count: int
    offset: int = 0
    limit: int | None = None
    truncated: bool = False


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- campaigns --------------------------------------------------------------------------------

class CampaignPublic(BaseModel):
    id: int
    title: str
    office: str
    kind: str
    status: str
    starts_on: date
    ends_on: date
    seed: str
    created_at: datetime
    launched_at: datetime | None
    source_campaign_id: int | None = None
    sampled: int | None = None
    teams: int = 0
    visits_planned: int = 0
    visits_done: int = 0


class CampaignList(Paged):
    items: list[CampaignPublic]


class DrawVerification(BaseModel):
    ok: bool
    difference: str | None


# --- visits and interviews --------------------------------------------------------------------

class VisitPublic(BaseModel):
    id: int
    campaign_id: int
    uscc: str
    business_name: str
    region_code: str
    team: int
    status: str
    visited_on: date | None


class VisitList(Paged):
    items: list[VisitPublic]


class AnswerIn(Strict):
    item_id: str = Field(min_length=1, max_length=40)
    result: str = Field(min_length=1, max_length=20, description="pass, fail or na (合格/不合格/不适用)")
    note: str = Field(default="", max_length=1000)


class InterviewCreate(Strict):
    role: Literal["director", "officer", "owner", "cadre", "regulator"]
    name: str = Field(min_length=1, max_length=50)
    answers: list[AnswerIn] = Field(min_length=1, max_length=500)


class InterviewPublic(BaseModel):
    interview_id: int
    answers: int
    failed: int
    issues_registered: list[int]
    issues_existing: list[int]


# --- issues -----------------------------------------------------------------------------------

class IssueCreate(Strict):
    """A free-form finding. It names the provision breached: ``provision``, the number of one of
    the category's provisions (``GET /provisions?category=``), or ``legal_basis`` in words,
    naming the law in 《》 — exactly one of the two."""

    category: str = Field(min_length=1, max_length=40)
    severity: Literal["minor", "general", "serious"]
    description: str = Text
    provision: int | None = Field(default=None, ge=1, le=1000)
    legal_basis: str | None = Field(default=None, min_length=1, max_length=500)


class ProvisionPublic(BaseModel):
    provision: int
    legal_basis: str
    legal_basis_en: str


class ProvisionList(Paged):
    category: str
    items: list[ProvisionPublic]


class IssuePublic(BaseModel):
    id: int
    campaign_id: int | None  # None: a finding of routine supervision, not of a campaign
    visit_id: int | None
    supervision_visit_id: int | None = None
    uscc: str
    business: str
    province: str
    region: str = ""  # the business's region code (GB/T 2260)
    item_id: str | None
    category: str
    severity: str
    description: str
    legal_basis: str
    status: str
    found_on: date
    due_on: date
    due_provisional: bool
    escalation: int
    version: int


class IssueList(Paged):
    items: list[IssuePublic]


class RectificationCreate(Strict):
    measures: str = Field(min_length=1, max_length=4000)


class ExtensionCreate(Strict):
    workdays: int = Field(ge=1, le=250)
    reason: str = Field(min_length=1, max_length=1000)
    approver: str = Field(min_length=1, max_length=200)


class HistoryEvent(BaseModel):
    seq: int
    at: datetime
    actor: str
    kind: str
    payload: dict[str, Any]


class EvidencePublic(BaseModel):
    """One evidence file of this issue: its name, uploader and time are this issue's own."""

    sha256: str
    filename: str
    size: int
    purpose: str
    uploaded_by: str
    added_at: datetime


def evidence_public(e: Any) -> EvidencePublic:
    return EvidencePublic(sha256=e.sha256, filename=e.filename, size=e.size, purpose=e.purpose,
                          uploaded_by=e.uploaded_by, added_at=e.added_at)


def issue_public(i: Any) -> IssuePublic:
    return IssuePublic(id=i.id, campaign_id=i.campaign_id, visit_id=i.visit_id,
                       supervision_visit_id=i.supervision_visit_id, uscc=i.uscc,
                       business=i.business_name, province=i.province_code,
                       region=i.region_code or "", item_id=i.item_id, category=i.category,
                       severity=i.severity, description=i.description,
                       legal_basis=i.legal_basis, status=i.status.value, found_on=i.found_on,
                       due_on=i.due_on, due_provisional=i.due_provisional,
                       escalation=i.escalation, version=i.version)


def visit_public(v: Any) -> VisitPublic:
    return VisitPublic(id=v.id, campaign_id=v.campaign_id, uscc=v.uscc,
                       business_name=v.business_name, region_code=v.region_code, team=v.team_no,
                       status=v.status, visited_on=v.visited_on)


class HistoryList(Paged):
    items: list[HistoryEvent]


class EvidenceList(Paged):
    items: list[EvidencePublic]


class Health(BaseModel):
    status: Literal["ok"]
    schema_revision: str | None


# --- follow-ups (look-back checks) ------------------------------------------------------------

class FindingPublic(BaseModel):
    """The original finding a look-back goes back to."""

    category: str
    severity: str
    description: str
    issue_status: str


class FollowUpPublic(BaseModel):
    id: int
    issue: int
    kind: Literal["review", "reminder"]
    revision: int
    due_on: date
    due_at: datetime
    status: str
    team: int | None
    fired_at: datetime | None
    outcome: str | None
    hard_measures: bool | None
    fixed: bool | None
    mechanism: bool | None
    note: str
    recorded_by: str | None
    escalation_after: str | None
    campaign: int | None
    uscc: str
    business: str
    finding: FindingPublic | None = None


class FollowUpList(Paged):
    items: list[FollowUpPublic]


class ReferralPublic(BaseModel):
    id: int
    source: str
    issue: int | None
    uscc: str
    referred_on: date | None
    case_status: str
    case_number: str | None
    case_on: date | None


class IssueFollowUps(Paged):
    issue: int
    items: list[FollowUpPublic]
    referral: ReferralPublic | None


class FollowUpCheckCreate(Strict):
    outcome: Literal["verified", "partial", "not_rectified"]
    note: str = Field(min_length=1, max_length=2000, description="What the check found.")
    hard_measures: bool | None = Field(default=None, description="Hard measures taken? (是否采取硬措施)")
    fixed: bool | None = Field(default=None, description="Problem really fixed? (问题是否真正解决)")
    mechanism: bool | None = Field(default=None, description="Lasting mechanism? (是否建立长效机制)")


class CheckPublic(BaseModel):
    followup: int
    issue: int
    outcome: str
    status: str
    escalation: str
    escalation_level: int
    due_on: date | None
    due_provisional: bool | None
    referral: int | None


class CaseCreate(Strict):
    status: Literal["filed", "declined"]
    case_number: str = Field(default="", max_length=100)


# --- notices ----------------------------------------------------------------------------------

NoticeKind = Literal["rectification_order", "warning_talk", "followup_opinion", "circular",
                     "draw_publication"]


class NoticePublic(BaseModel):
    id: int
    number: str
    kind: str
    lang: str
    campaign_id: int | None
    addressee: str
    uscc: str | None
    status: str
    content_sha256: str
    pdf_sha256: str | None
    pdf_size: int | None
    created_at: datetime
    issued_at: datetime | None
    voided_at: datetime | None
    void_reason: str | None


class NoticeList(Paged):
    items: list[NoticePublic]


class NoticeVerification(BaseModel):
    result: Literal["OK", "ALTERED", "VOID", "UNKNOWN"]
    ok: bool
    number: str | None
    addressee: str | None
    kind: str | None
    issued_at: datetime | None
    voided_at: datetime | None
    message: str
    message_en: str
    message_zh: str


class NoticeVoid(Strict):
    reason: str = Field(min_length=1, max_length=1000)


class NoticeIssueCreate(Strict):
    kind: NoticeKind
    lang: Literal["zh", "en"] = "zh"


class NoticesIssued(BaseModel):
    recorded: int
    issued: int
    numbers: list[str]


class NoticeJob(BaseModel):
    """Notices being issued by the Prefect workers: the flow run's state, and how many of the
    batch's notices are issued (``done``) out of those it split into chunks (``total``, 0 until
    it has)."""

    id: str
    kind: Literal["issue-notices"]
    state: str
    state_message: str | None
    campaign_id: int | None
    notice_kind: str | None
    done: int
    total: int
    result: dict[str, Any] | None
    url: str


def notice_public(n: Any) -> NoticePublic:
    return NoticePublic(id=n.id, number=n.number, kind=n.kind, lang=n.lang,
                        campaign_id=n.campaign_id, addressee=n.addressee, uscc=n.uscc,
                        status=n.status, content_sha256=n.content_sha256,
                        pdf_sha256=n.pdf_sha256, pdf_size=n.pdf_size, created_at=n.created_at,
                        issued_at=n.issued_at, voided_at=n.voided_at,
                        void_reason=n.void_reason or None)


# --- routine supervision ----------------------------------------------------------------------

class SupervisionVisitPublic(BaseModel):
    id: int
    cadre_id: str
    cadre: str
    uscc: str
    business: str
    province: str
    region: str = ""  # the business's region code (GB/T 2260)
    level: str
    period: str
    period_start: date
    period_end: date
    status: str
    done_on: date | None
    note: str
    recorded_by: str | None


class SupervisionVisitList(Paged):
    items: list[SupervisionVisitPublic]


class AssignedBusinessPublic(BaseModel):
    uscc: str
    name: str
    region: str
    category: str
    address: str
    director: str
    officer: str
    #: The official's visit of the period containing today (None: not opened yet).
    visit: SupervisionVisitPublic | None


class AssignedBusinessList(Paged):
    cadre_id: str
    cadre: str
    level: str
    items: list[AssignedBusinessPublic]


class SupervisionRecordCreate(Strict):
    cadre_id: str = Field(min_length=1, max_length=64)
    uscc: str = Field(min_length=18, max_length=18)
    note: str = Field(min_length=1, max_length=2000)
    on: date | None = Field(default=None, alias="date",
                            description="The visit date (default today).")
    period: str | None = Field(default=None, max_length=10,
                               description="2026, 2026H2, 2026Q4 or 2026-11 (default: the "
                                           "period containing the date).")
    issues: list[str] = Field(default_factory=list, max_length=100,
                              description='Findings, "category:severity:description".')
    leads: list[str] = Field(default_factory=list, max_length=100,
                             description="Leads referred to enforcement (移送线索).")


class SupervisionFindingPublic(BaseModel):
    id: int
    category: str
    severity: str
    description: str
    due_on: date
    due_provisional: bool


class SupervisionRecorded(SupervisionVisitPublic):
    opened_now: bool
    findings: list[SupervisionFindingPublic]
    referrals: list[int]


class RateRowPublic(BaseModel):
    key: str
    label: str
    required: int
    done: int
    open: int
    overdue: int
    rate: float | None


class SupervisionRates(BaseModel):
    period: str
    period_start: date
    period_end: date
    today: date
    by: str | None
    definition: str
    total: RateRowPublic
    groups: list[RateRowPublic]
    overdue_count: int
    overdue: list[SupervisionVisitPublic]
    #: Aggregate figures of the issues found in the period's supervision visits (registered,
    #: verified, verified_on_time, overdue, rectification_rate, on_time_rate).
    findings: dict[str, float | int | None] = {}


def supervision_visit_public(v: Any) -> SupervisionVisitPublic:
    return SupervisionVisitPublic(id=v.id, cadre_id=v.cadre_id, cadre=v.cadre_name, uscc=v.uscc,
                                  business=v.business_name, province=v.province_code,
                                  region=v.region_code,
                                  level=v.level, period=v.period, period_start=v.period_start,
                                  period_end=v.period_end, status=v.status, done_on=v.done_on,
                                  note=v.note, recorded_by=v.recorded_by or None)
