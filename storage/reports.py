"""Reject reports: a CSV (UTF-8 with BOM, so Excel opens it) of every refused row and warning,
its cells safe to open in a spreadsheet (``storage.cells``)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, TextIO

from domain.registers import Problem
from storage.cells import safe_row

HEADER = ["行号 line", "列 column", "值 value", "类型 kind", "原因 reason", "reason (English)"]


class CsvProblemReport:
    """Writes problems as they come; the file exists only if there was at least one."""

    def __init__(self, path: Path, *, overwrite: bool = True) -> None:
        # A default report name never overwrites an earlier report (two imports in the same
        # second, or a fixed --now); a path the user chose is theirs to overwrite.
        n = 1
        base = path
        while not overwrite and path.exists():
            n += 1
            path = base.with_name(f"{base.stem}-{n}{base.suffix}")
        self.path = path
        self.count = 0
        self._f: TextIO | None = None
        self._w: Any = None

    def add(self, problem: Problem) -> None:
        if self._f is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._f = self.path.open("w", encoding="utf-8-sig", newline="")
            self._w = csv.writer(self._f)
            self._w.writerow(HEADER)
        self._w.writerow(safe_row([
            problem.line, problem.column, problem.value,
            "警告 warning" if problem.warning else "拒绝 rejected", problem.zh, problem.en,
        ]))
        self.count += 1

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None

    @property
    def written(self) -> bool:
        return self.count > 0


class ListProblemSink:
    """Keeps problems in memory (tests, API responses)."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, problem: Problem) -> None:
        self.problems.append(problem)

    def close(self) -> None:
        pass
