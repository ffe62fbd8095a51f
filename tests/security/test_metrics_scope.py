"""Metrics name only what the caller may read.

Found: ``GET /campaigns/{id}/metrics`` showed a business user, and an auditor of another team
or campaign, the overdue list of every business. Through the API:
tests/e2e/test_api_access.py (``test_metrics_name_only_the_overdue_issues_the_caller_may_read``).
"""

from __future__ import annotations

from domain.access import Principal, Role, may_read_issue


def test_the_overdue_list_follows_the_issue_reading_rule() -> None:
    biz = Principal(1, "b", Role.BUSINESS, uscc="911101010000000001")
    aud = Principal(2, "a", Role.AUDITOR, team=1, campaign_id=3)
    assert may_read_issue(biz, campaign_id=3, team=1, uscc="911101010000000001")
    assert not may_read_issue(biz, campaign_id=3, team=1, uscc="911101010000000002")
    assert may_read_issue(aud, campaign_id=3, team=1, uscc="911101010000000002")
    assert not may_read_issue(aud, campaign_id=3, team=2, uscc="911101010000000002")
    assert not may_read_issue(aud, campaign_id=4, team=1, uscc="911101010000000002")
    assert may_read_issue(Principal(3, "v", Role.VIEWER), campaign_id=4, team=9, uscc=None)
