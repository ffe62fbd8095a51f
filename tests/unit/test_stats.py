"""Register statistics: rates and the report built from the store's counts."""

from __future__ import annotations

import pytest

from domain.ports import RegisterCounts
from domain.stats import ProvinceRow, rate, register_stats
from tests.unit.fakes import FakeStore


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [(0, 0, None), (5, 0, None), (0, 4, 0.0), (1, 4, 0.25), (3, 4, 0.75), (4, 4, 1.0),
     (1, 3, 1 / 3), (999_999, 1_000_000, 0.999999)],
)
def test_rate(numerator: int, denominator: int, expected: float | None) -> None:
    assert rate(numerator, denominator) == expected


def test_a_zero_rate_is_zero_not_missing() -> None:
    result = rate(0, 10)
    assert result is not None
    assert result == 0.0


COUNTS = RegisterCounts(
    businesses=120,
    active_businesses=100,
    covered=80,
    staffed=45,
    director_named=60,
    officer_named=50,
    by_province=[("440000", "广东省", 70, 63, 35), ("110000", "北京市", 30, 17, 10),
                 ("120000", "120000", 0, 0, 0)],
    by_category=[("catering", 55), ("school_canteen", 25), ("production", 20)],
    by_risk=[("A", 10), ("B", 50), ("C", 30), ("D", 10)],
    cadres_by_level=[("township", 40), ("village", 12)],
    inspectors=30,
    active_inspectors=27,
    cadres=52,
    regions=3209,
)


def test_register_stats_from_known_counts() -> None:
    stats = register_stats(uow_factory=FakeStore(counts=COUNTS).uow)

    assert (stats.businesses, stats.active_businesses) == (120, 100)
    assert stats.coverage_rate == 0.8
    assert stats.staffing_rate == 0.45
    assert stats.director_rate == 0.6
    assert stats.officer_rate == 0.5
    assert (stats.cadres, stats.inspectors, stats.active_inspectors, stats.regions) == (
        52, 30, 27, 3209)
    assert stats.by_province == [
        ProvinceRow("440000", "广东省", 70, 0.9, 0.5),
        ProvinceRow("110000", "北京市", 30, 17 / 30, 1 / 3),
        ProvinceRow("120000", "120000", 0, None, None),
    ]
    assert stats.by_category == [("catering", "餐饮服务", 55), ("school_canteen", "学校食堂", 25),
                                 ("production", "食品生产", 20)]
    assert stats.by_risk == [("A", 10), ("B", 50), ("C", 30), ("D", 10)]
    # Every level, in the order of CadreLevel, with zero for the levels the store has none of.
    assert stats.cadres_by_level == [("province", "省级", 0), ("city", "市级", 0),
                                     ("county", "县级", 0), ("township", "乡级", 40),
                                     ("village", "村级", 12)]


def test_rates_are_of_active_businesses_only() -> None:
    counts = RegisterCounts(
        businesses=10, active_businesses=0, covered=0, staffed=0, director_named=0,
        officer_named=0, by_province=[], by_category=[], by_risk=[], cadres_by_level=[],
        inspectors=0, active_inspectors=0, cadres=0, regions=0,
    )
    stats = register_stats(uow_factory=FakeStore(counts=counts).uow)
    assert stats.businesses == 10
    assert stats.coverage_rate is None
    assert stats.staffing_rate is None
    assert stats.director_rate is None
    assert stats.officer_rate is None
    assert stats.by_province == []


def test_as_dict_is_plain_data() -> None:
    data = register_stats(uow_factory=FakeStore(counts=COUNTS).uow).as_dict()
    assert data["coverage_rate"] == 0.8
    assert data["by_province"][0] == {"code": "440000", "name": "广东省", "businesses": 70,
                                      "coverage_rate": 0.9, "staffing_rate": 0.5}
    assert data["by_category"][1] == ("school_canteen", "学校食堂", 25)


def test_register_stats_writes_nothing() -> None:
    store = FakeStore(counts=COUNTS)
    register_stats(uow_factory=store.uow)
    assert store.commits == 0
