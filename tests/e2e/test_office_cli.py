"""`lookback office` and what belongs to an office: import (all or nothing, safe twice), list
within a territory, show; a register import for an office refuses the rows outside its
territory, naming each; a campaign created for an office carries its name and numbers."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.e2e.test_fieldwork_cli import run

ROOT = Path(__file__).resolve().parents[2]
OFFICES = ROOT / "examples" / "offices.csv"
NOW = "2026-05-01T08:00:00+08:00"


@pytest.fixture
def base(tmp_path: Path) -> list[str]:
    args = ["--db", str(tmp_path / "lb.db"), "--lang", "en", "--data-dir",
            str(tmp_path / "data"), "--now", NOW]
    run(*args, "init")
    return args


def test_import_list_show_and_import_again(base: list[str]) -> None:
    added = json.loads(run(*base, "--json", "office", "import", str(OFFICES)))
    assert added["count"] == 8
    again = json.loads(run(*base, "--json", "office", "import", str(OFFICES)))
    assert [o["id"] for o in again["items"]] == [o["id"] for o in added["items"]]
    gd = json.loads(run(*base, "--json", "office", "list", "--within",
                        "广东省食品安全委员会办公室"))
    assert {o["territory"] for o in gd["items"]} == {"440000", "440100", "440106", "440300"}
    shown = json.loads(run(*base, "--json", "office", "show", "广州市食品安全委员会办公室"))
    assert shown["parent"]["territory"] == "440000"
    assert [c["territory"] for c in shown["children"]] == ["440106"]


def test_a_bad_office_file_stores_nothing_and_names_every_row(base: list[str],
                                                               tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    rows = list(csv.reader(OFFICES.read_text(encoding="utf-8").splitlines()))
    rows[3][3] = "320100"  # 广州 given 南京's code: outside 广东
    rows[5][2] = "village"
    bad.write_text("\n".join(",".join(r) for r in rows), encoding="utf-8")
    out = run(*base, "office", "import", str(bad), code=2)
    assert "row 3" in out and "outside the parent's territory" in out
    assert "row 5" in out and "level must be one of" in out
    assert json.loads(run(*base, "--json", "office", "list"))["count"] == 0


def test_a_register_import_for_an_office_refuses_rows_outside_its_territory(
        base: list[str], tmp_path: Path) -> None:
    run(*base, "office", "import", str(OFFICES))
    run(*base, "registry", "generate", "--businesses", "400", "--seed", "3", "--out",
        str(tmp_path / "reg"))
    businesses = tmp_path / "reg" / "businesses.csv"
    regions = [r["region_code"] for r in csv.DictReader(
        businesses.read_text(encoding="utf-8").splitlines())]
    inside = sum(r.startswith("44") for r in regions)
    assert 0 < inside < len(regions)
    report = tmp_path / "rejects.csv"
    out = json.loads(run(*base, "--json", "registry", "import", str(businesses), "--kind",
                         "businesses", "--office", "广东省食品安全委员会办公室", "--report",
                         str(report), code=1))
    assert out["inserted"] == inside and out["rejected"] == len(regions) - inside
    refused = list(csv.DictReader(report.read_text(encoding="utf-8-sig").splitlines()))
    assert len(refused) == len(regions) - inside
    assert all("outside the importing office's territory" in " ".join(r.values())
               for r in refused)


def test_a_campaign_of_an_office_is_numbered_in_its_series(base: list[str],
                                                           tmp_path: Path) -> None:
    from tests.plans import small_plan

    run(*base, "office", "import", str(OFFICES))
    plan = tmp_path / "plan.toml"
    plan.write_text(small_plan(title="穗督查"), encoding="utf-8")
    cid = json.loads(run(*base, "--json", "campaign", "create", str(plan), "--office",
                         "广州市食品安全委员会办公室"))["campaign_id"]
    shown = json.loads(run(*base, "--json", "campaign", "show", str(cid)))
    assert shown["office"] == "广州市食品安全委员会办公室"  # not the plan's own office
    import sqlite3

    db = base[base.index("--db") + 1]
    with sqlite3.connect(db) as conn:
        short, office_id = conn.execute("SELECT office_short, office_id FROM campaign WHERE id = ?",
                                        (cid,)).fetchone()
    conn.close()
    assert short == "穗食安办" and office_id == 3  # the series its notices are numbered in
    run(*base, "campaign", "create", str(plan), "--office", "没有这个办", code=3)
