"""Working days under China's official calendar: due dates for rectification deadlines.

Rules (DESIGN.md §6, Deadlines):

* A working day (工作日) is a Monday–Friday that is not a public holiday (法定节假日), or a
  make-up working day (调休补班) — a Saturday or Sunday the State Council's annual notice turns
  into a working day.
* A deadline of N working days counts from the day *after* the start (期间开始之日不计算在内):
  the due date is the N-th working day after the start date.
* Calendar data comes per year from a :class:`HolidaySource`. For a year without data only
  weekends are skipped and the result is marked *provisional*; it is recomputed once an
  office-editable year file (see :func:`parse_year_file`) or a newer package provides the year.

Pure standard library: the sources live in ``storage.calendar``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from types import MappingProxyType
from typing import Any, Protocol

from domain.errors import BadArgumentError, InputError

#: The longest deadline accepted, in working days (about 40 years): a guard against typos.
MAX_WORKDAYS = 10_000

WEEKDAY_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
WEEKDAY_ZH = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")

YEAR_MIN, YEAR_MAX = 2000, 2100


@dataclass(frozen=True)
class YearCalendar:
    """One year of the official calendar.

    ``holidays`` are the days off (法定节假日 and the days moved next to them, on any day of the
    week); ``workdays`` are the make-up working days (调休补班), always on a Saturday or Sunday;
    ``source`` says where the data comes from (the State Council notice, or the package);
    ``names`` gives each listed date its holiday's name, for display only.
    """

    year: int
    holidays: frozenset[date]
    workdays: frozenset[date]
    source: str
    names: Mapping[date, str] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", MappingProxyType(dict(self.names)))

    def is_workday(self, d: date) -> bool:
        """Whether ``d`` (a date in this year) is a working day."""
        if d in self.workdays:
            return True
        return d.weekday() < 5 and d not in self.holidays


class HolidaySource(Protocol):
    """Where calendar years come from."""

    def year(self, year: int) -> YearCalendar | None:
        """The calendar of ``year``, or None when there is no data for it."""
        ...


_Day = date  # the field ``DueDate.date`` shadows the type inside the class body


@dataclass(frozen=True)
class DueDate:
    """The N-th working day after ``start``; ``provisional`` when some year on the way had no
    calendar data (weekends-only count there)."""

    date: _Day
    provisional: bool
    workdays: int
    start: _Day


class _Years:
    """Looks each year up once per computation."""

    def __init__(self, source: HolidaySource) -> None:
        self._source = source
        self._cache: dict[int, YearCalendar | None] = {}

    def get(self, year: int) -> YearCalendar | None:
        if year not in self._cache:
            self._cache[year] = self._source.year(year)
        return self._cache[year]

    def is_workday(self, d: date) -> tuple[bool, bool]:
        cal = self.get(d.year)
        if cal is None:
            return d.weekday() < 5, True
        return cal.is_workday(d), False


class CachedCalendar:
    """A holiday source that asks ``source`` for each year once, for as long as it lives: one
    batch of work (an import computes thousands of due dates; the office's files are re-read by
    the next batch, not in the middle of one)."""

    def __init__(self, source: HolidaySource) -> None:
        self._source = source
        self._years: dict[int, YearCalendar | None] = {}

    def year(self, year: int) -> YearCalendar | None:
        if year not in self._years:
            self._years[year] = self._source.year(year)
        return self._years[year]


def is_workday(d: date, source: HolidaySource) -> tuple[bool, bool]:
    """``(working day?, provisional?)`` for ``d``. Without data for its year: Monday–Friday are
    working days, and the answer is provisional."""
    return _Years(source).is_workday(d)


def _next_day(d: date) -> date:
    try:
        return d + timedelta(days=1)
    except OverflowError:
        raise BadArgumentError("the deadline runs past the last date the calendar can hold",
                               "期限超出了日历所能表示的最后日期", code="date_overflow") from None


def add_workdays(start: date, n: int, source: HolidaySource) -> DueDate:
    """The ``n``-th working day after ``start`` (the start day itself does not count).

    ``n = 0`` gives ``start`` itself. Provisional when any day counted or skipped on the way
    falls in a year without calendar data.
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise BadArgumentError(f"the number of working days must be a whole number, not {n!r}",
                               f"工作日数必须是整数，而不是“{n}”")
    if n < 0:
        raise BadArgumentError(f"the number of working days must be 0 or more, not {n}",
                               f"工作日数不能为负数（{n}）")
    if n > MAX_WORKDAYS:
        raise BadArgumentError(f"{n} working days is more than the {MAX_WORKDAYS} allowed",
                               f"{n}个工作日超过了上限{MAX_WORKDAYS}个")
    years = _Years(source)
    d, counted, provisional = start, 0, False
    while counted < n:
        d = _next_day(d)
        work, unsure = years.is_workday(d)
        provisional = provisional or unsure
        if work:
            counted += 1
    return DueDate(date=d, provisional=provisional, workdays=n, start=start)


def workdays_between(a: date, b: date, source: HolidaySource) -> int:
    """How many working days there are after ``a`` up to and including ``b``.

    ``add_workdays(a, n).date == b`` implies ``workdays_between(a, b) == n``. When ``b`` is
    before ``a`` the count is negative: ``-workdays_between(b, a)`` (e.g. working days overdue,
    read the other way round). Years without data count Monday–Friday.
    """
    if b < a:
        return -workdays_between(b, a, source)
    years = _Years(source)
    count, d = 0, a
    while d < b:
        d = d + timedelta(days=1)
        if years.is_workday(d)[0]:
            count += 1
    return count


def weekday_names(d: date) -> tuple[str, str]:
    """The day of the week in English and Chinese: ``("Friday", "星期五")``."""
    return WEEKDAY_EN[d.weekday()], WEEKDAY_ZH[d.weekday()]


# --- the office-editable year file -----------------------------------------------------------

class CalendarFileError(InputError):
    """A calendar year file with mistakes; ``problems`` lists (key path, English, Chinese) for
    every one of them."""

    code = "bad_calendar"

    def __init__(self, problems: list[tuple[str, str, str]], *, source: str = "") -> None:
        self.problems = problems
        where = f"{source}: " if source else ""
        where_zh = f"{source}：" if source else ""
        en = f"{where}the calendar file has {len(problems)} mistake(s):\n" + "\n".join(
            f"  {path}: {msg_en}" for path, msg_en, _ in problems)
        zh = f"{where_zh}日历文件有{len(problems)}处错误：\n" + "\n".join(
            f"  {path}：{msg_zh}" for path, _, msg_zh in problems)
        super().__init__(en, zh)


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TOP_KEYS = ("year", "source", "holidays", "workdays")
_ENTRY_KEYS = ("name", "dates")


def _as_date(value: Any) -> date | None:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def parse_year_file(text: str, source: str) -> YearCalendar:
    """Parse and validate a year file (``source`` names it in messages); raises
    :class:`CalendarFileError` listing every mistake at once.

    Format (TOML)::

        year = 2027
        source = "国务院办公厅关于2027年部分节假日安排的通知"
        [[holidays]]
        name = "元旦"
        dates = ["2027-01-01", "2027-01-02", "2027-01-03"]
        [[workdays]]            # 调休补班: make-up working days, on a Saturday or Sunday
        name = "春节调休"
        dates = ["2027-02-07"]

    Dates may be strings or TOML dates. Holidays may fall on any day of the week; make-up
    working days must be weekends (one on a weekday would change nothing). No date may be both.
    """
    problems: list[tuple[str, str, str]] = []

    def fail(path: str, en: str, zh: str) -> None:
        problems.append((path, en, zh))

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise CalendarFileError([("(file)", f"not valid TOML: {e}", f"不是有效的TOML：{e}")],
                                source=source) from None

    for key in data:
        if key not in _TOP_KEYS:
            fail(key, "unknown key (a typo?); expected one of " + ", ".join(_TOP_KEYS),
                 "未知的键（拼写错误？）；应为" + "、".join(_TOP_KEYS) + "之一")

    year: int | None = None
    raw_year = data.get("year")
    if raw_year is None:
        fail("year", "missing; the calendar year, e.g. year = 2027", "缺少年份，例如year = 2027")
    elif isinstance(raw_year, bool) or not isinstance(raw_year, int):
        fail("year", f"{raw_year!r} is not a year like 2027 (a number, without quotes)",
             f"“{raw_year}”不是形如2027的年份（数字，不加引号）")
    elif not YEAR_MIN <= raw_year <= YEAR_MAX:
        fail("year", f"{raw_year} is not between {YEAR_MIN} and {YEAR_MAX}",
             f"{raw_year}不在{YEAR_MIN}至{YEAR_MAX}之间")
    else:
        year = raw_year

    raw_source = data.get("source")
    cal_source = ""
    if raw_source is None:
        fail("source", "missing; the notice the dates come from, e.g. "
             "\"国务院办公厅关于2027年部分节假日安排的通知\"",
             "缺少依据，例如\"国务院办公厅关于2027年部分节假日安排的通知\"")
    elif not isinstance(raw_source, str) or not raw_source.strip():
        fail("source", "must be the (non-empty) title of the notice the dates come from",
             "应为日期所依据通知的标题（不能为空）")
    else:
        cal_source = raw_source.strip()

    def entries(kind: str, required: bool) -> dict[date, tuple[str, str]]:
        """Dates of ``holidays`` or ``workdays``: date -> (name, key path)."""
        found: dict[date, tuple[str, str]] = {}
        what_zh = "节假日" if kind == "holidays" else "调休补班日"
        raw = data.get(kind)
        if raw is None:
            if required:
                fail(kind, f"missing; add at least one [[{kind}]] table with name and dates",
                     f"缺少{what_zh}；请至少添加一个含name和dates的[[{kind}]]表")
            return found
        if not isinstance(raw, list) or not all(isinstance(x, dict) for x in raw):
            fail(kind, f"must be a list of tables written [[{kind}]], each with name and dates",
                 f"应为以[[{kind}]]书写的表列表，每个表含name和dates")
            return found
        if required and not raw:
            fail(kind, "empty; list at least one holiday", "为空；请至少列出一个节假日")
        for i, entry in enumerate(raw):
            base = f"{kind}[{i}]"
            for key in entry:
                if key not in _ENTRY_KEYS:
                    fail(f"{base}.{key}", "unknown key; expected name, dates",
                         "未知的键；应为name、dates之一")
            name = entry.get("name")
            if not isinstance(name, str) or not name.strip():
                fail(f"{base}.name", "missing or empty; the holiday's name, e.g. \"春节\"",
                     "缺少或为空；应为节日名称，例如\"春节\"")
                name = ""
            dates = entry.get("dates")
            if not isinstance(dates, list) or not dates:
                fail(f"{base}.dates", "must be a non-empty list of dates like "
                     "[\"2027-01-01\"]", "应为非空的日期列表，例如[\"2027-01-01\"]")
                continue
            for j, value in enumerate(dates):
                path = f"{base}.dates[{j}]"
                d = _as_date(value)
                if d is None:
                    fail(path, f"{value!r} is not a date like 2027-01-01",
                         f"“{value}”不是形如2027-01-01的日期")
                    continue
                if year is not None and d.year != year:
                    fail(path, f"{d} is not in {year}", f"{d}不在{year}年内")
                    continue
                if d in found:
                    fail(path, f"{d} is listed twice (also at {found[d][1]})",
                         f"{d}重复（另见{found[d][1]}）")
                    continue
                if kind == "workdays" and d.weekday() < 5:
                    en_wd, zh_wd = weekday_names(d)
                    fail(path, f"{d} is a {en_wd}: a make-up working day (调休补班) must be a "
                         "Saturday or Sunday", f"{d}是{zh_wd}：调休补班日必须是星期六或星期日")
                    continue
                found[d] = (name.strip(), path)
        return found

    holidays = entries("holidays", required=True)
    workdays = entries("workdays", required=False)
    for d in sorted(set(holidays) & set(workdays)):
        fail(workdays[d][1], f"{d} is also a holiday ({holidays[d][1]}); a date cannot be both",
             f"{d}同时被列为节假日（{holidays[d][1]}）；不能既放假又补班")

    if problems or year is None:
        raise CalendarFileError(problems, source=source)
    names = {d: n for d, (n, _) in holidays.items()} | {d: n for d, (n, _) in workdays.items()}
    return YearCalendar(year=year, holidays=frozenset(holidays), workdays=frozenset(workdays),
                        source=cal_source, names=names)
