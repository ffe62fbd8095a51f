"""The follow-up repository: follow-up rows, their atomic claim, referrals, the scheduler lease."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, case, func, insert, or_, select, update

from domain.followup_plan import NewFollowUp
from domain.followups import Claimed, FollowUp, Lease, LookbackQuery
from domain.offices import Territory
from storage.issues import as_date as _as_date
from storage.repositories import SqlRepository, _chunks, fits_id
from storage.tables import (
    BusinessRow,
    FollowUpRow,
    IssueRow,
    ReferralRow,
    SchedulerLeaseRow,
)

_FU_COLS = (FollowUpRow.id, FollowUpRow.issue_id, FollowUpRow.kind, FollowUpRow.revision,
            FollowUpRow.due_on, FollowUpRow.due_at, FollowUpRow.status, FollowUpRow.team_no,
            FollowUpRow.fired_at, FollowUpRow.outcome, FollowUpRow.hard_measures,
            FollowUpRow.fixed, FollowUpRow.mechanism, FollowUpRow.note, FollowUpRow.recorded_at,
            FollowUpRow.recorded_by, FollowUpRow.escalation_after, IssueRow.campaign_id,
            IssueRow.uscc, BusinessRow.name.label("business_name"))  # type: ignore[attr-defined]


def _followup(r: Any) -> FollowUp:
    """A follow-up from a row selected with ``_FU_COLS`` (read by column name)."""
    m = r._mapping
    due_on = _as_date(m["due_on"])
    assert due_on is not None
    return FollowUp(id=m["id"], issue_id=m["issue_id"], kind=m["kind"], revision=m["revision"],
                    due_on=due_on, due_at=m["due_at"], status=m["status"],
                    team_no=m["team_no"], fired_at=m["fired_at"], outcome=m["outcome"],
                    hard_measures=m["hard_measures"], fixed=m["fixed"],
                    mechanism=m["mechanism"], note=m["note"], recorded_at=m["recorded_at"],
                    recorded_by=m["recorded_by"], escalation_after=m["escalation_after"],
                    campaign_id=m["campaign_id"], uscc=m["uscc"],
                    business_name=m["business_name"])


class SqlFollowUpRepository(SqlRepository):
    # --- planning ---------------------------------------------------------------------------

    def revisions(self, issue_ids: Sequence[int]) -> dict[int, int]:
        out: dict[int, int] = {}
        for chunk in _chunks(list(issue_ids)):
            for issue_id, rev in self._conn.execute(
                    select(FollowUpRow.issue_id, func.max(FollowUpRow.revision))
                    .where(FollowUpRow.issue_id.in_(chunk))  # type: ignore[attr-defined]
                    .group_by(FollowUpRow.issue_id)):
                out[issue_id] = rev
        return out

    def add_many(self, rows: Sequence[NewFollowUp], at: datetime) -> int:
        self._sql.insert_ignore(FollowUpRow, [
            dict(issue_id=r.issue_id, kind=r.kind, revision=r.revision, due_on=r.due_on,
                 due_at=r.due_at, status="pending", team_no=r.team_no, created_at=at,
                 fired_by="", outcome="", note="", recorded_by="") for r in rows],
            ("issue_id", "kind", "revision"))
        return len(rows)

    def cancel_pending(self, issue_ids: Sequence[int]) -> list[int]:
        cancelled: list[int] = []
        for chunk in _chunks(list(issue_ids)):
            cancelled += self._conn.execute(
                update(FollowUpRow)
                .where(FollowUpRow.issue_id.in_(chunk),  # type: ignore[attr-defined]
                       FollowUpRow.status == "pending")
                .values(status="cancelled", outcome="superseded")
                .returning(FollowUpRow.id)).scalars().all()
        return cancelled

    def cancel_open(self, issue_id: int, *, at: datetime) -> list[int]:
        return list(self._conn.execute(
            update(FollowUpRow)
            .where(FollowUpRow.issue_id == issue_id, FollowUpRow.status == "open")  # type: ignore[arg-type]
            .values(status="cancelled", outcome="superseded", recorded_at=at)
            .returning(FollowUpRow.id)).scalars().all())

    # --- firing -----------------------------------------------------------------------------

    def due_ids(self, now: int, limit: int) -> list[int]:
        stmt = (select(FollowUpRow.id)
                .where(FollowUpRow.status == "pending", FollowUpRow.due_at <= now)
                .order_by(FollowUpRow.due_at, FollowUpRow.id).limit(limit))
        if self._pg:  # several workers split the due rows instead of queueing on them
            stmt = stmt.with_for_update(skip_locked=True)
        return list(self._conn.execute(stmt).scalars())

    def claim(self, ids: Sequence[int], now: int) -> list[Claimed]:
        """``pending → running`` for those of ``ids`` still pending and due: a row claimed by
        another transaction is not claimed again (its status is no longer pending)."""
        claimed: list[int] = []
        # On SQLite, ``status || ''`` keeps the planner on the primary key: with a plain
        # ``status = 'pending'`` it picks ix_followup_status_due and scans every pending due row
        # for each batch (quadratic in a large backlog). Same rows matched (status is NOT NULL).
        status = FollowUpRow.status if self._pg else FollowUpRow.status + ""
        for chunk in _chunks(list(ids)):
            claimed += self._conn.execute(
                update(FollowUpRow)
                .where(FollowUpRow.id.in_(chunk),  # type: ignore[union-attr]
                       status == "pending", FollowUpRow.due_at <= now)
                .values(status="running")
                .returning(FollowUpRow.id)).scalars().all()
        out: list[Claimed] = []
        for chunk in _chunks(sorted(claimed)):
            for r in self._conn.execute(
                    select(FollowUpRow.id, FollowUpRow.issue_id, FollowUpRow.kind,
                           FollowUpRow.revision, FollowUpRow.team_no,
                           IssueRow.status.label("issue_status"),  # type: ignore[attr-defined]
                           IssueRow.uscc, IssueRow.due_on.label("issue_due_on"))
                    .join(IssueRow, IssueRow.id == FollowUpRow.issue_id)
                    .where(FollowUpRow.id.in_(chunk))  # type: ignore[union-attr]
                    .order_by(FollowUpRow.id)):
                out.append(Claimed(**{**r._mapping,
                                      "issue_due_on": _as_date(r._mapping["issue_due_on"])}))
        return out

    def finish(self, rows: Sequence[tuple[int, str]], at: datetime, worker: str) -> None:
        if not rows:
            return
        # One UPDATE … WHERE id IN (…) per outcome (a handful) instead of one per row.
        by_status: dict[str, list[int]] = {}
        for i, s in rows:
            by_status.setdefault(s, []).append(i)
        for st, ids in by_status.items():
            for chunk in _chunks(ids):
                self._conn.execute(
                    update(FollowUpRow)
                    .where(FollowUpRow.id.in_(chunk),  # type: ignore[union-attr]
                           FollowUpRow.status == "running")
                    .values(status=st, fired_at=at, fired_by=worker[:200]))

    # --- reading ----------------------------------------------------------------------------

    def _select(self) -> Any:
        return (select(*_FU_COLS).join(IssueRow, IssueRow.id == FollowUpRow.issue_id)
                .join(BusinessRow, BusinessRow.uscc == IssueRow.uscc))

    def get(self, followup_id: int) -> FollowUp | None:
        r = self._conn.execute(self._select().where(FollowUpRow.id == followup_id)).first()
        return _followup(r) if r else None

    def open_review(self, issue_id: int) -> FollowUp | None:
        r = self._conn.execute(self._select().where(
            FollowUpRow.issue_id == issue_id, FollowUpRow.kind == "review",
            FollowUpRow.status == "open").order_by(FollowUpRow.revision.desc())).first()  # type: ignore[attr-defined]
        return _followup(r) if r else None

    def of_issue(self, issue_id: int) -> list[FollowUp]:
        return [_followup(r) for r in self._conn.execute(self._select().where(
            FollowUpRow.issue_id == issue_id).order_by(FollowUpRow.revision, FollowUpRow.due_at))]

    def of_issues(self, issue_ids: Sequence[int]) -> dict[int, list[FollowUp]]:
        found: dict[int, list[FollowUp]] = {i: [] for i in issue_ids}
        ids = [i for i in issue_ids if fits_id(i)]
        for k in range(0, len(ids), 900):
            for r in self._conn.execute(self._select().where(
                    FollowUpRow.issue_id.in_(ids[k:k + 900]))  # type: ignore[attr-defined]
                    .order_by(FollowUpRow.revision, FollowUpRow.due_at)):
                fu = _followup(r)
                found[fu.issue_id].append(fu)
        return found

    def list(self, *, status: str | None, kind: str | None, team: int | None,
             campaign_id: int | None, due_before: int | None, limit: int) -> list[FollowUp]:
        stmt = self._filtered(self._select(), status=status, kind=kind, team=team,
                              campaign_id=campaign_id, due_before=due_before)
        stmt = stmt.order_by(FollowUpRow.due_at, FollowUpRow.id).limit(limit)
        return [_followup(r) for r in self._conn.execute(stmt)]

    def count(self, *, status: str | None, kind: str | None, team: int | None,
              campaign_id: int | None, due_before: int | None) -> int:
        """How many follow-ups ``list`` would give without its limit."""
        stmt = (select(func.count()).select_from(FollowUpRow)
                .join(IssueRow, IssueRow.id == FollowUpRow.issue_id))
        stmt = self._filtered(stmt, status=status, kind=kind, team=team,
                              campaign_id=campaign_id, due_before=due_before)
        return int(self._conn.execute(stmt).scalar_one())

    @staticmethod
    def _filtered(stmt: Any, *, status: str | None, kind: str | None, team: int | None,
                  campaign_id: int | None, due_before: int | None) -> Any:
        if status is not None:
            stmt = stmt.where(FollowUpRow.status == status)
        if kind is not None:
            stmt = stmt.where(FollowUpRow.kind == kind)
        if team is not None:
            stmt = stmt.where(FollowUpRow.team_no == team)
        if campaign_id is not None:
            stmt = stmt.where(IssueRow.campaign_id == campaign_id)
        if due_before is not None:
            stmt = stmt.where(FollowUpRow.due_at <= due_before)
        return stmt

    def pending_among(self, ids: Sequence[int]) -> set[int]:
        out: set[int] = set()
        for chunk in _chunks(list(ids)):
            out.update(self._conn.execute(select(FollowUpRow.id).where(
                FollowUpRow.id.in_(chunk), FollowUpRow.status == "pending")).scalars())  # type: ignore[union-attr]
        return out

    def count_pending(self, *, due_before: int | None) -> int:
        stmt = select(func.count()).select_from(FollowUpRow).where(FollowUpRow.status == "pending")
        if due_before is not None:
            stmt = stmt.where(FollowUpRow.due_at <= due_before)
        return int(self._conn.execute(stmt).scalar_one())

    def counts(self) -> dict[str, int]:
        return {s: n for s, n in self._conn.execute(
            select(FollowUpRow.status, func.count()).group_by(FollowUpRow.status))}

    def record(self, followup_id: int, *, outcome: str, hard: bool, fixed: bool, mechanism: bool,
               note: str, at: datetime, actor: str, escalation_after: int) -> None:
        self._conn.execute(
            update(FollowUpRow).where(FollowUpRow.id == followup_id,
                                      FollowUpRow.status == "open")
            .values(status="recorded", outcome=outcome, hard_measures=hard, fixed=fixed,
                    mechanism=mechanism, note=note[:2000], recorded_at=at,
                    recorded_by=actor[:200], escalation_after=escalation_after))

    # --- the office's look-back lists ---------------------------------------------------------

    def lookbacks(self, q: LookbackQuery, *, limit: int, offset: int) -> list[FollowUp]:
        """One page of a look-back list (``LookbackQuery``), oldest due first."""
        stmt = self._select().where(*self._lookback_cond(q))
        stmt = stmt.order_by(FollowUpRow.due_at, FollowUpRow.id).limit(limit).offset(offset)
        return [_followup(r) for r in self._conn.execute(stmt)]

    def count_lookbacks(self, q: LookbackQuery) -> int:
        stmt = (select(func.count()).select_from(FollowUpRow)
                .join(IssueRow, IssueRow.id == FollowUpRow.issue_id)
                .join(BusinessRow, BusinessRow.uscc == IssueRow.uscc)
                .where(*self._lookback_cond(q)))
        return int(self._conn.execute(stmt).scalar_one())

    @staticmethod
    def _lookback_cond(q: LookbackQuery) -> list[Any]:
        """The conditions of ``q``'s list (see ``LookbackQuery``), its territory as a code range
        (the index on the business's region code answers it)."""
        pending = FollowUpRow.status == "pending"
        opened = FollowUpRow.status == "open"
        cond: list[Any] = [FollowUpRow.kind == "review", *_in_territory(q.territory)]
        if q.tab == "pending":
            cond += [pending, FollowUpRow.due_at > q.late_before]
        elif q.tab == "open":
            cond += [opened, FollowUpRow.due_on >= q.today]
        else:
            cond.append(or_(and_(opened, FollowUpRow.due_on < q.today),
                            and_(pending, FollowUpRow.due_at <= q.late_before)))
        return cond

    def next_due_at(self, *, after: int, territory: str) -> int | None:
        """When the next pending follow-up (review or reminder) of the territory falls due."""
        stmt = (select(func.min(FollowUpRow.due_at)).select_from(FollowUpRow)
                .join(IssueRow, IssueRow.id == FollowUpRow.issue_id)
                .join(BusinessRow, BusinessRow.uscc == IssueRow.uscc)
                .where(FollowUpRow.status == "pending", FollowUpRow.due_at > after,
                       *_in_territory(territory)))
        found = self._conn.execute(stmt).scalar_one()
        return None if found is None else int(found)

    def count_unfired(self, *, due_by: int, territory: str) -> int:
        """Pending follow-ups (reviews and reminders) of the territory due by ``due_by``."""
        stmt = (select(func.count()).select_from(FollowUpRow)
                .join(IssueRow, IssueRow.id == FollowUpRow.issue_id)
                .join(BusinessRow, BusinessRow.uscc == IssueRow.uscc)
                .where(FollowUpRow.status == "pending", FollowUpRow.due_at <= due_by,
                       *_in_territory(territory)))
        return int(self._conn.execute(stmt).scalar_one())

    def count_open_past(self, *, before: date, territory: str) -> int:
        """Open reviews of the territory whose look-back day is before ``before``."""
        stmt = (select(func.count()).select_from(FollowUpRow)
                .join(IssueRow, IssueRow.id == FollowUpRow.issue_id)
                .join(BusinessRow, BusinessRow.uscc == IssueRow.uscc)
                .where(FollowUpRow.kind == "review", FollowUpRow.status == "open",
                       FollowUpRow.due_on < before, *_in_territory(territory)))
        return int(self._conn.execute(stmt).scalar_one())

    # --- referrals --------------------------------------------------------------------------

    def add_referral(self, *, source: str, issue_id: int | None,
                     supervision_visit_id: int | None, uscc: str, description: str, on: date,
                     actor: str) -> int:
        return int(self._conn.execute(insert(ReferralRow).values(
            source=source, issue_id=issue_id, supervision_visit_id=supervision_visit_id,
            uscc=uscc, description=description[:2000], referred_on=on, referred_by=actor[:200],
            case_status="referred", case_number="").returning(ReferralRow.id)).scalar_one())

    def referral_of(self, issue_id: int) -> dict[str, Any] | None:
        r = self._conn.execute(select(ReferralRow).where(ReferralRow.issue_id == issue_id)
                               .order_by(ReferralRow.id)).first()
        if r is None:
            return None
        row = r  # a Core row (the connection, not the ORM session): columns by name
        return {"id": row.id, "source": row.source, "issue": row.issue_id, "uscc": row.uscc,
                "referred_on": _iso(row.referred_on), "case_status": row.case_status,
                "case_number": row.case_number or None, "case_on": _iso(row.case_on)}

    def set_case(self, referral_id: int, *, status: str, number: str, on: date) -> None:
        self._conn.execute(update(ReferralRow).where(ReferralRow.id == referral_id)
                           .values(case_status=status, case_number=number[:100], case_on=on))

    def referral_counts(self) -> dict[str, int]:
        rows = dict(self._conn.execute(select(ReferralRow.case_status, func.count())
                                       .group_by(ReferralRow.case_status)).all())
        return {"referred": sum(rows.values()), "filed": rows.get("filed", 0),
                "declined": rows.get("declined", 0)}

    # --- the scheduler lease ----------------------------------------------------------------

    def lease(self, name: str) -> Lease | None:
        r = self._conn.execute(select(SchedulerLeaseRow).where(SchedulerLeaseRow.name == name)).first()
        if r is None:
            return None
        row = r  # a Core row (the connection, not the ORM session): columns by name
        return Lease(row.name, row.holder, row.acquired_at, row.heartbeat_at, row.expires_at)

    def take_lease(self, name: str, holder: str, now: datetime, ttl: int) -> bool:
        """One statement: insert the lease, or take it over when it is ours or has expired."""
        stamp = int(now.timestamp())
        if self._pg:
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        t = SchedulerLeaseRow.__table__  # type: ignore[attr-defined]
        ins = dialect_insert(t).values(name=name, holder=holder[:200], acquired_at=now,
                                       heartbeat_at=now, expires_at=stamp + ttl)
        stmt = ins.on_conflict_do_update(
            index_elements=["name"],
            set_={"holder": ins.excluded.holder, "heartbeat_at": ins.excluded.heartbeat_at,
                  "expires_at": ins.excluded.expires_at,
                  "acquired_at": case((t.c.holder == ins.excluded.holder, t.c.acquired_at),
                                      else_=ins.excluded.acquired_at)},
            where=(t.c.holder == ins.excluded.holder) | (t.c.expires_at < stamp),
        ).returning(t.c.holder)
        got = self._conn.execute(stmt).first()
        return got is not None

    def release_lease(self, name: str, holder: str) -> None:
        self._conn.execute(update(SchedulerLeaseRow).where(
            SchedulerLeaseRow.name == name, SchedulerLeaseRow.holder == holder)
            .values(expires_at=0))


def _in_territory(territory: str) -> list[Any]:
    """The business's region code within ``territory`` (a prefix; nothing for all)."""
    bounds = Territory(territory).code_range()
    if bounds is None:
        return []
    return [BusinessRow.region_code >= bounds[0], BusinessRow.region_code < bounds[1]]


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None

