"""Clocks: where "now" comes from, injectable so demos and tests can jump in time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Protocol

# China Standard Time (no daylight saving): dates on documents, deadlines and visits are the
# date in China, while every stored timestamp stays in UTC.
CHINA_TZ = timezone(timedelta(hours=8), "CST")


def china_date(instant: datetime) -> date:
    """The calendar date in China at ``instant`` (a naive instant is taken as UTC)."""
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(CHINA_TZ).date()


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


class OffsetClock:
    """A clock that starts at a given instant and runs on at real speed (``scheduler run
    --now``): the scheduler can live in a simulated time and still wait for due instants."""

    def __init__(self, start: datetime, real_now: datetime | None = None) -> None:
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        self.offset = start.astimezone(UTC) - (real_now or datetime.now(UTC))

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def to_real(self, instant: datetime) -> datetime:
        """The real instant at which this clock shows ``instant``."""
        return instant - self.offset
