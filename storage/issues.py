"""The issue repository: :class:`domain.issues.IssueRepository` in SQL.

Rows become :class:`domain.issues.Issue` objects by column name (never by position). A row of
``issue`` joins its business (name, province, region) and, for a campaign issue, its visit (the
team that does its look-backs).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, insert, or_, select, update

from domain.errors import ConflictError
from domain.issues import Issue, IssueQuery, IssueRules, IssueStatus, NewIssue
from domain.offices import Territory
from storage.repositories import SqlRepository, fits_id
from storage.tables import BusinessRow, CampaignRow, IssueRow, VisitRow

_COLUMNS = (IssueRow.id, IssueRow.campaign_id, IssueRow.visit_id, IssueRow.supervision_visit_id,
            IssueRow.uscc, IssueRow.item_id, IssueRow.category, IssueRow.severity,
            IssueRow.description, IssueRow.legal_basis, IssueRow.status, IssueRow.found_on,
            IssueRow.rect_workdays, IssueRow.due_on, IssueRow.due_provisional,
            IssueRow.due_basis, IssueRow.due_workdays, IssueRow.escalation, IssueRow.version,
            IssueRow.reported_on, IssueRow.on_time,
            BusinessRow.name.label("business_name"),  # type: ignore[attr-defined]
            BusinessRow.province_code, BusinessRow.region_code,
            VisitRow.team_no)


def as_date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def issue_from(row: Any) -> Issue:
    """An issue from a row selected with ``_COLUMNS`` (read by column name)."""
    m = row._mapping
    found, due = as_date(m["found_on"]), as_date(m["due_on"])
    assert found is not None and due is not None
    return Issue(
        id=m["id"], campaign_id=m["campaign_id"], visit_id=m["visit_id"], uscc=m["uscc"],
        item_id=m["item_id"], category=m["category"], severity=m["severity"],
        description=m["description"], legal_basis=m["legal_basis"],
        status=IssueStatus(m["status"]), found_on=found, rect_workdays=m["rect_workdays"],
        due_on=due, due_provisional=bool(m["due_provisional"]), escalation=m["escalation"],
        version=m["version"], business_name=m["business_name"] or "",
        province_code=m["province_code"] or "", due_basis=as_date(m["due_basis"]),
        due_workdays=m["due_workdays"], supervision_visit_id=m["supervision_visit_id"],
        team_no=m["team_no"], reported_on=as_date(m["reported_on"]),
        on_time=None if m["on_time"] is None else bool(m["on_time"]),
        region_code=m["region_code"] or "")


class SqlIssueRepository(SqlRepository):
    def _select(self) -> Any:
        return (select(*_COLUMNS)
                .join(BusinessRow, BusinessRow.uscc == IssueRow.uscc)
                .outerjoin(VisitRow, VisitRow.id == IssueRow.visit_id))  # type: ignore[arg-type]

    def get(self, issue_id: int, *, lock: bool = False) -> Issue | None:
        if not fits_id(issue_id):
            return None
        stmt = self._select().where(IssueRow.id == issue_id)
        if lock:
            stmt = stmt.with_for_update(of=IssueRow)  # type: ignore[arg-type]
        row = self._conn.execute(stmt).first()
        return issue_from(row) if row is not None else None

    def add(self, issues: Sequence[NewIssue], at: datetime) -> list[int]:
        if not issues:
            return []
        values = [self._values(i, at) for i in issues]
        rows = self._conn.execute(
            insert(IssueRow).returning(IssueRow.id, sort_by_parameter_order=True),  # type: ignore[arg-type]
            values).all()
        return [int(r[0]) for r in rows]

    @staticmethod
    def _values(issue: NewIssue, at: datetime) -> dict[str, Any]:
        return dict(
            campaign_id=issue.campaign_id, visit_id=issue.visit_id,
            supervision_visit_id=issue.supervision_visit_id, uscc=issue.uscc,
            item_id=issue.item_id, category=issue.category[:40], severity=issue.severity,
            description=issue.description[:2000], legal_basis=issue.legal_basis[:500],
            status=IssueStatus.OPEN.value, found_on=issue.found_on,
            rect_workdays=issue.rect_workdays, due_on=issue.due.date,
            due_provisional=issue.due.provisional, due_basis=issue.due.start,
            due_workdays=issue.due.workdays, escalation=0, version=1, created_at=at,
            updated_at=at)

    def save(self, issue: Issue, *, expected_version: int, at: datetime) -> None:
        result = self._conn.execute(
            update(IssueRow)
            .where(IssueRow.id == issue.id, IssueRow.version == expected_version)  # type: ignore[arg-type]
            .values(status=issue.status.value, due_on=issue.due_on,
                    due_provisional=issue.due_provisional, due_basis=issue.due_basis,
                    due_workdays=issue.due_workdays, escalation=issue.escalation,
                    reported_on=issue.reported_on, on_time=issue.on_time,
                    version=expected_version + 1, updated_at=at))
        if result.rowcount != 1:
            raise ConflictError(f"issue {issue.id} was changed meanwhile; run the command again",
                                f"问题{issue.id}已被他人修改；请重新运行命令",
                                code="stale_version")

    def list(self, query: IssueQuery) -> list[Issue]:
        q = query
        cond: list[Any] = []
        if q.campaign_id is not None:
            cond.append(IssueRow.campaign_id == q.campaign_id)
        if q.source == "campaign":
            cond.append(IssueRow.supervision_visit_id.is_(None))  # type: ignore[union-attr]
        elif q.source == "supervision":
            cond.append(IssueRow.supervision_visit_id.is_not(None))  # type: ignore[union-attr]
        if q.statuses:
            cond.append(IssueRow.status.in_(list(q.statuses)))  # type: ignore[attr-defined]
        if q.due_before is not None:
            cond.append(IssueRow.due_on < q.due_before)
        if q.province is not None:
            cond.append(BusinessRow.province_code == q.province)
        if q.territory:  # a code range, which the index on region_code answers
            low, high = Territory(q.territory).code_range() or ("", "~")
            cond.append(BusinessRow.region_code >= low)
            cond.append(BusinessRow.region_code < high)
        if q.uscc is not None:
            cond.append(IssueRow.uscc == q.uscc)
        if q.ids is not None:
            ids = [i for i in q.ids if fits_id(i)]
            if not ids:
                return []
            cond.append(IssueRow.id.in_(ids))  # type: ignore[union-attr]
        if q.supervision_visit_id is not None:
            cond.append(IssueRow.supervision_visit_id == q.supervision_visit_id)
        if q.overdue_on is not None:
            cond.append(or_(IssueRow.status == IssueStatus.OVERDUE.value,
                            and_(IssueRow.status.in_([IssueStatus.OPEN.value,  # type: ignore[attr-defined]
                                                      IssueStatus.NOTIFIED.value]),
                                 IssueRow.due_on < q.overdue_on)))
        if q.provisional is not None:
            cond.append(IssueRow.due_provisional == q.provisional)
        stmt = self._select().where(*cond).order_by(IssueRow.id)
        if q.limit is not None:
            stmt = stmt.limit(q.limit)
        if q.skip_locked:
            stmt = stmt.with_for_update(skip_locked=True, of=IssueRow)  # type: ignore[arg-type]
        return [issue_from(r) for r in self._conn.execute(stmt).all()]

    def rules(self, campaign_id: int | None) -> IssueRules:
        if campaign_id is None:
            return IssueRules()
        raw = self._conn.execute(select(CampaignRow.plan_json)
                                 .where(CampaignRow.id == campaign_id)).scalar_one_or_none()
        return IssueRules.from_plan(json.loads(raw) if raw else {})
