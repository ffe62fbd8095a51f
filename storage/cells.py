"""Cells that Lookback writes into CSV and XLSX files, made safe to open in a spreadsheet.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read by Excel,
WPS and LibreOffice as a formula (CSV injection: ``=HYPERLINK(…)`` phones home, ``=cmd|…`` runs a
program). Such a cell gets a leading apostrophe, the spreadsheets' own "this is text" mark, so it
shows as the text it was. Numbers are left as numbers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """``value``, with a text that a spreadsheet would take for a formula made plain text."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(values: Iterable[Any]) -> list[Any]:
    return [safe_cell(v) for v in values]
