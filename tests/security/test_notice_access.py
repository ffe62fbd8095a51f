"""The rule for reading a notice is the rule for reading what it is about.

Found: an auditor of team 2 got 403 on team 1's issue but 200 on that issue's rectification
order PDF; an auditor limited to campaign 9 listed and downloaded every notice of campaign 1.
Through the API: tests/e2e/test_api_followups_notices_supervision.py.
"""

from __future__ import annotations

import pytest

from domain.access import Action, Principal, Role, authorize, may_read_notice
from domain.errors import PermissionDeniedError

TEAM1 = frozenset({1})
AUDITOR2 = Principal(1, "a2", Role.AUDITOR, team=2)
AUDITOR1_C9 = Principal(2, "a1c9", Role.AUDITOR, team=1, campaign_id=9)
AUDITOR1 = Principal(3, "a1", Role.AUDITOR, team=1)
BIZ = Principal(4, "biz", Role.BUSINESS, uscc="911101010000000001")


def test_an_auditor_reads_only_notices_about_their_teams_issues() -> None:
    assert not may_read_notice(AUDITOR2, campaign_id=1, teams=TEAM1, uscc=None)
    assert may_read_notice(AUDITOR1, campaign_id=1, teams=TEAM1, uscc=None)
    with pytest.raises(PermissionDeniedError):
        authorize(AUDITOR2, Action.READ_NOTICE, campaign_id=1, teams=TEAM1)


def test_an_auditor_limited_to_a_campaign_reads_nothing_of_another() -> None:
    assert not may_read_notice(AUDITOR1_C9, campaign_id=1, teams=TEAM1, uscc=None)
    assert not may_read_notice(AUDITOR1_C9, campaign_id=1, teams=frozenset(), uscc=None)
    assert may_read_notice(AUDITOR1_C9, campaign_id=9, teams=frozenset(), uscc=None)  # circular
    assert not may_read_notice(AUDITOR1, campaign_id=None, teams=frozenset(), uscc=None)


def test_a_business_reads_its_own_notices_and_staff_read_all() -> None:
    assert may_read_notice(BIZ, campaign_id=1, teams=TEAM1, uscc=BIZ.uscc)
    assert not may_read_notice(BIZ, campaign_id=1, teams=TEAM1, uscc="911101010000000002")
    assert may_read_notice(Principal(5, "v", Role.VIEWER), campaign_id=1, teams=TEAM1, uscc=None)
