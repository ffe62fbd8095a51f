"""The issue lifecycle: a state machine where an illegal step is an error, never a silent no-op.

::

    open ──notify──▶ notified ──report──▶ rectification_reported ──verify──▶ verified (closed)
      │                 │                        │                               ▲
      └─────────────────┴──── due date passed ───┴──▶ overdue ──report──▶ … ─────┤
                                                        └──── verify (look-back) ┘

From ``open``, ``notified`` or ``overdue`` the business may report its rectification; a follow-up
that finds the problem not (or only partly) rectified sends a reported or overdue issue back to
``notified`` with a new due date and one more step on the escalation ladder; an approved extension
moves the due date (and brings an overdue issue back to ``notified``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain.errors import ConflictError
from domain.vocabulary import STATUS_ZH


class IssueStatus(StrEnum):
    OPEN = "open"
    NOTIFIED = "notified"
    RECTIFICATION_REPORTED = "rectification_reported"
    OVERDUE = "overdue"
    VERIFIED = "verified"




class Action(StrEnum):
    NOTIFY = "notify"
    REPORT = "report_rectification"
    MARK_OVERDUE = "mark_overdue"
    VERIFY = "verify"
    NOT_RECTIFIED = "follow_up_not_rectified"
    EXTEND = "extend"


ACTION_ZH = {
    Action.NOTIFY: "下达整改通知",
    Action.REPORT: "报告整改",
    Action.MARK_OVERDUE: "标记逾期",
    Action.VERIFY: "核验销号",
    Action.NOT_RECTIFIED: "复查未整改",
    Action.EXTEND: "延期",
}

S = IssueStatus
TRANSITIONS: dict[Action, dict[IssueStatus, IssueStatus]] = {
    Action.NOTIFY: {S.OPEN: S.NOTIFIED},
    Action.REPORT: {S.OPEN: S.RECTIFICATION_REPORTED, S.NOTIFIED: S.RECTIFICATION_REPORTED,
                    S.OVERDUE: S.RECTIFICATION_REPORTED},
    Action.MARK_OVERDUE: {S.OPEN: S.OVERDUE, S.NOTIFIED: S.OVERDUE,
                          S.RECTIFICATION_REPORTED: S.OVERDUE},
    # A look-back comes after the due date, when the sweep has already marked the issue overdue:
    # the check on site may still find it rectified (late). It cannot verify an issue still
    # waiting for its order (open) or one the business has not yet had to fix (notified).
    Action.VERIFY: {S.RECTIFICATION_REPORTED: S.VERIFIED, S.OVERDUE: S.VERIFIED},
    Action.NOT_RECTIFIED: {S.RECTIFICATION_REPORTED: S.NOTIFIED, S.OVERDUE: S.NOTIFIED,
                           S.NOTIFIED: S.NOTIFIED},
    Action.EXTEND: {S.OPEN: S.OPEN, S.NOTIFIED: S.NOTIFIED,
                    S.RECTIFICATION_REPORTED: S.RECTIFICATION_REPORTED, S.OVERDUE: S.NOTIFIED},
}


@dataclass(frozen=True)
class Transition:
    action: Action
    before: IssueStatus
    after: IssueStatus


def step(issue_id: int, status: IssueStatus, action: Action) -> Transition:
    """The transition ``action`` makes from ``status``; a ConflictError naming the current state
    when the step is not allowed."""
    after = TRANSITIONS[action].get(status)
    if after is None:
        allowed = sorted(a.value for a, table in TRANSITIONS.items() if status in table)
        raise ConflictError(
            f"issue {issue_id} is {status.value}; it cannot {action.value.replace('_', ' ')}"
            + (f" (allowed now: {', '.join(allowed)})" if allowed else " (it is closed)"),
            f"问题{issue_id}当前状态为“{STATUS_ZH[status]}”，不能{ACTION_ZH[action]}"
            + ("" if allowed else "（已销号）"),
            code="illegal_transition",
        )
    return Transition(action, status, after)


def allowed_actions(status: IssueStatus) -> list[Action]:
    return [a for a, table in TRANSITIONS.items() if status in table]
