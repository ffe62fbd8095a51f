"""The campaign and draw commands end to end through the CLI (Typer's runner, SQLite file, the real
Prefect flow for the launch)."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lookback.cli import app

ROOT = Path(__file__).resolve().parents[2]
PLAN = ROOT / "examples" / "plan-2023-two-responsibilities.toml"


def run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    # --json keeps stdout machine-readable; notes and progress go to stderr.
    return result.stdout if "--json" in args else result.output


@pytest.fixture(scope="module")
def launched(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A database with registers and the example campaign launched through the CLI."""
    folder = tmp_path_factory.mktemp("campaign")
    db = str(folder / "lookback.db")
    base = ["--db", db, "--lang", "en", "--data-dir", str(folder / "data")]
    run(*base, "init")
    run(*base, "registry", "generate", "--businesses", "3000", "--seed", "5", "--out",
        str(folder / "reg"))
    for kind in ("businesses", "inspectors"):
        run(*base, "registry", "import", str(folder / "reg" / f"{kind}.csv"), "--kind", kind)
    out = json.loads(run(*base, "--json", "campaign", "create", str(PLAN)))
    assert out["campaign_id"] == 1 and out["seed"] == "20230814"
    launched = json.loads(run(*base, "--json", "campaign", "launch", "1"))
    assert launched["sampled"] == 126 and launched["visits_planned"] == 126
    assert launched["teams"] == 5 and launched["status"] == "launched"
    return db, folder


def test_relaunch_draws_nothing_new(launched: tuple[str, Path]) -> None:
    db, _ = launched
    before = run("--db", db, "--json", "draw", "show", "1")
    again = json.loads(run("--db", db, "--json", "campaign", "launch", "1"))
    assert again["visits_created"] == 0 and again["visits_planned"] == 126
    assert run("--db", db, "--json", "draw", "show", "1") == before


def test_show_list_and_draw_outputs(launched: tuple[str, Path]) -> None:
    db, _ = launched
    shown = json.loads(run("--db", db, "--json", "campaign", "show", "1"))
    assert shown["status"] == "launched" and shown["sampled"] == 126
    listed = json.loads(run("--db", db, "--json", "campaign", "list"))
    assert listed["count"] == 1 and listed["items"][0]["visits_planned"] == 126
    record = json.loads(run("--db", db, "--json", "draw", "show", "1"))
    cities = record["stages"][0]
    assert cities["unit"] == "city" and len(cities["chosen"]) == 20
    assert {x["stratum"] for x in cities["strata"]} == {
        "210000", "330000", "350000", "360000", "370000", "420000", "430000", "500000", "510000",
        "610000"}
    assert sum(x["allocated"] for x in record["stages"][1]["strata"]) == 126
    rows = run("--db", db, "draw", "show", "1", "--csv").splitlines()
    assert rows[0] == "stage,stratum,unit,key,team"
    assert sum(1 for r in rows if r.startswith("business,")) == 126
    assert sum(1 for r in rows if r.startswith("inspector,")) == 15
    human = run("--db", db, "--lang", "zh", "campaign", "show", "1")
    assert "随机种子" in human and "20230814" in human


def test_export_and_verify_from_files_and_the_standalone_script(launched: tuple[str, Path],
                                                                tmp_path: Path) -> None:
    db, _ = launched
    assert "OK" in run("--db", db, "--lang", "en", "draw", "verify", "1")
    run("--db", db, "draw", "export", "1", str(tmp_path / "pub"))
    rec, frame = tmp_path / "pub" / "record.json", tmp_path / "pub" / "frame.csv"
    assert "OK" in run("--lang", "en", "draw", "verify", "--record", str(rec), "--frame",
                       str(frame))
    script = ROOT / "docs" / "verify_draw.py"
    if script.exists():
        ok = subprocess.run([sys.executable, str(script), str(rec), str(frame)],
                            capture_output=True, text=True, check=False)
        assert ok.returncode == 0, ok.stdout + ok.stderr
    # A changed frame row is caught, named, and exits 1.
    bad = tmp_path / "bad"
    shutil.copytree(tmp_path / "pub", bad)
    lines = (bad / "frame.csv").read_text(encoding="utf-8").splitlines()
    i = next(n for n, ln in enumerate(lines) if ln.startswith("business,"))
    parts = lines[i].split(",")
    parts[4] = "D" if parts[4] != "D" else "A"
    lines[i] = ",".join(parts)
    (bad / "frame.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = run("--lang", "en", "draw", "verify", "--record", str(bad / "record.json"), "--frame",
              str(bad / "frame.csv"), code=1)
    assert "MISMATCH" in out and "frame.sha256" in out
    # A changed seed is caught too.
    data = json.loads(rec.read_text(encoding="utf-8"))
    data["seed"] = data["params"]["seed"] = "20230815"
    (bad / "record.json").write_text(json.dumps(data), encoding="utf-8")
    out = run("--json", "draw", "verify", "--record", str(bad / "record.json"), "--frame",
              str(frame), code=1)
    assert json.loads(out)["ok"] is False


def test_extend_keeps_picks(launched: tuple[str, Path], tmp_path: Path) -> None:
    db, _ = launched
    copy = tmp_path / "copy.db"
    with sqlite3.connect(db) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)  # a plain file copy would miss what is still in the WAL
    before = json.loads(run("--db", str(copy), "--json", "draw", "show", "1"))
    out = json.loads(run("--db", str(copy), "--json", "draw", "extend", "1", "--to", "140"))
    assert out["total"] == 140 and len(out["added"]) == 14
    after = json.loads(run("--db", str(copy), "--json", "draw", "show", "1"))
    picked = {p["unit"] for p in after["stages"][1]["chosen"]}
    assert {p["unit"] for p in before["stages"][1]["chosen"]} <= picked
    assert "OK" in run("--db", str(copy), "--lang", "en", "draw", "verify", "1")
    run("--db", str(copy), "--lang", "en", "draw", "extend", "1", "--to", "100", code=2)


def test_bad_plan_lists_every_mistake(tmp_path: Path) -> None:
    db = str(tmp_path / "x.db")
    run("--db", db, "init")
    plan = tmp_path / "bad.toml"
    plan.write_text(PLAN.read_text(encoding="utf-8")
                    .replace('kind = "inspection"', 'kind = "audit"')
                    .replace("members = 3", "members = 1")
                    .replace('strata = ["city"]', 'strata = ["town"]'), encoding="utf-8")
    out = run("--db", db, "--lang", "en", "campaign", "create", str(plan), code=2)
    assert "3 mistake(s)" in out
    for path in ("campaign.kind", "teams.members", "sample.strata[0]"):
        assert path in out
    zh = run("--db", db, "--lang", "zh", "campaign", "create", str(plan), code=2)
    assert "计划文件有3处错误" in zh
    assert json.loads(run("--db", db, "--json", "campaign", "list"))["count"] == 0
    run("--db", db, "--lang", "en", "campaign", "create", str(tmp_path / "missing.toml"), code=2)
    run("--db", db, "--lang", "en", "campaign", "show", "7", code=3)


def test_launch_fails_clearly_when_a_city_lacks_eligible_inspectors(tmp_path: Path) -> None:
    db = str(tmp_path / "x.db")
    base = ["--db", db, "--lang", "en"]
    run(*base, "init")
    reg = tmp_path / "b.csv"
    reg.write_text(
        "uscc,name,region_code,category,risk_level\n"
        "91330106MA2AXXXX1U,杭州甲餐饮有限公司,330106,catering,B\n", encoding="utf-8")
    from domain import uscc

    body = "91330106MA2AXXXX1"
    reg.write_text(reg.read_text(encoding="utf-8").replace("91330106MA2AXXXX1U",
                                                          body + uscc.check_char(body)),
                   encoding="utf-8")
    run(*base, "registry", "import", str(reg), "--kind", "businesses")
    ins = tmp_path / "i.csv"
    ins.write_text("inspector_id,name,home_region\nJ1,张三,330100\nJ2,李四,330100\n",
                   encoding="utf-8")
    run(*base, "registry", "import", str(ins), "--kind", "inspectors")
    plan = tmp_path / "p.toml"
    plan.write_text(
        '[campaign]\noffice = "某市食安办"\ntitle = "t"\nstarts_on = 2026-03-01\n'
        'ends_on = 2026-04-01\nseed = 1\n[sample]\ntotal = 1\n[teams]\ncount = 1\n'
        'members = 2\n', encoding="utf-8")
    run(*base, "campaign", "create", str(plan))
    out = run(*base, "campaign", "launch", "1", code=4)
    assert "330100" in out and "回避" in out


def test_sample_size(tmp_path: Path) -> None:
    out = json.loads(run("--json", "draw", "size", "--confidence", "0.95", "--tolerable-rate",
                         "0.05", "--expected-rate", "0.01"))
    assert out["sample_size"] == 93 and out["allowed_deviations"] == 1
    run("--lang", "en", "draw", "size", "--confidence", "1.5", code=2)
