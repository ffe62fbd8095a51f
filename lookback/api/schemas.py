"""Schema families per resource: ``…Create`` (what a client sends), ``…Update``, ``…Public``
(what the API returns) and ``…List`` (a page of them with the total count)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Text = Field(min_length=1, max_length=2000)


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


class CampaignList(BaseModel):
    count: int
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


class VisitList(BaseModel):
    count: int
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
    category: str = Field(min_length=1, max_length=40)
    severity: Literal["minor", "general", "serious"]
    description: str = Text


class IssuePublic(BaseModel):
    id: int
    campaign_id: int
    visit_id: int
    uscc: str
    business: str
    province: str
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


class IssueList(BaseModel):
    count: int
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
    sha256: str
    filename: str
    size: int
    purpose: str | None = None


def issue_public(i: Any) -> IssuePublic:
    return IssuePublic(id=i.id, campaign_id=i.campaign_id, visit_id=i.visit_id, uscc=i.uscc,
                       business=i.business_name, province=i.province_code, item_id=i.item_id,
                       category=i.category, severity=i.severity, description=i.description,
                       legal_basis=i.legal_basis, status=i.status.value, found_on=i.found_on,
                       due_on=i.due_on, due_provisional=i.due_provisional,
                       escalation=i.escalation, version=i.version)


def visit_public(v: Any) -> VisitPublic:
    return VisitPublic(id=v.id, campaign_id=v.campaign_id, uscc=v.uscc,
                       business_name=v.business_name, region_code=v.region_code, team=v.team_no,
                       status=v.status, visited_on=v.visited_on)


class Health(BaseModel):
    status: Literal["ok"]
    schema_revision: str | None
