"""SQLModel tables of the registers and the import audit trail."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Index, LargeBinary, UniqueConstraint, false
from sqlmodel import Field, SQLModel


class RegionRow(SQLModel, table=True):
    """An administrative division (GB/T 2260)."""

    __tablename__ = "region"

    code: str = Field(primary_key=True, max_length=6)
    name: str = Field(max_length=100)
    level: str = Field(max_length=10, index=True)
    parent_code: str | None = Field(default=None, foreign_key="region.code", max_length=6)


class ImportRunRow(SQLModel, table=True):
    """One run of a register import: what was read from which file and what became of it."""

    __tablename__ = "import_run"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)
    source: str = Field(max_length=500)
    sha256: str = Field(max_length=64)
    started_at: datetime
    finished_at: datetime | None = None
    status: str = Field(default="running", max_length=20)
    strict: bool = False
    read: int = 0
    inserted: int = 0
    updated: int = 0
    rejected: int = 0
    warnings: int = 0


class BusinessRow(SQLModel, table=True):
    """A food business (食品生产经营主体 / 包保主体), keyed by its USCC."""

    __tablename__ = "business"
    # The roll-up and the dashboard read these without the table (migration 0016): the region,
    # status and staffing of every business in region order, and the region of a business
    # looked up by its key.
    __table_args__ = (Index("ix_business_rollup", "region_code", "status", "covered",
                            "director", "officer"),
                      Index("ix_business_uscc_region", "uscc", "region_code"))

    uscc: str = Field(primary_key=True, max_length=18)
    name: str = Field(max_length=200)
    region_code: str = Field(max_length=6, index=True)
    province_code: str = Field(max_length=6, index=True)
    category: str = Field(max_length=30, index=True)
    risk_level: str = Field(max_length=1)
    address: str = Field(default="", max_length=300)
    director: str = Field(default="", max_length=50)
    officer: str = Field(default="", max_length=50)
    status: str = Field(default="active", max_length=10)
    #: Whether an assigned official (包保干部) is responsible for it: kept with the cadre
    #: register's assignments (``cadre_assignment``), so coverage is a column sum, not a probe.
    covered: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    import_id: int | None = Field(default=None, foreign_key="import_run.id")
    import_line: int | None = None


class CadreRow(SQLModel, table=True):
    """An assigned official (包保干部)."""

    __tablename__ = "cadre"

    cadre_id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=50)
    level: str = Field(max_length=10, index=True)
    region_code: str = Field(max_length=6, index=True)
    position: str = Field(default="", max_length=100)
    phone: str = Field(default="", max_length=30)
    import_id: int | None = Field(default=None, foreign_key="import_run.id")
    import_line: int | None = None


class CadreAssignmentRow(SQLModel, table=True):
    """Which business an assigned official is responsible for (包保关系)."""

    __tablename__ = "cadre_assignment"

    cadre_id: str = Field(primary_key=True, foreign_key="cadre.cadre_id", ondelete="CASCADE",
                          max_length=64)
    uscc: str = Field(primary_key=True, foreign_key="business.uscc", index=True, max_length=18)


class InspectorRow(SQLModel, table=True):
    """An inspector (督查人员) with a home region for avoidance (回避)."""

    __tablename__ = "inspector"

    inspector_id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=50)
    home_region: str = Field(max_length=6, index=True)
    organisation: str = Field(default="", max_length=100)
    phone: str = Field(default="", max_length=30)
    active: bool = True
    import_id: int | None = Field(default=None, foreign_key="import_run.id")
    import_line: int | None = None


class OfficeRow(SQLModel, table=True):
    """A food-safety office (食品安全办) at a level, with its territory and its parent."""

    __tablename__ = "office"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, unique=True)
    short_name: str = Field(max_length=50)
    level: str = Field(max_length=10)
    territory: str = Field(max_length=9, index=True)
    parent_id: int | None = Field(default=None, foreign_key="office.id", index=True)
    created_at: datetime


class CampaignRow(SQLModel, table=True):
    """A campaign (督查) or look-back campaign (回头看), with its plan as written and as parsed."""

    __tablename__ = "campaign"

    id: int | None = Field(default=None, primary_key=True)
    office: str = Field(max_length=200)
    office_short: str = Field(default="", max_length=50)
    title: str = Field(max_length=300)
    kind: str = Field(max_length=20)
    status: str = Field(default="draft", max_length=20, index=True)
    starts_on: date
    ends_on: date
    seed: str = Field(max_length=100)
    seed_auto: bool = False
    plan_json: str
    plan_source: str = Field(default="", max_length=500)
    source_campaign_id: int | None = None  # a look-back campaign: the campaign it re-checks
    office_id: int | None = Field(default=None, foreign_key="office.id", index=True)
    created_at: datetime
    launched_at: datetime | None = None


class CampaignFrameRow(SQLModel, table=True):
    """The frozen sampling frame of a campaign: its canonical lines, gzip-compressed."""

    __tablename__ = "campaign_frame"

    campaign_id: int = Field(primary_key=True, foreign_key="campaign.id")
    sha256: str = Field(max_length=64)
    businesses: int
    inspectors: int
    lines_gz: bytes = Field(sa_type=LargeBinary)
    frozen_at: datetime


class DrawRecordRow(SQLModel, table=True):
    """The published draw record (JSON) of a campaign."""

    __tablename__ = "draw_record"

    campaign_id: int = Field(primary_key=True, foreign_key="campaign.id")
    record_json: str
    sha256: str = Field(max_length=64)
    total: int
    created_at: datetime
    updated_at: datetime


class DrawCommitmentRow(SQLModel, table=True):
    """A campaign's draw commitment (``lookback draw commit``): the frozen frame's SHA-256 and
    when it was committed, the public beacon named in advance, and (once published and entered
    with ``lookback draw beacon``) the beacon's value the seed is derived from."""

    __tablename__ = "draw_commitment"

    campaign_id: int = Field(primary_key=True, foreign_key="campaign.id")
    frame_sha256: str = Field(max_length=64)
    committed_at: datetime
    beacon_name: str = Field(max_length=200)
    published_on: date
    beacon_value: str | None = Field(default=None, max_length=500)
    value_entered_at: datetime | None = None


class TeamMemberRow(SQLModel, table=True):
    """An inspector drawn into a campaign's team (督查组成员)."""

    __tablename__ = "team_member"

    campaign_id: int = Field(primary_key=True, foreign_key="campaign.id")
    inspector_id: str = Field(primary_key=True, foreign_key="inspector.inspector_id",
                              max_length=64)
    team_no: int
    rank: int


class VisitRow(SQLModel, table=True):
    """A planned or done visit of a team to a drawn business (实地督查)."""

    __tablename__ = "visit"
    __table_args__ = (UniqueConstraint("campaign_id", "uscc", name="uq_visit_campaign_uscc"),)

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    uscc: str = Field(foreign_key="business.uscc", max_length=18, index=True)
    team_no: int
    status: str = Field(default="planned", max_length=20)
    stratum: str = Field(default="", max_length=200)
    visited_on: date | None = None
    completed_at: datetime | None = None


class EventRow(SQLModel, table=True):
    """One event of the hash-chained log (every state change writes exactly one)."""

    __tablename__ = "event"

    seq: int = Field(primary_key=True)
    at: str = Field(max_length=40)  # ISO 8601 UTC, exactly as hashed
    actor: str = Field(max_length=200)
    kind: str = Field(max_length=60, index=True)
    entity: str = Field(max_length=100, index=True)
    payload: str
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class InterviewRow(SQLModel, table=True):
    """A recorded interview (谈话) with one person at a visited business."""

    __tablename__ = "interview"
    __table_args__ = (UniqueConstraint("visit_id", "role", "name", name="uq_interview_person"),)

    id: int | None = Field(default=None, primary_key=True)
    visit_id: int = Field(foreign_key="visit.id", index=True)
    role: str = Field(max_length=20)
    name: str = Field(max_length=50)
    recorded_at: datetime
    recorded_by: str = Field(max_length=200)


class AnswerRow(SQLModel, table=True):
    """One checklist answer of an interview: pass, fail or not applicable, with a note."""

    __tablename__ = "answer"

    interview_id: int = Field(primary_key=True, foreign_key="interview.id")
    item_id: str = Field(primary_key=True, max_length=40)
    result: str = Field(max_length=10)
    note: str = Field(default="", max_length=1000)


class IssueRow(SQLModel, table=True):
    """A problem found (问题) on a campaign visit or a routine-supervision visit, with its
    rectification deadline and lifecycle state."""

    __tablename__ = "issue"
    __table_args__ = (UniqueConstraint("campaign_id", "uscc", "item_id",
                                       name="uq_issue_business_item"),
                      # the roll-up's scan of the issues, in business order (migration 0016)
                      Index("ix_issue_rollup", "uscc", "campaign_id", "status", "on_time",
                            "due_on", "escalation"),
                      # the dashboard: overdue oldest first, and found / reported per day
                      Index("ix_issue_due_status", "due_on", "status"),
                      Index("ix_issue_found_on", "found_on"),
                      Index("ix_issue_reported_on", "reported_on"))

    id: int | None = Field(default=None, primary_key=True)
    # A campaign visit's issue has campaign and visit; a supervision finding has its
    # supervision visit instead.
    campaign_id: int | None = Field(default=None, foreign_key="campaign.id", index=True)
    visit_id: int | None = Field(default=None, foreign_key="visit.id", index=True)
    supervision_visit_id: int | None = Field(default=None, foreign_key="supervision_visit.id",
                                             index=True)
    uscc: str = Field(foreign_key="business.uscc", max_length=18, index=True)
    item_id: str | None = Field(default=None, max_length=40)
    category: str = Field(max_length=40, index=True)
    severity: str = Field(max_length=10)
    description: str = Field(max_length=2000)
    legal_basis: str = Field(default="", max_length=500)
    status: str = Field(default="open", max_length=30, index=True)
    found_on: date
    rect_workdays: int  # working days given for rectification (the plan's days per severity)
    due_on: date
    due_provisional: bool = False
    # The due date is due_workdays working days after due_basis (found, extended or followed up
    # on that day): what a recomputation counts from when a year's calendar arrives.
    due_basis: date | None = None
    due_workdays: int | None = None
    escalation: int = 0
    reported_on: date | None = None  # China date of the latest rectification report
    on_time: bool | None = None  # set when verified (domain.issues.on_time)
    version: int = 1
    created_at: datetime
    updated_at: datetime


class EvidenceRow(SQLModel, table=True):
    """An evidence file, stored once under the data folder by its SHA-256: the bytes only.
    Who sent it and under what name is the link's (:class:`IssueEvidenceRow`), never the
    blob's, so one tenant's upload tells nothing to another that sends the same bytes."""

    __tablename__ = "evidence"

    sha256: str = Field(primary_key=True, max_length=64)
    size: int
    added_at: datetime  # when the bytes were first stored


class IssueEvidenceRow(SQLModel, table=True):
    """One evidence file attached to one issue (at which step: finding, rectification …), with
    the name its uploader gave it, the uploader and the time."""

    __tablename__ = "issue_evidence"

    issue_id: int = Field(primary_key=True, foreign_key="issue.id")
    sha256: str = Field(primary_key=True, foreign_key="evidence.sha256", max_length=64)
    purpose: str = Field(default="finding", max_length=20)
    filename: str = Field(max_length=300)
    uploaded_by: str = Field(max_length=200)
    added_at: datetime


class RectificationRow(SQLModel, table=True):
    """A business's report of the measures it took (整改报告)."""

    __tablename__ = "rectification"

    id: int | None = Field(default=None, primary_key=True)
    issue_id: int = Field(foreign_key="issue.id", index=True)
    measures: str = Field(max_length=4000)
    reported_at: datetime
    reported_by: str = Field(max_length=200)


class ExtensionRow(SQLModel, table=True):
    """An approved extension of a due date (延期)."""

    __tablename__ = "extension"

    id: int | None = Field(default=None, primary_key=True)
    issue_id: int = Field(foreign_key="issue.id", index=True)
    workdays: int
    reason: str = Field(max_length=1000)
    approver: str = Field(max_length=200)
    old_due_on: date
    new_due_on: date
    provisional: bool = False
    approved_at: datetime


class NoticeCounterRow(SQLModel, table=True):
    """The last number given per office, kind and year (文书编号): gapless, never reused."""

    __tablename__ = "notice_counter"

    office: str = Field(primary_key=True, max_length=200)
    kind: str = Field(primary_key=True, max_length=30)
    year: int = Field(primary_key=True)
    last_seq: int = 0


class NoticeRow(SQLModel, table=True):
    """A numbered notice: its canonical content, and once rendered its PDF's SHA-256."""

    __tablename__ = "notice"
    __table_args__ = (UniqueConstraint("office", "kind", "year", "seq", name="uq_notice_number"),)

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int | None = Field(default=None, foreign_key="campaign.id", index=True)
    kind: str = Field(max_length=30)
    lang: str = Field(max_length=5)
    office: str = Field(max_length=200)
    year: int
    seq: int
    number: str = Field(max_length=100, unique=True)
    target: str = Field(max_length=500, index=True)
    addressee: str = Field(max_length=300)
    uscc: str | None = Field(default=None, max_length=18, index=True)
    content_json: str
    content_sha256: str = Field(max_length=64, index=True)
    status: str = Field(default="pending", max_length=10, index=True)
    pdf_sha256: str | None = Field(default=None, max_length=64, index=True)
    pdf_size: int | None = None
    created_at: datetime
    issued_at: datetime | None = None
    voided_at: datetime | None = None
    void_reason: str = Field(default="", max_length=1000)
    # the code of its public check page (/verify/{code}), printed as a QR code; None before
    verify_code: str | None = Field(default=None, max_length=32, unique=True, index=True)


class NoticePdfRow(SQLModel, table=True):
    """The bytes of an issued notice, by SHA-256 (immutable)."""

    __tablename__ = "notice_pdf"

    sha256: str = Field(primary_key=True, max_length=64)
    data: bytes = Field(sa_type=LargeBinary)


class FollowUpRow(SQLModel, table=True):
    """A look-back check (复查, kind ``review``) or a reminder before the due date (``reminder``)
    of one issue and one of its due dates: the source of truth the scheduler works from.

    ``revision`` counts the issue's due dates (1 for the first, 2 after the first change, …);
    ``due_at`` is the instant it fires, in seconds since the epoch (UTC). ``status``: ``pending``
    until fired; ``running`` only inside the transaction that fires it; then ``open`` (a review
    waiting for the team's check), ``recorded`` (checked), ``done`` (a reminder sent) or
    ``cancelled`` (the issue was closed or got a new due date first).
    """

    __tablename__ = "followup"
    __table_args__ = (UniqueConstraint("issue_id", "kind", "revision", name="uq_followup_revision"),
                      Index("ix_followup_status_due", "status", "due_at"))

    id: int | None = Field(default=None, primary_key=True)
    issue_id: int = Field(foreign_key="issue.id", index=True)
    kind: str = Field(max_length=10)
    revision: int
    due_on: date
    due_at: int = Field(sa_type=BigInteger)
    status: str = Field(default="pending", max_length=10)
    team_no: int | None = None
    created_at: datetime
    fired_at: datetime | None = None
    fired_by: str = Field(default="", max_length=200)
    outcome: str = Field(default="", max_length=20)
    hard_measures: bool | None = None
    fixed: bool | None = None
    mechanism: bool | None = None
    note: str = Field(default="", max_length=2000)
    recorded_at: datetime | None = None
    recorded_by: str = Field(default="", max_length=200)
    escalation_after: int | None = None


class SchedulerLeaseRow(SQLModel, table=True):
    """Who runs the scheduler: a lease renewed by heartbeat; a standby takes it once it expires."""

    __tablename__ = "scheduler_lease"

    name: str = Field(primary_key=True, max_length=50)
    holder: str = Field(max_length=200)
    acquired_at: datetime
    heartbeat_at: datetime
    expires_at: int = Field(sa_type=BigInteger)  # seconds since the epoch


class ReferralRow(SQLModel, table=True):
    """A lead referred to enforcement (移送线索), from a follow-up or a supervision visit, and the
    case outcome once known (立案)."""

    __tablename__ = "referral"

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=20)  # followup | supervision
    issue_id: int | None = Field(default=None, foreign_key="issue.id", index=True)
    supervision_visit_id: int | None = Field(default=None, foreign_key="supervision_visit.id",
                                             index=True)
    uscc: str = Field(foreign_key="business.uscc", max_length=18, index=True)
    description: str = Field(max_length=2000)
    referred_on: date
    referred_by: str = Field(max_length=200)
    case_status: str = Field(default="referred", max_length=20)  # referred | filed | declined
    case_number: str = Field(default="", max_length=100)
    case_on: date | None = None


class SupervisionVisitRow(SQLModel, table=True):
    """A routine supervision visit (包保督导) an assigned official owes a business in a period."""

    __tablename__ = "supervision_visit"
    __table_args__ = (UniqueConstraint("cadre_id", "uscc", "period", name="uq_supervision_period"),
                      # the roll-up's scan of a period's visits (migration 0016)
                      Index("ix_supervision_visit_period_cover", "period_end", "uscc", "status"))

    id: int | None = Field(default=None, primary_key=True)
    cadre_id: str = Field(foreign_key="cadre.cadre_id", max_length=64, index=True)
    uscc: str = Field(foreign_key="business.uscc", max_length=18, index=True)
    level: str = Field(max_length=10, index=True)
    period: str = Field(max_length=10, index=True)  # 2026, 2026H2, 2026Q4, 2026-11
    period_start: date
    period_end: date = Field(index=True)
    status: str = Field(default="open", max_length=10)  # open | done
    opened_at: datetime
    done_on: date | None = None
    note: str = Field(default="", max_length=2000)
    recorded_by: str = Field(default="", max_length=200)
    recorded_at: datetime | None = None


class ApiUserRow(SQLModel, table=True):
    """A user of the HTTP API: a role, its scope (team, business), and its token's SHA-256."""

    __tablename__ = "api_user"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    role: str = Field(max_length=20)
    team: int | None = None
    campaign_id: int | None = None
    uscc: str | None = Field(default=None, max_length=18)
    office_id: int | None = Field(default=None, foreign_key="office.id")
    cadre_id: str | None = Field(default=None, max_length=64)  # a cadre user: who they are
    token_sha256: str = Field(max_length=64, unique=True)
    created_at: datetime
    revoked_at: datetime | None = None
    password_hash: str | None = Field(default=None, max_length=200)
    must_change_password: bool = False
    failed_logins: int = 0
    locked_until: datetime | None = None


class LoginSessionRow(SQLModel, table=True):
    """A log-in: a session (cookie) or a short-lived token, by the SHA-256 of its secret."""

    __tablename__ = "login_session"

    sha256: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="api_user.id", index=True)
    kind: str = Field(max_length=10)
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None


class IdempotencyRow(SQLModel, table=True):
    """A write sent with an ``Idempotency-Key``: the key, whose it is (the token's SHA-256),
    the request's fingerprint, and the answer given (``status`` is empty while it runs)."""

    __tablename__ = "idempotency_key"

    owner: str = Field(primary_key=True, max_length=64)
    key: str = Field(primary_key=True, max_length=200)
    request_sha256: str = Field(max_length=64)
    status: int | None = None
    body: bytes | None = Field(default=None, sa_type=LargeBinary)
    content_type: str = Field(default="", max_length=100)
    etag: str = Field(default="", max_length=100)
    created_at: datetime = Field(index=True)
