"""Repositories for fieldwork (visits, interviews, issues, evidence) and the event log."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, insert, select, text, update
from sqlmodel import Session

from domain.events import GENESIS, Event, make_event
from domain.fieldwork import Evidence, EvidenceRef, Visit
from storage.repositories import SqlRepository, _Sql, fits_id
from storage.tables import (
    EventRow,
    EvidenceRow,
    ExtensionRow,
    InterviewRow,
    IssueEvidenceRow,
    IssueRow,
    RectificationRow,
    VisitRow,
)

_VISIT_SQL = (
    "SELECT v.id, v.campaign_id, c.status AS campaign_status, v.uscc, b.name AS business_name, "
    "b.region_code, v.team_no, v.status, v.visited_on FROM visit v "
    "JOIN campaign c ON c.id = v.campaign_id "
    "JOIN business b ON b.uscc = v.uscc ")

def _as_date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


class SqlFieldworkRepository(SqlRepository):
    def _visits(self, where: str, params: dict[str, Any]) -> list[Visit]:
        rows = self._conn.execute(text(_VISIT_SQL + where), params).all()
        return [Visit(**{**r._mapping, "visited_on": _as_date(r._mapping["visited_on"])})
                for r in rows]

    def get_visit(self, visit_id: int) -> Visit | None:
        if not fits_id(visit_id):
            return None
        found = self._visits("WHERE v.id = :id", {"id": visit_id})
        return found[0] if found else None

    def list_visits(self, campaign_id: int, *, team: int | None,
                    status: str | None) -> list[Visit]:
        where, params = "WHERE v.campaign_id = :c", {"c": campaign_id}
        if team is not None:
            where += " AND v.team_no = :t"
            params["t"] = team
        if status is not None:
            where += " AND v.status = :s"
            params["s"] = status  # type: ignore[assignment]
        return self._visits(where + " ORDER BY v.team_no, v.id", params)

    @staticmethod
    def _in(name: str, values: Sequence[int]) -> tuple[str, dict[str, Any]]:
        keys = [f"{name}{n}" for n in range(len(values))]
        return ", ".join(":" + k for k in keys), dict(zip(keys, values, strict=True))

    def _team_where(self, campaign_ids: Sequence[int],
                    team: int | None) -> tuple[str, dict[str, Any]]:
        marks, params = self._in("c", list(campaign_ids) or [-1])
        where = f"WHERE v.campaign_id IN ({marks})"
        if team is not None:
            where += " AND v.team_no = :t"
            params["t"] = team
        return where, params

    def visits_page(self, campaign_ids: Sequence[int], *, team: int | None,
                    first: Sequence[int], limit: int, offset: int) -> list[Visit]:
        where, params = self._team_where(campaign_ids, team)
        marks, more = self._in("f", list(first) or [-1])
        return self._visits(
            where + f" ORDER BY CASE WHEN v.campaign_id IN ({marks}) THEN 0 ELSE 1 END, "
            "CASE WHEN v.status = 'planned' THEN 0 ELSE 1 END, v.id LIMIT :lim OFFSET :off",
            {**params, **more, "lim": limit, "off": offset})

    def visit_status_counts(self, campaign_ids: Sequence[int], *,
                            team: int | None) -> dict[str, int]:
        where, params = self._team_where(campaign_ids, team)
        return {s: int(n) for s, n in self._conn.execute(text(
            f"SELECT v.status, COUNT(*) FROM visit v {where} GROUP BY v.status"), params)}

    def complete_visit(self, visit_id: int, visited_on: date, at: datetime) -> None:
        self._conn.execute(update(VisitRow).where(VisitRow.id == visit_id)  # type: ignore[arg-type]
                           .values(status="done", visited_on=visited_on, completed_at=at))

    def visits_by_ids(self, ids: Sequence[int]) -> dict[int, Visit]:
        found: dict[int, Visit] = {}
        ids = [i for i in ids if fits_id(i)]  # a larger id cannot exist (and overflows SQLite)
        for i in range(0, len(ids), 900):
            chunk = list(ids[i : i + 900])
            marks = ", ".join(f":v{n}" for n in range(len(chunk)))
            for v in self._visits(f"WHERE v.id IN ({marks})",
                                  {f"v{n}": x for n, x in enumerate(chunk)}):
                found[v.id] = v
        return found

    def existing_interviews(self, visit_ids: Sequence[int]) -> set[tuple[int, str, str]]:
        out: set[tuple[int, str, str]] = set()
        for i in range(0, len(visit_ids), 900):
            chunk = list(visit_ids[i : i + 900])
            rows = self._conn.execute(select(InterviewRow.visit_id, InterviewRow.role,
                                             InterviewRow.name)
                                      .where(InterviewRow.visit_id.in_(chunk))).all()  # type: ignore[union-attr]
            out |= {(int(a), b, c) for a, b, c in rows}
        return out

    def existing_issues(self, keys: Sequence[tuple[int, str]]) -> dict[tuple[int, str, str], int]:
        out: dict[tuple[int, str, str], int] = {}
        by_campaign: dict[int, list[str]] = {}
        for c, u in keys:
            by_campaign.setdefault(c, []).append(u)
        for c, usccs in by_campaign.items():
            for i in range(0, len(usccs), 900):
                rows = self._conn.execute(
                    select(IssueRow.uscc, IssueRow.item_id, IssueRow.id)
                    .where(IssueRow.campaign_id == c, IssueRow.uscc.in_(usccs[i : i + 900]),  # type: ignore[attr-defined]
                           IssueRow.item_id.is_not(None))).all()  # type: ignore[union-attr]
                out.update({(c, u, item): int(n) for u, item, n in rows})
        return out

    def reserve_ids(self, table: str, n: int) -> list[int]:
        """``n`` fresh ids for ``table`` (interview), inside this transaction."""
        if n == 0:
            return []
        if table != "interview":
            raise ValueError(table)
        if self._conn.dialect.name == "postgresql":
            rows = self._conn.execute(text(
                f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) "
                "FROM generate_series(1, :n)"), {"n": n}).scalars().all()
            return [int(r) for r in rows]
        # SQLite: this transaction holds the write lock (BEGIN IMMEDIATE), so max(id) is ours.
        top = self._conn.execute(text(f"SELECT COALESCE(MAX(id), 0) FROM {table}")).scalar_one()
        return list(range(int(top) + 1, int(top) + n + 1))

    def insert_interviews(self, rows: Sequence[tuple[int, int, str, str, datetime, str]]) -> None:
        if rows:
            self._conn.execute(insert(InterviewRow), [
                dict(id=i, visit_id=v, role=r, name=n, recorded_at=at, recorded_by=by)
                for i, v, r, n, at, by in rows])

    def insert_answers(self, rows: Sequence[tuple[int, str, str, str]]) -> None:
        self._sql.executemany(
            "INSERT INTO answer (interview_id, item_id, result, note) VALUES (?, ?, ?, ?)",
            list(rows))

    def add_rectification(self, issue_id: int, measures: str, at: datetime, actor: str) -> int:
        return int(self._conn.execute(insert(RectificationRow).values(
            issue_id=issue_id, measures=measures[:4000], reported_at=at, reported_by=actor)
            .returning(RectificationRow.id)).scalar_one())

    def add_extension(self, issue_id: int, workdays: int, reason: str, approver: str,
                      old_due: date, new_due: date, provisional: bool, at: datetime) -> int:
        return int(self._conn.execute(insert(ExtensionRow).values(
            issue_id=issue_id, workdays=workdays, reason=reason[:1000], approver=approver[:200],
            old_due_on=old_due, new_due_on=new_due, provisional=provisional, approved_at=at)
            .returning(ExtensionRow.id)).scalar_one())

    def extensions(self, issue_id: int) -> list[int]:
        return list(self._conn.execute(select(ExtensionRow.workdays)
                                       .where(ExtensionRow.issue_id == issue_id)
                                       .order_by(ExtensionRow.id)).scalars())

    def add_evidence(self, issue_id: int, ref: EvidenceRef, purpose: str, at: datetime,
                     actor: str) -> None:
        self._sql.insert_ignore(EvidenceRow, [dict(sha256=ref.sha256, size=ref.size,
                                                   added_at=at)], ["sha256"])
        self._sql.insert_ignore(IssueEvidenceRow, [dict(
            issue_id=issue_id, sha256=ref.sha256, purpose=purpose,
            filename=ref.filename[-300:], uploaded_by=actor[:200], added_at=at)],
            ["issue_id", "sha256"])

    def evidence_bytes_of_business(self, uscc: str) -> int:
        return int(self._conn.execute(text(
            "SELECT COALESCE(SUM(e.size), 0) FROM evidence e JOIN issue_evidence ie "
            "ON ie.sha256 = e.sha256 JOIN issue i ON i.id = ie.issue_id WHERE i.uscc = :u"),
            {"u": uscc}).scalar_one())

    def evidence_of(self, issue_id: int) -> list[Evidence]:
        rows = self._conn.execute(
            select(IssueEvidenceRow.sha256, IssueEvidenceRow.filename, EvidenceRow.size,
                   IssueEvidenceRow.purpose, IssueEvidenceRow.uploaded_by,
                   IssueEvidenceRow.added_at)
            .join(EvidenceRow, IssueEvidenceRow.sha256 == EvidenceRow.sha256)
            .where(IssueEvidenceRow.issue_id == issue_id)
            .order_by(IssueEvidenceRow.added_at, IssueEvidenceRow.sha256)).all()
        return [Evidence(r[0], r[1], int(r[2]), r[3], r[4], r[5]) for r in rows]

    def evidence_of_many(self, issue_ids: Sequence[int]) -> dict[int, list[Evidence]]:
        found: dict[int, list[Evidence]] = {i: [] for i in issue_ids}
        ids = [i for i in issue_ids if fits_id(i)]
        for k in range(0, len(ids), 900):
            rows = self._conn.execute(
                select(IssueEvidenceRow.issue_id, IssueEvidenceRow.sha256,
                       IssueEvidenceRow.filename, EvidenceRow.size, IssueEvidenceRow.purpose,
                       IssueEvidenceRow.uploaded_by, IssueEvidenceRow.added_at)
                .join(EvidenceRow, IssueEvidenceRow.sha256 == EvidenceRow.sha256)
                .where(IssueEvidenceRow.issue_id.in_(ids[k:k + 900]))  # type: ignore[attr-defined]
                .order_by(IssueEvidenceRow.added_at, IssueEvidenceRow.sha256)).all()
            for r in rows:
                found[r[0]].append(Evidence(r[1], r[2], int(r[3]), r[4], r[5], r[6]))
        return found

    def metrics(self, campaign_id: int, today: date) -> dict[str, Any]:
        c = self._conn
        p = {"c": campaign_id, "today": today}

        def rows(sql: str) -> list[Any]:
            return list(c.execute(text(sql), p).all())

        visits = dict(rows("SELECT status, COUNT(*) FROM visit WHERE campaign_id = :c "
                           "GROUP BY status"))
        interviews = dict(rows(
            "SELECT i.role, COUNT(*) FROM interview i JOIN visit v ON v.id = i.visit_id "
            "WHERE v.campaign_id = :c GROUP BY i.role"))
        by = {}
        for col in ("category", "severity", "status"):
            by[col] = dict(rows(f"SELECT {col}, COUNT(*) FROM issue WHERE campaign_id = :c "
                                f"GROUP BY {col}"))
        # on_time is the domain's verdict, recorded when the issue was verified.
        verified_on_time = c.execute(text(
            "SELECT COUNT(*) FROM issue WHERE campaign_id = :c AND status = 'verified' AND "
            "on_time = :yes"), {**p, "yes": True}).scalar_one()
        due_or_verified = c.execute(text(
            "SELECT COUNT(*) FROM issue WHERE campaign_id = :c AND (due_on < :today OR "
            "status = 'verified')"), p).scalar_one()
        overdue = rows(
            "SELECT i.id, i.uscc, b.name, b.province_code AS province, i.category, i.severity, "
            "i.status, i.due_on FROM issue i JOIN business b ON b.uscc = i.uscc WHERE i.campaign_id = :c "
            "AND (i.status = 'overdue' OR (i.status IN ('open', 'notified') AND i.due_on < :today)) "
            "ORDER BY i.due_on, i.id")
        provinces = rows(
            "SELECT b.province_code AS code, r.name, COUNT(DISTINCT v.id) AS visits, "
            "COUNT(DISTINCT CASE WHEN v.status = 'done' THEN v.id END) AS visits_done, "
            "COUNT(DISTINCT i.id) AS issues, "
            "COUNT(DISTINCT CASE WHEN i.status = 'verified' THEN i.id END) AS verified "
            "FROM visit v JOIN business b ON b.uscc = v.uscc "
            "LEFT JOIN region r ON r.code = b.province_code "
            "LEFT JOIN issue i ON i.visit_id = v.id WHERE v.campaign_id = :c "
            "GROUP BY b.province_code, r.name ORDER BY b.province_code")
        return {"visits": {k: int(v) for k, v in visits.items()},
                "interviews": {k: int(v) for k, v in interviews.items()},
                "issues_by": {k: {a: int(b) for a, b in v.items()} for k, v in by.items()},
                "verified_on_time": int(verified_on_time),
                "due_or_verified": int(due_or_verified),
                "overdue": [{**r._mapping, "due_on": str(r._mapping["due_on"])} for r in overdue],
                "provinces": [{**{k: int(v) for k, v in r._mapping.items()
                                  if k not in ("code", "name")},
                               "code": r.code, "name": r.name or r.code} for r in provinces]}


class SqlEventLog:
    """The hash-chained event log. Appends are serialised: SQLite's IMMEDIATE transactions hold
    the write lock; on PostgreSQL a transaction-scoped advisory lock does the same."""

    _LOCK_KEY = 7_041_642  # any constant shared by every Lookback process

    def __init__(self, session: Session) -> None:
        self.session = session
        self._sql = _Sql(session)
        self._head: tuple[int, str] | None = None

    def _read_head(self) -> tuple[int, str]:
        conn = self.session.connection()
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": self._LOCK_KEY})
        row = conn.execute(select(EventRow.seq, EventRow.hash)
                           .order_by(EventRow.seq.desc()).limit(1)).first()  # type: ignore[attr-defined]
        return (int(row[0]), str(row[1])) if row else (0, GENESIS)

    def append(self, *, at: datetime, actor: str, kind: str, entity: str,
               payload: dict[str, Any]) -> Event:
        if self._head is None:
            self._head = self._read_head()
        seq, prev = self._head
        event = make_event(seq + 1, prev, at, actor, kind, entity, payload)
        self.session.connection().execute(insert(EventRow).values(
            seq=event.seq, at=event.at.isoformat(), actor=event.actor, kind=event.kind,
            entity=event.entity,
            payload=event.payload_json, prev_hash=event.prev_hash, hash=event.hash))
        self._head = (event.seq, event.hash)
        return event

    def append_many(self, items: Sequence[tuple[datetime, str, str, str, dict[str, Any]]]) -> list[Event]:
        """Append events in order with one executemany (the chain is computed here, in Python)."""
        if not items:
            return []
        if self._head is None:
            self._head = self._read_head()
        seq, prev = self._head
        events, rows = [], []
        at_text: dict[int, str] = {}  # id(at) -> at.isoformat(): a batch shares one instant
        for at, actor, kind, entity, payload in items:
            seq += 1
            e = make_event(seq, prev, at, actor, kind, entity, payload)
            events.append(e)
            prev = e.hash
            when = at_text.get(id(at))
            if when is None:
                when = at_text[id(at)] = at.isoformat()
            rows.append((seq, when, e.actor, e.kind, e.entity, e.payload_json, e.prev_hash,
                         e.hash))
        self._sql.executemany(
            "INSERT INTO event (seq, at, actor, kind, entity, payload, prev_hash, hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        self._head = (seq, prev)
        return events

    def reset(self) -> None:
        """Forget the cached head (after a rollback)."""
        self._head = None

    @staticmethod
    def _event(r: Any) -> Event:
        return Event(int(r.seq), datetime.fromisoformat(r.at), r.actor, r.kind, r.entity,
                     json.loads(r.payload), r.prev_hash, r.hash)

    def all(self) -> Iterator[Event]:
        result = self.session.connection().execution_options(yield_per=5000).execute(
            select(EventRow).order_by(EventRow.seq))  # type: ignore[arg-type]
        for r in result:
            yield self._event(r)

    def for_entity(self, entity: str) -> list[Event]:
        rows = self.session.connection().execute(
            select(EventRow).where(EventRow.entity == entity).order_by(EventRow.seq)).all()  # type: ignore[arg-type]
        return [self._event(r) for r in rows]

    def count(self) -> int:
        return int(self.session.connection().execute(
            select(func.count()).select_from(EventRow)).scalar_one())
