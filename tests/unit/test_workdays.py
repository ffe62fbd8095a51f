"""Working-day due dates on a fake calendar: the start day does not count, holidays are skipped,
make-up working days (调休补班) count, years without data give a provisional weekends-only count;
and year files are validated with every mistake reported at once."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import BadArgumentError, InputError
from domain.workdays import (
    MAX_WORKDAYS,
    CalendarFileError,
    DueDate,
    YearCalendar,
    add_workdays,
    is_workday,
    parse_year_file,
    weekday_names,
    workdays_between,
)


class FakeSource:
    """Calendar years held in a dict; every other year has no data."""

    def __init__(self, *years: YearCalendar) -> None:
        self.years = {c.year: c for c in years}
        self.asked: list[int] = []

    def year(self, year: int) -> YearCalendar | None:
        self.asked.append(year)
        return self.years.get(year)


def span(first: str, last: str) -> set[date]:
    a, b = date.fromisoformat(first), date.fromisoformat(last)
    return {a + timedelta(days=i) for i in range((b - a).days + 1)}


def d(text: str) -> date:
    return date.fromisoformat(text)


# 2030: 元旦 Tue 1 Jan; 春节 Sat 2 – Fri 8 Feb with Sat 26 Jan and Sat 9 Feb worked;
# 国庆 Tue 1 – Mon 7 Oct with Sun 29 Sep and Sat 12 Oct worked. 2031: 元旦 Wed 1 Jan only.
Y2030 = YearCalendar(
    year=2030,
    holidays=frozenset({d("2030-01-01")} | span("2030-02-02", "2030-02-08")
                       | span("2030-10-01", "2030-10-07")),
    workdays=frozenset({d("2030-01-26"), d("2030-02-09"), d("2030-09-29"), d("2030-10-12")}),
    source="fake 2030",
)
Y2031 = YearCalendar(year=2031, holidays=frozenset({d("2031-01-01")}), workdays=frozenset(),
                     source="fake 2031")
FAKE = FakeSource(Y2030, Y2031)


def naive_is_workday(day: date, source: FakeSource) -> bool:
    cal = source.years.get(day.year)
    if cal is None:
        return day.weekday() < 5
    return day in cal.workdays or (day.weekday() < 5 and day not in cal.holidays)


def test_fake_calendar_is_what_the_comments_say() -> None:
    assert all(x.weekday() >= 5 for x in Y2030.workdays)
    assert d("2030-01-01").weekday() == 1 and d("2030-10-01").weekday() == 1


def test_is_workday() -> None:
    assert is_workday(d("2030-01-02"), FAKE) == (True, False)      # Wednesday
    assert is_workday(d("2030-01-01"), FAKE) == (False, False)     # 元旦, a Tuesday
    assert is_workday(d("2030-01-05"), FAKE) == (False, False)     # an ordinary Saturday
    assert is_workday(d("2030-01-26"), FAKE) == (True, False)      # 调休补班 Saturday
    assert is_workday(d("2030-02-02"), FAKE) == (False, False)     # holiday on a Saturday
    assert is_workday(d("2032-01-01"), FAKE) == (True, True)       # no data: weekday, provisional
    assert is_workday(d("2032-01-03"), FAKE) == (False, True)      # no data: Saturday


def test_start_day_does_not_count() -> None:
    # Friday 2030-01-04 + 1 → Monday 7 January (the weekend skipped, the Friday not counted).
    assert add_workdays(d("2030-01-04"), 1, FAKE) == DueDate(d("2030-01-07"), False, 1,
                                                             d("2030-01-04"))
    # Starting on a holiday or a weekend changes nothing: the next working day is day 1.
    assert add_workdays(d("2030-01-01"), 1, FAKE).date == d("2030-01-02")
    assert add_workdays(d("2030-01-05"), 1, FAKE).date == d("2030-01-07")


def test_holidays_skipped_and_make_up_days_counted() -> None:
    # Fri 25 Jan + 1 → Sat 26 Jan (调休补班).
    assert add_workdays(d("2030-01-25"), 1, FAKE).date == d("2030-01-26")
    # Fri 1 Feb + 1 → Sat 9 Feb (the whole 春节 week skipped, its make-up Saturday counted);
    # + 2 → Mon 11 Feb.
    assert add_workdays(d("2030-02-01"), 1, FAKE).date == d("2030-02-09")
    assert add_workdays(d("2030-02-01"), 2, FAKE).date == d("2030-02-11")
    # Fri 27 Sep + 1 → Sun 29 Sep; + 2 → Mon 30 Sep; + 3 → Tue 8 Oct; + 7 → Sat 12 Oct.
    assert [add_workdays(d("2030-09-27"), n, FAKE).date for n in (1, 2, 3, 7)] == [
        d("2030-09-29"), d("2030-09-30"), d("2030-10-08"), d("2030-10-12")]


def test_zero_and_bad_counts() -> None:
    assert add_workdays(d("2030-02-03"), 0, FAKE) == DueDate(d("2030-02-03"), False, 0,
                                                             d("2030-02-03"))
    for bad in (-1, -10):
        with pytest.raises(BadArgumentError):
            add_workdays(d("2030-01-01"), bad, FAKE)
    with pytest.raises(BadArgumentError):
        add_workdays(d("2030-01-01"), True, FAKE)
    with pytest.raises(BadArgumentError):
        add_workdays(d("2030-01-01"), MAX_WORKDAYS + 1, FAKE)
    with pytest.raises(BadArgumentError):
        add_workdays(date.max - timedelta(days=3), 5, FAKE)


def test_provisional_past_the_covered_years() -> None:
    assert not add_workdays(d("2031-12-01"), 10, FAKE).provisional
    due = add_workdays(d("2031-12-24"), 10, FAKE)       # runs into 2032: no data
    assert due.provisional
    # Weekends-only in 2032: Thu 1 Jan 2032 counts as a working day.
    assert due.date == d("2032-01-07")
    # Starting in a year without data: the days walked there make it provisional …
    assert add_workdays(d("2029-12-28"), 3, FAKE).provisional
    # … but the start day itself is not walked: Mon 31 Dec 2029 + 1 → Wed 2 Jan 2030 is sure.
    assert add_workdays(d("2029-12-31"), 1, FAKE) == DueDate(d("2030-01-02"), False, 1,
                                                             d("2029-12-31"))
    # Skipped days count too: Fri 29 Dec 2028 + 1 skips Sat 30 and Sun 31 Dec 2028 (no data:
    # either could be a make-up working day) before Mon 1 Jan 2029, which is known.
    y2029 = YearCalendar(2029, frozenset(), frozenset(), "fake 2029")
    edge = add_workdays(d("2028-12-29"), 1, FakeSource(y2029))
    assert edge.date == d("2029-01-01") and edge.provisional
    # n = 0 walks nothing.
    assert not add_workdays(d("2040-01-01"), 0, FAKE).provisional


def test_each_year_looked_up_once_per_computation() -> None:
    src = FakeSource(Y2030, Y2031)
    add_workdays(d("2030-01-01"), 520, src)
    assert sorted(src.asked) == [2030, 2031, 2032]


def test_weekday_names() -> None:
    assert weekday_names(d("2030-01-26")) == ("Saturday", "星期六")
    assert weekday_names(d("2030-01-27")) == ("Sunday", "星期日")


# --- properties on random calendars ----------------------------------------------------------

@st.composite
def calendars(draw: st.DrawFn) -> FakeSource:
    """Random data for 2030 and 2031 (holidays on any day, make-up days on free weekends);
    other years have none."""
    years = []
    for y in (2030, 2031):
        days = [date(y, 1, 1) + timedelta(days=i) for i in range(365)]
        holidays = draw(st.frozensets(st.sampled_from(days), max_size=60))
        weekends = [x for x in days if x.weekday() >= 5 and x not in holidays]
        workdays = draw(st.frozensets(st.sampled_from(weekends), max_size=10))
        years.append(YearCalendar(y, holidays, workdays, f"random {y}"))
    return FakeSource(*years)


starts = st.dates(min_value=date(2029, 11, 1), max_value=date(2032, 1, 31))
counts = st.integers(min_value=0, max_value=60)


@settings(max_examples=150, deadline=None)
@given(calendars(), starts, st.integers(min_value=1, max_value=60))
def test_every_due_date_is_a_working_day(src: FakeSource, start: date, n: int) -> None:
    due = add_workdays(start, n, src)
    assert due.date > start and due.workdays == n and due.start == start
    work, _ = is_workday(due.date, src)
    assert work and naive_is_workday(due.date, src)
    # … and exactly n working days lie after start up to the due date (the naive count).
    walked = [start + timedelta(days=i) for i in range(1, (due.date - start).days + 1)]
    assert sum(naive_is_workday(x, src) for x in walked) == n
    assert workdays_between(start, due.date, src) == n
    assert workdays_between(due.date, start, src) == -n
    # Provisional exactly when some day walked is in a year without data.
    assert due.provisional == any(x.year not in src.years for x in walked)


@settings(max_examples=100, deadline=None)
@given(calendars(), starts, counts)
def test_due_date_strictly_grows_with_n(src: FakeSource, start: date, n: int) -> None:
    assert add_workdays(start, n, src).date < add_workdays(start, n + 1, src).date


@settings(max_examples=150, deadline=None)
@given(calendars(), starts, counts, counts)
def test_counting_in_two_steps_is_the_same(src: FakeSource, start: date, a: int, b: int) -> None:
    whole = add_workdays(start, a + b, src)
    first = add_workdays(start, a, src)
    second = add_workdays(first.date, b, src)
    if not whole.provisional:
        assert not first.provisional and not second.provisional
    # The rule is the same with or without data, so the dates agree either way.
    assert whole.date == second.date
    assert whole.provisional == (first.provisional or second.provisional)


# --- the year file ---------------------------------------------------------------------------

GOOD = """
year = 2027
source = "国务院办公厅关于2027年部分节假日安排的通知"
[[holidays]]
name = "元旦"
dates = ["2027-01-01", "2027-01-02", "2027-01-03"]
[[holidays]]
name = "国庆节"
dates = [2027-10-01, 2027-10-02, 2027-10-03]  # TOML dates are fine too
[[workdays]]   # 调休补班
name = "春节调休"
dates = ["2027-02-07"]
"""


def test_a_good_year_file() -> None:
    cal = parse_year_file(GOOD, "2027.toml")
    assert cal.year == 2027 and cal.source == "国务院办公厅关于2027年部分节假日安排的通知"
    assert cal.holidays == {d("2027-01-01"), d("2027-01-02"), d("2027-01-03"), d("2027-10-01"),
                            d("2027-10-02"), d("2027-10-03")}
    assert cal.workdays == {d("2027-02-07")}
    assert cal.names[d("2027-10-02")] == "国庆节" and cal.names[d("2027-02-07")] == "春节调休"
    with pytest.raises(TypeError):
        cal.names[d("2027-01-01")] = "x"  # type: ignore[index]


def test_year_file_without_workdays() -> None:
    cal = parse_year_file('year = 2027\nsource = "x"\n[[holidays]]\nname = "元旦"\n'
                          'dates = ["2027-01-01"]\n', "f")
    assert cal.workdays == frozenset()


def test_year_file_mistakes_are_all_listed_at_once() -> None:
    bad = """
year = 2027
sorce = "typo"
[[holidays]]
name = "元旦"
dates = ["2027-01-01", "2026-12-31", "2027-13-01", "2027-01-01"]
colour = "red"
[[holidays]]
name = ""
dates = ["2027-02-07"]
[[holidays]]
name = "清明"
dates = []
[[workdays]]
name = "春节调休"
dates = ["2027-02-07", "2027-02-08"]
"""
    with pytest.raises(CalendarFileError) as e:
        parse_year_file(bad, "bad.toml")
    err = e.value
    assert isinstance(err, InputError) and err.exit_code == 2 and err.code == "bad_calendar"
    paths = [p for p, _, _ in err.problems]
    assert paths == [
        "sorce",                       # unknown key
        "source",                      # missing
        "holidays[0].colour",          # unknown key
        "holidays[0].dates[1]",        # 2026-12-31 not in 2027
        "holidays[0].dates[2]",        # not a date
        "holidays[0].dates[3]",        # listed twice
        "holidays[1].name",            # empty
        "holidays[2].dates",           # empty list
        "workdays[0].dates[1]",        # 2027-02-08 is a Monday
        "workdays[0].dates[0]",        # 2027-02-07 is also a holiday
    ]
    assert "10 mistake(s)" in err.en and "bad.toml" in err.en
    assert "日历文件有10处错误" in err.zh
    assert "2027-02-08 is a Monday" in err.en and "星期一" in err.zh
    assert "also a holiday (holidays[1].dates[0])" in err.en


@pytest.mark.parametrize(("text", "path"), [
    ("year = \n", "(file)"),
    ('year = "2027"\nsource = "x"\n[[holidays]]\nname = "a"\ndates = ["2027-01-01"]\n', "year"),
    ('year = 1999\nsource = "x"\n[[holidays]]\nname = "a"\ndates = ["1999-01-01"]\n', "year"),
    ('source = "x"\n[[holidays]]\nname = "a"\ndates = ["2027-01-01"]\n', "year"),
    ('year = 2027\nsource = "x"\n', "holidays"),
    ('year = 2027\nsource = "x"\nholidays = ["2027-01-01"]\n', "holidays"),
    ('year = 2027\nsource = "x"\nholidays = []\n', "holidays"),
    ('year = 2027\nsource = "  "\n[[holidays]]\nname = "a"\ndates = ["2027-01-01"]\n', "source"),
    ('year = 2027\nsource = "x"\n[[holidays]]\nname = "a"\ndates = [2027-01-01T08:00:00]\n',
     "holidays[0].dates[0]"),
    ('year = 2027\nsource = "x"\n[[holidays]]\nname = "a"\ndates = ["20270101"]\n',
     "holidays[0].dates[0]"),
    ('year = 2027\nsource = "x"\n[[holidays]]\nname = "a"\ndates = "2027-01-01"\n',
     "holidays[0].dates"),
])
def test_single_mistakes(text: str, path: str) -> None:
    with pytest.raises(CalendarFileError) as e:
        parse_year_file(text, "f.toml")
    assert [p for p, _, _ in e.value.problems] == [path]
