"""Runs a bulk fieldwork import for the CLI: reader, reject report, the domain's batch."""

from __future__ import annotations

from pathlib import Path

from domain.fieldwork_import import FieldworkSummary, record_batch
from lookback.bootstrap import App
from lookback.output import Output


def run_fieldwork_import(lb: App, out: Output, file: Path,
                         report: Path | None) -> tuple[FieldworkSummary, Path | None]:
    from storage.fieldwork_files import read_fieldwork
    from storage.reports import CsvProblemReport

    stamp = lb.clock.now().strftime("%Y%m%dT%H%M%S")
    path = report or lb.data_dir / "reports" / f"fieldwork-{stamp}-{file.stem}-rejects.csv"
    sink = CsvProblemReport(path, overwrite=report is not None)
    rows = list(read_fieldwork(file))  # read (and fail on a bad file) before opening a transaction
    with out.progress(f"Recording {len(rows)} answers", f"正在记录{len(rows)}条作答"):
        summary = record_batch(rows, uow_factory=lb.uow_factory(), clock=lb.clock,
                               checklists=lb.checklists, calendar=lb.calendar, sink=sink,
                               actor=lb.actor)
    return summary, (sink.path if sink.written else None)
