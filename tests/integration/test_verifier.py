"""The stand-alone verifier (docs/verify_draw.py) agrees with the engine (domain.sampling).

Synthetic frames (businesses in a few provinces and cities, inspectors with home regions) are drawn
with the engine, exported as record.json + frame.csv the way ``lookback draw export`` does, and
checked by running the script as a third party would. Tampered records and frames must be rejected
by both the script (exit 1, naming the difference) and ``domain.campaigns.verify_record``.
"""

from __future__ import annotations

import copy
import json
import random
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from domain.campaigns import verify_record
from domain.errors import ConflictError, InputError
from domain.sampling import (
    DrawParams,
    FrameBusiness,
    FrameInspector,
    allocate,
    draw,
    extend,
    extend_allocation,
    frame_lines,
    frame_sha256,
    largest_remainder,
    unit_key,
)
from lookback.cli_campaign import export_draw
from tests.draws import VERIFY_DRAW, verify_script

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = VERIFY_DRAW

# Three provinces with a few cities each; inspectors also come from two provinces outside the frame.
CITIES = {"330000": ["330100", "330200", "330300"], "350000": ["350100", "350200"],
          "420000": ["420100", "420200", "420500", "420600"]}
OUTSIDE = ["110101", "110105", "310104", "310115"]
CATEGORIES = ["production", "sales", "catering", "school_canteen", "market"]
RISKS = "ABCD"


VERIFY = verify_script()


def make_frame(rnd: random.Random, businesses: int = 240, inspectors: int = 30,
               ) -> tuple[list[FrameBusiness], list[FrameInspector]]:
    bs = []
    for i in range(businesses):
        province = rnd.choice(sorted(CITIES))
        city = rnd.choice(CITIES[province])
        county = city[:4] + f"{rnd.randint(1, 6):02d}"
        bs.append(FrameBusiness(f"91{county}{i:010d}", county, rnd.choice(CATEGORIES),
                                rnd.choice(RISKS)))
    counties = sorted({b.region_code for b in bs})
    ins = [FrameInspector(f"I{i:04d}", rnd.choice(counties if rnd.random() < 0.5 else OUTSIDE))
           for i in range(inspectors)]
    return bs, ins


def params(**kw: Any) -> DrawParams:
    base: dict[str, Any] = dict(
        seed="20230814", stages=[{"unit": "business"}], provinces=[], total=40, fraction=None,
        per_stratum=None, strata=[], allocation="proportional", min_per_stratum=0,
        risk_weights={"A": 1, "B": 2, "C": 3, "D": 4}, teams=3, members=2, avoidance="city")
    base.update(kw)
    return DrawParams(**base)


CITY, BUSINESS = {"unit": "city", "per_parent": 2}, {"unit": "business"}
PLANS: dict[str, tuple[DrawParams, list[int]]] = {  # name -> (params, extensions' "to")
    "city-stage-strata-city": (params(stages=[CITY, BUSINESS], strata=["city"], total=40,
                                      min_per_stratum=3), [52]),
    "province-stage-fraction": (params(stages=[{"unit": "province", "count": 2}, BUSINESS],
                                       strata=["province", "risk_level"], total=None,
                                       fraction=0.15), []),
    "province-city-county": (params(stages=[{"unit": "province", "count": 2},
                                            {"unit": "city", "per_parent": 1}, BUSINESS],
                                    strata=["county"], total=25, avoidance="county"), [30]),
    "category-risk-equal": (params(strata=["category", "risk_level"], allocation="equal",
                                   min_per_stratum=1, total=60), [75]),
    "risk-weighted-min": (params(strata=["city"], allocation="risk_weighted",
                                 min_per_stratum=4, total=45, teams=4,
                                 risk_weights={"A": 1, "B": 3, "C": 5, "D": 9}), [50, 61]),
    "per-stratum-provinces": (params(strata=["risk_level"], total=None, per_stratum=5,
                                     provinces=["330000", "420000"], avoidance="province",
                                     teams=4), []),
    "all-one-stratum": (params(total=30, provinces=["350000"]), [31]),
    "county-equal-caps": (params(strata=["county"], allocation="equal", total=160,
                                 min_per_stratum=2, avoidance="county"), [200]),
}
SEEDS = ["20230814", "305419896127508764213351235623562135"]


def build(plan: str, seed: str, frame_seed: int = 1) -> tuple[dict[str, Any], list[str]]:
    """The engine's record (with a "campaign" key, as run_draw stores it) and frame lines."""
    p, tos = PLANS[plan]
    bs, ins = make_frame(random.Random(frame_seed))
    d = draw(replace(p, seed=seed), bs, ins)
    for to in tos:
        d = extend(d, bs, ins, to)
    record = {"campaign": {"id": 1, "office": "食安办", "title": "督查", "kind": "inspection"},
              **d.as_record()}
    return record, frame_lines(bs, ins)


def run_script(folder: Path, record: dict[str, Any], lines: list[str]
               ) -> subprocess.CompletedProcess[str]:
    rec_path, frame_path = export_draw(record, lines, folder)
    return subprocess.run([sys.executable, str(SCRIPT), str(rec_path), str(frame_path)],
                          capture_output=True, text=True, timeout=60, cwd=folder)


def engine_verifies(record: dict[str, Any], folder: Path) -> bool:
    """What ``lookback draw verify --record --frame`` decides on the exported files."""
    lines = (folder / "frame.csv").read_text(encoding="utf-8").splitlines()
    return verify_record(json.loads((folder / "record.json").read_text("utf-8")), lines).ok


# --- the script accepts every draw the engine makes ----------------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("plan", sorted(PLANS))
def test_script_accepts_the_engines_draw(plan: str, seed: str, tmp_path: Path) -> None:
    record, lines = build(plan, seed)
    result = run_script(tmp_path, record, lines)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("OK: frame " + record["frame"]["sha256"])
    last = record["stages"][-1]
    assert f"business {len(last['chosen'])} of {last['frame_size']}" in result.stdout
    assert f"{len(PLANS[plan][1])} extension(s) replayed" in result.stdout
    assert engine_verifies(record, tmp_path)
    # The draw obeys avoidance (回避): no team member comes from the business's area.
    level = record["params"]["avoidance"]
    homes = {ln.split(",")[1]: ln.split(",")[2] for ln in lines if ln.startswith("inspector,")}
    regions = {ln.split(",")[1]: ln.split(",")[2] for ln in lines if ln.startswith("business,")}
    team = {t["team"]: [homes[i["unit"]] for i in t["inspectors"]] for t in record["teams"]}
    for a in record["assignments"]:
        assert not any(regions[a["uscc"]].startswith(VERIFY.avoided(h, level))
                       for h in team[a["team"]])


def test_row_order_line_endings_and_header_do_not_matter(tmp_path: Path) -> None:
    record, lines = build("city-stage-strata-city", SEEDS[0])
    run_script(tmp_path, record, lines)
    shuffled = lines[:]
    random.Random(5).shuffle(shuffled)
    (tmp_path / "frame.csv").write_bytes("".join(f"{ln}\r\n" for ln in shuffled).encode())
    result = subprocess.run([sys.executable, str(SCRIPT), "record.json", "frame.csv"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stdout
    assert engine_verifies(record, tmp_path)


# --- tampering is caught by both, and the script names it ----------------------------------------

def _business_stage(record: dict[str, Any]) -> dict[str, Any]:
    return record["stages"][-1]


def seed_only(record: dict[str, Any], lines: list[str]) -> str:
    record["seed"] = "20230815"
    return "seed (params.seed against seed)"


def seed_everywhere(record: dict[str, Any], lines: list[str]) -> str:
    record["seed"] = record["params"]["seed"] = "20230815"
    first = record["stages"][0]
    return f"stage 1 ({first['unit']}), stratum {first['chosen'][0]['stratum']}"


def frame_category(record: dict[str, Any], lines: list[str]) -> str:
    i = next(i for i, ln in enumerate(lines) if ln.startswith("business,"))
    kind, uid, region, category, risk = lines[i].split(",")
    lines[i] = ",".join([kind, uid, region, "special_food" if category != "special_food"
                         else "sales", risk])
    return "frame: the frame file hashes to"


def frame_category_rehashed(record: dict[str, Any], lines: list[str]) -> str | None:
    """A forger who also updates the frame's hash: caught only if the category matters."""
    frame_category(record, lines)
    record["frame"]["sha256"] = frame_sha256(sorted(lines))
    if "category" not in record["params"]["strata"]:
        return None  # the draw does not depend on categories: the record still fits the frame
    return f"stage {len(record['stages'])} (business), stratum category="


def swap_chosen(record: dict[str, Any], lines: list[str]) -> str:
    stage = _business_stage(record)
    pick = stage["chosen"][len(stage["chosen"]) // 2]
    chosen = {p["unit"] for p in stage["chosen"]}
    params = DrawParams.from_dict(record["params"])
    others = [ln.split(",")[1] for ln in lines if ln.startswith("business,")
              and ln.split(",")[1] not in chosen
              and VERIFY.stratum_of(dict(zip(("kind", "id", "region", "category", "risk"),
                                             ln.split(","), strict=True)), params.strata)
              == pick["stratum"]]
    pick["unit"] = others[0]
    return f"stratum {pick['stratum']}, rank"


def swap_chosen_check(record: dict[str, Any], out: str) -> None:
    stage = _business_stage(record)
    assert any(f"recorded unit {p['unit']} " in out for p in stage["chosen"])


def change_team(record: dict[str, Any], lines: list[str]) -> str:
    a = record["assignments"][3]
    a["team"] = a["team"] % len(record["teams"]) + 1
    return f"assignment of business {a['uscc']}: recomputed"


def replace_inspector(record: dict[str, Any], lines: list[str]) -> str:
    drawn = {i["unit"] for t in record["teams"] for i in t["inspectors"]}
    spare = next(ln.split(",")[1] for ln in lines
                 if ln.startswith("inspector,") and ln.split(",")[1] not in drawn)
    record["teams"][1]["inspectors"][0]["unit"] = spare
    return "team 2 (inspectors), stratum team-2, rank 1"


def drop_extension(record: dict[str, Any], lines: list[str]) -> str:
    record["extensions"] = record["extensions"][:-1]
    return "total: recomputed"


def change_allocation(record: dict[str, Any], lines: list[str]) -> str:
    strata = _business_stage(record)["strata"]
    big = max(strata, key=lambda s: s["allocated"])
    big["allocated"] -= 1
    return f"stratum {big['stratum']} (row"


def other_algorithm(record: dict[str, Any], lines: list[str]) -> str:
    record["algorithm"] = "lookback-draw/2"
    return "algorithm"


TAMPERS: dict[str, Callable[[dict[str, Any], list[str]], str | None]] = {
    f.__name__: f for f in (seed_only, seed_everywhere, frame_category, frame_category_rehashed,
                            swap_chosen, change_team, replace_inspector, drop_extension,
                            change_allocation, other_algorithm)}


@pytest.mark.parametrize("plan", ["category-risk-equal", "city-stage-strata-city",
                                  "risk-weighted-min"])
@pytest.mark.parametrize("tamper", sorted(TAMPERS))
def test_tampering_is_caught_and_named(plan: str, tamper: str, tmp_path: Path) -> None:
    record, lines = build(plan, SEEDS[0])
    record, lines = copy.deepcopy(record), list(lines)
    expected = TAMPERS[tamper](record, lines)
    result = run_script(tmp_path, record, lines)
    if expected is None:  # a harmless change: both still accept the draw
        assert result.returncode == 0, result.stdout
        assert engine_verifies(record, tmp_path)
        return
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.startswith("DIFFERENT: ")
    assert expected in result.stdout, result.stdout
    if tamper == "swap_chosen":
        swap_chosen_check(record, result.stdout)
    assert not engine_verifies(record, tmp_path)


def test_incomplete_record_is_a_difference(tmp_path: Path) -> None:
    record, lines = build("all-one-stratum", SEEDS[0])
    del record["stages"][0]["chosen"][0]["key"]
    result = run_script(tmp_path, record, lines)
    assert result.returncode == 1
    assert "stage 1 (business)" in result.stdout
    assert not engine_verifies(record, tmp_path)


@pytest.mark.parametrize("malformed", ["unknown-risk-level", "missing-param", "bad-extension"])
def test_malformed_input_is_a_difference_not_a_crash(malformed: str, tmp_path: Path) -> None:
    record, lines = build("category-risk-equal", SEEDS[0])
    if malformed == "unknown-risk-level":  # a hand-made frame, hashed and recorded consistently
        i = next(i for i, ln in enumerate(lines) if ln.startswith("business,"))
        lines[i] = lines[i][:-1] + "E"
        record["frame"]["sha256"] = frame_sha256(sorted(lines))
        expected = "frame: risk level(s) E have no risk weight"
    elif malformed == "missing-param":
        del record["params"]["avoidance"]
        expected = "params fields"
    else:
        record["extensions"][0]["to"] = "seventy-five"
        expected = "the record or frame is malformed (ValueError"
    result = run_script(tmp_path, record, lines)
    assert result.returncode == 1
    assert result.stdout.startswith("DIFFERENT: " + expected), result.stdout
    assert not engine_verifies(record, tmp_path)


# --- the same, in process, on many random frames and plans ---------------------------------------

def _as_script_frame(bs: list[FrameBusiness], ins: list[FrameInspector]
                     ) -> tuple[list[dict[str, str]], dict[str, str]]:
    return ([{"id": b.uscc, "region": b.region_code, "category": b.category,
              "risk": b.risk_level} for b in bs], {i.inspector_id: i.home_region for i in ins})


STRATA = st.lists(st.sampled_from(["province", "city", "county", "category", "risk_level"]),
                  max_size=2, unique=True)
STAGES = st.sampled_from([[BUSINESS], [CITY, BUSINESS],
                          [{"unit": "province", "count": 2}, BUSINESS],
                          [{"unit": "province", "count": 1}, {"unit": "city", "per_parent": 2},
                           BUSINESS]])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame_seed=st.integers(0, 10**6), seed=st.integers(0, 10**12).map(str), stages=STAGES,
       strata=STRATA, allocation=st.sampled_from(["proportional", "equal", "risk_weighted"]),
       size=st.one_of(st.integers(1, 80).map(lambda n: ("total", n)),
                      st.integers(1, 999_999).map(lambda n: ("fraction", n / 1_000_000)),
                      st.integers(1, 6).map(lambda n: ("per_stratum", n))),
       minimum=st.integers(0, 3), avoidance=st.sampled_from(["city", "province", "county"]),
       grow=st.lists(st.integers(1, 15), max_size=2))
def test_script_recomputes_random_draws(frame_seed: int, seed: str, stages: list[dict[str, Any]],
                                        strata: list[str], allocation: str,
                                        size: tuple[str, Any], minimum: int, avoidance: str,
                                        grow: list[int]) -> None:
    bs, ins = make_frame(random.Random(frame_seed), businesses=random.Random(frame_seed)
                         .randint(20, 150))
    kind, value = size
    p = params(seed=seed, stages=stages, strata=strata, allocation=allocation,
               min_per_stratum=minimum, avoidance=avoidance, teams=3,
               **{"total": None, kind: value})
    try:
        d = draw(p, bs, ins)
        if kind != "per_stratum":
            for n in grow:
                d = extend(d, bs, ins, d.total + n)
    except (InputError, ConflictError):
        assume(False)
    record = d.as_record()
    businesses, homes = _as_script_frame(bs, ins)
    again = VERIFY.recompute(record["params"], businesses, homes, record["extensions"])
    assert again["total"] == record["total"]
    assert again["stages"] == record["stages"]
    assert again["teams"] == record["teams"]
    assert again["assignments"] == {a["uscc"]: a["team"] for a in record["assignments"]}
    assert again["extensions"] == record["extensions"]


WEIGHTS = st.dictionaries(st.sampled_from("abcdefg"), st.tuples(st.integers(0, 30),
                                                                  st.integers(0, 30)),
                          min_size=1)


@settings(max_examples=400, deadline=None)
@given(weights=WEIGHTS, data=st.data())
def test_largest_remainder_agrees(weights: dict[str, tuple[int, int]], data: st.DataObject
                                  ) -> None:
    w = {h: a for h, (a, _) in weights.items()}
    caps = {h: c for h, (_, c) in weights.items()}
    total = data.draw(st.integers(0, sum(caps.values())))
    mine = VERIFY.largest_remainder(w, total, caps)
    assert mine == largest_remainder(w, total, caps)
    assert sum(mine.values()) == total
    assert all(mine[h] <= caps[h] for h in caps)


@settings(max_examples=300, deadline=None)
@given(sizes=st.dictionaries(st.sampled_from("abcdef"), st.integers(1, 40), min_size=1),
       method=st.sampled_from(["proportional", "equal", "risk_weighted"]),
       minimum=st.integers(0, 5), data=st.data())
def test_allocation_and_extension_agree(sizes: dict[str, int], method: str, minimum: int,
                                        data: st.DataObject) -> None:
    risk = {h: n * data.draw(st.integers(1, 4)) for h, n in sizes.items()}
    population = sum(sizes.values())
    floor = sum(min(minimum, n) for n in sizes.values())
    assume(floor < population)
    total = data.draw(st.integers(floor, population - 1))
    first = allocate(sizes, total, method=method, minimum=minimum, weights=risk)
    assert VERIFY.allocate(sizes, total, method, minimum, risk) == first
    to = data.draw(st.integers(total + 1, population))
    bigger = extend_allocation(sizes, first, to, method=method, minimum=minimum, weights=risk)
    assert VERIFY.extend_allocation(sizes, first, to, method, minimum, risk) == bigger
    assert all(bigger[h] >= first[h] for h in sizes)


def test_known_answers_in_draw_md() -> None:
    """The worked examples printed in docs/draw.md hold for both implementations."""
    text = (ROOT / "docs" / "draw.md").read_text(encoding="utf-8")
    k = unit_key("20230814", "business", "city=330100|risk_level=C", "91330102MA2XXXXX1Q")
    assert k == VERIFY.key("20230814", "business", "city=330100|risk_level=C",
                           "91330102MA2XXXXX1Q")
    assert k in text
    sizes = {"a": 50, "b": 30, "c": 15, "d": 5}
    assert largest_remainder(sizes, 10, sizes) == {"a": 5, "b": 3, "c": 2, "d": 0}
    assert allocate(sizes, 10, method="proportional", minimum=1) == {"a": 4, "b": 3, "c": 2,
                                                                     "d": 1}
    cities = {"city=330100": 40, "city=330200": 25, "city=350100": 3}
    equal = {"city=330100": 14, "city=330200": 13, "city=350100": 3}
    assert allocate(cities, 30, method="equal") == equal
    assert VERIFY.allocate(cities, 30, "equal", 0, {}) == equal
