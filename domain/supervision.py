"""Routine supervision by assigned officials (包保督导): required visits per period, records, rates."""

from __future__ import annotations

from typing import Protocol


class SupervisionRepository(Protocol):
    """Supervision visits, their findings and the leads they refer."""
