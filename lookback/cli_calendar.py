"""`lookback calendar …`: working-day due dates and the official calendar's years.

Due dates count Chinese working days (工作日): holidays (法定节假日) skipped, make-up working days
(调休补班) counted, the start day not counted (期间开始之日不计算在内). Years come from the office's
year files (``<data dir>/calendar/<year>.toml``) first, then the `chinesecalendar` package; a
year with neither gives a provisional, weekends-only count.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated

import typer

from domain.errors import BadArgumentError
from domain.workdays import YearCalendar, add_workdays, weekday_names
from lookback.bootstrap import App
from lookback.output import Table
from storage.calendar import ChineseCalendarSource, package_years, store_year_file

calendar_app = typer.Typer(no_args_is_help=True)


from domain.access import Action  # noqa: E402
from lookback.cli_base import as_user  # noqa: E402
from lookback.cli_base import command as _command  # noqa: E402
from lookback.cli_base import state as _state  # noqa: E402


def after_year_added(lb: App, year: int) -> int:
    """Recompute the provisional due dates now that ``year``'s calendar is known; returns how many
    changed (each change is one event). Needs an initialised database; without one there is
    nothing stored to recompute."""
    from domain.fieldwork import recompute_provisional
    from lookback.bootstrap import NotInitialisedError

    try:
        lb.require_schema()
    except NotInitialisedError:
        return 0
    return len(recompute_provisional(actor=lb.actor, uow_factory=lb.uow_factory(), clock=lb.clock,
                                     calendar=lb.calendar))


def parse_day(text: str, what: str = "DATE") -> date:
    raw = text.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
        try:
            return date.fromisoformat(raw)
        except ValueError:
            pass
    raise BadArgumentError(f"{what}: {text!r} is not a date like 2026-03-02",
                           f"{what}：“{text}”不是形如2026-03-02的日期")


def provisional_years(start: date, due: date, source: ChineseCalendarSource) -> list[int]:
    """The years without calendar data that the count from ``start`` to ``due`` went through."""
    first = min(start + timedelta(days=1), due).year
    return [y for y in range(first, due.year + 1) if source.year(y) is None]


@calendar_app.command("add-workdays")
@_command
@as_user(Action.READ)
def add_workdays_cmd(
    ctx: typer.Context,
    start: Annotated[str, typer.Argument(metavar="DATE", help="The start date, e.g. 2026-09-18 "
                                         "(not counted itself).")],
    n: Annotated[int, typer.Argument(metavar="N", help="How many working days.")],
) -> None:
    """The N-th working day after DATE under the official calendar (调休补班 counted)."""
    lb, out = _state(ctx)
    day = parse_day(start)
    source = ChineseCalendarSource(lb.data_dir)
    due = add_workdays(day, n, source)
    missing = provisional_years(day, due.date, source) if due.provisional else []
    if out.json_mode:
        out.emit({"ok": True, "start": day.isoformat(), "workdays": n,
                  "due": due.date.isoformat(), "provisional": due.provisional,
                  "provisional_years": missing, "weekday": weekday_names(due.date)[0]})
        return
    en_wd, zh_wd = weekday_names(due.date)
    years = ", ".join(str(y) for y in missing)
    years_zh = "、".join(str(y) for y in missing)
    note_en = (f" (provisional: no official calendar for {years}; weekends-only count)"
               if due.provisional else "")
    note_zh = f"（暂定：尚无{years_zh}年官方日历，仅按周末计算）" if due.provisional else ""
    out.say(f"{day} + {n} working day(s) = {due.date}, {en_wd} ({zh_wd}){note_en}",
            f"{day}起第{n}个工作日：{due.date}，{zh_wd}（{en_wd}）{note_zh}")


@calendar_app.command("add-year")
@_command
def add_year_cmd(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(metavar="FILE", help="A year file (TOML): year, source, "
                                         "[[holidays]] and [[workdays]] with name and dates.")],
) -> None:
    """Validate an office year file and store it; recompute provisional due dates in that year."""
    lb, out = _state(ctx)
    stored = store_year_file(lb.data_dir, file, now=lb.clock.now())
    cal = stored.calendar
    overrides = cal.year in package_years()
    recomputed = after_year_added(lb, cal.year)
    if out.json_mode:
        out.emit({"ok": True, "year": cal.year, "source": cal.source, "path": str(stored.path),
                  "changed": stored.changed,
                  "backup": str(stored.backup) if stored.backup else None,
                  "overrides_package": overrides,
                  "holidays": sorted(d.isoformat() for d in cal.holidays),
                  "workdays": sorted(d.isoformat() for d in cal.workdays),
                  "recomputed": recomputed})
        return
    if stored.changed:
        out.say(f"Stored the {cal.year} calendar as {stored.path}: {len(cal.holidays)} holiday(s), "
                f"{len(cal.workdays)} make-up working day(s) (调休补班); source: {cal.source}.",
                f"已保存{cal.year}年日历至{stored.path}：节假日{len(cal.holidays)}天，"
                f"调休补班{len(cal.workdays)}天；依据：{cal.source}。")
    else:
        out.say(f"The {cal.year} calendar at {stored.path} is already this file; nothing changed.",
                f"{stored.path}中的{cal.year}年日历与该文件相同，未作改动。")
    if stored.backup:
        out.say(f"The previous file is kept as {stored.backup}.",
                f"原文件已保留为{stored.backup}。")
    if overrides:
        out.say(f"This file overrides the chinesecalendar package's data for {cal.year}.",
                f"该文件将取代chinesecalendar软件包中的{cal.year}年数据。")
    out.say(f"{recomputed} provisional due date(s) recomputed.",
            f"已重新计算{recomputed}个暂定期限。")


def _runs(cal: YearCalendar) -> list[tuple[str, date, date, int]]:
    """Holidays as runs of consecutive days with the same name: (name, first, last, days)."""
    runs: list[tuple[str, date, date, int]] = []
    for d in sorted(cal.holidays):
        name = cal.names.get(d, "")
        if runs and runs[-1][0] == name and runs[-1][2] + timedelta(days=1) == d:
            n, first, _, k = runs[-1]
            runs[-1] = (n, first, d, k + 1)
        else:
            runs.append((name, d, d, 1))
    return runs


@calendar_app.command("show")
@_command
@as_user(Action.READ)
def show_cmd(
    ctx: typer.Context,
    year: Annotated[int, typer.Argument(metavar="YEAR", help="The year, e.g. 2026.")],
) -> None:
    """A year's holidays and make-up working days, with where they come from."""
    lb, out = _state(ctx)
    source = ChineseCalendarSource(lb.data_dir)
    cal = source.year(year)
    office = source.office_year(year)
    if out.json_mode:
        if cal is None:
            out.emit({"ok": True, "year": year, "covered": False})
            return
        out.emit({"ok": True, "year": year, "covered": True, "source": cal.source,
                  "office_file": office,
                  "holidays": [{"date": d.isoformat(), "name": cal.names.get(d, "")}
                               for d in sorted(cal.holidays)],
                  "workdays": [{"date": d.isoformat(), "name": cal.names.get(d, ""),
                                "weekday": weekday_names(d)[0]} for d in sorted(cal.workdays)]})
        return
    if cal is None:
        out.say(f"No calendar data for {year}: due dates in it are provisional (weekends-only "
                f"count). Add the year with `lookback calendar add-year FILE`.",
                f"尚无{year}年日历数据：该年内的期限为暂定（仅按周末计算）。可用"
                f"`lookback calendar add-year FILE`添加该年。")
        return
    t = out.t
    origin = t("office file", "本单位日历文件") if office else t("package", "软件包")
    out.say(f"{year} calendar — source: {cal.source} ({origin})",
            f"{year}年日历——依据：{cal.source}（{origin}）")
    holidays = Table(title=t(f"Holidays {year} (法定节假日)", f"{year}年节假日"))
    for col in (t("holiday", "节日"), t("dates", "日期"), t("days", "天数")):
        holidays.add_column(col)
    for name, first, last, days in _runs(cal):
        span = str(first) if first == last else f"{first} – {last}"
        holidays.add_row(name, span, str(days))
    out.out.print(holidays)
    workdays = Table(title=t(f"Make-up working days {year} (调休补班)", f"{year}年调休补班日"))
    for col in (t("date", "日期"), t("weekday", "星期"), t("for", "对应节日")):
        workdays.add_column(col)
    for d in sorted(cal.workdays):
        en_wd, zh_wd = weekday_names(d)
        workdays.add_row(str(d), t(en_wd, zh_wd), cal.names.get(d, ""))
    if cal.workdays:
        out.out.print(workdays)
    else:
        out.say("No make-up working days.", "无调休补班日。")
