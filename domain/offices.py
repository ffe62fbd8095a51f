"""Food-safety offices (食品安全办) and their territories (属地管理).

An office sits at one of five levels and manages a territory named by a GB/T 2260 code: the
whole country (``000000``), a province (``110000``), a city (``110100``), a county (``110105``)
or a township (nine digits: its county's code and three more, as in the statistical division
codes). A territory covers every region whose code starts with its *prefix* — the code without
the zeros that only fill it out: nothing for the country, two digits for a province, four for a
city, six for a county, nine for a township. So a higher office's territory covers the
territories of the offices below it, and a region belongs to exactly one territory per level.

Every office but the national one has a parent office one or more levels up whose territory
covers its own. Its short name (简称) heads the numbers of the documents it issues
(``某市食安督〔2026〕17号``), each office numbering its own series.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from domain.clock import Clock
from domain.errors import BadArgumentError, NotFoundError
from domain.events import EventLog
from domain.ports import Transaction


class OfficeLevel(StrEnum):
    NATIONAL = "national"
    PROVINCE = "province"
    CITY = "city"
    COUNTY = "county"
    TOWNSHIP = "township"


LEVEL_ZH = {OfficeLevel.NATIONAL: "国家", OfficeLevel.PROVINCE: "省级",
            OfficeLevel.CITY: "市级", OfficeLevel.COUNTY: "县级", OfficeLevel.TOWNSHIP: "乡镇"}
#: Higher levels first; an office's parent stands at a smaller index.
LEVELS = tuple(OfficeLevel)
NATIONAL_CODE = "000000"
_PREFIX_LENGTH = {OfficeLevel.NATIONAL: 0, OfficeLevel.PROVINCE: 2, OfficeLevel.CITY: 4,
                  OfficeLevel.COUNTY: 6, OfficeLevel.TOWNSHIP: 9}


def level_of_prefix(prefix: str) -> OfficeLevel:
    """The level of the office whose territory prefix this is."""
    return {length: level for level, length in _PREFIX_LENGTH.items()}.get(
        len(prefix), OfficeLevel.NATIONAL)


@dataclass(frozen=True, slots=True)
class Territory:
    """The regions an office manages: those whose code starts with ``prefix``."""

    prefix: str

    @classmethod
    def everywhere(cls) -> Territory:
        return cls("")

    @classmethod
    def of(cls, level: OfficeLevel, code: str) -> Territory:
        return cls(code[:_PREFIX_LENGTH[level]])

    @property
    def national(self) -> bool:
        return not self.prefix

    def covers(self, region_code: str | None) -> bool:
        """Whether a region (a business's, a cadre's, a visit's) lies in this territory."""
        return region_code is not None and region_code.startswith(self.prefix)

    def covers_territory(self, other: Territory) -> bool:
        """Whether ``other`` lies wholly inside this territory."""
        return other.prefix.startswith(self.prefix)

    def code_range(self) -> tuple[str, str] | None:
        """``(low, high)`` with every covered code ``low <= code < high`` (a range an index
        answers on any database), or None for the whole country."""
        if not self.prefix:
            return None
        last = self.prefix[-1]
        return self.prefix, self.prefix[:-1] + chr(ord(last) + 1)


@dataclass(frozen=True, slots=True)
class Office:
    id: int
    name: str
    short_name: str
    level: OfficeLevel
    territory_code: str
    parent_id: int | None

    @property
    def territory(self) -> Territory:
        return Territory.of(self.level, self.territory_code)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "short_name": self.short_name,
                "level": self.level.value, "territory": self.territory_code,
                "parent_id": self.parent_id}


class OfficeRepository(Protocol):
    def add(self, *, name: str, short_name: str, level: str, territory: str,
            parent_id: int | None, at: datetime) -> int: ...
    def get(self, office_id: int) -> Office | None: ...
    def by_name(self, name: str) -> Office | None: ...
    def all(self) -> list[Office]: ...


class RegionLookup(Protocol):
    def region_level(self, code: str) -> str | None:
        """The level (province, city, county) of a known region code, or None."""
        ...


class OfficeUnitOfWork(Transaction, Protocol):
    @property
    def offices(self) -> OfficeRepository: ...
    @property
    def regions(self) -> RegionLookup: ...
    @property
    def events(self) -> EventLog: ...


@dataclass(frozen=True)
class NewOffice:
    name: str
    short_name: str
    level: str
    territory: str
    parent: str | None  # the parent office's name (None for the national office)


def _text_problem(value: str, field: str, field_zh: str, limit: int) -> tuple[str, str] | None:
    if not value:
        return f"{field} is empty", f"{field_zh}为空"
    if len(value) > limit:
        return f"{field} is longer than {limit} characters", f"{field_zh}超过{limit}个字符"
    if any(unicodedata.category(c).startswith("C") for c in value):
        return f"{field} holds control characters", f"{field_zh}含有控制字符"
    return None


def territory_problem(level: OfficeLevel, code: str,
                      region_level: Callable[[str], str | None]) -> tuple[str, str] | None:
    """What is wrong with ``code`` as the territory of an office at ``level``, or None."""
    if level == OfficeLevel.NATIONAL:
        if code != NATIONAL_CODE:
            return (f"the national office's territory is {NATIONAL_CODE}",
                    f"国家级食安办的辖区代码应为{NATIONAL_CODE}")
        return None
    digits = 9 if level == OfficeLevel.TOWNSHIP else 6
    if len(code) != digits or not code.isascii() or not code.isdigit() or code[:2] == "00":
        return (f"territory {code!r} is not a {digits}-digit division code",
                f"辖区代码“{code}”不是{digits}位行政区划代码")
    county = code[:6]
    expected = {OfficeLevel.PROVINCE: "province", OfficeLevel.CITY: "city",
                OfficeLevel.COUNTY: "county", OfficeLevel.TOWNSHIP: "county"}[level]
    known = region_level(county)
    if known is None:
        return (f"territory {county} is not a known division code (GB/T 2260)",
                f"辖区代码{county}不是已知的行政区划代码（GB/T 2260）")
    if known != expected:
        what = "its county's code and three digits" if level == OfficeLevel.TOWNSHIP else \
            f"a {expected} code"
        known_zh = {"province": "省级", "city": "市级", "county": "县级"}.get(known, known)
        need_zh = "所在县的代码加三位" if level == OfficeLevel.TOWNSHIP else \
            f"{LEVEL_ZH[level]}行政区划代码"
        return (f"territory {code} is a {known} code; a {level.value} office needs {what}",
                f"辖区代码{code}为{known_zh}代码；{LEVEL_ZH[level]}食安办需要{need_zh}")
    return None


def check_new_office(new: NewOffice, *, parent: Office | None, parent_missing: bool,
                     region_level: Callable[[str], str | None]) -> list[tuple[str, str]]:
    """Every problem of a new office at once, as (en, zh) pairs naming the field."""
    problems = [p for p in (_text_problem(new.name.strip(), "name", "名称", 200),
                            _text_problem(new.short_name.strip(), "short_name", "简称", 50))
                if p is not None]
    try:
        level = OfficeLevel(new.level)
    except ValueError:
        problems.append((f"level must be one of {', '.join(LEVELS)}",
                         f"级别应为{'、'.join(LEVELS)}之一"))
        return problems
    if (p := territory_problem(level, new.territory, region_level)) is not None:
        problems.append(p)
    if level == OfficeLevel.NATIONAL:
        if new.parent:
            problems.append(("the national office has no parent", "国家级食安办没有上级"))
        return problems
    if not new.parent:
        problems.append(("parent: a non-national office needs its parent office",
                         "上级：非国家级食安办须指明上级食安办"))
    elif parent_missing or parent is None:
        problems.append((f"parent: no office named {new.parent!r}",
                         f"上级：没有名为“{new.parent}”的食安办"))
    else:
        if LEVELS.index(parent.level) >= LEVELS.index(level):
            problems.append((f"parent: {parent.name} ({parent.level.value}) is not above a "
                             f"{level.value} office",
                             f"上级：{parent.name}（{LEVEL_ZH[parent.level]}）不高于"
                             f"{LEVEL_ZH[level]}食安办"))
        elif not parent.territory.covers_territory(Territory.of(level, new.territory)):
            problems.append((f"territory {new.territory} lies outside the parent's territory "
                             f"{parent.territory_code}",
                             f"辖区{new.territory}不在上级辖区{parent.territory_code}之内"))
    return problems


def add_offices(rows: Iterable[NewOffice], *, actor: str,
                uow_factory: Callable[[], OfficeUnitOfWork], clock: Clock,
                skip_existing: bool = False) -> list[Office]:
    """Add offices in order (a parent before its children) in one transaction: all or nothing.
    Every problem of every row is reported at once, naming the row. With ``skip_existing``, a
    row whose office exists with the same fields is taken as done (an import run twice)."""
    now = clock.now()
    added: list[Office] = []
    problems: list[tuple[str, str]] = []
    with uow_factory() as uow:
        for n, new in enumerate(rows, start=1):
            name = new.name.strip()
            existing = uow.offices.by_name(name) if name else None
            if existing is not None:
                same = (existing.short_name == new.short_name.strip()
                        and existing.level.value == new.level
                        and existing.territory_code == new.territory)
                if skip_existing and same:
                    added.append(existing)
                    continue
                problems.append((f"row {n}: an office named {name!r} already exists",
                                 f"第{n}行：名为“{name}”的食安办已存在"))
                continue
            parent = uow.offices.by_name(new.parent.strip()) if new.parent else None
            found = check_new_office(new, parent=parent, parent_missing=bool(new.parent)
                                     and parent is None, region_level=uow.regions.region_level)
            if found:
                problems.extend((f"row {n} ({name or '?'}): {en}", f"第{n}行（{name or '?'}）：{zh}")
                                for en, zh in found)
                continue
            oid = uow.offices.add(name=name, short_name=new.short_name.strip(), level=new.level,
                                  territory=new.territory,
                                  parent_id=parent.id if parent else None, at=now)
            office = Office(oid, name, new.short_name.strip(), OfficeLevel(new.level),
                            new.territory, parent.id if parent else None)
            uow.events.append(at=now, actor=actor, kind="office.added",
                              entity=f"office:{oid}", payload=office.as_dict())
            added.append(office)
        if problems:
            raise BadArgumentError("; ".join(en for en, _ in problems),
                                   "；".join(zh for _, zh in problems), code="bad_offices")
        uow.commit()
    return added


def find_office(offices: OfficeRepository, ref: str | int) -> Office | None:
    """An office by its id (all digits) or its name, or None."""
    key = str(ref).strip()
    return offices.get(int(key)) if key.isdigit() else offices.by_name(key)


def get_office(ref: str | int, *, uow_factory: Callable[[], OfficeUnitOfWork]) -> Office:
    """An office by id or by name."""
    with uow_factory() as uow:
        office = find_office(uow.offices, ref)
    if office is None:
        raise NotFoundError(f"office {ref} does not exist", f"食安办{ref}不存在")
    return office


def list_offices(*, within: Territory | None = None,
                 uow_factory: Callable[[], OfficeUnitOfWork]) -> list[Office]:
    """Every office, or those whose territory lies within ``within``."""
    with uow_factory() as uow:
        offices = uow.offices.all()
    return [o for o in offices if within is None or within.covers_territory(o.territory)]

