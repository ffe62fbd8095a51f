"""Validation of one register row, header mapping, and the fast path for clean business rows."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.regions import RegionIndex
from domain.registers import (
    COLUMNS,
    Business,
    Cadre,
    CadreLevel,
    Category,
    Inspector,
    Problem,
    RegisterKind,
    RiskLevel,
    RowResult,
    map_headers,
    quick_validate,
    split_uscc_list,
    validate_row,
)

REGIONS = RegionIndex({"110000", "110100", "110101", "440000", "440300", "440305"})
B, C, N = RegisterKind.BUSINESSES, RegisterKind.CADRES, RegisterKind.INSPECTORS
LINE = 7

GOOD_BUSINESS: dict[str, object] = {
    "uscc": "91440300708461136T",
    "name": "深圳市南山区某某餐饮有限公司",
    "region_code": "440305",
    "category": "catering",
    "risk_level": "B",
    "address": "南山区科技园1号",
    "director": "张三",
    "officer": "李四",
    "status": "active",
}
GOOD_CADRE: dict[str, object] = {
    "cadre_id": "gd-0001",
    "name": "王五",
    "level": "乡镇",
    "region_code": "440305",
    "position": "副镇长",
    "phone": "13800000000",
    "assigned_uscc": "914403001922038216；91440300708461136T",
}
GOOD_INSPECTOR: dict[str, object] = {
    "inspector_id": "bj-2023_001",
    "name": "赵六",
    "home_region": "110101",
    "organisation": "北京市市场监督管理局",
    "phone": "13900000000",
    "active": "是",
}
GOOD = {B: GOOD_BUSINESS, C: GOOD_CADRE, N: GOOD_INSPECTOR}

LABEL = {
    "uscc": "uscc (统一社会信用代码)",
    "name_b": "name (名称)",
    "region_code": "region_code (行政区划代码)",
    "category": "category (类别)",
    "risk_level": "risk_level (风险等级)",
    "status": "status (状态)",
    "cadre_id": "cadre_id (干部编号)",
    "level": "level (层级)",
    "assigned_uscc": "assigned_uscc (包保主体)",
    "inspector_id": "inspector_id (执法证号)",
    "home_region": "home_region (所在地区划代码)",
    "active": "active (在职)",
}


def with_(kind: RegisterKind, **changes: object) -> dict[str, object]:
    row = dict(GOOD[kind])
    row.update(changes)
    return row


def without(kind: RegisterKind, name: str) -> dict[str, object]:
    row = dict(GOOD[kind])
    del row[name]
    return row


def refused_once(result: RowResult) -> Problem:
    """The row is refused for exactly one reason; that reason."""
    assert result.entity is None
    assert len(result.problems) == 1, result.problems
    problem = result.problems[0]
    assert not problem.warning
    assert problem.line == LINE
    assert problem.en and problem.zh
    return problem


# --- good rows ---------------------------------------------------------------------------------


def test_good_business_row() -> None:
    result = validate_row(B, LINE, GOOD_BUSINESS, REGIONS)
    assert result.problems == []
    assert result.line == LINE
    assert result.entity == Business(
        "91440300708461136T", "深圳市南山区某某餐饮有限公司", "440305", Category.CATERING,
        RiskLevel.B, "南山区科技园1号", "张三", "李四", "active",
    )
    assert result.entity.province_code == "440000"


def test_good_business_row_with_only_required_columns() -> None:
    raw = {k: GOOD_BUSINESS[k] for k in ("uscc", "name", "region_code", "category", "risk_level")}
    result = validate_row(B, LINE, raw, REGIONS)
    assert result.problems == []
    assert result.entity == Business("91440300708461136T", "深圳市南山区某某餐饮有限公司", "440305",
                                     Category.CATERING, RiskLevel.B)


def test_good_cadre_row() -> None:
    result = validate_row(C, LINE, GOOD_CADRE, REGIONS)
    assert result.problems == []
    assert result.entity == Cadre("GD-0001", "王五", CadreLevel.TOWNSHIP, "440305", "副镇长",
                                  "13800000000", ("914403001922038216", "91440300708461136T"))


def test_good_inspector_row() -> None:
    result = validate_row(N, LINE, GOOD_INSPECTOR, REGIONS)
    assert result.problems == []
    assert result.entity == Inspector("BJ-2023_001", "赵六", "110101", "北京市市场监督管理局",
                                      "13900000000", True)


def test_cells_are_trimmed_and_codes_normalised() -> None:
    raw = with_(B, uscc="\u3000９１４４０３００７０８４６１１３６ｔ ", name=" 某店\u3000",
                region_code="\t440305\xa0", category=" 餐饮 ", risk_level=" b ")
    result = validate_row(B, LINE, raw, REGIONS)
    assert result.problems == []
    assert isinstance(result.entity, Business)
    assert result.entity.uscc == "91440300708461136T"
    assert result.entity.name == "某店"
    assert result.entity.region_code == "440305"
    assert result.entity.risk_level is RiskLevel.B


@pytest.mark.parametrize(
    ("raw", "category"),
    [
        ("餐饮", Category.CATERING),
        ("餐饮服务", Category.CATERING),
        ("学校食堂", Category.SCHOOL_CANTEEN),
        ("食堂", Category.SCHOOL_CANTEEN),
        ("School Canteen", Category.SCHOOL_CANTEEN),
        ("school_canteen", Category.SCHOOL_CANTEEN),
        ("生产", Category.PRODUCTION),
        ("食品销售", Category.SALES),
        ("特殊食品", Category.SPECIAL_FOOD),
        ("运输", Category.STORAGE_TRANSPORT),
        ("集中交易市场", Category.MARKET),
        ("MARKET", Category.MARKET),
    ],
)
def test_category_aliases(raw: str, category: Category) -> None:
    result = validate_row(B, LINE, with_(B, category=raw), REGIONS)
    assert result.problems == []
    assert isinstance(result.entity, Business)
    assert result.entity.category is category


@pytest.mark.parametrize(("raw", "risk"), [("A", RiskLevel.A), ("d", RiskLevel.D),
                                           ("C级", RiskLevel.C), ("b级", RiskLevel.B)])
def test_risk_levels(raw: str, risk: RiskLevel) -> None:
    result = validate_row(B, LINE, with_(B, risk_level=raw), REGIONS)
    assert result.problems == []
    assert isinstance(result.entity, Business)
    assert result.entity.risk_level is risk


@pytest.mark.parametrize(("raw", "status"), [("在营", "active"), ("存续", "active"),
                                             ("注销", "closed"), ("Closed", "closed"),
                                             ("", "active"), (None, "active")])
def test_business_status(raw: object, status: str) -> None:
    result = validate_row(B, LINE, with_(B, status=raw), REGIONS)
    assert result.problems == []
    assert isinstance(result.entity, Business)
    assert result.entity.status == status


@pytest.mark.parametrize(
    ("raw", "level"),
    [
        ("乡镇", CadreLevel.TOWNSHIP),
        ("乡镇级", CadreLevel.TOWNSHIP),
        ("乡级", CadreLevel.TOWNSHIP),
        ("村级", CadreLevel.VILLAGE),
        ("村", CadreLevel.VILLAGE),
        ("村（社区）级", CadreLevel.VILLAGE),
        ("省级", CadreLevel.PROVINCE),
        ("市", CadreLevel.CITY),
        ("County", CadreLevel.COUNTY),
        ("township", CadreLevel.TOWNSHIP),
    ],
)
def test_cadre_level_aliases(raw: str, level: CadreLevel) -> None:
    result = validate_row(C, LINE, with_(C, level=raw), REGIONS)
    assert result.problems == []
    assert isinstance(result.entity, Cadre)
    assert result.entity.level is level


@pytest.mark.parametrize(
    ("raw", "active"),
    [("是", True), ("yes", True), ("1", True), ("在职", True), ("", True), (None, True),
     ("否", False), ("No", False), ("0", False), ("离职", False), ("inactive", False)],
)
def test_inspector_active(raw: object, active: bool) -> None:
    result = validate_row(N, LINE, with_(N, active=raw), REGIONS)
    assert result.problems == []
    assert isinstance(result.entity, Inspector)
    assert result.entity.active is active


# --- mistakes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "changes", "column", "value", "says"),
    [
        (B, {"uscc": "91440300708461136A"}, LABEL["uscc"], "91440300708461136A",
         "check character is 'A' but should be 'T'"),
        (B, {"uscc": "9144030070846113"}, LABEL["uscc"], "9144030070846113", "18 characters"),
        (B, {"uscc": "9144O300708461136T"}, LABEL["uscc"], "9144O300708461136T", "not allowed"),
        (B, {"category": "bakery"}, LABEL["category"], "bakery", "unknown category"),
        (B, {"risk_level": "E"}, LABEL["risk_level"], "E", "A, B, C or D"),
        (B, {"risk_level": "高"}, LABEL["risk_level"], "高", "A, B, C or D"),
        (B, {"status": "maybe"}, LABEL["status"], "maybe", "active or closed"),
        (B, {"region_code": "990101"}, LABEL["region_code"], "990101", "province 990000"),
        (B, {"region_code": "44030"}, LABEL["region_code"], "44030", "6 digits"),
        (B, {"region_code": "440305-1"}, LABEL["region_code"], "440305-1", "6 digits"),
        (B, {"name": "某" * 201}, LABEL["name_b"], "某" * 201, "longer than 200"),
        (C, {"level": "部级"}, LABEL["level"], "部级", "level must be one of"),
        (C, {"region_code": "990000"}, LABEL["region_code"], "990000", "province 990000"),
        (C, {"cadre_id": "干部01"}, LABEL["cadre_id"], "干部01", "letters, digits"),
        (C, {"assigned_uscc": "914403001922038216;91440300708461136A"}, LABEL["assigned_uscc"],
         "91440300708461136A", "91440300708461136A: check character"),
        (N, {"home_region": "120101"}, LABEL["home_region"], "120101", "province 120000"),
        (N, {"inspector_id": "BJ 001"}, LABEL["inspector_id"], "BJ 001", "letters, digits"),
        (N, {"active": "maybe"}, LABEL["active"], "maybe", "yes or no"),
    ],
)
def test_a_mistake_names_the_column_and_value(
    kind: RegisterKind, changes: dict[str, object], column: str, value: str, says: str
) -> None:
    problem = refused_once(validate_row(kind, LINE, with_(kind, **changes), REGIONS))
    assert problem.column == column
    assert problem.value == value
    assert says in problem.en


@pytest.mark.parametrize(
    ("kind", "name", "cell"),
    [
        (B, "uscc", 914403001922038216),
        (B, "uscc", 9.14403001922038e17),
        (B, "region_code", 440305),
        (B, "region_code", 440305.0),
        (C, "cadre_id", 1001),
        (C, "region_code", 440305),
        (C, "assigned_uscc", 914403001922038216),
        (N, "inspector_id", 12345.0),
        (N, "home_region", 110101),
    ],
)
def test_an_id_stored_as_a_number_is_refused(kind: RegisterKind, name: str, cell: object) -> None:
    problem = refused_once(validate_row(kind, LINE, with_(kind, **{name: cell}), REGIONS))
    assert problem.column.startswith(name + " (")
    assert problem.value == str(cell)
    assert "stored as a number" in problem.en
    assert "数值" in problem.zh


@pytest.mark.parametrize(
    ("kind", "name"),
    [(kind, col.name) for kind in RegisterKind for col in COLUMNS[kind] if col.required],
)
@pytest.mark.parametrize("how", ["missing", "None", "empty", "spaces"])
def test_a_missing_required_value_is_refused(kind: RegisterKind, name: str, how: str) -> None:
    if how == "missing":
        raw = without(kind, name)
    else:
        raw = with_(kind, **{name: {"None": None, "empty": "", "spaces": " \u3000\t"}[how]})
    problem = refused_once(validate_row(kind, LINE, raw, REGIONS))
    assert problem.column.startswith(name + " (")
    assert problem.value == ""
    assert problem.en == "required value is empty"


def test_every_problem_of_a_row_is_reported() -> None:
    raw = with_(B, uscc="91440300708461136A", category="bakery", risk_level="E", name="")
    result = validate_row(B, LINE, raw, REGIONS)
    assert result.entity is None
    assert sorted(p.column for p in result.problems) == sorted(
        [LABEL["uscc"], LABEL["category"], LABEL["risk_level"], LABEL["name_b"]]
    )


@pytest.mark.parametrize(("kind", "name"), [(B, "region_code"), (C, "region_code"),
                                            (N, "home_region")])
@pytest.mark.parametrize("code", ["440399", "440400", "110199"])
def test_unknown_county_under_a_known_province_is_only_a_warning(
    kind: RegisterKind, name: str, code: str
) -> None:
    result = validate_row(kind, LINE, with_(kind, **{name: code}), REGIONS)
    assert result.entity is not None
    assert getattr(result.entity, name) == code
    assert len(result.problems) == 1
    problem = result.problems[0]
    assert problem.warning
    assert problem.line == LINE
    assert problem.column.startswith(name + " (")
    assert problem.value == code


def test_a_warning_does_not_hide_a_refusal() -> None:
    result = validate_row(B, LINE, with_(B, region_code="440399", risk_level="E"), REGIONS)
    assert result.entity is None
    assert sorted(p.warning for p in result.problems) == [False, True]


# --- assigned businesses of a cadre --------------------------------------------------------------

A1, A2, A3 = "914403001922038216", "91440300708461136T", "9144030071526726XG"


@pytest.mark.parametrize(
    "cell",
    [
        f"{A1};{A2};{A3}",
        f"{A1}；{A2}；{A3}",
        f"{A1},{A2},{A3}",
        f"{A1}，{A2}，{A3}",
        f"{A1}、{A2}、{A3}",
        f"{A1}; {A2}\n{A3};",
        f" {A1} ;;{A2},,、{A3.lower()} ",
        f"{A1};{A2};{A1};{A3};{A2.lower()}",
    ],
)
def test_assigned_uscc_list_is_split_normalised_and_deduplicated(cell: str) -> None:
    result = validate_row(C, LINE, with_(C, assigned_uscc=cell), REGIONS)
    assert result.problems == []
    assert isinstance(result.entity, Cadre)
    assert result.entity.assigned_uscc == (A1, A2, A3)


@pytest.mark.parametrize("cell", [None, "", " \u3000 "])
def test_no_assigned_uscc(cell: object) -> None:
    result = validate_row(C, LINE, with_(C, assigned_uscc=cell), REGIONS)
    assert result.problems == []
    assert isinstance(result.entity, Cadre)
    assert result.entity.assigned_uscc == ()


def test_every_bad_assigned_code_is_reported() -> None:
    result = validate_row(C, LINE, with_(C, assigned_uscc=f"{A1};BAD1;{A2};91440300708461136A"),
                          REGIONS)
    assert result.entity is None
    assert [p.value for p in result.problems] == ["BAD1", "91440300708461136A"]
    assert all(p.column == LABEL["assigned_uscc"] for p in result.problems)


@pytest.mark.parametrize("space", ["\u3000", "\xa0"])
def test_assigned_uscc_list_splits_on_any_whitespace(space: str) -> None:
    # split_uscc_list promises "separated by ; , 、 or whitespace". A Chinese input method in
    # full-width mode types U+3000, and cells pasted from web pages carry U+00A0; both are
    # whitespace (str.isspace) and the rest of the module strips them as spaces.
    assert split_uscc_list(f"{A1}{space}{A2}") == [A1, A2]
    result = validate_row(C, LINE, with_(C, assigned_uscc=f"{A1}{space}{A2}"), REGIONS)
    assert result.problems == []
    assert isinstance(result.entity, Cadre)
    assert result.entity.assigned_uscc == (A1, A2)


# --- headers -----------------------------------------------------------------------------------


def test_map_headers_chinese() -> None:
    headers = ["序号", "统一社会信用代码", "企业名称", "所在地区划代码", "业态", "风险分级",
               "经营地址", "食品安全总监", "安全员", "经营状态"]
    mapping, missing = map_headers(B, headers)
    assert mapping == {1: "uscc", 2: "name", 3: "region_code", 4: "category", 5: "risk_level",
                       6: "address", 7: "director", 8: "officer", 9: "status"}
    assert missing == []


def test_map_headers_english_with_case_spaces_bom_and_stars() -> None:
    headers = ["\ufeffUSCC", " Name ", "Region Code", "*Category", "Risk Level", "Notes"]
    mapping, missing = map_headers(B, headers)
    assert mapping == {0: "uscc", 1: "name", 2: "region_code", 3: "category", 4: "risk_level"}
    assert missing == []


def test_map_headers_reports_missing_required_columns_in_column_order() -> None:
    mapping, missing = map_headers(B, ["名称", "地址", None, "统一社会信用代码"])  # type: ignore[list-item]
    assert mapping == {0: "name", 1: "address", 3: "uscc"}
    assert missing == ["region_code", "category", "risk_level"]


def test_map_headers_first_of_two_headers_for_one_field_wins() -> None:
    mapping, _ = map_headers(B, ["名称", "企业名称", "uscc"])
    assert mapping == {0: "name", 2: "uscc"}


@pytest.mark.parametrize(
    ("kind", "headers", "expected"),
    [
        (C, ["编号", "姓名", "级别", "区划代码", "包保主体"],
         {0: "cadre_id", 1: "name", 2: "level", 3: "region_code", 4: "assigned_uscc"}),
        (N, ["执法证号", "姓名", "工作地区划代码", "是否在职"],
         {0: "inspector_id", 1: "name", 2: "home_region", 3: "active"}),
        (N, ["id", "name", "region_code"], {0: "inspector_id", 1: "name", 2: "home_region"}),
    ],
)
def test_map_headers_other_registers(kind: RegisterKind, headers: list[str],
                                     expected: dict[int, str]) -> None:
    mapping, missing = map_headers(kind, headers)
    assert mapping == expected
    assert missing == []


def test_map_headers_empty_file() -> None:
    assert map_headers(C, []) == ({}, ["cadre_id", "name", "level", "region_code"])


# --- the fast path -----------------------------------------------------------------------------


def test_quick_validate_takes_a_clean_business_row() -> None:
    entity = quick_validate(B, GOOD_BUSINESS, REGIONS)
    assert entity is not None
    assert entity == validate_row(B, LINE, GOOD_BUSINESS, REGIONS).entity


@pytest.mark.parametrize("kind", [C, N])
def test_quick_validate_leaves_cadres_and_inspectors_to_validate_row(kind: RegisterKind) -> None:
    assert quick_validate(kind, GOOD[kind], REGIONS) is None


VALID_USCC = ["914403001922038216", "91330100799655058B", "91440300708461136T",
              "9144030071526726XG", "911100001000044477"]
SPACES = st.sampled_from(["", " ", "\t", "\u3000", "\xa0", "\r\n", "  \u3000"])


def spaced(values: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.builds(lambda a, v, b: a + v + b, SPACES, values, SPACES)


def variants(good: list[str], bad: list[object], *, longest: int) -> st.SearchStrategy[object]:
    """Good values with case and space mutations, bad values, non-strings, arbitrary text."""
    good_s = st.sampled_from(good)
    return st.one_of(
        good_s,
        spaced(good_s),
        spaced(good_s.map(str.lower)),
        spaced(good_s.map(str.upper)),
        good_s.map(lambda s: "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in s)),
        st.sampled_from(bad),
        st.sampled_from([None, "", " ", "\u3000", 0, 1, 3.5, True, "x" * (longest + 1)]),
        st.text(max_size=12),
    )


BUSINESS_FIELDS: dict[str, st.SearchStrategy[object]] = {
    "uscc": variants([*VALID_USCC, "91110000710935003u"],
                     ["91440300708461136A", "9144030070846113", "914403001922038216X",
                      "9144O300708461136T", 914403001922038216, 9.14403001922038e17],
                     longest=64),
    "name": variants(["某某餐饮", "A", "x" * 200], ["某" * 201], longest=200),
    "region_code": variants(
        ["110000", "110100", "110101", "440000", "440300", "440305"],
        ["440399", "440400", "990000", "000000", "44030", "4403051", 440305, "110101.0"],
        longest=64),
    "category": variants(["catering", "餐饮", "学校食堂", "school canteen", "special food",
                          "市场", "production"], ["bakery", "餐厅", "schoolcanteen"],
                         longest=200),
    "risk_level": variants(["A", "B", "C", "D"], ["E", "AA", "A级", "c级", "高", 1],
                           longest=200),
    "address": variants(["深圳市南山区", "x" * 300], ["x" * 301], longest=300),
    "director": variants(["张三", "x" * 50], ["x" * 51], longest=50),
    "officer": variants(["李四", "x" * 50], ["x" * 51], longest=50),
    "status": variants(["active", "closed", "在营", "注销", "吊销"], ["Active", "unknown"],
                       longest=200),
}


@st.composite
def business_rows(draw: st.DrawFn) -> dict[str, object]:
    """A good row with a few cells replaced by variants and a few columns left out.

    Mutating a few cells of a good row (rather than drawing every cell at random) keeps many rows
    clean enough for the fast path to accept, which is where the property has teeth.
    """
    row = dict(GOOD_BUSINESS)
    names = sorted(BUSINESS_FIELDS)
    for name in draw(st.sets(st.sampled_from(names), max_size=4)):
        row[name] = draw(BUSINESS_FIELDS[name], label=name)
    for name in draw(st.sets(st.sampled_from(names), max_size=2), label="left out"):
        del row[name]
    return row


@settings(max_examples=600, deadline=None)
@given(business_rows())
def test_quick_validate_never_accepts_what_validate_row_would_refuse_or_flag(
    raw: Mapping[str, object],
) -> None:
    fast = quick_validate(B, raw, REGIONS)
    full = validate_row(B, LINE, raw, REGIONS)
    if fast is not None:
        assert full.problems == []
        assert full.entity == fast
    # And validate_row is consistent with itself: an entity exactly when nothing refuses the row.
    assert (full.entity is None) == any(not p.warning for p in full.problems)
    assert all(p.line == LINE for p in full.problems)


@settings(max_examples=200, deadline=None)
@given(st.fixed_dictionaries(
    {},
    optional={
        "cadre_id": variants(["gd-0001", "A_1"], ["干部", "a b", 7], longest=64),
        "name": variants(["王五"], ["王" * 51], longest=50),
        "level": variants(["乡镇", "村级", "county"], ["部级"], longest=200),
        "region_code": variants(["440305", "110000"], ["440399", "990000", 440305], longest=64),
        "assigned_uscc": variants([f"{A1};{A2}", A3, ""], ["BAD", f"{A1};BAD", 1], longest=200),
    },
))
def test_cadre_rows_get_an_entity_exactly_when_nothing_refuses_them(
    raw: Mapping[str, object],
) -> None:
    result = validate_row(C, LINE, raw, REGIONS)
    assert (result.entity is None) == any(not p.warning for p in result.problems)
    if isinstance(result.entity, Cadre):
        assert len(set(result.entity.assigned_uscc)) == len(result.entity.assigned_uscc)
