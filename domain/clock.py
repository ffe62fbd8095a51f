"""Clocks: where "now" comes from, injectable so demos and tests can jump in time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Tells the current time as a timezone-aware UTC datetime."""

    def now(self) -> datetime: ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that always tells the same instant (``LOOKBACK_NOW`` / ``--now``)."""

    def __init__(self, instant: datetime) -> None:
        if instant.tzinfo is None:
            instant = instant.replace(tzinfo=UTC)
        self._instant = instant.astimezone(UTC)

    def now(self) -> datetime:
        return self._instant

    def advance_to(self, instant: datetime) -> None:
        """Move the clock (tests only move it forward)."""
        if instant.tzinfo is None:
            instant = instant.replace(tzinfo=UTC)
        self._instant = instant.astimezone(UTC)
