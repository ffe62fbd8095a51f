"""The double-random draw (双随机一公开): businesses and inspectors, verifiable by anyone.

Every unit is ranked by a keyed hash, ``HMAC-SHA256(key=seed, msg="stage|stratum|unit")`` in lower
case hex, and each stratum takes its lowest keys (ties, which need a hash collision, fall back to
the unit id). The result depends only on the seed and the *set* of units: not on row order,
database, platform or Python version. Allocation uses integer arithmetic only (largest remainder
with exact integer remainders), so any language reproduces it. ``docs/draw.md`` describes each
step; ``docs/verify_draw.py`` re-implements it with the standard library alone.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from operator import attrgetter
from typing import Any, TypeVar

from domain.clock import china_date
from domain.errors import ConflictError, InputError
from domain.regions import city_of, province_of

ALGORITHM = "lookback-draw/1"


def unit_key(seed: str, stage: str, stratum: str, unit: str) -> str:
    """The keyed hash that ranks ``unit`` within ``stratum`` at ``stage``."""
    return hmac.digest(seed.encode(), f"{stage}|{stratum}|{unit}".encode(), "sha256").hex()


#: How a committed seed is made from the frame hash and a public beacon value (docs/draw.md,
#: "Commitment and the public seed").
SEED_DERIVATION = "lookback-seed/1"
#: The commitment's time as written in the record: a UTC instant to the second.
COMMITTED_AT_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
BEACON_VALUE_MAX = 500


def beacon_seed(frame_sha256: str, beacon_value: str) -> str:
    """The seed of a committed draw: the decimal form of the 256-bit big-endian integer
    ``SHA-256("lookback-seed/1|" + frame SHA-256 (lower-case hex) + "|" + beacon value)``, UTF-8.

    Neither input is known to whoever could choose the other: the frame is frozen and its hash
    committed before the beacon is published, and the beacon is drawn by someone else."""
    message = f"{SEED_DERIVATION}|{frame_sha256}|{beacon_value}".encode()
    return str(int.from_bytes(hashlib.sha256(message).digest(), "big"))


_COMMITMENT_FIELDS = {"seed_derivation", "frame_sha256", "committed_at", "committed_on", "beacon"}
_BEACON_FIELDS = {"name", "published_on", "value"}


def commitment_difference(record: Mapping[str, Any]) -> str | None:
    """What is wrong with a record's ``commitment`` (``None``: it holds, or there is none).

    Checked: the derivation is ``lookback-seed/1``; the committed frame hash is the record's;
    the seed derives from that hash and the beacon value; ``committed_on`` is the China date of
    ``committed_at``; and that date is before the beacon's ``published_on``."""
    c = record.get("commitment")
    if c is None:
        return None
    if not isinstance(c, Mapping) or set(c) != _COMMITMENT_FIELDS:
        return (f"commitment: expected an object with the fields "
                f"{', '.join(sorted(_COMMITMENT_FIELDS))}, or null")
    if not isinstance(c["beacon"], Mapping) or set(c["beacon"]) != _BEACON_FIELDS:
        return f"commitment.beacon: expected the fields {', '.join(sorted(_BEACON_FIELDS))}"
    if c.get("seed_derivation") != SEED_DERIVATION:
        return (f"commitment.seed_derivation: record says {c.get('seed_derivation')!r}, this "
                f"engine implements {SEED_DERIVATION!r}")
    frame = record.get("frame")
    recorded_frame = frame.get("sha256") if isinstance(frame, Mapping) else None
    if c.get("frame_sha256") != recorded_frame:
        return (f"commitment.frame_sha256: the commitment names frame {c.get('frame_sha256')}, "
                f"the draw used frame {recorded_frame}")
    beacon = c["beacon"]
    value = beacon.get("value")
    if not isinstance(value, str) or not value:
        return "commitment.beacon.value: missing (the beacon's value was never entered)"
    derived = beacon_seed(str(c["frame_sha256"]), value)
    if record.get("seed") != derived:
        return (f"seed: derived from the committed frame hash and the beacon value "
                f"({SEED_DERIVATION}) it is {derived}, the record says {record.get('seed')!r}")
    try:
        at = datetime.strptime(str(c.get("committed_at")), COMMITTED_AT_FORMAT)
        published = date.fromisoformat(str(beacon.get("published_on")))
    except ValueError as e:
        return f"commitment: committed_at or beacon.published_on is malformed ({e})"
    on = china_date(at.replace(tzinfo=UTC))
    if str(c.get("committed_on")) != on.isoformat():
        return (f"commitment.committed_on: record says {c.get('committed_on')!r}, the China date "
                f"of committed_at {c.get('committed_at')} is {on.isoformat()}")
    if on >= published:
        return (f"commitment: committed on {on.isoformat()} (China), not before the beacon's "
                f"published_on {published.isoformat()}: the seed was not fixed in advance")
    return None


def commitment_summary(record: Mapping[str, Any]) -> tuple[str, str]:
    """One line (en, zh) on how the seed was fixed, for the verification's output."""
    c = record.get("commitment")
    if not isinstance(c, Mapping):
        return "seed not committed", "随机种子未事先承诺"
    b = c["beacon"]
    return (f"seed committed: frame hash committed on {c['committed_on']} (China), before "
            f"beacon \"{b['name']}\" published on {b['published_on']}",
            f"随机种子已事先承诺：抽样框哈希于{c['committed_on']}（北京时间）承诺，早于"
            f"“{b['name']}”{b['published_on']}公布")


_T = TypeVar("_T", bound=tuple[str, ...])


def _smallest(keyed: list[_T], n: int) -> list[_T]:
    """The ``n`` smallest (key, unit, …) tuples in order: a heap when few of many are wanted."""
    return heapq.nsmallest(n, keyed) if n * 8 < len(keyed) else sorted(keyed)[:n]


def lowest(seed: str, stage: str, stratum: str, units: Iterable[str], n: int) -> list[tuple[str, str]]:
    """The ``n`` units with the lowest keys, as (unit, key) in rank order (ties by unit id)."""
    key = seed.encode()
    prefix = f"{stage}|{stratum}|"
    digest = hmac.digest
    keyed = [(digest(key, (prefix + u).encode(), "sha256").hex(), u) for u in units]
    return [(u, k) for k, u in _smallest(keyed, n)]


def largest_remainder(weights: Mapping[str, int], total: int,
                      caps: Mapping[str, int]) -> dict[str, int]:
    """Split ``total`` over strata in proportion to integer ``weights``, never above ``caps``.

    Each stratum gets floor(total * w / W); the units left over go one each to the largest
    remainders (total * w mod W), ties to the smaller stratum id. If that gives some strata more
    than their cap, those are fixed at their cap and the rest is split again among the others
    (a stratum whose share exactly meets its cap keeps it).
    """
    if total > sum(caps.values()):
        raise ValueError("total exceeds the capacity of the strata")
    alloc = dict.fromkeys(weights, 0)
    open_ = {h for h in weights if caps[h] > 0}
    remaining = total
    while remaining > 0 and open_:
        w_total = sum(weights[h] for h in open_)
        if w_total == 0:
            # Zero weight everywhere left: spread evenly.
            share = dict.fromkeys(open_, 1)
            w_total = len(open_)
        else:
            share = {h: weights[h] for h in open_}
        quota = {h: remaining * share[h] // w_total for h in open_}
        rem = {h: remaining * share[h] % w_total for h in open_}
        leftover = remaining - sum(quota.values())
        for h in sorted(open_, key=lambda h: (-rem[h], h))[:leftover]:
            quota[h] += 1
        capped = {h for h in open_ if alloc[h] + quota[h] > caps[h]}
        if not capped:
            for h in open_:
                alloc[h] += quota[h]
            remaining = 0
            break
        for h in sorted(capped):
            remaining -= caps[h] - alloc[h]
            alloc[h] = caps[h]
        open_ -= capped
    return alloc


def allocate(sizes: Mapping[str, int], total: int, *, method: str, minimum: int = 0,
             weights: Mapping[str, int] | None = None) -> dict[str, int]:
    """Sample size per stratum. ``weights`` are the strata's risk weights for ``risk_weighted``."""
    population = sum(sizes.values())
    if total > population:
        raise InputError(f"the sample ({total}) is larger than the frame ({population})",
                         f"样本量（{total}）大于抽样框（{population}）")
    base = {h: min(minimum, n) for h, n in sizes.items()}
    if sum(base.values()) > total:
        raise InputError(
            f"min_per_stratum {minimum} over {len(sizes)} strata needs {sum(base.values())} "
            f"businesses, more than the sample of {total}",
            f"每层最少{minimum}个、共{len(sizes)}层，需要{sum(base.values())}个主体，超过样本量{total}")
    if method == "proportional":
        w = dict(sizes)
    elif method == "equal":
        w = {h: 1 if sizes[h] else 0 for h in sizes}
    elif method == "risk_weighted":
        if weights is None:
            raise ValueError("risk_weighted needs weights")
        w = dict(weights)
    else:
        raise ValueError(f"unknown allocation {method!r}")
    extra = largest_remainder(w, total - sum(base.values()),
                              {h: sizes[h] - base[h] for h in sizes})
    return {h: base[h] + extra[h] for h in sizes}


def extend_allocation(sizes: Mapping[str, int], previous: Mapping[str, int], total: int, *,
                      method: str, minimum: int = 0,
                      weights: Mapping[str, int] | None = None) -> dict[str, int]:
    """A larger allocation that never takes a unit away from a stratum (so earlier picks stay).

    The extra units go first to strata below the allocation a fresh draw of ``total`` would give
    (in proportion to how far below), then in proportion to what each stratum has left.
    """
    before = sum(previous.values())
    if total <= before:
        raise InputError(f"the sample already has {before} businesses; --to must be larger",
                         f"样本已有{before}个主体；--to必须更大")
    target = allocate(sizes, total, method=method, minimum=minimum, weights=weights)
    deficit = {h: max(0, target[h] - previous[h]) for h in sizes}
    room = {h: sizes[h] - previous[h] for h in sizes}
    extra = total - before
    if sum(deficit.values()) >= extra:
        add = largest_remainder(deficit, extra, deficit)
    else:
        add = dict(deficit)
        left = {h: room[h] - deficit[h] for h in sizes}
        more = largest_remainder(left, extra - sum(deficit.values()), left)
        add = {h: add[h] + more[h] for h in sizes}
    return {h: previous[h] + add[h] for h in sizes}


# --- the frame -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class FrameBusiness:
    uscc: str
    region_code: str
    category: str
    risk_level: str


@dataclass(frozen=True, slots=True)
class FrameInspector:
    inspector_id: str
    home_region: str


FRAME_HEADER = "kind,id,region,category,risk_level"


def frame_lines(businesses: Iterable[FrameBusiness],
                inspectors: Iterable[FrameInspector]) -> list[str]:
    """The canonical frame: one CSV line per unit, sorted (this is what frame.csv holds)."""
    lines = [f"business,{b.uscc},{b.region_code},{b.category},{b.risk_level}" for b in businesses]
    lines += [f"inspector,{i.inspector_id},{i.home_region},," for i in inspectors]
    lines.sort()
    return lines


def frame_sha256(lines: Iterable[str]) -> str:
    """SHA-256 of the sorted frame lines, each followed by a newline (UTF-8)."""
    h = hashlib.sha256()
    for line in lines:
        h.update(line.encode() + b"\n")
    return h.hexdigest()


def split_frame_text(text: str) -> list[str]:
    r"""A frame file's lines: split at ``\n``, ``\r\n`` or ``\r`` only (docs/draw.md, "Reading a
    frame file"). ``str.splitlines`` would also split at ``\v``, ``\f``, ``\x1c``-``\x1e``,
    ``\x85``, U+2028 and U+2029, which are characters of a line here."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def parse_frame(lines: Iterable[str]) -> tuple[list[FrameBusiness], list[FrameInspector]]:
    """Read frame lines back (the header line, if present, is skipped). A (kind, id) that
    appears twice makes the frame malformed: the registers key businesses by USCC and inspectors
    by id, so a frame Lookback freezes never repeats one."""
    businesses, inspectors = [], []
    rows = list(lines)
    for n, line in enumerate(rows, start=1):
        line = line.rstrip("\r\n")
        if not line or line == FRAME_HEADER:
            continue
        parts = line.split(",")
        if len(parts) != 5 or parts[0] not in ("business", "inspector"):
            raise InputError(f"frame line {n}: expected {FRAME_HEADER}, got {line!r}",
                             f"抽样框第{n}行：应为{FRAME_HEADER}，实际为“{line}”")
        if parts[0] == "business":
            businesses.append(FrameBusiness(parts[1], parts[2], parts[3], parts[4]))
        else:
            inspectors.append(FrameInspector(parts[1], parts[2]))
    if (len({b.uscc for b in businesses}) != len(businesses)
            or len({i.inspector_id for i in inspectors}) != len(inspectors)):
        _repeated_id(rows)
    return businesses, inspectors


def _repeated_id(lines: list[str]) -> None:
    """Raise the error naming the first line whose (kind, id) an earlier line already has."""
    seen: set[tuple[str, str]] = set()
    for n, line in enumerate(lines, start=1):
        kind, _, rest = line.partition(",")
        if kind in ("business", "inspector"):
            uid = rest.partition(",")[0]
            if (kind, uid) in seen:
                what_zh = "主体" if kind == "business" else "督查人员"
                raise InputError(f"frame line {n}: {kind} {uid} appears more than once (an id "
                                 "appears once per kind)",
                                 f"抽样框第{n}行：{what_zh}{uid}重复出现（每类单元的编号只能出现一次）",
                                 code="duplicate_frame_id")
            seen.add((kind, uid))


# --- the draw --------------------------------------------------------------------------------

@dataclass
class DrawParams:
    """Everything the draw depends on besides the frame; stored in the record as ``params``."""

    seed: str
    stages: list[dict[str, Any]]  # [{"unit": "province", "count": n}, {"unit": "city", ...}, ...]
    provinces: list[str]  # given provinces (empty = every province in the frame)
    total: int | None
    fraction: float | None
    per_stratum: int | None
    strata: list[str]
    allocation: str
    min_per_stratum: int
    risk_weights: dict[str, int]
    teams: int
    members: int
    avoidance: str

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DrawParams:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__})


@dataclass
class Pick:
    unit: str
    stratum: str
    key: str

    def as_dict(self) -> dict[str, str]:
        return {"unit": self.unit, "stratum": self.stratum, "key": self.key}


@dataclass
class StageResult:
    unit: str
    frame_size: int
    strata: dict[str, int]  # stratum -> frame size
    allocation: dict[str, int]
    chosen: list[Pick]

    def as_dict(self) -> dict[str, Any]:
        return {"unit": self.unit, "frame_size": self.frame_size,
                "strata": [{"stratum": h, "frame_size": n, "allocated": self.allocation[h]}
                           for h, n in sorted(self.strata.items())],
                "chosen": [p.as_dict() for p in self.chosen]}


@dataclass
class Draw:
    """The outcome of a draw: stages with their picks, teams, and visit assignments."""

    params: DrawParams
    frame_sha256: str
    frame_businesses: int
    frame_inspectors: int
    stages: list[StageResult]
    teams: dict[int, list[Pick]]  # team number -> inspectors (stratum = "team-N")
    assignments: dict[str, int]  # uscc -> team number
    total: int
    extensions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def businesses(self) -> list[Pick]:
        return self.stages[-1].chosen

    def as_record(self) -> dict[str, Any]:
        return {
            "algorithm": ALGORITHM,
            "seed": self.params.seed,
            "params": self.params.as_dict(),
            "frame": {"sha256": self.frame_sha256, "businesses": self.frame_businesses,
                      "inspectors": self.frame_inspectors},
            "total": self.total,
            "stages": [s.as_dict() for s in self.stages],
            "teams": [{"team": t, "inspectors": [p.as_dict() for p in members]}
                      for t, members in sorted(self.teams.items())],
            "assignments": [{"uscc": u, "team": t} for u, t in sorted(self.assignments.items())],
            "extensions": self.extensions,
        }


def stratum_of(b: FrameBusiness, fields: Iterable[str]) -> str:
    """The stratum id of a business, e.g. ``city=330100|risk_level=C`` (``all`` with no fields)."""
    parts = []
    for f in fields:
        if f == "province":
            parts.append(f"province={province_of(b.region_code)}")
        elif f == "city":
            parts.append(f"city={city_of(b.region_code)}")
        elif f == "county":
            parts.append(f"county={b.region_code}")
        elif f == "category":
            parts.append(f"category={b.category}")
        elif f == "risk_level":
            parts.append(f"risk_level={b.risk_level}")
    return "|".join(parts) or "all"


_AVOID_DIGITS = {"province": 2, "city": 4, "county": 6}


def avoided_prefix(home_region: str, level: str) -> str:
    """The region-code prefix an inspector must never visit (回避).

    At ``level`` city that is the first 4 digits of their home code, at province 2, at county 6;
    but a home known only at a coarser level (a province code ``XX0000`` or a city code
    ``XXXX00``) avoids that whole coarser area, since we cannot tell which part is home.
    """
    known = 2 if home_region.endswith("0000") else 4 if home_region.endswith("00") else 6
    return home_region[: min(_AVOID_DIGITS[level], known)]


def _pool_after(params: DrawParams, businesses: list[FrameBusiness],
                upper: list[StageResult]) -> list[FrameBusiness]:
    """The businesses left for the final stage once the upper stages have drawn their units."""
    pool = businesses
    if params.provinces:
        given = set(params.provinces)
        pool = [b for b in pool if province_of(b.region_code) in given]
    for st in upper:
        chosen = {p.unit for p in st.chosen}
        area = province_of if st.unit == "province" else city_of
        pool = [b for b in pool if area(b.region_code) in chosen]
    return pool


def _upper_stages(params: DrawParams, businesses: list[FrameBusiness]) -> list[StageResult]:
    """Draw the province and city stages (the units above businesses)."""
    seed = params.seed
    stages: list[StageResult] = []
    for spec in params.stages[:-1]:
        pool = _pool_after(params, businesses, stages)
        if spec["unit"] == "province":
            in_scope = {province_of(b.region_code) for b in pool}
            n = min(spec["count"], len(in_scope))
            chosen = lowest(seed, "province", "all", in_scope, n)
            stages.append(StageResult("province", len(in_scope), {"all": len(in_scope)},
                                      {"all": n}, [Pick(u, "all", k) for u, k in chosen]))
        else:  # city: drawn within each province still in the pool
            by_prov: dict[str, set[str]] = {}
            for b in pool:
                by_prov.setdefault(province_of(b.region_code), set()).add(city_of(b.region_code))
            strata: dict[str, int] = {}
            alloc: dict[str, int] = {}
            picks: list[Pick] = []
            for p in sorted(by_prov):
                n = min(spec["per_parent"], len(by_prov[p]))
                strata[p], alloc[p] = len(by_prov[p]), n
                picks += [Pick(u, p, k) for u, k in lowest(seed, "city", p, by_prov[p], n)]
            stages.append(StageResult("city", sum(strata.values()), strata, alloc, picks))
    return stages


_Keyed = dict[str, list[tuple[str, str, str]]]  # stratum -> [(key, uscc, region)]


def _keyed_strata(seed: str, params: DrawParams,
                  pool: list[FrameBusiness]) -> tuple[_Keyed, dict[str, dict[str, int]]]:
    """One pass over the pool: each business's stratum and key; and risk-level counts per
    stratum (exact counts only for ``risk_weighted``, which needs them; otherwise just which
    levels occur, for the check that every level has a weight).

    The stratum id depends only on (region, category, risk level), so it is computed once per
    distinct combination; the key is HMAC(seed, "business|stratum|uscc") as ``lowest`` makes it.
    """
    fields = tuple(params.strata)
    secret = seed.encode()
    digest = hmac.digest
    attrs_of = attrgetter("region_code", "category", "risk_level")
    # Per distinct (region, category, risk): the key prefix, its stratum's list and counts.
    cache: dict[tuple[str, str, str],
                tuple[str, list[tuple[str, str, str]], dict[str, int]]] = {}
    keyed: _Keyed = {}
    counts: dict[str, dict[str, int]] = {}
    for b in pool:
        attrs = attrs_of(b)
        entry = cache.get(attrs)
        if entry is None:
            h = stratum_of(b, fields)
            count = counts.setdefault(h, {})
            count.setdefault(b.risk_level, 0)  # which levels occur, counted below if needed
            entry = cache[attrs] = (f"business|{h}|", keyed.setdefault(h, []), count)
        prefix, group, _count = entry
        # (key, uscc) decide the rank; the region rides along and is never compared
        # (a USCC appears once in a frame).
        group.append((digest(secret, (prefix + b.uscc).encode(), "sha256").hex(), b.uscc,
                      b.region_code))
    if params.allocation == "risk_weighted":
        for b in pool:
            cache[attrs_of(b)][2][b.risk_level] += 1
    return keyed, counts


def _risk_weights(params: DrawParams, counts: dict[str, dict[str, int]],
                  pool: list[FrameBusiness]) -> dict[str, int]:
    """Each stratum's summed risk weight (only ``risk_weighted`` uses them; the others get an
    empty map); every risk level in the frame must have a weight whatever the method."""
    weights = params.risk_weights
    unknown = {level for c in counts.values() for level in c} - set(weights)
    if unknown:
        b = next(u for u in pool if u.risk_level in unknown)
        raise InputError(f"business {b.uscc} has risk level {b.risk_level!r}, which has no "
                         "weight", f"主体{b.uscc}的风险等级“{b.risk_level}”没有权重")
    if params.allocation != "risk_weighted":
        return {}
    return {h: sum(weights[level] * n for level, n in c.items()) for h, c in counts.items()}


def _picks(keyed: _Keyed, alloc: Mapping[str, int]) -> tuple[list[Pick], dict[str, str]]:
    """The chosen businesses of every stratum (the lowest keys) and their regions."""
    picks: list[Pick] = []
    region_of: dict[str, str] = {}
    for h in sorted(keyed):
        n = alloc[h]
        if n == 0:
            continue
        for k, u, region in _smallest(keyed[h], n):
            picks.append(Pick(u, h, k))
            region_of[u] = region
    return picks, region_of


def draw(params: DrawParams, businesses: list[FrameBusiness],
         inspectors: list[FrameInspector], *, frame_hash: str | None = None) -> Draw:
    """Run the whole draw on a frozen frame (``frame_hash``: its SHA-256 when already known)."""
    seed = params.seed
    stages = _upper_stages(params, businesses)
    pool = _pool_after(params, businesses, stages)
    keyed, counts = _keyed_strata(seed, params, pool)
    sizes = {h: len(v) for h, v in keyed.items()}
    population = len(pool)
    if population == 0:
        raise InputError("the frame holds no business in scope; check the plan's scope and the "
                         "register", "抽样框中没有符合范围的主体；请检查计划范围和名录")
    if params.per_stratum is not None:
        alloc = {h: min(params.per_stratum, n) for h, n in sizes.items()}
        total = sum(alloc.values())
    else:
        if params.total is not None:
            total = params.total
        else:
            assert params.fraction is not None
            ppm = round(params.fraction * 1_000_000)  # the fraction in parts per million
            total = max(1, (ppm * population + 999_999) // 1_000_000)
        risk_w = _risk_weights(params, counts, pool)
        alloc = allocate(sizes, total, method=params.allocation, minimum=params.min_per_stratum,
                         weights=risk_w)
    picks, region_of = _picks(keyed, alloc)
    stages.append(StageResult("business", population, sizes, alloc, picks))
    teams = draw_teams(seed, inspectors, params.teams, params.members)
    home_of = {i.inspector_id: i.home_region for i in inspectors}
    assignments = assign_visits(seed, [p.unit for p in picks], region_of, teams, home_of,
                                params.avoidance, {})
    sha = frame_hash or frame_sha256(frame_lines(businesses, inspectors))
    return Draw(params, sha, len(businesses), len(inspectors), stages, teams, assignments, total)


def draw_teams(seed: str, inspectors: list[FrameInspector], count: int,
               members: int) -> dict[int, list[Pick]]:
    """Rank the inspectors; the first ``count * members`` fill teams 1..count in turn."""
    need = count * members
    if len(inspectors) < need:
        raise InputError(
            f"{count} teams of {members} need {need} active inspectors; the register has "
            f"{len(inspectors)}",
            f"{count}个督查组、每组{members}人需要{need}名在职督查人员；名录中只有{len(inspectors)}名")
    ranked = lowest(seed, "inspector", "all", (i.inspector_id for i in inspectors), need)
    teams: dict[int, list[Pick]] = {t: [] for t in range(1, count + 1)}
    for i, (unit, key) in enumerate(ranked):
        t = i % count + 1
        teams[t].append(Pick(unit, f"team-{t}", key))
    return teams


def assign_visits(seed: str, usccs: list[str], region_of: Mapping[str, str],
                  teams: Mapping[int, list[Pick]], home_of: Mapping[str, str], avoidance: str,
                  existing: Mapping[str, int]) -> dict[str, int]:
    """Match each business to a team with no member from its home area (回避), balancing load.

    Businesses are taken most-constrained first (fewest eligible teams), then by keyed hash; each
    goes to the eligible team with the fewest visits, ties to the lower team number. ``existing``
    assignments (from before an extension) are kept and count towards the load.
    """
    blocked = {t: {avoided_prefix(home_of[p.unit], avoidance) for p in members}
               for t, members in teams.items()}
    load = dict.fromkeys(teams, 0)
    result = dict(existing)
    for t in existing.values():
        load[t] += 1
    todo = [u for u in usccs if u not in existing]
    eligible: dict[str, list[int]] = {}
    for u in todo:
        code = region_of[u]
        area = code[: _AVOID_DIGITS[avoidance]].ljust(6, "0")
        eligible[u] = [t for t in sorted(teams)
                       if not any(code.startswith(prefix) for prefix in blocked[t])]
        if not eligible[u]:
            raise ConflictError(
                f"no team can visit {u}: every team has an inspector whose home "
                f"{avoidance} is {area} (回避); add inspectors from elsewhere or more teams",
                f"没有督查组可检查{u}：每个组都有家乡{ {'city': '城市', 'province': '省份', 'county': '区县'}[avoidance]}为{area}的督查人员（回避）；"
                "请增加其他地区的督查人员或督查组",
                code="no_eligible_team",
            )
    order = sorted(todo, key=lambda u: (len(eligible[u]), unit_key(seed, "visit", "all", u), u))
    for u in order:
        t = min(eligible[u], key=lambda t: (load[t], t))
        result[u] = t
        load[t] += 1
    return result


def extend(previous: Draw, businesses: list[FrameBusiness], inspectors: list[FrameInspector],
           to: int) -> Draw:
    """Enlarge the business sample to ``to`` keeping every earlier pick and assignment."""
    params = previous.params
    last = previous.stages[-1]
    if params.per_stratum is not None:
        raise InputError("a per-stratum sample cannot be extended to a total; change the plan",
                         "按层固定样本量的抽样不能扩充到总量；请修改计划")
    pool = _pool_after(params, businesses, previous.stages[:-1])
    keyed, counts = _keyed_strata(params.seed, params, pool)
    sizes = {h: len(v) for h, v in keyed.items()}
    risk_w = _risk_weights(params, counts, pool)
    alloc = extend_allocation(sizes, last.allocation, to, method=params.allocation,
                              minimum=params.min_per_stratum, weights=risk_w)
    picks, region_of = _picks(keyed, alloc)
    home_of = {i.inspector_id: i.home_region for i in inspectors}
    assignments = assign_visits(params.seed, [p.unit for p in picks], region_of, previous.teams,
                                home_of, params.avoidance, previous.assignments)
    stages = [*previous.stages[:-1],
              StageResult("business", last.frame_size, sizes, alloc, picks)]
    ext = [*previous.extensions, {"to": to, "allocation": dict(sorted(alloc.items()))}]
    return Draw(params, previous.frame_sha256, previous.frame_businesses,
                previous.frame_inspectors, stages, previous.teams, assignments, to, ext)


def replay(params: DrawParams, businesses: list[FrameBusiness], inspectors: list[FrameInspector],
           extensions: Iterable[Mapping[str, Any]], *, frame_hash: str | None = None) -> Draw:
    """The draw and then each recorded extension, in order: what a verifier recomputes."""
    d = draw(params, businesses, inspectors, frame_hash=frame_hash)
    for ext in extensions:
        d = extend(d, businesses, inspectors, int(ext["to"]))
    return d


# --- checking a record's parameters (docs/draw.md, "Parameter values") -----------------------

PARAM_FIELDS = ("seed", "stages", "provinces", "total", "fraction", "per_stratum", "strata",
                "allocation", "min_per_stratum", "risk_weights", "teams", "members", "avoidance")
STRATA_NAMES = ("province", "city", "county", "category", "risk_level")
ALLOCATIONS = ("proportional", "equal", "risk_weighted")
AVOIDANCE_LEVELS = ("city", "province", "county")


def _is_int(value: Any, minimum: int) -> bool:
    """A JSON integer (not ``true``, not ``126.0``) of at least ``minimum``."""
    return type(value) is int and value >= minimum


def _is_digits(value: str) -> bool:
    return value != "" and all("0" <= ch <= "9" for ch in value)


def _stages_difference(stages: Any) -> str | None:
    """``[{"unit": "province", "count": n}]``, then ``[{"unit": "city", "per_parent": m}]``,
    each optional, then ``{"unit": "business"}``; exactly these keys, n and m at least 1."""
    if not isinstance(stages, list) or not stages:
        return ('params.stages: expected a list of stages ending with {"unit": "business"}, got '
                f"{stages!r}")
    shapes = {"province": "count", "city": "per_parent"}
    for i, st in enumerate(stages):
        where = f"params.stages[{i}]"
        if not isinstance(st, Mapping):
            return f"{where}: expected an object, got {st!r}"
        last = i == len(stages) - 1
        unit = st.get("unit")
        if last:
            if unit != "business" or set(st) != {"unit"}:
                return (f'{where}: the last stage must be exactly {{"unit": "business"}}, got '
                        f"{dict(st)!r}")
            continue
        if unit not in ("province", "city"):
            return (f'{where}.unit: a stage before the last is "province" or "city", got '
                    f"{unit!r}")
        size = shapes[unit]
        if set(st) != {"unit", size}:
            return f"{where}: a {unit} stage has exactly the keys unit and {size}, got {sorted(st)}"
        if not _is_int(st[size], 1):
            return f"{where}.{size}: expected an integer >= 1, got {st[size]!r}"
    units = [st["unit"] for st in stages[:-1]]
    if units not in ([], ["province"], ["city"], ["province", "city"]):
        return f"params.stages: the stages before the last go province, then city, got {units}"
    return None


def params_difference(params: Any) -> str | None:
    """What makes a record's ``params`` break the table of docs/draw.md, "Parameter values"
    (``None``: every value is allowed). The message names the parameter. The draw is only defined
    for these values: a record holding anything else does not come from Lookback."""
    if not isinstance(params, Mapping):
        return f"params: expected an object, got {params!r}"
    if set(params) != set(PARAM_FIELDS):
        missing = sorted(set(PARAM_FIELDS) - set(params))
        extra = sorted(map(str, set(params) - set(PARAM_FIELDS)))
        return (f"params: expected exactly the fields {', '.join(PARAM_FIELDS)}"
                + (f"; missing {', '.join(missing)}" if missing else "")
                + (f"; extra {', '.join(extra)}" if extra else ""))
    p = params
    seed = p["seed"]
    if not isinstance(seed, str) or not _is_digits(seed) or (seed != "0" and seed[0] == "0"):
        return f"params.seed: expected a string of ASCII digits without leading zeros, got {seed!r}"
    stages = _stages_difference(p["stages"])
    if stages:
        return stages
    provinces = p["provinces"]
    if not isinstance(provinces, list):
        return f"params.provinces: expected a list of province codes, got {provinces!r}"
    for i, code in enumerate(provinces):
        if not (isinstance(code, str) and len(code) == 6 and _is_digits(code)
                and code.endswith("0000")):
            return f"params.provinces[{i}]: expected a province code like 330000, got {code!r}"
    if provinces != sorted(set(provinces)):
        return f"params.provinces: expected distinct codes in ascending order, got {provinces}"
    for name in ("total", "per_stratum"):
        if p[name] is not None and not _is_int(p[name], 1):
            return f"params.{name}: expected an integer >= 1 or null, got {p[name]!r}"
    f = p["fraction"]
    if f is not None and not (type(f) in (int, float) and 0 < f <= 1):
        return f"params.fraction: expected a number above 0 and at most 1, or null, got {f!r}"
    given = [name for name in ("total", "fraction", "per_stratum") if p[name] is not None]
    if len(given) != 1:
        return ("params.total, params.fraction, params.per_stratum: exactly one must be set, "
                f"got {', '.join(given) or 'none'}")
    strata = p["strata"]
    if not isinstance(strata, list):
        return f"params.strata: expected a list of names, got {strata!r}"
    for i, name in enumerate(strata):
        if name not in STRATA_NAMES:
            return f"params.strata[{i}]: expected one of {', '.join(STRATA_NAMES)}, got {name!r}"
    if len(set(strata)) != len(strata):
        return f"params.strata: a name is listed twice in {strata}"
    if p["allocation"] not in ALLOCATIONS:
        return (f"params.allocation: expected one of {', '.join(ALLOCATIONS)}, got "
                f"{p['allocation']!r}")
    if not _is_int(p["min_per_stratum"], 0):
        return f"params.min_per_stratum: expected an integer >= 0, got {p['min_per_stratum']!r}"
    weights = p["risk_weights"]
    if not isinstance(weights, Mapping):
        return f"params.risk_weights: expected an object (risk level -> weight), got {weights!r}"
    for level, w in weights.items():
        if not _is_int(w, 0):
            return f"params.risk_weights.{level}: expected an integer >= 0, got {w!r}"
    if not _is_int(p["teams"], 1):
        return f"params.teams: expected an integer >= 1, got {p['teams']!r}"
    if not _is_int(p["members"], 2):
        return f"params.members: expected an integer >= 2, got {p['members']!r}"
    if p["avoidance"] not in AVOIDANCE_LEVELS:
        return (f"params.avoidance: expected one of {', '.join(AVOIDANCE_LEVELS)}, got "
                f"{p['avoidance']!r}")
    return None


def _same_json(a: Any, b: Any) -> bool:
    """Equal as JSON values: ``126.0`` is not ``126`` and ``true`` is not ``1``."""
    if isinstance(a, bool) or isinstance(b, bool) or isinstance(a, float) or isinstance(b, float):
        return type(a) is type(b) and a == b
    return bool(a == b)


def first_difference(expected: Mapping[str, Any], actual: Mapping[str, Any],
                     path: str = "") -> str | None:
    """The path of the first place two records differ, with both values; ``None`` if equal."""
    if isinstance(expected, Mapping) and isinstance(actual, Mapping):
        for k in list(expected) + [k for k in actual if k not in expected]:
            sub = f"{path}.{k}" if path else str(k)
            if k not in actual or k not in expected:
                return f"{sub}: present in only one record"
            diff = first_difference(expected[k], actual[k], sub)
            if diff:
                return diff
        return None
    if isinstance(expected, list) and isinstance(actual, list):
        for i, (e, a) in enumerate(zip(expected, actual, strict=False)):
            diff = first_difference(e, a, f"{path}[{i}]")
            if diff:
                return diff
        if len(expected) != len(actual):
            return f"{path}: {len(expected)} items recomputed, {len(actual)} recorded"
        return None
    if not _same_json(expected, actual):
        return f"{path}: recomputed {expected!r}, recorded {actual!r}"
    return None
