"""When an issue's follow-ups fall due: the review after the grace period and the reminder before
the due date, and the small port that stores them.

Every due date an issue gets has its follow-up rows, one *revision* per due date (1 for the first,
2 after the first change, …). Planning a new due date cancels what is still waiting of the old
one — the pending rows, and an open look-back of an earlier due date (see
:func:`domain.issues.replan`) — and writes the new revision, in the transaction that moves the date.

This module knows nothing of issues or of firing; :mod:`domain.issues` and :mod:`domain.followups`
build on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol

from domain.clock import CHINA_TZ
from domain.workdays import HolidaySource, add_workdays, is_workday

REVIEW, REMINDER = "review", "reminder"
DEFAULT_GRACE_WORKDAYS = 5
DEFAULT_REMINDER_WORKDAYS = 3


def fire_instant(d: date) -> datetime:
    """A follow-up due on ``d`` fires at the start of that day in China (00:00 UTC+8), as UTC."""
    return datetime.combine(d, time(0, 0), CHINA_TZ).astimezone(UTC)


def epoch(instant: datetime) -> int:
    """Seconds since the epoch (a naive instant is taken as UTC)."""
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return int(instant.timestamp())


def workday_before(d: date, n: int, calendar: HolidaySource) -> date:
    """The ``n``-th working day before ``d`` (``d`` itself not counted)."""
    counted, day = 0, d
    while counted < n:
        day -= timedelta(days=1)
        if is_workday(day, calendar)[0]:
            counted += 1
    return day


@dataclass(frozen=True)
class NewFollowUp:
    issue_id: int
    kind: str
    revision: int
    due_on: date
    due_at: int  # seconds since the epoch
    team_no: int | None


def plan_for(issue_id: int, revision: int, due_on: date, *, team_no: int | None,
             grace_workdays: int = DEFAULT_GRACE_WORKDAYS,
             reminder_workdays: int = DEFAULT_REMINDER_WORKDAYS,
             calendar: HolidaySource, today: date) -> list[NewFollowUp]:
    """The follow-ups of one due date: the review ``grace_workdays`` working days after it, and
    the reminder ``reminder_workdays`` working days before it (left out when that day is already
    past, or when ``reminder_workdays`` is 0)."""
    review_on = add_workdays(due_on, grace_workdays, calendar).date if grace_workdays else due_on
    rows = [NewFollowUp(issue_id, REVIEW, revision, review_on, epoch(fire_instant(review_on)),
                        team_no)]
    if reminder_workdays:
        remind_on = workday_before(due_on, reminder_workdays, calendar)
        if remind_on > today:
            rows.append(NewFollowUp(issue_id, REMINDER, revision, remind_on,
                                    epoch(fire_instant(remind_on)), team_no))
    return rows


class FollowUpPlanRepository(Protocol):
    """What planning needs of the follow-up store."""

    def revisions(self, issue_ids: Sequence[int]) -> dict[int, int]:
        """The highest revision planned so far per issue (issues with none are absent)."""
        ...

    def add_many(self, rows: Sequence[NewFollowUp], at: datetime) -> int: ...

    def cancel_pending(self, issue_ids: Sequence[int]) -> list[int]:
        """Cancel the rows still waiting to fire; their ids."""
        ...

    def cancel_open(self, issue_id: int, *, at: datetime) -> list[int]:
        """Close the issue's open look-backs as cancelled; their ids."""
        ...
