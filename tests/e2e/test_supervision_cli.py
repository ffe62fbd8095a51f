"""`lookback supervision …` end to end through Typer's runner on a SQLite file: open, record,
list, rates --json, registry stats, and clear bilingual errors (never a traceback)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lookback.cli import app

NOW = "2026-11-20T09:00:00+08:00"


def run(base: list[str], *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(app, [*base, *args])
    assert result.exit_code == code, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    assert "internal error" not in result.output and "内部错误" not in result.output
    return result.stdout if "--json" in base + list(args) else result.output


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], str, str]:
    """A database with generated registers; returns the base options, a township official and
    one business assigned to them."""
    folder = tmp_path_factory.mktemp("supervision")
    base = ["--db", str(folder / "lookback.db"), "--lang", "en", "--data-dir",
            str(folder / "data"), "--now", NOW]
    run(base, "init")
    run(base, "registry", "generate", "--businesses", "400", "--seed", "5", "--out",
        str(folder / "reg"))
    for kind in ("businesses", "cadres"):
        run(base, "registry", "import", str(folder / "reg" / f"{kind}.csv"), "--kind", kind)
    with (folder / "reg" / "cadres.csv").open(encoding="utf-8-sig", newline="") as f:
        row = next(r for r in csv.DictReader(f) if r["level"] == "township" and r["assigned_uscc"])
    return base, row["cadre_id"], row["assigned_uscc"].split(";")[0]


def test_open_record_list_rates(site: tuple[list[str], str, str]) -> None:
    base, cadre, uscc = site
    opened = json.loads(run(base, "--json", "supervision", "open"))
    assert opened["ok"] and opened["opened"] > 0
    assert json.loads(run(base, "--json", "supervision", "open"))["opened"] == 0
    assert "opened" in run(base, "supervision", "open", "--period", "2026Q4")

    out = json.loads(run(base, "--json", "supervision", "record", "--cadre", cadre,
                         "--business", uscc, "--date", "2026-11-03", "--note", "查看冷库",
                         "--issue", "hygiene_storage:general:过期牛奶", "--lead", "涉嫌销售过期食品"))
    assert out["status"] == "done" and out["period"] == "2026-11" and not out["opened_now"]
    assert out["findings"][0]["due_on"] == "2026-11-17" and len(out["referrals"]) == 1

    again = run(base, "supervision", "record", "--cadre", cadre, "--business", uscc, "--date",
                "2026-11-04", "--note", "again", code=4)
    assert "already recorded" in again

    listed = json.loads(run(base, "--json", "supervision", "list", "--period", "2026-11",
                            "--status", "done"))
    assert listed["count"] == 1 and listed["items"][0]["uscc"] == uscc

    rates = json.loads(run(base, "--json", "supervision", "rates", "--period", "2026Q4",
                           "--by", "level"))
    total = rates["total"]
    assert total["done"] == 1 and total["required"] == sum(g["required"] for g in rates["groups"])
    assert total["overdue"] == len(rates["overdue"]) > 0  # October's monthly visits
    assert all(v["period"] == "2026-10" for v in rates["overdue"])
    assert {g["key"] for g in rates["groups"]} <= {"province", "city", "county", "township",
                                                   "village"}
    assert "Supervision completion rate" in run(base, "supervision", "rates", "--period",
                                                "2026Q4", "--by", "province")

    stats = json.loads(run(base, "--json", "registry", "stats"))
    assert (stats["leads_referred"], stats["cases_filed"]) == (1, 0)
    assert "coverage_rate" in stats  # the existing keys stay
    assert "Leads referred" in run(base, "registry", "stats")


@pytest.mark.parametrize(("args", "en", "zh", "code"), [
    (["rates", "--period", "2026Q5"], "a quarter is Q1 to Q4", "季度应为Q1至Q4", 2),
    (["open", "--period", "26"], "is not written like", "格式不对", 2),
    (["record", "--cadre", "{cadre}", "--business", "{uscc}", "--note", "x", "--issue", "oops"],
     "category:severity:description", "类别:严重程度:描述", 2),
    (["record", "--cadre", "{cadre}", "--business", "{uscc}", "--note", "x", "--issue",
      "hygiene:grave:x"], "severity 'grave'", "严重程度", 2),
    (["record", "--cadre", "NOBODY", "--business", "{uscc}", "--note", "x"],
     "'NOBODY' is not in the register", "包保干部“NOBODY”不在名录中", 3),
    (["record", "--cadre", "{cadre}", "--business", "{uscc}", "--note", "x", "--date",
      "2026-13-01"], "is not a date", "不是形如", 2),
    (["rates", "--period", "2026", "--by", "city"], "--by", "--by", 2),
    (["list", "--status", "late"], "--status", "--status", 2),
])
def test_bad_input_gives_a_clear_bilingual_error(site: tuple[list[str], str, str],
                                                 args: list[str], en: str, zh: str,
                                                 code: int) -> None:
    base, cadre, uscc = site
    argv = ["supervision", *(a.format(cadre=cadre, uscc=uscc) for a in args)]
    assert en in run(base, *argv, code=code)
    zh_base = [("zh" if a == "en" else a) for a in base]
    assert zh in run(zh_base, *argv, code=code)
    err = json.loads(run(base, "--json", *argv, code=code))
    assert not err["ok"] and err["error"]["message_zh"]


def test_frequencies_file(site: tuple[list[str], str, str], tmp_path: Path) -> None:
    base, _cadre, _uscc = site
    bad = tmp_path / "bad.toml"
    bad.write_text('hamlet = "monthly"\n', encoding="utf-8")
    assert "hamlet" in run(base, "supervision", "open", "--frequencies", str(bad), code=2)
    wrong = tmp_path / "wrong.toml"
    wrong.write_text('city = "weekly"\n', encoding="utf-8")
    assert "city" in run(base, "supervision", "rates", "--period", "2026", "--frequencies",
                         str(wrong), code=2)
    good = tmp_path / "good.toml"
    good.write_text('province = "monthly"\n', encoding="utf-8")
    out = json.loads(run(base, "--json", "supervision", "open", "--frequencies", str(good)))
    assert out["frequencies"]["province"] == "monthly" and out["opened"] >= 0


def test_rectification_orders_for_supervision_findings(site: tuple[list[str], str, str],
                                                      tmp_path: Path) -> None:
    base, cadre, uscc = site
    # October's visit (opened on the fly), with one finding: an issue of routine supervision.
    rec = json.loads(run(base, "--json", "supervision", "record", "--cadre", cadre, "--business",
                         uscc, "--date", "2026-10-15", "--note", "查看台账", "--issue",
                         "records:minor:台账缺页"))
    assert rec["period"] == "2026-10" and len(rec["findings"]) == 1
    refused = run(base, "notices", "issue", "--supervision", "--kind", "rectification_order",
                  code=2)
    assert "--office" in refused
    both = run(base, "notices", "issue", "--supervision", "--campaign", "1", "--office", "X",
               "--kind", "rectification_order", code=2)
    assert "either --campaign" in both
    out = json.loads(run(base, "--json", "notices", "issue", "--supervision", "--office",
                         "某县食品安全委员会办公室", "--office-short", "某县食安办", "--kind",
                         "rectification_order", "--out", str(tmp_path / "pdf")))
    assert out["ok"] and out["issued_now"] >= 1
    assert all(n.startswith("某县食安办责改〔2026〕") for n in out["numbers"])
    assert len(list((tmp_path / "pdf").glob("*.pdf"))) == out["issued_now"]
    again = json.loads(run(base, "--json", "notices", "issue", "--supervision", "--office",
                           "某县食品安全委员会办公室", "--office-short", "某县食安办", "--kind",
                           "rectification_order"))
    assert again["issued_now"] == 0 and again["numbers"] == out["numbers"]
