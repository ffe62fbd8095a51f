"""The registers an office keeps: businesses (包保主体), assigned officials (包保干部), inspectors.

This module holds the entities, the allowed values (categories, risk levels, official levels), the
column headers each register accepts in Chinese and English, and the validation of one raw row.
Raw rows come from any reader (CSV, XLSX, API): a mapping from field name to the cell value as the
file stored it, so that an ID typed into Excel as a number can be refused instead of converted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from domain import uscc
from domain.regions import RegionCheck, RegionIndex, is_region_code, province_of


class RegisterKind(StrEnum):
    """Which register a file holds."""

    BUSINESSES = "businesses"
    CADRES = "cadres"
    INSPECTORS = "inspectors"


class Category(StrEnum):
    """Kind of food business (主体类别)."""

    PRODUCTION = "production"
    SALES = "sales"
    CATERING = "catering"
    SCHOOL_CANTEEN = "school_canteen"
    SPECIAL_FOOD = "special_food"
    STORAGE_TRANSPORT = "storage_transport"
    MARKET = "market"


CATEGORY_ZH: dict[Category, str] = {
    Category.PRODUCTION: "食品生产",
    Category.SALES: "食品销售",
    Category.CATERING: "餐饮服务",
    Category.SCHOOL_CANTEEN: "学校食堂",
    Category.SPECIAL_FOOD: "特殊食品",
    Category.STORAGE_TRANSPORT: "贮存运输",
    Category.MARKET: "集中交易市场",
}
_CATEGORY_ALIASES: dict[str, Category] = {}
for _c, _zh in CATEGORY_ZH.items():
    _CATEGORY_ALIASES[_c.value] = _c
    _CATEGORY_ALIASES[_zh] = _c
    _CATEGORY_ALIASES[_zh.removeprefix("食品")] = _c  # 生产, 销售
_CATEGORY_ALIASES.update(
    {"餐饮": Category.CATERING, "食堂": Category.SCHOOL_CANTEEN, "贮存": Category.STORAGE_TRANSPORT,
     "运输": Category.STORAGE_TRANSPORT, "市场": Category.MARKET, "交易市场": Category.MARKET,
     "school canteen": Category.SCHOOL_CANTEEN, "special food": Category.SPECIAL_FOOD}
)


class RiskLevel(StrEnum):
    """Risk grade of a business (风险等级), A lowest to D highest."""

    A = "A"
    B = "B"
    C = "C"
    D = "D"


class CadreLevel(StrEnum):
    """Administrative level of an assigned official (包保干部)."""

    PROVINCE = "province"
    CITY = "city"
    COUNTY = "county"
    TOWNSHIP = "township"
    VILLAGE = "village"


CADRE_LEVEL_ZH: dict[CadreLevel, str] = {
    CadreLevel.PROVINCE: "省级",
    CadreLevel.CITY: "市级",
    CadreLevel.COUNTY: "县级",
    CadreLevel.TOWNSHIP: "乡级",
    CadreLevel.VILLAGE: "村级",
}
_CADRE_LEVEL_ALIASES: dict[str, CadreLevel] = {}
for _l, _zh in CADRE_LEVEL_ZH.items():
    _CADRE_LEVEL_ALIASES[_l.value] = _l
    _CADRE_LEVEL_ALIASES[_zh] = _l
    _CADRE_LEVEL_ALIASES[_zh[0]] = _l
_CADRE_LEVEL_ALIASES.update({"乡镇级": CadreLevel.TOWNSHIP, "乡镇": CadreLevel.TOWNSHIP,
                             "村": CadreLevel.VILLAGE, "村（社区）级": CadreLevel.VILLAGE})

BUSINESS_STATUSES = {"active": "active", "在营": "active", "存续": "active", "正常": "active",
                     "closed": "closed", "注销": "closed", "停业": "closed", "吊销": "closed"}
_TRUE = {"1", "true", "yes", "y", "是", "在职", "active"}
_FALSE = {"0", "false", "no", "n", "否", "离职", "inactive"}


@dataclass(frozen=True, slots=True)
class Column:
    """A register column: its field name, whether it is required, and the headers it goes by."""

    name: str
    zh: str
    required: bool
    headers: tuple[str, ...]
    is_id: bool = False


COLUMNS: dict[RegisterKind, tuple[Column, ...]] = {
    RegisterKind.BUSINESSES: (
        Column("uscc", "统一社会信用代码", True, ("uscc", "统一社会信用代码", "信用代码", "社会信用代码"), is_id=True),
        Column("name", "名称", True, ("name", "名称", "主体名称", "企业名称", "单位名称")),
        Column("region_code", "行政区划代码", True, ("region_code", "region", "行政区划代码", "区划代码", "所在地区划代码"),
               is_id=True),
        Column("category", "类别", True, ("category", "类别", "主体类别", "业态")),
        Column("risk_level", "风险等级", True, ("risk_level", "risk", "风险等级", "风险分级")),
        Column("address", "地址", False, ("address", "地址", "经营地址", "住所")),
        Column("director", "食品安全总监", False, ("director", "食品安全总监", "总监")),
        Column("officer", "食品安全员", False, ("officer", "食品安全员", "安全员")),
        Column("status", "状态", False, ("status", "状态", "经营状态")),
    ),
    RegisterKind.CADRES: (
        Column("cadre_id", "干部编号", True, ("cadre_id", "id", "干部编号", "编号", "人员编号"), is_id=True),
        Column("name", "姓名", True, ("name", "姓名", "包保干部", "干部姓名")),
        Column("level", "层级", True, ("level", "层级", "级别", "包保层级")),
        Column("region_code", "行政区划代码", True, ("region_code", "region", "行政区划代码", "区划代码"), is_id=True),
        Column("position", "职务", False, ("position", "职务", "单位职务")),
        Column("phone", "电话", False, ("phone", "电话", "联系电话", "手机")),
        Column("assigned_uscc", "包保主体", False, ("assigned_uscc", "包保主体", "包保主体统一社会信用代码",
                                        "包保主体信用代码", "assigned")),
    ),
    RegisterKind.INSPECTORS: (
        Column("inspector_id", "执法证号", True, ("inspector_id", "id", "执法证号", "人员编号", "编号"), is_id=True),
        Column("name", "姓名", True, ("name", "姓名", "督查人员")),
        Column("home_region", "所在地区划代码", True, ("home_region", "region_code", "所在地区划代码", "户籍地区划代码",
                                     "工作地区划代码", "区划代码"), is_id=True),
        Column("organisation", "单位", False, ("organisation", "organization", "单位", "工作单位")),
        Column("phone", "电话", False, ("phone", "电话", "联系电话", "手机")),
        Column("active", "在职", False, ("active", "在职", "是否在职", "状态")),
    ),
}

KEY_FIELD: dict[RegisterKind, str] = {
    RegisterKind.BUSINESSES: "uscc",
    RegisterKind.CADRES: "cadre_id",
    RegisterKind.INSPECTORS: "inspector_id",
}


def _fold_header(header: str) -> str:
    return header.strip().lstrip("\ufeff").strip().lower().replace(" ", "_").replace("*", "")


def map_headers(kind: RegisterKind, headers: list[str]) -> tuple[dict[int, str], list[str]]:
    """Map a file's header cells to field names.

    Returns (position -> field name, missing required field names). Unknown headers are ignored;
    when two headers name the same field, the first wins.
    """
    lookup: dict[str, str] = {}
    for col in COLUMNS[kind]:
        for h in col.headers:
            lookup.setdefault(_fold_header(h), col.name)
    mapping: dict[int, str] = {}
    seen: set[str] = set()
    for pos, header in enumerate(headers):
        name = lookup.get(_fold_header(str(header or "")))
        if name is not None and name not in seen:
            mapping[pos] = name
            seen.add(name)
    missing = [c.name for c in COLUMNS[kind] if c.required and c.name not in seen]
    return mapping, missing


def header_label(kind: RegisterKind, field_name: str) -> str:
    """The bilingual label of a field for messages, e.g. ``uscc (统一社会信用代码)``."""
    for col in COLUMNS[kind]:
        if col.name == field_name:
            return f"{col.name} ({col.zh})"
    return field_name


@dataclass(slots=True)
class Business:
    """A food business under supervision (食品生产经营主体), keyed by its USCC."""

    uscc: str
    name: str
    region_code: str
    category: Category
    risk_level: RiskLevel
    address: str = ""
    director: str = ""
    officer: str = ""
    status: str = "active"

    @property
    def province_code(self) -> str:
        return province_of(self.region_code)

    @property
    def key(self) -> str:
        return self.uscc


@dataclass(slots=True)
class Cadre:
    """An assigned official (包保干部) and the businesses assigned to them."""

    cadre_id: str
    name: str
    level: CadreLevel
    region_code: str
    position: str = ""
    phone: str = ""
    assigned_uscc: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return self.cadre_id


@dataclass(slots=True)
class Inspector:
    """An inspector (督查人员) who can be drawn into a team; never visits their home city (回避)."""

    inspector_id: str
    name: str
    home_region: str
    organisation: str = ""
    phone: str = ""
    active: bool = True

    @property
    def key(self) -> str:
        return self.inspector_id


Entity = Business | Cadre | Inspector


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a row (or one of its cells) was refused or flagged: line, column, value and reason."""

    line: int
    column: str
    value: str
    en: str
    zh: str
    warning: bool = False

    def reason(self, lang: str = "en") -> str:
        return self.zh if lang == "zh" else self.en


@dataclass(slots=True)
class RowResult:
    """A validated row: the entity when it can be stored, and every problem found."""

    line: int
    entity: Entity | None
    problems: list[Problem] = field(default_factory=list)


_SPACES = " \t\r\n\u3000\xa0"
# Control characters (NUL above all) are refused: PostgreSQL cannot store NUL in text, and
# none of them belongs in a register cell.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip(_SPACES)
    return str(value).strip(_SPACES)


class _Row:
    """Collects problems while one raw row is read."""

    __slots__ = ("kind", "line", "problems", "raw")

    def __init__(self, kind: RegisterKind, line: int, raw: Mapping[str, object]) -> None:
        self.kind = kind
        self.line = line
        self.raw = raw
        self.problems: list[Problem] = []

    def fail(self, column: str, value: object, en: str, zh: str, *, warning: bool = False) -> None:
        self.problems.append(
            Problem(self.line, header_label(self.kind, column), _text(value), en, zh, warning)
        )

    def text(self, name: str, *, required: bool = False, max_len: int = 200) -> str:
        value = _text(self.raw.get(name))
        bad = _CONTROL.search(value)
        if bad:
            self.fail(name, value.encode("unicode_escape").decode(),
                      f"contains the control character U+{ord(bad.group()):04X}",
                      f"含有控制字符U+{ord(bad.group()):04X}")
            return ""
        if not value and required:
            self.fail(name, value, "required value is empty", "必填项为空")
        elif len(value) > max_len:
            self.fail(name, value, f"longer than {max_len} characters", f"超过{max_len}个字符")
            return ""
        return value

    def ident(self, name: str) -> str:
        """An identifier cell: must be text in the file, never a number."""
        value = self.raw.get(name)
        if value is not None and not isinstance(value, str):
            self.fail(
                name, value,
                "stored as a number in the spreadsheet; format the column as text and retype the "
                "value (numbers lose leading zeros and letters)",
                "在表格中存储为数值；请将该列设为文本格式并重新录入（数值会丢失前导零和字母）",
            )
            return ""
        return self.text(name, required=True, max_len=64)

    def region(self, name: str, regions: RegionIndex) -> str:
        code = self.ident(name)
        if not code:
            return ""
        if not is_region_code(code):
            self.fail(name, code, "a region code has 6 digits (GB/T 2260)",
                      "行政区划代码应为6位数字（GB/T 2260）")
            return ""
        check = regions.check(code)
        if check is RegionCheck.UNKNOWN:
            self.fail(name, code, f"unknown region code; province {code[:2]}0000 does not exist",
                      f"未知行政区划代码，省级代码{code[:2]}0000不存在")
            return ""
        if check is RegionCheck.UNKNOWN_UNDER_KNOWN_PROVINCE:
            self.fail(name, code, "region code not in the shipped GB/T 2260 snapshot; stored under "
                      "its province", "行政区划代码不在内置GB/T 2260数据中，按所属省份保存",
                      warning=True)
        return code

    @property
    def refused(self) -> bool:
        return any(not p.warning for p in self.problems)


def _validate_business(row: _Row, regions: RegionIndex) -> Business | None:
    raw_code = row.ident("uscc")
    code = uscc.normalise(raw_code) if raw_code else ""
    if code:
        bad = uscc.problem(code)
        if bad is not None:
            row.fail("uscc", raw_code, bad[0], bad[1])
    name = row.text("name", required=True)
    region_code = row.region("region_code", regions)
    category_raw = row.text("category", required=True)
    category = _CATEGORY_ALIASES.get(category_raw.lower()) if category_raw else None
    if category_raw and category is None:
        row.fail("category", category_raw,
                 "unknown category; allowed: " + ", ".join(c.value for c in Category),
                 "未知主体类别；允许：" + "、".join(CATEGORY_ZH.values()))
    risk_raw = row.text("risk_level", required=True).upper()
    risk = risk_raw.removesuffix("级") if risk_raw else ""
    if risk_raw and risk not in RiskLevel.__members__:
        row.fail("risk_level", risk_raw, "risk level must be A, B, C or D",
                 "风险等级应为A、B、C或D")
    status_raw = row.text("status")
    status = BUSINESS_STATUSES.get(status_raw.lower(), "") if status_raw else "active"
    if not status:
        row.fail("status", status_raw, "status must be active or closed",
                 "经营状态应为在营(active)或注销(closed)")
    address = row.text("address", max_len=300)
    director = row.text("director", max_len=50)
    officer = row.text("officer", max_len=50)
    if row.refused or category is None:
        return None
    return Business(code, name, region_code, category, RiskLevel(risk), address, director,
                    officer, status)


def _check_id_chars(row: _Row, name: str, value: str) -> str:
    value = value.upper()
    if value and not set(value) <= _ID_CHARS:
        row.fail(name, value, "an ID uses only letters, digits, '-' and '_'",
                 "编号只能包含字母、数字、“-”和“_”")
        return ""
    return value


_LIST_SEPARATORS = re.compile(r"[;；,，、\s]+")  # \s includes U+3000 and U+00A0


def split_uscc_list(raw: str) -> list[str]:
    """Split a cell listing several codes separated by ; , 、 (half or full width) or whitespace."""
    return [part for part in _LIST_SEPARATORS.split(raw) if part]


def _validate_cadre(row: _Row, regions: RegionIndex) -> Cadre | None:
    cadre_id = _check_id_chars(row, "cadre_id", row.ident("cadre_id"))
    name = row.text("name", required=True, max_len=50)
    level_raw = row.text("level", required=True)
    level = _CADRE_LEVEL_ALIASES.get(level_raw.lower()) if level_raw else None
    if level_raw and level is None:
        row.fail("level", level_raw,
                 "level must be one of " + ", ".join(lv.value for lv in CadreLevel),
                 "层级应为" + "、".join(CADRE_LEVEL_ZH.values()) + "之一")
    region_code = row.region("region_code", regions)
    position = row.text("position", max_len=100)
    phone = row.text("phone", max_len=30)
    assigned_raw = row.raw.get("assigned_uscc")
    assigned: list[str] = []
    if assigned_raw is not None and not isinstance(assigned_raw, str):
        row.fail("assigned_uscc", assigned_raw, "stored as a number; format the column as text",
                 "存储为数值；请将该列设为文本格式")
    else:
        seen: set[str] = set()
        for part in split_uscc_list(_text(assigned_raw)):
            code = uscc.normalise(part)
            bad = uscc.problem(code)
            if bad is not None:
                row.fail("assigned_uscc", part, f"{part}: {bad[0]}", f"{part}：{bad[1]}")
            elif code not in seen:
                seen.add(code)
                assigned.append(code)
    if row.refused or level is None:
        return None
    return Cadre(cadre_id, name, level, region_code, position, phone, tuple(assigned))


def _validate_inspector(row: _Row, regions: RegionIndex) -> Inspector | None:
    inspector_id = _check_id_chars(row, "inspector_id", row.ident("inspector_id"))
    name = row.text("name", required=True, max_len=50)
    home = row.region("home_region", regions)
    organisation = row.text("organisation", max_len=100)
    phone = row.text("phone", max_len=30)
    active_raw = row.text("active").lower()
    active = True
    if active_raw:
        if active_raw in _TRUE:
            active = True
        elif active_raw in _FALSE:
            active = False
        else:
            row.fail("active", active_raw, "active must be yes or no", "是否在职应为“是”或“否”")
    if row.refused:
        return None
    return Inspector(inspector_id, name, home, organisation, phone, active)


_RISKS = frozenset(RiskLevel.__members__)
_RISK_OF = {r.value: r for r in RiskLevel}
_uscc_valid = uscc.is_valid


def _fast_business(raw: Mapping[str, object], codes: frozenset[str]) -> Business | None:
    """The common case of a clean row, checked cheaply; ``None`` means "run the full validation".

    It accepts a row only when the full validation would accept it with no problem at all (a
    property test holds the two to that), and it never explains anything: problems are the full
    validation's job.
    """
    get = raw.get
    code, name, region, cat, risk = (get("uscc"), get("name"), get("region_code"),
                                     get("category"), get("risk_level"))
    if not (type(code) is str and type(name) is str and type(region) is str
            and type(cat) is str and type(risk) is str):
        return None
    code = code.strip(_SPACES).upper()
    region = region.strip(_SPACES)
    category = _CATEGORY_ALIASES.get(cat.strip(_SPACES).lower())
    risk = risk.strip(_SPACES).upper()
    name = name.strip(_SPACES)
    if (not _uscc_valid(code) or region not in codes or category is None
            or risk not in _RISKS or not name or len(name) > 200):
        return None
    address, director, officer, status = (get("address"), get("director"), get("officer"),
                                          get("status"))
    address = "" if address is None else address.strip(_SPACES) if type(address) is str else None
    director = "" if director is None else director.strip(_SPACES) if type(director) is str else None
    officer = "" if officer is None else officer.strip(_SPACES) if type(officer) is str else None
    if (address is None or director is None or officer is None or len(address) > 300
            or len(director) > 50 or len(officer) > 50
            or _CONTROL.search(name + address + director + officer)):
        return None
    if status is None or status == "":
        status = "active"
    elif type(status) is str and status in BUSINESS_STATUSES:
        status = BUSINESS_STATUSES[status]
    else:
        return None
    return Business(code, name, region, category, _RISK_OF[risk], address, director, officer,
                    status)


def quick_validate(kind: RegisterKind, raw: Mapping[str, object],
                   regions: RegionIndex) -> Entity | None:
    """A clean row's entity, or ``None`` when the row needs :func:`validate_row`."""
    if kind is RegisterKind.BUSINESSES:
        return _fast_business(raw, regions.codes)
    return None


_VALIDATORS = {
    RegisterKind.BUSINESSES: _validate_business,
    RegisterKind.CADRES: _validate_cadre,
    RegisterKind.INSPECTORS: _validate_inspector,
}


def validate_row(
    kind: RegisterKind, line: int, raw: Mapping[str, object], regions: RegionIndex
) -> RowResult:
    """Validate one raw row of a register; every problem in the row is reported, not just the first."""
    row = _Row(kind, line, raw)
    entity = _VALIDATORS[kind](row, regions)
    return RowResult(line, entity, row.problems)


def key_of(entity: Entity) -> str:
    """The register key of an entity (USCC, cadre id or inspector id)."""
    return entity.key
