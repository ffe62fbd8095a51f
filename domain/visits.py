"""Visits and what fieldwork records on them: the visit, an answer, an evidence file, and the
fieldwork repository and unit of work. The services are in :mod:`domain.fieldwork` (visits,
findings, rectification, extensions) and :mod:`domain.fieldwork_import` (interviews).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from domain.errors import ConflictError, NotFoundError
from domain.issues import IssueUnitOfWork

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


@dataclass(frozen=True)
class Answer:
    item_id: str
    result: str
    note: str = ""


@dataclass(frozen=True)
class EvidenceRef:
    """A file in the evidence store, with the name the uploader gave it this time."""

    sha256: str
    size: int
    filename: str


@dataclass(frozen=True)
class Evidence:
    """One evidence file as attached to one issue. The bytes are stored once, by SHA-256; the
    name, the uploader and the time belong to this link, so the same bytes attached elsewhere
    show nothing of that other upload."""

    sha256: str
    filename: str
    size: int
    purpose: str
    uploaded_by: str
    added_at: datetime


class EvidenceStore(Protocol):
    """Where evidence files go: content-addressed by SHA-256, never overwritten."""

    def put(self, path: str) -> EvidenceRef: ...


class FieldworkRepository(Protocol):
    """Visits, interviews and what hangs off an issue (rectification reports, extensions,
    evidence); the issue itself is :class:`domain.issues.IssueRepository`'s."""

    def get_visit(self, visit_id: int) -> Visit | None: ...
    def list_visits(self, campaign_id: int, *, team: int | None,
                    status: str | None) -> list[Visit]: ...
    def visits_page(self, campaign_ids: Sequence[int], *, team: int | None,
                    first: Sequence[int], limit: int, offset: int) -> list[Visit]:
        """One page of the visits of these campaigns (and team): those of the ``first``
        campaigns first, planned before done, then by id."""
        ...
    def visit_status_counts(self, campaign_ids: Sequence[int], *,
                            team: int | None) -> dict[str, int]: ...
    def complete_visit(self, visit_id: int, visited_on: date, at: datetime) -> None: ...
    def visits_by_ids(self, ids: Sequence[int]) -> dict[int, Visit]: ...
    def existing_interviews(self, visit_ids: Sequence[int]) -> set[tuple[int, str, str]]: ...
    def existing_issues(self, keys: Sequence[tuple[int, str]]) -> dict[tuple[int, str, str], int]: ...
    def reserve_ids(self, table: str, n: int) -> list[int]: ...
    def insert_interviews(self, rows: Sequence[tuple[int, int, str, str, datetime, str]]) -> None: ...
    def insert_answers(self, rows: Sequence[tuple[int, str, str, str]]) -> None: ...
    def add_rectification(self, issue_id: int, measures: str, at: datetime, actor: str) -> int: ...
    def add_extension(self, issue_id: int, workdays: int, reason: str, approver: str,
                      old_due: date, new_due: date, provisional: bool, at: datetime) -> int: ...
    def extensions(self, issue_id: int) -> list[int]: ...
    def add_evidence(self, issue_id: int, ref: EvidenceRef, purpose: str, at: datetime,
                     actor: str) -> None:
        """Link stored bytes to an issue under the uploader's name; a second link of the same
        bytes to the same issue keeps the first."""
        ...
    def evidence_of(self, issue_id: int) -> list[Evidence]: ...
    def evidence_of_many(self, issue_ids: Sequence[int]) -> dict[int, list[Evidence]]:
        """:meth:`evidence_of` for several issues in one read (an issue without evidence
        maps to an empty list)."""
        ...
    def evidence_bytes_of_business(self, uscc: str) -> int:
        """The bytes of evidence attached to all the issues of a business."""
        ...
    def metrics(self, campaign_id: int, today: date) -> dict[str, Any]: ...


class FieldworkUnitOfWork(IssueUnitOfWork, Protocol):
    @property
    def fieldwork(self) -> FieldworkRepository: ...


FieldworkUowFactory = Callable[[], FieldworkUnitOfWork]


# --- visits ----------------------------------------------------------------------------------

def get_visit(uow: FieldworkUnitOfWork, visit_id: int) -> Visit:
    v = uow.fieldwork.get_visit(visit_id)
    if v is None:
        raise NotFoundError(f"visit {visit_id} does not exist", f"检查任务{visit_id}不存在")
    return v


def check_writable(v: Visit, team: int | None) -> None:
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


def normalise_result(raw: str) -> str | None:
    return RESULT_ALIASES.get(raw.strip().lower())


