"""Evidence quotas per issue and per business (through the API: tests/e2e/test_api_access.py,
``test_evidence_quotas_per_issue_and_per_business``)."""

from __future__ import annotations

import pytest

from domain.errors import BadArgumentError
from domain.fieldwork import check_quota
from tests.unit.test_lifecycle_services import finding, world

MB = 1024 * 1024


def test_an_upload_over_either_quota_is_refused() -> None:
    w = world()
    i = finding(w)
    issue = w.issues[i]
    check_quota(issue, MB, issue_bytes=0, business_bytes=0, quota_issue=MB, quota_business=MB)
    with pytest.raises(BadArgumentError) as e:
        check_quota(issue, 1, issue_bytes=MB, business_bytes=0, quota_issue=MB,
                    quota_business=10 * MB)
    assert e.value.code == "quota_exceeded" and f"issue {issue.id}" in e.value.en
    with pytest.raises(BadArgumentError) as e:
        check_quota(issue, 1, issue_bytes=0, business_bytes=10 * MB, quota_issue=MB,
                    quota_business=10 * MB)
    assert issue.uscc in e.value.en
