#!/usr/bin/env python3
"""Generate the draw test vectors (抽取核验测试向量) in docs/draw-vectors/.

    .venv/bin/python docs/draw-vectors/make_vectors.py [FOLDER]     (default: this folder)

Each vector is a small synthetic frame (tens of units) and a fixed seed, drawn with Lookback's own
engine (domain/sampling.py) and written in exactly the published formats (lookback/draw_files.py:
``record.json`` and ``frame.csv``), with ``expected.json`` giving the expected verdict of every
check of the folder, the expected result, and the branches of docs/draw.md the vector exercises.
Some vectors also hold deliberately wrong variants (``record-tampered.json``, ``frame-tampered.csv``,
…) that a correct verifier must call DIFFERENT, and one harmless variant (a reordered frame with CRLF
line ends and a byte order mark) that it must call OK.

The branches a vector claims are not taken on trust: ``observe`` derives, from the record and the
frame, which branches the draw actually went through (it retraces the largest-remainder allocation
step by step and checks that it lands on the recorded allocation), and generation stops if a vector
does not exercise what it claims, or if some branch of ``BRANCHES`` has no vector.

Deterministic: no clock, no randomness beyond the fixed seeds; running it twice writes identical
bytes (tests/e2e/test_draw_vectors.py regenerates into a temporary folder and compares).
"""

from __future__ import annotations

import copy
import json
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script from a checkout without the package installed
    sys.path.insert(0, str(ROOT))

from domain.campaigns import Commitment, draw_params  # noqa: E402
from domain.plan import parse_plan  # noqa: E402
from domain.regions import city_of, province_of  # noqa: E402
from domain.sampling import (  # noqa: E402
    ALGORITHM,
    DrawParams,
    FrameBusiness,
    FrameInspector,
    avoided_prefix,
    beacon_seed,
    commitment_difference,
    draw,
    extend,
    frame_lines,
    frame_sha256,
    stratum_of,
    unit_key,
)
from domain.uscc import check_char  # noqa: E402
from lookback.draw_files import FRAME_FILE, RECORD_FILE, frame_csv, record_json  # noqa: E402

HERE = Path(__file__).resolve().parent
DEFAULT_WEIGHTS = {"A": 1, "B": 2, "C": 3, "D": 4}

# --- the branches of the specification --------------------------------------------------------
# id -> (section of docs/draw.md, what a vector must exercise). Every id needs at least one vector
# whose draw observably goes through it, except those in PENDING and UNREACHABLE.

BRANCHES: dict[str, tuple[str, str]] = {
    "frame.hash": ("1", "frame SHA-256 over the sorted lines without the header; counts"),
    "frame.reordered_crlf_bom": ("1", "a frame file with rows in another order, CRLF line ends "
                                 "and a UTF-8 byte order mark hashes the same (verdict OK)"),
    "scope.provinces": ("4", "params.provinces narrows the pool (a frame business is outside)"),
    "stage.province": ("4", "province stage (抽省)"),
    "stage.province.count_exceeds": ("4", "province count larger than the provinces in the pool: "
                                     "min(count, provinces)"),
    "stage.city": ("4", "city stage (每省抽市), one stratum per province"),
    "stage.city.per_parent_exceeds": ("4", "a province with fewer cities than per_parent"),
    "stage.city_without_province": ("4", "a city stage with no province stage above it"),
    "strata.all": ("5", "no strata fields: the single stratum `all`"),
    "strata.province": ("5", "stratum field province"),
    "strata.city": ("5", "stratum field city"),
    "strata.county": ("5", "stratum field county"),
    "strata.category": ("5", "stratum field category"),
    "strata.risk_level": ("5", "stratum field risk_level"),
    "strata.multi": ("5", "two fields, joined with a vertical bar in list order"),
    "size.total": ("5", "sample size given as total"),
    "size.fraction": ("5", "sample size given as fraction (parts per million)"),
    "size.fraction.rounded_up": ("5", "fraction × N not a whole number: rounded up"),
    "size.per_stratum": ("5", "sample size given as per_stratum (no allocation step)"),
    "size.per_stratum.small_stratum": ("5", "per_stratum larger than a stratum: min(k, N_h)"),
    "alloc.proportional": ("6", "proportional allocation (w_h = N_h)"),
    "alloc.equal": ("6", "equal allocation (w_h = 1)"),
    "alloc.risk_weighted": ("6", "risk_weighted allocation (w_h = sum of risk weights)"),
    "alloc.zero_stratum": ("6", "a stratum allocated 0 businesses: recorded, nothing chosen"),
    "alloc.min_per_stratum": ("6", "min_per_stratum > 0: base per stratum, rest split"),
    "alloc.min_per_stratum.small_stratum": ("6", "a stratum no larger than min_per_stratum: all "
                                            "of it in the base, cap 0, never opened"),
    "lr.remainder_tie": ("6", "largest remainder: equal remainders at the cut, the smaller "
                         "stratum id gets the unit"),
    "lr.remainder_tie.proportional": ("6", "a remainder tie in a proportional allocation"),
    "lr.cap_resplit": ("6", "a quota above its cap: capped, the rest split afresh"),
    "lr.cap_exact": ("6", "a quota exactly equal to its cap is kept (not over the cap)"),
    "lr.zero_weights": ("6", "all open strata with weight 0: w_h = 1 for each (S = 0)"),
    "lr.zero_weights.from_start": ("6", "risk_weighted with every risk weight 0"),
    "lr.zero_weights.after_cap": ("6", "weight left only in strata that get capped; the rest, "
                                  "of weight 0, split evenly"),
    "teams.round_robin": ("7", "teams dealt round robin from the ranked inspectors"),
    "teams.undrawn_inspector": ("7", "more inspectors in the frame than teams × members"),
    "avoid.city": ("8", "avoidance = city (4 digits)"),
    "avoid.province": ("8", "avoidance = province (2 digits)"),
    "avoid.county": ("8", "avoidance = county (6 digits)"),
    "avoid.home_province_code": ("8", "a drawn inspector's home known only as a province code "
                                 "(XX0000) under city or county avoidance: the whole province "
                                 "is avoided, and that bars a chosen business"),
    "avoid.home_city_code": ("8", "a drawn inspector's home known only as a city code (XXXX00) "
                             "under county avoidance: the whole city is avoided, and that bars "
                             "a chosen business"),
    "avoid.home_truncated": ("8", "a home code finer than the avoidance level, cut to it"),
    "assign.most_constrained_first": ("8", "chosen businesses with different numbers of "
                                      "eligible teams"),
    "ext.one": ("9", "one extension replayed"),
    "ext.two": ("9", "two extensions replayed in order, the second from the first's allocation"),
    "ext.with_upper_stages": ("9", "an extension of a multi-stage draw (upper stages kept)"),
    "lookback.census": ("12", "look-back draw over an earlier campaign's issue businesses, "
                        "all = true recorded as fraction = 1"),
    "lookback.sample": ("12", "look-back draw of part of its frame (total, strata)"),
    "record.campaign_ignored": ("10", "an informational `campaign` object in the record"),
    "reject.business_pick": ("11", "a business pick replaced by another business of the same "
                             "stratum with its true key: DIFFERENT"),
    "reject.upper_pick": ("11", "a city pick replaced by another city of the province with its "
                          "true key: DIFFERENT"),
    "reject.team_member": ("11", "a team member replaced by an undrawn inspector with its true "
                           "key: DIFFERENT"),
    "reject.assignment": ("11", "a visit given to another team that may visit it (回避 "
                          "respected): DIFFERENT"),
    "reject.extension": ("11", "an extension's allocation altered: DIFFERENT"),
    "reject.extension_not_larger": ("9", "an extension that does not enlarge the sample (the draw "
                                    "fails): DIFFERENT"),
    "reject.duplicate_id": ("1", "a frame that repeats a business id (drawn from it as it "
                            "stands): not a valid frame, DIFFERENT"),
    "reject.frame_row": ("11", "a frame row changed after the draw: DIFFERENT"),
    "seed.commitment": ("commitment", "a committed seed (commitment in the record, seed "
                        "derived from the frame hash and a public beacon value, UTF-8)"),
    "seed.commitment.china_date": ("commitment", "committed_at late in the UTC day: committed_on "
                                   "is the next day, the China date (UTC+8)"),
    "reject.commitment_seed": ("commitment", "the draw redone with a seed of one's choosing (seed "
                               "and params.seed, every key true to it), the commitment kept: "
                               "DIFFERENT"),
    "reject.commitment_beacon_value": ("commitment", "the beacon value changed, seed and draw "
                                       "kept: DIFFERENT"),
    "reject.commitment_frame": ("commitment", "the commitment names another frame, the seed "
                                "derived from that frame's hash and the draw redone with it on "
                                "this frame: DIFFERENT"),
    "reject.commitment_not_before_beacon": ("commitment", "committed on the beacon's published_on "
                                            "(China date; still the day before in UTC): "
                                            "DIFFERENT"),
    "reject.commitment_china_date": ("commitment", "committed_on the UTC date of committed_at, "
                                     "not its China date: DIFFERENT"),
}

#: Branches with no vector yet, and why (none today).
PENDING: dict[str, str] = {}

#: Branches of the specification that no valid record can reach, and why.
UNREACHABLE: dict[str, str] = {
    "ext.deficit_short": "docs/draw.md section 9 step 4 'otherwise (never reached)': the deficits "
                         "always add up to at least E",
}


# --- the synthetic frames ---------------------------------------------------------------------

class FrameBuilder:
    """Businesses with valid USCCs (check character computed) and inspectors, in a fixed order."""

    def __init__(self) -> None:
        self.businesses: list[FrameBusiness] = []
        self.inspectors: list[FrameInspector] = []

    def add(self, region: str, count: int, *, category: str = "catering",
            risk: str | tuple[str, ...] = "B") -> FrameBuilder:
        risks = (risk,) if isinstance(risk, str) else risk
        for i in range(count):
            serial = len(self.businesses) + 1
            body = f"91{region}MA{serial:07d}"
            self.businesses.append(FrameBusiness(body + check_char(body), region, category,
                                                 risks[i % len(risks)]))
        return self

    def inspector(self, *homes: str) -> FrameBuilder:
        for home in homes:
            self.inspectors.append(FrameInspector(f"I{len(self.inspectors) + 1:03d}", home))
        return self


def params(seed: str, **given: Any) -> DrawParams:
    base: dict[str, Any] = {
        "seed": seed, "stages": [{"unit": "business"}], "provinces": [], "total": None,
        "fraction": None, "per_stratum": None, "strata": [], "allocation": "proportional",
        "min_per_stratum": 0, "risk_weights": dict(DEFAULT_WEIGHTS), "teams": 2, "members": 2,
        "avoidance": "city"}
    unknown = set(given) - set(base)
    if unknown:
        raise ValueError(f"unknown draw parameters {sorted(unknown)}")
    base.update(given)
    return DrawParams.from_dict(base)


# --- tampering (variants a correct verifier must reject) --------------------------------------

Record = dict[str, Any]


def _resort_assignments(record: Record) -> None:
    record["assignments"].sort(key=lambda a: a["uscc"])


def tamper_business_pick(record: Record, frame: FrameBuilder) -> str:
    """The last pick of the largest stratum becomes the best-ranked unchosen business of that
    stratum, with its true key; its visit goes to the same team."""
    p = DrawParams.from_dict(record["params"])
    stage = record["stages"][-1]
    row = max(stage["strata"], key=lambda s: (s["allocated"], s["stratum"]))
    h = row["stratum"]
    chosen = {c["unit"] for c in stage["chosen"]}
    region = {b.uscc: b.region_code for b in frame.businesses}
    candidates = sorted((unit_key(p.seed, "business", h, b.uscc), b.uscc)
                        for b in frame.businesses
                        if b.uscc not in chosen and stratum_of(b, p.strata) == h
                        and region[b.uscc].startswith(_pool_prefix(record, b)))
    key, new = candidates[0]
    index = max(i for i, c in enumerate(stage["chosen"]) if c["stratum"] == h)
    old = stage["chosen"][index]["unit"]
    stage["chosen"][index] = {"unit": new, "stratum": h, "key": key}
    for a in record["assignments"]:
        if a["uscc"] == old:
            a["uscc"] = new
    _resort_assignments(record)
    return (f"business stage, stratum {h}: {old} (rank {row['allocated']}) replaced by {new}, "
            "the best-ranked business not chosen, with its true key")


def _pool_prefix(record: Record, b: FrameBusiness) -> str:
    """'' when ``b`` is in the pool left by the upper stages, else a prefix it cannot match."""
    for st in record["stages"][:-1]:
        area = province_of if st["unit"] == "province" else city_of
        if area(b.region_code) not in {c["unit"] for c in st["chosen"]}:
            return "#"
    p = record["params"]
    if p["provinces"] and province_of(b.region_code) not in p["provinces"]:
        return "#"
    return ""


def tamper_city_pick(record: Record, frame: FrameBuilder) -> str:
    """The last chosen city of the first province with a city left over becomes that city."""
    seed = record["seed"]
    stage = next(s for s in record["stages"] if s["unit"] == "city")
    chosen = {c["unit"] for c in stage["chosen"]}
    pool = [b for b in frame.businesses
            if not record["params"]["provinces"]
            or province_of(b.region_code) in record["params"]["provinces"]]
    for st in record["stages"]:
        if st["unit"] == "province":
            drawn = {c["unit"] for c in st["chosen"]}
            pool = [b for b in pool if province_of(b.region_code) in drawn]
    for row in stage["strata"]:
        prov = row["stratum"]
        spare = sorted({city_of(b.region_code) for b in pool
                        if province_of(b.region_code) == prov} - chosen)
        if spare:
            index = max(i for i, c in enumerate(stage["chosen"]) if c["stratum"] == prov)
            old = stage["chosen"][index]["unit"]
            stage["chosen"][index] = {"unit": spare[0], "stratum": prov,
                                      "key": unit_key(seed, "city", prov, spare[0])}
            return (f"city stage, province {prov}: city {old} replaced by {spare[0]} (not drawn) "
                    "with its true key")
    raise AssertionError("no province with a city left to swap in")


def tamper_team_member(record: Record, frame: FrameBuilder) -> str:
    """The last member of the last team becomes the best-ranked undrawn inspector."""
    seed = record["seed"]
    drawn = {m["unit"] for t in record["teams"] for m in t["inspectors"]}
    key, new = min((unit_key(seed, "inspector", "all", i.inspector_id), i.inspector_id)
                   for i in frame.inspectors if i.inspector_id not in drawn)
    team = record["teams"][-1]
    old = team["inspectors"][-1]["unit"]
    team["inspectors"][-1] = {"unit": new, "stratum": f"team-{team['team']}", "key": key}
    return (f"team {team['team']}: inspector {old} replaced by {new} (not drawn) with its true "
            "key")


def tamper_assignment(record: Record, frame: FrameBuilder) -> str:
    """The first visit that another team could also make (回避 respected) goes to that team."""
    level = record["params"]["avoidance"]
    home = {i.inspector_id: i.home_region for i in frame.inspectors}
    region = {b.uscc: b.region_code for b in frame.businesses}
    barred = {t["team"]: {avoided_prefix(home[m["unit"]], level) for m in t["inspectors"]}
              for t in record["teams"]}
    for a in record["assignments"]:
        for t in sorted(barred):
            if t != a["team"] and not any(region[a["uscc"]].startswith(x) for x in barred[t]):
                old, a["team"] = a["team"], t
                return (f"visit to {a['uscc']} moved from team {old} to team {t}, which may "
                        "visit it (回避 respected)")
    raise AssertionError("no visit could move to another team")


def tamper_extension(record: Record, frame: FrameBuilder) -> str:
    """One unit of the first extension's allocation moved between two strata."""
    alloc = record["extensions"][0]["allocation"]
    names = sorted(alloc)
    give = next(h for h in names if alloc[h] > 0)
    take = next(h for h in names if h != give)
    alloc[give] -= 1
    alloc[take] += 1
    return f"extension 1: one unit of the allocation moved from {give} to {take}"


def tamper_extension_not_larger(record: Record, frame: FrameBuilder) -> str:
    """An extra extension to the current total with the same allocation: it adds nothing, so a
    verifier that skips the check 'T' must exceed the sample' would find every field equal."""
    last = record["stages"][-1]
    record["extensions"].append({"to": record["total"],
                                 "allocation": {s["stratum"]: s["allocated"]
                                                for s in last["strata"]}})
    return (f"an extension to {record['total']}, the current total (an extension must enlarge "
            "the sample; the draw fails)")


def _redraw(record: Record, frame: FrameBuilder, seed: str) -> None:
    """The record's draw done again with ``seed`` (``seed`` and ``params.seed``, every key true
    to it); ``campaign`` and ``commitment`` kept."""
    p = DrawParams.from_dict({**record["params"], "seed": seed})
    record.update(draw(p, frame.businesses, frame.inspectors).as_record())


def tamper_commitment_seed(record: Record, frame: FrameBuilder) -> str:
    """A draw made with a seed of one's choosing, the commitment attached as it was."""
    _redraw(record, frame, "20261210")
    return ("the draw redone with seed 20261210 (seed and params.seed; every key, pick and visit "
            "true to it), the commitment unchanged: the seed does not derive from the committed "
            "frame hash and beacon value")


def tamper_beacon_value(record: Record, frame: FrameBuilder) -> str:
    """The last digit of the beacon value changed; seed and draw kept."""
    beacon = record["commitment"]["beacon"]
    old = beacon["value"]
    beacon["value"] = old[:-1] + ("8" if old[-1] != "8" else "9")
    return (f"commitment.beacon.value {old!r} changed to {beacon['value']!r}, the seed and the "
            "draw kept")


def tamper_commitment_frame(record: Record, frame: FrameBuilder) -> str:
    """The commitment names another frame (one risk level changed); the seed derives from that
    frame's hash and the beacon value, and the draw is redone with it on this frame."""
    lines = frame_lines(frame.businesses, frame.inspectors)
    other_csv, _ = tampered_frame(lines)
    other = frame_sha256(sorted(other_csv.splitlines()[1:]))
    c = record["commitment"]
    c["frame_sha256"] = other
    _redraw(record, frame, beacon_seed(other, c["beacon"]["value"]))
    return (f"commitment.frame_sha256 names frame {other} (this frame with the first "
            "business's risk level changed); the seed derives from that hash and the beacon "
            "value, and the draw is redone with that seed on this frame")


def tamper_commitment_too_late(record: Record, frame: FrameBuilder) -> str:
    """Committed at 00:30 China time on the beacon's published_on (16:30 UTC the day before)."""
    c = record["commitment"]
    published = date.fromisoformat(c["beacon"]["published_on"])
    at = datetime.combine(published - timedelta(days=1), datetime.min.time(), UTC).replace(
        hour=16, minute=30)
    c["committed_at"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    c["committed_on"] = published.isoformat()
    return (f"committed_at {c['committed_at']}, committed_on {c['committed_on']} (its China "
            "date): the commitment is on the beacon's published_on, not before (the UTC date "
            "is the day before)")


def tamper_committed_on_utc(record: Record, frame: FrameBuilder) -> str:
    """committed_on written as the UTC date of committed_at instead of its China date."""
    c = record["commitment"]
    old = c["committed_on"]
    c["committed_on"] = c["committed_at"][:10]
    return (f"commitment.committed_on {old} (the China date of committed_at "
            f"{c['committed_at']}) changed to {c['committed_on']}, its UTC date")


RecordTamper = Callable[[Record, FrameBuilder], str]


@dataclass
class Variant:
    """A deliberately wrong record (or frame) and the branch it tests."""

    branch: str
    tamper: RecordTamper | None = None  # changes a copy of the record
    frame: str = ""  # "tampered": a frame row changed; "reordered": rows shuffled, CRLF, BOM
    suffix: str = "tampered"


@dataclass
class Vector:
    name: str
    title: str
    description: str
    branches: list[str]
    frame: FrameBuilder
    params: DrawParams
    extensions: list[int] = field(default_factory=list)
    kind: str = "inspection"
    variants: list[Variant] = field(default_factory=list)
    #: The seed's commitment (the record's ``commitment``; ``null`` without one).
    commitment: Commitment | None = None


# --- the vectors ------------------------------------------------------------------------------

def v01() -> Vector:
    f = FrameBuilder()
    f.add("330102", 5, category="catering", risk=("A", "B", "C")).add("330106", 3,
                                                                       category="sales")
    f.add("330203", 4, category="production", risk="C").add("330304", 4, category="market",
                                                               risk="D")
    f.add("330402", 1, category="sales", risk="A")
    f.inspector("330105", "330212", "440000", "320102", "510104")
    return Vector(
        "01-total-proportional-tie", "Total, proportional, a remainder tie",
        "One stage (businesses), strata by city of sizes 8, 4, 4, 1 and total 6: quotas 2, 1, "
        "1, 0 with remainders 14, 7, 7, 6 (S = 17); of the two units left, one goes to "
        "city=330100 (14) and one to city=330200 (tie at 7 with city=330300, smaller id) → 3, "
        "2, 1, 0: city=330400 is recorded with 0 allocated. City avoidance with inspectors' "
        "homes given as county codes; one inspector is not drawn. The record carries a "
        "`campaign` object (ignored).",
        ["frame.hash", "frame.reordered_crlf_bom", "strata.city", "size.total",
         "alloc.proportional", "alloc.zero_stratum", "lr.remainder_tie",
         "lr.remainder_tie.proportional", "teams.round_robin", "teams.undrawn_inspector", "avoid.city", "avoid.home_truncated",
         "assign.most_constrained_first", "record.campaign_ignored", "reject.business_pick",
         "reject.frame_row", "reject.duplicate_id"],
        f, params("20240101", total=6, strata=["city"]),
        variants=[Variant("reject.business_pick", tamper_business_pick),
                  Variant("frame.reordered_crlf_bom", frame="reordered", suffix="reordered"),
                  Variant("reject.frame_row", frame="tampered"),
                  Variant("reject.duplicate_id", frame="duplicate", suffix="duplicate-id")])


def v02() -> Vector:
    f = FrameBuilder()
    # Zhejiang: three cities; Fujian: one city only; Hubei: two cities; Beijing: out of scope.
    f.add("330102", 4, category="catering", risk=("B", "C")).add("330203", 3, category="sales")
    f.add("330304", 3, category="catering", risk="D")
    f.add("350102", 5, category="school_canteen", risk=("A", "C"))
    f.add("420102", 4, category="catering", risk="C").add("420502", 3, category="sales",
                                                            risk="A")
    f.add("110101", 4, category="catering")
    f.inspector("330102", "350100", "420111", "110105", "330200", "420500", "320583")
    return Vector(
        "02-multistage-fraction", "Province and city stages, fraction, min_per_stratum",
        "params.provinces leaves Beijing out; 2 provinces drawn of 3, then 2 cities per province "
        "(Fujian has one); the pool is stratified by city and category with fraction 0.3 "
        "(ppm 300 000, rounded up) and min_per_stratum 1. Province avoidance, homes given as "
        "county and city codes.",
        ["scope.provinces", "stage.province", "stage.city", "stage.city.per_parent_exceeds",
         "strata.city", "strata.category", "strata.multi", "size.fraction",
         "size.fraction.rounded_up", "alloc.proportional", "alloc.min_per_stratum", "avoid.province",
         "avoid.home_truncated", "reject.upper_pick"],
        f, params("20240204", stages=[{"unit": "province", "count": 2},
                                      {"unit": "city", "per_parent": 2}, {"unit": "business"}],
                  provinces=["330000", "350000", "420000"], fraction=0.3,
                  strata=["city", "category"], min_per_stratum=1, avoidance="province"),
        variants=[Variant("reject.upper_pick", tamper_city_pick)])


def v03() -> Vector:
    f = FrameBuilder()
    f.add("330102", 5, risk=("A", "B")).add("330105", 2, risk="C").add("330106", 4)
    f.add("330203", 1, category="sales").add("330211", 4, category="sales", risk="D")
    f.inspector("330100", "330000", "330204", "330211", "110101", "310101", "440103")
    return Vector(
        "03-per-stratum-county", "per_stratum by county, county avoidance, coarse homes",
        "per_stratum = 3 over county strata, two of which have fewer than 3 businesses; county "
        "avoidance with inspectors whose home is known only as a city code (avoids the whole "
        "city) or a province code (avoids the whole province).",
        ["strata.county", "size.per_stratum", "size.per_stratum.small_stratum", "avoid.county",
         "avoid.home_city_code", "avoid.home_province_code", "assign.most_constrained_first",
         "reject.team_member"],
        f, params("20240103", per_stratum=3, strata=["county"], teams=3, avoidance="county"),
        variants=[Variant("reject.team_member", tamper_team_member)])


def v04() -> Vector:
    f = FrameBuilder()
    f.add("330102", 12, risk=("A", "B", "C")).add("330203", 8, category="sales")
    f.add("330304", 3, category="market", risk="C").add("330402", 4, category="production")
    f.inspector("110101", "120101", "310101", "320101", "500101")
    return Vector(
        "04-equal-capped-resplit", "Equal allocation, a capped stratum and its re-split",
        "Equal allocation over city strata of sizes 12, 8, 3, 4 with total 16: quotas 4 each; "
        "city=330300 (3) is over its cap, fixed at 3, and 13 split afresh over the other three: "
        "4 each with remainder 1, the one left to city=330100 (tie, smaller id); city=330400 "
        "gets exactly its cap 4 and keeps it → 5, 4, 3, 4.",
        ["strata.city", "size.total", "alloc.equal", "lr.cap_resplit", "lr.cap_exact",
         "lr.remainder_tie", "reject.assignment"],
        f, params("20240104", total=16, strata=["city"], allocation="equal"),
        variants=[Variant("reject.assignment", tamper_assignment)])


def v05() -> Vector:
    f = FrameBuilder()
    f.add("420102", 10, risk="A").add("420103", 6, risk="B").add("420104", 4, risk="C")
    f.add("420105", 2, risk="D")
    f.inspector("110101", "120101", "310101", "320101", "420000")
    return Vector(
        "05-risk-weighted", "risk_weighted allocation with a capped stratum",
        "Strata by province and risk level (one province; A 10, B 6, C 4, D 2 businesses) with weights A 1, B 2, C 3, D 8: "
        "W = 10, 12, 12, 16 (S = 50), total 10 → D's quota 3 is over its 2; the 8 left split "
        "over 10, 12, 12 again.",
        ["strata.province", "strata.risk_level", "strata.multi", "size.total",
         "alloc.risk_weighted", "lr.cap_resplit", "lr.remainder_tie", "avoid.city",
         "avoid.home_province_code"],
        f, params("20240105", total=10, strata=["province", "risk_level"], allocation="risk_weighted",
                  risk_weights={"A": 1, "B": 2, "C": 3, "D": 8}))


def v06() -> Vector:
    f = FrameBuilder()
    f.add("440103", 6, category="catering", risk=("A", "B", "C", "D"))
    f.add("440104", 4, category="sales", risk=("A", "B"))
    f.add("440105", 3, category="market", risk="D")
    f.inspector("110101", "120101", "310101", "320101")
    return Vector(
        "06-risk-weighted-all-zero", "risk_weighted with every weight 0",
        "Every risk weight is 0, so S = 0 from the start and each open stratum counts 1 "
        "(an equal split): category strata of sizes 6, 3, 4 (catering, market, sales), total 7 "
        "→ 2, 2, 2 and the unit left to catering (remainders all 1, smallest id). A plan cannot "
        "give weights below 1 (domain/plan.py), but the record's params can, and the "
        "specification says what they mean.",
        ["strata.category", "size.total", "alloc.risk_weighted", "lr.zero_weights",
         "lr.zero_weights.from_start", "lr.remainder_tie"],
        f, params("20240106", total=7, strata=["category"], allocation="risk_weighted",
                  risk_weights={"A": 0, "B": 0, "C": 0, "D": 0}))


def v07() -> Vector:
    f = FrameBuilder()
    f.add("510104", 5, risk="A").add("510105", 5, risk="B").add("510106", 4, risk="C")
    f.add("510107", 2, risk="D")
    f.inspector("110101", "120101", "310101", "320101", "510100")
    return Vector(
        "07-risk-weighted-zero-after-cap", "risk_weighted, weight only in a capped stratum",
        "Weights A 0, B 0, C 0, D 5: only the D stratum (2 businesses) has weight, its quota is "
        "the whole total 8 and it is capped at 2; the 6 left are split among A, B, C, whose "
        "weights are all 0, as 2, 2, 2.",
        ["strata.risk_level", "size.total", "alloc.risk_weighted", "lr.cap_resplit",
         "lr.zero_weights", "lr.zero_weights.after_cap"],
        f, params("20240107", total=8, strata=["risk_level"], allocation="risk_weighted",
                  risk_weights={"A": 0, "B": 0, "C": 0, "D": 5}))


def v08() -> Vector:
    f = FrameBuilder()
    f.add("330102", 9, risk=("B", "C")).add("330203", 6, category="sales", risk="A")
    f.add("330304", 3, category="production", risk="D")
    f.inspector("330106", "330211", "330300", "110101", "310101", "440000")
    return Vector(
        "08-one-extension", "One extension",
        "Total 6 over city strata, then extended to 10: the extension's allocation replayed, "
        "every earlier pick and visit kept, the new visits assigned with the earlier ones "
        "counted in the loads.",
        ["strata.city", "size.total", "alloc.proportional", "ext.one", "avoid.city",
         "reject.extension"],
        f, params("20240108", total=6, strata=["city"], teams=3), extensions=[10],
        variants=[Variant("reject.extension", tamper_extension)])


def v09() -> Vector:
    f = FrameBuilder()
    f.add("330102", 4, risk=("A", "C")).add("330105", 3, category="sales")
    f.add("330203", 5, category="school_canteen", risk="C").add("330211", 2, risk="D")
    f.add("350102", 3, category="sales", risk="B").add("350203", 4, risk=("A", "D"))
    f.add("350205", 1, category="market", risk="C")
    f.inspector("330102", "330200", "350203", "110101", "310101", "440103")
    return Vector(
        "09-two-extensions", "Province and city stages, two extensions",
        "A province stage asking for 5 provinces of 2 (both drawn), one city per province, "
        "county strata with min_per_stratum 2 (a county of 2 or fewer businesses is all base: cap 0, "
        "never opened), total 7; then extended to 9, then to 10, each from the previous "
        "allocation.",
        ["stage.province", "stage.province.count_exceeds", "stage.city", "strata.county",
         "size.total", "alloc.proportional", "alloc.min_per_stratum",
         "alloc.min_per_stratum.small_stratum", "ext.one", "ext.two", "ext.with_upper_stages",
         "reject.extension_not_larger"],
        f, params("20240900", stages=[{"unit": "province", "count": 5},
                                      {"unit": "city", "per_parent": 1}, {"unit": "business"}],
                  total=7, strata=["county"], min_per_stratum=2),
        extensions=[9, 10],
        variants=[Variant("reject.extension_not_larger", tamper_extension_not_larger)])


def v10() -> Vector:
    f = FrameBuilder()
    f.add("330102", 3, risk=("B", "C")).add("330106", 2, category="sales").add("330203", 3,
                                                                             risk="D")
    f.add("330304", 2, category="market", risk="C")
    f.inspector("330100", "330212", "330000", "320102", "510104", "330302")
    return Vector(
        "10-city-stage-equal", "A city stage alone, equal allocation, no strata",
        "A city stage with no province stage (2 cities of Zhejiang's 3), then 5 businesses "
        "from the single stratum `all`.",
        ["stage.city", "stage.city_without_province", "strata.all", "size.total", "alloc.equal",
         "avoid.city"],
        f, params("20241000", stages=[{"unit": "city", "per_parent": 2}, {"unit": "business"}],
                  total=5, allocation="equal"))


LOOKBACK_PLAN = """\
[campaign]
office = "测试向量督查机关"
title = "测试向量：回头看"
kind = "lookback"
starts_on = 2024-03-01
ends_on = 2024-03-31
seed = {seed}

[scope]
issues = "unverified"

[sample]
{sample}

[teams]
count = 2
members = 2
avoidance = "city"
"""


def lookback_frame() -> FrameBuilder:
    """The issue businesses of vector 08's campaign: its chosen businesses (after the extension)
    where problems were found (all but every third, in record order), with their register rows
    as at the look-back's launch (one has since moved up a risk level), and the inspectors with
    one newcomer."""
    source = v08()
    d = draw(source.params, source.frame.businesses, source.frame.inspectors)
    for to in source.extensions:
        d = extend(d, source.frame.businesses, source.frame.inspectors, to)
    found = {p.unit for i, p in enumerate(d.businesses) if i % 3 != 2}
    f = FrameBuilder()
    changed = False
    for b in source.frame.businesses:
        if b.uscc in found:
            risk = b.risk_level
            if not changed:
                risk, changed = {"A": "B", "B": "C", "C": "D", "D": "D"}[risk], True
            f.businesses.append(FrameBusiness(b.uscc, b.region_code, b.category, risk))
    f.inspectors = [*source.frame.inspectors, FrameInspector("I007", "350102")]
    return f


def v11() -> Vector:
    plan = parse_plan(LOOKBACK_PLAN.format(seed=20240111, sample="all = true"))
    return Vector(
        "11-lookback-census", "Look-back draw over an earlier campaign's issues (all)",
        "A look-back (回头看) campaign over vector 08's campaign: the frame holds the businesses "
        "where that campaign found issues not yet verified, with their current register rows. "
        "The plan's `all = true` is recorded as fraction = 1: every business is drawn and gets "
        "its key; teams are drawn and assigned with 回避 as usual. Params come from a look-back "
        "plan through domain/plan.py and domain/campaigns.py draw_params.",
        ["lookback.census", "size.fraction", "strata.all", "avoid.city"],
        lookback_frame(), draw_params(plan.as_dict(), "20240111"), kind="lookback")


def v12() -> Vector:
    plan = parse_plan(LOOKBACK_PLAN.format(
        seed=20240112, sample='total = 4\nstrata = ["city"]\nallocation = "proportional"'))
    return Vector(
        "12-lookback-sample", "Look-back draw of part of its frame",
        "The same look-back frame as vector 11, drawing 4 of its businesses by city strata.",
        ["lookback.sample", "size.total", "strata.city", "alloc.proportional"],
        lookback_frame(), draw_params(plan.as_dict(), "20240112"), kind="lookback")


BEACON_NAME = "福彩3D第2026330期开奖号码"
BEACON_VALUE = "福彩3D第2026330期开奖号码：7 2 9"


def v13() -> Vector:
    """The committed seed: the frame is built first, its hash committed (as ``lookback draw
    commit`` stores it), and the seed derived from that hash and the beacon value."""
    f = FrameBuilder()
    f.add("320102", 6, category="catering", risk=("A", "B", "C"))
    f.add("320106", 4, category="sales", risk="B")
    f.add("320205", 5, category="school_canteen", risk=("C", "D"))
    f.inspector("320100", "320211", "110101", "310101", "440103")
    sha = frame_sha256(frame_lines(f.businesses, f.inspectors))
    # 07:30 on 10 December in China is still 9 December in UTC.
    commitment = Commitment(13, sha, datetime(2026, 12, 9, 23, 30, tzinfo=UTC), BEACON_NAME,
                            date(2026, 12, 20), BEACON_VALUE)
    seed = beacon_seed(sha, BEACON_VALUE)
    return Vector(
        "13-committed-seed", "A committed seed (frame hash and a public beacon)",
        "The frame's SHA-256 was committed at 2026-12-09T23:30:00Z (07:30 on 2026-12-10 in "
        "China, so committed_on is 2026-12-10, not the UTC date) before the beacon "
        f"“{BEACON_NAME}” was published on 2026-12-20; the seed is the decimal SHA-256 of "
        f"`lookback-seed/1|<frame sha256>|{BEACON_VALUE}` in UTF-8 (the value has Chinese "
        "characters, a full-width colon and spaces, all kept). Category strata, total 6. The "
        "variants break the commitment one way each, with a draw true to its own seed.",
        ["seed.commitment", "seed.commitment.china_date", "strata.category", "size.total",
         "alloc.proportional", "avoid.city", "reject.commitment_seed",
         "reject.commitment_beacon_value", "reject.commitment_frame",
         "reject.commitment_not_before_beacon", "reject.commitment_china_date"],
        f, params(seed, total=6, strata=["category"]), commitment=commitment,
        variants=[Variant("reject.commitment_seed", tamper_commitment_seed,
                          suffix="seed-changed"),
                  Variant("reject.commitment_beacon_value", tamper_beacon_value,
                          suffix="beacon-value-changed"),
                  Variant("reject.commitment_frame", tamper_commitment_frame,
                          suffix="other-frame-committed"),
                  Variant("reject.commitment_not_before_beacon", tamper_commitment_too_late,
                          suffix="committed-too-late"),
                  Variant("reject.commitment_china_date", tamper_committed_on_utc,
                          suffix="committed-on-utc-date")])


def vectors() -> list[Vector]:
    return [v01(), v02(), v03(), v04(), v05(), v06(), v07(), v08(), v09(), v10(), v11(), v12(),
            v13()]


# --- what a draw actually exercises -----------------------------------------------------------

def traced_largest_remainder(weights: dict[str, int], total: int, caps: dict[str, int],
                             seen: set[str]) -> dict[str, int]:
    """docs/draw.md section 6, step by step, noting the branches it goes through."""
    extra = dict.fromkeys(weights, 0)
    open_ = sorted(h for h in weights if caps[h] > 0)
    left = total
    while left > 0 and open_:
        w = {h: weights[h] for h in open_}
        if sum(w.values()) == 0:
            seen.add("lr.zero_weights")
            w = dict.fromkeys(open_, 1)
        s = sum(w.values())
        q = {h: left * w[h] // s for h in open_}
        r = {h: left * w[h] % s for h in open_}
        leftover = left - sum(q.values())
        order = sorted(open_, key=lambda h: (-r[h], h))
        if 0 < leftover < len(order) and r[order[leftover - 1]] == r[order[leftover]]:
            seen.add("lr.remainder_tie")
        for h in order[:leftover]:
            q[h] += 1
        full = [h for h in open_ if q[h] > caps[h]]
        if any(q[h] == caps[h] for h in open_):
            seen.add("lr.cap_exact")
        if not full:
            extra.update(q)
            break
        seen.add("lr.cap_resplit")
        for h in full:
            extra[h] = caps[h]
            left -= caps[h]
        open_ = [h for h in open_ if h not in full]
    return extra


def traced_allocate(sizes: dict[str, int], total: int, p: DrawParams, risk: dict[str, int],
                    seen: set[str]) -> dict[str, int]:
    base = {h: min(p.min_per_stratum, n) for h, n in sizes.items()}
    if p.min_per_stratum > 0:
        seen.add("alloc.min_per_stratum")
        if any(n <= p.min_per_stratum for n in sizes.values()):
            seen.add("alloc.min_per_stratum.small_stratum")
    w = {"proportional": dict(sizes), "equal": dict.fromkeys(sizes, 1),
         "risk_weighted": risk}[p.allocation]
    extra = traced_largest_remainder(w, total - sum(base.values()),
                                     {h: sizes[h] - base[h] for h in sizes}, seen)
    return {h: base[h] + extra[h] for h in sizes}


def observe(record: Record, frame: FrameBuilder, kind: str) -> set[str]:
    """The branches of BRANCHES that this (verified) record and frame go through. Allocations
    are retraced and must land on the recorded ones."""
    p = DrawParams.from_dict(record["params"])
    seen = {"frame.hash", "teams.round_robin"}
    if "campaign" in record:
        seen.add("record.campaign_ignored")
    pool = list(frame.businesses)
    if p.provinces:
        narrowed = [b for b in pool if province_of(b.region_code) in p.provinces]
        if len(narrowed) < len(pool):
            seen.add("scope.provinces")
        pool = narrowed
    units = [s["unit"] for s in p.stages]
    for spec, st in zip(p.stages[:-1], record["stages"][:-1], strict=True):
        if spec["unit"] == "province":
            seen.add("stage.province")
            if spec["count"] > st["frame_size"]:
                seen.add("stage.province.count_exceeds")
            area = province_of
        else:
            seen.add("stage.city")
            if "province" not in units:
                seen.add("stage.city_without_province")
            if any(row["frame_size"] < spec["per_parent"] for row in st["strata"]):
                seen.add("stage.city.per_parent_exceeds")
            area = city_of
        drawn = {c["unit"] for c in st["chosen"]}
        pool = [b for b in pool if area(b.region_code) in drawn]
    seen |= {f"strata.{f}" for f in p.strata} or {"strata.all"}
    if len(p.strata) > 1:
        seen.add("strata.multi")
    sizes = dict(Counter(stratum_of(b, p.strata) for b in pool))
    risk = {h: sum(p.risk_weights[b.risk_level] for b in pool if stratum_of(b, p.strata) == h)
            for h in sizes}
    recorded = {s["stratum"]: s["allocated"] for s in record["stages"][-1]["strata"]}
    if p.per_stratum is not None:
        seen.add("size.per_stratum")
        if any(n < p.per_stratum for n in sizes.values()):
            seen.add("size.per_stratum.small_stratum")
        assert not record["extensions"]
        alloc = {h: min(p.per_stratum, n) for h, n in sizes.items()}
    else:
        if p.total is not None:
            seen.add("size.total")
            total = p.total
        else:
            assert p.fraction is not None
            seen.add("size.fraction")
            ppm = round(p.fraction * 1_000_000)
            if ppm * len(pool) % 1_000_000:
                seen.add("size.fraction.rounded_up")
            total = max(1, (ppm * len(pool) + 999_999) // 1_000_000)
        seen.add(f"alloc.{p.allocation}")
        first: set[str] = set()
        alloc = traced_allocate(sizes, total, p, risk, first)
        if p.allocation == "proportional" and "lr.remainder_tie" in first:
            seen.add("lr.remainder_tie.proportional")
        if p.allocation == "risk_weighted" and "lr.zero_weights" in first:
            seen.add("lr.zero_weights.from_start" if not any(risk.values())
                     else "lr.zero_weights.after_cap")
        seen |= first
        for ext in record["extensions"]:
            before, to = alloc, int(ext["to"])
            target = traced_allocate(sizes, to, p, risk, set())
            deficit = {h: max(0, target[h] - before[h]) for h in sizes}
            gap = to - sum(before.values())
            assert gap > 0 and sum(deficit.values()) >= gap
            add = traced_largest_remainder(deficit, gap, deficit, set())
            alloc = {h: before[h] + add[h] for h in sizes}
            assert alloc == ext["allocation"], (alloc, ext["allocation"])
        if record["extensions"]:
            seen.add("ext.one")
            if len(p.stages) > 1:
                seen.add("ext.with_upper_stages")
        if len(record["extensions"]) >= 2:
            seen.add("ext.two")
    assert alloc == recorded, (alloc, recorded)
    if 0 in recorded.values():
        seen.add("alloc.zero_stratum")

    seen.add(f"avoid.{p.avoidance}")
    digits = {"province": 2, "city": 4, "county": 6}[p.avoidance]
    home = {i.inspector_id: i.home_region for i in frame.inspectors}
    region = {b.uscc: b.region_code for b in pool}
    chosen = [c["unit"] for c in record["stages"][-1]["chosen"]]
    if len(frame.inspectors) > p.teams * p.members:
        seen.add("teams.undrawn_inspector")
    barred: dict[int, set[str]] = {}
    for t in record["teams"]:
        barred[t["team"]] = set()
        for m in t["inspectors"]:
            h = home[m["unit"]]
            known = 2 if h.endswith("0000") else 4 if h.endswith("00") else 6
            prefix = avoided_prefix(h, p.avoidance)
            barred[t["team"]].add(prefix)
            bars = any(region[u].startswith(prefix) for u in chosen)
            if known == 2 and digits > 2 and bars:
                seen.add("avoid.home_province_code")
            if known == 4 and digits > 4 and bars:
                seen.add("avoid.home_city_code")
            if known > digits:
                seen.add("avoid.home_truncated")
    eligible = {u: sum(not any(region[u].startswith(x) for x in barred[t]) for t in barred)
                for u in chosen}
    if len(set(eligible.values())) > 1:
        seen.add("assign.most_constrained_first")
    if kind == "lookback":
        seen.add("lookback.census" if p.fraction == 1.0 else "lookback.sample")
    c = record.get("commitment")
    if c is not None:
        # A commitment that holds (the engine's own check), its seed the record's.
        assert commitment_difference(record) is None, commitment_difference(record)
        assert record["seed"] == beacon_seed(c["frame_sha256"], c["beacon"]["value"])
        seen.add("seed.commitment")
        if c["committed_at"][:10] != c["committed_on"]:
            seen.add("seed.commitment.china_date")
    return seen


# --- writing ----------------------------------------------------------------------------------

def build(v: Vector) -> tuple[Record, list[str]]:
    d = draw(v.params, v.frame.businesses, v.frame.inspectors)
    for to in v.extensions:
        d = extend(d, v.frame.businesses, v.frame.inspectors, to)
    campaign = {"id": int(v.name[:2]), "office": "测试向量督查机关", "title": f"测试向量 {v.name}",
                "kind": v.kind}
    # As domain.campaigns.run_draw stores it: every record has a `commitment`, null without one.
    commitment = v.commitment.as_record() if v.commitment is not None else None
    return ({"campaign": campaign, **d.as_record(), "commitment": commitment},
            frame_lines(v.frame.businesses, v.frame.inspectors))


def result_of(record: Record) -> dict[str, Any]:
    return {
        "total": record["total"],
        "chosen": {s["unit"]: [c["unit"] for c in s["chosen"]] for s in record["stages"]},
        "allocation": {s["stratum"]: s["allocated"] for s in record["stages"][-1]["strata"]},
        "teams": {str(t["team"]): [m["unit"] for m in t["inspectors"]] for t in record["teams"]},
        "assignments": {a["uscc"]: a["team"] for a in record["assignments"]},
        "extensions": record["extensions"],
    }


def tampered_frame(lines: list[str]) -> tuple[str, str]:
    """frame.csv with the first business's risk level changed (the record unchanged)."""
    i = next(n for n, ln in enumerate(lines) if ln.startswith("business,"))
    parts = lines[i].split(",")
    parts[4] = "D" if parts[4] != "D" else "A"
    changed = [*lines[:i], ",".join(parts), *lines[i + 1:]]
    return frame_csv(changed), (f"frame row of business {parts[1]}: risk level changed to "
                                f"{parts[4]} after the draw")


def reordered_frame(lines: list[str]) -> str:
    """The same frame with the rows reversed, CRLF line ends and a UTF-8 byte order mark."""
    text = "\ufeff" + "kind,id,region,category,risk_level\r\n"
    return text + "".join(f"{ln}\r\n" for ln in reversed(lines))


def dump(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def write_vector(v: Vector, out: Path) -> dict[str, Any]:
    record, lines = build(v)
    seen = observe(record, v.frame, v.kind)
    folder = out / v.name
    folder.mkdir(parents=True, exist_ok=True)
    files = {RECORD_FILE: record_json(record), FRAME_FILE: frame_csv(lines)}
    checks: list[dict[str, Any]] = [{"record": RECORD_FILE, "frame": FRAME_FILE, "verify": "OK"}]
    for variant in v.variants:
        seen.add(variant.branch)
        if variant.tamper is not None:
            wrong = copy.deepcopy(record)
            change = variant.tamper(wrong, v.frame)
            name = f"record-{variant.suffix}.json"
            files[name] = record_json(wrong)
            checks.append({"record": name, "frame": FRAME_FILE, "verify": "DIFFERENT",
                           "change": change, "branch": variant.branch})
        elif variant.frame == "duplicate":
            twice = [*v.frame.businesses, v.frame.businesses[0]]
            d = draw(v.params, twice, v.frame.inspectors)
            dup = {"campaign": record["campaign"], **d.as_record(),
                   "commitment": record["commitment"]}
            files[f"record-{variant.suffix}.json"] = record_json(dup)
            files[f"frame-{variant.suffix}.csv"] = frame_csv(frame_lines(twice,
                                                                         v.frame.inspectors))
            checks.append({"record": f"record-{variant.suffix}.json",
                           "frame": f"frame-{variant.suffix}.csv", "verify": "DIFFERENT",
                           "branch": variant.branch,
                           "change": f"business {twice[0].uscc} appears twice in the frame; the "
                                     "record is the engine's draw from that frame as it stands"})
        elif variant.frame == "tampered":
            files["frame-tampered.csv"], change = tampered_frame(lines)
            checks.append({"record": RECORD_FILE, "frame": "frame-tampered.csv",
                           "verify": "DIFFERENT", "change": change, "branch": variant.branch})
        else:
            files["frame-reordered.csv"] = reordered_frame(lines)
            checks.append({"record": RECORD_FILE, "frame": "frame-reordered.csv",
                           "verify": "OK", "branch": variant.branch,
                           "change": "rows reversed, CRLF line ends, UTF-8 byte order mark"})
    missing = sorted(set(v.branches) - seen)
    if missing:
        raise SystemExit(f"vector {v.name} claims branches it does not exercise: {missing}")
    # What it is meant for (v.branches) is checked above; what it exercises is recorded.
    branches = sorted(seen)
    expected = {"vector": v.name, "title": v.title, "description": v.description,
                "algorithm": ALGORITHM, "branches": branches, "checks": checks,
                "result": result_of(record)}
    files["expected.json"] = dump(expected)
    for name, text in files.items():
        (folder / name).write_bytes(text.encode())
    return {"name": v.name, "title": v.title, "branches": branches,
            "checks": [{k: c[k] for k in ("record", "frame", "verify")} for c in checks]}


def index(entries: list[dict[str, Any]]) -> dict[str, Any]:
    branches = []
    for bid, (section, text) in BRANCHES.items():
        covering = [e["name"] for e in entries if bid in e["branches"]]
        row: dict[str, Any] = {"id": bid, "section": section, "description": text,
                               "vectors": covering}
        if bid in PENDING:
            row["pending"] = PENDING[bid]
        elif not covering:
            raise SystemExit(f"branch {bid} has no vector")
        branches.append(row)
    return {"algorithm": ALGORITHM, "generated_by": "docs/draw-vectors/make_vectors.py",
            "branches": branches,
            "unreachable": [{"id": k, "why": why} for k, why in UNREACHABLE.items()],
            "vectors": entries}


README_HEAD = """\
# Draw test vectors (抽取核验测试向量)

> **中文摘要**　本目录是“双随机一公开”抽取算法 `lookback-draw/1`（[docs/draw.md](../draw.md)）的测试向量：每个子目录
> 含一份公开格式的抽取记录 `record.json`、抽样框 `frame.csv` 和预期结果 `expected.json`，合起来覆盖规范的每一个分支
> （抽省、抽市、总量/比例/每层固定样本量、按比例/等量/按风险加权分配、余数相等时的处理、超出层容量后的重新分配、
> 各级回避及只知省或市的家乡代码、一次和两次扩充、回头看抽取、由抽样框哈希和公开开奖结果事先承诺的随机种子）。部分目录
> 另有故意篡改的记录或抽样框（包括种子承诺不成立的记录），正确的核验程序必须判为不一致。自行编写核验程序的第三方可用
> `check_verifier.py` 逐一检验。全部文件由 `make_vectors.py` 生成，请勿手工修改。

These folders are test vectors for the draw algorithm `lookback-draw/1` specified in
[docs/draw.md](../draw.md). Anyone writing their own verifier (in any language) can check it
against them: together they exercise every branch of the specification, and some of them hold
deliberately wrong variants that a correct verifier must reject, so a verifier that says OK to
everything fails.

**Generated files — do not edit by hand.** Everything here except `check_verifier.py` is written
by [`make_vectors.py`](make_vectors.py) from small synthetic frames (tens of units) and fixed
seeds, using Lookback's own engine (`domain/sampling.py`) and publishing code
(`lookback/draw_files.py`); it is deterministic (running it twice writes identical bytes):

```bash
.venv/bin/python docs/draw-vectors/make_vectors.py            # rewrites docs/draw-vectors/
```

The generator does not take a vector's branches on trust: it retraces each draw (the
largest-remainder allocation step by step, the stages, the avoidance prefixes of the drawn
inspectors) and stops if a vector does not go through a branch it claims or if a branch has no
vector. `tests/e2e/test_draw_vectors.py` checks every vector with both verifiers (`lookback draw
verify --record … --frame …` and `docs/verify_draw.py`) and that the generator reproduces these
files byte for byte.

## Layout

Each vector is a folder `NN-name/` with

* `record.json` and `frame.csv` — a published draw, byte for byte as `lookback draw export`
  writes it (`record.json`: UTF-8 JSON, keys sorted, two-space indent, final newline, with an
  informational `campaign` object and a `commitment` that is `null` except in the committed-seed
  vector, where it is the object of docs/draw.md's "Commitment and the public seed"; `frame.csv`:
  the header `kind,id,region,category,risk_level` and the sorted frame lines, each ending with
  `\\n`);
* `expected.json` — `vector`, `title`, `description`, `branches` (ids from `index.json`),
  `checks` (each `record` + `frame` pair to verify and its expected verdict `OK` or
  `DIFFERENT`, with the `change` made and the `branch` tested for a variant), and `result` (what a
  correct verifier recomputes: `total`, `chosen` units per stage in record order, the business
  stage's `allocation`, `teams`, `assignments` and `extensions`);
* for some vectors, variants: `record-tampered.json` (one pick, team member, visit or extension
  changed), `frame-tampered.csv` (one frame row changed after the draw), `record-duplicate-id.json`
  with `frame-duplicate-id.csv` (a frame that repeats a business id, and the draw made from it as
  it stands) — all must be `DIFFERENT` — and `frame-reordered.csv` (the same frame with its rows
  in another order, CRLF line ends and a byte order mark) — which must be `OK`. The
  committed-seed vector's variants (`record-seed-changed.json`, `record-beacon-value-changed.json`,
  `record-other-frame-committed.json`, `record-committed-too-late.json`,
  `record-committed-on-utc-date.json`) each break the commitment one way, with a draw that is true
  to its own seed, so only a verifier that checks the commitment calls them `DIFFERENT`, as it
  must.

[`index.json`](index.json) lists every branch of the specification (`id`, `section` of
docs/draw.md, `description`, the `vectors` covering it, or why it is `pending`), the branches no
valid record can reach (`unreachable`), and every vector with its branches and checks.

## Running a verifier against them

A verifier is a command taking the record and the frame paths that exits with status 0 when the
record comes from the frame and seed (OK) and with any other status otherwise (DIFFERENT), as
`docs/verify_draw.py` does. [`check_verifier.py`](check_verifier.py) (standard library only) runs
it on every check and reports each one:

```bash
python docs/draw-vectors/check_verifier.py -- python docs/verify_draw.py     # the project's
python docs/draw-vectors/check_verifier.py -- ./my-verifier                  # yours
```

Every line must read `PASS`, and the last line `{checks} of {checks} checks passed` (exit
status 0). Or by hand, one check at a time:

```bash
python docs/verify_draw.py docs/draw-vectors/01-total-proportional-tie/record.json \\
    docs/draw-vectors/01-total-proportional-tie/frame.csv            # OK: frame … (exit 0)
python docs/verify_draw.py docs/draw-vectors/01-total-proportional-tie/record-tampered.json \\
    docs/draw-vectors/01-total-proportional-tie/frame.csv            # DIFFERENT: … (exit 1)
lookback draw verify --record docs/draw-vectors/01-total-proportional-tie/record.json \\
    --frame docs/draw-vectors/01-total-proportional-tie/frame.csv    # OK: … (exit 0)
```

A verifier that also recomputes the draw (rather than only checking it) can compare its result
with `expected.json`'s `result`.

## The vectors

| vector | what it is | branches | checks (expected verdict) |
|---|---|---|---|
"""

README_BRANCHES = """
## The branches

| branch | docs/draw.md section | what is exercised | vectors |
|---|---|---|---|
"""


def readme(entries: list[dict[str, Any]], descriptions: dict[str, str]) -> str:
    total = sum(len(e["checks"]) for e in entries)
    parts = [README_HEAD.replace("{checks}", str(total))]
    for e in entries:
        checks = "<br>".join(f"`{c['record']}` + `{c['frame']}` → {c['verify']}"
                             for c in e["checks"])
        branches = ", ".join(f"`{b}`" for b in e["branches"])
        text = descriptions[e["name"]].replace("|", "\\|")
        parts.append(f"| [`{e['name']}`]({e['name']}/) | **{e['title']}.** {text} "
                     f"| {branches} | {checks} |\n")
    parts.append(README_BRANCHES)
    for bid, (section, text) in BRANCHES.items():
        covering = ", ".join(f"`{n[:2]}`" for n in
                             (e["name"] for e in entries if bid in e["branches"]))
        if bid in PENDING:
            covering = f"pending: {PENDING[bid]}"
        parts.append(f"| `{bid}` | {section} | {text} | {covering} |\n")
    for bid, why in UNREACHABLE.items():
        parts.append(f"| `{bid}` | 9 | unreachable: {why} | — |\n")
    return "".join(parts)


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else HERE
    out.mkdir(parents=True, exist_ok=True)
    found = vectors()
    entries = [write_vector(v, out) for v in found]
    for e in entries:
        unknown = set(e["branches"]) - set(BRANCHES)
        if unknown:
            raise SystemExit(f"vector {e['name']}: unknown branches {sorted(unknown)}")
    (out / "index.json").write_bytes(dump(index(entries)).encode())
    text = readme(entries, {v.name: v.description for v in found})
    (out / "README.md").write_bytes(text.encode())
    print(f"wrote {len(entries)} vectors to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
