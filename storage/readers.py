"""Register files: CSV (UTF-8, UTF-8 with BOM, GB18030/GBK) and XLSX, read as a stream of raw rows.

A reader never converts a cell: an ID typed into Excel as a number reaches the domain as a number
so it can be refused (leading zeros and letters are already lost by then).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from domain.errors import BadFileError
from domain.registers import COLUMNS, RegisterKind, map_headers
from storage.xlsx_limits import XML_ERRORS, check_workbook, guarded_rows

_CHUNK = 1 << 20
_XLSX_SUFFIXES = {".xlsx", ".xlsm"}
_CSV_SUFFIXES = {".csv", ".txt", ".tsv"}

csv.field_size_limit(1 << 20)


def detect_encoding(path: Path) -> tuple[str, str]:
    """Decide how a CSV file is encoded: strict UTF-8 first (BOM or not), then GB18030.

    Returns (Python codec name, SHA-256 of the bytes). The whole file is checked before any row is
    read, so a file is never half-imported under a wrong encoding.
    """
    digest = hashlib.sha256()
    utf8 = codecs.getincrementaldecoder("utf-8")("strict")
    gb = codecs.getincrementaldecoder("gb18030")("strict")
    utf8_ok = True
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            if utf8_ok:
                try:
                    utf8.decode(chunk)
                except UnicodeDecodeError:
                    utf8_ok = False  # GB18030 is then tried in a second pass below
        if utf8_ok:
            try:
                utf8.decode(b"", final=True)
            except UnicodeDecodeError:
                utf8_ok = False
    if utf8_ok:
        return "utf-8-sig", digest.hexdigest()
    consumed = 0  # bytes fed to the decoder before the current chunk
    pending = b""
    try:
        with path.open("rb") as f:
            while chunk := f.read(_CHUNK):
                pending = gb.getstate()[0]
                gb.decode(chunk)
                consumed += len(chunk)
            pending = gb.getstate()[0]
            chunk = b""
            gb.decode(b"", final=True)
    except UnicodeDecodeError as e:
        # e.start counts within (bytes still buffered + this chunk): from the file's start, it is
        # the bytes before this chunk, less those buffered, plus e.start.
        offset = consumed - len(pending) + e.start
        raise BadFileError(
            f"{path.name}: cannot be read as UTF-8 or GB18030/GBK text (bad byte at offset "
            f"{offset}); save it as CSV UTF-8 or as an Excel workbook (.xlsx)",
            f"{path.name}：无法按UTF-8或GB18030/GBK读取（偏移{offset}处字节无效）；请另存为"
            "“CSV UTF-8”或Excel工作簿（.xlsx）",
            code="bad_encoding",
        ) from None
    return "gb18030", digest.hexdigest()


class _CountingReader(io.RawIOBase):
    """A binary file wrapper that counts the bytes handed out (for the progress bar)."""

    def __init__(self, f: BinaryIO) -> None:
        self._f = f
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self._f.read(len(b))
        n = len(data)
        b[:n] = data
        self.consumed += n
        return n


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _is_zip(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(4) == b"PK\x03\x04"


class RegisterFile:
    """An opened register file: its format, encoding, hash, header mapping and row stream."""

    def __init__(self, path: Path, kind: RegisterKind) -> None:
        self.path = path
        self.kind = kind
        if not path.exists():
            raise BadFileError(f"{path}: no such file", f"{path}：文件不存在", code="no_file")
        if path.is_dir():
            raise BadFileError(f"{path}: is a folder, not a file", f"{path}：是文件夹而不是文件",
                               code="no_file")
        self.size = path.stat().st_size
        if self.size == 0:
            raise BadFileError(f"{path.name}: the file is empty", f"{path.name}：文件为空",
                               code="empty_file")
        suffix = path.suffix.lower()
        if suffix == ".xls":
            raise BadFileError(
                f"{path.name}: old Excel 97-2003 workbooks (.xls) are not read; save it as .xlsx",
                f"{path.name}：不支持Excel 97-2003格式（.xls）；请另存为.xlsx",
                code="bad_format")
        self.format = "xlsx" if suffix in _XLSX_SUFFIXES or _is_zip(path) else "csv"
        if self.format == "xlsx" and suffix in _CSV_SUFFIXES:
            raise BadFileError(
                f"{path.name}: this is an Excel workbook named {suffix}; rename it to .xlsx",
                f"{path.name}：这是Excel工作簿却以{suffix}命名；请改为.xlsx", code="bad_format")
        self._counter: _CountingReader | None = None
        self._xlsx_rows = 0
        self._xlsx_done = 0
        if self.format == "csv":
            self.encoding, self.sha256 = detect_encoding(path)
        else:
            self.encoding = "xlsx"
            self.sha256 = file_sha256(path)
        self.headers: list[str] = []
        self.mapping: dict[int, str] = {}

    def fraction_done(self) -> float:
        """How far the stream has got, in [0, 1]."""
        if self._counter is not None:
            return min(1.0, self._counter.consumed / self.size)
        if self._xlsx_rows:
            return min(1.0, self._xlsx_done / self._xlsx_rows)
        return 0.0

    def _check_headers(self, headers: list[str]) -> None:
        self.headers = headers
        mapping, missing = map_headers(self.kind, headers)
        if missing:
            hint_en = hint_zh = ""
            for other in RegisterKind:
                if other is not self.kind and not map_headers(other, headers)[1]:
                    hint_en = f"; it looks like a register of {other.value}: use --kind {other.value}"
                    hint_zh = f"；该文件像是{other.value}名录：请使用 --kind {other.value}"
                    break
            wanted = [f"{c.name} ({c.zh})" for c in COLUMNS[self.kind] if c.name in missing]
            raise BadFileError(
                f"{self.path.name}: missing required column(s) for --kind {self.kind.value}: "
                f"{', '.join(wanted)}{hint_en}",
                f"{self.path.name}：缺少--kind {self.kind.value}的必填列：{'，'.join(wanted)}{hint_zh}",
                code="missing_column",
            )
        self.mapping = mapping

    def rows(self) -> Iterator[tuple[int, dict[str, object]]]:
        """Yield (line number in the file, {field: raw cell}) for every non-blank data row."""
        if self.format == "csv":
            yield from self._csv_rows()
        else:
            yield from self._xlsx_rows_iter()

    def _csv_rows(self) -> Iterator[tuple[int, dict[str, object]]]:
        with self.path.open("rb") as raw:
            self._counter = _CountingReader(raw)
            buffered = io.BufferedReader(self._counter, buffer_size=_CHUNK)
            text = io.TextIOWrapper(buffered, encoding=self.encoding, newline="")
            first = text.readline()
            dialect = "excel-tab" if first.count("\t") > first.count(",") else "excel"
            header = next(csv.reader([first], dialect=dialect), [])
            if not any(h.strip() for h in header):
                raise BadFileError(f"{self.path.name}: the first line holds no column headers",
                                   f"{self.path.name}：第一行没有列标题", code="no_header")
            self._check_headers(header)
            items = list(self.mapping.items())
            reader = csv.reader(text, dialect=dialect)
            line = 1
            produced = False
            while True:
                line_start = line + 1
                try:
                    cells = next(reader)
                except StopIteration:
                    break
                except csv.Error as e:
                    raise BadFileError(
                        f"{self.path.name}: line {line_start}: the CSV cannot be parsed ({e}); "
                        "look for a quote (\") that is opened and never closed",
                        f"{self.path.name}：第{line_start}行：CSV无法解析（{e}）；请检查是否有未闭合的引号（\"）",
                        code="bad_csv") from None
                line = reader.line_num + 1
                if not cells or not any(cells):
                    continue
                n = len(cells)
                produced = True
                yield line_start, {name: cells[pos] if pos < n else None for pos, name in items}
            if not produced:
                raise BadFileError(f"{self.path.name}: the file has headers but no data rows",
                                   f"{self.path.name}：文件只有标题行，没有数据", code="no_rows")

    def _xlsx_rows_iter(self) -> Iterator[tuple[int, dict[str, object]]]:
        import openpyxl

        check_workbook(self.path)
        try:
            wb = openpyxl.load_workbook(self.path, read_only=True, data_only=True)
        except XML_ERRORS as e:
            raise BadFileError(f"{self.path.name}: not a readable Excel workbook ({e})",
                               f"{self.path.name}：无法读取的Excel工作簿（{e}）",
                               code="bad_format") from None
        try:
            ws = wb.worksheets[0]
            # The declared size is only an estimate for the progress bar: read-only mode trusts
            # the sheet's <dimension> tag, which other tools sometimes write wrong, so reset it
            # and read every row there is.
            self._xlsx_rows = ws.max_row or 0
            ws.reset_dimensions()
            it = guarded_rows(self.path, ws.iter_rows(values_only=True))
            header_row = next(it, None)
            if header_row is None or not any(c not in (None, "") for c in header_row):
                raise BadFileError(f"{self.path.name}: the first row holds no column headers",
                                   f"{self.path.name}：第一行没有列标题", code="no_header")
            self._check_headers(["" if c is None else str(c) for c in header_row])
            items = list(self.mapping.items())
            produced = False
            for line, cells in enumerate(it, start=2):
                self._xlsx_done = line
                if not any(c not in (None, "") for c in cells):
                    continue
                n = len(cells)
                produced = True
                yield line, {name: cells[pos] if pos < n else None for pos, name in items}
            if not produced:
                raise BadFileError(f"{self.path.name}: the sheet has headers but no data rows",
                                   f"{self.path.name}：工作表只有标题行，没有数据", code="no_rows")
        finally:
            wb.close()
