#!/usr/bin/env python3
"""Check a published double-random draw (双随机一公开) with the Python standard library alone.

Usage:  python verify_draw.py record.json frame.csv      (Python 3.10 or later)

The script re-implements the algorithm described in docs/draw.md ("lookback-draw/1") from scratch:
it checks every parameter against the table of allowed values, hashes the frame, recomputes
every stage of the draw, the inspection teams, the visit assignments and every recorded
extension, and compares them with the record. When the record
carries a commitment ("lookback-seed/1"), it also checks that the seed derives from the committed
frame hash and the public beacon value, and that the commitment predates the beacon. It prints
"OK" and the counts, or the first difference it finds and exits with status 1. It imports nothing from
Lookback, so it can be audited (and re-written in any language) on its own.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
from datetime import date, datetime, timedelta
from typing import Any

ALGORITHM = "lookback-draw/1"
HEADER = "kind,id,region,category,risk_level"
RECORD_KEYS = {"algorithm", "seed", "params", "frame", "total", "stages", "teams", "assignments",
               "extensions"}
SEED_DERIVATION = "lookback-seed/1"
COMMITMENT_KEYS = {"seed_derivation", "frame_sha256", "committed_at", "committed_on", "beacon"}
BEACON_KEYS = {"name", "published_on", "value"}
PARAM_KEYS = {"seed", "stages", "provinces", "total", "fraction", "per_stratum", "strata",
              "allocation", "min_per_stratum", "risk_weights", "teams", "members", "avoidance"}
STAGE_KEYS = {"unit", "frame_size", "strata", "chosen"}
TEAM_KEYS = {"team", "inspectors"}
DIGITS = set("0123456789")


class Mismatch(Exception):
    """The record does not match the recomputed draw (the message says where)."""


# --- keys, ranking and regions --------------------------------------------------------------

def key(seed: str, stage: str, stratum: str, unit: str) -> str:
    """HMAC-SHA256 with the seed as key over "stage|stratum|unit" (UTF-8), in lower-case hex."""
    message = f"{stage}|{stratum}|{unit}".encode()
    return hmac.new(seed.encode(), message, hashlib.sha256).hexdigest()


def lowest(seed: str, stage: str, stratum: str, units, n: int) -> list[tuple[str, str]]:
    """The n units with the lowest keys as (unit, key); equal keys are ordered by unit id."""
    ranked = sorted((key(seed, stage, stratum, u), u) for u in units)
    return [(u, k) for k, u in ranked[:n]]


def province(code: str) -> str:
    return code[:2] + "0000"


def city(code: str) -> str:
    return code[:4] + "00"


def avoided(home: str, level: str) -> str:
    """The region-code prefix an inspector must never visit (回避): 2, 4 or 6 digits of the home
    code for province, city or county avoidance, but never more digits than the home code is
    known to (a province code XX0000 gives 2, a city code XXXX00 gives 4)."""
    known = 2 if home.endswith("0000") else 4 if home.endswith("00") else 6
    return home[:min({"province": 2, "city": 4, "county": 6}[level], known)]


# --- the frame -------------------------------------------------------------------------------

def read_frame(path: str) -> tuple[str, list[dict[str, str]], dict[str, str]]:
    """The frame's SHA-256, its businesses and its inspectors (id -> home region)."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        text = f.read()
    # Lines end at \n, \r\n or \r, and nowhere else (str.splitlines would also split at \v, \f,
    # \x1c-\x1e, \x85, U+2028 and U+2029).
    raw = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    lines = sorted(ln for ln in raw if ln and ln != HEADER)
    digest = hashlib.sha256("".join(ln + "\n" for ln in lines).encode()).hexdigest()
    businesses, inspectors, seen = [], {}, set()
    for ln in lines:
        fields = ln.split(",")
        if len(fields) != 5 or fields[0] not in ("business", "inspector"):
            raise Mismatch(f"frame: bad line {ln!r} (expected {HEADER})")
        kind, uid, region, category, risk = fields
        if (kind, uid) in seen:
            raise Mismatch(f"frame: {kind} {uid} appears more than once")
        seen.add((kind, uid))
        if kind == "business":
            businesses.append({"id": uid, "region": region, "category": category, "risk": risk})
        else:
            inspectors[uid] = region
    return digest, businesses, inspectors


def stratum_of(b: dict[str, str], fields: list[str]) -> str:
    """A business's stratum id, e.g. "city=330100|risk_level=C"; "all" with no strata fields."""
    value = {"province": province(b["region"]), "city": city(b["region"]),
             "county": b["region"], "category": b["category"], "risk_level": b["risk"]}
    return "|".join(f"{f}={value[f]}" for f in fields if f in value) or "all"


# --- allocation (integers only) --------------------------------------------------------------

def largest_remainder(weights: dict[str, int], total: int, caps: dict[str, int]) -> dict[str, int]:
    """Split total in proportion to weights, never above caps (docs/draw.md, section 6)."""
    if total > sum(caps.values()):
        raise Mismatch("allocation: the sample is larger than the strata can hold")
    result = {h: 0 for h in weights}
    open_strata = sorted(h for h in weights if caps[h] > 0)
    left = total
    while left > 0 and open_strata:
        w = {h: weights[h] for h in open_strata}
        if sum(w.values()) == 0:
            w = {h: 1 for h in open_strata}
        w_sum = sum(w.values())
        share = {h: left * w[h] // w_sum for h in open_strata}
        remainder = {h: left * w[h] % w_sum for h in open_strata}
        by_remainder = sorted(open_strata, key=lambda h: (-remainder[h], h))
        for h in by_remainder[:left - sum(share.values())]:
            share[h] += 1
        full = [h for h in open_strata if share[h] > caps[h]]
        if not full:
            result.update(share)
            break
        for h in full:  # fix these at their cap and split what is left among the others again
            result[h] = caps[h]
            left -= caps[h]
        open_strata = [h for h in open_strata if h not in full]
    return result


def allocate(sizes, total, method, minimum, risk) -> dict[str, int]:
    if total > sum(sizes.values()):
        raise Mismatch(f"allocation: the sample ({total}) is larger than the frame "
                       f"({sum(sizes.values())})")
    base = {h: min(minimum, n) for h, n in sizes.items()}
    if sum(base.values()) > total:
        raise Mismatch(f"allocation: min_per_stratum needs {sum(base.values())}, more than {total}")
    weights = {"proportional": dict(sizes), "equal": {h: 1 for h in sizes},
               "risk_weighted": dict(risk)}.get(method)
    if weights is None:
        raise Mismatch(f"params.allocation: unknown method {method!r}")
    extra = largest_remainder(weights, total - sum(base.values()),
                              {h: sizes[h] - base[h] for h in sizes})
    return {h: base[h] + extra[h] for h in sizes}


def extend_allocation(sizes, before, to, method, minimum, risk) -> dict[str, int]:
    """Grow an allocation to `to` without taking anything away (docs/draw.md, section 9)."""
    if to <= sum(before.values()):
        raise Mismatch(f"extensions: --to {to} is not larger than {sum(before.values())}")
    target = allocate(sizes, to, method, minimum, risk)
    deficit = {h: max(0, target[h] - before[h]) for h in sizes}
    extra = to - sum(before.values())
    if sum(deficit.values()) >= extra:
        add = largest_remainder(deficit, extra, deficit)
    else:  # cannot happen (the deficits add up to at least `extra`), kept for completeness
        room = {h: sizes[h] - before[h] - deficit[h] for h in sizes}
        more = largest_remainder(room, extra - sum(deficit.values()), room)
        add = {h: deficit[h] + more[h] for h in sizes}
    return {h: before[h] + add[h] for h in sizes}


# --- the parameters (docs/draw.md, "Parameter values") ----------------------------------------

def integer(value: Any, least: int) -> bool:
    """A JSON integer (not true, not 126.0) of at least `least`."""
    return type(value) is int and value >= least


def check_stages(stages: Any) -> None:
    """Optional {"unit": "province", "count": n}, optional {"unit": "city", "per_parent": m}, in
    that order, then {"unit": "business"}; no other keys."""
    if not isinstance(stages, list) or not stages:
        raise Mismatch(f"params.stages: expected a list ending with {{\"unit\": \"business\"}}, "
                       f"got {stages!r}")
    if stages[-1] != {"unit": "business"}:
        raise Mismatch(f"params.stages[{len(stages) - 1}]: the last stage must be exactly "
                       f"{{\"unit\": \"business\"}}, got {stages[-1]!r}")
    allowed = [("province", "count"), ("city", "per_parent")]
    for i, stage in enumerate(stages[:-1]):
        if not isinstance(stage, dict):
            raise Mismatch(f"params.stages[{i}]: expected an object, got {stage!r}")
        shape = [(unit, size) for unit, size in allowed
                 if stage.get("unit") == unit and set(stage) == {"unit", size}]
        if not shape:
            raise Mismatch(f"params.stages[{i}]: expected {{\"unit\": \"province\", \"count\": n}} "
                           f"or {{\"unit\": \"city\", \"per_parent\": m}}, got {stage!r}")
        size = shape[0][1]
        if not integer(stage[size], 1):
            raise Mismatch(f"params.stages[{i}].{size}: expected an integer >= 1, got "
                           f"{stage[size]!r}")
        allowed = allowed[allowed.index(shape[0]) + 1:]  # province before city, each at most once


def check_params(p: dict[str, Any]) -> None:
    """Every parameter has the JSON type and a value its row of the table allows."""
    seed = p["seed"]
    if not (isinstance(seed, str) and seed and set(seed) <= DIGITS
            and (seed == "0" or not seed.startswith("0"))):
        raise Mismatch(f"params.seed: expected a string of ASCII digits without leading zeros, "
                       f"got {seed!r}")
    check_stages(p["stages"])
    provinces = p["provinces"]
    if not isinstance(provinces, list) or not all(
            isinstance(c, str) and len(c) == 6 and set(c) <= DIGITS and c.endswith("0000")
            for c in provinces):
        raise Mismatch(f"params.provinces: expected a list of province codes XX0000, got "
                       f"{provinces!r}")
    if provinces != sorted(set(provinces)):
        raise Mismatch(f"params.provinces: expected distinct codes, sorted, got {provinces!r}")
    for name in ("total", "per_stratum"):
        if p[name] is not None and not integer(p[name], 1):
            raise Mismatch(f"params.{name}: expected an integer >= 1 or null, got {p[name]!r}")
    fraction = p["fraction"]
    if fraction is not None and not (type(fraction) in (int, float) and 0 < fraction <= 1):
        raise Mismatch(f"params.fraction: expected a number in (0, 1] or null, got {fraction!r}")
    sizes = [name for name in ("total", "fraction", "per_stratum") if p[name] is not None]
    if len(sizes) != 1:
        raise Mismatch(f"params.total, params.fraction, params.per_stratum: exactly one of the "
                       f"three must be set, got {', '.join(sizes) or 'none'}")
    strata = p["strata"]
    names = ["province", "city", "county", "category", "risk_level"]
    if not isinstance(strata, list) or not all(isinstance(f, str) and f in names
                                               for f in strata):
        raise Mismatch(f"params.strata: expected a list of names among {names}, got {strata!r}")
    if len(set(strata)) != len(strata):
        raise Mismatch(f"params.strata: a name appears twice in {strata!r}")
    for name, allowed in (("allocation", ["proportional", "equal", "risk_weighted"]),
                          ("avoidance", ["city", "province", "county"])):
        if not (isinstance(p[name], str) and p[name] in allowed):
            raise Mismatch(f"params.{name}: expected one of {allowed}, got {p[name]!r}")
    if not integer(p["min_per_stratum"], 0):
        raise Mismatch(f"params.min_per_stratum: expected an integer >= 0, got "
                       f"{p['min_per_stratum']!r}")
    weights = p["risk_weights"]
    if not isinstance(weights, dict):
        raise Mismatch(f"params.risk_weights: expected an object, got {weights!r}")
    for level, w in weights.items():
        if not integer(w, 0):
            raise Mismatch(f"params.risk_weights.{level}: expected an integer >= 0, got {w!r}")
    if not integer(p["teams"], 1):
        raise Mismatch(f"params.teams: expected an integer >= 1, got {p['teams']!r}")
    if not integer(p["members"], 2):
        raise Mismatch(f"params.members: expected an integer >= 2, got {p['members']!r}")


# --- the draw --------------------------------------------------------------------------------

def business_stage(p, strata: dict[str, list[dict[str, str]]], alloc) -> dict[str, Any]:
    chosen = []
    for h in sorted(strata):
        ids = [b["id"] for b in strata[h]]
        chosen += [{"unit": u, "stratum": h, "key": k}
                   for u, k in lowest(p["seed"], "business", h, ids, alloc[h])]
    return {"unit": "business", "frame_size": sum(len(v) for v in strata.values()),
            "strata": [{"stratum": h, "frame_size": len(strata[h]), "allocated": alloc[h]}
                       for h in sorted(strata)],
            "chosen": chosen}


def assign(seed, chosen, region, teams, homes, level, existing) -> dict[str, int]:
    """Visits: most constrained business first, then by key; least-loaded eligible team."""
    barred = {t: {avoided(homes[i], level) for i in members} for t, members in teams.items()}
    load = {t: 0 for t in teams}
    result = dict(existing)
    for t in existing.values():
        load[t] += 1
    new = [u for u in chosen if u not in existing]
    eligible = {u: [t for t in sorted(teams)
                    if not any(region[u].startswith(prefix) for prefix in barred[t])]
                for u in new}
    for u in new:
        if not eligible[u]:
            raise Mismatch(f"assignments: no team may visit {u} (回避 {level})")
    for u in sorted(new, key=lambda u: (len(eligible[u]), key(seed, "visit", "all", u), u)):
        t = min(eligible[u], key=lambda t: (load[t], t))
        result[u] = t
        load[t] += 1
    return result


def upper_stages(p: dict[str, Any], pool: list[dict[str, str]]) -> tuple[list, list]:
    """The province and city stages (all stages but the last); returns them and the pool left."""
    stages = []
    for spec in p["stages"][:-1]:
        if spec["unit"] == "province":
            units = {province(b["region"]) for b in pool}
            n = min(spec["count"], len(units))
            chosen = [{"unit": u, "stratum": "all", "key": k}
                      for u, k in lowest(p["seed"], "province", "all", units, n)]
            strata = [{"stratum": "all", "frame_size": len(units), "allocated": n}]
            pick_area = province
        else:  # city: per_parent cities drawn within each province
            cities: dict[str, set[str]] = {}
            for b in pool:
                cities.setdefault(province(b["region"]), set()).add(city(b["region"]))
            chosen, strata = [], []
            for prov in sorted(cities):
                n = min(spec["per_parent"], len(cities[prov]))
                strata.append({"stratum": prov, "frame_size": len(cities[prov]), "allocated": n})
                chosen += [{"unit": u, "stratum": prov, "key": k}
                           for u, k in lowest(p["seed"], "city", prov, cities[prov], n)]
            pick_area = city
        stages.append({"unit": spec["unit"], "frame_size": sum(s["frame_size"] for s in strata),
                       "strata": strata, "chosen": chosen})
        drawn = {c["unit"] for c in chosen}
        pool = [b for b in pool if pick_area(b["region"]) in drawn]
    return stages, pool


def first_allocation(p: dict[str, Any], sizes: dict[str, int], risk: dict[str, int]
                     ) -> tuple[int, dict[str, int]]:
    """The sample total and its allocation over the strata (docs/draw.md, sections 5-6)."""
    if p["per_stratum"] is not None:
        alloc = {h: min(p["per_stratum"], n) for h, n in sizes.items()}
        return sum(alloc.values()), alloc
    if p["total"] is not None:
        total = p["total"]
    else:
        ppm = round(p["fraction"] * 1_000_000)  # parts per million, ties to even
        total = max(1, (ppm * sum(sizes.values()) + 999_999) // 1_000_000)  # rounded up
    return total, allocate(sizes, total, p["allocation"], p["min_per_stratum"], risk)


def draw_teams(seed: str, homes: dict[str, str], count: int, members: int
               ) -> dict[int, list[dict[str, str]]]:
    """The count * members lowest inspectors, dealt round robin to teams 1..count."""
    if len(homes) < count * members:
        raise Mismatch(f"teams: {count * members} inspectors needed, the frame has {len(homes)}")
    teams: dict[int, list[dict[str, str]]] = {t: [] for t in range(1, count + 1)}
    for i, (u, k) in enumerate(lowest(seed, "inspector", "all", homes, count * members)):
        t = i % count + 1
        teams[t].append({"unit": u, "stratum": f"team-{t}", "key": k})
    return teams


def recompute(p: dict[str, Any], businesses, homes, extensions) -> dict[str, Any]:
    """The whole draw from the parameters and the frame, then each extension in order."""
    seed = p["seed"]
    pool = [b for b in businesses if not p["provinces"] or province(b["region"]) in p["provinces"]]
    stages, pool = upper_stages(p, pool)
    if not pool:
        raise Mismatch("stages: no business of the frame is in scope")
    by_stratum: dict[str, list[dict[str, str]]] = {}
    for b in pool:
        by_stratum.setdefault(stratum_of(b, p["strata"]), []).append(b)
    sizes = {h: len(v) for h, v in by_stratum.items()}
    unweighted = sorted({b["risk"] for b in pool} - set(p["risk_weights"]))
    if unweighted and p["per_stratum"] is None:
        raise Mismatch(f"frame: risk level(s) {', '.join(unweighted)} have no risk weight")
    risk = {h: sum(p["risk_weights"].get(b["risk"], 0) for b in v) for h, v in by_stratum.items()}
    total, alloc = first_allocation(p, sizes, risk)
    final = business_stage(p, by_stratum, alloc)

    teams = draw_teams(seed, homes, p["teams"], p["members"])
    members = {t: [m["unit"] for m in ms] for t, ms in teams.items()}
    region = {b["id"]: b["region"] for b in pool}
    visits = assign(seed, [c["unit"] for c in final["chosen"]], region, members, homes,
                    p["avoidance"], {})

    replayed = []
    for ext in extensions:  # each extension grows the sample, keeping every earlier pick
        if p["per_stratum"] is not None:
            raise Mismatch("extensions: a per_stratum sample cannot be extended")
        total = int(ext["to"])
        alloc = extend_allocation(sizes, alloc, total, p["allocation"], p["min_per_stratum"],
                                  risk)
        final = business_stage(p, by_stratum, alloc)
        visits = assign(seed, [c["unit"] for c in final["chosen"]], region, members, homes,
                        p["avoidance"], visits)
        replayed.append({"to": total, "allocation": dict(sorted(alloc.items()))})

    return {"total": total, "stages": [*stages, final],
            "teams": [{"team": t, "inspectors": teams[t]} for t in sorted(teams)],
            "assignments": visits, "extensions": replayed}


# --- the commitment ("Commitment and the public seed" in docs/draw.md) --------------------------

def committed_seed(frame_sha256: str, beacon_value: str) -> str:
    """SHA-256 of "lookback-seed/1|<frame sha256>|<beacon value>" (UTF-8), read as a big-endian
    integer and written in decimal."""
    text = "lookback-seed/1|" + frame_sha256 + "|" + beacon_value
    return str(int(hashlib.sha256(text.encode("utf-8")).hexdigest(), 16))


def check_commitment(record: dict[str, Any], frame_digest: str) -> str:
    """Check the record's commitment; returns how the seed was fixed, for the OK line."""
    c = record.get("commitment")
    if c is None:
        return "seed not committed"
    if not isinstance(c, dict) or set(c) != COMMITMENT_KEYS:
        raise Mismatch(f"commitment: expected the fields {sorted(COMMITMENT_KEYS)}, got "
                       f"{sorted(c) if isinstance(c, dict) else c!r}")
    beacon = c["beacon"]
    if not isinstance(beacon, dict) or set(beacon) != BEACON_KEYS:
        raise Mismatch(f"commitment.beacon: expected the fields {sorted(BEACON_KEYS)}")
    same("commitment.seed_derivation", SEED_DERIVATION, c["seed_derivation"])
    if c["frame_sha256"] != frame_digest:
        raise Mismatch(f"commitment.frame_sha256: the frame file hashes to {frame_digest}, the "
                       f"commitment says {c['frame_sha256']}")
    if not isinstance(beacon["value"], str) or not beacon["value"]:
        raise Mismatch("commitment.beacon.value: missing")
    expected = committed_seed(c["frame_sha256"], beacon["value"])
    if record["seed"] != expected:
        raise Mismatch(f"seed: the committed frame hash and the beacon value give {expected}, "
                       f"the record says {record['seed']}")
    try:
        utc = datetime.strptime(c["committed_at"], "%Y-%m-%dT%H:%M:%SZ")
        published = date.fromisoformat(beacon["published_on"])
    except (TypeError, ValueError) as e:
        raise Mismatch(f"commitment: committed_at or beacon.published_on is malformed "
                       f"({e})") from None
    china_day = (utc + timedelta(hours=8)).date()  # China Standard Time, UTC+8 all year
    same("commitment.committed_on (the China date of committed_at)", china_day.isoformat(),
         c["committed_on"])
    if not china_day < published:
        raise Mismatch(f"commitment: committed on {china_day} (China), which is not before the "
                       f"beacon's published_on {published}")
    return (f"seed committed on {china_day} (China) before beacon {beacon['name']!r} published "
            f"on {published}, derived from the frame hash and the beacon value")


# --- comparing -------------------------------------------------------------------------------

def equal(a: Any, b: Any) -> bool:
    """Equal as JSON values, types included: 126.0 is not 126, true is not 1."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def same(what: str, recomputed: Any, recorded: Any) -> None:
    if not equal(recomputed, recorded):
        raise Mismatch(f"{what}: recomputed {recomputed!r}, recorded {recorded!r}")


def compare_picks(where: str, recomputed: list, recorded: list) -> None:
    for i, (mine, theirs) in enumerate(zip(recomputed, recorded, strict=False)):
        if not isinstance(theirs, dict) or set(theirs) != set(mine):
            raise Mismatch(f"{where}, rank {i + 1}: expected the fields unit, stratum, key, "
                           f"recorded {theirs!r}")
        if not equal(mine, theirs):
            raise Mismatch(f"{where}, stratum {mine['stratum']}, rank {i + 1}: recomputed unit "
                           f"{mine['unit']} (key {mine['key']}), recorded unit "
                           f"{theirs.get('unit')} in stratum {theirs.get('stratum')} "
                           f"(key {theirs.get('key')})")
    same(f"{where}: number chosen", len(recomputed), len(recorded))


def check(record: dict[str, Any], frame_path: str) -> str:
    same("algorithm", ALGORITHM, record.get("algorithm"))
    same("record fields", sorted(RECORD_KEYS),
         sorted(set(record) - {"campaign", "commitment"}))
    p = record["params"]
    same("params fields", sorted(PARAM_KEYS), sorted(p))
    check_params(p)
    same("seed (params.seed against seed)", p["seed"], record["seed"])
    digest, businesses, homes = read_frame(frame_path)
    if digest != record["frame"]["sha256"]:
        raise Mismatch(f"frame: the frame file hashes to {digest}, the record says "
                       f"{record['frame']['sha256']} (a row was changed, added or removed)")
    same("frame", {"sha256": digest, "businesses": len(businesses), "inspectors": len(homes)},
         record["frame"])
    seed_note = check_commitment(record, digest)

    again = recompute(p, businesses, homes, record["extensions"])
    same("total", again["total"], record["total"])
    same("number of stages", len(again["stages"]), len(record["stages"]))
    for n, (mine, theirs) in enumerate(zip(again["stages"], record["stages"], strict=True), 1):
        where = f"stage {n} ({mine['unit']})"
        same(f"{where}: fields", sorted(STAGE_KEYS), sorted(theirs))
        same(f"{where}: unit", mine["unit"], theirs["unit"])
        same(f"{where}: frame size", mine["frame_size"], theirs["frame_size"])
        for i, (s, t) in enumerate(zip(mine["strata"], theirs["strata"], strict=False)):
            same(f"{where}, stratum {s['stratum']} (row {i + 1})", s, t)
        same(f"{where}: number of strata", len(mine["strata"]), len(theirs["strata"]))
        compare_picks(where, mine["chosen"], theirs["chosen"])
    same("number of teams", len(again["teams"]), len(record["teams"]))
    for mine, theirs in zip(again["teams"], record["teams"], strict=True):
        same(f"team {mine['team']}: fields", sorted(TEAM_KEYS), sorted(theirs))
        same(f"team {mine['team']}: number", mine["team"], theirs["team"])
        compare_picks(f"team {mine['team']} (inspectors)", mine["inspectors"],
                      theirs["inspectors"])
    recorded = {}
    for a in record["assignments"]:
        if a["uscc"] in recorded or set(a) != {"uscc", "team"}:
            raise Mismatch(f"assignments: bad or repeated entry {a!r}")
        recorded[a["uscc"]] = a["team"]
    for u in sorted(set(again["assignments"]) | set(recorded)):
        mine, theirs = again["assignments"].get(u), recorded.get(u)
        if not equal(mine, theirs):
            raise Mismatch(f"assignment of business {u}: recomputed team {mine}, recorded team "
                           f"{theirs}")
    same("assignments order", sorted(recorded), [a["uscc"] for a in record["assignments"]])
    same("number of extensions", len(again["extensions"]), len(record["extensions"]))
    for i, (mine, theirs) in enumerate(zip(again["extensions"], record["extensions"],
                                           strict=True), 1):
        same(f"extension {i}", mine, theirs)

    parts = [f"{s['unit']} {len(s['chosen'])} of {s['frame_size']}" for s in again["stages"]]
    return (f"OK: frame {digest} ({len(businesses)} businesses, {len(homes)} inspectors); "
            f"drawn: {', '.join(parts)}; {len(again['teams'])} teams of {p['members']}; "
            f"{len(again['assignments'])} visits assigned; "
            f"{len(again['extensions'])} extension(s) replayed; {seed_note}")


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    try:
        with open(argv[1], encoding="utf-8-sig") as f:
            record = json.load(f)
        print(check(record, argv[2]))
    except OSError as e:
        print(f"cannot read {e.filename}: {e.strerror}", file=sys.stderr)
        return 2
    except Mismatch as e:
        print(f"DIFFERENT: {e}")
        return 1
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        print(f"DIFFERENT: the record or frame is malformed ({type(e).__name__}: {e})")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
