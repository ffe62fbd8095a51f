"""Limits on the Excel workbooks Lookback reads, so that a small file cannot take the machine.

An XLSX file is a zip of XML. Found: a 1 MB workbook holding one 1 GiB cell ran for 62 s at 6 GB
of memory; a 176 KB one with 20 million empty rows for 94 s at 1.8 GB; malformed XML crashed the
import. Before a workbook is opened, each zip member's uncompressed size and compression ratio
are checked against its headers (reading never goes past the declared size); while it is read,
the rows per sheet and the length of each cell are counted. Each limit is refused with a message
that names the file and the limit.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import ParseError

from domain.errors import BadFileError

MAX_MEMBER_BYTES = 512 * 1024 * 1024  # uncompressed size of any one part of the workbook
MAX_RATIO = 100  # uncompressed ÷ compressed, for parts over 1 MiB (sheets compress 5–20×)
MAX_ROWS = 1_048_576  # Excel's own limit per sheet
MAX_CELL_CHARS = 32_767  # Excel's own limit per cell
XML_ERRORS = (ParseError, zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, KeyError,
              ValueError, OSError)


def check_workbook(path: Path, *, max_member_bytes: int = MAX_MEMBER_BYTES,
                   max_ratio: int = MAX_RATIO) -> None:
    """Refuse a workbook whose parts would unpack too large or too far."""
    try:
        with zipfile.ZipFile(path) as z:
            members = z.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise BadFileError(f"{path.name}: not a readable Excel workbook ({e})",
                           f"{path.name}：无法读取的Excel工作簿（{e}）", code="bad_format") from None
    for m in members:
        if m.file_size > max_member_bytes:
            raise BadFileError(
                f"{path.name}: part {m.filename} unpacks to {m.file_size:,} bytes; the limit is "
                f"{max_member_bytes:,}", f"{path.name}：其中{m.filename}解压后为{m.file_size:,}字节，"
                f"超过上限{max_member_bytes:,}字节", code="too_large")
        if m.file_size > 1 << 20 and m.file_size > max_ratio * max(m.compress_size, 1):
            raise BadFileError(
                f"{path.name}: part {m.filename} is compressed {m.file_size // max(m.compress_size, 1)}"
                f"-fold; more than {max_ratio}-fold is refused (a decompression bomb)",
                f"{path.name}：其中{m.filename}压缩比超过{max_ratio}倍，疑为解压炸弹，拒绝读取",
                code="too_compressed")


def guarded_rows(path: Path, rows: Iterator[tuple[Any, ...]], *, max_rows: int = MAX_ROWS,
                 max_cell_chars: int = MAX_CELL_CHARS) -> Iterator[tuple[Any, ...]]:
    """``rows`` of a sheet, refused past ``max_rows`` rows or a cell longer than
    ``max_cell_chars``; broken XML is a clear error naming the file."""
    n = 0
    try:
        for row in rows:
            n += 1
            if n > max_rows:
                raise BadFileError(f"{path.name}: the sheet has more than {max_rows:,} rows",
                                   f"{path.name}：工作表超过{max_rows:,}行", code="too_many_rows")
            for cell in row:
                if isinstance(cell, str) and len(cell) > max_cell_chars:
                    raise BadFileError(
                        f"{path.name}: row {n}: a cell is longer than {max_cell_chars:,} "
                        "characters", f"{path.name}：第{n}行：单元格超过{max_cell_chars:,}个字符",
                        code="cell_too_long")
            yield row
    except BadFileError:
        raise
    except XML_ERRORS as e:
        raise BadFileError(f"{path.name}: the workbook is damaged near row {n + 1} ({e})",
                           f"{path.name}：工作簿在第{n + 1}行附近损坏（{e}）",
                           code="bad_format") from None
