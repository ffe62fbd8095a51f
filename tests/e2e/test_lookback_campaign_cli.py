"""`lookback campaign lookback SOURCE --plan PLAN` end to end through the CLI (Typer's runner, a
SQLite file, the real Prefect flow for the launch): create, launch, relaunch, show, list, draw
verify, metrics with the source issues, the circular, and clear refusals in both languages."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from domain import fieldwork as fw
from domain import issues as iss
from domain.clock import FixedClock
from domain.issues import Action
from lookback.cli import app
from storage.db import make_engine
from storage.uow import SqlUnitOfWork
from tests.plans import small_plan

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "plan-lookback.toml"
NOW = "2026-03-10T09:00:00+08:00"
FAILED = 'STAFF-04 = "fail"\nRISK-01 = "fail"\nTRAIN-03 = "fail"\n'


def run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    assert "internal error" not in result.output and "内部错误" not in result.output
    return result.stdout if "--json" in args else result.output


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """Campaign 1 launched, with three issues at each of three businesses; the first business's
    issues are all verified. Returns the database and the three businesses' USCCs."""
    folder = tmp_path_factory.mktemp("lookback")
    db = folder / "lookback.db"
    base = ["--db", str(db), "--lang", "en", "--data-dir", str(folder / "data"), "--now", NOW]
    run(*base, "init")
    run(*base, "registry", "generate", "--businesses", "1000", "--seed", "11", "--out",
        str(folder / "reg"))
    for kind in ("businesses", "inspectors"):
        run(*base, "registry", "import", str(folder / "reg" / f"{kind}.csv"), "--kind", kind)
    plan = folder / "plan.toml"
    plan.write_text(small_plan(title="原督查", starts_on="2026-03-02", ends_on="2026-06-30"),
                    encoding="utf-8")
    run(*base, "campaign", "create", str(plan))
    run(*base, "campaign", "launch", "1")
    visits = sorted(json.loads(run(*base, "--json", "visit", "list", "--campaign", "1"))["items"],
                    key=lambda v: v["id"])[:3]
    answers = folder / "answers.toml"
    answers.write_text(FAILED, encoding="utf-8")
    issues = []
    for v in visits:
        out = json.loads(run(*base, "--json", "interview", "record", "--visit", str(v["id"]),
                             "--role", "director", "--name", "张三", "--answers", str(answers),
                             "--team", str(v["team"])))
        issues.append(out["issues_registered"])
    engine = make_engine(f"sqlite:///{db}")
    clock = FixedClock(datetime(2026, 3, 20, 1, 0, tzinfo=UTC))
    for i in issues[0]:
        fw.rectify(i, measures="已整改", evidence=[], actor="test",
                   uow_factory=lambda: SqlUnitOfWork(engine), clock=clock)
        iss.transition(i, Action.VERIFY, actor="test", uow_factory=lambda: SqlUnitOfWork(engine),
                      clock=clock)
    engine.dispose()
    return db, [v["uscc"] for v in visits]


def copy_of(db: Path, folder: Path) -> Path:
    copy = folder / "copy.db"
    with sqlite3.connect(db) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)  # a plain file copy would miss what is still in the WAL
    return copy


def test_create_launch_show_list_verify_metrics(source: tuple[Path, list[str]],
                                                tmp_path: Path) -> None:
    db0, usccs = source
    db = str(copy_of(db0, tmp_path))
    base = ["--db", db, "--data-dir", str(tmp_path / "data"), "--now", "2026-04-01T09:00:00+08:00"]
    created = json.loads(run(*base, "--json", "campaign", "lookback", "1", "--plan", str(EXAMPLE)))
    assert created == {"ok": True, "campaign_id": 2, "kind": "lookback", "source_campaign_id": 1,
                       "issues": "unverified", "title": created["title"], "seed": "20231101",
                       "seed_auto": False}
    launched = json.loads(run(*base, "--json", "campaign", "launch", "2"))
    assert launched["frame"]["businesses"] == 2 and launched["sampled"] == 2
    assert launched["visits_planned"] == 2 and launched["teams"] == 3
    again = json.loads(run(*base, "--json", "campaign", "launch", "2"))
    assert again["visits_created"] == 0 and again["visits_planned"] == 2
    visits = json.loads(run(*base, "--json", "visit", "list", "--campaign", "2"))["items"]
    assert sorted(v["uscc"] for v in visits) == sorted(usccs[1:])
    # show and list name the source campaign, in JSON and on screen.
    shown = json.loads(run(*base, "--json", "campaign", "show", "2"))
    assert shown["source_campaign_id"] == 1 and shown["kind"] == "lookback"
    assert shown["plan"]["issues"] == "unverified"
    assert json.loads(run(*base, "--json", "campaign", "show", "1"))["source_campaign_id"] is None
    zh = run(*base, "--lang", "zh", "campaign", "show", "2")
    assert "回头看对象" in zh and "督查1" in zh and "未核验销号" in zh
    assert "looks back on" in run(*base, "--lang", "en", "campaign", "show", "2")
    listed = json.loads(run(*base, "--json", "campaign", "list"))
    assert [d["source_campaign_id"] for d in listed["items"]] == [None, 1]
    assert "lookback" in run(*base, "--lang", "en", "campaign", "list")
    # The draw verifies in the engine and with the standalone script.
    assert "OK" in run(*base, "--lang", "en", "draw", "verify", "2")
    run(*base, "draw", "export", "2", str(tmp_path / "pub"))
    ok = subprocess.run([sys.executable, str(ROOT / "docs" / "verify_draw.py"),
                         str(tmp_path / "pub" / "record.json"), str(tmp_path / "pub" / "frame.csv")],
                        capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # Metrics: the look-back's own figures and the six source issues it re-checks.
    m = json.loads(run(*base, "--json", "campaign", "metrics", "2"))
    assert m["visits"]["planned"] == 2 and m["issues"]["registered"] == 0
    assert m["source_issues"] == {
        "source_campaign_id": 1, "scope": "unverified", "businesses": 2, "businesses_visited": 0,
        "issues": 6, "verified": 0, "open": 6, "overdue": 0, "escalated": 0,
        "by_status": {"open": 6}, "rectification_rate": 0.0}
    assert "source_issues" not in json.loads(run(*base, "--json", "campaign", "metrics", "1"))
    en = run(*base, "--lang", "en", "campaign", "metrics", "2")
    assert "Source campaign 1 issues re-checked" in en and "still open 6" in en
    assert "原督查1问题复查情况" in run(*base, "--lang", "zh", "campaign", "metrics", "2")


def test_circular_of_a_lookback_campaign(source: tuple[Path, list[str]], tmp_path: Path) -> None:
    db0, _ = source
    db = str(copy_of(db0, tmp_path))
    base = ["--db", db, "--data-dir", str(tmp_path / "data"), "--now", "2026-04-01T09:00:00+08:00"]
    run(*base, "campaign", "lookback", "1", "--plan", str(EXAMPLE))
    run(*base, "campaign", "launch", "2")
    out = json.loads(run(*base, "--json", "notices", "issue", "--campaign", "2", "--kind",
                         "circular", "--out", str(tmp_path / "pdf")))
    assert out["ok"] is True and out["total"] == 1
    # The circular of a look-back says how the source campaign's issues stand.
    import io

    import pypdf

    (pdf,) = (tmp_path / "pdf").glob("*.pdf")
    text = "".join(p.extract_text() or "" for p in pypdf.PdfReader(io.BytesIO(pdf.read_bytes())).pages)
    text = "".join(text.split())
    assert "本次“回头看”复查原督查（第1号）发现问题的主体" in text
    assert "原问题整改率" in text


def test_refusals_are_clear_in_both_languages(source: tuple[Path, list[str]],
                                              tmp_path: Path) -> None:
    db0, _ = source
    db = str(copy_of(db0, tmp_path))
    base = ["--db", db, "--data-dir", str(tmp_path / "data")]
    en = run(*base, "--lang", "en", "campaign", "lookback", "99", "--plan", str(EXAMPLE), code=3)
    assert "SOURCE: campaign 99 does not exist" in en
    zh = run(*base, "--lang", "zh", "campaign", "lookback", "99", "--plan", str(EXAMPLE), code=3)
    assert "SOURCE：督查99不存在" in zh
    err = json.loads(run(*base, "--json", "campaign", "lookback", "99", "--plan", str(EXAMPLE),
                         code=3))
    assert err["ok"] is False
    # The plan's kind must be "lookback".
    inspection = tmp_path / "inspection.toml"
    inspection.write_text(small_plan(title="普通督查"), encoding="utf-8")
    out = run(*base, "--lang", "en", "campaign", "lookback", "1", "--plan", str(inspection),
              code=2)
    assert "--plan" in out and '"inspection"' in out
    assert "--plan" in run(*base, "--lang", "zh", "campaign", "lookback", "1", "--plan",
                           str(inspection), code=2)
    # A look-back plan through `campaign create` is pointed at `campaign lookback`.
    out = run(*base, "--lang", "en", "campaign", "create", str(EXAMPLE), code=2)
    assert "campaign lookback SOURCE" in out
    # A draft source (campaign 2) and a launched one without issues (campaign 3).
    run(*base, "campaign", "create", str(inspection))
    out = run(*base, "--lang", "en", "campaign", "lookback", "2", "--plan", str(EXAMPLE), code=4)
    assert "SOURCE: campaign 2 has not been launched" in out
    assert "SOURCE：督查2尚未启动" in run(*base, "--lang", "zh", "campaign", "lookback", "2",
                                      "--plan", str(EXAMPLE), code=4)
    run(*base, "campaign", "create", str(inspection))
    run(*base, "campaign", "launch", "3")
    out = run(*base, "--lang", "en", "campaign", "lookback", "3", "--plan", str(EXAMPLE), code=4)
    assert "SOURCE: campaign 3 has no unverified issues" in out
    assert "没有未核验销号的问题" in run(*base, "--lang", "zh", "campaign", "lookback", "3",
                                   "--plan", str(EXAMPLE), code=4)
    # A mistaken look-back plan lists its mistakes with their keys.
    bad = tmp_path / "bad.toml"
    bad.write_text(EXAMPLE.read_text(encoding="utf-8").replace(
        'issues = "unverified"', 'issues = "some"\nexclusion_days = 30'), encoding="utf-8")
    out = run(*base, "--lang", "en", "campaign", "lookback", "1", "--plan", str(bad), code=2)
    assert "scope.issues" in out and "scope.exclusion_days" in out
    run(*base, "--lang", "en", "campaign", "lookback", "1", "--plan",
        str(tmp_path / "missing.toml"), code=2)
    # Nothing was created by any refusal.
    assert json.loads(run(*base, "--json", "campaign", "list"))["count"] == 3


def test_a_lower_office_looks_back_on_a_higher_campaign_within_its_territory(
        source: tuple[Path, list[str]], tmp_path: Path) -> None:
    """Campaign 1 is national (no office). A county office's look-back over it re-checks only
    the businesses of its county; an office beside that county may not look back on the county
    office's campaign."""
    db0, usccs = source
    db = copy_of(db0, tmp_path)
    base = ["--db", str(db), "--data-dir", str(tmp_path / "data"), "--now",
            "2026-04-01T09:00:00+08:00"]
    with sqlite3.connect(db) as conn:
        region = dict(conn.execute("SELECT uscc, region_code FROM business"))
        counties = [c for (c,) in conn.execute(
            "SELECT code FROM region WHERE level = 'county' ORDER BY code")]
    conn.close()
    county = region[usccs[1]]
    beside = next(c for c in counties if c[:4] != county[:4])
    rows = ["name,short_name,level,territory,parent", "国家食安办,国食安办,national,000000,",
            f"甲省食安办,甲省,province,{county[:2]}0000,国家食安办",
            f"甲市食安办,甲市,city,{county[:4]}00,甲省食安办",
            f"甲县食安办,甲县,county,{county},甲市食安办"]
    if beside[:2] == county[:2]:  # 乙 is another city of 甲省
        rows.append(f"乙市食安办,乙市,city,{beside[:4]}00,甲省食安办")
    else:
        rows += [f"乙省食安办,乙省,province,{beside[:2]}0000,国家食安办",
                 f"乙市食安办,乙市,city,{beside[:4]}00,乙省食安办"]
    rows.append(f"乙县食安办,乙县,county,{beside},乙市食安办")
    offices = tmp_path / "offices.csv"
    offices.write_text("\n".join(rows) + "\n", encoding="utf-8")
    run(*base, "office", "import", str(offices))
    created = json.loads(run(*base, "--json", "campaign", "lookback", "1", "--plan",
                             str(EXAMPLE), "--office", "甲县食安办"))
    launched = json.loads(run(*base, "--json", "campaign", "launch",
                              str(created["campaign_id"])))
    expected = sorted(u for u in usccs[1:] if region[u] == county)
    assert launched["frame"]["businesses"] == len(expected) >= 1
    visits = json.loads(run(*base, "--json", "visit", "list", "--campaign",
                            str(created["campaign_id"])))["items"]
    assert sorted(v["uscc"] for v in visits) == expected
    refused = run(*base, "--lang", "en", "campaign", "lookback", str(created["campaign_id"]),
                  "--plan", str(EXAMPLE), "--office", "乙县食安办", code=4)
    assert "neither above nor below" in refused
