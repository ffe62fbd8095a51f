"""The published draw's two files, as ``lookback draw export`` writes them and the office console
serves them: ``record.json`` (the draw record) and ``frame.csv`` (the frozen frame). One place
for their bytes, so a download and an export of the same draw are identical and both verify
with ``docs/verify_draw.py``."""

from __future__ import annotations

import json
from typing import Any

from domain.sampling import FRAME_HEADER

RECORD_FILE = "record.json"
FRAME_FILE = "frame.csv"


def record_json(record: dict[str, Any]) -> str:
    """The draw record as published: sorted keys, two-space indent, UTF-8 text, final newline."""
    return json.dumps(record, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def frame_csv(lines: list[str]) -> str:
    """The frozen frame as published: the header, then its canonical lines, one per row."""
    return FRAME_HEADER + "\n" + "".join(f"{ln}\n" for ln in lines)
