"""Working days on the real calendar: the `chinesecalendar` package's 2026 data, office year files
(a year the package lacks, and one overriding the package), atomic storage with backups, and the
`lookback calendar` commands end to end."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import chinese_calendar  # type: ignore[import-untyped]
import pytest
from chinese_calendar import constants
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from domain.errors import BadFileError
from domain.workdays import CalendarFileError, add_workdays, is_workday, workdays_between
from storage.calendar import (
    ChineseCalendarSource,
    add_year_file,
    covered_years,
    package_years,
    store_year_file,
    year_file,
)


def d(text: str) -> date:
    return date.fromisoformat(text)


def span(first: str, last: str) -> list[date]:
    a, b = d(first), d(last)
    return [a + timedelta(days=i) for i in range((b - a).days + 1)]


@pytest.fixture
def source(tmp_path: Path) -> ChineseCalendarSource:
    return ChineseCalendarSource(tmp_path / "data")


# --- 2026 from the package -------------------------------------------------------------------

# 国务院办公厅关于2026年部分节假日安排的通知: the make-up working days (调休补班).
MAKE_UP_2026 = {d("2026-01-04"), d("2026-02-14"), d("2026-02-28"), d("2026-05-09"),
                d("2026-09-20"), d("2026-10-10")}


def test_2026_comes_from_the_package(source: ChineseCalendarSource) -> None:
    assert 2004 in package_years() and 2026 in package_years() and 2027 not in package_years()
    cal = source.year(2026)
    assert cal is not None and cal.source.startswith("chinesecalendar")
    assert cal.workdays == {x for x in constants.workdays if x.year == 2026} == MAKE_UP_2026
    assert cal.holidays == {x for x in constants.holidays if x.year == 2026}
    assert all(x.weekday() >= 5 for x in cal.workdays)
    assert cal.names[d("2026-02-17")] == "春节" and cal.names[d("2026-02-14")] == "春节调休"
    assert source.year(2003) is None and source.year(2027) is None


def test_2026_holiday_weeks_are_not_working_days(source: ChineseCalendarSource) -> None:
    for day in span("2026-02-15", "2026-02-23") + span("2026-10-01", "2026-10-07"):
        assert is_workday(day, source) == (False, False), day
        assert not chinese_calendar.is_workday(day)
    # Every make-up Saturday/Sunday is a working day, for us and for the package.
    for day in MAKE_UP_2026:
        assert is_workday(day, source) == (True, False), day
        assert chinese_calendar.is_workday(day)


@pytest.mark.parametrize(("start", "n", "due"), [
    ("2026-02-13", 1, "2026-02-14"),   # Fri → the make-up Saturday before 春节
    ("2026-02-13", 2, "2026-02-24"),   # then the whole 春节 break (15–23 Feb) is skipped
    ("2026-02-13", 5, "2026-02-27"),
    ("2026-02-27", 1, "2026-02-28"),   # Fri → the make-up Saturday after 春节
    ("2026-02-27", 2, "2026-03-02"),
    ("2025-12-31", 1, "2026-01-04"),   # 元旦 1–3 Jan skipped, Sunday 4 Jan worked
    ("2026-04-30", 1, "2026-05-06"),   # 劳动节 1–5 May skipped
    ("2026-04-30", 4, "2026-05-09"),   # … Saturday 9 May worked
    ("2026-09-18", 1, "2026-09-20"),   # Sunday 20 Sep worked (国庆调休)
    ("2026-09-24", 1, "2026-09-28"),   # 中秋 25–27 Sep skipped
    ("2026-09-30", 1, "2026-10-08"),   # 国庆 1–7 Oct skipped
    ("2026-09-30", 3, "2026-10-10"),   # … Saturday 10 Oct worked
    ("2026-10-01", 1, "2026-10-08"),   # starting inside the holiday: day 1 is the first back
])
def test_hand_checked_2026_due_dates(source: ChineseCalendarSource, start: str, n: int,
                                     due: str) -> None:
    got = add_workdays(d(start), n, source)
    assert got.date == d(due) and not got.provisional
    assert workdays_between(d(start), d(due), source) == n


def test_2026_has_248_working_days(source: ChineseCalendarSource) -> None:
    assert workdays_between(d("2025-12-31"), d("2026-12-31"), source) == 248
    assert len(chinese_calendar.get_workdays(d("2026-01-01"), d("2026-12-31"))) == 248


@settings(max_examples=200, deadline=None)
@given(st.dates(min_value=date(2004, 1, 1), max_value=date(2026, 11, 30)),
       st.integers(min_value=1, max_value=40))
def test_agrees_with_the_package_everywhere_it_has_data(start: date, n: int) -> None:
    """The package's own find_workday(n, start) is the n-th working day after a working day."""
    src = ChineseCalendarSource(Path("/nonexistent-lookback-data"))
    assume(chinese_calendar.is_workday(start))
    try:
        expected = chinese_calendar.find_workday(n, start)
    except NotImplementedError:  # ran past 2026
        assume(False)
    got = add_workdays(start, n, src)
    assert got.date == expected and not got.provisional
    assert workdays_between(start, expected, src) == len(
        chinese_calendar.get_workdays(start + timedelta(days=1), expected))


# --- office year files -----------------------------------------------------------------------

YEAR_2027 = """\
year = 2027
source = "国务院办公厅关于2027年部分节假日安排的通知（测试用）"
[[holidays]]
name = "元旦"
dates = ["2027-01-01", "2027-01-02", "2027-01-03"]
[[holidays]]
name = "春节"
dates = ["2027-02-06", "2027-02-07", "2027-02-08", "2027-02-09", "2027-02-10", "2027-02-11",
         "2027-02-12", "2027-02-13"]
[[workdays]]
name = "春节调休"
dates = ["2027-02-14"]
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_year_past_the_package_is_provisional_until_its_file_arrives(
        source: ChineseCalendarSource, tmp_path: Path) -> None:
    data = source.data_dir
    before = add_workdays(d("2026-12-25"), 10, source)
    # Weekends-only in 2027: Fri 1 Jan counts.
    assert before.date == d("2027-01-08") and before.provisional
    assert 2027 not in covered_years(data)

    cal = add_year_file(data, write(tmp_path / "in.toml", YEAR_2027))
    assert cal.year == 2027 and year_file(data, 2027).read_text(encoding="utf-8") == YEAR_2027
    assert 2027 in covered_years(data)
    for src in (source, ChineseCalendarSource(data)):  # the same source sees the new file too
        after = add_workdays(d("2026-12-25"), 10, src)
        # 元旦 (Fri 1 Jan) is now a holiday: one working day later, and no longer provisional.
        assert after.date == d("2027-01-11") and not after.provisional
        assert is_workday(d("2027-02-08"), src) == (False, False)    # a Monday in 春节
        assert is_workday(d("2027-02-14"), src) == (True, False)     # the make-up Sunday
    assert add_workdays(d("2028-01-01"), 1, source).provisional


def test_an_office_file_overrides_the_package(source: ChineseCalendarSource,
                                              tmp_path: Path) -> None:
    assert add_workdays(d("2026-02-27"), 2, source).date == d("2026-03-02")
    office = write(tmp_path / "2026.toml", """\
year = 2026
source = "某地调整通知（测试用）"
[[holidays]]
name = "测试假日"
dates = ["2026-03-02"]
""")
    add_year_file(source.data_dir, office)
    cal = source.year(2026)
    assert cal is not None and cal.source == "某地调整通知（测试用）"
    assert source.office_year(2026)
    # The office's year replaces the package's year as a whole.
    assert add_workdays(d("2026-02-27"), 2, source).date == d("2026-03-04")
    assert is_workday(d("2026-02-16"), source) == (True, False)
    assert is_workday(d("2026-02-28"), source) == (False, False)
    year_file(source.data_dir, 2026).unlink()
    assert add_workdays(d("2026-02-27"), 2, source).date == d("2026-03-02")


def test_storing_is_atomic_with_a_backup_of_the_previous_file(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = store_year_file(data, write(tmp_path / "a.toml", YEAR_2027))
    assert first.changed and first.backup is None
    again = store_year_file(data, tmp_path / "a.toml")
    assert not again.changed and again.backup is None
    changed = YEAR_2027.replace('"2027-02-14"', '"2027-02-20"')
    t = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    second = store_year_file(data, write(tmp_path / "b.toml", changed), now=t)
    assert second.changed and second.backup == data / "calendar" / "2027.toml.bak-20261120T093000"
    assert second.backup.read_text(encoding="utf-8") == YEAR_2027
    assert year_file(data, 2027).read_text(encoding="utf-8") == changed
    third = store_year_file(data, write(tmp_path / "c.toml", YEAR_2027), now=t)
    assert third.backup is not None and third.backup.name == "2027.toml.bak-20261120T093000-2"
    # No temporary files are left behind; backups are not years.
    names = sorted(p.name for p in (data / "calendar").iterdir())
    assert names == ["2027.toml", "2027.toml.bak-20261120T093000",
                     "2027.toml.bak-20261120T093000-2"]
    assert 2027 in covered_years(data) and 2028 not in covered_years(data)


def test_a_bad_file_is_refused_and_nothing_is_stored(tmp_path: Path) -> None:
    data = tmp_path / "data"
    bad = write(tmp_path / "bad.toml", YEAR_2027.replace('"2027-01-03"', '"2026-01-03"')
                .replace('"2027-02-14"', '"2027-02-15"'))
    with pytest.raises(CalendarFileError) as e:
        add_year_file(data, bad)
    assert [p for p, _, _ in e.value.problems] == ["holidays[0].dates[2]", "workdays[0].dates[0]"]
    assert not year_file(data, 2027).exists()
    with pytest.raises(BadFileError):
        add_year_file(data, tmp_path / "missing.toml")
    (tmp_path / "latin1.toml").write_bytes("year = 2027 # é\n".encode("latin-1"))
    with pytest.raises(BadFileError):
        add_year_file(data, tmp_path / "latin1.toml")


def test_a_stored_file_broken_by_hand_is_an_error_not_a_fallback(
        source: ChineseCalendarSource, tmp_path: Path) -> None:
    folder = source.data_dir / "calendar"
    folder.mkdir(parents=True)
    write(folder / "2026.toml", "year = 2026\n")
    with pytest.raises(CalendarFileError):
        source.year(2026)
    write(folder / "2026.toml", YEAR_2027)  # a 2027 calendar saved under 2026
    os.utime(folder / "2026.toml", ns=(1, 1))
    with pytest.raises(CalendarFileError) as e:
        add_workdays(d("2026-03-01"), 1, source)
    assert "2026.toml" in e.value.en


# --- the CLI ---------------------------------------------------------------------------------

@pytest.fixture
def cli() -> Iterator[None]:
    """`lookback calendar` on the real root app (registered here until cli.py does it)."""
    from lookback.cli import app
    from lookback.cli_calendar import calendar_app

    added = not any(g.name == "calendar" for g in app.registered_groups)
    if added:
        app.add_typer(calendar_app, name="calendar")
    yield
    if added:
        app.registered_groups[:] = [g for g in app.registered_groups if g.name != "calendar"]


def run(*args: str, code: int = 0) -> str:
    from lookback.cli import app

    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    return result.stdout if "--json" in args else result.output


@pytest.mark.usefixtures("cli")
def test_cli_add_workdays(tmp_path: Path) -> None:
    base = ["--data-dir", str(tmp_path / "data")]
    out = run(*base, "--lang", "en", "calendar", "add-workdays", "2026-02-13", "2")
    assert "2026-02-24" in out and "Tuesday" in out and "星期二" in out
    assert "provisional" not in out
    zh = run(*base, "--lang", "zh", "calendar", "add-workdays", "2026-09-30", "3")
    assert "2026-10-10" in zh and "星期六" in zh and "Saturday" in zh
    got = json.loads(run(*base, "--json", "calendar", "add-workdays", "2026-02-13", "5"))
    assert got == {"ok": True, "start": "2026-02-13", "workdays": 5, "due": "2026-02-27",
                   "provisional": False, "provisional_years": [], "weekday": "Friday"}
    prov = run(*base, "--lang", "en", "calendar", "add-workdays", "2026-12-25", "10")
    assert "2027-01-08" in prov
    assert "(provisional: no official calendar for 2027; weekends-only count)" in prov
    assert "暂定" in run(*base, "--lang", "zh", "calendar", "add-workdays", "2026-12-25", "10")
    assert json.loads(run(*base, "--json", "calendar", "add-workdays", "2026-12-25",
                          "10"))["provisional"] is True
    err = run(*base, "--lang", "en", "calendar", "add-workdays", "2026-02-30", "2", code=2)
    assert "2026-02-30" in err
    bad = json.loads(run(*base, "--json", "calendar", "add-workdays", "26-1-1", "2", code=2))
    assert bad["ok"] is False and bad["error"]["code"] == "bad_argument"


@pytest.mark.usefixtures("cli")
def test_cli_add_year_and_show(tmp_path: Path) -> None:
    data = tmp_path / "data"
    base = ["--data-dir", str(data)]
    assert "No calendar data for 2027" in run(*base, "--lang", "en", "calendar", "show", "2027")
    assert json.loads(run(*base, "--json", "calendar", "show", "2027")) == {
        "ok": True, "year": 2027, "covered": False}
    f = write(tmp_path / "2027.toml", YEAR_2027)
    out = run(*base, "--lang", "en", "calendar", "add-year", str(f))
    assert "Stored the 2027 calendar" in out and "11 holiday(s)" in out
    assert "1 make-up working day(s)" in out and "0 provisional due date(s) recomputed" in out
    assert year_file(data, 2027).exists()
    got = json.loads(run(*base, "--json", "calendar", "add-workdays", "2026-12-25", "10"))
    assert got["due"] == "2027-01-11" and got["provisional"] is False
    stored = json.loads(run(*base, "--json", "--now", "2026-11-20T09:30:00Z", "calendar",
                            "add-year", str(write(tmp_path / "v2.toml", YEAR_2027 + "# v2\n"))))
    assert stored["ok"] and stored["year"] == 2027 and stored["recomputed"] == 0
    assert stored["changed"] and stored["backup"].endswith("2027.toml.bak-20261120T093000")
    assert stored["workdays"] == ["2027-02-14"] and len(stored["holidays"]) == 11
    assert stored["overrides_package"] is False
    shown = json.loads(run(*base, "--json", "calendar", "show", "2027"))
    assert shown["covered"] and shown["office_file"] and shown["source"].startswith("国务院")
    assert {"date": "2027-02-14", "name": "春节调休", "weekday": "Sunday"} in shown["workdays"]
    human = run(*base, "--lang", "en", "calendar", "show", "2026")
    assert "chinesecalendar" in human and "2026-02-15 – 2026-02-23" in human
    assert "2026-10-10" in human and "Saturday" in human
    zh = run(*base, "--lang", "zh", "calendar", "show", "2026")
    assert "国庆节" in zh and "调休补班" in zh
    js = json.loads(run(*base, "--json", "calendar", "show", "2026"))
    assert {x["date"] for x in js["workdays"]} == {x.isoformat() for x in MAKE_UP_2026}
    assert js["office_file"] is False


@pytest.mark.usefixtures("cli")
def test_cli_bad_year_file_lists_every_problem(tmp_path: Path) -> None:
    data = tmp_path / "data"
    base = ["--data-dir", str(data)]
    bad = write(tmp_path / "bad.toml", """\
year = 2027
[[holidays]]
name = "元旦"
dates = ["2027-01-01", "2027-01-02", "2028-01-02"]
[[workdays]]
name = "调休"
dates = ["2027-01-02", "2027-01-04"]
""")
    out = run(*base, "--lang", "en", "calendar", "add-year", str(bad), code=2)
    assert "4 mistake(s)" in out
    for path in ("source", "holidays[0].dates[2]", "workdays[0].dates[1]",
                 "workdays[0].dates[0]"):
        assert f"  {path}:" in out
    zh = run(*base, "--lang", "zh", "calendar", "add-year", str(bad), code=2)
    assert "日历文件有4处错误" in zh and "不能既放假又补班" in zh
    js = json.loads(run(*base, "--json", "calendar", "add-year", str(bad), code=2))
    assert js["ok"] is False and js["error"]["code"] == "bad_calendar"
    assert not (data / "calendar").exists()
    run(*base, "--lang", "en", "calendar", "add-year", str(tmp_path / "missing.toml"), code=2)
