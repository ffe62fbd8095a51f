"""Routine supervision by assigned officials (包保督导): required visits per period, records, rates.

An assigned official (包保干部) owes each business assigned to them one supervision visit per period;
how long a period is depends on the official's level (:data:`DEFAULT_FREQUENCIES`, configurable):
province yearly, city half-yearly, county quarterly, township and village monthly.

Periods are written ``2026`` (a year), ``2026H2`` (a half-year), ``2026Q4`` (a quarter) and
``2026-11`` (a month); every date lies in exactly one period of each frequency, and the periods of
one frequency tile the year.

The supervision completion rate (督导完成率) of a period P, as :func:`rates` computes it:

* the visits **required** for P are the opened supervision visits whose own period *ends* within P
  (``P.start <= period_end <= P.end``). So 2026Q4 counts the monthly visits of October, November
  and December, the quarterly visits of 2026Q4, the half-yearly visits of 2026H2 and the yearly
  visits of 2026; 2026-11 counts only the monthly visits of November. A visit is opened (becomes
  required) by :func:`open_due`, which every sweep runs, or by :func:`record`;
* **done** are the required visits recorded as done (a visit can only be recorded with a date
  inside its own period);
* the rate is done / required (``None`` when nothing is required);
* the **overdue** list is the required visits whose period ended before ``today`` (the China date)
  and that are not done.

Opening (:func:`open_due`, run by every sweep: the scheduler's, ``lookback followup sweep``,
``lookback supervision open``): for each frequency, every period from the one after the latest
period it has opened before up to the one containing today, so a sweep that did not run for a while
(a scheduler down over a month's turn, a clock that jumps from December to February) still opens
the periods in between (January) and the rates count them as required. "Opened before" is read from
the ``supervision.opened`` events, not from the visits, so a visit recorded early in a new period
(opened on the fly by :func:`record`) does not hide a gap before it, and only periods opened once
they had begun count, so neither does a period opened in advance. When a frequency was never
opened, only the period containing today is opened: past periods are opened only on request
(``period=``). A visit is unique per official, business and period, so opening is idempotent;
catching up opens the past periods for today's assignments (the register keeps no history of
them).

Events: :func:`open_due` appends one ``supervision.opened`` event per period it opened visits in
(a batch: the period, the levels, how many visits, their id range), none when nothing was opened,
so running it twice writes nothing the second time. :func:`record` appends one
``supervision.recorded`` event per visit, with its findings and referred leads (and
``"opened": true`` when the visit was opened on the fly by that record).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from types import MappingProxyType
from typing import Any, Protocol

from domain import issues
from domain.clock import Clock, china_date
from domain.errors import BadArgumentError, BadFileError, ConflictError, NotFoundError
from domain.issues import Issue, IssueQuery, IssueStatus, IssueUnitOfWork, NewIssue
from domain.ports import RegisterRepository
from domain.registers import CADRE_LEVEL_ZH, CadreLevel
from domain.stats import on_time_rate, rectification_rate
from domain.text import has_visible, refuse_controls
from domain.vocabulary import DEFAULT_RECT_WORKDAYS, SEVERITIES
from domain.workdays import YEAR_MAX, YEAR_MIN, HolidaySource, add_workdays

FREQUENCIES = ("yearly", "half-yearly", "quarterly", "monthly")
FREQUENCY_ZH = {"yearly": "每年", "half-yearly": "每半年", "quarterly": "每季度", "monthly": "每月"}
LEVELS = tuple(lv.value for lv in CadreLevel)
LEVEL_ZH = {lv.value: zh for lv, zh in CADRE_LEVEL_ZH.items()}

#: How often an official of each level must visit each business assigned to them.
DEFAULT_FREQUENCIES: Mapping[str, str] = MappingProxyType({
    "province": "yearly", "city": "half-yearly", "county": "quarterly",
    "township": "monthly", "village": "monthly"})

#: Working days a business has to put a supervision finding right, by severity.
SEVERITY_WORKDAYS = DEFAULT_RECT_WORKDAYS
MAX_NOTE = 2000
MAX_CATEGORY = 40

#: The entity of a ``supervision.opened`` event, followed by the period's code.
OPENED_ENTITY = "supervision_period:"

_MONTHS_PER = {"yearly": 12, "half-yearly": 6, "quarterly": 3, "monthly": 1}
_PERIOD_FORMS = "2026 (year), 2026H2 (half-year), 2026Q4 (quarter) or 2026-11 (month)"
_PERIOD_FORMS_ZH = "2026（年）、2026H2（半年）、2026Q4（季度）或2026-11（月）"


# --- periods ----------------------------------------------------------------------------------

@dataclass(frozen=True, order=True)
class Period:
    """A supervision period: a year, half-year, quarter or month, inclusive of both ends."""

    start: date
    end: date
    frequency: str
    code: str

    def contains(self, d: date) -> bool:
        return self.start <= d <= self.end

    def next(self) -> Period:
        return period_of(self.end + timedelta(days=1), self.frequency)

    def __str__(self) -> str:
        return self.code


def _check_frequency(frequency: str) -> None:
    if frequency not in FREQUENCIES:
        raise BadArgumentError(f"{frequency!r} is not a frequency; expected one of "
                               f"{', '.join(FREQUENCIES)}",
                               f"“{frequency}”不是有效的频次；应为{'、'.join(FREQUENCIES)}之一",
                               code="bad_frequency")


def _month_end(year: int, month: int) -> date:
    nxt = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return nxt - timedelta(days=1)


def _make(year: int, first_month: int, frequency: str) -> Period:
    months = _MONTHS_PER[frequency]
    start = date(year, first_month, 1)
    end = _month_end(year, first_month + months - 1)
    index = (first_month - 1) // months + 1
    code = {"yearly": f"{year}", "half-yearly": f"{year}H{index}",
            "quarterly": f"{year}Q{index}", "monthly": f"{year}-{first_month:02d}"}[frequency]
    return Period(start, end, frequency, code)


def period_of(d: date, frequency: str) -> Period:
    """The period of ``frequency`` that contains the date ``d``."""
    _check_frequency(frequency)
    months = _MONTHS_PER[frequency]
    first = (d.month - 1) // months * months + 1
    return _make(d.year, first, frequency)


_PERIOD_RE = re.compile(r"(\d{4})(?:([HQ])(\d)|-(\d{2}))?")


def parse_period(text: str) -> Period:
    """A period from its code: ``2026``, ``2026H2``, ``2026Q4`` or ``2026-11``."""
    raw = text.strip().upper()
    m = _PERIOD_RE.fullmatch(raw)
    if m is None:
        raise BadArgumentError(f"period {text!r} is not written like {_PERIOD_FORMS}",
                               f"期间“{text}”格式不对，应为{_PERIOD_FORMS_ZH}", code="bad_period")
    year = int(m.group(1))
    if not YEAR_MIN <= year <= YEAR_MAX:
        raise BadArgumentError(f"period {text!r}: the year must be between {YEAR_MIN} and "
                               f"{YEAR_MAX}", f"期间“{text}”：年份应在{YEAR_MIN}至{YEAR_MAX}之间",
                               code="bad_period")
    kind, index, month = m.group(2), m.group(3), m.group(4)
    if kind is None and month is None:
        return _make(year, 1, "yearly")
    if month is not None:
        n = int(month)
        if not 1 <= n <= 12:
            raise BadArgumentError(f"period {text!r}: month {month} is not 01–12",
                                   f"期间“{text}”：月份{month}不在01至12之间", code="bad_period")
        return _make(year, n, "monthly")
    n = int(index)
    if kind == "H":
        if n not in (1, 2):
            raise BadArgumentError(f"period {text!r}: a half-year is H1 or H2",
                                   f"期间“{text}”：半年应为H1或H2", code="bad_period")
        return _make(year, 6 * (n - 1) + 1, "half-yearly")
    if not 1 <= n <= 4:
        raise BadArgumentError(f"period {text!r}: a quarter is Q1 to Q4",
                               f"期间“{text}”：季度应为Q1至Q4", code="bad_period")
    return _make(year, 3 * (n - 1) + 1, "quarterly")


def periods_overlapping(window: Period, frequency: str) -> list[Period]:
    """The periods of ``frequency`` that share at least one day with ``window``."""
    out = [period_of(window.start, frequency)]
    while out[-1].end < window.end:
        out.append(out[-1].next())
    return out


def periods_ending_within(window: Period, frequency: str) -> list[Period]:
    """The periods of ``frequency`` whose last day lies within ``window``."""
    return [p for p in periods_overlapping(window, frequency) if window.contains(p.end)]


# --- frequencies ------------------------------------------------------------------------------

def check_frequencies(data: Mapping[str, Any], *, source: str = "") -> dict[str, str]:
    """The default frequencies overridden by ``data`` (level -> frequency); an unknown level or
    frequency is refused naming the key."""
    where = f"{source}: " if source else ""
    where_zh = f"{source}：" if source else ""
    problems_en: list[str] = []
    problems_zh: list[str] = []
    out = dict(DEFAULT_FREQUENCIES)
    for key, value in data.items():
        if key not in LEVELS:
            problems_en.append(f"{key}: not an official level; expected one of {', '.join(LEVELS)}")
            problems_zh.append(f"{key}：不是包保干部层级；应为{'、'.join(LEVELS)}之一")
        elif not isinstance(value, str) or value not in FREQUENCIES:
            problems_en.append(f"{key}: {value!r} is not a frequency; expected one of "
                               f"{', '.join(FREQUENCIES)}")
            problems_zh.append(f"{key}：“{value}”不是有效的频次；应为{'、'.join(FREQUENCIES)}之一")
        else:
            out[key] = value
    if problems_en:
        raise BadFileError(where + "; ".join(problems_en), where_zh + "；".join(problems_zh),
                           code="bad_frequencies")
    return out


def parse_frequencies(text: str, *, source: str = "") -> dict[str, str]:
    """Frequencies from a TOML file: ``township = "monthly"`` etc.; levels left out keep their
    default."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise BadFileError(f"{source}: not valid TOML: {e}", f"{source}：不是有效的TOML：{e}",
                           code="bad_frequencies") from None
    return check_frequencies(data, source=source)


# --- records ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class SupervisionVisit:
    """A supervision visit an official owes (open) or has made (done) in a period."""

    id: int
    cadre_id: str
    cadre_name: str
    uscc: str
    business_name: str
    province_code: str
    level: str
    period: str
    period_start: date
    period_end: date
    status: str  # open | done
    opened_at: datetime
    done_on: date | None = None
    note: str = ""
    recorded_by: str = ""
    region_code: str = ""  # the business's, for the territory rule


@dataclass(frozen=True)
class FindingSpec:
    """A finding as given: ``category:severity:description[:《law》article]``."""

    category: str
    severity: str
    description: str
    legal_basis: str = ""  # the provision breached, naming the law in 《》 (may be empty)


@dataclass(frozen=True)
class NewFinding:
    category: str
    severity: str
    description: str
    due_on: date
    due_provisional: bool


@dataclass(frozen=True)
class Tally:
    """How many required visits of one level and province are done / open / overdue."""

    level: str
    province_code: str
    province_name: str
    done: bool
    overdue: bool
    n: int


class SupervisionRepository(Protocol):
    """Supervision visits, their findings and the leads they refer."""

    def open_period(self, period: Period, levels: Sequence[str], at: datetime) -> list[int]:
        """Open the visit of ``period`` for every assignment of an official of ``levels`` to an
        active business, skipping those already opened; the ids of the new rows."""
        ...

    def openings(self, frequency: str) -> list[tuple[Period, datetime]]:
        """Each period of ``frequency`` that :func:`open_due` opened visits in, with when (its
        ``supervision.opened`` events), in no particular order."""
        ...

    def is_assigned(self, cadre_id: str, uscc: str) -> bool: ...
    def covering(self, cadre_id: str, uscc: str, on: date) -> SupervisionVisit | None:
        """The visit of this official and business whose period contains ``on``."""
        ...
    def get(self, cadre_id: str, uscc: str, period: str) -> SupervisionVisit | None: ...
    def by_id(self, visit_id: int) -> SupervisionVisit | None: ...
    def open_one(self, cadre_id: str, uscc: str, level: str, period: Period,
                 at: datetime) -> int: ...
    def mark_done(self, visit_id: int, *, done_on: date, note: str, actor: str,
                  at: datetime) -> bool:
        """Mark an open visit done; False when it was not open any more."""
        ...
    def add_referrals(self, visit_id: int, uscc: str, descriptions: Sequence[str], *,
                      on: date, actor: str) -> list[int]: ...
    def visits(self, *, ending_from: date | None, ending_to: date | None, status: str | None,
               cadre_id: str | None, limit: int | None = None,
               territory: str = "") -> list[SupervisionVisit]:
        """Visits by the end of their period, status and official, of the businesses whose
        region code starts with ``territory``."""
        ...
    def tally(self, ending_from: date, ending_to: date, today: date, *, territory: str = "",
              cadre_id: str | None = None) -> list[Tally]: ...


class SupervisionUnitOfWork(IssueUnitOfWork, Protocol):
    @property
    def supervision(self) -> SupervisionRepository: ...
    @property
    def registers(self) -> RegisterRepository: ...


SupervisionUowFactory = Callable[[], SupervisionUnitOfWork]


# --- opening the due visits -------------------------------------------------------------------

def latest_begun(openings: Iterable[tuple[Period, datetime]]) -> Period | None:
    """The latest period opened on or after its first day (China date), so once it had begun: a
    period opened in advance (``period=``) does not count, lest it hide a gap before it."""
    begun = [p for p, at in openings if p.start <= china_date(at)]
    return max(begun, key=lambda p: p.start, default=None)


def periods_to_open(frequency: str, today: date, latest: Period | None) -> list[Period]:
    """The periods of ``frequency`` a sweep opens on ``today`` when ``latest`` is the latest one
    opened before: each from the one after ``latest`` up to the one containing today, oldest first;
    only the one containing today when nothing was opened before, or when ``latest`` is not before
    it (opened in advance, or a clock set back)."""
    current = period_of(today, frequency)
    if latest is None or latest.start >= current.start:
        return [current]
    out = [period_of(latest.start, frequency).next()]
    while out[-1].start < current.start:
        out.append(out[-1].next())
    return out


def open_due(*, uow_factory: SupervisionUowFactory, clock: Clock,
             frequencies: Mapping[str, str] = DEFAULT_FREQUENCIES, actor: str,
             period: Period | str | None = None) -> int:
    """Open the supervision visits due now for every (official, assigned active business); returns
    how many were opened. What every sweep calls; safe to run any number of times (a visit is
    unique per official, business and period).

    Without ``period``, for each frequency in use: every period that has begun since the latest
    one opened before once it had begun (:func:`latest_begun`, :func:`periods_to_open`: from the
    one after it up to the one containing today, the China date), so missed periods are caught up;
    when that frequency was never opened, only the period containing today. With ``period``, every period of each level's frequency that
    overlaps it (so ``2026Q4`` opens the monthly visits of October to December, the quarterly
    visits of 2026Q4, the half-yearly of 2026H2 and the yearly of 2026). One set-based insert per
    period, and one event per period that opened visits (none when nothing was opened).
    """
    freqs = check_frequencies(frequencies)
    now = clock.now()
    window: Period | None = parse_period(period) if isinstance(period, str) else period
    today = china_date(now)
    by_freq: dict[str, list[str]] = {}
    for level in LEVELS:
        by_freq.setdefault(freqs[level], []).append(level)
    opened = 0
    with uow_factory() as uow:
        for freq in FREQUENCIES:
            levels = by_freq.get(freq)
            if not levels:
                continue
            periods = (periods_to_open(freq, today,
                                       latest_begun(uow.supervision.openings(freq)))
                       if window is None else periods_overlapping(window, freq))
            for p in periods:
                ids = uow.supervision.open_period(p, levels, now)
                if not ids:
                    continue
                opened += len(ids)
                uow.events.append(at=now, actor=actor, kind="supervision.opened",
                                  entity=f"{OPENED_ENTITY}{p.code}",
                                  payload={"period": p.code, "frequency": freq, "levels": levels,
                                           "period_start": p.start.isoformat(),
                                           "period_end": p.end.isoformat(), "opened": len(ids),
                                           "first_id": min(ids), "last_id": max(ids)})
        uow.commit()
    return opened


# --- recording a visit ------------------------------------------------------------------------

def parse_finding(spec: str) -> FindingSpec:
    """``category:severity:description`` (the description may itself contain colons), optionally
    followed by ``:`` and the provision breached, which starts with the law's name in 《》:
    ``hygiene_storage:general:货架上有过期牛奶:《中华人民共和国食品安全法》第三十四条``."""
    parts = [p.strip() for p in spec.replace("：", ":").split(":", 2)]
    refuse_controls(spec, "--issue")
    if len(parts) != 3 or not all(has_visible(p) for p in parts):
        raise BadArgumentError(
            f"--issue {spec!r} is not written category:severity:description, e.g. "
            "\"hygiene_storage:general:expired milk on the shelf\"",
            f"--issue“{spec}”格式不对，应为 类别:严重程度:描述，例如"
            "\"hygiene_storage:general:货架上有过期牛奶\"", code="bad_issue")
    category, severity, description = parts
    basis = ""
    head, sep, tail = description.rpartition(":")
    if sep and tail.strip().startswith("《") and "》" in tail and has_visible(head):
        description, basis = head.strip(), tail.strip()
        if len(basis) > MAX_NOTE:
            raise BadArgumentError(f"--issue: the legal basis is longer than {MAX_NOTE} "
                                   "characters", f"--issue：依据超过{MAX_NOTE}个字符",
                                   code="bad_issue")
    severity = severity.lower()
    if severity not in SEVERITIES:
        raise BadArgumentError(f"--issue {spec!r}: severity {severity!r} is not one of "
                               f"{', '.join(SEVERITIES)}",
                               f"--issue“{spec}”：严重程度“{severity}”不是"
                               f"{'、'.join(SEVERITIES)}之一", code="bad_issue")
    if len(category) > MAX_CATEGORY:
        raise BadArgumentError(f"--issue {spec!r}: the category is longer than {MAX_CATEGORY} "
                               "characters", f"--issue“{spec}”：类别超过{MAX_CATEGORY}个字符",
                               code="bad_issue")
    if len(description) > MAX_NOTE:
        raise BadArgumentError(f"--issue: the description is longer than {MAX_NOTE} characters",
                               f"--issue：描述超过{MAX_NOTE}个字符", code="bad_issue")
    return FindingSpec(category, severity, description, basis)


@dataclass(frozen=True)
class RecordOutcome:
    visit: SupervisionVisit
    opened: bool
    findings: list[NewFinding] = field(default_factory=list)
    finding_ids: list[int] = field(default_factory=list)
    referral_ids: list[int] = field(default_factory=list)


def record(*, cadre_id: str, uscc: str, note: str, uow_factory: SupervisionUowFactory,
           clock: Clock, calendar: HolidaySource, actor: str, on: date | None = None,
           period: Period | str | None = None, findings: Sequence[FindingSpec | str] = (),
           leads: Sequence[str] = (),
           frequencies: Mapping[str, str] = DEFAULT_FREQUENCIES) -> RecordOutcome:
    """Record a supervision visit made on ``on`` (default today).

    The visit is the one of this official and business whose period contains the date (or the
    period given, which must be one of the official's frequency and contain the date); if it has
    not been opened yet it is opened now. Each finding gets a due date ``SEVERITY_WORKDAYS`` working
    days after the visit; each lead becomes a referral (移送线索, source ``supervision``).
    Recording a visit twice is a conflict.
    """
    freqs = check_frequencies(frequencies)
    now = clock.now()
    today = china_date(now)
    day = on or today
    cadre_id, uscc, note = cadre_id.strip(), uscc.strip().upper(), note.strip()
    refuse_controls(note, "--note")
    if not has_visible(note):
        raise BadArgumentError("--note is empty: say what was checked",
                               "--note（督导情况）为空：请写明督导内容", code="bad_note")
    if len(note) > MAX_NOTE:
        raise BadArgumentError(f"--note is longer than {MAX_NOTE} characters",
                               f"--note超过{MAX_NOTE}个字符", code="bad_note")
    if not YEAR_MIN <= day.year <= YEAR_MAX:
        raise BadArgumentError(f"--date {day} is outside {YEAR_MIN}–{YEAR_MAX}",
                               f"--date {day}不在{YEAR_MIN}至{YEAR_MAX}年之间", code="bad_date")
    if day > today:
        raise BadArgumentError(f"--date {day} is in the future (today is {today})",
                               f"--date {day}晚于今天（{today}）", code="future_date")
    specs = [parse_finding(f) if isinstance(f, str) else f for f in findings]
    lead_texts = [lead.strip() for lead in leads]
    for t in lead_texts:
        refuse_controls(t, "--lead")
    if any(not has_visible(t) for t in lead_texts):
        raise BadArgumentError("--lead is empty: describe the lead", "--lead（线索）为空：请描述线索",
                               code="bad_lead")
    if any(len(t) > MAX_NOTE for t in lead_texts):
        raise BadArgumentError(f"--lead is longer than {MAX_NOTE} characters",
                               f"--lead超过{MAX_NOTE}个字符", code="bad_lead")
    wanted = parse_period(period) if isinstance(period, str) else period

    with uow_factory() as uow:
        cadre = uow.registers.get_cadre(cadre_id)
        if cadre is None:
            raise NotFoundError(f"assigned official {cadre_id!r} is not in the register",
                                f"包保干部“{cadre_id}”不在名录中", code="no_cadre")
        business = uow.registers.get_business(uscc)
        if business is None:
            raise NotFoundError(f"business {uscc} is not in the register",
                                f"主体{uscc}不在名录中", code="no_business")
        if not uow.supervision.is_assigned(cadre_id, uscc):
            raise ConflictError(f"{cadre.name} ({cadre_id}) is not the assigned official of "
                                f"{business.name} ({uscc})",
                                f"{cadre.name}（{cadre_id}）不是{business.name}（{uscc}）的包保干部",
                                code="not_assigned")
        level = cadre.level.value
        freq = freqs[level]
        if wanted is not None:
            if wanted.frequency != freq:
                raise BadArgumentError(
                    f"--period {wanted.code}: a {level} official is supervised {freq}, so the "
                    f"period is written like {period_of(day, freq).code}",
                    f"--period {wanted.code}：{LEVEL_ZH[level]}包保干部的督导频次为"
                    f"{FREQUENCY_ZH[freq]}，期间应写作{period_of(day, freq).code}",
                    code="bad_period")
            if not wanted.contains(day):
                raise BadArgumentError(f"the visit date {day} is not within period {wanted.code} "
                                       f"({wanted.start} to {wanted.end})",
                                       f"督导日期{day}不在期间{wanted.code}（{wanted.start}至"
                                       f"{wanted.end}）内", code="date_outside_period")
            visit = uow.supervision.get(cadre_id, uscc, wanted.code)
            target = wanted
        else:
            visit = uow.supervision.covering(cadre_id, uscc, day)
            target = period_of(day, freq)
        opened = visit is None
        if visit is None:
            visit_id = uow.supervision.open_one(cadre_id, uscc, level, target, now)
        else:
            visit_id = visit.id
            if visit.status == "done":
                raise ConflictError(
                    f"the supervision visit of {cadre_id} to {uscc} for {visit.period} was "
                    f"already recorded (done on {visit.done_on})",
                    f"{cadre_id}对{uscc}的{visit.period}督导已于{visit.done_on}记录，不能重复记录",
                    code="already_recorded")
        if not uow.supervision.mark_done(visit_id, done_on=day, note=note, actor=actor, at=now):
            raise ConflictError(f"supervision visit {visit_id} was recorded meanwhile",
                                f"督导{visit_id}已被他人记录", code="already_recorded")
        new, new_issues = [], []
        for s in specs:
            days = SEVERITY_WORKDAYS[s.severity]
            due = add_workdays(day, days, calendar)
            new.append(NewFinding(s.category, s.severity, s.description, due.date,
                                  due.provisional))
            new_issues.append(NewIssue(None, None, uscc, None, s.category, s.severity,
                                       s.description, s.legal_basis, day, days, due,
                                       supervision_visit_id=visit_id))
        # A finding is an issue like any other: deadline, follow-ups, look-backs, escalation.
        finding_ids = issues.register(uow, new_issues, at=now, actor=actor, calendar=calendar,
                                      payloads=[{"from": "supervision", "cadre": cadre_id}
                                                for _ in new_issues])
        referral_ids = uow.supervision.add_referrals(visit_id, uscc, lead_texts, on=today,
                                                     actor=actor)
        done = uow.supervision.by_id(visit_id)
        assert done is not None
        uow.events.append(at=now, actor=actor, kind="supervision.recorded",
                          entity=f"supervision:{visit_id}",
                          payload={"cadre": cadre_id, "uscc": uscc, "level": level,
                                   "period": done.period, "done_on": day.isoformat(),
                                   "note": note, "opened": opened,
                                   "findings": [{"id": i, "category": f.category,
                                                 "severity": f.severity,
                                                 "description": f.description,
                                                 "due_on": f.due_on.isoformat(),
                                                 "provisional": f.due_provisional}
                                                for i, f in zip(finding_ids, new, strict=True)],
                                   "referrals": referral_ids})
        uow.commit()
    return RecordOutcome(done, opened, new, finding_ids, referral_ids)


# --- rates ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RateRow:
    """The completion of one group (a province, a level, or everything)."""

    key: str
    label: str
    required: int
    done: int
    overdue: int

    @property
    def rate(self) -> float | None:
        return self.done / self.required if self.required else None

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "required": self.required,
                "done": self.done, "open": self.required - self.done, "overdue": self.overdue,
                "rate": self.rate}


@dataclass(frozen=True)
class Rates:
    """The supervision completion rate of a period (see the module docstring for the rules)."""

    period: Period
    today: date
    by: str | None
    total: RateRow
    groups: list[RateRow]
    overdue: list[SupervisionVisit]
    #: The issues found in this period's supervision visits, as the campaign metrics count them.
    findings: dict[str, Any] = field(default_factory=dict)


BY = ("province", "level")


def summarise(tallies: Sequence[Tally], by: str | None) -> tuple[RateRow, list[RateRow]]:
    """Totals and per-group rows (provinces by code, levels from province down) from tallies."""
    if by is not None and by not in BY:
        raise BadArgumentError(f"--by {by!r} is not one of {', '.join(BY)}",
                               f"--by“{by}”不是{'、'.join(BY)}之一", code="bad_by")
    groups: dict[str, list[int]] = {}
    labels: dict[str, str] = {}
    total = [0, 0, 0]
    for t in tallies:
        cells = [total]
        if by == "province":
            key = t.province_code
            labels[key] = t.province_name or key
            cells.append(groups.setdefault(key, [0, 0, 0]))
        elif by == "level":
            key = t.level
            labels[key] = LEVEL_ZH.get(key, key)
            cells.append(groups.setdefault(key, [0, 0, 0]))
        for c in cells:
            c[0] += t.n
            c[1] += t.n if t.done else 0
            c[2] += t.n if t.overdue else 0
    order = (sorted(groups, key=lambda k: (LEVELS.index(k) if k in LEVELS else 99, k))
             if by == "level" else sorted(groups))
    return (RateRow("total", "合计", *total),
            [RateRow(k, labels[k], *groups[k]) for k in order])


def rates(period: Period | str, *, uow_factory: SupervisionUowFactory, today: date,
          by: str | None = None, overdue_limit: int | None = None, territory: str = "",
          cadre_id: str | None = None) -> Rates:
    """The supervision completion rate (督导完成率) of ``period`` and its overdue visits, over
    the businesses of ``territory`` (a region-code prefix; "" the whole country), or only the
    visits of one official (``cadre_id``).

    Required: the opened visits whose own period ends within ``period``. Done: those recorded.
    Rate: done / required. Overdue: required, not done, and their period ended before ``today``.
    """
    p = parse_period(period) if isinstance(period, str) else period
    if by is not None and by not in BY:
        summarise([], by)  # raises the clear error
    with uow_factory() as uow:
        tallies = uow.supervision.tally(p.start, p.end, today, territory=territory,
                                        cadre_id=cadre_id)
        late = [v for v in uow.supervision.visits(ending_from=p.start,
                                                ending_to=min(p.end, today - timedelta(days=1)),
                                                status="open", cadre_id=cadre_id,
                                                limit=overdue_limit, territory=territory)
                if v.period_end < today] if p.start < today else []
        found = [i for i in uow.issues.list(IssueQuery(source=issues.SUPERVISION,
                                                       territory=territory or None))
                 if p.start <= i.found_on <= p.end]
        if cadre_id is not None:  # the findings of that official's own visits
            mine = {v.id for v in uow.supervision.visits(ending_from=None, ending_to=None,
                                                         status="done", cadre_id=cadre_id)}
            found = [i for i in found if i.supervision_visit_id in mine]
    total, groups = summarise(tallies, by)
    return Rates(p, today, by, total, groups, late, finding_figures(found, today))


def finding_figures(found: Sequence[Issue], today: date) -> dict[str, Any]:
    """Registered, verified, verified on time and overdue among ``found``, with the
    rectification and on-time rates (the same definitions as a campaign's)."""
    verified = sum(1 for i in found if i.status is IssueStatus.VERIFIED)
    on_time = sum(1 for i in found if i.status is IssueStatus.VERIFIED and i.on_time)
    due = sum(1 for i in found if i.status is IssueStatus.VERIFIED or i.due_on < today)
    overdue = sum(1 for i in found if i.status is IssueStatus.OVERDUE
                  or (i.status in issues.OVERDUE_FROM and i.due_on < today))
    return {"registered": len(found), "verified": verified, "verified_on_time": on_time,
            "overdue": overdue, "rectification_rate": rectification_rate(verified, len(found)),
            "on_time_rate": on_time_rate(on_time, due)}
