"""`lookback office`: food-safety offices (食品安全办) by level and territory — add, import,
list, show."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated

import typer

from domain import offices as svc
from domain.access import Action
from lookback.cli_base import as_user
from lookback.cli_base import command as _command
from lookback.cli_base import state as _state
from lookback.output import Output, Table, page

office_app = typer.Typer(no_args_is_help=True)

COLUMNS = ("name", "short_name", "level", "territory", "parent")
#: Chinese headers an office list may use instead.
ZH_COLUMNS = {"名称": "name", "简称": "short_name", "级别": "level", "辖区代码": "territory",
              "上级": "parent"}


def _show(out: Output, offices: list[svc.Office], title_en: str, title_zh: str,
          names: dict[int, str] | None = None) -> None:
    by_id = names if names is not None else {o.id: o.name for o in offices}
    t = Table(title=out.t(title_en, title_zh))
    for h in ("id", out.t("name", "名称"), out.t("short name", "简称"), out.t("level", "级别"),
              out.t("territory", "辖区"), out.t("parent", "上级")):
        t.add_column(h)
    for o in offices:
        t.add_row(str(o.id), o.name, o.short_name,
                  o.level.value if out.lang == "en" else svc.LEVEL_ZH[o.level],
                  o.territory_code, by_id.get(o.parent_id or 0, str(o.parent_id or "")))
    out.out.print(t)


def _done(out: Output, added: list[svc.Office], names: dict[int, str] | None = None) -> None:
    if out.json_mode:
        out.emit({"ok": True, **page([o.as_dict() for o in added], len(added))})
        return
    _show(out, added, f"Offices ({len(added)})", f"食安办（{len(added)}）", names)


@office_app.command("add")
@_command
@as_user(Action.ADMIN)
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The office's name, e.g. 某市食品安全委员会办公室.")],
    short_name: Annotated[str, typer.Option("--short", help="Short name heading its document "
                                            "numbers (文书编号), e.g. 某市食安督.")],
    level: Annotated[str, typer.Option("--level", help="national, province, city, county or "
                                       "township.")],
    territory: Annotated[str, typer.Option("--territory", help="Its territory: a GB/T 2260 "
                                           "code (000000 for the national office; 9 digits for "
                                           "a township).")],
    parent: Annotated[str | None, typer.Option("--parent", help="The parent office's name "
                                               "(every office but the national one).")] = None,
) -> None:
    """Add an office; every mistake is named at once."""
    lb, out = _state(ctx)
    lb.require_schema()
    added = svc.add_offices([svc.NewOffice(name, short_name, level, territory.strip(), parent)],
                            actor=lb.actor, uow_factory=lb.uow_factory(), clock=lb.clock)
    _done(out, added)


def read_offices(path: Path) -> list[svc.NewOffice]:
    """The rows of an offices file (CSV, UTF-8, headers in English or Chinese)."""
    from domain.errors import BadFileError

    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise BadFileError(f"{path}: {e.strerror}", f"{path}：无法读取") from None
    except UnicodeDecodeError:
        raise BadFileError(f"{path}: not UTF-8 text", f"{path}：不是UTF-8文本",
                           code="bad_encoding") from None
    rows = list(csv.DictReader(text.splitlines()))
    if not rows:
        raise BadFileError(f"{path}: no offices", f"{path}：没有食安办")
    header = [ZH_COLUMNS.get((h or "").strip(), (h or "").strip()) for h in rows[0]]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise BadFileError(f"{path}: missing column(s) {', '.join(missing)} (the header must "
                           f"name {', '.join(COLUMNS)})",
                           f"{path}：缺少列{'、'.join(missing)}（表头应为{'、'.join(COLUMNS)}）")
    out = []
    for raw in rows:
        row = {ZH_COLUMNS.get((k or "").strip(), (k or "").strip()): (v or "").strip()
               for k, v in raw.items()}
        out.append(svc.NewOffice(row["name"], row["short_name"], row["level"],
                                 row["territory"], row["parent"] or None))
    return out


@office_app.command("import")
@_command
@as_user(Action.ADMIN)
def import_cmd(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV with name, short_name, level, territory, "
                                         "parent (or 名称, 简称, 级别, 辖区代码, 上级); a parent "
                                         "before its children.")],
) -> None:
    """Import offices: all or nothing, every wrong row named; rows already there are skipped."""
    lb, out = _state(ctx)
    lb.require_schema()
    added = svc.add_offices(read_offices(file), actor=lb.actor, uow_factory=lb.uow_factory(),
                            clock=lb.clock, skip_existing=True)
    _done(out, added)


@office_app.command("list")
@_command
@as_user(Action.READ)
def list_cmd(
    ctx: typer.Context,
    within: Annotated[str | None, typer.Option("--within", help="Only the offices within this "
                                               "office's territory (name or id).")] = None,
) -> None:
    """Offices, higher levels first."""
    lb, out = _state(ctx)
    lb.require_schema()
    territory = (svc.get_office(within, uow_factory=lb.read_uow_factory()).territory
                 if within else None)
    everyone = svc.list_offices(uow_factory=lb.read_uow_factory())
    offices = [o for o in everyone if territory is None
               or territory.covers_territory(o.territory)]
    offices.sort(key=lambda o: (svc.LEVELS.index(o.level), o.territory_code, o.id))
    _done(out, offices, {o.id: o.name for o in everyone})


@office_app.command("show")
@_command
@as_user(Action.READ)
def show(ctx: typer.Context,
         office: Annotated[str, typer.Argument(help="The office's id or name.")]) -> None:
    """One office, its parent and the offices directly below it."""
    lb, out = _state(ctx)
    lb.require_schema()
    o = svc.get_office(office, uow_factory=lb.read_uow_factory())
    everyone = svc.list_offices(uow_factory=lb.read_uow_factory())
    parent = next((p for p in everyone if p.id == o.parent_id), None)
    children = [c for c in everyone if c.parent_id == o.id]
    if out.json_mode:
        out.emit({"ok": True, **o.as_dict(), "parent": parent.as_dict() if parent else None,
                  "children": [c.as_dict() for c in children]})
        return
    out.say(f"Office {o.id}: {o.name} ({o.short_name}), {o.level.value}, territory "
            f"{o.territory_code}; parent: {parent.name if parent else '—'}",
            f"食安办{o.id}：{o.name}（{o.short_name}），{svc.LEVEL_ZH[o.level]}，辖区"
            f"{o.territory_code}；上级：{parent.name if parent else '—'}")
    if children:
        _show(out, children, f"Offices below ({len(children)})", f"下级食安办（{len(children)}）",
              {o.id: o.name for o in everyone})
