"""Migration 0008 on a database written under the old rules.

At revision 0007 an issue whose rectification was reported before its due date was still marked
overdue when the date passed, and routine-supervision findings lived in their own table. The
upgrade puts such issues back to ``rectification_reported`` (one ``issue.overdue_corrected`` event
each, old events untouched, the chain still verifying), records report dates and on-time flags,
and turns each supervision finding into an issue with its follow-ups.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from domain.events import GENESIS, make_event, verify_chain
from storage import migrate
from storage.db import make_engine
from storage.fieldwork import SqlEventLog
from storage.uow import SqlUnitOfWork

pytestmark = pytest.mark.sqlite_only  # the old schema is built with SQLite's literals here

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
USCC = ["91110101MA0000001X", "91110101MA0000002X", "91110101MA0000003X", "91110101MA0000004X"]


def _upgrade_to(engine: Engine, revision: str) -> None:
    migrate.upgrade(engine, revision)


class _OldWorld:
    """Rows and a valid event chain as Lookback wrote them at revision 0007."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.seq, self.prev = 0, GENESIS

    def sql(self, statement: str, **params: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(text(statement), params)

    def event(self, at: datetime, kind: str, entity: str, payload: dict[str, Any]) -> None:
        e = make_event(self.seq + 1, self.prev, at, "old", kind, entity, payload)
        self.sql("INSERT INTO event (seq, at, actor, kind, entity, payload, prev_hash, hash) "
                 "VALUES (:s, :at, :a, :k, :e, :p, :ph, :h)", s=e.seq, at=e.at.isoformat(),
                 a=e.actor, k=e.kind, e=e.entity, p=e.payload_json, ph=e.prev_hash, h=e.hash)
        self.seq, self.prev = e.seq, e.hash


@pytest.fixture
def old_db(tmp_path: Any) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    _upgrade_to(engine, "0007")
    w = _OldWorld(engine)
    w.sql("INSERT INTO region (code, name, level) VALUES ('110000', '北京市', 'province'), "
          "('110101', '东城区', 'county')")
    for u in USCC:
        w.sql("INSERT INTO business (uscc, name, region_code, province_code, category, "
              "risk_level, address, director, officer, status) VALUES (:u, :n, '110101', "
              "'110000', 'catering', 'B', '地址', '总监', '安全员', 'active')", u=u, n=f"主体{u[-3:]}")
    w.sql("INSERT INTO campaign (id, office, office_short, title, kind, status, starts_on, ends_on,"
          " seed, seed_auto, plan_json, plan_source, created_at) VALUES (1, '食安办', '食安办', "
          "'督查', 'inspection', 'launched', '2026-03-01', '2026-06-30', 's', 0, "
          "'{\"rectification_days\": {\"general\": 10}}', 'plan', :at)", at=T0.isoformat())
    for n, u in enumerate(USCC, start=1):
        w.sql("INSERT INTO visit (id, campaign_id, uscc, team_no, status, stratum) VALUES "
              "(:i, 1, :u, 1, 'done', 'x')", i=n, u=u)
    # Issue 1: reported on 03-05 (due 03-16), then marked overdue by the old sweep: to correct.
    # Issue 2: nothing reported, marked overdue: stays overdue.
    # Issue 3: reported on 03-05, marked overdue, then verified: on time now.
    # Issue 4: reported on 03-20, after its due date: verified late, not on time.
    status = {1: "overdue", 2: "overdue", 3: "verified", 4: "verified"}
    for n in range(1, 5):
        w.sql("INSERT INTO issue (id, campaign_id, visit_id, uscc, category, severity, "
              "description, legal_basis, status, found_on, rect_workdays, due_on, "
              "due_provisional, escalation, version, created_at, updated_at) VALUES (:i, 1, :i, "
              ":u, 'records', 'general', '台账缺失', '', :s, '2026-03-02', 10, '2026-03-16', 0, 0, "
              "3, :at, :at)", i=n, u=USCC[n - 1], s=status[n], at=T0.isoformat())
        w.event(T0, "issue.registered", f"issue:{n}", {"visit": n, "due_on": "2026-03-16"})
    for n, day in ((1, 5), (3, 5), (4, 20)):
        at = datetime(2026, 3, day, 2, 0, tzinfo=UTC)
        w.sql("INSERT INTO rectification (issue_id, measures, reported_at, reported_by) VALUES "
              "(:i, '已整改', :at, 'biz')", i=n, at=at.isoformat())
        w.event(at, "issue.report_rectification", f"issue:{n}",
                {"from": "open", "to": "rectification_reported"})
    marked = datetime(2026, 3, 17, 0, 0, tzinfo=UTC)
    for n in (1, 2, 3):
        before = "open" if n == 2 else "rectification_reported"
        w.event(marked, "issue.mark_overdue", f"issue:{n}", {"from": before, "to": "overdue"})
    # A supervision visit with one finding in the old table.
    w.sql("INSERT INTO cadre (cadre_id, name, level, region_code, position, phone) VALUES "
          "('C1', '王干部', 'township', '110101', '干部', '1')")
    w.sql("INSERT INTO supervision_visit (id, cadre_id, uscc, level, period, period_start, "
          "period_end, status, opened_at, done_on, note, recorded_by, recorded_at) VALUES (1, "
          "'C1', :u, 'township', '2026-03', '2026-03-01', '2026-03-31', 'done', :at, "
          "'2026-03-10', '督导', 'C1', :at)", u=USCC[0], at=T0.isoformat())
    w.sql("INSERT INTO supervision_finding (supervision_visit_id, category, severity, "
          "description, due_on, due_provisional) VALUES (1, 'hygiene_storage', 'general', "
          "'过期牛奶', '2026-03-24', 0)")
    return engine


def _events(engine: Engine) -> list[Any]:
    with SqlUnitOfWork(engine) as uow:
        assert isinstance(uow.events, SqlEventLog)
        return list(uow.events.all())


def test_the_upgrade_corrects_overdue_and_moves_findings_into_issues(old_db: Engine) -> None:
    old_events = _events(old_db)
    assert verify_chain(old_events).ok
    _upgrade_to(old_db, "head")
    with old_db.connect() as conn:
        rows = {r[0]: r[1:] for r in conn.execute(text(
            "SELECT id, status, reported_on, on_time, version, supervision_visit_id, campaign_id "
            "FROM issue ORDER BY id"))}
        followups = conn.execute(text(
            "SELECT issue_id, kind, revision, status FROM followup ORDER BY id")).all()
        tables = {r[0] for r in conn.execute(text("SELECT name FROM sqlite_master"))}
    assert rows[1][:2] == ("rectification_reported", "2026-03-05") and rows[1][3] == 4
    assert rows[2][0] == "overdue" and rows[2][1] is None and rows[2][3] == 3
    assert rows[3][0] == "verified" and bool(rows[3][2]) is True
    assert rows[4][0] == "verified" and bool(rows[4][2]) is False
    # The supervision finding is issue 5: no campaign, its visit, open, with its follow-ups.
    assert rows[5][0] == "open" and rows[5][4:] == (1, None)
    assert {(f[1], f[2], f[3]) for f in followups if f[0] == 5} >= {("review", 1, "pending")}
    assert "supervision_finding" not in tables

    events = _events(old_db)
    assert events[: len(old_events)] == old_events  # old events untouched
    new = events[len(old_events):]
    assert [(e.kind, e.entity) for e in new] == [("issue.overdue_corrected", "issue:1"),
                                                 ("issue.registered", "issue:5")]
    assert new[0].payload["from"] == "overdue" and new[0].payload["to"] == "rectification_reported"
    assert verify_chain(events).ok

    # Upgrading again does nothing more.
    _upgrade_to(old_db, "head")
    assert len(_events(old_db)) == len(events)


def test_metrics_after_the_upgrade_count_the_early_report_as_on_time(old_db: Engine) -> None:
    _upgrade_to(old_db, "head")
    with SqlUnitOfWork(old_db) as uow:
        raw = uow.fieldwork.metrics(1, date(2026, 4, 1))
    # Issues 3 (on time) and 4 (late) are verified; all four are past due.
    assert raw["verified_on_time"] == 1 and raw["due_or_verified"] == 4
    # Issue 1 waits for its look-back: not in the overdue list; issue 2 is.
    assert [o["id"] for o in raw["overdue"]] == [2]
