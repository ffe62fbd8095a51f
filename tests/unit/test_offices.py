"""Offices and territories: a territory covers exactly the regions under its code, a higher
office's covers the lower ones', and a new office's every mistake is named at once."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from domain.access import Principal, Role
from domain.offices import NewOffice, Office, OfficeLevel, Territory, check_new_office

county = st.from_regex(r"\A[1-6][0-9][0-9]{2}[0-9]{2}\Z")


def _levels(code: str) -> dict[OfficeLevel, Territory]:
    """The territories above and at a county (a township's code is longer)."""
    return {level: Territory.of(level, code) for level in OfficeLevel
            if level != OfficeLevel.TOWNSHIP}


@given(county, county)
def test_a_territory_covers_the_regions_under_its_code(a: str, b: str) -> None:
    for level, t in _levels(a).items():
        assert t.covers(a)
        expected = {OfficeLevel.NATIONAL: True, OfficeLevel.PROVINCE: a[:2] == b[:2],
                    OfficeLevel.CITY: a[:4] == b[:4], OfficeLevel.COUNTY: a == b}[level]
        assert t.covers(b) == expected
        bounds = t.code_range()
        if bounds is None:
            assert level == OfficeLevel.NATIONAL
        else:  # the range a query uses selects the same regions
            assert (bounds[0] <= b < bounds[1]) == t.covers(b)


@given(county)
def test_higher_territories_cover_lower_ones_and_not_the_reverse(code: str) -> None:
    chain = [Territory.of(level, code + "001") for level in OfficeLevel]
    for i, upper in enumerate(chain):
        for j, lower in enumerate(chain):
            assert upper.covers_territory(lower) == (i <= j)


def test_a_user_without_an_office_covers_the_country_one_with_covers_its_territory() -> None:
    assert Principal(1, "n", Role.OFFICE).covers("440106")
    city = Principal(2, "c", Role.OFFICE, office_id=3, territory="4401")
    assert city.covers("440106") and not city.covers("440305") and not city.covers(None)
    assert not city.covers("44")  # a provincial campaign is above the city
    assert not city.covers("")  # so is a national one


def _regions(code: str) -> str | None:
    return {"440000": "province", "440100": "city", "440106": "county",
            "320000": "province"}.get(code)


GD = Office(2, "广东省食安办", "粤食安办", OfficeLevel.PROVINCE, "440000", 1)


def test_a_good_office_has_no_problem() -> None:
    new = NewOffice("广州市食安办", "穗食安办", "city", "440100", GD.name)
    assert check_new_office(new, parent=GD, parent_missing=False, region_level=_regions) == []
    township = NewOffice("某街道食安办", "某街道", "township", "440106001", GD.name)
    assert check_new_office(township, parent=GD, parent_missing=False,
                            region_level=_regions) == []


def test_every_mistake_of_a_new_office_is_named() -> None:
    bad = NewOffice("", "x" * 60, "city", "320000", GD.name)
    problems = [en for en, _ in check_new_office(bad, parent=GD, parent_missing=False,
                                                 region_level=_regions)]
    assert any(p.startswith("name is empty") for p in problems)
    assert any(p.startswith("short_name is longer") for p in problems)
    assert any("320000 is a province code" in p for p in problems)
    outside = NewOffice("南京市食安办", "宁", "city", "440100", "江苏省食安办")
    js = Office(3, "江苏省食安办", "苏", OfficeLevel.PROVINCE, "320000", 1)
    assert any("outside the parent's territory" in en for en, _ in check_new_office(
        outside, parent=js, parent_missing=False, region_level=_regions))
    upside = NewOffice("广东省第二食安办", "粤二", "province", "440000", GD.name)
    assert any("is not above" in en for en, _ in check_new_office(
        upside, parent=GD, parent_missing=False, region_level=_regions))
    orphan = NewOffice("天河区食安办", "天河", "county", "440106", None)
    assert any(en.startswith("parent:") for en, _ in check_new_office(
        orphan, parent=None, parent_missing=False, region_level=_regions))
    national = NewOffice("国家食安办", "国", "national", "110000", None)
    assert any("000000" in en for en, _ in check_new_office(
        national, parent=None, parent_missing=False, region_level=_regions))
    assert any("level must be" in en for en, _ in check_new_office(
        NewOffice("a", "b", "village", "440106", GD.name), parent=GD, parent_missing=False,
        region_level=_regions))
