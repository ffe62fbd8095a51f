"""Calendar years for working-day deadlines: office year files first, then the `chinesecalendar`
package.

* ``<data_dir>/calendar/<year>.toml`` — a year file the office keeps (format in
  :func:`domain.workdays.parse_year_file`). It wins over the package, so the office can add a
  year the package does not cover yet, or correct one it does.
* The ``chinesecalendar`` package (import name ``chinese_calendar``) for the years it covers
  (2004–2026 at 1.11.0).
* Otherwise no data: due dates in that year are provisional (weekends-only count).
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path

import chinese_calendar  # type: ignore[import-untyped]
from chinese_calendar import constants

from domain.errors import BadFileError
from domain.workdays import CalendarFileError, YearCalendar, parse_year_file

CALENDAR_DIR = "calendar"
_YEAR_FILE = re.compile(r"(\d{4})\.toml")


def calendar_dir(data_dir: Path) -> Path:
    return Path(data_dir) / CALENDAR_DIR


def year_file(data_dir: Path, year: int) -> Path:
    """Where the office's file for ``year`` is kept."""
    return calendar_dir(data_dir) / f"{year}.toml"


def package_source() -> str:
    version = getattr(chinese_calendar, "__version__", "")
    return f"chinesecalendar {version}".strip()


_ZH_NAMES = {h.value: h.chinese for h in constants.Holiday}


@cache
def package_years() -> frozenset[int]:
    """The years the installed `chinesecalendar` package has data for."""
    years: set[int] = set()
    for y in sorted({d.year for d in constants.holidays}):
        try:
            chinese_calendar.is_holiday(date(y, 1, 1))
        except NotImplementedError:
            continue
        years.add(y)
    return frozenset(years)


@cache
def package_year(year: int) -> YearCalendar | None:
    """One year from the package's tables, or None when the package does not cover it."""
    if year not in package_years():
        return None
    holidays = {d: n for d, n in constants.holidays.items() if d.year == year}
    workdays = {d: n for d, n in constants.workdays.items() if d.year == year}
    names = {d: _ZH_NAMES.get(n, n) for d, n in holidays.items()}
    names |= {d: _ZH_NAMES.get(n, n) + "调休" for d, n in workdays.items()}
    return YearCalendar(year=year, holidays=frozenset(holidays), workdays=frozenset(workdays),
                        source=package_source(), names=names)


def read_year_file(path: Path) -> YearCalendar:
    """Parse and validate a year file on disk (CalendarFileError / BadFileError when unusable)."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise BadFileError(f"{path}: no such calendar file", f"{path}：日历文件不存在",
                           code="no_file") from None
    except UnicodeDecodeError:
        raise BadFileError(f"{path}: the calendar file is not UTF-8 text",
                           f"{path}：日历文件不是UTF-8文本", code="bad_encoding") from None
    except IsADirectoryError:
        raise BadFileError(f"{path}: is a folder, not a calendar file",
                           f"{path}：是文件夹，不是日历文件", code="bad_file") from None
    return parse_year_file(text, str(path))


class ChineseCalendarSource:
    """A :class:`domain.workdays.HolidaySource`: the office's year files, then the package.

    Office files are re-read when they change on disk (checked by size and modification time),
    so a year added while the process runs is seen at once. A stored file that no longer
    validates (edited by hand) raises :class:`CalendarFileError` rather than being skipped:
    a deadline must not silently fall back to other data.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self._files: dict[int, tuple[tuple[int, int], YearCalendar]] = {}

    def year(self, year: int) -> YearCalendar | None:
        path = year_file(self.data_dir, year)
        try:
            st = path.stat()
        except FileNotFoundError:
            self._files.pop(year, None)
            return package_year(year)
        stamp = (st.st_mtime_ns, st.st_size)
        cached = self._files.get(year)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        cal = read_year_file(path)
        if cal.year != year:
            raise CalendarFileError([("year", f"{cal.year} does not match the file name "
                                      f"{path.name}", f"{cal.year}与文件名{path.name}不符")],
                                    source=str(path))
        self._files[year] = (stamp, cal)
        return cal

    def office_year(self, year: int) -> bool:
        """Whether ``year`` comes from an office file (rather than the package)."""
        return year_file(self.data_dir, year).is_file()


def covered_years(data_dir: Path) -> list[int]:
    """Every year with calendar data: the package's and the office files'."""
    years = set(package_years())
    folder = calendar_dir(data_dir)
    if folder.is_dir():
        for p in folder.iterdir():
            m = _YEAR_FILE.fullmatch(p.name)
            if m and p.is_file():
                years.add(int(m.group(1)))
    return sorted(years)


@dataclass(frozen=True)
class StoredYear:
    """What :func:`store_year_file` did: the calendar, where it went, the previous file's backup
    (None when there was none, or the content is unchanged), and whether anything changed."""

    calendar: YearCalendar
    path: Path
    backup: Path | None
    changed: bool


def store_year_file(data_dir: Path, path: Path, *, now: datetime | None = None) -> StoredYear:
    """Validate the year file at ``path`` and store it as ``<data_dir>/calendar/<year>.toml``.

    The file is written to a temporary file in the same folder and moved into place with
    ``os.replace`` (never half-written). A previous, different file for that year is kept as
    ``<year>.toml.bak-<UTC timestamp>``. The office's text is kept as written (comments too).
    """
    cal = read_year_file(path)
    content = Path(path).read_bytes()
    folder = calendar_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    target = year_file(data_dir, cal.year)
    backup: Path | None = None
    if target.exists():
        if target.read_bytes() == content:
            return StoredYear(cal, target, None, changed=False)
        stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%S")
        backup = folder / f"{target.name}.bak-{stamp}"
        n = 1
        while backup.exists():
            n += 1
            backup = folder / f"{target.name}.bak-{stamp}-{n}"
        # A hard link keeps the old bytes under the backup name without a window where the
        # year has no file; fall back to a copy where links are not supported.
        try:
            os.link(target, backup)
        except OSError:
            backup.write_bytes(target.read_bytes())
    fd, tmp_name = tempfile.mkstemp(prefix=f".{cal.year}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp_name, 0o644)  # mkstemp makes it owner-only; the office shares the folder
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    _fsync_dir(folder)
    return StoredYear(cal, target, backup, changed=True)


def add_year_file(data_dir: Path, path: Path, *, now: datetime | None = None) -> YearCalendar:
    """Validate and store an office year file (see :func:`store_year_file`); returns its
    calendar."""
    return store_year_file(data_dir, path, now=now).calendar


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
