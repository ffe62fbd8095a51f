"""The double-random draw: keyed ranking, allocation, teams, avoidance (回避), extension, replay."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import random
import re
from collections import Counter
from collections.abc import Iterable

import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from domain.errors import ConflictError, InputError
from domain.regions import city_of, province_of
from domain.registers import Category
from domain.sampling import (
    FRAME_HEADER,
    Draw,
    DrawParams,
    FrameBusiness,
    FrameInspector,
    Pick,
    allocate,
    assign_visits,
    draw,
    draw_teams,
    extend,
    first_difference,
    frame_lines,
    frame_sha256,
    largest_remainder,
    lowest,
    parse_frame,
    replay,
    stratum_of,
    unit_key,
)

SETTINGS = settings(max_examples=60, deadline=None)

# Counties in three provinces with up to four cities each; province 65 holds no business, so
# inspectors from there never meet an avoidance conflict.
BUSINESS_PROVINCES = ("33", "44", "51")
REGIONS = tuple(f"{p}{c:02d}{d:02d}" for p in BUSINESS_PROVINCES for c in (1, 2, 3, 4)
                for d in (1, 2))
FAR_REGIONS = ("650102", "650103", "650202")
CATEGORIES = tuple(c.value for c in Category)
RISK_LEVELS = ("A", "B", "C", "D")
STRATA_FIELDS = ("province", "city", "county", "category", "risk_level")
ALLOCATIONS = ("proportional", "equal", "risk_weighted")
AVOIDANCE_LEVELS = ("city", "province", "county")


def area(code: str, level: str) -> str:
    """The code compared for avoidance at ``level``, written out independently of the module."""
    return {"province": province_of(code), "city": city_of(code), "county": code}[level]


def businesses_st(min_size: int = 1, max_size: int = 40,
                  regions: tuple[str, ...] = REGIONS) -> st.SearchStrategy[list[FrameBusiness]]:
    rows = st.tuples(st.sampled_from(regions), st.sampled_from(CATEGORIES),
                     st.sampled_from(RISK_LEVELS))
    # Ids hold letters so that no id can be mistaken for a six-digit region code in a message.
    return st.lists(rows, min_size=min_size, max_size=max_size).map(
        lambda rs: [FrameBusiness(f"B{i:04d}X", *r) for i, r in enumerate(rs)])


def inspectors_st(min_size: int, max_size: int,
                  homes: tuple[str, ...]) -> st.SearchStrategy[list[FrameInspector]]:
    return st.lists(st.sampled_from(homes), min_size=min_size, max_size=max_size).map(
        lambda hs: [FrameInspector(f"J{i:04d}X", h) for i, h in enumerate(hs)])


def far_inspectors(n: int) -> list[FrameInspector]:
    return [FrameInspector(f"J{i:04d}X", FAR_REGIONS[i % len(FAR_REGIONS)]) for i in range(n)]


def make_params(**kw: object) -> DrawParams:
    base: dict[str, object] = dict(
        seed="20230814", stages=[{"unit": "business"}], provinces=[], total=None, fraction=None,
        per_stratum=None, strata=[], allocation="proportional", min_per_stratum=0,
        risk_weights={"A": 1, "B": 2, "C": 3, "D": 4}, teams=2, members=2, avoidance="city")
    base.update(kw)
    return DrawParams(**base)  # type: ignore[arg-type]


def check_draw(d: Draw, params: DrawParams, businesses: list[FrameBusiness],
               inspectors: list[FrameInspector]) -> None:
    """Invariants every draw must satisfy."""
    by_id = {b.uscc: b for b in businesses}
    home = {i.inspector_id: i.home_region for i in inspectors}
    picked = [p.unit for p in d.businesses]
    assert len(picked) == len(set(picked)) == d.total
    last = d.stages[-1]
    assert sum(last.allocation.values()) == d.total
    per_stratum = Counter(p.stratum for p in d.businesses)
    for h, n in last.allocation.items():
        assert per_stratum[h] == n
        assert n <= last.strata[h]
    for p in d.businesses:
        assert stratum_of(by_id[p.unit], params.strata) == p.stratum
    # Teams: exactly `members` distinct inspectors each, nobody in two teams.
    assert sorted(d.teams) == list(range(1, params.teams + 1))
    everyone = [p.unit for members in d.teams.values() for p in members]
    assert len(everyone) == len(set(everyone)) == params.teams * params.members
    assert all(len(m) == params.members for m in d.teams.values())
    assert set(everyone) <= set(home)
    # Every pick visited by one team, and never by a team with a member from its area.
    assert set(d.assignments) == set(picked)
    for u, t in d.assignments.items():
        biz_area = area(by_id[u].region_code, params.avoidance)
        assert all(area(home[p.unit], params.avoidance) != biz_area for p in d.teams[t]), (u, t)


# --- keys and frames -------------------------------------------------------------------------

def test_unit_key_matches_a_known_vector() -> None:
    expected = "fb36788e01d31a46588ce037c2a0bcdee0c9547a647c0c382640857aae196577"
    direct = hmac.new(b"20230814", b"business|city=330100|91330100MA27XXXX0A",
                      hashlib.sha256).hexdigest()
    assert direct == expected
    assert unit_key("20230814", "business", "city=330100", "91330100MA27XXXX0A") == expected


@given(st.text(min_size=1, max_size=12), st.sampled_from(["province", "city", "business"]),
       st.text(max_size=12), st.text(min_size=1, max_size=20))
def test_unit_key_is_hmac_sha256_of_stage_stratum_unit(seed: str, stage: str, stratum: str,
                                                       unit: str) -> None:
    msg = f"{stage}|{stratum}|{unit}".encode()
    assert unit_key(seed, stage, stratum, unit) == hmac.new(
        seed.encode(), msg, hashlib.sha256).hexdigest()


def test_unit_key_depends_on_every_part() -> None:
    k = unit_key("1", "business", "all", "B1")
    assert len({k, unit_key("2", "business", "all", "B1"), unit_key("1", "city", "all", "B1"),
                unit_key("1", "business", "x", "B1"), unit_key("1", "business", "all", "B2")}) == 5


@given(st.lists(st.text(alphabet="ABC0123", min_size=1, max_size=5), unique=True, max_size=20),
       st.integers(0, 25))
def test_lowest_takes_the_n_smallest_keys_in_rank_order(units: list[str], n: int) -> None:
    got = lowest("7", "business", "all", units, n)
    ranked = sorted(units, key=lambda u: unit_key("7", "business", "all", u))
    assert [u for u, _ in got] == ranked[:n]
    assert all(k == unit_key("7", "business", "all", u) for u, k in got)


@SETTINGS
@given(businesses_st(max_size=20), inspectors_st(0, 10, REGIONS), st.randoms())
def test_frame_lines_round_trip_and_hash_ignore_row_order(
        businesses: list[FrameBusiness], inspectors: list[FrameInspector], rnd: random.Random) -> None:
    lines = frame_lines(businesses, inspectors)
    assert lines == sorted(lines)
    assert len(lines) == len(businesses) + len(inspectors)
    b2, i2 = parse_frame([FRAME_HEADER, *(line + "\r\n" for line in lines)])
    assert Counter(b2) == Counter(businesses)
    assert Counter(i2) == Counter(inspectors)
    assert frame_lines(b2, i2) == lines
    expected = hashlib.sha256("".join(line + "\n" for line in lines).encode()).hexdigest()
    assert frame_sha256(lines) == expected
    sb, si = list(businesses), list(inspectors)
    rnd.shuffle(sb)
    rnd.shuffle(si)
    assert frame_sha256(frame_lines(sb, si)) == expected


def test_frame_hash_changes_with_any_field() -> None:
    b = FrameBusiness("B1", "330102", "catering", "A")
    base = frame_sha256(frame_lines([b], []))
    for other in (FrameBusiness("B1", "330103", "catering", "A"),
                  FrameBusiness("B1", "330102", "sales", "A"),
                  FrameBusiness("B1", "330102", "catering", "B")):
        assert frame_sha256(frame_lines([other], [])) != base


@pytest.mark.parametrize("line", ["business,B1,330102,catering", "auditor,J1,330100,,",
                                  "business,B1,330102,catering,A,extra"])
def test_parse_frame_rejects_a_malformed_line_naming_it(line: str) -> None:
    with pytest.raises(InputError, match="line 2"):
        parse_frame(["inspector,J1,330100,,", line])


# --- allocation ------------------------------------------------------------------------------

sizes_st = st.dictionaries(st.text(alphabet="abcdefgh", min_size=1, max_size=2),
                           st.integers(0, 40), min_size=1, max_size=8)


@SETTINGS
@given(sizes_st, st.sampled_from(ALLOCATIONS), st.integers(0, 6), st.data())
def test_allocate_sums_to_total_within_sizes_and_honours_the_minimum(
        sizes: dict[str, int], method: str, minimum: int, data: st.DataObject) -> None:
    population = sum(sizes.values())
    base = {h: min(minimum, n) for h, n in sizes.items()}
    total = data.draw(st.integers(sum(base.values()), population), label="total")
    weights = data.draw(st.fixed_dictionaries({h: st.integers(0, 20) for h in sizes}),
                        label="weights")
    alloc = allocate(sizes, total, method=method, minimum=minimum, weights=weights)
    assert set(alloc) == set(sizes)
    assert sum(alloc.values()) == total
    for h, n in sizes.items():
        assert base[h] <= alloc[h] <= n


# Many small strata next to a large one: where rounding up the small ones could starve the large.
many_small_strata = st.tuples(st.lists(st.integers(1, 3), min_size=4, max_size=15),
                              st.integers(20, 200)).map(
    lambda t: {**{f"s{i:02d}": n for i, n in enumerate(t[0])}, "big": t[1]})


@st.composite
def sizes_and_total(draw_: st.DrawFn) -> tuple[dict[str, int], int]:
    sizes = draw_(st.one_of(sizes_st, many_small_strata))
    return sizes, draw_(st.integers(0, sum(sizes.values())))


@SETTINGS
@given(sizes_and_total())
@example(({"s0": 1, "s1": 1, "s2": 1, "s3": 1, "big": 20}, 10))  # big got 7, exact 8.33
def test_proportional_allocation_gives_each_stratum_the_floor_or_ceiling_of_its_quota(
        case: tuple[dict[str, int], int]) -> None:
    sizes, total = case
    population = sum(sizes.values())
    alloc = allocate(sizes, total, method="proportional")
    if population == 0:
        assert set(alloc.values()) == {0}
        return
    for h, n in sizes.items():
        # exact quota total * n / population, in integers: floor <= allocated <= ceiling
        assert total * n // population <= alloc[h] <= -(-total * n // population), (h, alloc)


def test_proportional_allocation_regression_small_strata_do_not_starve_a_large_one() -> None:
    sizes = {**{f"t{i}": 1 for i in range(10)}, "big": 90}
    alloc = allocate(sizes, 55, method="proportional")
    # Exact quotas: 0.55 for each small stratum, 49.5 for the big one. largest_remainder treats
    # a small stratum rounded up to exactly its size as "capped" and re-splits the rest, again
    # and again, until every small stratum is full and the big one has 45.
    assert alloc["big"] in (49, 50), alloc
    assert sum(alloc[f"t{i}"] for i in range(10)) in (5, 6), alloc


@SETTINGS
@given(sizes_st, st.integers(0, 6), st.data())
def test_equal_allocation_differs_by_at_most_one_between_uncapped_strata(
        sizes: dict[str, int], minimum: int, data: st.DataObject) -> None:
    population = sum(sizes.values())
    base = sum(min(minimum, n) for n in sizes.values())
    total = data.draw(st.integers(base, population), label="total")
    alloc = allocate(sizes, total, method="equal", minimum=minimum)
    uncapped = [alloc[h] for h in sizes if alloc[h] < sizes[h]]
    if uncapped:
        assert max(uncapped) - min(uncapped) <= 1, alloc
        # and no capped stratum was filled beyond what an uncapped one could get
        assert all(alloc[h] <= max(uncapped) + 1 for h in sizes)


@SETTINGS
@given(st.dictionaries(st.text(alphabet="abcdef", min_size=1, max_size=2), st.integers(1, 30),
                       min_size=2, max_size=6), st.data())
def test_risk_weighted_allocation_is_monotone_in_weight(weights: dict[str, int],
                                                        data: st.DataObject) -> None:
    total = data.draw(st.integers(0, 60), label="total")
    sizes = {h: total + data.draw(st.integers(1, 5), label=f"spare {h}") for h in weights}
    alloc = allocate(sizes, total, method="risk_weighted", weights=weights)
    assert sum(alloc.values()) == total
    w_total = sum(weights.values())
    for h in weights:
        assert total * weights[h] // w_total <= alloc[h] <= -(-total * weights[h] // w_total)
        for g in weights:
            if weights[h] > weights[g]:
                assert alloc[h] >= alloc[g], (h, g, alloc)


@SETTINGS
@given(st.dictionaries(st.text(alphabet="abcdef", min_size=1, max_size=2),
                       st.tuples(st.integers(1, 30), st.integers(0, 15)), min_size=2, max_size=6),
       st.integers(0, 3), st.data())
def test_risk_weighted_heavier_strata_get_more_unless_full(
        strata: dict[str, tuple[int, int]], minimum: int, data: st.DataObject) -> None:
    weights = {h: w for h, (w, _) in strata.items()}
    sizes = {h: n for h, (_, n) in strata.items()}
    base = sum(min(minimum, n) for n in sizes.values())
    total = data.draw(st.integers(base, sum(sizes.values())), label="total")
    alloc = allocate(sizes, total, method="risk_weighted", minimum=minimum, weights=weights)
    for h in sizes:
        for g in sizes:
            if weights[h] > weights[g] and alloc[h] < alloc[g]:
                assert alloc[h] == sizes[h], (h, g, alloc)


def test_risk_weighted_gives_more_to_heavier_strata() -> None:
    alloc = allocate({"a": 100, "b": 100, "c": 100}, 60, method="risk_weighted",
                     weights={"a": 1, "b": 2, "c": 3})
    assert alloc == {"a": 10, "b": 20, "c": 30}


def test_allocate_refuses_a_sample_larger_than_the_population() -> None:
    with pytest.raises(InputError, match=r"\(11\).*\(10\)"):
        allocate({"a": 4, "b": 6}, 11, method="proportional")


def test_allocate_refuses_minimums_above_the_total() -> None:
    with pytest.raises(InputError, match="min_per_stratum 3"):
        allocate({"a": 4, "b": 6, "c": 2}, 7, method="equal", minimum=3)  # needs 3 + 3 + 2
    # a stratum smaller than the minimum only needs its size
    assert allocate({"a": 4, "b": 6, "c": 2}, 8, method="equal", minimum=3) == \
        {"a": 3, "b": 3, "c": 2}


def test_allocate_rejects_unknown_method_and_missing_weights() -> None:
    with pytest.raises(ValueError, match="unknown allocation"):
        allocate({"a": 3}, 1, method="neyman")
    with pytest.raises(ValueError, match="weights"):
        allocate({"a": 3}, 1, method="risk_weighted")


@SETTINGS
@given(st.dictionaries(st.text(alphabet="abcdef", min_size=1, max_size=2),
                       st.tuples(st.integers(0, 10), st.integers(0, 10)), min_size=1, max_size=6),
       st.data())
def test_largest_remainder_sums_to_total_within_caps(strata: dict[str, tuple[int, int]],
                                                     data: st.DataObject) -> None:
    weights = {h: w for h, (w, _) in strata.items()}
    caps = {h: c for h, (_, c) in strata.items()}
    total = data.draw(st.integers(0, sum(caps.values())), label="total")
    alloc = largest_remainder(weights, total, caps)
    assert sum(alloc.values()) == total
    assert all(0 <= alloc[h] <= caps[h] for h in caps)


def test_largest_remainder_refuses_more_than_the_caps() -> None:
    with pytest.raises(ValueError):
        largest_remainder({"a": 1, "b": 1}, 5, {"a": 2, "b": 2})


def test_largest_remainder_ties_go_to_the_smaller_stratum_id() -> None:
    assert largest_remainder({"b": 1, "a": 1, "c": 1}, 2, {"a": 9, "b": 9, "c": 9}) == \
        {"a": 1, "b": 1, "c": 0}


# --- the draw: reproducible, order-free ------------------------------------------------------

draw_setup = st.fixed_dictionaries({
    "strata": st.lists(st.sampled_from(STRATA_FIELDS), unique=True, max_size=2),
    "allocation": st.sampled_from(ALLOCATIONS),
    "avoidance": st.sampled_from(AVOIDANCE_LEVELS),
    "teams": st.integers(1, 3),
    "members": st.integers(2, 3),
    "stages": st.sampled_from([[{"unit": "business"}],
                               [{"unit": "city", "per_parent": 2}, {"unit": "business"}],
                               [{"unit": "province", "count": 2}, {"unit": "business"}]]),
})


def run(params: DrawParams, businesses: list[FrameBusiness],
        inspectors: list[FrameInspector]) -> dict[str, object] | str:
    """The record of a draw, or the message of the error it raised."""
    try:
        return draw(params, businesses, inspectors).as_record()
    except (InputError, ConflictError) as e:
        return f"{type(e).__name__}: {e}"


@SETTINGS
@given(businesses_st(max_size=40), inspectors_st(9, 14, REGIONS + FAR_REGIONS), draw_setup,
       st.integers(0, 10**9), st.data())
def test_same_seed_and_frame_give_the_same_draw_whatever_the_row_order(
        businesses: list[FrameBusiness], inspectors: list[FrameInspector],
        setup: dict[str, object], seed: int, data: st.DataObject) -> None:
    params = make_params(seed=str(seed), fraction=0.4, **setup)
    first = run(params, businesses, inspectors)
    event("drawn" if isinstance(first, dict) else first.split(":")[0])
    shuffled_b = data.draw(st.permutations(businesses), label="businesses shuffled")
    shuffled_i = data.draw(st.permutations(inspectors), label="inspectors shuffled")
    assert run(params, shuffled_b, shuffled_i) == first
    if isinstance(first, dict):
        check_draw(draw(params, shuffled_b, shuffled_i), params, businesses, inspectors)


@SETTINGS
@given(st.integers(0, 10**12), st.integers(0, 10**12))
def test_a_different_seed_gives_different_picks(seed_a: int, seed_b: int) -> None:
    if seed_a == seed_b:
        seed_b += 1
    businesses = [FrameBusiness(f"B{i:04d}X", REGIONS[i % len(REGIONS)], "catering", "A")
                  for i in range(40)]
    inspectors = far_inspectors(8)
    picks = []
    for seed in (seed_a, seed_b):
        d = draw(make_params(seed=str(seed), total=10), businesses, inspectors)
        picks.append({p.unit for p in d.businesses})
    # C(40, 10) is about 8.5e8: equal picks would be a near-impossible coincidence.
    assert picks[0] != picks[1]


def test_draw_record_survives_json_and_params_round_trip() -> None:
    businesses = [FrameBusiness(f"B{i:04d}X", REGIONS[i % len(REGIONS)], "catering",
                                RISK_LEVELS[i % 4]) for i in range(30)]
    params = make_params(total=12, strata=["province"], allocation="risk_weighted",
                         min_per_stratum=2)
    d = draw(params, businesses, far_inspectors(6))
    record = d.as_record()
    again = json.loads(json.dumps(record, ensure_ascii=False))
    assert first_difference(record, again) is None
    assert again == record
    assert DrawParams.from_dict(record["params"]) == params
    assert record["frame"] == {"sha256": frame_sha256(frame_lines(businesses, far_inspectors(6))),
                               "businesses": 30, "inspectors": 6}


def test_draw_with_nothing_in_scope_is_an_input_error() -> None:
    businesses = [FrameBusiness("B0001X", "330102", "catering", "A")]
    with pytest.raises(InputError, match="no business in scope"):
        draw(make_params(total=1, provinces=["440000"]), businesses, far_inspectors(4))


def test_per_stratum_takes_that_many_from_each_stratum_or_all_of_a_small_one() -> None:
    businesses = ([FrameBusiness(f"B{i:04d}X", "330102", "catering", "A") for i in range(5)]
                  + [FrameBusiness(f"C{i:04d}X", "440102", "catering", "A") for i in range(2)])
    d = draw(make_params(per_stratum=3, strata=["province"]), businesses, far_inspectors(4))
    assert d.stages[-1].allocation == {"province=330000": 3, "province=440000": 2}
    assert d.total == 5


def test_fraction_rounds_up_in_parts_per_million() -> None:
    businesses = [FrameBusiness(f"B{i:04d}X", "330102", "catering", "A") for i in range(30)]
    assert draw(make_params(fraction=0.1), businesses, far_inspectors(4)).total == 3
    assert draw(make_params(fraction=0.11), businesses, far_inspectors(4)).total == 4  # 3.3
    assert draw(make_params(fraction=0.001), businesses, far_inspectors(4)).total == 1


# --- teams and avoidance (回避) ---------------------------------------------------------------

@SETTINGS
@given(st.integers(1, 5), st.integers(2, 4), st.integers(0, 6), st.integers(0, 10**6))
def test_every_team_has_exactly_members_distinct_inspectors(count: int, members: int,
                                                            spare: int, seed: int) -> None:
    inspectors = far_inspectors(count * members + spare)
    teams = draw_teams(str(seed), inspectors, count, members)
    assert sorted(teams) == list(range(1, count + 1))
    assert all(len(m) == members for m in teams.values())
    ids = [p.unit for m in teams.values() for p in m]
    assert len(set(ids)) == count * members
    assert all(p.stratum == f"team-{t}" for t, m in teams.items() for p in m)
    # the chosen inspectors are the lowest-ranked ones
    assert set(ids) == {u for u, _ in lowest(str(seed), "inspector", "all",
                                             (i.inspector_id for i in inspectors), len(ids))}


@pytest.mark.parametrize(("count", "members", "available"), [(5, 3, 14), (1, 2, 1), (2, 2, 0)])
def test_draw_teams_refuses_too_few_inspectors(count: int, members: int, available: int) -> None:
    with pytest.raises(InputError, match=f"need {count * members} active inspectors"):
        draw_teams("1", far_inspectors(available), count, members)


@SETTINGS
@given(st.sampled_from(AVOIDANCE_LEVELS), st.integers(1, 4), st.data())
def test_assign_visits_never_breaks_avoidance_and_fails_only_when_it_must(
        level: str, n_teams: int, data: st.DataObject) -> None:
    homes = st.sampled_from(REGIONS[:8] + FAR_REGIONS)  # provinces 33 and 65 only
    teams = {t: [Pick(f"J{t}{m}X", f"team-{t}", "") for m in range(2)]
             for t in range(1, n_teams + 1)}
    home_of = {p.unit: data.draw(homes, label=p.unit) for m in teams.values() for p in m}
    regions = data.draw(st.lists(st.sampled_from(REGIONS), min_size=1, max_size=25),
                        label="business regions")
    region_of = {f"B{i:04d}X": r for i, r in enumerate(regions)}
    usccs = list(region_of)
    blocked = {t: {area(home_of[p.unit], level) for p in m} for t, m in teams.items()}
    nowhere = {area(r, level) for r in regions if all(area(r, level) in b
                                                      for b in blocked.values())}
    event("conflict" if nowhere else "assigned")
    if nowhere:
        with pytest.raises(ConflictError) as info:
            assign_visits("9", usccs, region_of, teams, home_of, level, {})
        assert info.value.code == "no_eligible_team"
        named = set(re.findall(r"\d{6}", str(info.value)))
        assert named and named <= nowhere
        assert named <= set(re.findall(r"\d{6}", info.value.zh))
        return
    result = assign_visits("9", usccs, region_of, teams, home_of, level, {})
    assert set(result) == set(usccs)
    for u, t in result.items():
        assert area(region_of[u], level) not in blocked[t], (u, t)


def test_conflict_error_names_the_city_no_team_may_visit() -> None:
    teams = {1: [Pick("J1", "team-1", ""), Pick("J2", "team-1", "")],
             2: [Pick("J3", "team-2", ""), Pick("J4", "team-2", "")]}
    home_of = {"J1": "330102", "J2": "650102", "J3": "330105", "J4": "440103"}
    region_of = {"BAX": "440104", "BBX": "330106"}  # 440104: team 1 may go; 330106: nobody
    with pytest.raises(ConflictError) as info:
        assign_visits("1", ["BAX", "BBX"], region_of, teams, home_of, "city", {})
    assert "330100" in str(info.value)
    assert "330100" in info.value.zh
    assert "BBX" in str(info.value)
    # the same teams at county level can visit both
    result = assign_visits("1", ["BAX", "BBX"], region_of, teams, home_of, "county", {})
    assert set(result) == {"BAX", "BBX"}
    assert sorted(result.values()) == [1, 2]  # both teams eligible: one visit each
    # at province level 33 is blocked for both teams; the province is named
    with pytest.raises(ConflictError, match="330000"):
        assign_visits("1", ["BBX"], region_of, teams, home_of, "province", {})


def test_a_home_known_only_at_a_coarser_level_avoids_that_whole_area() -> None:
    # Registers often give an inspector's home as a city (XXXX00) or province (XX0000) code: we
    # cannot tell which county or city inside it is home, so all of it is avoided.
    teams = {1: [Pick("J1", "team-1", ""), Pick("J2", "team-1", "")],
             2: [Pick("J3", "team-2", ""), Pick("J4", "team-2", "")]}
    home_of = {"J1": "330100", "J2": "650102", "J3": "440000", "J4": "650103"}
    region_of = {"BAX": "330102", "BBX": "440301"}
    assert assign_visits("1", ["BAX", "BBX"], region_of, teams, home_of, "county", {}) == \
        {"BAX": 2, "BBX": 1}
    assert assign_visits("1", ["BAX", "BBX"], region_of, teams, home_of, "city", {}) == \
        {"BAX": 2, "BBX": 1}
    home_of["J4"] = "330000"  # now team 2 avoids all of province 33 as well
    with pytest.raises(ConflictError, match="330102"):
        assign_visits("1", ["BAX"], region_of, teams, home_of, "county", {})


def test_draw_raises_conflict_when_every_inspector_shares_the_business_city() -> None:
    businesses = [FrameBusiness(f"B{i:04d}X", "330102", "catering", "A") for i in range(6)]
    inspectors = [FrameInspector(f"J{i:04d}X", "330105") for i in range(6)]
    with pytest.raises(ConflictError, match="330100"):
        draw(make_params(total=3), businesses, inspectors)
    # county level: different counties of the same city are no conflict
    d = draw(make_params(total=3, avoidance="county"), businesses, inspectors)
    check_draw(d, make_params(total=3, avoidance="county"), businesses, inspectors)


@SETTINGS
@given(businesses_st(max_size=40), inspectors_st(9, 14, REGIONS + FAR_REGIONS), draw_setup,
       st.integers(0, 10**9))
def test_a_draw_never_breaks_avoidance(businesses: list[FrameBusiness],
                                       inspectors: list[FrameInspector],
                                       setup: dict[str, object], seed: int) -> None:
    params = make_params(seed=str(seed), fraction=0.5, **setup)
    try:
        d = draw(params, businesses, inspectors)
    except ConflictError as e:
        event("conflict")
        teams = draw_teams(params.seed, inspectors, params.teams, params.members)
        home = {i.inspector_id: i.home_region for i in inspectors}
        blocked = [{area(home[p.unit], params.avoidance) for p in m} for m in teams.values()]
        named = set(re.findall(r"\d{6}", str(e)))
        assert named
        for code in named:
            assert all(code in b for b in blocked)
            assert any(area(b.region_code, params.avoidance) == code for b in businesses)
        return
    check_draw(d, params, businesses, inspectors)


@SETTINGS
@given(st.integers(1, 5), st.integers(0, 60), st.integers(0, 10**6))
def test_loads_differ_by_at_most_one_without_conflicts(n_teams: int, n_biz: int,
                                                       seed: int) -> None:
    teams = {t: [Pick(f"J{t}{m}X", f"team-{t}", "") for m in range(2)]
             for t in range(1, n_teams + 1)}
    home_of = {p.unit: "650102" for m in teams.values() for p in m}
    region_of = {f"B{i:04d}X": REGIONS[i % len(REGIONS)] for i in range(n_biz)}
    result = assign_visits(str(seed), list(region_of), region_of, teams, home_of, "city", {})
    loads = Counter(result.values())
    per_team = [loads[t] for t in teams]
    assert sum(per_team) == n_biz
    assert max(per_team) - min(per_team) <= 1


@SETTINGS
@given(businesses_st(min_size=1, max_size=50), st.integers(1, 5), st.integers(2, 3),
       st.integers(0, 10**6))
def test_a_draw_balances_team_loads_without_conflicts(businesses: list[FrameBusiness],
                                                      n_teams: int, members: int,
                                                      seed: int) -> None:
    params = make_params(seed=str(seed), fraction=0.6, teams=n_teams, members=members,
                         strata=["city"])
    d = draw(params, businesses, far_inspectors(n_teams * members + 2))
    loads = Counter(d.assignments.values())
    per_team = [loads[t] for t in d.teams]
    assert max(per_team) - min(per_team) <= 1


def test_existing_assignments_are_kept_and_count_towards_load() -> None:
    teams = {1: [Pick("J1", "team-1", "")], 2: [Pick("J2", "team-2", "")]}
    home_of = {"J1": "650102", "J2": "650103"}
    region_of = {u: "330102" for u in ("BAX", "BBX", "BCX", "BDX")}
    result = assign_visits("1", list(region_of), region_of, teams, home_of, "city",
                           {"BAX": 1, "BBX": 1})
    assert result["BAX"] == 1 and result["BBX"] == 1
    assert result["BCX"] == 2 and result["BDX"] == 2


# --- extension and replay --------------------------------------------------------------------

@SETTINGS
@given(businesses_st(min_size=2, max_size=50), draw_setup, st.integers(0, 3),
       st.integers(0, 10**9), st.data())
def test_extension_keeps_earlier_picks_and_replays(businesses: list[FrameBusiness],
                                                   setup: dict[str, object], minimum: int,
                                                   seed: int, data: st.DataObject) -> None:
    setup = {**setup, "stages": [{"unit": "business"}]}
    n_teams, members = setup["teams"], setup["members"]
    assert isinstance(n_teams, int) and isinstance(members, int)
    inspectors = far_inspectors(n_teams * members + 1)
    strata = setup["strata"]
    assert isinstance(strata, list)
    sizes = Counter(stratum_of(b, strata) for b in businesses)
    base = sum(min(minimum, n) for n in sizes.values())
    population = len(businesses)
    if base >= population:
        minimum = 0
        base = 0
    first = data.draw(st.integers(max(1, base), population - 1), label="first total")
    params = make_params(seed=str(seed), total=first, min_per_stratum=minimum, **setup)
    current = draw(params, businesses, inspectors)
    check_draw(current, params, businesses, inspectors)
    steps = data.draw(st.integers(1, 3), label="extensions")
    for _ in range(steps):
        if current.total >= population:
            break
        to = data.draw(st.integers(current.total + 1, population), label="to")
        bigger = extend(current, businesses, inspectors, to)
        assert bigger.total == len(bigger.businesses) == len(bigger.assignments) == to
        check_draw(bigger, params, businesses, inspectors)
        for u, t in current.assignments.items():
            assert bigger.assignments[u] == t
        assert {p.unit for p in current.businesses} <= {p.unit for p in bigger.businesses}
        old, new = current.stages[-1].allocation, bigger.stages[-1].allocation
        assert all(new[h] >= old[h] for h in old)
        assert bigger.teams == current.teams
        assert bigger.extensions[-1] == {"to": to, "allocation": dict(sorted(new.items()))}
        current = bigger
    again = replay(params, list(reversed(businesses)), inspectors, current.extensions)
    assert first_difference(again.as_record(), current.as_record()) is None
    assert again.as_record() == current.as_record()


def test_extension_keeps_picks_through_the_alabama_paradox() -> None:
    # Largest remainder over sizes 6, 6, 2 gives 4, 4, 2 for 10 but 5, 5, 1 for 11: a fresh
    # allocation of 11 would drop one of the two businesses already drawn in city 330300.
    businesses = [FrameBusiness(f"B{i:04d}X", region, "catering", "A") for i, region in
                  enumerate(["330101"] * 6 + ["330201"] * 6 + ["330301"] * 2)]
    inspectors = far_inspectors(4)
    params = make_params(total=10, strata=["city"])
    first = draw(params, businesses, inspectors)
    assert first.stages[-1].allocation == {"city=330100": 4, "city=330200": 4, "city=330300": 2}
    assert allocate({"a": 6, "b": 6, "c": 2}, 11, method="proportional") == \
        {"a": 5, "b": 5, "c": 1}
    bigger = extend(first, businesses, inspectors, 11)
    # The extra unit goes to a stratum below its fresh quota (ties to the smaller stratum id).
    assert bigger.stages[-1].allocation == \
        {"city=330100": 5, "city=330200": 4, "city=330300": 2}
    assert {p.unit for p in first.businesses} <= {p.unit for p in bigger.businesses}
    check_draw(bigger, params, businesses, inspectors)


def test_extend_to_no_more_than_the_current_total_is_refused() -> None:
    businesses = [FrameBusiness(f"B{i:04d}X", REGIONS[i % 4], "catering", "A") for i in range(20)]
    d = draw(make_params(total=8), businesses, far_inspectors(4))
    for to in (8, 5):
        with pytest.raises(InputError, match="already has 8"):
            extend(d, businesses, far_inspectors(4), to)
    with pytest.raises(InputError, match="larger than the frame"):
        extend(d, businesses, far_inspectors(4), 21)


def test_a_per_stratum_draw_cannot_be_extended() -> None:
    businesses = [FrameBusiness(f"B{i:04d}X", REGIONS[i % 4], "catering", "A") for i in range(20)]
    d = draw(make_params(per_stratum=2, strata=["city"]), businesses, far_inspectors(4))
    with pytest.raises(InputError, match="per-stratum"):
        extend(d, businesses, far_inspectors(4), 15)


# --- multi-stage -----------------------------------------------------------------------------

MULTI_REGIONS = tuple(f"{p}{c:02d}01" for p in ("33", "44", "51", "37") for c in range(1, 6))


def cities_by_province(businesses: Iterable[FrameBusiness]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for b in businesses:
        out.setdefault(province_of(b.region_code), set()).add(city_of(b.region_code))
    return out


@SETTINGS
@given(businesses_st(max_size=50, regions=MULTI_REGIONS),
       st.lists(st.sampled_from(["330000", "440000", "510000", "370000"]), unique=True,
                min_size=1, max_size=3), st.integers(0, 10**9))
def test_city_stage_draws_two_cities_per_given_province(businesses: list[FrameBusiness],
                                                        provinces: list[str], seed: int) -> None:
    params = make_params(seed=str(seed), provinces=provinces, fraction=0.5, strata=["city"],
                         stages=[{"unit": "city", "per_parent": 2}, {"unit": "business"}])
    in_scope = {p: c for p, c in cities_by_province(businesses).items() if p in provinces}
    if not in_scope:
        with pytest.raises(InputError):
            draw(params, businesses, far_inspectors(4))
        return
    d = draw(params, businesses, far_inspectors(4))
    cities = [p.unit for p in d.stages[0].chosen]
    assert len(cities) == len(set(cities))
    per_province = Counter(province_of(c) for c in cities)
    assert dict(per_province) == {p: min(2, len(c)) for p, c in in_scope.items()}
    assert all(c in in_scope[province_of(c)] for c in cities)
    assert d.stages[0].allocation == {p: min(2, len(c)) for p, c in in_scope.items()}
    region = {b.uscc: b.region_code for b in businesses}
    assert d.businesses
    assert all(city_of(region[p.unit]) in cities for p in d.businesses)


@SETTINGS
@given(businesses_st(max_size=50, regions=MULTI_REGIONS), st.integers(1, 5),
       st.booleans(), st.integers(0, 10**9))
def test_province_stage_draws_count_provinces(businesses: list[FrameBusiness], count: int,
                                              then_cities: bool, seed: int) -> None:
    stages: list[dict[str, object]] = [{"unit": "province", "count": count}]
    if then_cities:
        stages.append({"unit": "city", "per_parent": 1})
    stages.append({"unit": "business"})
    params = make_params(seed=str(seed), fraction=0.5, stages=stages)
    d = draw(params, businesses, far_inspectors(4))
    in_scope = {province_of(b.region_code) for b in businesses}
    chosen = {p.unit for p in d.stages[0].chosen}
    assert len(d.stages[0].chosen) == len(chosen) == min(count, len(in_scope))
    assert chosen <= in_scope
    region = {b.uscc: b.region_code for b in businesses}
    assert all(province_of(region[p.unit]) in chosen for p in d.businesses)
    if then_cities:
        cities = {p.unit for p in d.stages[1].chosen}
        assert {province_of(c) for c in cities} == chosen
        assert len(cities) == len(chosen)
        assert all(city_of(region[p.unit]) in cities for p in d.businesses)


# --- first_difference ------------------------------------------------------------------------

@pytest.fixture
def record() -> dict[str, object]:
    businesses = [FrameBusiness(f"B{i:04d}X", REGIONS[i % len(REGIONS)], "catering", "A")
                  for i in range(20)]
    return draw(make_params(total=6), businesses, far_inspectors(4)).as_record()


def test_first_difference_of_equal_records_is_none(record: dict[str, object]) -> None:
    assert first_difference(record, copy.deepcopy(record)) is None


def test_first_difference_names_a_changed_seed(record: dict[str, object]) -> None:
    other = copy.deepcopy(record)
    other["seed"] = "42"
    diff = first_difference(record, other)
    assert diff is not None and diff.startswith("seed:")
    assert "'20230814'" in diff and "'42'" in diff


def test_first_difference_names_a_changed_pick(record: dict[str, object]) -> None:
    other = copy.deepcopy(record)
    other["stages"][0]["chosen"][3]["unit"] = "B9999X"  # type: ignore[index]
    diff = first_difference(record, other)
    assert diff is not None and diff.startswith("stages[0].chosen[3].unit:")
    assert "B9999X" in diff


def test_first_difference_names_a_list_of_different_length(record: dict[str, object]) -> None:
    other = copy.deepcopy(record)
    other["assignments"].pop()  # type: ignore[attr-defined]
    assert first_difference(record, other) == "assignments: 6 items recomputed, 5 recorded"
    assert first_difference(other, record) == "assignments: 5 items recomputed, 6 recorded"


def test_first_difference_names_a_key_in_only_one_record(record: dict[str, object]) -> None:
    other = copy.deepcopy(record)
    other["frame"]["note"] = "x"  # type: ignore[index]
    assert first_difference(record, other) == "frame.note: present in only one record"
    del other["frame"]["note"]  # type: ignore[attr-defined]
    del other["frame"]["sha256"]  # type: ignore[attr-defined]
    assert first_difference(record, other) == "frame.sha256: present in only one record"
