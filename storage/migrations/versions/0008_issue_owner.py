"""issues from routine supervision, report dates, on-time flags, overdue corrected

- ``issue`` gets ``supervision_visit_id`` (a finding of routine supervision is an issue like any
  other; its ``campaign_id`` and ``visit_id`` are then empty), ``reported_on`` (the China date of
  the latest rectification report) and ``on_time`` (set when verified).
- The rows of ``supervision_finding`` become issues, each with an ``issue.registered`` event and
  its follow-ups (counted with the packaged official calendar), and the table goes.
- Overdue now means "the due date passed with no rectification reported". Every issue that was
  marked overdue although its rectification had been reported (its last ``issue.mark_overdue``
  came from ``rectification_reported``) and is still overdue goes back to
  ``rectification_reported``, with one ``issue.overdue_corrected`` event each. Old events are not
  touched: the new ones continue the hash chain, which still verifies.
- Verified issues get ``on_time`` under the same rule the domain applies from now on.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 12:55:00
"""
from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: Union[str, None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

ACTOR = "migration:0008"


def _sql(statement: str) -> sa.TextClause:
    """A statement whose date and time parameters bind as the tables' own column types."""
    from sqlmodel.sql.sqltypes import UTCDateTime

    names = set(re.findall(r":([a-z_]+)", statement))
    types = {"now": UTCDateTime(), "at": UTCDateTime(), "d": sa.Date(), "found": sa.Date(),
             "due": sa.Date(), "fdue": sa.Date()}
    return sa.text(statement).bindparams(*[sa.bindparam(n, type_=t) for n, t in types.items()
                                           if n in names])


def _date(v: Any) -> date | None:
    if v is None or isinstance(v, date):
        return v
    return date.fromisoformat(str(v)[:10])


def _instant(v: Any) -> datetime:
    d = v if isinstance(v, datetime) else datetime.fromisoformat(str(v))
    return d if d.tzinfo else d.replace(tzinfo=UTC)


class _Chain:
    """Appends events to the hash chain from inside the migration."""

    def __init__(self, conn: sa.Connection) -> None:
        from domain.events import GENESIS

        self.conn = conn
        row = conn.execute(sa.text("SELECT seq, hash FROM event ORDER BY seq DESC LIMIT 1")).first()
        self.seq, self.prev = (int(row[0]), str(row[1])) if row else (0, GENESIS)

    def append(self, at: datetime, kind: str, entity: str, payload: dict[str, Any]) -> None:
        from domain.events import make_event

        e = make_event(self.seq + 1, self.prev, at, ACTOR, kind, entity, payload)
        self.conn.execute(sa.text(
            "INSERT INTO event (seq, at, actor, kind, entity, payload, prev_hash, hash) "
            "VALUES (:seq, :at, :actor, :kind, :entity, :payload, :prev, :hash)"),
            {"seq": e.seq, "at": e.at.isoformat(), "actor": e.actor, "kind": e.kind,
             "entity": e.entity, "payload": e.payload_json, "prev": e.prev_hash, "hash": e.hash})
        self.seq, self.prev = e.seq, e.hash


def upgrade() -> None:
    conn = op.get_bind()  # on SQLite, storage.migrate runs this with foreign keys off
    with op.batch_alter_table('issue', schema=None) as batch_op:
        batch_op.alter_column('campaign_id', existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column('visit_id', existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column('supervision_visit_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('reported_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('on_time', sa.Boolean(), nullable=True))
        batch_op.create_index(batch_op.f('ix_issue_supervision_visit_id'),
                              ['supervision_visit_id'], unique=False)
        batch_op.create_foreign_key('fk_issue_supervision_visit_id', 'supervision_visit',
                                    ['supervision_visit_id'], ['id'])

    now = datetime.now(UTC)
    chain = _Chain(conn)
    _report_dates(conn)
    _correct_overdue(conn, chain, now)
    _on_time(conn)
    _findings_to_issues(conn, chain, now)

    with op.batch_alter_table('supervision_finding', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_supervision_finding_supervision_visit_id'))
    op.drop_table('supervision_finding')


def _report_dates(conn: sa.Connection) -> None:
    from domain.clock import china_date

    latest: dict[int, date] = {}
    for issue_id, at in conn.execute(sa.text(
            "SELECT issue_id, reported_at FROM rectification ORDER BY id")):
        latest[int(issue_id)] = china_date(_instant(at))
    for issue_id, d in latest.items():
        conn.execute(_sql("UPDATE issue SET reported_on = :d WHERE id = :i"),
                     {"d": d, "i": issue_id})


def _correct_overdue(conn: sa.Connection, chain: _Chain, now: datetime) -> None:
    last_mark: dict[str, dict[str, Any]] = {}
    for entity, payload in conn.execute(sa.text(
            "SELECT entity, payload FROM event WHERE kind = 'issue.mark_overdue' ORDER BY seq")):
        last_mark[str(entity)] = json.loads(payload)
    for entity, p in sorted(last_mark.items(), key=lambda kv: int(kv[0].split(":")[1])):
        if p.get("from") != "rectification_reported":
            continue
        issue_id = int(entity.split(":")[1])
        row = conn.execute(sa.text(
            "SELECT status, due_on, due_provisional, escalation, version FROM issue "
            "WHERE id = :i"), {"i": issue_id}).first()
        if row is None or row[0] != "overdue":
            continue  # changed since (verified, reported again, extended): nothing to correct
        conn.execute(_sql(
            "UPDATE issue SET status = 'rectification_reported', version = version + 1, "
            "updated_at = :now WHERE id = :i"), {"now": now, "i": issue_id})
        chain.append(now, "issue.overdue_corrected", entity, {
            "from": "overdue", "to": "rectification_reported",
            "due_on": str(_date(row[1])), "provisional": bool(row[2]),
            "escalation": int(row[3]),
            "reason": "rectification was reported before it was marked overdue; overdue means "
                      "nothing was reported by the due date"})


def _on_time(conn: sa.Connection) -> None:
    conn.execute(sa.text(
        "UPDATE issue SET on_time = (reported_on IS NOT NULL AND reported_on <= due_on "
        "AND escalation = 0) WHERE status = 'verified'"))


def _findings_to_issues(conn: sa.Connection, chain: _Chain, now: datetime) -> None:
    from domain.followup_plan import plan_for
    from domain.vocabulary import DEFAULT_RECT_WORKDAYS
    from domain.workdays import add_workdays
    from storage.calendar import ChineseCalendarSource

    rows = conn.execute(sa.text(
        "SELECT f.id, f.supervision_visit_id, f.category, f.severity, f.description, f.due_on, "
        "f.due_provisional, v.uscc, v.done_on, v.recorded_at, v.cadre_id "
        "FROM supervision_finding f JOIN supervision_visit v ON v.id = f.supervision_visit_id "
        "ORDER BY f.id")).all()
    if not rows:
        return
    calendar = ChineseCalendarSource(Path("/nonexistent-lookback-calendar"))  # the package's
    for r in rows:
        found = _date(r[8]) or _date(r[5]) or now.date()
        at = _instant(r[9]) if r[9] is not None else now
        days = DEFAULT_RECT_WORKDAYS.get(str(r[3]), 10)
        due_on = _date(r[5]) or add_workdays(found, days, calendar).date
        issue_id = int(conn.execute(_sql(
            "INSERT INTO issue (supervision_visit_id, uscc, category, severity, description, "
            "legal_basis, status, found_on, rect_workdays, due_on, due_provisional, due_basis, "
            "due_workdays, escalation, version, created_at, updated_at) VALUES (:sv, :uscc, "
            ":cat, :sev, :desc, '', 'open', :found, :days, :due, :prov, :found, :days, 0, 1, "
            ":at, :at) RETURNING id"),
            {"sv": r[1], "uscc": r[7], "cat": str(r[2])[:40], "sev": r[3], "desc": r[4],
             "found": found, "days": days, "due": due_on, "prov": bool(r[6]),
             "at": at}).scalar_one())
        for fu in plan_for(issue_id, 1, due_on, team_no=None, calendar=calendar,
                           today=now.date()):
            conn.execute(_sql(
                "INSERT INTO followup (issue_id, kind, revision, due_on, due_at, status, "
                "created_at, fired_by, outcome, note, recorded_by) VALUES (:i, :k, :rev, :d, "
                ":due_at_s, 'pending', :now, '', '', '', '')"),
                {"i": issue_id, "k": fu.kind, "rev": fu.revision, "d": fu.due_on,
                 "due_at_s": fu.due_at, "now": now})
        chain.append(now, "issue.registered", f"issue:{issue_id}", {
            "supervision": int(r[1]), "uscc": r[7], "category": r[2], "severity": r[3],
            "due_on": due_on.isoformat(), "provisional": bool(r[6]), "from": "supervision",
            "cadre": r[10], "finding": int(r[0])})


def downgrade() -> None:
    raise NotImplementedError("0008 moves supervision findings into issues and corrects "
                              "overdue issues; restore a backup to go back")
