"""The shipped snapshot of China's administrative division codes and its loader."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from domain.ports import RegisterUowFactory as UnitOfWorkFactory
from domain.regions import Region, RegionLevel

SNAPSHOT = Path(__file__).parent / "data" / "regions_gbt2260.csv"


def snapshot_source(path: Path = SNAPSHOT) -> str:
    """The provenance lines at the top of the snapshot file."""
    with path.open(encoding="utf-8") as f:
        return " ".join(line[1:].strip() for line in f if line.startswith("#"))


def read_snapshot(path: Path = SNAPSHOT) -> Iterator[Region]:
    """Every region in the snapshot file."""
    with path.open(encoding="utf-8", newline="") as f:
        lines = (line for line in f if not line.startswith("#"))
        for row in csv.DictReader(lines):
            yield Region(row["code"], row["name"], RegionLevel(row["level"]),
                         row["parent_code"] or None)


def load_regions(uow_factory: UnitOfWorkFactory, path: Path = SNAPSHOT) -> int:
    """Insert or update the snapshot's regions; returns how many the snapshot holds."""
    regions = list(read_snapshot(path))
    with uow_factory() as uow:
        n = uow.regions.upsert_many(regions)
        uow.commit()
    return n
