"""Register import end to end below the CLI: real files (CSV in three encodings, XLSX) read by
storage.readers.RegisterFile, imported by domain.importing.import_register into a real database
(SQLite, or PostgreSQL when LOOKBACK_TEST_DATABASE_URL is set), reject reports on disk."""

from __future__ import annotations

import csv
import io
import random
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from domain.errors import BadFileError
from domain.registers import RegisterKind
from domain.uscc import check_char
from storage.readers import RegisterFile
from storage.regions import read_snapshot
from storage.reports import CsvProblemReport, ListProblemSink
from storage.synthetic import Generated, generate
from tests.integration._support import (
    BUSINESS_COLUMNS,
    count,
    expected_business,
    import_file,
    read_csv,
    rows_of,
    snapshot,
)

B, C, INS = RegisterKind.BUSINESSES, RegisterKind.CADRES, RegisterKind.INSPECTORS
N = 300
SEED = 4242
BOM = b"\xef\xbb\xbf"


@pytest.fixture(scope="module")
def register_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("registers")


@pytest.fixture(scope="module")
def plain(register_dir: Path) -> Generated:
    """The reference register: UTF-8 CSV, English headers."""
    return generate(register_dir / "plain", businesses=N, seed=SEED)


def _import_all(g: Generated, engine: Engine) -> None:
    for kind, path in ((B, g.businesses), (C, g.cadres), (INS, g.inspectors)):
        s = import_file(path, kind, engine)
        assert (s.rejected, s.warnings, s.updated) == (0, 0, 0), (path, s.first_problems)
        assert s.read == s.inserted > 0


def _write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as f:
        csv.writer(f).writerows(rows)
    return path


def _csv_rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))


def _break_check_char(code: str) -> str:
    return code[:-1] + ("0" if code[-1] != "0" else "1")


# --- the same rows in every supported format ----------------------------------------------------

VARIANTS: dict[str, dict[str, Any]] = {
    "utf-8": {},
    "utf-8 with BOM": {"encoding": "utf-8-sig"},
    "gb18030": {"encoding": "gb18030"},
    "xlsx": {"fmt": "xlsx"},
    "chinese headers, utf-8": {"chinese_headers": True},
    "chinese headers, gb18030": {"chinese_headers": True, "encoding": "gb18030"},
    "chinese headers, xlsx": {"chinese_headers": True, "fmt": "xlsx"},
}


def _check_file_is_what_it_claims(name: str, options: dict[str, Any], path: Path) -> None:
    """Guard against a generator that quietly wrote plain UTF-8 CSV for every variant."""
    data = path.read_bytes()
    fmt = options.get("fmt", "csv")
    if fmt == "xlsx":
        assert data[:4] == b"PK\x03\x04", name
        assert RegisterFile(path, B).encoding == "xlsx"
        return
    encoding = options.get("encoding", "utf-8")
    assert data.startswith(BOM) == (encoding == "utf-8-sig"), name
    if encoding == "gb18030":
        with pytest.raises(UnicodeDecodeError):
            data.decode("utf-8")
        assert RegisterFile(path, B).encoding == "gb18030"
    else:
        assert RegisterFile(path, B).encoding == "utf-8-sig"
    header = data.decode(encoding).lstrip("\ufeff").splitlines()[0]
    assert ("统一社会信用代码" in header) == bool(options.get("chinese_headers")), name


def test_same_rows_in_every_format_are_stored_identically(
        plain: Generated, register_dir: Path, fresh_engine: Callable[[], Engine]) -> None:
    reference_engine = fresh_engine()
    _import_all(plain, reference_engine)
    reference = snapshot(reference_engine)

    # The reference itself is the file's content, not just "whatever every format gives".
    file_rows = read_csv(plain.businesses)
    assert len(file_rows) == N
    assert reference["business"] == sorted(expected_business(r) for r in file_rows)
    assignments = sorted((r["cadre_id"], u) for r in read_csv(plain.cadres)
                         for u in r["assigned_uscc"].split(";") if u)
    assert reference["cadre_assignment"] == assignments
    assert len(reference["inspector"]) == len(read_csv(plain.inspectors))

    differing = []
    for name, options in VARIANTS.items():
        g = generate(register_dir / name.replace(" ", "-").replace(",", ""), businesses=N,
                     seed=SEED, **options)
        _check_file_is_what_it_claims(name, options, g.businesses)
        engine = fresh_engine()
        _import_all(g, engine)
        if snapshot(engine) != reference:
            differing.append(name)
    assert differing == []


# --- reject accounting --------------------------------------------------------------------------


@pytest.mark.parametrize("batch_rows", [2000, 2])
def test_mixed_bad_rows_balance_and_the_reject_report_names_each_line(
        plain: Generated, engine: Engine, tmp_path: Path, batch_rows: int) -> None:
    header, *good = _csv_rows(plain.businesses)
    unknown_county = "110199"
    assert unknown_county not in {r.code for r in read_snapshot()}

    def edited(row: list[str], col: int, value: str) -> list[str]:
        out = list(row)
        out[col] = value
        return out

    rows = [
        header,
        good[0],                                          # 2 stored
        edited(good[1], 0, _break_check_char(good[1][0])),  # 3 bad check character
        edited(good[2], 3, "网吧"),                        # 4 unknown category
        edited(good[3], 1, ""),                           # 5 missing required name
        good[4],                                          # 6 stored
        good[4],                                          # 7 duplicate of line 6
        edited(good[5], 2, unknown_county),               # 8 warning, stored
        edited(good[6], 4, "E"),                          # 9 no such risk level
        [],                                               # 10 blank: not a row
        good[7],                                          # 11 stored
        good[0],                                          # 12 duplicate of line 2
    ]
    path = _write_csv(tmp_path / "mixed.csv", rows)
    report = tmp_path / "reports" / "mixed-rejects.csv"

    s = import_file(path, B, engine, sink=CsvProblemReport(report), batch_rows=batch_rows)

    rejected_lines = {3, 4, 5, 7, 9, 12}
    assert (s.read, s.inserted, s.updated, s.rejected, s.warnings) == (10, 4, 0, 6, 1)
    assert s.balanced and s.read == s.inserted + s.updated + s.rejected

    raw = report.read_bytes()
    assert raw[:3] == BOM
    lines = list(csv.reader(raw.decode("utf-8-sig").splitlines()))
    assert lines[0][0].startswith("行号")
    by_line: dict[int, list[list[str]]] = {}
    for r in lines[1:]:
        by_line.setdefault(int(r[0]), []).append(r)
    assert set(by_line) == rejected_lines | {8}
    for line in rejected_lines:
        assert any(r[3] == "拒绝 rejected" for r in by_line[line]), line
    assert [r[3] for r in by_line[8]] == ["警告 warning"]
    assert "uscc" in by_line[3][0][1] and "should be" in by_line[3][0][5]
    assert by_line[4][0][2] == "网吧"
    assert "name" in by_line[5][0][1]
    assert "line 6" in by_line[7][0][5]
    assert "line 2" in by_line[12][0][5]
    assert "risk" in by_line[9][0][1]

    stored = rows_of(engine, "business", BUSINESS_COLUMNS)
    expected = {expected_business(dict(zip(header, r, strict=True)))
                for r in (good[0], good[4], good[7])}
    warned = dict(zip(header, good[5], strict=True))
    expected.add((warned["uscc"], warned["name"], unknown_county, "110000",
                  *expected_business(warned)[4:]))
    assert set(stored) == expected

    with engine.connect() as conn:
        run = conn.execute(text("SELECT status, read, inserted, updated, rejected, warnings "
                                "FROM import_run WHERE id = :id"), {"id": s.run_id}).one()
    assert tuple(run) == ("done", 10, 4, 0, 6, 1)


def _all_digit_uscc() -> str:
    for i in range(10_000):
        body = f"91110101{i:09d}"
        if check_char(body).isdigit():
            return body + check_char(body)
    raise AssertionError("no all-digit USCC found")


def test_ids_stored_as_numbers_in_xlsx_are_refused(plain: Generated, engine: Engine,
                                                   tmp_path: Path) -> None:
    header, *good = _csv_rows(plain.businesses)
    numeric_uscc = _all_digit_uscc()
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(header)
    ws.append(good[0])                                       # 2 stored
    ws.append([good[1][0], good[1][1], int(good[1][2]), *good[1][3:]])  # 3 region as number
    ws.append([int(numeric_uscc), *good[2][1:]])             # 4 USCC as number
    ws.append(good[3])                                       # 5 stored
    ws.append([numeric_uscc, *good[4][1:]])                  # 6 the same USCC as text: stored
    path = tmp_path / "numbers.xlsx"
    wb.save(path)
    sink = ListProblemSink()

    s = import_file(path, B, engine, sink=sink)

    assert (s.read, s.inserted, s.updated, s.rejected) == (5, 3, 0, 2)
    assert s.balanced
    refused = {p.line: p for p in sink.problems if not p.warning}
    assert set(refused) == {3, 4}
    assert all("number" in p.en for p in refused.values())
    assert "region_code" in refused[3].column and "uscc" in refused[4].column
    stored = {r[0] for r in rows_of(engine, "business", ("uscc",))}
    assert stored == {good[0][0], good[3][0], numeric_uscc}


# --- re-import and --strict ---------------------------------------------------------------------


def test_reimporting_the_same_files_updates_every_row_and_changes_nothing(
        plain: Generated, engine: Engine) -> None:
    _import_all(plain, engine)
    before = snapshot(engine)
    for kind, path in ((B, plain.businesses), (C, plain.cadres), (INS, plain.inspectors)):
        s = import_file(path, kind, engine)
        assert s.read > 0
        assert (s.inserted, s.updated, s.rejected, s.warnings) == (0, s.read, 0, 0), kind
    assert snapshot(engine) == before


def test_strict_stores_nothing_when_any_row_is_refused(plain: Generated, engine: Engine,
                                                       tmp_path: Path) -> None:
    s = import_file(plain.businesses, B, engine)
    assert s.inserted == N
    before = snapshot(engine)

    header, *good = _csv_rows(plain.businesses)
    extra = generate(tmp_path / "other", businesses=20, seed=SEED + 1)
    _, *new = _csv_rows(extra.businesses)
    renamed = [[r[0], r[1] + "（新）", *r[2:]] for r in good[:100]]
    clean = [header, *renamed, *new]
    bad_row = [_break_check_char(good[150][0]), *good[150][1:]]
    with_bad = [*clean, bad_row]  # the bad row comes last, after several batches were written

    refused = import_file(_write_csv(tmp_path / "with-bad.csv", with_bad), B, engine,
                          strict=True, batch_rows=25)
    assert not refused.stored
    assert refused.read == len(with_bad) - 1
    assert (refused.inserted, refused.updated, refused.rejected) == (0, 0, refused.read)
    assert refused.invalid == 1
    assert refused.balanced
    assert snapshot(engine) == before

    accepted = import_file(_write_csv(tmp_path / "clean.csv", clean), B, engine, strict=True,
                           batch_rows=25)
    assert accepted.stored
    assert (accepted.inserted, accepted.updated, accepted.rejected) == (len(new), 100, 0)
    stored = dict((r[0], r[1]) for r in rows_of(engine, "business", ("uscc", "name")))
    assert len(stored) == N + len(new)
    assert all(stored[r[0]] == r[1] for r in renamed)


# --- files that cannot be used at all -----------------------------------------------------------


def _xlsx_bytes(rows: list[list[Any]]) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _undecodable() -> bytes:
    data = b"\xff\xfe\x00" + random.Random(7).randbytes(4096)
    for codec in ("utf-8", "gb18030"):
        with pytest.raises(UnicodeDecodeError):
            data.decode(codec)
    return data


def _bad_file(case: str, plain: Generated) -> tuple[str, bytes]:
    """(file name, bytes) of an unusable file."""
    header_line = plain.businesses.read_bytes().splitlines(keepends=True)[0]
    rows = _csv_rows(plain.businesses)
    if case == "empty":
        return "empty.csv", b""
    if case == "header only":
        return "header.csv", header_line
    if case == "blank lines only":
        return "blank.csv", b"\r\n\r\n"
    if case == "undecodable bytes":
        return "binary.csv", _undecodable()
    if case == "missing required column":
        col = rows[0].index("category")
        out = [[c for i, c in enumerate(r) if i != col] for r in rows[:20]]
        return "nocat.csv", "\n".join(",".join(r) for r in out).encode()
    if case == "xlsx renamed to csv":
        return "renamed.csv", _xlsx_bytes(rows[:20])
    if case == "xls":
        return "old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(2048)
    if case == "csv renamed to xlsx":
        return "fake.xlsx", plain.businesses.read_bytes()[:4000]
    if case == "xlsx header only":
        return "header.xlsx", _xlsx_bytes(rows[:1])
    raise AssertionError(case)


BAD_FILES = {
    # case: (error code, words the English message must contain)
    "empty": ("empty_file", "empty"),
    "header only": ("no_rows", "no data rows"),
    "blank lines only": ("no_header", "no column headers"),
    "undecodable bytes": ("bad_encoding", "UTF-8 or GB18030"),
    "missing required column": ("missing_column", "category"),
    "xlsx renamed to csv": ("bad_format", "rename it to .xlsx"),
    "xls": ("bad_format", ".xlsx"),
    "csv renamed to xlsx": ("bad_format", "not a readable Excel workbook"),
    "xlsx header only": ("no_rows", "no data rows"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_unusable_file_gives_one_clear_error_and_stores_nothing(
        case: str, plain: Generated, engine: Engine, tmp_path: Path) -> None:
    name, data = _bad_file(case, plain)
    path = tmp_path / name
    path.write_bytes(data)
    report = tmp_path / "rejects.csv"
    code, words = BAD_FILES[case]

    with pytest.raises(BadFileError) as info:
        import_file(path, B, engine, sink=CsvProblemReport(report))

    err = info.value
    assert err.code == code
    assert err.exit_code == 2
    assert words in err.message("en")
    assert name in err.message("en") and name in err.message("zh")
    assert err.message("zh") != err.message("en")
    assert not report.exists()
    assert count(engine, "business") == 0


@pytest.mark.parametrize(("file_kind", "wrong_kind"), [(B, INS), (B, C), (C, B), (INS, C), (C, INS)])
def test_register_imported_as_the_wrong_kind_names_the_right_kind(
        plain: Generated, engine: Engine, file_kind: RegisterKind,
        wrong_kind: RegisterKind) -> None:
    path = {B: plain.businesses, C: plain.cadres, INS: plain.inspectors}[file_kind]
    with pytest.raises(BadFileError) as info:
        import_file(path, wrong_kind, engine)
    assert info.value.code == "missing_column"
    assert f"use --kind {file_kind.value}" in info.value.message("en")
    assert f"--kind {file_kind.value}" in info.value.message("zh")
    for table in ("business", "cadre", "inspector"):
        assert count(engine, table) == 0


# --- bugs found while writing these tests (see the report) --------------------------------------


def _with_dimension(src: Path, dst: Path, ref: str) -> Path:
    """Copy an XLSX, giving its sheet a stale <dimension> tag as some exporters write."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.namelist():
            data = zin.read(item)
            if item.startswith("xl/worksheets/sheet"):
                assert b"<dimension" not in data
                data = data.replace(b"<sheetData>", f'<dimension ref="{ref}"/><sheetData>'
                                    .encode(), 1)
            zout.writestr(item, data)
    return dst


@pytest.mark.parametrize("ref", ["A1:I2", "A1"])
def test_xlsx_with_a_stale_dimension_tag_is_read_in_full(
        register_dir: Path, engine: Engine, tmp_path: Path, ref: str) -> None:
    """openpyxl's read-only mode trusts the sheet's <dimension> tag; a stale one (A1:I2) made
    the import read 1 row of 300 and report success; A1 made it report missing columns."""
    g = generate(register_dir / f"dim-{ref.replace(':', '-')}", businesses=N, seed=SEED,
                 fmt="xlsx")
    path = _with_dimension(g.businesses, tmp_path / "stale.xlsx", ref)
    s = import_file(path, B, engine)
    assert (s.read, s.inserted, s.rejected) == (N, N, 0)
    assert count(engine, "business") == N


def test_csv_with_a_field_over_the_csv_module_limit_is_a_bad_file_error(
        plain: Generated, engine: Engine, tmp_path: Path) -> None:
    """A stray quote makes the rest of a big file one field; the csv module's 1 MiB field limit
    then raised _csv.Error, which the CLI shows as an internal error (exit 70)."""
    header_line, first, *rest = plain.businesses.read_text(encoding="utf-8").splitlines()
    cells = first.split(",")
    cells[1] = '"' + cells[1]  # a stray opening quote in the name
    filler = "\n".join(rest) + "\n"
    body = filler * (1 + (1 << 20) // len(filler))  # over a million characters
    path = tmp_path / "stray-quote.csv"
    path.write_text(f"{header_line}\n{','.join(cells)}\n{body}", encoding="utf-8")
    with pytest.raises(BadFileError):
        import_file(path, B, engine)
    assert count(engine, "business") == 0


def test_nul_character_in_a_cell_is_refused_or_cleaned_on_every_backend(
        plain: Generated, engine: Engine, tmp_path: Path) -> None:
    """A NUL byte in a cell was stored as is on SQLite and crashed the batch on PostgreSQL
    ("text fields cannot contain NUL"), losing the good rows of the same batch."""
    header, *good = _csv_rows(plain.businesses)
    nul_row = [good[1][0], "北京\x00饭店", *good[1][2:]]
    path = _write_csv(tmp_path / "nul.csv", [header, good[0], nul_row, good[2]])
    sink = ListProblemSink()

    s = import_file(path, B, engine, sink=sink)

    assert s.balanced and s.read == 3
    stored = rows_of(engine, "business", BUSINESS_COLUMNS)
    assert {good[0][0], good[2][0]} <= {r[0] for r in stored}
    assert not any("\x00" in v for r in stored for v in r if isinstance(v, str))
    if good[1][0] not in {r[0] for r in stored}:
        assert any(p.line == 3 and not p.warning for p in sink.problems)
