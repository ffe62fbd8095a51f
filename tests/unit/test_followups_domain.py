"""Properties of the look-back loop's pure parts: the escalation ladder, the working day before a
due date, the follow-ups planned for a due date, and the instant a follow-up fires (00:00 in
China). Calendars: the official one (chinese-calendar package, 2004–2026) and random fake years
with holidays and make-up working days."""

from __future__ import annotations

import tempfile
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.clock import CHINA_TZ
from domain.errors import BadArgumentError
from domain.followups import (
    LADDER,
    REMINDER,
    REVIEW,
    TOP,
    _three_answers,
    epoch,
    fire_instant,
    next_level,
    plan_for,
    workday_before,
)
from domain.workdays import HolidaySource, YearCalendar, add_workdays, is_workday
from storage.calendar import ChineseCalendarSource

OFFICIAL = ChineseCalendarSource(Path(tempfile.gettempdir()) / "lookback-no-office-years")


class FakeYears:
    """Years 2030–2032 with the given holidays and make-up days; other years have no data."""

    def __init__(self, holidays: set[date], workdays: set[date]) -> None:
        self.years = {y: YearCalendar(y, frozenset(d for d in holidays if d.year == y),
                                      frozenset(d for d in workdays if d.year == y), "fake")
                      for y in (2030, 2031, 2032)}

    def year(self, year: int) -> YearCalendar | None:
        return self.years.get(year)


official_days = st.dates(date(2005, 1, 1), date(2026, 12, 31))
fake_days = st.dates(date(2030, 3, 1), date(2032, 12, 31))


@st.composite
def fake_calendars(draw: st.DrawFn) -> FakeYears:
    days = st.dates(date(2030, 1, 1), date(2032, 12, 31))
    holidays = draw(st.sets(days, max_size=80))
    weekend = [d for d in draw(st.sets(days, max_size=30)) if d.weekday() >= 5]
    return FakeYears(holidays - set(weekend), set(weekend))


calendars = st.one_of(st.just(OFFICIAL), fake_calendars())


def is_work(d: date, cal: HolidaySource) -> bool:
    return is_workday(d, cal)[0]


# --- the ladder ------------------------------------------------------------------------------

def test_the_ladder_is_the_design_order() -> None:
    assert LADDER == ("none", "reminder", "warning_talk", "circular", "referral")
    assert len(LADDER) - 1 == TOP


@given(st.integers(0, 50), st.integers(0, 50))
def test_next_level_is_monotone_and_capped(a: int, b: int) -> None:
    lo, hi = sorted((a, b))
    assert next_level(lo) <= next_level(hi)
    assert next_level(a) <= len(LADDER) - 1
    assert next_level(a) == min(a + 1, TOP)


@given(st.integers(0, TOP), st.integers(0, 20))
def test_failed_checks_climb_one_step_each_and_stay_at_the_top(start: int, checks: int) -> None:
    level = start
    for _ in range(checks):
        new = next_level(level)
        assert new == level + 1 or level == new == TOP
        level = new
    assert level == min(start + checks, TOP)


def test_a_negative_level_is_refused() -> None:
    with pytest.raises(ValueError):
        next_level(-1)


# --- the working day before a due date ---------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(cal=calendars, data=st.data(), n=st.integers(1, 30))
def test_workday_before_counts_n_working_days(cal: HolidaySource, data: st.DataObject,
                                              n: int) -> None:
    d = data.draw(official_days if cal is OFFICIAL else fake_days)
    got = workday_before(d, n, cal)
    assert got < d
    assert is_work(got, cal)
    span = [got + timedelta(days=k) for k in range((d - got).days)]  # [got, d)
    assert sum(is_work(x, cal) for x in span) == n
    # and counting forward again lands on d's side: n working days after it reach d or later
    assert add_workdays(got, n, cal).date >= d


@given(d=official_days)
def test_workday_before_zero_is_the_day_itself(d: date) -> None:
    assert workday_before(d, 0, OFFICIAL) == d


def test_workday_before_skips_the_national_day_holiday() -> None:
    # 8 Oct 2023 (Sunday) was a make-up working day; 29 Sep – 6 Oct a holiday.
    assert workday_before(date(2023, 10, 9), 1, OFFICIAL) == date(2023, 10, 8)
    assert workday_before(date(2023, 10, 9), 3, OFFICIAL) == date(2023, 9, 28)


# --- planning --------------------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(cal=calendars, data=st.data(), grace=st.integers(0, 15), remind=st.integers(0, 10),
       ahead=st.integers(-10, 40))
def test_plan_for_puts_the_review_after_and_the_reminder_before_the_due_date(
        cal: HolidaySource, data: st.DataObject, grace: int, remind: int, ahead: int) -> None:
    due = data.draw(official_days if cal is OFFICIAL else fake_days)
    today = due - timedelta(days=ahead)
    rows = plan_for(7, 2, due, team_no=3, grace_workdays=grace, reminder_workdays=remind,
                    calendar=cal, today=today)
    reviews = [r for r in rows if r.kind == REVIEW]
    reminders = [r for r in rows if r.kind == REMINDER]
    assert len(reviews) == 1 and len(reminders) <= 1 and len(rows) == len(reviews + reminders)
    assert all((r.issue_id, r.revision, r.team_no) == (7, 2, 3) for r in rows)
    for r in rows:
        assert r.due_at == epoch(fire_instant(r.due_on))
    review = reviews[0]
    assert review.due_on >= due
    assert review.due_on == (add_workdays(due, grace, cal).date if grace else due)
    if remind:
        remind_on = workday_before(due, remind, cal)
        assert bool(reminders) == (remind_on > today)
    else:
        assert not reminders
    for r in reminders:
        assert today < r.due_on < due
        assert r.due_on < review.due_on


def test_plan_for_uses_the_defaults_five_and_three() -> None:
    due = date(2026, 3, 20)  # a Friday
    rows = plan_for(1, 1, due, team_no=None, calendar=OFFICIAL, today=date(2026, 3, 2))
    assert {(r.kind, r.due_on) for r in rows} == {(REVIEW, date(2026, 3, 27)),
                                                   (REMINDER, date(2026, 3, 17))}


# --- the instant a follow-up fires -------------------------------------------------------------

@given(st.dates(date(2000, 1, 2), date(2099, 12, 30)))
def test_fire_instant_is_midnight_in_china(d: date) -> None:
    instant = fire_instant(d)
    assert instant.tzinfo is not None and instant.utcoffset() == timedelta(0)
    local = instant.astimezone(CHINA_TZ)
    assert (local.date(), local.time()) == (d, time(0, 0))
    assert instant == datetime.combine(d, time(0, 0), UTC) - timedelta(hours=8)
    assert epoch(instant) % 86400 == 16 * 3600


# --- the three questions ---------------------------------------------------------------------

yes_no = st.sampled_from([None, True, False])


@given(outcome=st.sampled_from(["verified", "partial", "not_rectified"]), h=yes_no, f=yes_no,
       m=yes_no)
def test_the_three_answers_agree_with_the_outcome(outcome: str, h: bool | None,
                                                  f: bool | None, m: bool | None) -> None:
    try:
        got = _three_answers(outcome, h, f, m)
    except BadArgumentError as e:
        assert e.en and e.zh
        refused = True
    else:
        refused = False
        # answers given are kept; the rest default from the outcome
        default = outcome == "verified"
        assert got == tuple(default if x is None else x for x in (h, f, m))
    if outcome == "verified":
        assert refused == (False in (h, f, m))
        if not refused:
            assert got == (True, True, True)
    elif outcome == "partial":
        assert refused == (None in (h, f, m) or (h, f, m) == (True, True, True))
    else:
        assert refused == (f is True)
        if not refused:
            assert got[1] is False
