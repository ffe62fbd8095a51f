"""Migrations 0013 and 0014 on a database with users and assigned officials: users gain an empty
``cadre_id``, and every business with an assigned official is marked ``covered`` (the roll-up's
coverage) while the others are not."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from storage import migrate
from storage.db import make_engine

pytestmark = pytest.mark.sqlite_only  # the old schema is built on a SQLite file here


def test_covered_is_filled_from_the_assignments(tmp_path: Any) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    migrate.upgrade(engine, "0012")
    with engine.begin() as c:
        c.execute(text("INSERT INTO region (code, name, level) VALUES ('110000', '北京市', "
                       "'province'), ('110101', '东城区', 'county')"))
        for n in range(3):
            c.execute(text("INSERT INTO business (uscc, name, region_code, province_code, "
                           "category, risk_level, address, director, officer, status) VALUES "
                           "(:u, 'x', '110101', '110000', 'catering', 'B', '', '', '', "
                           "'active')"), {"u": f"91000000000000000{n}"})
        c.execute(text("INSERT INTO cadre (cadre_id, name, level, region_code, position, phone) "
                       "VALUES ('C1', '干部', 'township', '110101', '', '')"))
        c.execute(text("INSERT INTO cadre_assignment (cadre_id, uscc) VALUES ('C1', "
                       "'910000000000000001')"))
        c.execute(text("INSERT INTO api_user (name, role, token_sha256, created_at, "
                       "must_change_password, failed_logins) VALUES ('u', 'viewer', 'h', "
                       "'2026-01-01', 0, 0)"))
    before, after = migrate.upgrade(engine)
    assert (before, after) == ("0012", migrate.HEAD)
    with engine.connect() as c:
        covered = {u: bool(v) for u, v in c.execute(text("SELECT uscc, covered FROM business"))}
        cadre = c.execute(text("SELECT cadre_id FROM api_user")).scalar_one()
    assert covered == {"910000000000000000": False, "910000000000000001": True,
                       "910000000000000002": False}
    assert cadre is None
