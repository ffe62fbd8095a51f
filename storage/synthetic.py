"""Synthetic registers: realistic, deterministic businesses, cadres and inspectors for demos,
tests and benchmarks.

Determinism: the same seed and size give byte-identical files. Only ``Random.random()`` is used
(its Mersenne Twister stream for an integer seed is stable across Python versions); choices are
made with our own cumulative tables, never ``random.choice``/``sample``/``choices``.
"""

from __future__ import annotations

import bisect
import csv
import random
import re
import zipfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from domain import uscc
from domain.regions import Region, RegionLevel
from domain.registers import (
    CADRE_LEVEL_ZH,
    CATEGORY_ZH,
    COLUMNS,
    CadreLevel,
    Category,
    RegisterKind,
)
from storage.cells import safe_row
from storage.regions import read_snapshot

# Resident population in millions (2020 census, rounded): the weight of each province.
PROVINCE_WEIGHTS = {
    "11": 21.9, "12": 13.9, "13": 74.6, "14": 34.9, "15": 24.0, "21": 42.6, "22": 24.1,
    "23": 31.9, "31": 24.9, "32": 84.7, "33": 64.6, "34": 61.0, "35": 41.5, "36": 45.2,
    "37": 101.5, "41": 99.4, "42": 57.8, "43": 66.4, "44": 126.0, "45": 50.1, "46": 10.1,
    "50": 32.1, "51": 83.7, "52": 38.6, "53": 47.2, "54": 3.6, "61": 39.5, "62": 25.0,
    "63": 5.9, "64": 7.2, "65": 25.9,
}

SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余"
            "杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史")
GIVEN = ("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华红玉兰建国志文斌宇浩凯鹏飞丹萍鑫"
         "晨阳雪梅琳婷欣怡佳俊辉晓东海波宁亮健成林峰春燕玲颖")
BRAND = ("福鑫隆盛兴旺和顺源丰泰康瑞祥嘉禾金佳美华益新乐品味香鲜满园庆悦宏达恒信诚合永安")
ROADS = ("人民路", "解放路", "中山路", "建设路", "胜利街", "文化路", "新华街", "和平路", "工业大道",
         "滨河路", "幸福街", "朝阳路")

# (category, weight, name suffixes, risk weights A/B/C/D)
CATEGORIES: tuple[tuple[str, float, tuple[str, ...], tuple[float, float, float, float]], ...] = (
    ("catering", 0.45, ("餐饮管理有限公司", "饭店", "酒楼", "小吃店", "餐厅", "火锅店"),
     (0.30, 0.42, 0.22, 0.06)),
    ("sales", 0.30, ("超市", "食品商行", "便利店", "副食店", "商贸有限公司"), (0.45, 0.40, 0.12, 0.03)),
    ("production", 0.08, ("食品有限公司", "食品厂", "乳业有限公司", "调味品有限公司", "酒业有限公司"),
     (0.15, 0.40, 0.33, 0.12)),
    ("school_canteen", 0.08, ("第一中学食堂", "实验小学食堂", "中心幼儿园食堂", "职业技术学院食堂"),
     (0.10, 0.40, 0.38, 0.12)),
    ("special_food", 0.02, ("保健食品有限公司", "营养品有限公司", "婴幼儿食品有限公司"),
     (0.05, 0.30, 0.40, 0.25)),
    ("storage_transport", 0.04, ("冷链物流有限公司", "仓储有限公司"), (0.30, 0.45, 0.20, 0.05)),
    ("market", 0.03, ("农贸市场", "农产品批发市场"), (0.10, 0.40, 0.35, 0.15)),
)
DIRECTOR_MISSING = 0.18
OFFICER_MISSING = 0.07
CLOSED_SHARE = 0.03
UNCOVERED_SHARE = 0.09  # businesses with no assigned official


@dataclass(frozen=True)
class Generated:
    """What ``generate`` wrote."""

    businesses: Path
    cadres: Path
    inspectors: Path
    counts: dict[str, int]


class _Rng:
    """Deterministic choices built on ``Random.random()`` only."""

    def __init__(self, seed: int) -> None:
        self._r = random.Random(seed)
        self.random = self._r.random

    def index(self, n: int) -> int:
        return min(int(self.random() * n), n - 1)

    def pick(self, items: Sequence[Any]) -> Any:
        return items[self.index(len(items))]

    def weighted(self, cumulative: list[float]) -> int:
        return min(bisect.bisect_right(cumulative, self.random() * cumulative[-1]),
                   len(cumulative) - 1)

    def chars(self, alphabet: str, n: int) -> str:
        return "".join(alphabet[self.index(len(alphabet))] for _ in range(n))


def _cumulative(weights: Sequence[float]) -> list[float]:
    out, total = [], 0.0
    for w in weights:
        total += w
        out.append(total)
    return out


def _person(rng: _Rng) -> str:
    given = rng.pick(GIVEN) + (rng.pick(GIVEN) if rng.random() < 0.7 else "")
    return rng.pick(SURNAMES) + given


def _phone(rng: _Rng) -> str:
    return "1" + rng.pick("3456789") + rng.chars("0123456789", 9)


def _leaves(regions: list[Region]) -> tuple[dict[str, list[Region]], dict[str, Region]]:
    """Per province, the regions businesses sit in: counties, and cities without counties."""
    by_code = {r.code: r for r in regions}
    has_child = {r.parent_code for r in regions if r.parent_code}
    leaves: dict[str, list[Region]] = {}
    for r in regions:
        if r.level is RegionLevel.PROVINCE or r.code in has_child:
            continue
        leaves.setdefault(r.code[:2], []).append(r)
    return {p: sorted(v, key=lambda r: r.code) for p, v in leaves.items()}, by_code


def generate(
    out_dir: Path,
    *,
    businesses: int,
    seed: int,
    fmt: str = "csv",
    encoding: str = "utf-8",
    chinese_headers: bool = False,
    on_progress: Callable[[int], None] | None = None,
) -> Generated:
    """Write businesses, cadres and inspectors registers into ``out_dir``."""
    if businesses < 1:
        raise ValueError("businesses must be at least 1")
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = _Rng(seed)
    regions = list(read_snapshot())
    leaves, by_code = _leaves(regions)
    provinces = [p for p in sorted(PROVINCE_WEIGHTS) if p in leaves]
    prov_cum = _cumulative([PROVINCE_WEIGHTS[p] for p in provinces])
    cat_cum = _cumulative([c[1] for c in CATEGORIES])

    per_leaf: Counter[str] = Counter()
    for _ in range(businesses):
        p = provinces[rng.weighted(prov_cum)]
        per_leaf[rng.pick(leaves[p]).code] += 1

    def name_of(code: str) -> str:
        r = by_code.get(code)
        return r.name if r else ""

    writers = _Writers(out_dir, fmt, encoding, chinese_headers)
    seen_codes: set[str] = set()
    counts = Counter[str]()
    done = 0
    for leaf_code in sorted(per_leaf):
        leaf = by_code[leaf_code]
        city = by_code.get(leaf.parent_code or "") if leaf.level is RegionLevel.COUNTY else leaf
        city_code = city.code if city else leaf_code
        province = by_code[leaf_code[:2] + "0000"]
        place = (city.name if city and city.level is RegionLevel.CITY else province.name)
        short = place.removesuffix("市").removesuffix("地区")[:4]
        covered: list[tuple[str, str, str]] = []  # (uscc, category, risk)
        for _ in range(per_leaf[leaf_code]):
            ci = rng.weighted(cat_cum)
            category, _w, suffixes, risk_w = CATEGORIES[ci]
            risk = "ABCD"[rng.weighted(_cumulative(risk_w))]
            small = category in ("catering", "sales") and rng.random() < 0.35
            while True:
                body = ("92" if small else "91") + leaf_code + rng.chars(uscc.ALPHABET, 9)
                code = body + uscc.check_char(body)
                if code not in seen_codes:
                    seen_codes.add(code)
                    break
            name = f"{short}{rng.pick(BRAND)}{rng.pick(BRAND)}{rng.pick(suffixes)}"
            if small and not name.endswith("店"):
                name = f"{short}{rng.pick(BRAND)}{rng.pick(BRAND)}小店"
            address = (f"{province.name}{place if place != province.name else ''}"
                       f"{leaf.name if leaf is not city else ''}{rng.pick(ROADS)}"
                       f"{1 + rng.index(300)}号")
            director = "" if rng.random() < DIRECTOR_MISSING * (1.6 if small else 1.0) else _person(rng)
            officer = "" if rng.random() < OFFICER_MISSING else _person(rng)
            status = "closed" if rng.random() < CLOSED_SHARE else "active"
            writers.business([code, name, leaf_code, category, risk, address, director, officer,
                              status])
            counts["businesses"] += 1
            if status == "active" and rng.random() >= UNCOVERED_SHARE:
                covered.append((code, category, risk))
            done += 1
            if on_progress and done % 1000 == 0:
                on_progress(done)
        seq = 0
        i = 0
        while i < len(covered):
            size = 3 + rng.index(6)
            group = covered[i : i + size]
            i += size
            seq += 1
            high = any(r in "CD" for _, _, r in group)
            roll = rng.random()
            if high and roll < 0.04:
                level, region = "province", province.code
            elif high and roll < 0.12:
                level, region = "city", city_code
            elif roll < 0.30:
                level, region = "county", leaf_code
            elif roll < 0.65:
                level, region = "township", leaf_code
            else:
                level, region = "village", leaf_code
            position = {"province": "省市场监管局副局长", "city": "市政府副市长",
                        "county": "县市场监管局局长", "township": "乡镇长",
                        "village": "村党支部书记"}[level]
            writers.cadre([f"C{leaf_code}{seq:05d}", _person(rng), level, region, position,
                           _phone(rng), ";".join(c for c, _, _ in group)])
            counts["cadres"] += 1
    if on_progress:
        on_progress(done)

    n_inspectors = max(40, businesses // 100)
    city_pool: list[str] = []
    for p in provinces:
        city_pool.extend(sorted({(by_code[r.parent_code].code if r.level is RegionLevel.COUNTY
                                  and r.parent_code else r.code) for r in leaves[p]}))
    city_prov_cum = _cumulative([PROVINCE_WEIGHTS[c[:2]] / sum(1 for x in city_pool
                                                              if x[:2] == c[:2])
                                 for c in city_pool])
    seqs: Counter[str] = Counter()
    for _ in range(n_inspectors):
        home = city_pool[rng.weighted(city_prov_cum)]
        seqs[home] += 1
        org = (name_of(home) if by_code[home].name != name_of(home[:2] + "0000")
               else name_of(home[:2] + "0000")) + "市场监督管理局"
        writers.inspector([f"J{home}{seqs[home]:04d}", _person(rng), home, org, _phone(rng),
                           "no" if rng.random() < 0.02 else "yes"])
        counts["inspectors"] += 1
    paths = writers.close()
    return Generated(paths["businesses"], paths["cadres"], paths["inspectors"], dict(counts))


class _Writers:
    """One output file per register, CSV in a chosen encoding or XLSX (IDs stored as text)."""

    def __init__(self, out_dir: Path, fmt: str, encoding: str, chinese_headers: bool) -> None:
        if fmt not in ("csv", "xlsx"):
            raise ValueError("format must be csv or xlsx")
        self.fmt = fmt
        self.zh = chinese_headers
        self.paths: dict[str, Path] = {}
        self._files: dict[str, Any] = {}
        self._writers: dict[str, Any] = {}
        self._wb: Any = None
        for kind in RegisterKind:
            cols = COLUMNS[kind]
            header = [c.zh if chinese_headers else c.name for c in cols]
            path = out_dir / f"{kind.value}.{fmt}"
            self.paths[kind.value] = path
            if fmt == "csv":
                f = path.open("w", encoding=encoding, newline="")
                w = csv.writer(f, lineterminator="\r\n" if encoding == "gb18030" else "\n")
                w.writerow(header)
                self._files[kind.value], self._writers[kind.value] = f, w
            else:
                import openpyxl

                wb = openpyxl.Workbook(write_only=True)
                ws = wb.create_sheet(kind.value)
                ws.append(header)
                self._files[kind.value], self._writers[kind.value] = wb, ws

    def _write(self, kind: str, row: list[Any]) -> None:
        row = safe_row(row)
        if self.fmt == "xlsx":
            self._writers[kind].append(row)
        else:
            self._writers[kind].writerow(row)

    # With Chinese headers the values are written the way a Chinese office types them too.
    def business(self, row: list[Any]) -> None:
        if self.zh:
            row[3] = CATEGORY_ZH[Category(row[3])]
            row[8] = {"active": "在营", "closed": "注销"}[row[8]]
        self._write("businesses", row)

    def cadre(self, row: list[Any]) -> None:
        if self.zh:
            row[2] = CADRE_LEVEL_ZH[CadreLevel(row[2])]
        self._write("cadres", row)

    def inspector(self, row: list[Any]) -> None:
        if self.zh:
            row[5] = {"yes": "是", "no": "否"}[row[5]]
        self._write("inspectors", row)

    def close(self) -> dict[str, Path]:
        for kind, f in self._files.items():
            if self.fmt == "csv":
                f.close()
            else:
                f.properties.created = f.properties.modified = _FIXED_TIME
                f.save(self.paths[kind])
                _fix_zip_times(self.paths[kind])
        return self.paths


_FIXED_TIME = datetime(2026, 1, 1)


def _fix_zip_times(path: Path) -> None:
    """Rewrite a workbook's zip entries with a fixed time, so the same seed gives the same bytes."""
    with zipfile.ZipFile(path) as zin:
        entries = [(i.filename, zin.read(i.filename)) for i in zin.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for name, data in entries:
            if name == "docProps/core.xml":  # openpyxl stamps "modified" with the time of saving
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2026-01-01T00:00:00Z",
                              data)
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zout.writestr(info, data)
