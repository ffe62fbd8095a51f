"""A flood of refused requests costs the event log a bounded number of short rows.

Found: 300 requests with a garbage token and a 15,000-character path wrote 300 hash-chained
refusal events of 15 KB each (about 1 MB/s from one client). Through the API:
tests/e2e/test_api_access.py (``test_a_flood_of_refusals_costs_a_bounded_number_of_short_rows``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.access import RefusalBudget

T = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)


def test_per_key_and_total_limits_then_one_count_per_minute() -> None:
    b = RefusalBudget(per_key=3, total=5)
    admitted = [b.admit("client:a", T + timedelta(seconds=s))[0] for s in range(10)]
    assert admitted == [True] * 3 + [False] * 7
    assert [b.admit(f"client:{k}", T)[0] for k in "bc"] == [True, True]
    assert b.admit("client:d", T) == (False, 0)  # the total of 5 is spent
    # The next minute starts afresh and carries the count of what was not written (7 + 1).
    assert b.admit("client:a", T + timedelta(minutes=1)) == (True, 8)
    assert b.admit("client:a", T + timedelta(minutes=1, seconds=1)) == (True, 0)


def test_a_long_flood_writes_at_most_total_plus_one_rows_a_minute() -> None:
    b = RefusalBudget(per_key=60, total=600)
    written = 0
    for n in range(100_000):  # 100,000 refusals from 10,000 clients within one minute
        ok, carried = b.admit(f"client:{n % 10_000}", T + timedelta(microseconds=n))
        written += ok + (carried > 0)
    assert written <= 601
