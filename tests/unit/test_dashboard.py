"""The dashboard's rules: weeks start on Monday and hold exactly their days' counts; a region
is a code inside the territory."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import dashboard as dash
from domain.errors import BadArgumentError, PermissionDeniedError

days = st.dictionaries(st.dates(date(2025, 1, 1), date(2027, 12, 31)),
                       st.integers(0, 1000), max_size=60)


@given(found=days, reported=days, today=st.dates(date(2026, 1, 1), date(2026, 12, 31)))
def test_each_day_counts_once_in_its_week(found: dict[date, int], reported: dict[date, int],
                                           today: date) -> None:
    weeks = dash.weeks(found, reported, today)
    assert len(weeks) == dash.WEEKS
    assert all(w.starts_on.weekday() == 0 for w in weeks)
    assert weeks[-1].starts_on <= today < weeks[-1].starts_on + timedelta(days=7)
    assert all(b.starts_on - a.starts_on == timedelta(days=7) for a, b in pairwise(weeks))
    first, end = weeks[0].starts_on, weeks[-1].starts_on + timedelta(days=7)
    assert dash.since(today) == first
    for series, attr in ((found, "found"), (reported, "reported")):
        inside = {d: n for d, n in series.items() if first <= d < end}
        assert sum(getattr(w, attr) for w in weeks) == sum(inside.values())
        for w in weeks:
            assert getattr(w, attr) == sum(n for d, n in inside.items()
                                           if w.starts_on <= d < w.starts_on + timedelta(7))


@given(territory=st.sampled_from(["", "51", "5101", "510104"]),
       region=st.from_regex(r"\A[0-9]{2}([0-9]{2}){0,2}\Z"))
def test_a_region_must_lie_in_the_territory(territory: str, region: str) -> None:
    if region.startswith(territory) and len(region) >= len(territory):
        assert dash.check_region(territory, region) == region
    else:
        with pytest.raises(PermissionDeniedError):
            dash.check_region(territory, region)


@pytest.mark.parametrize("region", ["5", "51x", "5101040", "５１", " 51"])
def test_a_malformed_region_is_named(region: str) -> None:
    with pytest.raises(BadArgumentError, match="region"):
        dash.check_region("", region)


def test_no_region_is_the_territory() -> None:
    assert dash.check_region("5101", None) == "5101"
    assert dash.check_region("5101", "") == "5101"
