"""Interview checklists: the shipped files load and are sound; broken ones are refused with every
mistake and its path listed at once."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from domain import plan
from domain.checklists import (
    ChecklistError,
    ChecklistItem,
    Checklists,
    default_checklists,
    load_checklists,
    parse_checklist,
)
from domain.errors import BadArgumentError, InputError, NotFoundError
from domain.vocabulary import CATEGORIES, CATEGORY_ZH, ROLE_ZH, ROLES, SEVERITIES

LAW = re.compile(r"《[^《》]+》")


def shipped_texts() -> dict[str, str]:
    """The shipped files by name, in ROLES order."""
    folder = resources.files("domain").joinpath("checklist_data")
    names = sorted((f.name for f in folder.iterdir() if f.name.endswith(".toml")),
                   key=lambda n: (ROLES.index(n.removesuffix(".toml"))
                                  if n.removesuffix(".toml") in ROLES else len(ROLES), n))
    return {n: folder.joinpath(n).read_text(encoding="utf-8") for n in names}


def item_toml(item_id: str, roles: str = '["director"]', **override: str) -> str:
    fields = {
        "id": f'"{item_id}"',
        "question_zh": '"是否书面任命食品安全总监？"',
        "question_en": '"Is the food safety director appointed in writing?"',
        "roles": roles,
        "category": '"staffing"',
        "severity": '"serious"',
        "legal_basis_zh": '"《企业落实食品安全主体责任监督管理规定》第四条"',
        "legal_basis_en": '"SAMR Order No. 60, Art. 4"',
    }
    fields.update(override)
    return "[[items]]\n" + "".join(f"{k} = {v}\n" for k, v in fields.items())


def checklist_toml(role: str, *items: str) -> str:
    return (f'[checklist]\nrole = "{role}"\ntitle_zh = "清单"\ntitle_en = "Checklist"\n'
            f'version = "2026-11"\n\n' + "\n".join(items))


# --- the shipped checklists ---------------------------------------------------------------------

def test_one_shipped_file_per_role_and_each_parses_on_its_own() -> None:
    texts = shipped_texts()
    assert sorted(texts) == sorted(f"{r}.toml" for r in ROLES)
    for name, text in texts.items():
        items = parse_checklist(text, name)
        assert items, name
        assert all(name.removesuffix(".toml") in i.roles for i in items)


def test_shipped_checklists_load_with_every_role_covered() -> None:
    c = default_checklists()
    assert set(c.headers) == set(ROLES)
    for role in ROLES:
        header = c.headers[role]
        assert header.source == f"{role}.toml"
        assert header.version and header.title("zh") and header.title("en")
        assert 8 <= len(c.for_role(role)) <= 15, role


def test_shipped_ids_are_unique_and_stable_looking() -> None:
    per_file = [i.id for name, text in shipped_texts().items() for i in parse_checklist(text, name)]
    assert len(per_file) == len(set(per_file)) == len(default_checklists())
    assert all(re.fullmatch(r"[A-Z]+-[0-9]{2}", i) for i in per_file)


def test_every_shipped_item_is_complete_and_cites_a_law() -> None:
    for item in default_checklists():
        assert item.category in CATEGORIES and item.severity in SEVERITIES, item.id
        assert set(item.roles) <= set(ROLES) and len(set(item.roles)) == len(item.roles)
        assert item.question_zh.strip() and item.question_en.strip(), item.id
        assert re.search(r"[\u4e00-\u9fff]", item.question_zh), item.id
        assert item.question_zh.endswith("？") and item.question_en.endswith("?"), item.id
        assert re.match(r"\(?[A-Z]", item.question_en), item.id  # English, not a copy of the zh
        assert LAW.search(item.legal_basis_zh), item.id
        assert item.legal_basis_en.strip(), item.id


def test_shipped_checklists_cover_the_core_duties() -> None:
    c = default_checklists()
    text = "".join(i.question_zh for i in c)
    for record in ("《每日食品安全检查记录》", "《每周食品安全排查治理报告》",
                   "《每月食品安全调度会议纪要》", "《食品安全风险管控清单》"):
        assert record in text
    assert {i.category for i in c} == set(CATEGORIES)
    assert {i.severity for i in c} == set(SEVERITIES)


def test_labels_cover_every_value_and_severities_match_the_plan() -> None:
    assert set(ROLE_ZH) == set(ROLES) and set(CATEGORY_ZH) == set(CATEGORIES)
    assert SEVERITIES == plan.SEVERITIES


def test_default_checklists_are_loaded_once() -> None:
    assert default_checklists() is default_checklists()


# --- lookups ------------------------------------------------------------------------------------

def test_for_role_gives_own_file_first_then_shared_items_in_file_order() -> None:
    c = load_checklists({
        "director.toml": checklist_toml("director", item_toml("D-01", '["director", "owner"]'),
                                        item_toml("D-02")),
        "owner.toml": checklist_toml("owner", item_toml("O-01", '["owner"]'),
                                     item_toml("O-02", '["owner", "director"]')),
    })
    assert [i.id for i in c.for_role("owner")] == ["O-01", "O-02", "D-01"]
    assert [i.id for i in c.for_role("director")] == ["D-01", "D-02", "O-02"]
    assert c.for_role("cadre") == []
    with pytest.raises(BadArgumentError):
        c.for_role("boss")


def test_get_require_and_question_language() -> None:
    c = default_checklists()
    item = c.get("STAFF-01")
    assert isinstance(item, ChecklistItem) and item.source == "owner.toml"
    assert c.get("NOPE-01") is None and "STAFF-01" in c and "NOPE-01" not in c
    assert c.require("STAFF-01") is item
    with pytest.raises(NotFoundError):
        c.require("NOPE-01")
    assert item.question("zh") == item.question_zh and item.question("en") == item.question_en
    assert item.legal_basis("en") == item.legal_basis_en


def test_checklists_refuse_duplicate_items_built_by_hand() -> None:
    item = default_checklists().require("STAFF-01")
    with pytest.raises(ValueError):
        Checklists([item, item])


# --- broken checklists --------------------------------------------------------------------------

def test_a_broken_checklist_lists_every_mistake_with_its_path() -> None:
    text = checklist_toml(
        "director",
        item_toml("STAFF-01"),
        item_toml("STAFF-01", severity='"high"'),                     # duplicate id, bad severity
        item_toml("staff 3", roles='["owner", "boss"]', category='"food"', question_en='"  "',
                  legal_basis_zh='"食品安全法第四十四条"', colour='"red"'),
        '[[items]]\nid = "STAFF-04"\n',                                   # nearly everything missing
    ) + "\n[extra]\nx = 1\n"
    with pytest.raises(ChecklistError) as caught:
        parse_checklist(text, "director.toml")
    err = caught.value
    paths = [p for p, _, _ in err.problems]
    expected = [
        "director.toml: extra",
        "director.toml: items[1].id",
        "director.toml: items[1].severity",
        "director.toml: items[2].colour",
        "director.toml: items[2].id",
        "director.toml: items[2].question_en",
        "director.toml: items[2].legal_basis_zh",
        "director.toml: items[2].roles[1]",
        "director.toml: items[2].category",
        "director.toml: items[3].question_zh",
        "director.toml: items[3].roles",
        "director.toml: items[3].category",
        "director.toml: items[3].severity",
        "director.toml: items[3].legal_basis_en",
    ]
    for path in expected:
        assert path in paths, path
    assert len(err.problems) >= len(expected)
    assert isinstance(err, InputError) and err.code == "bad_checklist" and err.exit_code == 2
    assert "director.toml: items[1].severity: expected minor, general or serious, got 'high'" \
        in err.message("en")
    assert err.message("zh").startswith("检查清单有") and "items[1].severity：" in err.message("zh")
    assert all(zh and en for _, en, zh in err.problems)


def test_an_item_must_be_asked_of_its_own_files_role() -> None:
    with pytest.raises(ChecklistError) as caught:
        parse_checklist(checklist_toml("officer", item_toml("ROUT-01", '["director"]')),
                        "officer.toml")
    assert [p for p, _, _ in caught.value.problems] == ["officer.toml: items[0].roles"]
    assert "食品安全员" in caught.value.message("zh")


def test_header_mistakes_are_reported() -> None:
    text = '[checklist]\nrole = "chef"\ntitle_zh = ""\nversion = 3\nowner = "x"\n\n' \
        + item_toml("A-01")
    with pytest.raises(ChecklistError) as caught:
        parse_checklist(text, "x.toml")
    assert [p for p, _, _ in caught.value.problems] == [
        "x.toml: checklist.owner", "x.toml: checklist.role", "x.toml: checklist.title_zh",
        "x.toml: checklist.title_en", "x.toml: checklist.version"]


def test_a_file_named_for_a_role_must_hold_that_role() -> None:
    with pytest.raises(ChecklistError) as caught:
        parse_checklist(checklist_toml("owner", item_toml("A-01", '["owner"]')), "cadre.toml")
    assert [p for p, _, _ in caught.value.problems] == ["cadre.toml: checklist.role"]


@pytest.mark.parametrize(("text", "path"), [
    ("[checklist\nrole=", "bad.toml"),
    (checklist_toml("director"), "bad.toml: items"),
    ("items = []\n" + checklist_toml("director"), "bad.toml: items"),
    ('items = "none"\n' + checklist_toml("director"), "bad.toml: items"),
    (item_toml("A-01"), "bad.toml: checklist"),
])
def test_unusable_files_are_refused_with_one_clear_problem(text: str, path: str) -> None:
    with pytest.raises(ChecklistError) as caught:
        parse_checklist(text, "bad.toml")
    assert [p for p, _, _ in caught.value.problems] == [path]


def test_duplicate_ids_across_files_are_refused() -> None:
    with pytest.raises(ChecklistError) as caught:
        load_checklists({
            "director.toml": checklist_toml("director", item_toml("STAFF-01")),
            "owner.toml": checklist_toml("owner", item_toml("STAFF-02", '["owner"]'),
                                         item_toml("STAFF-01", '["owner", "director"]')),
        })
    (path, en, zh), = caught.value.problems
    assert path == "owner.toml: items[1].id"
    assert "director.toml" in en and "director.toml" in zh


def test_two_files_for_one_role_are_refused_and_all_files_are_checked() -> None:
    with pytest.raises(ChecklistError) as caught:
        load_checklists({
            "a.toml": checklist_toml("cadre", item_toml("SUP-01", '["cadre"]')),
            "b.toml": checklist_toml("cadre", item_toml("SUP-02", '["cadre"]')),
            "c.toml": checklist_toml("regulator", item_toml("REG-01", '["regulator"]',
                                                            severity='"high"')),
        })
    assert [p for p, _, _ in caught.value.problems] == [
        "b.toml: checklist.role", "c.toml: items[0].severity"]


def test_the_shipped_files_with_an_item_copied_into_another_file_are_refused() -> None:
    texts = shipped_texts()
    texts["cadre.toml"] += "\n" + item_toml("STAFF-01", '["cadre"]')
    with pytest.raises(ChecklistError) as caught:
        load_checklists(texts)
    (path, en, zh), = caught.value.problems
    assert path.startswith("cadre.toml: items[") and path.endswith("].id")
    assert "owner.toml" in en and "owner.toml" in zh
