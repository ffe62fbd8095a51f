"""Supervision (包保督导) in the domain: period arithmetic, frequencies, finding specs, and the
completion rate summed from tallies, against hand-computed cases."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import supervision as sv
from domain.errors import BadArgumentError, BadFileError

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
