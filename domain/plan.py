"""Campaign plans: a TOML file written by a planner, validated with every mistake reported at once.

See ``examples/plan-2023-two-responsibilities.toml`` and the README for the format.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

from domain.errors import InputError
from domain.regions import is_region_code
from domain.registers import Category, RiskLevel
from domain.vocabulary import SEVERITIES

KINDS = ("inspection", "lookback")
STAGE_UNITS = ("province", "city", "business")
STRATA_FIELDS = ("province", "city", "county", "category", "risk_level")
ALLOCATIONS = ("proportional", "equal", "risk_weighted")
AVOIDANCE = ("city", "province", "county")
#: Which issues of the source campaign put a business in a look-back's frame.
ISSUE_SCOPES = ("unverified", "all")


class PlanError(InputError):
    """A plan with mistakes; ``problems`` lists (key path, what is wrong) for every one of them."""

    code = "bad_plan"

    def __init__(self, problems: list[tuple[str, str, str]]) -> None:
        self.problems = problems
        en = f"the plan has {len(problems)} mistake(s):\n" + "\n".join(
            f"  {path}: {msg_en}" for path, msg_en, _ in problems)
        zh = f"计划文件有{len(problems)}处错误：\n" + "\n".join(
            f"  {path}：{msg_zh}" for path, _, msg_zh in problems)
        super().__init__(en, zh)


@dataclass(frozen=True)
class Stage:
    """One stage of a multi-stage draw: ``province`` (``count`` drawn), ``city`` (``per_parent``
    drawn in each province) or the final ``business`` stage."""

    unit: str
    count: int | None = None
    per_parent: int | None = None


@dataclass(frozen=True)
class SampleSpec:
    """How many businesses, across which strata, allocated how. ``all`` (a census of the frame,
    the default of a look-back) is drawn as ``fraction = 1``, so it has the same record."""

    total: int | None = None
    fraction: float | None = None
    per_stratum: int | None = None
    strata: tuple[str, ...] = ()
    allocation: str = "proportional"
    min_per_stratum: int = 0
    risk_weights: dict[str, int] = field(default_factory=lambda: {"A": 1, "B": 2, "C": 3, "D": 4})
    all: bool = False


@dataclass(frozen=True)
class TeamSpec:
    """Inspection teams: how many, how many inspectors in each (>= 2), and the avoidance level."""

    count: int
    members: int
    avoidance: str = "city"


@dataclass(frozen=True)
class SeedBeacon:
    """Where the seed will come from (``seed = { beacon = "…", published_on = … }``): a public
    random value not yet known when the frame is committed (``lookback draw commit``). The seed
    is derived from the committed frame's SHA-256 and this value (``domain.sampling.beacon_seed``)."""

    name: str
    published_on: date

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "published_on": self.published_on.isoformat()}


BEACON_KEYS = ("beacon", "published_on")
BEACON_NAME_MAX = 200


@dataclass(frozen=True)
class Plan:
    """A validated campaign plan."""

    office: str
    title: str
    kind: str
    starts_on: date
    ends_on: date
    seed: str | None  # None means "auto": a random seed is drawn at creation and recorded
    provinces: tuple[str, ...]
    categories: tuple[str, ...]
    risk_levels: tuple[str, ...]
    exclusion_days: int
    stages: tuple[Stage, ...]
    sample: SampleSpec
    teams: TeamSpec
    rectification_days: dict[str, int]
    lookback_grace_workdays: int
    reminder_workdays: int
    office_short: str = ""
    #: A look-back only: ``"unverified"`` (businesses with issues not yet verified) or ``"all"``.
    issues: str | None = None
    #: ``seed = { beacon = …, published_on = … }``: the seed comes from a public beacon value
    #: entered after the commitment (``seed`` is then None, and no seed is drawn at creation).
    beacon: SeedBeacon | None = None

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["starts_on"] = self.starts_on.isoformat()
        d["ends_on"] = self.ends_on.isoformat()
        d["beacon"] = self.beacon.as_dict() if self.beacon is not None else None
        return d


class _Checker:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.problems: list[tuple[str, str, str]] = []

    def fail(self, path: str, en: str, zh: str) -> None:
        self.problems.append((path, en, zh))

    def table(self, path: str) -> dict[str, Any]:
        node: Any = self.data
        for part in path.split("."):
            if not isinstance(node, dict):
                return {}
            node = node.get(part, {})
        if not isinstance(node, dict):
            self.fail(path, "expected a table", "应为表（table）")
            return {}
        return node

    def get(self, tbl: dict[str, Any], path: str, key: str, kind: type | tuple[type, ...],
            *, required: bool = True, default: Any = None, what: str = "", what_zh: str = "") -> Any:
        full = f"{path}.{key}" if path else key
        if key not in tbl:
            if required:
                self.fail(full, f"missing; expected {what}", f"缺失；应为{what_zh or what}")
            return default
        value = tbl[key]
        if isinstance(value, bool) and kind is not bool and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            self.fail(full, f"expected {what}, got {value!r}", f"应为{what_zh or what}，实际为{value!r}")
            return default
        if not isinstance(value, kind) or (kind is date and isinstance(value, datetime)):
            self.fail(full, f"expected {what}, got {value!r}", f"应为{what_zh or what}，实际为{value!r}")
            return default
        return value

    def positive(self, tbl: dict[str, Any], path: str, key: str, *, required: bool = True,
                 default: int | None = None, minimum: int = 1) -> int | None:
        value = self.get(tbl, path, key, int, required=required, default=default,
                         what=f"an integer >= {minimum}", what_zh=f"不小于{minimum}的整数")
        if value is not None and value < minimum:
            self.fail(f"{path}.{key}", f"expected an integer >= {minimum}, got {value}",
                      f"应为不小于{minimum}的整数，实际为{value}")
            return default
        return value  # type: ignore[no-any-return]

    def choice(self, tbl: dict[str, Any], path: str, key: str, allowed: tuple[str, ...],
               default: str | None = None) -> str | None:
        value = self.get(tbl, path, key, str, required=default is None, default=default,
                         what=" or ".join(f'"{a}"' for a in allowed))
        if value is not None and value not in allowed:
            self.fail(f"{path}.{key}", "expected " + " or ".join(f'"{a}"' for a in allowed)
                      + f", got {value!r}", "应为" + "或".join(f"“{a}”" for a in allowed)
                      + f"，实际为“{value}”")
            return default
        return value  # type: ignore[no-any-return]

    def str_list(self, tbl: dict[str, Any], path: str, key: str, allowed: tuple[str, ...] | None,
                 *, check: Any = None) -> tuple[str, ...]:
        value = self.get(tbl, path, key, list, required=False, default=[],
                         what="a list of strings", what_zh="字符串列表")
        out = []
        for i, item in enumerate(value):
            ipath = f"{path}.{key}[{i}]"
            if not isinstance(item, str):
                self.fail(ipath, f"expected a string, got {item!r}", f"应为字符串，实际为{item!r}")
            elif allowed is not None and item not in allowed:
                self.fail(ipath, f"{item!r} is not one of {', '.join(allowed)}",
                          f"“{item}”不是{'、'.join(allowed)}之一")
            elif check is not None and not check(item):
                self.fail(ipath, f"{item!r} is not a 6-digit province code like 330000",
                          f"“{item}”不是形如330000的6位省级代码")
            elif item in out:
                self.fail(ipath, f"{item!r} is listed twice", f"“{item}”重复")
            else:
                out.append(item)
        return tuple(out)


def parse_plan(text: str) -> Plan:
    """Parse and validate a plan; raises :class:`PlanError` listing every mistake."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise PlanError([("(file)", f"not valid TOML: {e}", f"不是有效的TOML：{e}")]) from None
    c = _Checker(data)
    for key in data:
        if key not in ("campaign", "scope", "stages", "sample", "teams", "rectification"):
            c.fail(key, "unknown section; expected campaign, scope, stages, sample, teams, "
                   "rectification", "未知的节；应为campaign、scope、stages、sample、teams、rectification")

    known_keys = {
        "campaign": ("office", "office_short", "title", "kind", "starts_on", "ends_on", "seed"),
        "scope": ("provinces", "categories", "risk_levels", "exclusion_days", "issues"),
        "sample": ("total", "fraction", "per_stratum", "all", "strata", "allocation",
                   "min_per_stratum", "risk_weights"),
        "teams": ("count", "members", "avoidance"),
        "rectification": ("days", "lookback_grace_workdays", "reminder_workdays"),
    }
    for section, allowed in known_keys.items():
        table = data.get(section)
        if isinstance(table, dict):
            for key in table:
                if key not in allowed:
                    c.fail(f"{section}.{key}", "unknown key (a typo?); expected one of "
                           + ", ".join(allowed), "未知的键（拼写错误？）；应为" + "、".join(allowed)
                           + "之一")
    for i, st in enumerate(data.get("stages", []) if isinstance(data.get("stages"), list) else []):
        if isinstance(st, dict):
            for key in st:
                if key not in ("unit", "count", "per_parent"):
                    c.fail(f"stages[{i}].{key}", "unknown key; expected unit, count, per_parent",
                           "未知的键；应为unit、count、per_parent之一")

    camp = c.table("campaign")
    office = c.get(camp, "campaign", "office", str, what="the issuing office's name",
                   what_zh="发文机关名称")
    office_short = c.get(camp, "campaign", "office_short", str, required=False, default="",
                         what="a short office name for document numbers", what_zh="发文机关简称")
    title = c.get(camp, "campaign", "title", str, what="the campaign title", what_zh="督查名称")
    kind = c.choice(camp, "campaign", "kind", KINDS, default="inspection")
    starts = c.get(camp, "campaign", "starts_on", date, what="a date like 2023-08-14",
                   what_zh="形如2023-08-14的日期")
    ends = c.get(camp, "campaign", "ends_on", date, what="a date like 2023-09-15",
                 what_zh="形如2023-09-15的日期")
    if isinstance(starts, date) and isinstance(ends, date) and ends < starts:
        c.fail("campaign.ends_on", f"{ends} is before starts_on {starts}",
               f"{ends}早于开始日期{starts}")
    seed_raw = camp.get("seed", "auto")
    seed: str | None = None
    beacon: SeedBeacon | None = None
    if isinstance(seed_raw, dict):
        beacon = _beacon(c, seed_raw)
    elif isinstance(seed_raw, bool) or not isinstance(seed_raw, int | str):
        c.fail("campaign.seed", 'expected a number, "auto", or a table { beacon = "<public '
               f'draw>", published_on = <date> }}, got {seed_raw!r}',
               "应为数字、“auto”或形如{ beacon = \"公开开奖名称\", published_on = 日期 }的表，"
               f"实际为{seed_raw!r}")
    elif isinstance(seed_raw, int):
        if seed_raw < 0:
            c.fail("campaign.seed", "expected a non-negative number", "应为非负数")
        seed = str(seed_raw)
    elif seed_raw != "auto":
        if not (seed_raw.isascii() and seed_raw.isdigit()):
            c.fail("campaign.seed", f'expected a number or "auto", got {seed_raw!r}',
                   f"应为数字或“auto”，实际为“{seed_raw}”")
        seed = seed_raw.lstrip("0") or "0"

    scope = c.table("scope")
    provinces = c.str_list(scope, "scope", "provinces", None,
                           check=lambda s: is_region_code(s) and s.endswith("0000"))
    categories = c.str_list(scope, "scope", "categories", tuple(x.value for x in Category))
    risk_levels = c.str_list(scope, "scope", "risk_levels", tuple(x.value for x in RiskLevel))
    exclusion_days = c.positive(scope, "scope", "exclusion_days", required=False, default=0,
                                minimum=0) or 0
    issues: str | None = None
    lookback = kind == "lookback"
    if lookback:
        # The frame of a look-back is the source campaign's businesses with issues: a window
        # that leaves out recently inspected businesses would leave out exactly those.
        if "exclusion_days" in scope:
            c.fail("scope.exclusion_days", "not used by a look-back campaign: its frame is the "
                   "source campaign's businesses with issues, which were all inspected recently; "
                   "remove the key", "回头看不使用此键：其抽样框是原督查中有问题的主体，均为近期检查过的"
                   "主体；请删除此键")
        issues = c.choice(scope, "scope", "issues", ISSUE_SCOPES, default="unverified")
    elif "issues" in scope:
        c.fail("scope.issues", 'only a look-back campaign (kind = "lookback") has issues in '
               "scope; remove the key or set campaign.kind", "只有回头看（kind = \"lookback\"）才有"
               "问题范围；请删除此键或修改campaign.kind")

    stages: list[Stage] = []
    raw_stages = data.get("stages", [{"unit": "business"}])
    if not isinstance(raw_stages, list) or not raw_stages:
        c.fail("stages", "expected an array of tables [[stages]]", "应为表数组[[stages]]")
        raw_stages = []
    for i, st in enumerate(raw_stages):
        path = f"stages[{i}]"
        if not isinstance(st, dict):
            c.fail(path, "expected a table", "应为表")
            continue
        unit = c.choice(st, path, "unit", STAGE_UNITS)
        count = per_parent = None
        if unit == "province":
            count = c.positive(st, path, "count")
        elif unit == "city":
            per_parent = c.positive(st, path, "per_parent")
        if unit is not None:
            stages.append(Stage(unit, count, per_parent))
    units = [s.unit for s in stages]
    if stages and (units[-1] != "business" or units.count("business") != 1):
        c.fail("stages", 'the last stage, and only the last, must be unit = "business"',
               "最后一个阶段（且仅最后一个）必须为unit = \"business\"")
    order = [u for u in units if u != "business"]
    if order not in ([], ["province"], ["city"], ["province", "city"]):
        c.fail("stages", "stages go from larger to smaller units: province, then city, then "
               "business, each at most once", "阶段须按省、市、主体由大到小排列，每级至多一次")
    elif lookback and order:
        # Drawing provinces or cities first would drop businesses with issues in the places not
        # drawn, which defeats a look-back; narrow with scope.provinces or strata instead.
        c.fail("stages", "a look-back campaign draws businesses only: it has no province or city "
               'stage (use scope.provinces to narrow, sample.strata to spread)',
               "回头看只抽取主体，不设省、市抽样阶段（可用scope.provinces限定范围，用sample.strata分层）")

    smp = c.table("sample")
    total = c.positive(smp, "sample", "total", required=False)
    fraction = c.get(smp, "sample", "fraction", (float, int), required=False,
                     what="a fraction between 0 and 1", what_zh="0到1之间的比例")
    if fraction is not None and not 0 < fraction <= 1:
        c.fail("sample.fraction", f"expected a fraction in (0, 1], got {fraction}",
               f"应为(0, 1]之间的比例，实际为{fraction}")
    per_stratum = c.positive(smp, "sample", "per_stratum", required=False)
    census = c.get(smp, "sample", "all", bool, required=False, default=False,
                   what="true (take every business in the frame)", what_zh="true（抽样框内主体全部入样）")
    given = [k for k, v in (("total", total), ("fraction", fraction),
                            ("per_stratum", per_stratum)) if v is not None]
    if census:
        given.append("all")
    if lookback and not given and not any(p[0].startswith("sample.") for p in c.problems):
        census, given = True, ["all"]  # a look-back re-checks every business unless told
    if len(given) != 1 and not any(p[0].startswith("sample.") for p in c.problems):
        c.fail("sample", "give exactly one of total, fraction, per_stratum or all = true"
               + (f" (got {', '.join(given)})" if given else ""),
               "total、fraction、per_stratum、all = true四者须且只能给出一个")
    if census:
        fraction = 1.0
    strata = c.str_list(smp, "sample", "strata", STRATA_FIELDS)
    allocation = c.choice(smp, "sample", "allocation", ALLOCATIONS, default="proportional")
    minimum = c.positive(smp, "sample", "min_per_stratum", required=False, default=0,
                         minimum=0) or 0
    weights = {"A": 1, "B": 2, "C": 3, "D": 4}
    raw_w = smp.get("risk_weights")
    if raw_w is not None:
        if not isinstance(raw_w, dict):
            c.fail("sample.risk_weights", "expected a table like { A = 1, B = 2, C = 3, D = 4 }",
                   "应为形如{ A = 1, B = 2, C = 3, D = 4 }的表")
        else:
            for k, v in raw_w.items():
                if k not in weights:
                    c.fail(f"sample.risk_weights.{k}", "risk levels are A, B, C, D",
                           "风险等级为A、B、C、D")
                elif isinstance(v, bool) or not isinstance(v, int) or v < 1:
                    c.fail(f"sample.risk_weights.{k}", f"expected a whole number >= 1, got {v!r}",
                           f"应为不小于1的整数，实际为{v!r}")
                else:
                    weights[k] = v
    sample = SampleSpec(total, float(fraction) if fraction is not None else None, per_stratum,
                        strata, allocation or "proportional", minimum, weights, bool(census))

    tms = c.table("teams")
    count = c.positive(tms, "teams", "count")
    members = c.positive(tms, "teams", "members", minimum=2)
    avoidance = c.choice(tms, "teams", "avoidance", AVOIDANCE, default="city")

    rect = c.table("rectification")
    days_raw = rect.get("days", {"minor": 5, "general": 10, "serious": 15})
    days: dict[str, int] = {}
    if not isinstance(days_raw, dict):
        c.fail("rectification.days", "expected a table like { minor = 5, general = 10, "
               "serious = 15 }", "应为形如{ minor = 5, general = 10, serious = 15 }的表")
    else:
        for sev in SEVERITIES:
            v = days_raw.get(sev)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                c.fail(f"rectification.days.{sev}", f"expected working days >= 1, got {v!r}",
                       f"应为不小于1的工作日数，实际为{v!r}")
            else:
                days[sev] = v
        for k in days_raw:
            if k not in SEVERITIES:
                c.fail(f"rectification.days.{k}", "severities are minor, general, serious",
                       "严重程度为minor（轻微）、general（一般）、serious（严重）")
    grace = c.positive(rect, "rectification", "lookback_grace_workdays", required=False,
                       default=5, minimum=0)
    reminder = c.positive(rect, "rectification", "reminder_workdays", required=False,
                          default=3, minimum=0)

    if c.problems:
        raise PlanError(c.problems)
    assert isinstance(starts, date) and isinstance(ends, date) and count and members
    return Plan(
        office=office, title=title, kind=kind or "inspection", starts_on=starts, ends_on=ends,
        seed=seed, provinces=provinces, categories=categories, risk_levels=risk_levels,
        exclusion_days=exclusion_days, stages=tuple(stages), sample=sample,
        teams=TeamSpec(count, members, avoidance or "city"), rectification_days=days,
        lookback_grace_workdays=grace if grace is not None else 5,
        reminder_workdays=reminder if reminder is not None else 3, office_short=office_short,
        issues=issues, beacon=beacon,
    )


def _beacon(c: _Checker, table: dict[str, Any]) -> SeedBeacon | None:
    """``campaign.seed = { beacon = "…", published_on = 2026-12-20 }``, every mistake named."""
    path = "campaign.seed"
    for key in table:
        if key not in BEACON_KEYS:
            c.fail(f"{path}.{key}", "unknown key (a typo?); expected beacon, published_on",
                   "未知的键（拼写错误？）；应为beacon、published_on之一")
    name = c.get(table, path, "beacon", str, what="the name of the public draw whose value "
                 'will seed the draw, e.g. "福彩3D第2026330期开奖号码"',
                 what_zh="用作随机种子来源的公开开奖名称，如“福彩3D第2026330期开奖号码”")
    published = c.get(table, path, "published_on", date, what="the date (China) the value is "
                      "published, like 2026-12-20", what_zh="开奖结果公布日期（北京时间），如2026-12-20")
    if isinstance(name, str):
        name = name.strip()
        if not name:
            c.fail(f"{path}.beacon", "is empty; name the public draw whose value will seed the "
                   "draw", "为空；请写明用作随机种子来源的公开开奖名称")
            name = None
        elif len(name) > BEACON_NAME_MAX or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name):
            c.fail(f"{path}.beacon", f"expected one line of at most {BEACON_NAME_MAX} "
                   "characters", f"应为一行、不超过{BEACON_NAME_MAX}个字符")
            name = None
    if isinstance(name, str) and isinstance(published, date):
        return SeedBeacon(name, published)
    return None


def plan_toml(data: dict[str, Any]) -> str:
    """A plan's data (sections of keys, as ``tomllib`` reads them) written as TOML text, so a
    plan filled in a form goes through :func:`parse_plan` like a file: tables as ``[section]``,
    ``stages`` as ``[[stages]]``, values as TOML literals. Values of a wrong type are written
    as they are (a string stays a string), so ``parse_plan`` names each mistake's key path."""
    out: list[str] = []
    for section, table in data.items():
        if isinstance(table, list):
            for item in table:
                out += [f"[[{_toml_key(section)}]]", *_toml_pairs(item), ""]
        elif isinstance(table, dict):
            out += [f"[{_toml_key(section)}]", *_toml_pairs(table), ""]
        else:
            out.insert(0, f"{_toml_key(section)} = {_toml_value(table)}")
    return "\n".join(out)


def _toml_pairs(table: dict[str, Any]) -> list[str]:
    return [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in table.items()]


def _toml_key(key: str) -> str:
    bare = key and all(ch.isascii() and (ch.isalnum() or ch in "_-") for ch in key)
    return key if bare else _toml_string(key)


def _toml_string(text: str) -> str:
    escaped = []
    for ch in text:
        if ch in ('"', "\\"):
            escaped.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            escaped.append(f"\\u{ord(ch):04X}")
        else:
            escaped.append(ch)
    return '"' + "".join(escaped) + '"'


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}"
                                for k, v in value.items()) + " }"
    raise TypeError(f"no TOML literal for {value!r}")
