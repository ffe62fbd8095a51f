"""The fieldwork commands end to end through the CLI (Typer's runner, a SQLite file, the real
Prefect flow for the launch): visits, checklists, interviews, issues with evidence, extensions,
metrics, closing a campaign, the audit log and the bulk fieldwork import. Messages in English
and Chinese; never a traceback.

The launched database is built once per module; every test works on its own copy of it."""

from __future__ import annotations

import csv
import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from domain.checklists import default_checklists
from domain.workdays import add_workdays
from lookback.cli import app
from storage.calendar import ChineseCalendarSource
from tests.plans import small_plan

# Monday 25 September 2023, 09:00 in Beijing: the National Day holiday (29 Sep – 6 Oct, with
# the make-up working days 7 and 8 Oct) lies inside every rectification period.
NOW = "2023-09-25T09:00:00+08:00"
TODAY = date(2023, 9, 25)
DAYS = {"minor": 4, "general": 9, "serious": 14}

PLAN = small_plan(title="谈话与整改测试督查", days=DAYS)


def run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    assert "internal error" not in result.output and "内部错误" not in result.output
    # --json keeps stdout machine-readable; notes and progress go to stderr.
    return result.stdout if "--json" in args else result.output


@pytest.fixture(scope="module")
def launched(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with registers and a campaign of 12 visits launched through the CLI."""
    folder = tmp_path_factory.mktemp("fieldwork")
    db = folder / "lookback.db"
    base = ["--db", str(db), "--lang", "en", "--data-dir", str(folder / "data"), "--now", NOW]
    run(*base, "init")
    run(*base, "registry", "generate", "--businesses", "1500", "--seed", "11", "--out",
        str(folder / "reg"))
    for kind in ("businesses", "inspectors"):
        run(*base, "registry", "import", str(folder / "reg" / f"{kind}.csv"), "--kind", kind)
    plan = folder / "plan.toml"
    plan.write_text(PLAN, encoding="utf-8")
    assert json.loads(run(*base, "--json", "campaign", "create", str(plan)))["campaign_id"] == 1
    out = json.loads(run(*base, "--json", "campaign", "launch", "1"))
    assert out["visits_planned"] == 12 and out["teams"] == 3 and out["status"] == "launched"
    return db


@dataclass
class Site:
    """A private copy of the launched database, with its own data folder."""

    db: Path
    data: Path
    visits: list[dict[str, Any]]  # by id

    def cli(self, *args: str, code: int = 0, lang: str = "en", now: str = NOW) -> str:
        return run("--db", str(self.db), "--data-dir", str(self.data), "--lang", lang,
                   "--now", now, *args, code=code)

    def json(self, *args: str, code: int = 0, now: str = NOW) -> Any:
        return json.loads(self.cli("--json", *args, code=code, now=now))

    def visit(self, n: int) -> dict[str, Any]:
        return self.visits[n]

    def other_team(self, v: dict[str, Any]) -> int:
        return next(x["team"] for x in self.visits if x["team"] != v["team"])

    def sql(self, query: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.db) as conn:
            return conn.execute(query).fetchall()


@pytest.fixture
def site(launched: Path, tmp_path: Path) -> Site:
    copy = tmp_path / "lookback.db"
    with sqlite3.connect(launched) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)  # a plain file copy would miss what is still in the WAL
    s = Site(copy, tmp_path / "data", [])
    s.visits = sorted(s.json("visit", "list", "--campaign", "1")["items"], key=lambda v: v["id"])
    return s


def answers_file(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def record(site: Site, visit: dict[str, Any], role: str, name: str, answers: str,
           *, code: int = 0) -> Any:
    return site.json("interview", "record", "--visit", str(visit["id"]), "--role", role,
                     "--name", name, "--answers", answers, "--team", str(visit["team"]),
                     code=code)


def due(days: int, start: date = TODAY) -> str:
    d = add_workdays(start, days, ChineseCalendarSource(Path("/nonexistent")))
    assert not d.provisional
    return d.date.isoformat()


# --- visits and checklists ----------------------------------------------------------------------

def test_visit_list_with_team_and_status_filters(site: Site) -> None:
    everything = site.json("visit", "list", "--campaign", "1")
    assert everything["ok"] is True and everything["count"] == 12
    assert {v["status"] for v in everything["items"]} == {"planned"}
    assert all(v["visited_on"] is None and len(v["uscc"]) == 18 for v in everything["items"])
    teams = sorted({v["team"] for v in everything["items"]})
    assert teams == [1, 2, 3]
    per_team = {t: site.json("visit", "list", "--campaign", "1", "--team", str(t)) for t in teams}
    assert sum(p["count"] for p in per_team.values()) == 12
    for t, listed in per_team.items():
        assert {v["team"] for v in listed["items"]} == {t}
    assert site.json("visit", "list", "--campaign", "1", "--status", "done")["count"] == 0

    v = site.visit(4)
    done = site.json("visit", "complete", str(v["id"]), "--team", str(v["team"]))
    assert done == {"ok": True, "visit_id": v["id"], "status": "done",
                    "visited_on": TODAY.isoformat()}
    assert [x["id"] for x in site.json("visit", "list", "--campaign", "1", "--status",
                                       "done")["items"]] == [v["id"]]
    assert site.json("visit", "list", "--campaign", "1", "--status", "planned")["count"] == 11
    assert [x["id"] for x in site.json("visit", "list", "--campaign", "1", "--team",
                                       str(v["team"]), "--status", "done")["items"]] == [v["id"]]

    out = site.cli("visit", "list", "--campaign", "1", "--status", "finished", code=2)
    assert "--status must be planned or done" in out
    assert "--status应为planned或done" in site.cli("visit", "list", "--campaign", "1",
                                                   "--status", "finished", code=2, lang="zh")
    assert "督查1的检查任务" in site.cli("visit", "list", "--campaign", "1", lang="zh")


def test_visit_complete_twice_is_refused(site: Site) -> None:
    v = site.visit(0)
    out = site.cli("visit", "complete", str(v["id"]))
    assert f"Visit {v['id']}" in out and "completed on 2023-09-25" in out
    again = site.cli("visit", "complete", str(v["id"]), code=4)
    assert f"visit {v['id']} is already complete" in again
    assert f"检查任务{v['id']}已完成" in site.cli("visit", "complete", str(v["id"]), code=4,
                                               lang="zh")
    err = site.json("visit", "complete", str(v["id"]), code=4)
    assert err["ok"] is False and err["error"]["code"] == "already_done"
    assert site.sql("SELECT COUNT(*) FROM event WHERE kind = 'visit.completed'") == [(1,)]
    # Another team cannot complete a visit either.
    w = site.visit(1)
    out = site.cli("visit", "complete", str(w["id"]), "--team", str(site.other_team(w)), code=4)
    assert f"belongs to team {w['team']}" in out


def test_checklist_show_for_the_director(site: Site) -> None:
    shown = site.json("checklist", "show", "--role", "director")
    assert shown["ok"] is True and list(shown["roles"]) == ["director"]
    items = shown["roles"]["director"]
    assert [i["id"] for i in items] == [i.id for i in default_checklists().for_role("director")]
    assert {"STAFF-04", "RISK-01", "ROUT-01", "REG-01"} <= {i["id"] for i in items}
    assert "HYG-01" not in {i["id"] for i in items}
    for i in items:
        assert "director" in i["roles"]
        assert i["severity"] in DAYS and i["question_zh"] and i["question_en"]
        assert i["legal_basis"].startswith("《")
    table = site.cli("checklist", "show", "--role", "director", lang="zh")
    assert "问题" in table and "严重程度" in table and "STAFF-04" in table
    assert "--role must be one of" in site.cli("checklist", "show", "--role", "boss", code=2)


# --- interviews ---------------------------------------------------------------------------------

def test_interview_record_from_toml_and_json_registers_issues(site: Site, tmp_path: Path) -> None:
    v = site.visit(0)
    toml = answers_file(tmp_path / "director.toml", """
STAFF-04 = "pass"
RISK-01 = { result = "fail", note = "未制定风险管控清单" }
ROUT-02 = "na"
ROUT-01 = { result = "不合格" }
""")
    out = record(site, v, "director", "张伟", toml)
    assert out == {"ok": True, "interview_id": 1, "answers": 4, "failed": 2,
                   "issues_registered": [1, 2], "issues_existing": []}

    # The owner fails RISK-01 too (already an issue) and TRAIN-06 (a new one); JSON this time.
    js = answers_file(tmp_path / "owner.json", json.dumps({"answers": {
        "RISK-01": "fail", "STAFF-02": {"result": "合格", "note": "已任命"},
        "TRAIN-06": {"result": "FAIL"}}}, ensure_ascii=False))
    out = record(site, v, "owner", "李娜", js)
    assert out == {"ok": True, "interview_id": 2, "answers": 3, "failed": 2,
                   "issues_registered": [3], "issues_existing": [1]}

    issues = {i["id"]: i for i in site.json("issue", "list", "--campaign", "1")["items"]}
    assert {n: (i["item_id"], i["severity"], i["status"], i["due_on"], i["visit_id"])
            for n, i in issues.items()} == {
        1: ("RISK-01", "serious", "open", due(14), v["id"]),
        2: ("ROUT-01", "serious", "open", due(14), v["id"]),
        3: ("TRAIN-06", "minor", "open", due(4), v["id"])}
    assert issues[1]["description"].endswith("（未制定风险管控清单）")
    assert issues[1]["found_on"] == TODAY.isoformat() and issues[1]["due_provisional"] is False
    assert site.sql("SELECT COUNT(*) FROM answer") == [(7,)]
    assert site.sql("SELECT kind, COUNT(*) FROM event WHERE kind IN ('interview.recorded', "
                    "'issue.registered') GROUP BY kind ORDER BY kind") == [
        ("interview.recorded", 2), ("issue.registered", 3)]

    human = site.cli("interview", "record", "--visit", str(v["id"]), "--role", "officer",
                     "--name", "王芳", "--answers",
                     answers_file(tmp_path / "o.toml", 'HYG-01 = "pass"\nROUT-01 = "fail"\n'))
    assert "Interview 3 recorded: 2 answers, 1 failed" in human
    assert "already registered: 2" in human
    zh = site.cli("interview", "record", "--visit", str(v["id"]), "--role", "cadre",
                  "--name", "包保干部甲", "--answers",
                  answers_file(tmp_path / "c.toml", 'SUP-01 = "pass"\n'), lang="zh")
    assert "已记录谈话4" in zh

    # The same person twice is refused.
    again = site.cli("interview", "record", "--visit", str(v["id"]), "--role", "director",
                     "--name", "张伟", "--answers", toml, code=4)
    assert "already recorded" in again


def test_a_bad_answers_file_lists_every_mistake_and_stores_nothing(
        site: Site, tmp_path: Path) -> None:
    v = site.visit(1)
    bad = answers_file(tmp_path / "bad.toml", """
NOPE-99 = "pass"
STAFF-04 = "maybe"
HYG-01 = "fail"
RISK-01 = "fail"
""")
    args = ("interview", "record", "--visit", str(v["id"]), "--role", "director", "--name", "周强",
            "--answers", bad)
    out = site.cli(*args, code=2)
    assert "NOPE-99: no such checklist item" in out
    assert "STAFF-04: result 'maybe': expected pass, fail or na" in out
    assert "HYG-01: this item is not asked of the director" in out
    zh = site.cli(*args, code=2, lang="zh")
    assert "作答有误" in zh and "没有该检查项" in zh and "“maybe”" in zh
    err = site.json(*args, code=2)
    assert err["ok"] is False and err["error"]["code"] == "bad_answers"
    for table in ("interview", "answer", "issue"):
        assert site.sql(f"SELECT COUNT(*) FROM {table}") == [(0,)]
    assert site.sql("SELECT COUNT(*) FROM event WHERE kind LIKE 'interview.%' OR "
                    "kind LIKE 'issue.%'") == [(0,)]
    # A file that is not a table of answers at all.
    junk = answers_file(tmp_path / "junk.json", "[1, 2]")
    assert "expected a table of answers" in site.cli(
        "interview", "record", "--visit", str(v["id"]), "--role", "director", "--name", "周强",
        "--answers", junk, code=2)


def test_a_wrong_team_is_refused_naming_the_team(site: Site, tmp_path: Path) -> None:
    v = site.visit(2)
    wrong = site.other_team(v)
    ok = answers_file(tmp_path / "a.toml", 'STAFF-04 = "fail"\n')
    args = ("interview", "record", "--visit", str(v["id"]), "--role", "director", "--name", "吴刚",
            "--answers", ok, "--team", str(wrong))
    out = site.cli(*args, code=4)
    assert f"visit {v['id']} belongs to team {v['team']}, not team {wrong}" in out
    zh = site.cli(*args, code=4, lang="zh")
    assert f"属于第{v['team']}组，不属于第{wrong}组" in zh
    assert site.json(*args, code=4)["error"]["code"] == "wrong_team"
    assert site.sql("SELECT COUNT(*) FROM interview") == [(0,)]
    assert site.sql("SELECT COUNT(*) FROM issue") == [(0,)]


def test_an_unknown_visit_is_not_found(site: Site, tmp_path: Path) -> None:
    ok = answers_file(tmp_path / "a.toml", 'STAFF-04 = "pass"\n')
    out = site.cli("interview", "record", "--visit", "999", "--role", "director", "--name", "甲",
                   "--answers", ok, code=3)
    assert "visit 999 does not exist" in out
    assert "检查任务999不存在" in site.cli("visit", "complete", "999", code=3, lang="zh")


def test_a_visit_number_past_64_bits_is_not_found_rather_than_an_internal_error(
        site: Site, tmp_path: Path) -> None:
    """Bug: an id past 64 bits reaches SQLite unchecked (OverflowError → exit 70, crash log)."""
    ok = answers_file(tmp_path / "a.toml", 'STAFF-04 = "pass"\n')
    huge = "99999999999999999999"
    out = site.cli("interview", "record", "--visit", huge, "--role", "director", "--name", "甲",
                   "--answers", ok, code=3)
    assert f"visit {huge} does not exist" in out
    assert f"visit {huge} does not exist" in site.cli("visit", "complete", huge, code=3)
    assert f"issue {huge} does not exist" in site.cli("issue", "show", huge, code=3)


# --- issues -------------------------------------------------------------------------------------

def test_issue_add_stores_evidence_by_content_never_overwritten(
        site: Site, tmp_path: Path) -> None:
    photo = tmp_path / "冷库照片.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40)
    memo = tmp_path / "memo.txt"
    memo.write_text("现场检查记录：冷库温度超标。\n", encoding="utf-8")
    v = site.visit(3)
    added = site.json("issue", "add", "--provision", "1", "--visit", str(v["id"]), "--category", "hygiene_storage",
                      "--severity", "general", "--description", "冷库温度超标",
                      "--evidence", str(photo), "--evidence", str(memo),
                      "--team", str(v["team"]))
    assert added["ok"] is True and added["item_id"] is None
    assert (added["category"], added["severity"], added["status"]) == (
        "hygiene_storage", "general", "open")
    assert added["due_on"] == due(9) and added["visit_id"] == v["id"]
    issue = added["id"]

    import hashlib

    blobs: dict[str, Path] = {}
    for src in (photo, memo):
        sha = hashlib.sha256(src.read_bytes()).hexdigest()
        blob = site.data / "evidence" / sha[:2] / sha[2:4] / sha
        assert blob.is_file() and blob.read_bytes() == src.read_bytes()
        blobs[sha] = blob
    stat = {sha: (b.stat().st_ino, b.stat().st_mtime_ns) for sha, b in blobs.items()}

    shown = site.json("issue", "show", str(issue))
    assert sorted((e["sha256"], e["filename"], e["size"], e["purpose"])
                  for e in shown["evidence"]) == sorted(
        (hashlib.sha256(p.read_bytes()).hexdigest(), p.name, p.stat().st_size, "finding")
        for p in (photo, memo))
    assert [h["kind"] for h in shown["history"]] == ["issue.registered"]
    assert sorted(shown["history"][0]["payload"]["evidence"]) == sorted(blobs)

    # The same photo again (another issue, and renamed): one blob, untouched.
    renamed = tmp_path / "copy.jpg"
    renamed.write_bytes(photo.read_bytes())
    second = site.json("issue", "add", "--provision", "1", "--visit", str(v["id"]), "--category", "records",
                       "--severity", "minor", "--description", "台账缺页",
                       "--evidence", str(renamed))
    assert second["id"] == issue + 1
    files = sorted(p for p in (site.data / "evidence").rglob("*") if p.is_file())
    assert files == sorted(blobs.values())
    for sha, blob in blobs.items():
        assert (blob.stat().st_ino, blob.stat().st_mtime_ns) == stat[sha]
    photo_sha = hashlib.sha256(photo.read_bytes()).hexdigest()
    assert [e["sha256"] for e in site.json("issue", "show", str(second["id"]))["evidence"]] == [
        photo_sha]

    # A missing evidence file is refused clearly, and nothing is registered.
    out = site.cli("issue", "add", "--provision", "1", "--visit", str(v["id"]), "--category", "records",
                   "--severity", "minor", "--description", "x", "--evidence",
                   str(tmp_path / "missing.jpg"), code=2)
    assert "missing.jpg does not exist" in out
    assert site.sql("SELECT COUNT(*) FROM issue") == [(2,)]
    # Bad category and severity are listed together.
    out = site.cli("issue", "add", "--provision", "1", "--visit", str(v["id"]), "--category", "food",
                   "--severity", "huge", "--description", "x", code=2)
    assert "--category: 'food'" in out and "--severity: 'huge'" in out


def _one_issue(site: Site, tmp_path: Path, n: int = 0, item: str = "RISK-01") -> tuple[int, str]:
    v = site.visit(n)
    out = record(site, v, "director", f"总监{n}",
                 answers_file(tmp_path / f"d{n}.toml", f'{item} = "fail"\n'))
    issue = out["issues_registered"][0]
    return issue, site.json("issue", "show", str(issue))["due_on"]


def test_rectify_then_again_is_refused_naming_the_state(site: Site, tmp_path: Path) -> None:
    issue, _ = _one_issue(site, tmp_path)
    proof = tmp_path / "整改照片.png"
    proof.write_bytes(b"\x89PNG\r\n\x1a\n" + b"after" * 100)
    done = site.json("issue", "rectify", str(issue), "--measures", "已制定风险管控清单并张贴",
                     "--evidence", str(proof))
    assert done["status"] == "rectification_reported" and done["version"] == 2
    out = site.cli("issue", "rectify", str(issue), "--measures", "再次报告", code=4)
    assert f"issue {issue} is rectification_reported" in out and "cannot report" in out
    zh = site.cli("issue", "rectify", str(issue), "--measures", "再次报告", code=4, lang="zh")
    assert "已报告整改" in zh
    assert site.json("issue", "rectify", str(issue), "--measures", "x",
                     code=4)["error"]["code"] == "illegal_transition"
    shown = site.json("issue", "show", str(issue))
    assert [h["kind"] for h in shown["history"]] == ["issue.registered",
                                                     "issue.report_rectification"]
    assert shown["history"][1]["payload"]["measures"] == "已制定风险管控清单并张贴"
    assert [e["purpose"] for e in shown["evidence"]] == ["rectification"]
    assert site.sql("SELECT COUNT(*) FROM rectification") == [(1,)]
    assert "--measures" in site.cli("issue", "rectify", str(issue), "--measures", " ", code=2)
    assert "issue 99 does not exist" in site.cli("issue", "rectify", "99", "--measures", "x",
                                                 code=3)


def test_extend_needs_an_approver_and_moves_the_due_date_by_working_days(
        site: Site, tmp_path: Path) -> None:
    issue, old_due = _one_issue(site, tmp_path, item="TRAIN-02")  # general: 9 working days
    assert old_due == due(9)
    missing = site.cli("issue", "extend", str(issue), "--workdays", "5", "--reason", "设备待采购",
                       code=2)
    assert "--approver" in missing
    empty = site.cli("issue", "extend", str(issue), "--workdays", "5", "--reason", "设备待采购",
                     "--approver", " ", code=2)
    assert "needs an approver" in empty
    assert "--workdays" in site.cli("issue", "extend", str(issue), "--workdays", "0", "--reason",
                                    "x", "--approver", "李局", code=2)
    assert site.json("issue", "show", str(issue))["due_on"] == old_due

    out = site.json("issue", "extend", str(issue), "--workdays", "5", "--reason", "设备待采购",
                    "--approver", "市局李局长")
    expected = site.json("calendar", "add-workdays", old_due, "5")["due"]
    assert out["due_on"] == expected == due(5, date.fromisoformat(old_due))
    assert out["status"] == "open" and out["due_provisional"] is False

    shown = site.json("issue", "show", str(issue))
    ext = shown["history"][-1]
    assert ext["kind"] == "issue.extend"
    assert ext["payload"]["approver"] == "市局李局长" and ext["payload"]["workdays"] == 5
    assert ext["payload"]["due_on"] == expected
    assert site.sql(f"SELECT old_due_on, new_due_on, approver FROM extension "
                    f"WHERE issue_id = {issue}") == [(old_due, expected, "市局李局长")]
    human = site.cli("issue", "extend", str(issue), "--workdays", "1", "--reason", "再延",
                     "--approver", "王处", lang="zh")
    assert "审批人：王处" in human


def test_issue_list_overdue_and_province(site: Site, tmp_path: Path) -> None:
    a, due_a = _one_issue(site, tmp_path, 0, "TRAIN-02")  # general
    b, due_b = _one_issue(site, tmp_path, 1, "RISK-01")  # serious, due later
    assert due_a < due_b
    day_after_a = (date.fromisoformat(due_a).toordinal() + 1)
    between = date.fromordinal(day_after_a).isoformat()

    assert site.json("issue", "list", "--overdue")["count"] == 0
    assert site.json("issue", "list", "--overdue", now=due_a)["count"] == 0  # due today: not yet
    assert [i["id"] for i in site.json("issue", "list", "--overdue", now=between)["items"]] == [a]
    late = site.json("issue", "list", "--overdue", now="2024-03-01")
    assert [i["id"] for i in late["items"]] == [a, b]
    site.cli("issue", "rectify", str(b), "--measures", "已整改")
    # Reported before its due date: it waits for its look-back and is not overdue
    # (逾期未整改 means nothing was reported by the deadline).
    assert [i["id"] for i in site.json("issue", "list", "--overdue",
                                       now="2024-03-01")["items"]] == [a]
    assert "1 issue(s)" in site.cli("issue", "list", "--overdue", now=between)
    assert "问题1个" in site.cli("issue", "list", "--overdue", now=between, lang="zh")

    prov = {n: site.visit(n)["region"][:2] + "0000" for n in (0, 1)}
    for n, issue in ((0, a), (1, b)):
        listed = site.json("issue", "list", "--province", prov[n])["items"]
        assert issue in [i["id"] for i in listed]
        assert {i["province"] for i in listed} == {prov[n]}
    assert site.json("issue", "list", "--province", "650000")["count"] == 0
    assert [i["id"] for i in site.json("issue", "list", "--status",
                                       "rectification_reported")["items"]] == [b]
    assert "--status must be one of" in site.cli("issue", "list", "--status", "closed", code=2)


# --- metrics, closing, audit ---------------------------------------------------------------------

def test_campaign_metrics_agree_with_what_was_recorded(site: Site, tmp_path: Path) -> None:
    from domain.clock import FixedClock
    from domain.issues import Action, transition
    from storage.db import make_engine
    from storage.uow import SqlUnitOfWork

    v0, v1 = site.visit(0), site.visit(1)
    record(site, v0, "director", "张伟",
           answers_file(tmp_path / "d.toml", 'RISK-01 = "fail"\nSTAFF-04 = "pass"\n'))
    record(site, v0, "owner", "李娜",
           answers_file(tmp_path / "o.toml", 'RISK-01 = "fail"\nTRAIN-06 = "fail"\n'))
    free = site.json("issue", "add", "--provision", "1", "--visit", str(v1["id"]), "--category", "hygiene_storage",
                     "--severity", "general", "--description", "冷库温度超标")["id"]
    site.cli("visit", "complete", str(v0["id"]))
    site.cli("issue", "rectify", "1", "--measures", "已制定清单")
    # There is no CLI command to verify yet: the follow-up verifies through the domain.
    engine = make_engine(f"sqlite:///{site.db}")
    try:
        transition(1, Action.VERIFY, actor="test", uow_factory=lambda: SqlUnitOfWork(engine),
                   clock=FixedClock(datetime(2023, 10, 9, 2, tzinfo=UTC)))
    finally:
        engine.dispose()

    m = site.json("campaign", "metrics", "1")
    assert m["ok"] is True and m["campaign"]["status"] == "launched"
    assert m["today"] == TODAY.isoformat()
    assert m["visits"] == {"planned": 12, "done": 1, "completion_rate": 1 / 12}
    assert m["interviews"] == {"total": 2, "by_role": {"director": 1, "owner": 1}}
    iss = m["issues"]
    assert (iss["registered"], iss["verified"]) == (3, 1)
    assert iss["by_category"] == {"risk_control": 1, "training": 1, "hygiene_storage": 1}
    assert iss["by_severity"] == {"serious": 1, "minor": 1, "general": 1}
    assert iss["by_status"] == {"verified": 1, "open": 2}
    assert m["rectification_rate"] == pytest.approx(iss["verified"] / iss["registered"])
    assert m["on_time_rate"] == 1.0  # only the verified issue is due or verified by today
    assert m["overdue"] == []
    assert sum(p["visits"] for p in m["provinces"]) == 12
    assert sum(p["visits_done"] for p in m["provinces"]) == 1
    assert sum(p["issues"] for p in m["provinces"]) == 3
    assert sum(p["verified"] for p in m["provinces"]) == 1
    p0 = next(p for p in m["provinces"] if p["code"] == v0["region"][:2] + "0000")
    assert p0["visits_done"] == 1 and p0["verified"] == 1
    for p in m["provinces"]:
        assert p["rectification_rate"] == (p["verified"] / p["issues"] if p["issues"] else None)

    later = site.json("campaign", "metrics", "1", now="2024-03-01")
    assert later["on_time_rate"] == pytest.approx(1 / 3)
    assert later["rectification_rate"] == pytest.approx(1 / 3)
    train06 = next(i["id"] for i in site.json("issue", "list")["items"]
                   if i["item_id"] == "TRAIN-06")
    assert [o["id"] for o in later["overdue"]] == [train06, free]  # by due date: minor first
    assert set(later["overdue"][0]) >= {"id", "uscc", "name", "category", "due_on", "status"}

    zh = site.cli("campaign", "metrics", "1", lang="zh")
    assert "整改率33.3%" in zh and "完成1/12" in zh
    en = site.cli("campaign", "metrics", "1")
    assert "rectification rate 33.3%" in en and "Visits: 1 of 12 done" in en
    assert "does not exist" in site.cli("campaign", "metrics", "7", code=3)


def test_a_closed_campaign_refuses_recording(site: Site, tmp_path: Path) -> None:
    issue, _ = _one_issue(site, tmp_path)
    assert "Campaign 1 closed." in site.cli("campaign", "close", "1")
    assert site.json("campaign", "show", "1")["status"] == "closed"
    v = site.visit(2)
    ok = answers_file(tmp_path / "a.toml", 'STAFF-04 = "fail"\n')
    args = ("interview", "record", "--visit", str(v["id"]), "--role", "director", "--name", "吴刚",
            "--answers", ok)
    out = site.cli(*args, code=4)
    assert f"campaign 1 is closed; visit {v['id']} can no longer be recorded" in out
    assert "督查1已结束" in site.cli(*args, code=4, lang="zh")
    assert site.json(*args, code=4)["error"]["code"] == "campaign_closed"
    assert "campaign 1 is closed" in site.cli("visit", "complete", str(v["id"]), code=4)
    assert "campaign 1 is closed" in site.cli(
        "issue", "add", "--provision", "1", "--visit", str(v["id"]), "--category", "records", "--severity", "minor",
        "--description", "x", code=4)
    csv_path = tmp_path / "closed.csv"
    csv_path.write_text(f"visit_id,role,name,item_id,result\n{v['id']},owner,钱多,STAFF-02,pass\n",
                        encoding="utf-8")
    imported = site.json("fieldwork", "import", str(csv_path), code=1)
    assert (imported["stored"], imported["rejected"]) == (0, 1)
    assert site.sql("SELECT COUNT(*) FROM interview") == [(1,)]
    # Issues already registered can still be followed up.
    assert site.json("issue", "rectify", str(issue), "--measures", "已整改")["status"] == (
        "rectification_reported")
    assert "OK" in site.cli("audit", "verify")


def test_audit_verify_and_log_of_one_issue(site: Site, tmp_path: Path) -> None:
    issue, old_due = _one_issue(site, tmp_path)
    site.cli("issue", "rectify", str(issue), "--measures", "已整改")
    site.cli("issue", "extend", str(issue), "--workdays", "3", "--reason", "复查排期",
             "--approver", "李局")
    out = site.cli("audit", "verify")
    assert out.startswith("OK:") and "hash chain intact" in out
    assert "核验通过" in site.cli("audit", "verify", lang="zh")
    verified = site.json("audit", "verify")
    assert verified["ok"] is True and verified["first_broken"] is None
    assert verified["events"] == site.sql("SELECT COUNT(*) FROM event")[0][0]

    log = site.json("audit", "log", "--entity", f"issue:{issue}")
    assert log["ok"] is True and log["count"] == 3
    assert [e["kind"] for e in log["items"]] == ["issue.registered", "issue.report_rectification",
                                                "issue.extend"]
    assert {e["entity"] for e in log["items"]} == {f"issue:{issue}"}
    seqs = [e["seq"] for e in log["items"]]
    assert seqs == sorted(seqs) and all(len(e["hash"]) == 64 for e in log["items"])
    assert log["items"][0]["payload"]["item"] == "RISK-01"
    assert log["items"][0]["payload"]["due_on"] == old_due
    assert log["items"][2]["payload"]["from"] == "rectification_reported"
    assert site.json("audit", "log", "--entity", "issue:999")["count"] == 0
    assert "事件日志" in site.cli("audit", "log", "--limit", "5", lang="zh")


# --- bulk import ----------------------------------------------------------------------------------

def test_fieldwork_import_with_a_bad_row_exits_1_with_the_report(
        site: Site, tmp_path: Path) -> None:
    v = site.visit(5)
    path = tmp_path / "team-export.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["visit_id", "role", "name", "item_id", "result", "note", "team"])
        w.writerow([v["id"], "director", "甲", "STAFF-04", "pass", "", v["team"]])
        w.writerow([v["id"], "director", "甲", "RISK-01", "fail", "无清单", v["team"]])
        w.writerow([v["id"], "officer", "乙", "NOPE-99", "pass", "", v["team"]])
    out = site.cli("fieldwork", "import", str(path), code=1)
    assert "read 3 = stored 2 + rejected 1" in out and "1 issues registered" in out
    assert "Report:" in out
    reports = list((site.data / "reports").glob("fieldwork-*-team-export-rejects.csv"))
    assert len(reports) == 1
    assert str(reports[0]) in out.replace("\n", "")
    with reports[0].open(encoding="utf-8-sig", newline="") as f:
        lines = list(csv.DictReader(f))
    assert [(r["行号 line"], r["列 column"], r["值 value"]) for r in lines] == [
        ("4", "item_id", "NOPE-99")]
    assert site.sql("SELECT COUNT(*) FROM interview") == [(1,)]
    assert site.sql("SELECT COUNT(*) FROM answer") == [(2,)]

    # The rerun, as JSON, to a report path of our choosing, in Chinese for people.
    chosen = tmp_path / "rejects.csv"
    again = site.json("fieldwork", "import", str(path), "--report", str(chosen), code=1)
    assert again == {"ok": False, "file": str(path), "read": 3, "stored": 0, "rejected": 3,
                     "interviews": 0, "issues_registered": 0, "balanced": True,
                     "report": str(chosen)}
    zh = site.cli("fieldwork", "import", str(path), code=1, lang="zh")
    assert "读取3 = 保存0 + 拒绝3" in zh and "报告" in zh

    clean = tmp_path / "clean.json"
    clean.write_text(json.dumps([{"visit_id": v["id"], "role": "owner", "name": "丙",
                                  "item_id": "STAFF-02", "result": "pass"}],
                                ensure_ascii=False), encoding="utf-8")
    ok = site.json("fieldwork", "import", str(clean))
    assert ok["ok"] is True and ok["report"] is None and ok["stored"] == 1
    missing = site.cli("fieldwork", "import", str(tmp_path / "nothing.csv"), code=2)
    assert "no such file" in missing


# --- what the output says: Chinese names, true totals, one list shape, provisional dates ------

LIST_KEYS = {"ok", "items", "count", "offset", "limit", "truncated"}


def test_chinese_output_names_every_code_and_json_keeps_the_codes(site: Site,
                                                                  tmp_path: Path) -> None:
    _one_issue(site, tmp_path, 0, "TRAIN-02")  # general
    _one_issue(site, tmp_path, 1, "RISK-01")  # serious
    zh = site.cli("campaign", "metrics", "1", lang="zh")
    assert "食品安全总监" in zh and "director" not in zh
    assert "严重" in zh and "一般" in zh and "serious" not in zh and "general" not in zh
    assert "待通知" in zh and " open" not in zh
    assert "风险管控" in zh and "risk_control" not in zh
    listed = site.cli("issue", "list", lang="zh")
    assert "风险管控" in listed and "risk_control" not in listed and "待通知" in listed
    m = site.json("campaign", "metrics", "1")
    assert set(m["interviews"]["by_role"]) == {"director"}
    assert set(m["issues"]["by_severity"]) == {"general", "serious"}
    assert {i["status"] for i in site.json("issue", "list")["items"]} == {"open"}


def test_a_cut_list_tells_its_true_total(site: Site, tmp_path: Path) -> None:
    for n in range(3):
        _one_issue(site, tmp_path, n, "RISK-01")
    page = site.json("issue", "list", "--limit", "2")
    assert set(page) == LIST_KEYS
    assert (page["count"], len(page["items"]), page["truncated"], page["limit"]) == (3, 2, True, 2)
    text = site.cli("issue", "list", "--limit", "2")
    assert "1 more not shown (3 in all)" in text
    zh = site.cli("issue", "list", "--limit", "2", lang="zh")
    assert "另有1条未显示（共3条）" in zh
    whole = site.json("issue", "list")
    assert (whole["count"], len(whole["items"]), whole["truncated"]) == (3, 3, False)
    assert "more not shown" not in site.cli("issue", "list")


def test_every_cli_list_has_the_one_shape(site: Site, tmp_path: Path) -> None:
    _one_issue(site, tmp_path)
    for args in (("campaign", "list"), ("visit", "list", "--campaign", "1"), ("issue", "list"),
                 ("audit", "log"), ("notices", "list"), ("followup", "list"),
                 ("supervision", "list"), ("users", "list")):
        out = site.json(*args)
        assert set(out) >= LIST_KEYS, args
        assert out["count"] >= len(out["items"]), args


def test_a_provisional_due_date_is_marked_where_it_is_shown(site: Site, tmp_path: Path) -> None:
    # Found in December 2030: the year has no official calendar, so the due date is counted
    # over weekends only and marked provisional until a calendar for it arrives.
    v = site.visit(2)
    out = site.json("interview", "record", "--visit", str(v["id"]), "--role", "director",
                    "--name", "总监",
                    "--answers", answers_file(tmp_path / "p.toml", 'RISK-01 = "fail"\n'),
                    now="2030-12-20T09:00:00+08:00")
    issue = out["issues_registered"][0]
    shown = site.json("issue", "show", str(issue))
    assert shown["due_provisional"] is True
    assert "(provisional)" in site.cli("issue", "list")
    assert "（暂定）" in site.cli("issue", "list", lang="zh")
    assert "（暂定）" in site.cli("issue", "show", str(issue), lang="zh")


def test_hostile_text_is_shown_as_text_in_every_table(site: Site) -> None:
    """A description with Rich markup and terminal escapes neither breaks a listing nor acts on
    the terminal (a MarkupError here made `issue list` fail for everyone)."""
    v = site.visit(3)
    # Control characters are refused on input, naming them ...
    refused = site.cli("issue", "add", "--provision", "1", "--visit", str(v["id"]), "--category", "records",
                       "--severity", "minor", "--description", "过期\x1b]0;pwned\x07\x1b[2J",
                       code=2)
    assert "control characters" in refused and "\\x1b" in refused and "\x1b" not in refused
    # ... and markup is stored as the text it is, and shown as text.
    hostile = "过期牛奶[/][link=http://evil.example]click[/link][bold red]"
    added = site.json("issue", "add", "--provision", "1", "--visit", str(v["id"]), "--category", "records",
                      "--severity", "minor", "--description", hostile)
    for args in (("issue", "list"), ("issue", "show", str(added["id"])),
                 ("followup", "list")):
        for lang in ("zh", "en"):
            out = site.cli(*args, lang=lang)
            assert "\x1b" not in out, args
    assert "[link=http://evil.example]" in site.cli("issue", "show", str(added["id"]))


def test_a_free_form_finding_names_the_provision_it_breaches(site: Site) -> None:
    """Without --provision or --legal-basis the finding is refused, naming the choices;
    `issue provisions` lists them and `issue show` prints the one chosen."""
    v = site.visit(3)
    listed = site.json("issue", "provisions", "--category", "hygiene_storage")
    assert listed["count"] == len(listed["items"]) >= 2
    assert [p["provision"] for p in listed["items"]] == list(range(1, listed["count"] + 1))
    before = site.json("issue", "list")["count"]
    refused = site.cli("issue", "add", "--visit", str(v["id"]), "--category", "hygiene_storage",
                       "--severity", "minor", "--description", "冷柜温度超标", code=2)
    assert "--provision" in refused and listed["items"][0]["legal_basis"] in refused
    assert site.json("issue", "list")["count"] == before
    added = site.json("issue", "add", "--visit", str(v["id"]), "--category", "hygiene_storage",
                      "--severity", "minor", "--description", "冷柜温度超标", "--provision", "2")
    assert added["legal_basis"] == listed["items"][1]["legal_basis"]
    assert listed["items"][1]["legal_basis"] in site.cli("issue", "show", str(added["id"]),
                                                         lang="zh")
    given = site.json("issue", "add", "--visit", str(v["id"]), "--category", "records",
                      "--severity", "minor", "--description", "台账缺页",
                      "--legal-basis", "《中华人民共和国食品安全法》第五十条")
    assert given["legal_basis"] == "《中华人民共和国食品安全法》第五十条"
    assert "《》" in site.cli("issue", "add", "--visit", str(v["id"]), "--category", "records",
                             "--severity", "minor", "--description", "台账缺页",
                             "--legal-basis", "食品安全法", code=2, lang="en")
