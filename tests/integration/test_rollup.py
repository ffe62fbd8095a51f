"""The roll-up's queries on a real database (SQLite, and PostgreSQL in the PostgreSQL pass):
per region and in total, for the country and for a territory, against rows written here."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.engine import Engine

from domain import rollup as ru
from domain.offices import OfficeLevel
from storage.uow import SqlUnitOfWork

TODAY = date(2026, 12, 7)
# uscc, region, director, officer, assigned
BUSINESSES = [("910000000000000001", "440106", "张", "李", True),
              ("910000000000000002", "440106", "张", "", True),
              ("910000000000000003", "440305", "", "", False),
              ("910000000000000004", "320102", "王", "赵", True),
              ("910000000000000005", "320102", "王", "赵", False)]
# uscc, status, due_on, on_time, escalation
ISSUES = [("910000000000000001", "verified", "2026-11-01", True, 0),
          ("910000000000000001", "open", "2026-11-20", None, 1),  # overdue by date
          ("910000000000000003", "overdue", "2026-10-01", None, 2),
          ("910000000000000004", "verified", "2026-12-30", False, 0),
          ("910000000000000005", "reported", "2026-12-30", None, 0)]


def _fill(engine: Engine) -> None:
    now = "2026-10-01 00:00:00"
    with engine.begin() as c:
        for uscc, region, director, officer, _ in BUSINESSES:
            c.execute(text("INSERT INTO business (uscc, name, region_code, province_code, "
                           "category, risk_level, address, director, officer, status) VALUES "
                           "(:u, 'x', :r, :p, 'catering', 'B', '', :d, :o, 'active')"),
                      {"u": uscc, "r": region, "p": region[:2] + "0000", "d": director,
                       "o": officer})
        c.execute(text("INSERT INTO cadre (cadre_id, name, level, region_code, position, phone) "
                       "VALUES ('C1', '干部', 'township', '440106', '', '')"))
        for uscc, *_rest, assigned in BUSINESSES:
            if assigned:
                c.execute(text("INSERT INTO cadre_assignment (cadre_id, uscc) VALUES ('C1', :u)"),
                          {"u": uscc})
        # what the cadre import keeps (test_the_cadre_import_keeps_the_covered_flag)
        c.execute(text("UPDATE business SET covered = EXISTS (SELECT 1 FROM cadre_assignment a "
                       "WHERE a.uscc = business.uscc)"))
        for n, cid in ((1, 1), (2, 2)):
            c.execute(text("INSERT INTO campaign (id, office, office_short, title, kind, status, "
                           "starts_on, ends_on, seed, seed_auto, plan_json, plan_source, "
                           "created_at) VALUES (:id, 'o', 'o', :t, 'inspection', 'launched', "
                           "'2026-09-01', '2026-12-31', 's', false, '{}', '', :now)"),
                      {"id": cid, "t": f"c{n}", "now": now})
        for n, (uscc, status, due, on_time, esc) in enumerate(ISSUES):
            c.execute(text(
                "INSERT INTO issue (campaign_id, uscc, item_id, category, severity, description, "
                "legal_basis, status, found_on, rect_workdays, due_on, due_provisional, "
                "escalation, on_time, version, created_at, updated_at) VALUES (:c, :u, :item, "
                "'records', 'general', 'x', '', :s, '2026-09-15', 10, :due, false, :e, :ot, 1, "
                ":now, :now)"),
                {"c": 1 if n < 3 else 2, "u": uscc, "item": f"I{n}", "s": status, "due": due,
                 "e": esc, "ot": on_time, "now": now})
        for uscc, status in (("910000000000000001", "done"), ("910000000000000002", "open"),
                             ("910000000000000004", "done")):
            c.execute(text(
                "INSERT INTO supervision_visit (cadre_id, uscc, level, period, period_start, "
                "period_end, status, opened_at, note, recorded_by) VALUES ('C1', :u, "
                "'township', '2026Q4', '2026-10-01', '2026-10-31', :s, :now, '', '')"),
                {"u": uscc, "s": status, "now": now})


def test_the_country_by_province_and_a_province_by_city(
        engine: Engine, uow_factory: Callable[[], SqlUnitOfWork]) -> None:
    _fill(engine)
    period = "2026Q4"
    r = ru.rollup(territory="", office_level=OfficeLevel.NATIONAL, period=period, today=TODAY,
                  uow_factory=uow_factory)
    rows = {row.counts.code: row.as_dict() for row in r.rows}
    assert set(rows) == {"44", "32"} and r.level == "province"
    gd, js = rows["44"], rows["32"]
    assert (gd["businesses"], gd["covered"], gd["staffed"]) == (3, 2, 1)
    assert (js["businesses"], js["covered"], js["staffed"]) == (2, 1, 2)
    assert (gd["issues"], gd["verified"], gd["verified_on_time"], gd["overdue"],
            gd["escalated"], gd["campaigns"]) == (3, 1, 1, 2, 2, 1)
    assert (js["issues"], js["verified"], js["verified_on_time"], js["campaigns"]) == (2, 1, 0, 1)
    assert (gd["supervision_required"], gd["supervision_done"], gd["supervision_overdue"]) == \
        (2, 1, 1)
    assert gd["name"] == "广东省"
    total = r.total.as_dict()
    assert total["businesses"] == 5 and total["issues"] == 5
    assert total["campaigns"] == 2  # each campaign once, not once per province
    assert total["coverage_rate"] == 3 / 5
    province = ru.rollup(territory="44", office_level=OfficeLevel.PROVINCE, period=period,
                         today=TODAY, uow_factory=uow_factory)
    assert {row.counts.code: row.counts.businesses for row in province.rows} == {
        "4401": 2, "4403": 1}
    assert province.total.counts.issues == 3 and province.total.counts.campaigns == 1


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(imports=st.lists(st.dictionaries(st.sampled_from(["C1", "C2", "C3"]),
                                         st.sets(st.integers(0, 4), max_size=3),
                                         min_size=1, max_size=3), min_size=1, max_size=4))
def test_the_cadre_import_keeps_the_covered_flag(
        engine: Engine, uow_factory: Callable[[], SqlUnitOfWork],
        imports: list[dict[str, set[int]]]) -> None:
    """Whatever cadre files are imported one after another (each row the whole truth about that
    official's businesses), ``business.covered`` is exactly "has an assigned official", which the
    roll-up's coverage sums."""
    from domain.registers import Cadre, CadreLevel, RegisterKind

    usccs = [b[0] for b in BUSINESSES]
    with engine.begin() as c:
        for table in ("cadre_assignment", "cadre", "business"):
            c.execute(text(f"DELETE FROM {table}"))
        c.execute(text("DELETE FROM import_run"))
        for uscc, region, *_ in BUSINESSES:
            c.execute(text("INSERT INTO business (uscc, name, region_code, province_code, "
                           "category, risk_level, address, director, officer, status) VALUES "
                           "(:u, 'x', :r, :p, 'catering', 'B', '', '', '', 'active')"),
                      {"u": uscc, "r": region, "p": region[:2] + "0000"})
        run_id = c.execute(text(
            "INSERT INTO import_run (kind, source, sha256, started_at, status, strict, read, "
            "inserted, updated, rejected, warnings) VALUES ('cadres', 't', '', :now, 'done', "
            "false, 0, 0, 0, 0, 0) RETURNING id"), {"now": "2026-10-01 00:00:00"}).scalar_one()
    truth: dict[str, set[int]] = {}
    for batch in imports:
        rows = [(n, Cadre(cid, "干部", CadreLevel.TOWNSHIP, "440106",
                          assigned_uscc=tuple(usccs[i] for i in sorted(which))))
                for n, (cid, which) in enumerate(sorted(batch.items()), start=2)]
        with uow_factory() as uow:
            uow.registers.upsert(RegisterKind.CADRES, rows, run_id)
            uow.commit()
        for _n, cadre in rows:
            truth[cadre.cadre_id] = {usccs.index(u) for u in cadre.assigned_uscc}
        with engine.connect() as c:
            flagged = {str(u) for (u,) in c.execute(text(
                "SELECT uscc FROM business WHERE covered"))}
        assert flagged == {usccs[i] for which in truth.values() for i in which}
