"""Supervision (包保督导) in the domain: period arithmetic, frequencies, finding specs, which
periods a sweep opens (catching up missed ones), and the completion rate summed from tallies,
against hand-computed cases."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from types import TracebackType
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import supervision as sv
from domain.clock import FixedClock
from domain.errors import BadArgumentError, BadFileError
from domain.supervision import SupervisionUnitOfWork as UnitOfWork

DATES = st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31))
FREQ = st.sampled_from(sv.FREQUENCIES)


# --- periods ---------------------------------------------------------------------------------

@given(DATES, FREQ)
def test_every_date_lies_in_its_period_and_the_code_parses_back(d: date, freq: str) -> None:
    p = sv.period_of(d, freq)
    assert p.contains(d) and p.frequency == freq
    assert sv.parse_period(p.code) == p


@given(DATES, FREQ)
def test_a_date_lies_in_exactly_one_period_of_each_frequency(d: date, freq: str) -> None:
    year = [sv.period_of(date(d.year, 1, 1), freq)]
    while year[-1].end.year == d.year and year[-1].end < date(d.year, 12, 31):
        year.append(year[-1].next())
    assert sum(p.contains(d) for p in year) == 1


@given(st.integers(2000, 2100), FREQ)
def test_periods_tile_the_year(year: int, freq: str) -> None:
    periods = sv.periods_overlapping(sv.parse_period(str(year)), freq)
    assert periods[0].start == date(year, 1, 1)
    assert periods[-1].end == date(year, 12, 31)
    for a, b in itertools.pairwise(periods):
        assert b.start == a.end + timedelta(days=1)
    assert len(periods) == {"yearly": 1, "half-yearly": 2, "quarterly": 4, "monthly": 12}[freq]


@pytest.mark.parametrize(("code", "start", "end", "freq"), [
    ("2026", date(2026, 1, 1), date(2026, 12, 31), "yearly"),
    ("2026H2", date(2026, 7, 1), date(2026, 12, 31), "half-yearly"),
    ("2026h1", date(2026, 1, 1), date(2026, 6, 30), "half-yearly"),
    ("2026Q4", date(2026, 10, 1), date(2026, 12, 31), "quarterly"),
    ("2024-02", date(2024, 2, 1), date(2024, 2, 29), "monthly"),
    (" 2026-11 ", date(2026, 11, 1), date(2026, 11, 30), "monthly"),
])
def test_parse_period(code: str, start: date, end: date, freq: str) -> None:
    p = sv.parse_period(code)
    assert (p.start, p.end, p.frequency) == (start, end, freq)


@pytest.mark.parametrize("bad", ["", "26", "2026Q5", "2026Q0", "2026H3", "2026-13", "2026-00",
                                 "2026-1", "2026M11", "1999", "Q4 2026", "2026Q4x"])
def test_bad_periods_are_refused_with_a_bilingual_message(bad: str) -> None:
    with pytest.raises(BadArgumentError) as e:
        sv.parse_period(bad)
    assert e.value.code == "bad_period" and "期间" in e.value.zh


def test_periods_ending_within_a_quarter() -> None:
    q4 = sv.parse_period("2026Q4")
    assert [p.code for p in sv.periods_ending_within(q4, "monthly")] == [
        "2026-10", "2026-11", "2026-12"]
    assert [p.code for p in sv.periods_ending_within(q4, "quarterly")] == ["2026Q4"]
    assert [p.code for p in sv.periods_ending_within(q4, "half-yearly")] == ["2026H2"]
    assert [p.code for p in sv.periods_ending_within(q4, "yearly")] == ["2026"]
    q3 = sv.parse_period("2026Q3")
    assert sv.periods_ending_within(q3, "half-yearly") == []
    assert sv.periods_ending_within(q3, "yearly") == []
    assert [p.code for p in sv.periods_overlapping(sv.parse_period("2026-11"), "yearly")] == [
        "2026"]


# --- frequencies -----------------------------------------------------------------------------

def test_default_frequencies() -> None:
    assert dict(sv.DEFAULT_FREQUENCIES) == {"province": "yearly", "city": "half-yearly",
                                            "county": "quarterly", "township": "monthly",
                                            "village": "monthly"}


def test_frequencies_file_overrides_only_what_it_names() -> None:
    got = sv.parse_frequencies('county = "monthly"\nprovince = "half-yearly"\n')
    assert got == {**sv.DEFAULT_FREQUENCIES, "county": "monthly", "province": "half-yearly"}


@pytest.mark.parametrize(("text", "key"), [('hamlet = "monthly"', "hamlet"),
                                           ('city = "weekly"', "city"),
                                           ("city = 3", "city")])
def test_unknown_keys_and_values_are_refused_naming_the_key(text: str, key: str) -> None:
    with pytest.raises(BadFileError) as e:
        sv.parse_frequencies(text, source="f.toml")
    assert key in e.value.en and key in e.value.zh and "f.toml" in e.value.en


def test_a_frequencies_file_that_is_not_toml() -> None:
    with pytest.raises(BadFileError):
        sv.parse_frequencies("city = ", source="f.toml")


# --- findings --------------------------------------------------------------------------------

def test_parse_finding_keeps_colons_in_the_description() -> None:
    assert sv.parse_finding("hygiene_storage:Serious:temp 8:00 log missing") == sv.FindingSpec(
        "hygiene_storage", "serious", "temp 8:00 log missing")
    assert sv.parse_finding("staffing：minor：无花名册").description == "无花名册"


@pytest.mark.parametrize("bad", ["hygiene", "a:b", "a:minor:", ":minor:x", "a:grave:x"])
def test_bad_finding_specs(bad: str) -> None:
    with pytest.raises(BadArgumentError) as e:
        sv.parse_finding(bad)
    assert e.value.code == "bad_issue" and "--issue" in e.value.zh


# --- rates -----------------------------------------------------------------------------------

def T(level: str, prov: str, done: bool, overdue: bool, n: int) -> sv.Tally:
    return sv.Tally(level, prov, {"110000": "北京市", "440000": "广东省"}[prov], done, overdue, n)


# Hand-made: Beijing has 3 township visits done, 2 open of which 1 overdue, and 1 county visit
# open (not overdue); Guangdong has 4 village visits done, 4 overdue, and 1 county visit done.
TALLIES = [T("township", "110000", True, False, 3), T("township", "110000", False, True, 1),
           T("township", "110000", False, False, 1), T("county", "110000", False, False, 1),
           T("village", "440000", True, False, 4), T("village", "440000", False, True, 4),
           T("county", "440000", True, False, 1)]


def test_rates_total() -> None:
    total, groups = sv.summarise(TALLIES, None)
    # required 3+1+1+1+4+4+1 = 15, done 3+4+1 = 8, overdue 1+4 = 5
    assert (total.required, total.done, total.overdue) == (15, 8, 5)
    assert total.rate == pytest.approx(8 / 15)
    assert groups == []


def test_rates_by_province() -> None:
    _total, groups = sv.summarise(TALLIES, "province")
    assert [(g.key, g.label, g.required, g.done, g.overdue) for g in groups] == [
        ("110000", "北京市", 6, 3, 1),  # 3 + 1 + 1 + 1 required; 3 done
        ("440000", "广东省", 9, 5, 4)]  # 4 + 4 + 1 required; 4 + 1 done
    assert groups[0].rate == 0.5
    assert groups[1].rate == pytest.approx(5 / 9)


def test_rates_by_level_go_from_province_down() -> None:
    _total, groups = sv.summarise(TALLIES, "level")
    assert [(g.key, g.required, g.done, g.overdue) for g in groups] == [
        ("county", 2, 1, 0), ("township", 5, 3, 1), ("village", 8, 4, 4)]
    assert groups[0].label == "县级"


def test_nothing_required_has_no_rate() -> None:
    total, _ = sv.summarise([], "level")
    assert total.required == 0 and total.rate is None


def test_rates_by_something_else_is_refused() -> None:
    with pytest.raises(BadArgumentError):
        sv.summarise(TALLIES, "city")


# --- which periods a sweep opens --------------------------------------------------------------

def _codes(periods: list[sv.Period]) -> list[str]:
    return [p.code for p in periods]


def test_periods_to_open_catches_up_from_the_one_after_the_latest() -> None:
    feb = date(2027, 2, 10)
    dec = sv.parse_period("2026-12")
    assert _codes(sv.periods_to_open("monthly", feb, dec)) == ["2027-01", "2027-02"]
    assert _codes(sv.periods_to_open("quarterly", feb, sv.parse_period("2026Q3"))) == [
        "2026Q4", "2027Q1"]
    assert _codes(sv.periods_to_open("yearly", feb, sv.parse_period("2026"))) == ["2027"]
    # nothing opened before, the current one opened already, or one opened later: only today's
    assert _codes(sv.periods_to_open("monthly", feb, None)) == ["2027-02"]
    assert _codes(sv.periods_to_open("monthly", feb, sv.parse_period("2027-02"))) == ["2027-02"]
    assert _codes(sv.periods_to_open("monthly", feb, sv.parse_period("2027-06"))) == ["2027-02"]


@given(DATES, DATES, FREQ)
def test_periods_to_open_tile_the_gap_up_to_today(d: date, today: date, freq: str) -> None:
    latest = sv.period_of(d, freq)
    got = sv.periods_to_open(freq, today, latest)
    assert got[-1] == sv.period_of(today, freq)
    for a, b in itertools.pairwise(got):
        assert b == a.next()
    if latest.start < got[-1].start:
        assert got[0] == latest.next()
    else:
        assert len(got) == 1


def _at(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, 1, 0, tzinfo=UTC)  # 09:00 in Beijing


def test_latest_begun_ignores_periods_opened_in_advance() -> None:
    p = sv.parse_period
    assert sv.latest_begun([]) is None
    assert sv.latest_begun([(p("2026-12"), _at(2026, 12, 15)), (p("2026-11"), _at(2026, 11, 2)),
                            (p("2027-06"), _at(2027, 2, 10))]) == p("2026-12")
    # opened late (on request, or catching up) counts; 1 January 00:30 in Beijing is 2027 already
    assert sv.latest_begun([(p("2027-01"), datetime(2026, 12, 31, 16, 30, tzinfo=UTC))]) == p(
        "2027-01")
    assert sv.latest_begun([(p("2027-01"), datetime(2026, 12, 31, 15, 30, tzinfo=UTC))]) is None


class _Store:
    """What open_due reads and writes: assignments (official, level, business), visits, and the
    supervision.opened events."""

    def __init__(self, assignments: list[tuple[str, str, str]]) -> None:
        self.assignments = assignments
        self.visits: dict[tuple[str, str, str], int] = {}
        self.events: list[tuple[datetime, str, dict[str, Any]]] = []

    def uow(self) -> UnitOfWork:
        return cast(UnitOfWork, _Uow(self))


class _Uow:
    """A unit of work on a ``_Store`` (the fake is its own supervision repository and event log);
    its writes reach the store on commit only."""

    def __init__(self, store: _Store) -> None:
        self.store = store
        self.supervision = self
        self.events = self

    def __enter__(self) -> _Uow:
        self.visits = dict(self.store.visits)
        self.log = list(self.store.events)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        pass

    def commit(self) -> None:
        self.store.visits, self.store.events = self.visits, self.log

    def open_period(self, period: sv.Period, levels: list[str], at: datetime) -> list[int]:
        ids = []
        for cadre, level, uscc in self.store.assignments:
            if level in levels and (cadre, uscc, period.code) not in self.visits:
                self.visits[(cadre, uscc, period.code)] = len(self.visits) + 1
                ids.append(len(self.visits))
        return ids

    def openings(self, frequency: str) -> list[tuple[sv.Period, datetime]]:
        periods = [(sv.parse_period(payload["period"]), at) for at, _, payload in self.log]
        return [(p, at) for p, at in periods if p.frequency == frequency]

    def append(self, *, at: datetime, actor: str, kind: str, entity: str,
               payload: dict[str, Any]) -> None:
        assert kind == "supervision.opened" and entity == f"supervision_period:{payload['period']}"
        self.log.append((at, entity, payload))


def test_open_due_after_a_gap_opens_the_missed_periods_once() -> None:
    store = _Store([("T1", "township", "B1"), ("V1", "village", "B2"), ("C1", "county", "B1")])
    december = FixedClock(_at(2026, 12, 15))
    february = FixedClock(_at(2027, 2, 10))
    assert sv.open_due(uow_factory=store.uow, clock=december, actor="sweep") == 3
    assert sv.open_due(uow_factory=store.uow, clock=february, actor="sweep") == 5
    assert sorted(store.visits) == [
        ("C1", "B1", "2026Q4"), ("C1", "B1", "2027Q1"),
        ("T1", "B1", "2026-12"), ("T1", "B1", "2027-01"), ("T1", "B1", "2027-02"),
        ("V1", "B2", "2026-12"), ("V1", "B2", "2027-01"), ("V1", "B2", "2027-02")]
    assert [payload["period"] for _, _, payload in store.events] == [
        "2026Q4", "2026-12", "2027Q1", "2027-01", "2027-02"]
    assert store.events[-2][2]["levels"] == ["township", "village"]
    assert sv.open_due(uow_factory=store.uow, clock=february, actor="sweep") == 0
    assert len(store.events) == 5


def test_open_due_with_nothing_opened_before_opens_only_todays_periods() -> None:
    store = _Store([("T1", "township", "B1")])
    assert sv.open_due(uow_factory=store.uow, clock=FixedClock(_at(2027, 2, 10)),
                       actor="sweep") == 1
    assert list(store.visits) == [("T1", "B1", "2027-02")]


def test_a_finding_may_end_with_the_provision_it_breaches() -> None:
    """``category:severity:description:《law》article`` — the last part is the legal basis only
    when it starts with a law's name in 《》; other colons stay in the description."""
    from domain.supervision import parse_finding

    f = parse_finding("hygiene_storage:general:温度：8℃:《中华人民共和国食品安全法》第三十四条")
    assert (f.description, f.legal_basis) == ("温度：8℃".replace("：", ":"),
                                              "《中华人民共和国食品安全法》第三十四条")
    g = parse_finding("records:minor:台账缺页: 见附件")
    assert (g.description, g.legal_basis) == ("台账缺页: 见附件", "")
