"""The campaign repository: campaigns, frozen frames, draw records, team members and visits."""

from __future__ import annotations

import gzip
import hashlib
import json
from datetime import date, datetime
from typing import Any

from sqlalchemy import exists, func, select, text, update
from sqlmodel import Session

from domain.campaigns import Campaign, CampaignCounts, Commitment, FrozenFrame, canonical_json
from domain.errors import ConflictError
from domain.offices import OfficeLevel, Territory
from domain.plan import Plan
from domain.sampling import FrameBusiness, FrameInspector
from storage.repositories import _Sql, fits_id
from storage.tables import (
    CampaignFrameRow,
    CampaignRow,
    DrawCommitmentRow,
    DrawRecordRow,
    OfficeRow,
    TeamMemberRow,
    VisitRow,
)


def _campaign(row: CampaignRow, office: OfficeRow | None = None) -> Campaign:
    assert row.id is not None
    territory = (Territory.of(OfficeLevel(office.level), office.territory).prefix
                 if office is not None else "")
    return Campaign(row.id, row.office, row.office_short, row.title, row.kind, row.status,
                    row.starts_on, row.ends_on, row.seed, row.seed_auto, json.loads(row.plan_json),
                    row.plan_source, row.created_at, row.launched_at, row.source_campaign_id,
                    row.office_id, territory)


class SqlCampaignRepository:
    def __init__(self, session: Session) -> None:
        self.session = session
        self._sql = _Sql(session)

    def add(self, plan: Plan, *, seed: str, seed_auto: bool, source: str,
            created_at: datetime, source_campaign_id: int | None = None,
            office_id: int | None = None) -> int:
        row = CampaignRow(office=plan.office, office_short=plan.office_short, title=plan.title,
                          kind=plan.kind, starts_on=plan.starts_on, ends_on=plan.ends_on,
                          seed=seed, seed_auto=seed_auto, plan_json=canonical_json(plan.as_dict()),
                          plan_source=source[-500:], created_at=created_at,
                          source_campaign_id=source_campaign_id, office_id=office_id)
        self.session.add(row)
        self.session.flush()
        assert row.id is not None
        return row.id

    def get(self, campaign_id: int) -> Campaign | None:
        if not fits_id(campaign_id):
            return None
        row = self.session.get(CampaignRow, campaign_id)
        if row is None:
            return None
        office = self.session.get(OfficeRow, row.office_id) if row.office_id else None
        return _campaign(row, office)

    def counts(self, campaign_id: int) -> CampaignCounts | None:
        c = self.get(campaign_id)
        if c is None:
            return None
        conn = self.session.connection()
        frame = conn.execute(select(CampaignFrameRow.businesses)
                             .where(CampaignFrameRow.campaign_id == campaign_id)).scalar()
        sampled = conn.execute(select(DrawRecordRow.total)
                               .where(DrawRecordRow.campaign_id == campaign_id)).scalar()
        teams = conn.execute(select(func.count(func.distinct(TeamMemberRow.team_no)))
                             .where(TeamMemberRow.campaign_id == campaign_id)).scalar() or 0
        by_status = dict(conn.execute(
            select(VisitRow.status, func.count()).where(VisitRow.campaign_id == campaign_id)
            .group_by(VisitRow.status)).all())
        return CampaignCounts(c, frame, sampled, int(teams), int(by_status.get("planned", 0)),
                              int(by_status.get("done", 0)))

    def with_status(self, status: str) -> list[Campaign]:
        rows = self.session.execute(select(CampaignRow, OfficeRow).outerjoin(
            OfficeRow, OfficeRow.id == CampaignRow.office_id)  # type: ignore[arg-type]
            .where(CampaignRow.status == status).order_by(CampaignRow.id)).all()
        return [_campaign(c, o) for c, o in rows]

    def all_counts(self) -> list[CampaignCounts]:
        ids = self.session.connection().execute(
            select(CampaignRow.id).order_by(CampaignRow.id)).scalars().all()
        return [c for i in ids if (c := self.counts(i)) is not None]

    def frame_businesses(self, *, provinces: list[str], categories: list[str],
                         risk_levels: list[str], excluded_since: date | None, until: date,
                         campaign_id: int) -> list[FrameBusiness]:
        where = ["b.status = 'active'"]
        params: dict[str, Any] = {}
        for name, values, column in (("p", provinces, "b.province_code"),
                                     ("c", categories, "b.category"),
                                     ("r", risk_levels, "b.risk_level")):
            if values:
                keys = [f"{name}{i}" for i in range(len(values))]
                where.append(f"{column} IN ({', '.join(':' + k for k in keys)})")
                params.update(zip(keys, values, strict=True))
        if excluded_since is not None:
            # Left out: businesses with a visit of another launched campaign in the window.
            where.append(
                "NOT EXISTS (SELECT 1 FROM visit v JOIN campaign c ON c.id = v.campaign_id "
                "WHERE v.uscc = b.uscc AND v.campaign_id <> :cid AND c.status <> 'draft' AND "
                "COALESCE(v.visited_on, c.starts_on) >= :since AND "
                "COALESCE(v.visited_on, c.starts_on) <= :until)")
            params.update(cid=campaign_id, since=excluded_since, until=until)
        sql = ("SELECT b.uscc, b.region_code, b.category, b.risk_level FROM business b WHERE "
               + " AND ".join(where))
        rows = self.session.connection().execute(text(sql), params)
        return [FrameBusiness(u, r, c, k) for u, r, c, k in rows]

    def issue_businesses(self, source_campaign_id: int, *, issues: str, provinces: list[str],
                         categories: list[str], risk_levels: list[str]) -> list[FrameBusiness]:
        """A look-back's frame: the businesses with issues of the source campaign (only issues
        not yet verified unless ``issues == "all"``), within the plan's provinces, categories and
        risk levels. The register's status does not matter: a business that has closed since
        still has its issues to account for."""
        where = ["i.campaign_id = :src"]
        params: dict[str, Any] = {"src": source_campaign_id}
        if issues != "all":
            where.append("i.status <> 'verified'")
        for name, values, column in (("p", provinces, "b.province_code"),
                                     ("c", categories, "b.category"),
                                     ("r", risk_levels, "b.risk_level")):
            if values:
                keys = [f"{name}{i}" for i in range(len(values))]
                where.append(f"{column} IN ({', '.join(':' + k for k in keys)})")
                params.update(zip(keys, values, strict=True))
        sql = ("SELECT DISTINCT b.uscc, b.region_code, b.category, b.risk_level FROM issue i "
               "JOIN business b ON b.uscc = i.uscc WHERE " + " AND ".join(where))
        rows = self.session.connection().execute(text(sql), params)
        return [FrameBusiness(u, r, c, k) for u, r, c, k in rows]

    def source_issues(self, campaign_id: int, source_campaign_id: int, *,
                      issues: str) -> list[tuple[str, str, int, str]]:
        """(uscc, status, escalation, look-back visit status) of every source issue a look-back
        re-checks: those of its sampled businesses that were in scope when its frame was frozen.
        A verified issue is final, so its ``updated_at`` is when it was verified."""
        sql = ("SELECT i.uscc, i.status, i.escalation, v.status FROM issue i "
               "JOIN visit v ON v.campaign_id = :c AND v.uscc = i.uscc "
               "JOIN campaign_frame f ON f.campaign_id = :c WHERE i.campaign_id = :src")
        if issues != "all":
            sql += " AND NOT (i.status = 'verified' AND i.updated_at <= f.frozen_at)"
        rows = self.session.connection().execute(
            text(sql + " ORDER BY i.id"), {"c": campaign_id, "src": source_campaign_id})
        return [(str(u), str(s), int(e), str(vs)) for u, s, e, vs in rows]

    def frame_inspectors(self) -> list[FrameInspector]:
        rows = self.session.connection().execute(text(
            "SELECT inspector_id, home_region FROM inspector WHERE active"))
        return [FrameInspector(i, h) for i, h in rows]

    def get_frame(self, campaign_id: int) -> FrozenFrame | None:
        if not fits_id(campaign_id):
            return None
        row = self.session.get(CampaignFrameRow, campaign_id)
        if row is None:
            return None
        lines = gzip.decompress(row.lines_gz).decode().splitlines()
        return FrozenFrame(row.sha256, row.businesses, row.inspectors, lines)

    def save_frame_if_absent(self, campaign_id: int, frame: FrozenFrame, *,
                             frozen_at: datetime) -> FrozenFrame:
        blob = gzip.compress(("\n".join(frame.lines) + "\n").encode(), compresslevel=6)
        self._sql.insert_ignore(CampaignFrameRow, [dict(
            campaign_id=campaign_id, sha256=frame.sha256, businesses=frame.businesses,
            inspectors=frame.inspectors, lines_gz=blob, frozen_at=frozen_at)], ["campaign_id"])
        self.session.expire_all()
        stored = self.get_frame(campaign_id)
        assert stored is not None
        return stored

    def get_record(self, campaign_id: int) -> dict[str, Any] | None:
        if not fits_id(campaign_id):
            return None
        row = self.session.get(DrawRecordRow, campaign_id)
        return None if row is None else json.loads(row.record_json)

    def save_record_if_absent(self, campaign_id: int, record: dict[str, Any], *, total: int,
                              at: datetime) -> dict[str, Any]:
        body = canonical_json(record)
        self._sql.insert_ignore(DrawRecordRow, [dict(
            campaign_id=campaign_id, record_json=body, sha256=hashlib.sha256(body.encode()).hexdigest(),
            total=total, created_at=at, updated_at=at)], ["campaign_id"])
        self.session.expire_all()
        stored = self.get_record(campaign_id)
        assert stored is not None
        return stored

    def replace_record(self, campaign_id: int, record: dict[str, Any], *, total: int,
                       at: datetime, expected_total: int) -> None:
        row = self.session.get(DrawRecordRow, campaign_id)
        if row is None or row.total != expected_total:
            raise ConflictError("the draw record changed meanwhile; run the command again",
                                "抽取记录已被修改；请重新运行该命令")
        body = canonical_json(record)
        row.record_json = body
        row.sha256 = hashlib.sha256(body.encode()).hexdigest()
        row.total = total
        row.updated_at = at
        self.session.add(row)

    def add_team_members(self, campaign_id: int, rows: list[tuple[str, int, int]]) -> int:
        self._sql.executemany(
            "INSERT INTO team_member (campaign_id, inspector_id, team_no, rank) VALUES "
            "(?, ?, ?, ?) ON CONFLICT (campaign_id, inspector_id) DO NOTHING",
            [(campaign_id, i, t, r) for i, t, r in rows])
        return len(rows)

    def add_visits(self, campaign_id: int, rows: list[tuple[str, int, str]]) -> int:
        before = self._visit_count(campaign_id)
        self._sql.executemany(
            "INSERT INTO visit (campaign_id, uscc, team_no, status, stratum) VALUES "
            "(?, ?, ?, 'planned', ?) ON CONFLICT (campaign_id, uscc) DO NOTHING",
            [(campaign_id, u, t, s) for u, t, s in rows])
        return self._visit_count(campaign_id) - before

    def _visit_count(self, campaign_id: int) -> int:
        return int(self.session.connection().execute(
            select(func.count()).select_from(VisitRow)
            .where(VisitRow.campaign_id == campaign_id)).scalar_one())

    def mark_launched(self, campaign_id: int, at: datetime) -> bool:
        """Draft → launched; False when it was launched already (nothing changes then)."""
        result = self.session.connection().execute(
            update(CampaignRow).where(CampaignRow.id == campaign_id,  # type: ignore[arg-type]
                                      CampaignRow.status == "draft")
            .values(status="launched", launched_at=at))
        return bool(result.rowcount == 1)

    def set_status(self, campaign_id: int, status: str) -> None:
        self.session.connection().execute(
            update(CampaignRow).where(CampaignRow.id == campaign_id)  # type: ignore[arg-type]
            .values(status=status))

    def get_commitment(self, campaign_id: int) -> Commitment | None:
        if not fits_id(campaign_id):
            return None
        row = self.session.get(DrawCommitmentRow, campaign_id)
        if row is None:
            return None
        return Commitment(row.campaign_id, row.frame_sha256, row.committed_at, row.beacon_name,
                          row.published_on, row.beacon_value, row.value_entered_at)

    def save_commitment_if_absent(self, commitment: Commitment) -> Commitment:
        self._sql.insert_ignore(DrawCommitmentRow, [dict(
            campaign_id=commitment.campaign_id, frame_sha256=commitment.frame_sha256,
            committed_at=commitment.committed_at, beacon_name=commitment.beacon_name,
            published_on=commitment.published_on)], ["campaign_id"])
        self.session.expire_all()
        stored = self.get_commitment(commitment.campaign_id)
        assert stored is not None
        return stored

    def set_beacon_value(self, campaign_id: int, value: str, *, seed: str, at: datetime) -> bool:
        """The beacon value on the commitment and the derived seed on the campaign, only while
        the campaign is a draft not yet drawn (one transaction: both or neither)."""
        conn = self.session.connection()
        drawn = exists().where(DrawRecordRow.campaign_id == campaign_id)  # type: ignore[arg-type]
        changed = conn.execute(
            update(CampaignRow).where(CampaignRow.id == campaign_id,  # type: ignore[arg-type]
                                      CampaignRow.status == "draft", ~drawn)
            .values(seed=seed, seed_auto=False))
        if changed.rowcount != 1:
            return False
        conn.execute(update(DrawCommitmentRow)
                     .where(DrawCommitmentRow.campaign_id == campaign_id)  # type: ignore[arg-type]
                     .values(beacon_value=value, value_entered_at=at))
        self.session.expire_all()
        return True
