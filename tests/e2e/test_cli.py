"""The `lookback` command line end to end (Typer's CliRunner, SQLite files in tmp_path): what a
person or a script sees, exit codes, JSON output, languages, and no tracebacks for mistakes."""

from __future__ import annotations

import csv
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from lookback.cli import app
from storage import migrate
from storage.regions import read_snapshot

NOW = "2026-05-01T08:00:00+08:00"
SEED = 99
N = 300
DEMO_N = 2000  # the demo's smallest register: its campaign draws 126 businesses in 20 cities
BOM = b"\xef\xbb\xbf"

runner = CliRunner()


class Lookback:
    """Runs `lookback` with a database and data folder of its own."""

    def __init__(self, root: Path, db: Path | None = None) -> None:
        self.root = root
        self.db = db or root / "lookback.db"
        self.data = root / "data"

    def __call__(self, *args: str, lang: str = "en", json_out: bool = False,
                 db: Path | None = None) -> Result:
        argv = ["--db", f"sqlite:///{db or self.db}", "--lang", lang, "--data-dir",
                str(self.data), "--now", NOW, *(["--json"] if json_out else []), *args]
        return runner.invoke(app, argv)

    def json(self, *args: str, expect: int = 0, **kw: Any) -> dict[str, Any]:
        result = self(*args, json_out=True, **kw)
        assert result.exit_code == expect, result.output
        data = json.loads(result.stdout)
        assert isinstance(data, dict)
        return data


def _no_crash(result: Result, lb: Lookback) -> None:
    """A user mistake: a message and an exit code, never a traceback or a crash log."""
    assert isinstance(result.exception, SystemExit | None), repr(result.exception)
    assert "Traceback" not in result.output
    assert "internal error" not in result.output and "内部错误" not in result.output
    assert not (lb.data / "logs").exists()


@pytest.fixture
def lb(tmp_path: Path) -> Lookback:
    return Lookback(tmp_path)


@pytest.fixture
def ready(lb: Lookback) -> Lookback:
    """An initialised database."""
    assert lb("init").exit_code == 0
    return lb


@pytest.fixture
def registers(ready: Lookback) -> dict[str, Path]:
    out = ready.root / "registers"
    data = ready.json("registry", "generate", "--businesses", str(N), "--out", str(out),
                      "--seed", str(SEED))
    return {k: Path(v) for k, v in data["files"].items()}


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def _write(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


# --- init ---------------------------------------------------------------------------------------


def test_init_twice_upgrades_then_says_up_to_date(lb: Lookback) -> None:
    head = migrate.head_revision()
    regions = len(list(read_snapshot()))

    first = lb("init")
    assert first.exit_code == 0, first.output
    assert f"upgraded from empty to {head}" in first.output
    assert f"{regions} regions loaded" in first.output

    second = lb("init")
    assert second.exit_code == 0, second.output
    assert f"is up to date (revision {head})" in second.output
    assert "upgraded" not in second.output

    data = lb.json("init")
    assert data["ok"] is True
    assert data["revision_before"] == data["revision"] == head
    assert data["regions"] == regions

    other = lb.json("init", db=lb.root / "other.db")
    assert other["revision_before"] is None and other["revision"] == head

    zh = lb("init", lang="zh")
    assert zh.exit_code == 0 and "已是最新" in zh.output


# --- registry generate --------------------------------------------------------------------------


def test_generate_same_seed_same_files_other_seed_other_files(lb: Lookback) -> None:
    def gen(name: str, seed: int) -> dict[str, bytes]:
        data = lb.json("registry", "generate", "--businesses", "200", "--out",
                       str(lb.root / name), "--seed", str(seed))
        assert data["counts"]["businesses"] == 200
        return {k: Path(v).read_bytes() for k, v in data["files"].items()}

    a, b, c = gen("a", 7), gen("b", 7), gen("c", 8)
    assert set(a) == {"businesses", "cadres", "inspectors"}
    assert a == b
    assert all(a[k] != c[k] for k in ("businesses", "cadres", "inspectors"))
    assert len(a["businesses"].splitlines()) == 201


def test_generate_xlsx_same_seed_same_bytes(lb: Lookback) -> None:
    """storage.synthetic promises byte-identical files for the same seed; XLSX files carry the
    time they were written (docProps/core.xml and the zip entries), so they differ."""
    def gen(name: str) -> bytes:
        result = lb("registry", "generate", "--businesses", "50", "--out", str(lb.root / name),
                    "--seed", "7", "--format", "xlsx")
        assert result.exit_code == 0, result.output
        return (lb.root / name / "businesses.xlsx").read_bytes()

    first = gen("x1")
    time.sleep(2.1)  # past the two-second resolution of zip timestamps, not only core.xml's
    assert gen("x2") == first


# --- registry import ----------------------------------------------------------------------------


def test_import_exit_codes_and_json_summary(ready: Lookback, registers: dict[str, Path]) -> None:
    biz = registers["businesses"]
    stored = ready.json("registry", "import", str(biz), "--kind", "businesses")
    assert {k: stored[k] for k in ("ok", "read", "inserted", "updated", "rejected", "balanced",
                                   "stored", "report")} == {
        "ok": True, "read": N, "inserted": N, "updated": 0, "rejected": 0, "balanced": True,
        "stored": True, "report": None}

    header, *rows = list(csv.reader(biz.read_text(encoding="utf-8").splitlines()))
    bad_code = [rows[0][0][:-1] + ("0" if rows[0][0][-1] != "0" else "1"), *rows[0][1:]]
    new = [rows[1][0][:2] + "Q" + rows[1][0][3:], *rows[1][1:]]  # not a valid USCC either
    mixed = _write(ready.root / "mixed.csv", [header, bad_code, rows[2], rows[3], new])
    some = ready.json("registry", "import", str(mixed), "--kind", "businesses", expect=1)
    assert (some["read"], some["inserted"], some["updated"], some["rejected"]) == (4, 0, 2, 2)
    assert some["balanced"] is True and some["ok"] is False
    assert {p["line"] for p in some["problems"]} == {2, 5}
    report = Path(some["report"])
    assert report.read_bytes()[:3] == BOM
    assert {r[0] for r in csv.reader(report.read_text(encoding="utf-8-sig").splitlines()[1:])} \
        == {"2", "5"}

    strict = ready.json("registry", "import", str(mixed), "--kind", "businesses", "--strict",
                        expect=1)
    assert strict["stored"] is False
    assert (strict["inserted"], strict["updated"], strict["rejected"]) == (0, 0, 4)

    empty = ready.root / "empty.csv"
    empty.write_bytes(b"")
    bad = ready.json("registry", "import", str(empty), "--kind", "businesses", expect=2)
    assert bad["ok"] is False
    assert bad["error"]["code"] == "empty_file"
    assert "empty" in bad["error"]["message_en"] and bad["error"]["message_zh"]

    text_run = ready("registry", "import", str(mixed), "--kind", "businesses")
    assert text_run.exit_code == 1
    assert "read 4 = inserted 0 + updated 2 + rejected 2" in text_run.output
    assert ready.json("registry", "stats")["businesses"] == N


def test_messages_follow_the_language(ready: Lookback, registers: dict[str, Path]) -> None:
    missing = str(ready.root / "nope.csv")
    en = ready("registry", "import", missing, "--kind", "businesses", lang="en")
    zh = ready("registry", "import", missing, "--kind", "businesses", lang="zh")
    assert en.exit_code == zh.exit_code == 2
    assert "no such file" in en.output and "文件不存在" not in en.output
    assert "文件不存在" in zh.output and "no such file" not in zh.output

    wrong_en = ready("registry", "import", str(registers["businesses"]), "--kind", "inspectors",
                     lang="en")
    wrong_zh = ready("registry", "import", str(registers["businesses"]), "--kind", "inspectors",
                     lang="zh")
    assert wrong_en.exit_code == wrong_zh.exit_code == 2
    assert "missing required column" in wrong_en.output
    assert "use --kind businesses" in wrong_en.output
    assert "缺少" in wrong_zh.output and "请使用 --kind businesses" in wrong_zh.output

    ok_zh = ready("registry", "import", str(registers["businesses"]), "--kind", "businesses",
                  lang="zh")
    assert ok_zh.exit_code == 0 and f"读取{N} = 新增{N}" in ok_zh.output


@pytest.mark.parametrize("case", ["bad --now", "bad --lang", "missing file", "folder as file",
                                  "not initialised", "not initialised (zh)", "bad --batch-rows",
                                  "bad --format"])
def test_user_mistakes_give_a_message_not_a_traceback(lb: Lookback, case: str) -> None:
    fresh = lb.root / "never-initialised.db"
    if case not in ("not initialised", "not initialised (zh)"):
        assert lb("init").exit_code == 0
    some_csv = lb.root / "x.csv"
    some_csv.write_text("uscc,name\n", encoding="utf-8")
    runs: dict[str, tuple[list[str], str, str]] = {
        "bad --now": (["--now", "next tuesday", "init"], "en", "not an ISO date"),
        "bad --lang": (["--lang", "fr", "init"], "en", "fr"),  # said in LOOKBACK_LANG or zh
        "missing file": (["registry", "import", str(lb.root / "missing.csv"), "--kind",
                          "businesses"], "en", "no such file"),
        "folder as file": (["registry", "import", str(lb.root), "--kind", "businesses"], "en",
                           "is a folder"),
        "not initialised": (["registry", "import", str(some_csv), "--kind", "businesses"], "en",
                            "run `lookback init`"),
        "not initialised (zh)": (["registry", "stats"], "zh", "请先运行`lookback init`"),
        "bad --batch-rows": (["registry", "import", str(some_csv), "--kind", "businesses",
                              "--batch-rows", "0"], "en", "--batch-rows must be at least 1"),
        "bad --format": (["registry", "generate", "--businesses", "5", "--out",
                          str(lb.root / "g"), "--format", "ods"], "en", "is not csv or xlsx"),
    }
    args, lang, words = runs[case]
    db = fresh if "not initialised" in case else None
    if args[0] in ("--now", "--lang"):
        # Global options given twice: the later one wins, which is the bad value here.
        result = runner.invoke(app, ["--db", f"sqlite:///{lb.db}", "--data-dir", str(lb.data),
                                     "--lang", lang, *args])
    else:
        result = lb(*args, lang=lang, db=db)
    assert result.exit_code == 2, result.output
    assert words in result.output
    _no_crash(result, lb)
    assert not fresh.exists()  # checking a database never creates it


# --- registry stats -----------------------------------------------------------------------------


def test_stats_rates_match_the_imported_files(ready: Lookback,
                                              registers: dict[str, Path]) -> None:
    for kind in ("businesses", "cadres", "inspectors"):
        ready.json("registry", "import", str(registers[kind]), "--kind", kind)

    businesses = _read(registers["businesses"])
    cadres = _read(registers["cadres"])
    inspectors = _read(registers["inspectors"])
    active = [b for b in businesses if b["status"] == "active"]
    assigned = {u for c in cadres for u in c["assigned_uscc"].split(";") if u}
    covered = [b for b in active if b["uscc"] in assigned]
    staffed = [b for b in active if b["director"] and b["officer"]]
    # Guard: the synthetic data really has gaps, so a rate of 1.0 everywhere would fail.
    assert 0 < len(covered) < len(active) and 0 < len(staffed) < len(active)

    stats = ready.json("registry", "stats")
    assert stats["ok"] is True
    assert stats["businesses"] == N
    assert stats["active_businesses"] == len(active)
    assert stats["coverage_rate"] == pytest.approx(len(covered) / len(active))
    assert stats["staffing_rate"] == pytest.approx(len(staffed) / len(active))
    assert stats["director_rate"] == pytest.approx(
        sum(1 for b in active if b["director"]) / len(active))
    assert stats["cadres"] == len(cadres)
    assert stats["inspectors"] == len(inspectors)
    assert stats["active_inspectors"] == sum(1 for i in inspectors if i["active"] == "yes")
    assert sum(p["businesses"] for p in stats["by_province"]) == len(active)
    beijing = [b for b in active if b["region_code"].startswith("11")]
    row = next(p for p in stats["by_province"] if p["code"] == "110000")
    assert row["businesses"] == len(beijing)
    assert row["coverage_rate"] == pytest.approx(
        sum(1 for b in beijing if b["uscc"] in assigned) / len(beijing))

    text_run = ready("registry", "stats")
    assert text_run.exit_code == 0
    assert f"{stats['coverage_rate'] * 100:.1f}%" in text_run.output


# --- demo ---------------------------------------------------------------------------------------


def test_demo_builds_in_a_new_folder_and_refuses_a_used_one(lb: Lookback) -> None:
    folder = lb.root / "demo"
    result = lb("demo", "--dir", str(folder), "--businesses", str(DEMO_N))
    assert result.exit_code == 0, result.output
    _no_crash(result, lb)
    assert (folder / "lookback.db").is_file()
    reports = sorted((folder / "data" / "reports").glob("*-rejects.csv"))
    assert len(reports) == 1
    raw = reports[0].read_bytes()
    assert raw[:3] == BOM
    lines = {r[0] for r in csv.reader(raw.decode("utf-8-sig").splitlines()[1:])}
    assert lines == {"2", "3", "4", "5", "7"}  # four mistakes and a duplicate of line 6

    stats = lb.json("registry", "stats", db=folder / "lookback.db")
    assert stats["businesses"] == DEMO_N
    assert (folder / "draw" / "record.json").is_file() and (folder / "draw" / "frame.csv").is_file()
    campaign = lb.json("campaign", "show", "1", db=folder / "lookback.db")
    assert campaign["status"] == "launched" and campaign["sampled"] == 126
    # Businesses that reported by their deadline and were verified count as on time, and none
    # of them was ever marked overdue.
    metrics = lb.json("campaign", "metrics", "1", db=folder / "lookback.db")
    assert metrics["on_time_rate"] is not None and metrics["on_time_rate"] > 0
    db = sqlite3.connect(folder / "lookback.db")
    try:
        on_time = [r[0] for r in db.execute("SELECT id FROM issue WHERE on_time = 1")]
        marked = {int(r[0].split(":")[1]) for r in db.execute(
            "SELECT entity FROM event WHERE kind = 'issue.mark_overdue'")}
    finally:
        db.close()
    assert on_time and not set(on_time) & marked

    before = sorted(p.relative_to(folder) for p in folder.rglob("*"))
    db_bytes = (folder / "lookback.db").stat().st_mtime_ns
    again = lb("demo", "--dir", str(folder), "--businesses", str(DEMO_N))
    assert again.exit_code == 2
    assert "not empty" in again.output
    _no_crash(again, lb)
    assert sorted(p.relative_to(folder) for p in folder.rglob("*")) == before
    assert (folder / "lookback.db").stat().st_mtime_ns == db_bytes


def test_demo_with_a_tiny_register_does_not_crash(lb: Lookback) -> None:
    """The demo's file of deliberate mistakes is built from the first five rows of the
    generated register; with --businesses below 5 it raised IndexError (exit 70)."""
    result = lb("demo", "--dir", str(lb.root / "tiny"), "--businesses", "3")
    assert result.exit_code == 2, result.output
    assert "2000" in result.output
    assert not (lb.root / "tiny").exists()  # refused before anything was built
    _no_crash(result, lb)
