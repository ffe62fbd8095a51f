"""Excel workbooks cannot take the machine, and broken ones are a clear error.

Found: a 1 MB workbook holding one 1 GiB cell ran for 62 s at 6 GB; a 176 KB one with 20 million
empty rows for 94 s at 1.8 GB; malformed XML gave "internal error", exit 70.
"""

from __future__ import annotations

import random
import string
import time
import zipfile
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from domain.errors import BadFileError
from lookback.cli import app
from storage.xlsx_limits import guarded_rows

HEADER = ["uscc", "name", "region_code", "category", "risk_level"]
ROW = ["91110101MA01234567", "某餐馆", "110101", "catering", "B"]


def _workbook(path: Path, rows: list[list[object]]) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    for r in [HEADER, *rows]:
        ws.append(r)
    wb.save(path)
    return path


def _with_sheet(tmp_path: Path, name: str, second_row_name: str) -> Path:
    """A workbook whose sheet XML is written by hand (openpyxl itself would cut a long cell):
    the header row, then one business whose name is ``second_row_name``."""
    good = _workbook(tmp_path / "template.xlsx", [])
    cells = "".join(f'<c r="{col}1" t="inlineStr"><is><t>{h}</t></is></c>'
                    for col, h in zip("ABCDE", HEADER, strict=True))
    row2 = "".join(f'<c r="{col}2" t="inlineStr"><is><t>{v}</t></is></c>'
                   for col, v in zip("ABCDE", [ROW[0], second_row_name, *ROW[2:]], strict=True))
    sheet = ('<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxml'
             'formats.org/spreadsheetml/2006/main"><sheetData>'
             f'<row r="1">{cells}</row><row r="2">{row2}</row></sheetData></worksheet>')
    out = tmp_path / name
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = sheet.encode() if item.filename.endswith("sheet1.xml") else src.read(item)
            dst.writestr(item.filename, data)
    return out


def _import(tmp_path: Path, file: Path) -> tuple[int, str]:
    base = ["--db", str(tmp_path / "lookback.db"), "--data-dir", str(tmp_path / "data"),
            "--lang", "en"]
    runner = CliRunner()
    assert runner.invoke(app, [*base, "init"]).exit_code == 0
    r = runner.invoke(app, [*base, "registry", "import", str(file), "--kind", "businesses"])
    assert "Traceback" not in r.output and "internal error" not in r.output
    return r.exit_code, r.output


def test_a_decompression_bomb_is_refused_before_it_is_read(tmp_path: Path) -> None:
    bomb = _with_sheet(tmp_path, "bomb.xlsx", "a" * 20_000_000)
    assert bomb.stat().st_size < 1_000_000  # 20 MB of text in a small file
    t = time.monotonic()
    code, out = _import(tmp_path, bomb)
    assert code == 2 and "bomb.xlsx" in out and "compressed" in out
    assert time.monotonic() - t < 10


def test_a_cell_longer_than_excel_allows_is_refused(tmp_path: Path) -> None:
    rng = random.Random(7)  # incompressible text: the ratio alone would not catch it
    long = "".join(rng.choice(string.ascii_letters) for _ in range(40_000))
    code, out = _import(tmp_path, _with_sheet(tmp_path, "long.xlsx", long))
    assert code == 2 and "long.xlsx" in out and "32,767" in out


def test_damaged_xml_is_a_clear_error(tmp_path: Path) -> None:
    good = _workbook(tmp_path / "good.xlsx", [ROW])
    bad = tmp_path / "damaged.xlsx"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename.endswith("sheet1.xml"):
                data = data[: len(data) // 2]  # cut in the middle of the XML
            dst.writestr(item, data)
    code, out = _import(tmp_path, bad)
    assert code == 2 and "damaged.xlsx" in out


def test_too_many_rows_are_refused() -> None:
    rows = iter([tuple(ROW)] * 12)
    with pytest.raises(BadFileError) as e:
        list(guarded_rows(Path("many.xlsx"), rows, max_rows=10))
    assert e.value.code == "too_many_rows" and "many.xlsx" in e.value.en
