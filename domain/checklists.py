"""Interview checklists (谈话检查清单): what each interviewee is asked, and what a failed answer raises.

The checklists are data: one TOML file per interviewee role, shipped in ``domain/checklist_data``.
Each item appears once, in the file of its primary role, and lists in ``roles`` everyone it is asked
of; its id is stable (``STAFF-01``) because answers and issues refer to it. A failed item raises an
issue of the item's category and default severity, citing its legal basis (DESIGN.md §6).

File format::

    [checklist]
    role = "director"                    # the file's own role
    title_zh = "食品安全总监谈话检查清单"
    title_en = "Interview checklist: food safety director"
    version = "2026-11"

    [[items]]
    id = "STAFF-04"                      # LETTERS-digits, unique across all files
    question_zh = "……？"
    question_en = "...?"
    roles = ["director"]                 # must include the file's own role
    category = "staffing"                # one of CATEGORIES
    severity = "general"                 # minor, general or serious
    legal_basis_zh = "《企业落实食品安全主体责任监督管理规定》第五条"   # names the law in 《》
    legal_basis_en = "SAMR Order No. 60, Art. 5"

Like a campaign plan, a checklist with mistakes is refused with every mistake listed at once.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from domain.errors import BadArgumentError, InputError, Lang, NotFoundError
from domain.vocabulary import CATEGORIES, ROLE_ZH, ROLES, SEVERITIES

HEADER_KEYS = ("role", "title_zh", "title_en", "version")
ITEM_KEYS = ("id", "question_zh", "question_en", "roles", "category", "severity",
             "legal_basis_zh", "legal_basis_en")
_TEXT_KEYS = ("question_zh", "question_en", "legal_basis_zh", "legal_basis_en")
_ID = re.compile(r"[A-Z][A-Z0-9]*-[0-9]{2,}")
_LAW_TITLE = re.compile(r"《[^《》]+》")

Problem = tuple[str, str, str]


@dataclass(frozen=True)
class ChecklistItem:
    """One question of an interview checklist and the issue a failed answer raises."""

    id: str
    question_zh: str
    question_en: str
    roles: tuple[str, ...]
    category: str
    severity: str
    legal_basis_zh: str
    legal_basis_en: str
    source: str  # the file it came from, e.g. "director.toml"

    def question(self, lang: Lang = "zh") -> str:
        """The question in ``lang``."""
        return self.question_en if lang == "en" else self.question_zh

    def legal_basis(self, lang: Lang = "zh") -> str:
        """The legal basis in ``lang``."""
        return self.legal_basis_en if lang == "en" else self.legal_basis_zh


@dataclass(frozen=True)
class ChecklistHeader:
    """The ``[checklist]`` table of one file: whose checklist it is, its title and version."""

    role: str
    title_zh: str
    title_en: str
    version: str
    source: str

    def title(self, lang: Lang = "zh") -> str:
        """The title in ``lang``."""
        return self.title_en if lang == "en" else self.title_zh


class ChecklistError(InputError):
    """Checklists with mistakes; ``problems`` lists (where, English, Chinese) for every one of them,
    where ``where`` is the file and key path, e.g. ``director.toml: items[3].severity``."""

    code = "bad_checklist"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        en = f"the checklists have {len(problems)} mistake(s):\n" + "\n".join(
            f"  {path}: {msg_en}" for path, msg_en, _ in problems)
        zh = f"检查清单有{len(problems)}处错误：\n" + "\n".join(
            f"  {path}：{msg_zh}" for path, _, msg_zh in problems)
        super().__init__(en, zh)


def _or(allowed: Iterable[str]) -> str:
    *head, last = allowed
    return f"{', '.join(head)} or {last}" if head else last


class _Parser:
    """Checks one file, collecting every problem instead of stopping at the first."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []

    def fail(self, where: str, en: str, zh: str) -> None:
        self.problems.append((f"{self.source}: {where}" if where else self.source, en, zh))

    def unknown_keys(self, table: Mapping[str, Any], where: str, allowed: tuple[str, ...]) -> None:
        for key in table:
            if key not in allowed:
                self.fail(f"{where}.{key}" if where else key,
                          f"unknown key (a typo?); expected one of {', '.join(allowed)}",
                          f"未知的键（拼写错误？）；应为{'、'.join(allowed)}之一")

    def text(self, table: Mapping[str, Any], where: str, key: str) -> str | None:
        path = f"{where}.{key}"
        if key not in table:
            self.fail(path, "missing; expected a non-empty string", "缺失；应为非空字符串")
            return None
        value = table[key]
        if not isinstance(value, str):
            self.fail(path, f"expected a string, got {value!r}", f"应为字符串，实际为{value!r}")
            return None
        if not value.strip():
            self.fail(path, "is empty", "为空")
            return None
        return value.strip()

    def choice(self, table: Mapping[str, Any], where: str, key: str,
               allowed: tuple[str, ...]) -> str | None:
        value = self.text(table, where, key)
        if value is not None and value not in allowed:
            self.fail(f"{where}.{key}", f"expected {_or(allowed)}, got {value!r}",
                      f"应为{'、'.join(allowed)}之一，实际为“{value}”")
            return None
        return value

    def roles(self, table: Mapping[str, Any], where: str, own_role: str | None
              ) -> tuple[str, ...] | None:
        path = f"{where}.roles"
        value = table.get("roles")
        if "roles" not in table:
            self.fail(path, "missing; expected a list of roles", "缺失；应为谈话对象列表")
            return None
        if not isinstance(value, list) or not value:
            self.fail(path, f"expected a non-empty list of roles ({', '.join(ROLES)}), got "
                      f"{value!r}", f"应为非空的谈话对象列表（{'、'.join(ROLES)}），实际为{value!r}")
            return None
        out: list[str] = []
        ok = True
        for i, role in enumerate(value):
            if not isinstance(role, str) or role not in ROLES:
                self.fail(f"{path}[{i}]", f"expected {_or(ROLES)}, got {role!r}",
                          f"应为{'、'.join(ROLES)}之一，实际为{role!r}")
                ok = False
            elif role in out:
                self.fail(f"{path}[{i}]", f"{role!r} is listed twice", f"“{role}”重复")
                ok = False
            else:
                out.append(role)
        if own_role is not None and ok and own_role not in out:
            self.fail(path, f"must include {own_role!r}, the role of this file",
                      f"须包含本文件的谈话对象“{own_role}”（{ROLE_ZH[own_role]}）")
            ok = False
        return tuple(out) if ok else None

    def header(self, data: Mapping[str, Any]) -> ChecklistHeader | None:
        if "checklist" not in data:
            self.fail("checklist", "missing; expected a [checklist] table with role, title_zh, "
                      "title_en, version", "缺失；应为含role、title_zh、title_en、version的[checklist]表")
            return None
        table = data["checklist"]
        if not isinstance(table, dict):
            self.fail("checklist", "expected a table [checklist]", "应为表[checklist]")
            return None
        self.unknown_keys(table, "checklist", HEADER_KEYS)
        role = self.choice(table, "checklist", "role", ROLES)
        title_zh = self.text(table, "checklist", "title_zh")
        title_en = self.text(table, "checklist", "title_en")
        version = self.text(table, "checklist", "version")
        stem = self.source.replace("\\", "/").rsplit("/", 1)[-1].removesuffix(".toml")
        if role is not None and stem in ROLES and stem != role:
            self.fail("checklist.role", f"this is the {stem} file, but role is {role!r}",
                      f"本文件是{stem}（{ROLE_ZH[stem]}）的清单，但role为“{role}”")
            role = None
        if role is None or title_zh is None or title_en is None or version is None:
            return None
        return ChecklistHeader(role, title_zh, title_en, version, self.source)

    def item(self, entry: Any, i: int, own_role: str | None) -> ChecklistItem | None:
        where = f"items[{i}]"
        if not isinstance(entry, dict):
            self.fail(where, "expected a table [[items]]", "应为表[[items]]")
            return None
        before = len(self.problems)
        self.unknown_keys(entry, where, ITEM_KEYS)
        item_id = self.text(entry, where, "id")
        if item_id is not None and not _ID.fullmatch(item_id):
            self.fail(f"{where}.id", f"expected an id like STAFF-01 (capital letters, a hyphen, "
                      f"two or more digits), got {item_id!r}",
                      f"应为形如STAFF-01的编号（大写字母、连字符、至少两位数字），实际为“{item_id}”")
        texts = {key: self.text(entry, where, key) for key in _TEXT_KEYS}
        basis = texts["legal_basis_zh"]
        if basis is not None and not _LAW_TITLE.search(basis):
            self.fail(f"{where}.legal_basis_zh", "must name the law or regulation in 《》, e.g. "
                      "《中华人民共和国食品安全法》第四十四条",
                      "须用书名号《》写明法律法规名称，如《中华人民共和国食品安全法》第四十四条")
        roles = self.roles(entry, where, own_role)
        category = self.choice(entry, where, "category", CATEGORIES)
        severity = self.choice(entry, where, "severity", SEVERITIES)
        if len(self.problems) > before:
            return None
        assert item_id and roles and category and severity
        return ChecklistItem(
            id=item_id, question_zh=texts["question_zh"] or "", question_en=texts["question_en"] or "",
            roles=roles, category=category, severity=severity,
            legal_basis_zh=texts["legal_basis_zh"] or "", legal_basis_en=texts["legal_basis_en"] or "",
            source=self.source)


def _parse(text: str, source: str) -> tuple[ChecklistHeader | None, list[tuple[int, ChecklistItem]],
                                            list[Problem]]:
    """The header and the valid items (with their index in the file) of one file, and every
    problem found in it."""
    p = _Parser(source)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        p.fail("", f"not valid TOML: {e}", f"不是有效的TOML：{e}")
        return None, [], p.problems
    p.unknown_keys(data, "", ("checklist", "items"))
    header = p.header(data)
    own_role = header.role if header else None
    if own_role is None and isinstance(data.get("checklist"), dict):
        role = data["checklist"].get("role")
        own_role = role if isinstance(role, str) and role in ROLES else None
    raw_items = data.get("items")
    items: list[tuple[int, ChecklistItem]] = []
    if raw_items is None:
        p.fail("items", "missing; expected an array of tables [[items]]", "缺失；应为表数组[[items]]")
    elif not isinstance(raw_items, list):
        p.fail("items", "expected an array of tables [[items]]", "应为表数组[[items]]")
    elif not raw_items:
        p.fail("items", "the checklist has no items", "清单没有检查项")
    else:
        first: dict[str, int] = {}
        for i, entry in enumerate(raw_items):
            item_id = entry.get("id") if isinstance(entry, dict) else None
            if isinstance(item_id, str) and item_id.strip() in first:
                p.fail(f"items[{i}].id", f"{item_id.strip()!r} is already used by "
                       f"items[{first[item_id.strip()]}]",
                       f"“{item_id.strip()}”与items[{first[item_id.strip()]}]重复")
            elif isinstance(item_id, str) and item_id.strip():
                first[item_id.strip()] = i
            item = p.item(entry, i, own_role)
            if item is not None:
                items.append((i, item))
    return header, items, p.problems


def parse_checklist(text: str, source: str) -> list[ChecklistItem]:
    """The items of one checklist file, in file order; raises :class:`ChecklistError` listing every
    mistake. ``source`` names the file in messages (e.g. ``director.toml``); a file named after a
    role must hold that role's checklist."""
    _header, items, problems = _parse(text, source)
    if problems:
        raise ChecklistError(problems)
    return [item for _, item in items]


@dataclass(frozen=True)
class Provision:
    """A legal basis as the checklists cite it, in Chinese (what notices print) and English."""

    basis_zh: str
    basis_en: str

    def basis(self, lang: Lang = "zh") -> str:
        return self.basis_en if lang == "en" else self.basis_zh


class Checklists:
    """All the checklists: every item by id, and the questions for each interviewee role.

    Shared by every caller once loaded (see :func:`default_checklists`): treat it as read-only.
    """

    def __init__(self, items: Iterable[ChecklistItem],
                 headers: Iterable[ChecklistHeader] = ()) -> None:
        self.headers: dict[str, ChecklistHeader] = {h.role: h for h in headers}
        self.items: dict[str, ChecklistItem] = {}
        for item in items:
            if item.id in self.items:
                raise ValueError(f"duplicate checklist item {item.id}")
            self.items[item.id] = item
        self._role_of_source = {h.source: h.role for h in self.headers.values()}

    def for_role(self, role: str) -> list[ChecklistItem]:
        """The items asked of ``role``: those of its own file first, then those of the other files
        that list it, each in file order."""
        if role not in ROLES:
            raise BadArgumentError(f"role must be one of {', '.join(ROLES)}, got {role!r}",
                                   f"谈话对象应为{'、'.join(ROLES)}之一，实际为“{role}”")
        asked = [i for i in self.items.values() if role in i.roles]
        own = [i for i in asked if self._role_of_source.get(i.source) == role]
        return own + [i for i in asked if self._role_of_source.get(i.source) != role]

    def get(self, item_id: str) -> ChecklistItem | None:
        """The item with this id, or None."""
        return self.items.get(item_id)

    def require(self, item_id: str) -> ChecklistItem:
        """The item with this id; raises :class:`NotFoundError` when there is none."""
        item = self.items.get(item_id)
        if item is None:
            raise NotFoundError(f"there is no checklist item {item_id!r}",
                                f"没有检查项“{item_id}”")
        return item

    def provisions(self, category: str) -> list[Provision]:
        """The legal bases cited by the items of ``category``, each once, in file order: what a
        free-form finding of that category may be said to breach (numbered from 1)."""
        seen: dict[str, Provision] = {}
        for item in self.items.values():
            if item.category == category and item.legal_basis_zh not in seen:
                seen[item.legal_basis_zh] = Provision(item.legal_basis_zh, item.legal_basis_en)
        return list(seen.values())

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[ChecklistItem]:
        return iter(self.items.values())

    def __contains__(self, item_id: object) -> bool:
        return item_id in self.items


def load_checklists(texts: Mapping[str, str]) -> Checklists:
    """Checklists from ``{file name: TOML text}``; raises :class:`ChecklistError` listing every
    mistake in every file, including an item id used in two files and two files for one role."""
    problems: list[Problem] = []
    headers: dict[str, ChecklistHeader] = {}
    items: list[ChecklistItem] = []
    where_defined: dict[str, tuple[str, int]] = {}
    for source, text in texts.items():
        header, parsed, file_problems = _parse(text, source)
        problems += file_problems
        if header is not None:
            if header.role in headers:
                other = headers[header.role].source
                problems.append((f"{source}: checklist.role",
                                 f"{header.role!r} already has a checklist: {other}",
                                 f"“{header.role}”已有清单：{other}"))
            else:
                headers[header.role] = header
        for index, item in parsed:
            if item.id in where_defined:
                other, other_index = where_defined[item.id]
                problems.append((f"{source}: items[{index}].id",
                                 f"{item.id!r} is already defined in {other} (items[{other_index}]); "
                                 "an item appears in one file only, listing all its roles",
                                 f"“{item.id}”已在{other}（items[{other_index}]）中定义；每个检查项"
                                 "只在一个文件中出现，并在roles中列出全部适用对象"))
            else:
                where_defined[item.id] = (source, index)
                items.append(item)
    if problems:
        raise ChecklistError(problems)
    return Checklists(items, headers.values())


def _file_order(name: str) -> tuple[int, str]:
    stem = name.removesuffix(".toml")
    return (ROLES.index(stem) if stem in ROLES else len(ROLES), name)


@functools.cache
def default_checklists() -> Checklists:
    """The checklists shipped with Lookback (``domain/checklist_data/*.toml``), loaded once."""
    folder = resources.files("domain").joinpath("checklist_data")
    names = sorted((f.name for f in folder.iterdir() if f.name.endswith(".toml")),
                   key=_file_order)
    return load_checklists({name: folder.joinpath(name).read_text(encoding="utf-8")
                            for name in names})
