"""Bulk recording of interview answers against a real database with a launched campaign (SQLite,
and PostgreSQL too when LOOKBACK_TEST_DATABASE_URL is set): the same answers in CSV (UTF-8 and
GB18030), XLSX and JSON store the same interviews, answers and issues; every bad row is reported
with its line, and an interview with one bad row is stored not at all; failed items register one
issue per campaign, business and item; a rerun changes nothing; a crash stores nothing; each
interview and each issue writes one event."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from domain import campaigns as svc
from domain.checklists import Checklists, default_checklists
from domain.clock import FixedClock
from domain.events import verify_chain
from domain.fieldwork import Visit
from domain.fieldwork_import import FieldworkSummary, record_batch
from domain.importing import import_register
from domain.registers import RegisterKind
from domain.workdays import add_workdays
from storage.calendar import ChineseCalendarSource
from storage.fieldwork import SqlFieldworkRepository
from storage.fieldwork_files import read_fieldwork
from storage.readers import RegisterFile
from storage.reports import CsvProblemReport, ListProblemSink
from storage.synthetic import generate
from storage.uow import SqlUnitOfWork
from tests.integration._support import count, read_csv
from tests.plans import small_plan

# Monday 25 September 2023, 09:00 in Beijing: the National Day holiday (29 Sep – 6 Oct, with
# the make-up working days 7 and 8 Oct) lies inside every rectification period.
CLOCK = FixedClock(datetime(2023, 9, 25, 1, 0, tzinfo=UTC))
TODAY = date(2023, 9, 25)
ACTOR = "team-export"

DAYS = {"minor": 4, "general": 9, "serious": 14}
PLAN = small_plan(title="谈话记录导入测试", days=DAYS)

HEADER = ["visit_id", "role", "name", "item_id", "result", "note", "team"]
HEADER_ZH = ["检查任务", "受访角色", "受访人", "检查项", "检查结果", "备注", "督查组"]
RESULT_ZH = {"pass": "合格", "fail": "不合格", "na": "不适用"}
RESULT_XLSX = {"pass": "OK", "fail": "FAIL", "na": "n/a"}


@pytest.fixture(scope="module")
def registers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fieldwork-registers")
    generate(folder, businesses=1500, seed=11)
    return folder


@dataclass
class Site:
    """A database with the registers loaded and one launched campaign of 12 visits."""

    engine: Engine
    uow_factory: Callable[[], SqlUnitOfWork]
    campaign_id: int
    visits: list[Visit]  # by id
    calendar: ChineseCalendarSource
    checklists: Checklists

    def visit(self, n: int) -> Visit:
        return self.visits[n]

    def other_team(self, v: Visit) -> int:
        return next(x.team_no for x in self.visits if x.team_no != v.team_no)


@pytest.fixture
def site(engine: Engine, uow_factory: Callable[[], SqlUnitOfWork], registers: Path,
         tmp_path: Path) -> Site:
    for kind in (RegisterKind.BUSINESSES, RegisterKind.INSPECTORS):
        f = RegisterFile(registers / f"{kind.value}.csv", kind)
        s = import_register(kind, f.rows(), uow_factory=uow_factory, clock=CLOCK,
                            sink=ListProblemSink(), source=str(f), sha256=f.sha256)
        assert s.rejected == 0
    cid = svc.create_campaign(PLAN, source="plan.toml", uow_factory=uow_factory, clock=CLOCK,
                              new_seed=lambda: "1")
    svc.launch(cid, uow_factory=uow_factory, clock=CLOCK)
    with uow_factory() as uow:
        visits = sorted(uow.fieldwork.list_visits(cid, team=None, status=None),
                        key=lambda v: v.id)
    assert len(visits) == 12 and len({v.team_no for v in visits}) == 3
    assert len({v.uscc for v in visits}) == 12
    return Site(engine, uow_factory, cid, visits, ChineseCalendarSource(tmp_path / "data"),
                default_checklists())


def record(site: Site, path: Path, sink: Any = None) -> tuple[FieldworkSummary, Any]:
    """What `lookback fieldwork import` does: read the file, record the batch."""
    sink = sink if sink is not None else ListProblemSink()
    summary = record_batch(list(read_fieldwork(path)), uow_factory=site.uow_factory, clock=CLOCK,
                           checklists=site.checklists, calendar=site.calendar, sink=sink,
                           actor=ACTOR)
    return summary, sink


# --- writing the same answers in every format -------------------------------------------------

Row = tuple[object, str, str, str, str, str, object]  # visit, role, name, item, result, note, team


def write_csv(path: Path, rows: list[Row], *, encoding: str = "utf-8",
              header: list[str] = HEADER, results: dict[str, str] | None = None) -> Path:
    with path.open("w", encoding=encoding, newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for v, role, name, item, result, note, team in rows:
            w.writerow([v, role, name, item, (results or {}).get(result, result), note,
                        "" if team is None else team])
    return path


def write_xlsx(path: Path, rows: list[Row]) -> Path:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(HEADER)
    for v, role, name, item, result, note, team in rows:
        ws.append([v, role, name, item, RESULT_XLSX.get(result, result), note or None, team])
    wb.save(path)
    return path


def write_json(path: Path, rows: list[Row]) -> Path:
    data = {"answers": [{"visit_id": v, "role": role, "name": name, "item_id": item,
                         "result": result, "note": note, "team": team}
                        for v, role, name, item, result, note, team in rows]}
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def good_rows(site: Site) -> list[Row]:
    """Three interviews at two businesses; RISK-01 fails for both the director and the owner of
    the first one (one issue), TRAIN-06 and HYG-01 fail once each."""
    v1, v2 = site.visit(0), site.visit(1)
    return [
        (v1.id, "director", "张伟", "STAFF-04", "pass", "", v1.team_no),
        (v1.id, "director", "张伟", "RISK-01", "fail", "未制定风险管控清单", v1.team_no),
        (v1.id, "director", "张伟", "ROUT-02", "na", "", None),
        (v1.id, "owner", "李娜", "RISK-01", "fail", "", v1.team_no),
        (v1.id, "owner", "李娜", "STAFF-02", "pass", "已任命总监", v1.team_no),
        (v1.id, "owner", "李娜", "TRAIN-06", "fail", "", v1.team_no),
        (v2.id, "officer", "王芳", "HYG-01", "fail", "冰箱生熟混放", v2.team_no),
        (v2.id, "officer", "王芳", "PURCH-02", "pass", "", v2.team_no),
    ]


WRITERS: dict[str, Callable[[Path, list[Row]], Path]] = {
    "csv-utf8": lambda p, rows: write_csv(p.with_suffix(".csv"), rows),
    "csv-utf8-bom-zh-headers": lambda p, rows: write_csv(
        p.with_suffix(".csv"), rows, encoding="utf-8-sig", header=HEADER_ZH, results=RESULT_ZH),
    "csv-gb18030-zh-headers": lambda p, rows: write_csv(
        p.with_suffix(".csv"), rows, encoding="gb18030", header=HEADER_ZH, results=RESULT_ZH),
    "xlsx": lambda p, rows: write_xlsx(p.with_suffix(".xlsx"), rows),
    "json": lambda p, rows: write_json(p.with_suffix(".json"), rows),
}


# --- reading the database back ------------------------------------------------------------------

def rows(engine: Engine, sql: str) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(text(sql)).all())


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every fieldwork row, without ids or timestamps."""
    return {
        "interviews": rows(engine, "SELECT visit_id, role, name, recorded_by FROM interview"),
        "answers": rows(engine, "SELECT i.visit_id, i.role, i.name, a.item_id, a.result, a.note "
                                "FROM answer a JOIN interview i ON i.id = a.interview_id"),
        "issues": [tuple(str(x) if isinstance(x, date) else x for x in r) for r in rows(
            engine, "SELECT campaign_id, visit_id, uscc, item_id, category, severity, description,"
                    " legal_basis, status, found_on, rect_workdays, due_on, due_provisional, "
                    "escalation FROM issue")],
    }


def events(engine: Engine, kind: str) -> list[tuple[str, dict[str, Any]]]:
    with engine.connect() as conn:
        found = conn.execute(text("SELECT entity, payload FROM event WHERE kind = :k ORDER BY seq"),
                             {"k": kind}).all()
    return [(e, json.loads(p)) for e, p in found]


def expected_issue(site: Site, v: Visit, item_id: str, note: str = "") -> tuple[Any, ...]:
    item = site.checklists.require(item_id)
    days = DAYS[item.severity]
    due = add_workdays(TODAY, days, site.calendar)
    assert not due.provisional
    return (site.campaign_id, v.id, v.uscc, item.id, item.category, item.severity,
            item.question_zh + (f"（{note}）" if note else ""), item.legal_basis_zh, "open",
            TODAY.isoformat(), days, due.date.isoformat(), False, 0)


def fieldwork_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        kinds = dict(conn.execute(text("SELECT kind, COUNT(*) FROM event GROUP BY kind")).all())
    return {"interview": count(engine, "interview"), "answer": count(engine, "answer"),
            "issue": count(engine, "issue"), "event": count(engine, "event"),
            "interview.recorded": int(kinds.get("interview.recorded", 0)),
            "issue.registered": int(kinds.get("issue.registered", 0))}


def chain_ok(site: Site) -> bool:
    with site.uow_factory() as uow:
        return verify_chain(uow.events.all()).ok


# --- every format, the same result ------------------------------------------------------------

@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_every_format_stores_the_same_interviews_answers_and_issues(
        site: Site, tmp_path: Path, fmt: str) -> None:
    data = good_rows(site)
    path = WRITERS[fmt](tmp_path / "answers", data)
    summary, sink = record(site, path)

    assert sink.problems == []
    assert (summary.read, summary.stored, summary.rejected) == (8, 8, 0)
    assert summary.interviews == 3 and summary.issues == 3
    v1, v2 = site.visit(0), site.visit(1)
    assert snapshot(site.engine) == {
        "interviews": sorted([(v1.id, "director", "张伟", ACTOR), (v1.id, "owner", "李娜", ACTOR),
                              (v2.id, "officer", "王芳", ACTOR)]),
        "answers": sorted((v, role, name, item, result, note)
                          for v, role, name, item, result, note, _team in data),
        # RISK-01 failed for two roles of the same business: one issue, described with the
        # first answer's note.
        "issues": sorted([expected_issue(site, v1, "RISK-01", "未制定风险管控清单"),
                          expected_issue(site, v1, "TRAIN-06"),
                          expected_issue(site, v2, "HYG-01", "冰箱生熟混放")]),
    }

    # One event per interview and per issue, naming the ids the summary reports.
    recorded = events(site.engine, "interview.recorded")
    assert sorted(e for e, _ in recorded) == sorted(f"interview:{i}" for i in summary.interview_ids)
    assert sorted((p["visit"], p["role"], p["name"], p["answers"], tuple(p["failed"]))
                  for _, p in recorded) == sorted([
                      (v1.id, "director", "张伟", 3, ("RISK-01",)),
                      (v1.id, "owner", "李娜", 3, ("RISK-01", "TRAIN-06")),
                      (v2.id, "officer", "王芳", 2, ("HYG-01",))])
    registered = events(site.engine, "issue.registered")
    assert sorted(e for e, _ in registered) == sorted(f"issue:{i}" for i in summary.issue_ids)
    with site.engine.connect() as conn:
        ids = {r[0]: r[1] for r in conn.execute(text("SELECT id, item_id FROM issue"))}
    assert {ids[int(e.split(":")[1])] for e, _ in registered} == {"RISK-01", "TRAIN-06", "HYG-01"}
    assert all(p["from"] == "checklist" for _, p in registered)
    assert chain_ok(site)


def test_gb18030_and_utf8_files_are_read_alike(site: Site, tmp_path: Path) -> None:
    data = good_rows(site)
    gb = write_csv(tmp_path / "gb.csv", data, encoding="gb18030", header=HEADER_ZH,
                   results=RESULT_ZH)
    utf8 = write_csv(tmp_path / "utf8.csv", data, header=HEADER_ZH, results=RESULT_ZH)
    assert gb.read_bytes() != utf8.read_bytes()
    assert list(read_fieldwork(gb)) == list(read_fieldwork(utf8))


# --- bad rows ---------------------------------------------------------------------------------

def test_bad_rows_are_reported_by_line_and_sink_their_whole_interview(
        site: Site, tmp_path: Path) -> None:
    v = site.visits
    # An interview recorded earlier (the owner of visit 3), with a failed RISK-01.
    earlier = write_csv(tmp_path / "earlier.csv", [
        (v[3].id, "owner", "钱多", "RISK-01", "fail", "", None),
        (v[3].id, "owner", "钱多", "STAFF-02", "pass", "", None)])
    first, _ = record(site, earlier)
    assert (first.stored, first.interviews, first.issues) == (2, 1, 1)
    earlier_issue = first.issue_ids[0]
    before = fieldwork_counts(site.engine)

    wrong_team = site.other_team(v[2])
    data: list[Row] = [
        # line 2-4: a good interview (RISK-01 fails: a new issue)
        (v[0].id, "director", "张伟", "STAFF-04", "pass", "", None),
        (v[0].id, "director", "张伟", "RISK-01", "fail", "", None),
        (v[0].id, "director", "张伟", "RISK-02", "pass", "", None),
        # line 5-6: an unknown item sinks the officer's whole interview
        (v[0].id, "officer", "赵敏", "HYG-01", "fail", "", None),
        (v[0].id, "officer", "赵敏", "NOPE-99", "pass", "", None),
        # line 7-8: an item not asked of the owner
        (v[0].id, "owner", "孙丽", "STAFF-02", "pass", "", None),
        (v[0].id, "owner", "孙丽", "HYG-02", "fail", "", None),
        # line 9-10: a result that is not pass/fail/na
        (v[1].id, "director", "周强", "STAFF-04", "maybe", "", None),
        (v[1].id, "director", "周强", "RISK-02", "fail", "", None),
        # line 11: no name
        (v[1].id, "director", "", "STAFF-04", "pass", "", None),
        # line 12: a visit that is not a number
        ("abc", "director", "周强", "RISK-03", "pass", "", None),
        # line 13-14: a visit that does not exist
        (9999, "director", "吴刚", "STAFF-04", "pass", "", None),
        (9999, "director", "吴刚", "RISK-01", "fail", "", None),
        # line 15-16: the wrong team for visit 3 (on one row is enough)
        (v[2].id, "director", "吴刚", "STAFF-04", "fail", "", None),
        (v[2].id, "director", "吴刚", "RISK-02", "pass", "", wrong_team),
        # line 17-19: the same item twice in one interview
        (v[2].id, "officer", "郑洁", "HYG-01", "pass", "", None),
        (v[2].id, "officer", "郑洁", "HYG-02", "fail", "", None),
        (v[2].id, "officer", "郑洁", "HYG-01", "fail", "", None),
        # line 20-21: an interview already recorded
        (v[3].id, "owner", "钱多", "RISK-04", "fail", "", None),
        (v[3].id, "owner", "钱多", "TRAIN-06", "fail", "", None),
        # line 22-23: a good interview at visit 4; RISK-01 is already an issue there
        (v[3].id, "director", "陈静", "RISK-01", "fail", "", v[3].team_no),
        (v[3].id, "director", "陈静", "REC-02", "pass", "", v[3].team_no),
        # line 24-25: a good interview at visit 2 (HYG-01 fails: a new issue)
        (v[1].id, "officer", "冯涛", "HYG-01", "fail", "", v[1].team_no),
        (v[1].id, "officer", "冯涛", "REC-01", "pass", "", v[1].team_no),
    ]
    path = write_csv(tmp_path / "mixed.csv", data)
    report = tmp_path / "rejects.csv"
    summary, _ = record(site, path, CsvProblemReport(report))

    assert summary.read == len(data) == 24
    assert summary.stored == 3 + 2 + 2
    assert summary.rejected == 24 - 7
    assert summary.read == summary.stored + summary.rejected
    assert summary.interviews == 3 and summary.issues == 2
    assert earlier_issue in summary.existing_issue_ids

    # The reject report names every bad line, once, with its reason.
    rejected = [r for r in read_csv(report) if r["类型 kind"].startswith("拒绝")]
    by_line: dict[int, dict[str, str]] = {}
    for r in rejected:
        assert int(r["行号 line"]) not in by_line, r
        by_line[int(r["行号 line"])] = r
    assert sorted(by_line) == list(range(5, 22))
    assert len(rejected) == summary.rejected

    def reason(line: int) -> str:
        return by_line[line]["reason (English)"]

    assert by_line[6]["列 column"] == "item_id" and by_line[6]["值 value"] == "NOPE-99"
    assert "no such checklist item" in reason(6)
    assert "line 6" in reason(5) and "whole interview" in reason(5)
    assert "第6行" in by_line[5]["原因 reason"]
    assert by_line[8]["值 value"] == "HYG-02" and "not asked of the owner" in reason(8)
    assert "line 8" in reason(7)
    assert by_line[9]["列 column"] == "result" and by_line[9]["值 value"] == "maybe"
    assert "line 9" in reason(10)
    assert by_line[11]["列 column"] == "name"
    assert by_line[12]["列 column"] == "visit_id" and by_line[12]["值 value"] == "abc"
    for line in (13, 14):
        assert "visit 9999 does not exist" in reason(line)
    for line in (15, 16):
        assert f"team {wrong_team}" in reason(line) and f"team {v[2].team_no}" in reason(line)
    for line in (17, 18, 19):
        assert "HYG-01 answered twice" in reason(line)
    for line in (20, 21):
        assert "already recorded" in reason(line)

    # Nothing half-stored: exactly the three good interviews were added, with all their answers.
    after = fieldwork_counts(site.engine)
    assert after["interview"] - before["interview"] == 3
    assert after["answer"] - before["answer"] == 7
    assert after["issue"] - before["issue"] == 2
    assert after["interview.recorded"] - before["interview.recorded"] == 3
    assert after["issue.registered"] - before["issue.registered"] == 2
    stored = snapshot(site.engine)
    assert {(vid, role, name) for vid, role, name, _ in stored["interviews"]} == {
        (v[3].id, "owner", "钱多"), (v[0].id, "director", "张伟"), (v[3].id, "director", "陈静"),
        (v[1].id, "officer", "冯涛")}
    assert [a for a in stored["answers"] if a[2] == "钱多"] == sorted([
        (v[3].id, "owner", "钱多", "RISK-01", "fail", ""),
        (v[3].id, "owner", "钱多", "STAFF-02", "pass", "")])
    assert sorted((i[1], i[3]) for i in stored["issues"]) == sorted([
        (v[3].id, "RISK-01"), (v[0].id, "RISK-01"), (v[1].id, "HYG-01")])

    # A rerun of the same file stores nothing more and changes nothing.
    again, _ = record(site, path)
    assert (again.read, again.stored, again.rejected) == (24, 0, 24)
    assert snapshot(site.engine) == stored
    assert fieldwork_counts(site.engine) == after
    assert chain_ok(site)


def test_rerun_of_the_same_file_rejects_everything_as_already_recorded(
        site: Site, tmp_path: Path) -> None:
    path = write_json(tmp_path / "answers.json", good_rows(site))
    first, _ = record(site, path)
    assert (first.stored, first.rejected, first.issues) == (8, 0, 3)
    stored, counts = snapshot(site.engine), fieldwork_counts(site.engine)

    again, sink = record(site, path)
    assert (again.read, again.stored, again.rejected) == (8, 0, 8)
    assert (again.interviews, again.issues, again.issue_ids) == (0, 0, [])
    assert sorted(p.line for p in sink.problems) == list(range(1, 9))
    assert all("already recorded" in p.en and "已记录" in p.zh for p in sink.problems)
    assert snapshot(site.engine) == stored
    assert fieldwork_counts(site.engine) == counts


def test_an_item_failing_for_two_roles_in_one_file_registers_one_issue(
        site: Site, tmp_path: Path) -> None:
    v = site.visit(5)
    path = write_csv(tmp_path / "two-roles.csv", [
        (v.id, "director", "甲", "STAFF-01", "fail", "无任命文件", None),
        (v.id, "officer", "乙", "STAFF-01", "fail", "", None),
        (v.id, "owner", "丙", "STAFF-01", "fail", "", None),
        (v.id, "owner", "丙", "REG-01", "fail", "", None),
        (v.id, "director", "甲", "REG-01", "fail", "", None),
    ])
    summary, _ = record(site, path)
    assert summary.interviews == 3 and summary.issues == 2
    assert sorted(i[3] for i in snapshot(site.engine)["issues"]) == ["REG-01", "STAFF-01"]
    assert len(events(site.engine, "issue.registered")) == 2
    assert len(events(site.engine, "interview.recorded")) == 3
    # A later file failing the same items again adds interviews, not issues.
    later = write_csv(tmp_path / "later.csv", [
        (v.id, "director", "丁", "STAFF-01", "fail", "", None),
        (v.id, "director", "丁", "REG-01", "fail", "", None)])
    more, _ = record(site, later)
    assert (more.interviews, more.issues) == (1, 0)
    assert sorted(more.existing_issue_ids) == sorted(summary.issue_ids)
    assert count(site.engine, "issue") == 2


def test_the_summary_names_the_issue_a_later_answer_in_the_same_file_joined(
        site: Site, tmp_path: Path) -> None:
    """Bug: the placeholder -1 record_batch keeps for an issue registered earlier in the same
    file leaks into ``existing_issue_ids``."""
    v = site.visit(6)
    path = write_csv(tmp_path / "joined.csv", [
        (v.id, "director", "甲", "RISK-01", "fail", "", None),
        (v.id, "owner", "丙", "RISK-01", "fail", "", None)])
    summary, _ = record(site, path)
    assert summary.issues == 1
    assert summary.existing_issue_ids == summary.issue_ids


# --- a crash stores nothing ---------------------------------------------------------------------

def test_a_crash_mid_import_stores_nothing_and_a_rerun_starts_clean(
        site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_csv(tmp_path / "answers.csv", good_rows(site))
    before = fieldwork_counts(site.engine)
    seen: dict[str, int] = {}
    real_insert_answers = SqlFieldworkRepository.insert_answers

    def crash(self: SqlFieldworkRepository, rows: Any) -> None:
        # The interviews are already written in this transaction when the crash comes.
        seen["interviews"] = int(self._conn.execute(text("SELECT COUNT(*) FROM interview"))
                                 .scalar_one())
        raise RuntimeError("disk unplugged")

    monkeypatch.setattr(SqlFieldworkRepository, "insert_answers", crash)
    with pytest.raises(RuntimeError, match="disk unplugged"):
        record(site, path)
    assert seen["interviews"] == before["interview"] + 3

    assert fieldwork_counts(site.engine) == before
    assert count(site.engine, "interview") == count(site.engine, "answer") == 0
    assert count(site.engine, "issue") == 0
    assert events(site.engine, "interview.recorded") == []
    assert events(site.engine, "issue.registered") == []

    monkeypatch.setattr(SqlFieldworkRepository, "insert_answers", real_insert_answers)
    summary, sink = record(site, path)
    assert (summary.stored, summary.rejected, summary.issues) == (8, 0, 3)
    assert sink.problems == []
    after = fieldwork_counts(site.engine)
    assert (after["interview"], after["answer"], after["issue"]) == (3, 8, 3)
    assert after["event"] == before["event"] + 6
    assert chain_ok(site)


def test_a_crash_while_writing_events_stores_nothing(
        site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from storage.fieldwork import SqlEventLog

    path = write_csv(tmp_path / "answers.csv", good_rows(site))
    before = fieldwork_counts(site.engine)
    real_append_many = SqlEventLog.append_many

    def append_many(self: SqlEventLog, items: Any) -> Any:
        # The events are written in one batch: write the three interview events, then die
        # before the issue events.
        real_append_many(self, items[:3])
        raise RuntimeError("killed")

    monkeypatch.setattr(SqlEventLog, "append_many", append_many)
    with pytest.raises(RuntimeError, match="killed"):
        record(site, path)
    assert fieldwork_counts(site.engine) == before


# --- cells that are not numbers -----------------------------------------------------------------

@pytest.mark.parametrize("cell", ["①", "²", "99999999999999999999"],
                         ids=["circled-digit", "superscript-digit", "past-64-bits"])
def test_a_visit_cell_that_is_no_usable_number_is_rejected_not_a_crash(
        site: Site, tmp_path: Path, cell: str) -> None:
    """Bug: ``_int`` trusts ``str.isdigit`` ("①" and "²" are digits to it, but int() refuses
    them), and a number past 64 bits reaches the database driver (OverflowError on SQLite,
    out-of-range on PostgreSQL): the whole import dies instead of rejecting one row."""
    v = site.visit(0)
    path = write_csv(tmp_path / "odd.csv", [
        (cell, "director", "甲", "STAFF-04", "pass", "", None),
        (v.id, "owner", "乙", "STAFF-02", "pass", "", None)])
    summary, sink = record(site, path)
    assert (summary.read, summary.stored, summary.rejected) == (2, 1, 1)
    assert [p.line for p in sink.problems if not p.warning] == [2]


def test_a_team_cell_that_is_no_usable_number_is_rejected_not_a_crash(
        site: Site, tmp_path: Path) -> None:
    v = site.visit(0)
    path = write_csv(tmp_path / "odd-team.csv", [
        (v.id, "director", "甲", "STAFF-04", "pass", "", "③")])
    summary, sink = record(site, path)
    assert (summary.read, summary.stored, summary.rejected) == (1, 0, 1)
    assert sink.problems[0].column == "team"


# --- whole files --------------------------------------------------------------------------------

def test_a_file_without_a_required_column_is_refused_before_anything_is_stored(
        site: Site, tmp_path: Path) -> None:
    from domain.errors import BadFileError

    path = tmp_path / "no-result.csv"
    path.write_text("visit_id,role,name,item_id\n1,director,甲,STAFF-04\n", encoding="utf-8")
    with pytest.raises(BadFileError, match="result"):
        record(site, path)
    assert count(site.engine, "interview") == 0

