"""Importing a register file: one way for the command line (`lookback registry import`) and the
office console's upload page, over the one import service (``domain.importing``).

The console adds two things the command line does without: the whole file is read once before
anything is stored (a file that fails half-way stores nothing), and its reject report carries
each refused row's values, kept under the data folder by import id so it can be downloaded
later (``reject_report_path``)."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from domain.errors import BadFileError
from domain.importing import DEFAULT_BATCH_ROWS, ImportSummary, import_register
from domain.ports import ProblemSink
from domain.registers import COLUMNS, Problem, RegisterKind, map_headers
from lookback.bootstrap import App

if TYPE_CHECKING:
    from storage.readers import RegisterFile

#: Each register's name (zh, en), for pages and messages.
REGISTER_NAMES: dict[RegisterKind, tuple[str, str]] = {
    RegisterKind.BUSINESSES: ("包保主体名录", "business register"),
    RegisterKind.CADRES: ("包保干部名录", "cadre register"),
    RegisterKind.INSPECTORS: ("督查人员名录", "inspector register"),
}
#: The reject report's columns before the row's own (its register's columns follow).
REPORT_HEADER = ["行号 row", "字段 field", "类型 kind", "原因 reason", "reason (English)"]


def import_file(lb: App, register: RegisterFile, *, sink: ProblemSink, source: str,
                strict: bool = False, batch_rows: int = DEFAULT_BATCH_ROWS,
                territory: str = "", actor: str = "system",
                on_progress: Callable[[float], None] | None = None) -> ImportSummary:
    """Import an opened register file. With ``territory`` (an office's territory prefix), rows
    outside it are refused and reported; ``on_progress`` is told the fraction read."""
    return import_register(
        register.kind, register.rows(), uow_factory=lb.uow_factory(), clock=lb.clock, sink=sink,
        source=source, sha256=register.sha256, strict=strict, batch_rows=batch_rows,
        on_batch=(lambda _s: on_progress(register.fraction_done())) if on_progress else None,
        actor=actor, territory=territory)


def open_checked(path: Path, kind: RegisterKind, name: str) -> RegisterFile:
    """The register file at ``path`` (uploaded as ``name``), read through once: its encoding,
    headers and every row parse, or ``BadFileError`` saying what is wrong (in words for a page:
    the register's name, not a command's option) before anything is stored."""
    from storage.readers import RegisterFile

    register = RegisterFile(path, kind)
    try:
        for _row in register.rows():
            pass
    except BadFileError as e:
        if e.code != "missing_column":
            raise BadFileError(e.en.replace(path.name, name), e.zh.replace(path.name, name),
                               code=e.code) from None
        _, missing = map_headers(kind, register.headers)
        wanted = [c for c in COLUMNS[kind] if c.name in missing]
        raise BadFileError(
            f"{name}: the {REGISTER_NAMES[kind][1]} needs the column(s) "
            f"{', '.join(c.name for c in wanted)}; the file's first row has "
            f"{', '.join(h for h in register.headers if h.strip()) or 'nothing'}",
            f"{name}：{REGISTER_NAMES[kind][0]}缺少必填列{'、'.join(f'“{c.zh}”' for c in wanted)}；"
            f"文件第一行为：{'，'.join(h for h in register.headers if h.strip()) or '空'}",
            code="missing_column") from None
    return register


def reject_report_path(lb: App, import_id: int) -> Path:
    """Where the console keeps an import's reject report."""
    return lb.data_dir / "imports" / f"{import_id}-rejects.csv"


def write_reject_report(target: Path, register: RegisterFile,
                        problems: Iterable[Problem]) -> None:
    """The reject report: one line per problem (row number, field, kind, reason in Chinese and
    English) followed by that row's values as the file held them. UTF-8 with a BOM, so Excel
    opens the Chinese correctly, and every cell safe to open in a spreadsheet."""
    from storage.cells import safe_row

    problems = sorted(problems, key=lambda p: p.line)
    wanted = {p.line for p in problems}
    values: dict[int, dict[str, object]] = {}
    for line, raw in register.rows():  # a second read: only the rows with a problem are kept
        if line in wanted:
            values[line] = raw
    columns = COLUMNS[register.kind]
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    with partial.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(REPORT_HEADER + [f"{c.zh} {c.name}" for c in columns])
        for p in problems:
            raw = values.get(p.line, {})
            w.writerow(safe_row([
                p.line, p.column, "警告 warning" if p.warning else "拒绝 rejected", p.zh, p.en,
                *("" if raw.get(c.name) is None else str(raw.get(c.name)) for c in columns)]))
    partial.replace(target)
