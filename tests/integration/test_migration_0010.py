"""Migration 0010 on a database where evidence names were kept per blob.

At revision 0009 the same bytes attached to two issues showed the first uploader's name on both.
The upgrade moves name, uploader and time onto each link, taking them from the event log; a link
whose own name the log does not hold gets a neutral name unless it was the blob's first link.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from domain.events import verify_chain
from storage import migrate
from storage.db import make_engine
from storage.fieldwork import SqlEventLog
from storage.uow import SqlUnitOfWork
from tests.integration.test_migration_0008 import USCC, _OldWorld

pytestmark = pytest.mark.sqlite_only  # the old schema is built with SQLite's literals here

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
SHARED, OTHER = "a" * 64, "b" * 64


def test_each_link_gets_its_own_name_and_uploader(tmp_path: Any) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    migrate.upgrade(engine, "0009")
    w = _OldWorld(engine)
    w.sql("INSERT INTO region (code, name, level) VALUES ('110000', '北京市', 'province'), "
          "('110101', '东城区', 'county')")
    for u in USCC[:3]:
        w.sql("INSERT INTO business (uscc, name, region_code, province_code, category, "
              "risk_level, address, director, officer, status) VALUES (:u, :n, '110101', "
              "'110000', 'catering', 'B', '地址', '总监', '安全员', 'active')", u=u, n=u[-3:])
    w.sql("INSERT INTO campaign (id, office, office_short, title, kind, status, starts_on, ends_on,"
          " seed, seed_auto, plan_json, plan_source, created_at) VALUES (1, '食安办', '食安办', "
          "'督查', 'inspection', 'launched', '2026-03-01', '2026-06-30', 's', 0, '{}', 'plan', "
          ":at)", at=T0.isoformat())
    for n, u in enumerate(USCC[:3], start=1):
        w.sql("INSERT INTO visit (id, campaign_id, uscc, team_no, status, stratum) VALUES "
              "(:i, 1, :u, :t, 'done', 'x')", i=n, u=u, t=n)
        w.sql("INSERT INTO issue (id, campaign_id, visit_id, uscc, category, severity, "
              "description, legal_basis, status, found_on, rect_workdays, due_on, "
              "due_provisional, escalation, version, created_at, updated_at) VALUES (:i, 1, :i, "
              ":u, 'records', 'general', '台账缺失', '', 'open', '2026-03-02', 10, '2026-03-16', "
              "0, 0, 1, :at, :at)", i=n, u=u, at=T0.isoformat())
    # Issue 1 (team 1) sent the shared bytes first, through the API; issue 2 (team 2) sent them
    # later under its own name, also through the API; issue 3 attached them with a rectification
    # report, whose event lists the bytes but not the name.
    t1, t2, t3 = T0, T0 + timedelta(days=1), T0 + timedelta(days=2)
    w.sql("INSERT INTO evidence (sha256, size, filename, added_at) VALUES (:s, 10, '私密.jpg', "
          ":at), (:o, 20, 'other.pdf', :at)", s=SHARED, o=OTHER, at=t1.isoformat())
    for issue, sha in ((1, SHARED), (2, SHARED), (3, SHARED), (1, OTHER)):
        w.sql("INSERT INTO issue_evidence (issue_id, sha256, purpose) VALUES (:i, :s, 'finding')",
              i=issue, s=sha)
    w.event(t1, "issue.evidence_added", "issue:1",
            {"sha256": SHARED, "filename": "私密.jpg", "size": 10, "purpose": "finding"})
    w.event(t2, "issue.evidence_added", "issue:2",
            {"sha256": SHARED, "filename": "二队.jpg", "size": 10, "purpose": "finding"})
    w.event(t3, "issue.report_rectification", "issue:3",
            {"from": "open", "to": "rectification_reported", "evidence": [SHARED]})
    # OTHER has no event at all: it keeps its own old name (its only link).

    migrate.upgrade(engine)
    with engine.connect() as conn:
        rows = {(r[0], r[1]): tuple(r[2:]) for r in conn.execute(text(
            "SELECT issue_id, sha256, filename, uploaded_by, added_at FROM issue_evidence"))}
        columns = [r[1] for r in conn.execute(text("PRAGMA table_info(evidence)"))]
    assert "filename" not in columns
    assert rows[(1, SHARED)][:2] == ("私密.jpg", "old")
    assert rows[(2, SHARED)][:2] == ("二队.jpg", "old")
    assert rows[(3, SHARED)][:2] == (f"evidence-{SHARED[:12]}", "old")  # never 私密.jpg
    assert rows[(1, OTHER)][:2] == ("other.pdf", "")
    assert str(rows[(3, SHARED)][2]).startswith(t3.strftime("%Y-%m-%d %H:%M"))

    with SqlUnitOfWork(engine) as uow:
        links = uow.fieldwork.evidence_of(2)
        assert isinstance(uow.events, SqlEventLog)
        events = list(uow.events.all())
    assert [(e.filename, e.uploaded_by, e.added_at) for e in links] == [("二队.jpg", "old", t2)]
    assert verify_chain(events).ok and len(events) == 3  # the migration writes no event
