"""Teams' fieldwork exports: CSV (UTF-8 / GB18030), XLSX or JSON rows of interview answers."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

from domain.errors import BadFileError
from domain.fieldwork_import import COLUMNS, map_columns
from storage.readers import detect_encoding
from storage.xlsx_limits import XML_ERRORS, check_workbook, guarded_rows


def _missing(path: Path, missing: list[str]) -> BadFileError:
    return BadFileError(
        f"{path.name}: missing required column(s): {', '.join(missing)} (headers may be "
        f"{'; '.join(f'{k}: ' + ' / '.join(v) for k, v in COLUMNS.items())})",
        f"{path.name}：缺少必填列：{'、'.join(missing)}", code="missing_column")


def read_fieldwork(path: Path) -> Iterator[tuple[int, dict[str, object]]]:
    """(line or position, {column: cell}) for every non-blank answer row."""
    if not path.is_file():
        raise BadFileError(f"{path}: no such file", f"{path}：文件不存在", code="no_file")
    if path.stat().st_size == 0:
        raise BadFileError(f"{path.name}: the file is empty", f"{path.name}：文件为空",
                           code="empty_file")
    suffix = path.suffix.lower()
    if suffix == ".json":
        yield from _json_rows(path)
    elif suffix in (".xlsx", ".xlsm"):
        yield from _xlsx_rows(path)
    else:
        yield from _csv_rows(path)


def _json_rows(path: Path) -> Iterator[tuple[int, dict[str, object]]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BadFileError(f"{path.name}: not valid JSON ({e})", f"{path.name}：不是有效的JSON（{e}）",
                           code="bad_json") from None
    rows = data.get("answers") if isinstance(data, dict) else data
    if not isinstance(rows, list):
        raise BadFileError(f"{path.name}: expected a list of answer objects (or {{\"answers\": "
                           "[…]}})", f"{path.name}：应为作答对象列表", code="bad_json")
    for n, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            yield n, {"visit_id": None}
            continue
        yield n, {k: row.get(k) for k in COLUMNS}


def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, object]]]:
    encoding, _sha = detect_encoding(path)
    with path.open(encoding=encoding, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, [])
        mapping, missing = map_columns(header)
        if missing:
            raise _missing(path, missing)
        items = list(mapping.items())
        try:
            for cells in reader:
                if not any(cells):
                    continue
                n = len(cells)
                yield reader.line_num, {k: cells[p] if p < n else None for p, k in items}
        except csv.Error as e:
            raise BadFileError(f"{path.name}: line {reader.line_num}: cannot be parsed ({e})",
                               f"{path.name}：第{reader.line_num}行无法解析（{e}）",
                               code="bad_csv") from None


def _xlsx_rows(path: Path) -> Iterator[tuple[int, dict[str, object]]]:
    import openpyxl

    check_workbook(path)
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except XML_ERRORS as e:
        raise BadFileError(f"{path.name}: not a readable Excel workbook ({e})",
                           f"{path.name}：无法读取的Excel工作簿（{e}）", code="bad_format") from None
    try:
        ws = wb.worksheets[0]
        ws.reset_dimensions()
        it = guarded_rows(path, ws.iter_rows(values_only=True))
        header = ["" if c is None else str(c) for c in next(it, ())]
        mapping, missing = map_columns(header)
        if missing:
            raise _missing(path, missing)
        items = list(mapping.items())
        for line, cells in enumerate(it, start=2):
            if not any(c not in (None, "") for c in cells):
                continue
            n = len(cells)
            yield line, {k: cells[p] if p < n else None for p, k in items}
    finally:
        wb.close()
