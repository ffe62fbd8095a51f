"""The look-back commands end to end through the CLI (Typer's runner, a SQLite file): followup
sweep / list / record / case / show and scheduler status, in English and Chinese; bad input gets
a clear error and a non-zero exit code, never a traceback, and changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e.test_fieldwork_cli import NOW, Site, launched, site  # the fixtures are used by name

__all__ = ["launched", "site"]


def add_issue(site: Site, visit: dict[str, Any], description: str) -> int:
    added = site.json("issue", "add", "--provision", "1", "--visit", str(visit["id"]), "--category", "records",
                      "--severity", "general", "--description", description,
                      "--team", str(visit["team"]))
    return int(added["id"])


def followups(site: Site, issue: int) -> list[dict[str, Any]]:
    return list(site.json("followup", "show", str(issue))["items"])


def next_review(site: Site, issue: int) -> str:
    """The due instant (ISO, UTC) of the issue's pending review."""
    [r] = [f for f in followups(site, issue) if f["kind"] == "review" and f["status"] == "pending"]
    return str(r["due_at"])


def record(site: Site, issue: int, outcome: str, *extra: str, now: str, lang: str = "en",
           code: int = 0) -> str:
    return site.cli("followup", "record", str(issue), "--outcome", outcome, "--note", "复查所见",
                    *extra, now=now, lang=lang, code=code)


def test_sweep_list_record_the_ladder_and_the_case(site: Site) -> None:
    v = site.visit(0)
    a = add_issue(site, v, "台账缺失")
    b = add_issue(site, v, "未公示许可证")
    rows = followups(site, a)
    assert {(f["kind"], f["revision"], f["status"], f["team"]) for f in rows} == {
        ("review", 1, "pending", v["team"]), ("reminder", 1, "pending", v["team"])}
    when = next_review(site, a)
    assert when.endswith("T16:00:00+00:00")  # 00:00 in China

    # Nothing due yet at NOW; at the review instant both reviews open and both reminders (due
    # earlier) are sent; the issues are past due and marked overdue.
    assert site.json("followup", "sweep") == {
        "ok": True, "fired": 0, "opened": 0, "reminded": 0, "cancelled": 0,
        "marked_overdue": 0, "batches": 0, "supervision_opened": 0}
    swept = site.json("followup", "sweep", "--batch", "1", now=when)
    assert (swept["fired"], swept["opened"], swept["reminded"], swept["cancelled"],
            swept["marked_overdue"], swept["batches"]) == (4, 2, 2, 0, 2, 4)
    assert site.json("followup", "sweep", now=when)["fired"] == 0  # once only
    text = site.cli("followup", "sweep", now=when)
    assert "0 follow-ups fired" in text
    assert "已处理到期复查0项" in site.cli("followup", "sweep", now=when, lang="zh")

    listed = site.json("followup", "list", "--status", "open", "--team", str(v["team"]))
    assert listed["count"] == 2
    assert {f["issue"] for f in listed["items"]} == {a, b}
    assert {f["finding"]["description"] for f in listed["items"]} == {"台账缺失", "未公示许可证"}
    assert all(f["finding"]["issue_status"] == "overdue" for f in listed["items"])
    other = site.other_team(v)
    assert site.json("followup", "list", "--status", "open", "--team", str(other))["count"] == 0
    assert site.json("followup", "list", "--status", "pending")["count"] == 0
    assert "Follow-ups (2)" in site.cli("followup", "list", "--status", "open")
    # Cut at --limit, the list still tells the true total and says it is cut.
    cut = site.json("followup", "list", "--status", "open", "--limit", "1")
    assert (cut["count"], len(cut["items"]), cut["truncated"]) == (2, 1, True)
    assert "1 more not shown (2 in all)" in site.cli("followup", "list", "--status", "open",
                                                     "--limit", "1")
    assert "待复查" in site.cli("followup", "list", "--status", "open", lang="zh")

    # The wrong team may not record it.
    out = record(site, a, "not_rectified", "--team", str(other), now=when, code=4)
    assert f"belongs to team {v['team']}" in out

    # The ladder, one step per failed check, messages in both languages.
    expect = [
        ("not_rectified", (), "en", "escalation step 1: reminder."),
        ("partial", ("--hard-measures", "yes", "--fixed", "否", "--mechanism", "n"), "zh",
         "升级至第2级：约谈。需签发约谈通知书"),
        ("not_rectified", ("--hard-measures", "是"), "en",
         "escalation step 3: circular. It will be listed in the next circular."),
        ("partial", ("--hard-measures", "no", "--fixed", "yes", "--mechanism", "no"), "zh",
         "升级至第4级：移送。已移送执法部门。"),
        ("not_rectified", (), "en", "escalation step 4: referral. Referred to enforcement"),
    ]
    for n, (outcome, extra, lang, message) in enumerate(expect, start=1):
        out = record(site, a, outcome, *extra, now=when, lang=lang)
        assert message in out, out
        shown = followups(site, a)
        assert max(f["revision"] for f in shown) == n + 1
        when = next_review(site, a)
        site.json("followup", "sweep", now=when)
    shown = site.json("followup", "show", str(a))
    recorded = [f for f in shown["items"] if f["status"] == "recorded"]
    assert [f["escalation_after"] for f in recorded] == [
        "reminder", "warning_talk", "circular", "referral", "referral"]
    assert [f["outcome"] for f in recorded] == [e[0] for e in expect]
    assert shown["referral"]["case_status"] == "referred"
    assert site.sql(f"SELECT COUNT(*) FROM referral WHERE issue_id = {a}") == [(1,)]

    # JSON of a check; then the enforcement outcome.
    checked = site.json("followup", "record", str(a), "--outcome", "not_rectified", "--note",
                        "仍未整改", now=when)
    assert (checked["escalation"], checked["escalation_level"], checked["referral"]) == (
        "referral", 4, None)
    out = site.cli("followup", "case", str(a), "--status", "filed", "--case-number",
                   "某市监立〔2023〕9号", lang="zh")
    assert "已立案（某市监立〔2023〕9号）" in out
    assert site.json("followup", "show", str(a))["referral"]["case_status"] == "filed"
    out = site.cli("followup", "case", str(a), "--status", "declined", code=4)
    assert "already has an outcome: filed" in out
    assert "案件：已立案 某市监立〔2023〕9号" in site.cli("followup", "show", str(a), lang="zh")

    # Verified closes b: the look-back comes after the due date, when the sweep has marked it
    # overdue, and the check on site finds it rectified.
    assert site.json("issue", "show", str(b))["status"] == "overdue"
    out = record(site, b, "verified", now=when)
    assert f"Issue {b}: verified on look-back; closed." in out
    assert site.json("issue", "show", str(b))["status"] == "verified"
    assert all(f["status"] != "pending" for f in followups(site, b))
    site.cli("audit", "verify")  # the event chain holds: run() checks the exit code is 0


def test_bad_input_gets_a_clear_error_and_changes_nothing(site: Site) -> None:
    v = site.visit(1)
    a = add_issue(site, v, "台账缺失")
    due = next_review(site, a)
    before = site.sql("SELECT COUNT(*) FROM event")
    # No open review yet: refused, naming when the next one is due.
    out = record(site, a, "not_rectified", now=NOW, code=4)
    assert f"issue {a} has no open look-back; the next one is due on" in out
    zh = record(site, a, "not_rectified", now=NOW, lang="zh", code=4)
    assert "当前没有待复查任务" in zh and "下次复查日期" in zh
    site.json("followup", "sweep", now=due)
    opened = site.sql("SELECT COUNT(*) FROM event")
    assert opened > before
    bad = [
        (("--outcome", "fixed"), "--outcome must be one of verified, partial, not_rectified"),
        (("--outcome", "partial", "--fixed", "no"), "answer all three questions"),
        (("--outcome", "partial", "--hard-measures", "maybe", "--fixed", "no", "--mechanism",
          "no"), "--hard-measures: expected yes or no, not 'maybe'"),
        (("--outcome", "verified", "--fixed", "no"), "needs yes to all three"),
        (("--outcome", "not_rectified", "--fixed", "yes"), "contradicts --fixed yes"),
    ]
    for args, message in bad:
        out = site.cli("followup", "record", str(a), "--note", "x", *args, now=due, code=2)
        assert message in out, (args, out)
    out = site.cli("followup", "record", str(a), "--outcome", "partial", "--note", "x",
                   "--fixed", "也许", now=due, lang="zh", code=2)
    assert "应为yes（是）或no（否）" in out
    out = site.cli("followup", "record", str(a), "--outcome", "not_rectified", "--note", " ",
                   now=due, code=2)
    assert "--note is empty" in out
    assert site.sql("SELECT COUNT(*) FROM event") == opened
    assert [f["status"] for f in followups(site, a) if f["kind"] == "review"] == ["open"]
    assert "issue 99999 does not exist" in site.cli("followup", "show", "99999", code=3)
    assert "issue 99999 does not exist" in record(site, 99999, "not_rectified", now=due, code=3)
    assert "has not been referred" in site.cli("followup", "case", str(a), "--status",
                                               "filed", "--case-number", "x", code=3)
    assert "--case-number is needed" in site.cli("followup", "case", str(a), "--status",
                                                 "filed", code=2)
    assert "--status must be one of" in site.cli("followup", "list", "--status", "late", code=2)
    assert "--kind must be review or reminder" in site.cli("followup", "list", "--kind", "x",
                                                           code=2)
    assert "--batch must be at least 1" in site.cli("followup", "sweep", "--batch", "0", code=2)


def test_scheduler_status_shows_the_lease_and_what_is_late(site: Site, tmp_path: Path) -> None:
    v = site.visit(2)
    a = add_issue(site, v, "台账缺失")
    due = next_review(site, a)
    s = site.json("scheduler", "status")
    assert s["ok"] is True and s["lease"] is None and s["late_total"] == 0
    assert [f["issue"] for f in s["next_due"]][:1] == [a]
    assert "No scheduler has run on this database." in site.cli("scheduler", "status")
    # A day after the review instant with no scheduler running: both follow-ups are late.
    later = due.replace("T16:00:00", "T23:00:00")
    s = site.json("scheduler", "status", now=later)
    assert s["late_total"] == 2 and {f["issue"] for f in s["late"]} == {a}
    assert "LATE: 2 follow-ups are due" in site.cli("scheduler", "status", now=later)
    assert "延误：2项复查" in site.cli("scheduler", "status", now=later, lang="zh")
    site.json("followup", "sweep", now=later)
    assert site.json("scheduler", "status", now=later)["late_total"] == 0

    # A lease taken by a (simulated) scheduler shows with its holder.
    from datetime import UTC, datetime

    from domain.followups import take_lease
    from storage.db import make_engine
    from storage.uow import SqlUnitOfWork

    engine = make_engine(f"sqlite:///{site.db}")
    try:
        assert take_lease("host:123", uow_factory=lambda: SqlUnitOfWork(engine),
                          now=datetime.now(UTC), ttl=60)
        assert not take_lease("host:456", uow_factory=lambda: SqlUnitOfWork(engine),
                              now=datetime.now(UTC), ttl=60)
    finally:
        engine.dispose()
    lease = site.json("scheduler", "status")["lease"]
    assert (lease["holder"], lease["alive"]) == ("host:123", True)
    assert "Lease: host:123 (alive" in site.cli("scheduler", "status")
