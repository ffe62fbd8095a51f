"""Supervision (包保督导) on a real database: opening due visits set-based and idempotently,
recording with findings and leads, the completion rate by province and level (hand-computed),
the overdue list, and the referral counts of the register statistics.

Runs on SQLite, and on PostgreSQL when LOOKBACK_TEST_DATABASE_URL is set."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from domain import supervision as sv
from domain.clock import FixedClock
from domain.errors import ConflictError, NotFoundError
from domain.stats import register_stats
from storage.calendar import ChineseCalendarSource
from storage.uow import SqlUnitOfWork
from tests.integration._support import count

# Friday 20 November 2026, 09:00 in Beijing.
CLOCK = FixedClock(datetime(2026, 11, 20, 1, 0, tzinfo=UTC))
TODAY = date(2026, 11, 20)
B1, B2, B3, B4 = ("911101010000000001", "911101010000000002", "914401000000000003",
                  "914401000000000004")


def _seed(engine: Engine) -> None:
    """B1, B2 in Beijing; B3 and the closed B4 in Guangdong. P1 (province) → B1; C1 (county) →
    B1, B3; T1 (township) → B2, B3, B4; V1 (village) → B3."""
    with engine.begin() as conn:
        for uscc, prov, status in ((B1, "110000", "active"), (B2, "110000", "active"),
                                   (B3, "440000", "active"), (B4, "440000", "closed")):
            conn.execute(text(
                "INSERT INTO business (uscc, name, region_code, province_code, category, "
                "risk_level, address, director, officer, status) VALUES (:u, :n, :r, :p, "
                "'catering', 'B', '', '', '', :s)"),
                {"u": uscc, "n": f"主体{uscc[-1]}", "r": prov[:2] + "0101", "p": prov, "s": status})
        for cid, level in (("P1", "province"), ("C1", "county"), ("T1", "township"),
                           ("V1", "village")):
            _cadre(conn, cid, level)
        for cid, uscc in (("P1", B1), ("C1", B1), ("C1", B3), ("T1", B2), ("T1", B3),
                          ("T1", B4), ("V1", B3)):
            _assign(conn, cid, uscc)


def _cadre(conn: object, cid: str, level: str) -> None:
    conn.execute(text("INSERT INTO cadre (cadre_id, name, level, region_code, position, phone) "  # type: ignore[attr-defined]
                      "VALUES (:c, :n, :l, '110101', '', '')"), {"c": cid, "n": f"干部{cid}",
                                                                 "l": level})


def _assign(conn: object, cid: str, uscc: str) -> None:
    conn.execute(text("INSERT INTO cadre_assignment (cadre_id, uscc) VALUES (:c, :u)"),  # type: ignore[attr-defined]
                 {"c": cid, "u": uscc})


def _events(engine: Engine, kind: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT COUNT(*) FROM event WHERE kind = :k"),
                                {"k": kind}).scalar_one())


@pytest.fixture
def db(fresh_engine: Callable[[], Engine]) -> Engine:
    engine = fresh_engine()
    _seed(engine)
    return engine


def _uow(engine: Engine) -> Callable[[], SqlUnitOfWork]:
    return lambda: SqlUnitOfWork(engine)


def _record(engine: Engine, cadre: str, uscc: str, on: date, **kw: object) -> sv.RecordOutcome:
    return sv.record(cadre_id=cadre, uscc=uscc, note="查看了冷库和台账", on=on,
                     uow_factory=_uow(engine), clock=CLOCK, calendar=ChineseCalendarSource(Path("/nonexistent-lookback-data")),
                     actor="test", **kw)  # type: ignore[arg-type]


def test_open_due_is_idempotent_and_writes_one_event_per_period(db: Engine) -> None:
    # today: P1 2026 (B1); C1 2026Q4 (B1, B3); T1 2026-11 (B2, B3; B4 is closed); V1 2026-11 (B3)
    assert sv.open_due(uow_factory=_uow(db), clock=CLOCK, actor="scheduler") == 6
    assert _events(db, "supervision.opened") == 3  # 2026, 2026Q4, 2026-11
    assert sv.open_due(uow_factory=_uow(db), clock=CLOCK, actor="scheduler") == 0
    assert _events(db, "supervision.opened") == 3
    assert count(db, "supervision_visit") == 6
    # the whole quarter adds October and December for T1 (2 businesses) and V1 (1)
    assert sv.open_due(uow_factory=_uow(db), clock=CLOCK, actor="scheduler",
                       period="2026Q4") == 6
    assert _events(db, "supervision.opened") == 5
    with db.connect() as conn:
        rows = sorted(conn.execute(text(
            "SELECT cadre_id, uscc, level, period, period_start, period_end, status "
            "FROM supervision_visit WHERE cadre_id = 'C1'")).all())
    assert [(*tuple(r[:4]), str(r[4]), str(r[5]), r[6]) for r in rows] == [
        ("C1", B1, "county", "2026Q4", "2026-10-01", "2026-12-31", "open"),
        ("C1", B3, "county", "2026Q4", "2026-10-01", "2026-12-31", "open")]


DECEMBER = FixedClock(datetime(2026, 12, 15, 1, 0, tzinfo=UTC))  # Tuesday 15 December 2026
FEBRUARY = FixedClock(datetime(2027, 2, 10, 1, 0, tzinfo=UTC))  # Wednesday 10 February 2027


def _periods(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(text("SELECT period, COUNT(*) FROM supervision_visit "  # type: ignore[arg-type]
                                      "GROUP BY period")).all())


def test_a_sweep_after_a_gap_opens_every_period_begun_since_the_last(db: Engine) -> None:
    assert sv.open_due(uow_factory=_uow(db), clock=DECEMBER, actor="scheduler") == 6
    assert _periods(db) == {"2026": 1, "2026Q4": 2, "2026-12": 3}
    # The clock jumps to February: January's monthly visits are opened as well as February's
    # (T1: B2, B3; V1: B3), with the quarter, the year (P1) and nothing for the city (nobody).
    assert sv.open_due(uow_factory=_uow(db), clock=FEBRUARY, actor="scheduler") == 9
    assert _periods(db) == {"2026": 1, "2026Q4": 2, "2026-12": 3, "2027": 1, "2027Q1": 2,
                            "2027-01": 3, "2027-02": 3}
    with db.connect() as conn:
        opened = [e for (e,) in conn.execute(text(
            "SELECT entity FROM event WHERE kind = 'supervision.opened' ORDER BY seq")).all()]
    assert opened == ["supervision_period:2026", "supervision_period:2026Q4",
                      "supervision_period:2026-12", "supervision_period:2027",
                      "supervision_period:2027Q1", "supervision_period:2027-01",
                      "supervision_period:2027-02"]
    # Running again opens nothing and writes no event.
    assert sv.open_due(uow_factory=_uow(db), clock=FEBRUARY, actor="scheduler") == 0
    assert _events(db, "supervision.opened") == 7
    today = date(2027, 2, 10)
    # 2027Q1 requires January's and February's monthly visits and the quarter's: 3 + 3 + 2;
    # January's ended before today, so they are overdue.
    q1 = sv.rates("2027Q1", uow_factory=_uow(db), today=today)
    assert (q1.total.required, q1.total.done, q1.total.overdue) == (8, 0, 3)
    assert sorted((v.cadre_id, v.uscc, v.period) for v in q1.overdue) == [
        ("T1", B2, "2027-01"), ("T1", B3, "2027-01"), ("V1", B3, "2027-01")]
    jan = sv.rates("2027-01", uow_factory=_uow(db), today=today)
    assert (jan.total.required, jan.total.overdue) == (3, 3)
    # January's visit can still be recorded late, against the visit the sweep opened.
    r = sv.record(cadre_id="T1", uscc=B2, note="补记一月督导", on=date(2027, 1, 28),
                  uow_factory=_uow(db), clock=FEBRUARY,
                  calendar=ChineseCalendarSource(Path("/nonexistent-lookback-data")),
                  actor="test")
    assert not r.opened and r.visit.period == "2027-01"
    jan = sv.rates("2027-01", uow_factory=_uow(db), today=today)
    assert (jan.total.required, jan.total.done, jan.total.overdue) == (3, 1, 2)
    # The quarter before the gap is as it was.
    q4 = sv.rates("2026Q4", uow_factory=_uow(db), today=today)
    assert q4.total.required == 1 + 2 + 3  # only December's monthly visits were ever opened


def test_a_visit_recorded_early_in_a_new_period_does_not_hide_the_gap(db: Engine) -> None:
    sv.open_due(uow_factory=_uow(db), clock=DECEMBER, actor="scheduler")
    # Before any sweep in February, T1 records a February visit (opened on the fly)
    r = sv.record(cadre_id="T1", uscc=B2, note="二月督导", on=date(2027, 2, 3),
                  uow_factory=_uow(db), clock=FEBRUARY,
                  calendar=ChineseCalendarSource(Path("/nonexistent-lookback-data")),
                  actor="test")
    assert r.opened and r.visit.period == "2027-02"
    # The sweep still opens January for everyone, and February for the others.
    assert sv.open_due(uow_factory=_uow(db), clock=FEBRUARY, actor="scheduler") == 8
    assert _periods(db)["2027-01"] == 3 and _periods(db)["2027-02"] == 3


def test_without_an_earlier_opening_only_the_current_periods_are_opened(db: Engine) -> None:
    assert sv.open_due(uow_factory=_uow(db), clock=FEBRUARY, actor="scheduler") == 6
    assert _periods(db) == {"2027": 1, "2027Q1": 2, "2027-02": 3}
    assert "2027-01" not in _periods(db)


def test_periods_opened_in_advance_do_not_hide_a_gap(db: Engine) -> None:
    sv.open_due(uow_factory=_uow(db), clock=FEBRUARY, actor="scheduler")
    # In February the second quarter is opened in advance (C1 × 2, April to June × 3) ...
    assert sv.open_due(uow_factory=_uow(db), clock=FEBRUARY, actor="planner",
                       period="2027Q2") == 2 + 9
    # ... and no sweep runs in March: May's sweep still opens March.
    may = FixedClock(datetime(2027, 5, 6, 1, 0, tzinfo=UTC))
    assert sv.open_due(uow_factory=_uow(db), clock=may, actor="scheduler") == 3
    assert _periods(db)["2027-03"] == 3
    assert sv.open_due(uow_factory=_uow(db), clock=may, actor="scheduler") == 0


def test_configured_frequencies(db: Engine) -> None:
    freqs = sv.check_frequencies({"province": "monthly", "county": "yearly"})
    sv.open_due(uow_factory=_uow(db), clock=CLOCK, actor="scheduler", frequencies=freqs)
    with db.connect() as conn:
        got = dict(conn.execute(text("SELECT cadre_id, MAX(period) FROM supervision_visit "
                                     "GROUP BY cadre_id")).all())
    assert got == {"P1": "2026-11", "C1": "2026", "T1": "2026-11", "V1": "2026-11"}


def test_record_with_findings_and_leads(db: Engine) -> None:
    sv.open_due(uow_factory=_uow(db), clock=CLOCK, actor="scheduler")
    r = _record(db, "T1", B2, date(2026, 11, 3),
                findings=["hygiene_storage:general:过期牛奶", "staffing:minor:无花名册",
                          "risk_control:serious:无进货查验记录"],
                leads=["涉嫌销售过期食品"])
    assert not r.opened and r.visit.status == "done" and r.visit.period == "2026-11"
    assert r.visit.done_on == date(2026, 11, 3) and r.visit.recorded_by == "test"
    # Tuesday 3 Nov 2026, no holiday in November: +10 → Tue 17, +5 → Tue 10, +15 → Tue 24
    assert [(f.severity, f.due_on, f.due_provisional) for f in r.findings] == [
        ("general", date(2026, 11, 17), False), ("minor", date(2026, 11, 10), False),
        ("serious", date(2026, 11, 24), False)]
    # Each finding is an issue from routine supervision, with its follow-ups planned.
    with db.connect() as conn:
        found = conn.execute(text(
            "SELECT id, campaign_id, visit_id, supervision_visit_id, severity, due_on, status "
            "FROM issue ORDER BY id")).all()
        planned = conn.execute(text(
            "SELECT COUNT(DISTINCT issue_id) FROM followup WHERE kind = 'review'")).scalar_one()
    assert [(f[1], f[2], f[3], f[4], str(f[5]), f[6]) for f in found] == [
        (None, None, r.visit.id, "general", "2026-11-17", "open"),
        (None, None, r.visit.id, "minor", "2026-11-10", "open"),
        (None, None, r.visit.id, "serious", "2026-11-24", "open")]
    assert r.finding_ids == [f[0] for f in found] and planned == 3
    with db.connect() as conn:
        ref = conn.execute(text("SELECT source, issue_id, supervision_visit_id, uscc, description, "
                                "referred_on, referred_by, case_status FROM referral")).one()
    assert tuple(ref[:5]) == ("supervision", None, r.visit.id, B2, "涉嫌销售过期食品")
    assert str(ref[5]) == "2026-11-20" and ref[6] == "test" and ref[7] == "referred"
    assert r.referral_ids == [int(count(db, "referral"))]
    assert _events(db, "supervision.recorded") == 1
    with pytest.raises(ConflictError) as e:
        _record(db, "T1", B2, date(2026, 11, 5))
    assert e.value.code == "already_recorded"
    assert _events(db, "supervision.recorded") == 1


def test_record_opens_on_the_fly_and_refuses_what_it_should(db: Engine) -> None:
    r = _record(db, "C1", B3, date(2026, 10, 9))  # nothing opened yet
    assert r.opened and r.visit.period == "2026Q4" and r.visit.level == "county"
    with pytest.raises(ConflictError) as e:
        _record(db, "T1", B1, date(2026, 11, 3))
    assert e.value.code == "not_assigned"
    with pytest.raises(NotFoundError):
        _record(db, "NOBODY", B1, date(2026, 11, 3))
    with pytest.raises(NotFoundError):
        _record(db, "T1", "91110101000000000X", date(2026, 11, 3))
    with pytest.raises(sv.BadArgumentError):
        _record(db, "T1", B2, date(2026, 11, 3), period="2026Q4")  # a monthly official
    with pytest.raises(sv.BadArgumentError):
        _record(db, "T1", B2, date(2026, 11, 3), period="2026-10")
    with pytest.raises(sv.BadArgumentError):
        _record(db, "T1", B2, date(2026, 11, 21))  # tomorrow
    assert count(db, "supervision_visit") == 1


def _scenario(db: Engine) -> None:
    sv.open_due(uow_factory=_uow(db), clock=CLOCK, actor="scheduler", period="2026Q4")
    _record(db, "T1", B2, date(2026, 11, 3))
    _record(db, "T1", B3, date(2026, 10, 15))
    _record(db, "C1", B1, date(2026, 10, 20))
    _record(db, "V1", B3, date(2026, 11, 18), leads=["无证经营线索"])
    with db.begin() as conn:  # a city official assigned after the opening: opened by the record
        _cadre(conn, "Y1", "city")
        _assign(conn, "Y1", B2)
    assert _record(db, "Y1", B2, date(2026, 11, 19)).opened


def test_rates_hand_computed(db: Engine) -> None:
    _scenario(db)
    # Required in 2026Q4 (period ends Oct 1 – Dec 31): P1/B1 2026; C1/B1, C1/B3 Q4;
    # T1/B2, T1/B3, V1/B3 × Oct, Nov, Dec; Y1/B2 H2 → 1 + 2 + 9 + 1 = 13.
    # Done: T1/B2 Nov, T1/B3 Oct, C1/B1 Q4, V1/B3 Nov, Y1/B2 H2 → 5.
    # Overdue (ended before 20 Nov, not done): T1/B2 Oct, V1/B3 Oct → 2.
    r = sv.rates("2026Q4", uow_factory=_uow(db), today=TODAY)
    assert (r.total.required, r.total.done, r.total.overdue) == (13, 5, 2)
    assert r.total.rate == pytest.approx(5 / 13)
    assert sorted((v.cadre_id, v.uscc, v.period) for v in r.overdue) == [
        ("T1", B2, "2026-10"), ("V1", B3, "2026-10")]

    by_prov = sv.rates("2026Q4", uow_factory=_uow(db), today=TODAY, by="province")
    assert [(g.key, g.label, g.required, g.done, g.overdue) for g in by_prov.groups] == [
        ("110000", "北京市", 6, 3, 1),  # P1/B1, C1/B1, T1/B2 ×3, Y1/B2; done T1 Nov, C1, Y1
        ("440000", "广东省", 7, 2, 1)]  # C1/B3, T1/B3 ×3, V1/B3 ×3; done T1 Oct, V1 Nov

    by_level = sv.rates("2026Q4", uow_factory=_uow(db), today=TODAY, by="level")
    assert [(g.key, g.required, g.done, g.overdue) for g in by_level.groups] == [
        ("province", 1, 0, 0), ("city", 1, 1, 0), ("county", 2, 1, 0),
        ("township", 6, 2, 1), ("village", 3, 1, 1)]

    nov = sv.rates("2026-11", uow_factory=_uow(db), today=TODAY)
    assert (nov.total.required, nov.total.done, nov.total.overdue) == (3, 2, 0)
    assert nov.overdue == []
    q3 = sv.rates("2026Q3", uow_factory=_uow(db), today=TODAY)
    assert q3.total.required == 0 and q3.total.rate is None
    # at the end of the year, everything not done is overdue
    late = sv.rates("2026", uow_factory=_uow(db), today=date(2027, 1, 1))
    assert (late.total.required, late.total.done, late.total.overdue) == (13, 5, 8)


def test_register_stats_count_referrals_from_both_sources(db: Engine) -> None:
    _scenario(db)
    with db.begin() as conn:
        conn.execute(text("INSERT INTO referral (source, issue_id, supervision_visit_id, uscc, "
                          "description, referred_on, referred_by, case_status, case_number, "
                          "case_on) VALUES ('followup', NULL, NULL, :u, '复查未整改', "
                          "'2026-11-20', 'test', 'filed', '京食药罚〔2026〕1号', '2026-11-20')"),
                     {"u": B1})
    stats = register_stats(uow_factory=_uow(db))
    assert (stats.leads_referred, stats.cases_filed) == (2, 1)
    assert stats.businesses == 4 and stats.cadres == 5


def test_a_supervision_finding_gets_an_order_a_look_back_and_escalation(
        db: Engine, tmp_path: Path) -> None:
    """A finding of routine supervision is an issue like any other: a rectification order in the
    office's series (once), a look-back when it falls due, and the ladder when it fails."""
    from domain import followups as fu
    from domain.issues import IssueStatus
    from flows.issuing import InProcessSteps, run_issuing
    from storage.fieldwork import SqlEventLog

    calendar = ChineseCalendarSource(Path("/nonexistent-lookback-data"))
    r = _record(db, "T1", B2, date(2026, 11, 3), findings=["hygiene_storage:general:过期牛奶"])
    [issue_id] = r.finding_ids

    steps = InProcessSteps(None, "rectification_order", "zh", _uow(db), CLOCK, "office",
                           office="某县食品安全委员会办公室", office_short="某县食安办")
    first = run_issuing(steps)
    assert first["issued"] == 1 and first["numbers"] == ["某县食安办责改〔2026〕1号"]
    assert run_issuing(steps)["issued"] == 0  # a rerun issues nothing twice
    with SqlUnitOfWork(db) as uow:
        [notice] = [n for n in uow.notices.list_notices(None, "rectification_order")]
        assert notice.campaign_id is None and notice.uscc == B2
        assert notice.content["source"] == "supervision"
        assert uow.issues.get(issue_id).status == IssueStatus.NOTIFIED  # type: ignore[union-attr]
        pdf = uow.notices.pdf(notice.pdf_sha256 or "")
    assert pdf is not None and pdf.startswith(b"%PDF")
    import io

    from pypdf import PdfReader

    text_of_pdf = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "包保督导" in text_of_pdf and "过期牛奶" in text_of_pdf
    # Refused without an office, naming the option.
    bad = InProcessSteps(None, "rectification_order", "zh", _uow(db), CLOCK, "office")
    with pytest.raises(Exception, match="--office"):
        run_issuing(bad)

    # Nothing reported by the due date: the sweep fires its look-back and marks it overdue.
    with SqlUnitOfWork(db) as uow:
        review = next(f for f in uow.followups.of_issue(issue_id) if f.kind == fu.REVIEW)
    later = FixedClock(datetime.fromtimestamp(review.due_at, UTC))
    swept = fu.sweep(uow_factory=_uow(db), clock=later, worker="test")
    assert swept.opened == 1 and swept.marked_overdue == 1
    check = fu.record_check(issue_id, outcome="not_rectified", note="仍有过期食品", evidence=[],
                            hard_measures=None, fixed=None, mechanism=None, team=None,
                            actor="office", uow_factory=_uow(db), clock=later,
                            calendar=calendar)
    assert check.escalation == 1 and check.new_due_on is not None
    with SqlUnitOfWork(db) as uow:
        issue = uow.issues.get(issue_id)
        assert issue is not None and issue.status == IssueStatus.NOTIFIED
        assert issue.source == "supervision" and issue.escalation == 1
        assert {f.revision for f in uow.followups.of_issue(issue_id)} == {1, 2}
        assert isinstance(uow.events, SqlEventLog)
        from domain.events import verify_chain
        assert verify_chain(uow.events.all()).ok


def test_rates_count_the_issues_found_in_supervision(db: Engine) -> None:
    r = _record(db, "T1", B2, date(2026, 11, 3),
                findings=["hygiene_storage:general:过期牛奶", "staffing:minor:无花名册"])
    minor = r.finding_ids[1]
    from domain.fieldwork import rectify
    from domain.issues import Action, transition

    rectify(minor, measures="已补花名册", evidence=[], actor="biz", uow_factory=_uow(db),
            clock=FixedClock(datetime(2026, 11, 5, 1, 0, tzinfo=UTC)))  # before its 11-10 due
    transition(minor, Action.VERIFY, actor="office", uow_factory=_uow(db), clock=CLOCK)
    # On 12 November the general finding (due 17 November) is not due yet.
    f = sv.rates("2026-11", uow_factory=_uow(db), today=date(2026, 11, 12)).findings
    assert (f["registered"], f["verified"], f["verified_on_time"]) == (2, 1, 1)
    assert f["rectification_rate"] == 0.5 and f["on_time_rate"] == 1.0
    assert f["overdue"] == 0
    # On 20 November it is past due with nothing reported: overdue, and not on time.
    later = sv.rates("2026-11", uow_factory=_uow(db), today=TODAY).findings
    assert later["overdue"] == 1 and later["on_time_rate"] == 0.5
