"""Notices against a real database: numbering is gapless and unique (also from two processes at
once), issuing is idempotent (also after a kill -9 mid-batch), verify catches altered and void."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from domain import campaigns as csvc
from domain import notices as svc
from domain.clock import FixedClock
from domain.fieldwork import Answer, record_interview
from domain.issues import IssueQuery, IssueStatus
from storage.calendar import ChineseCalendarSource
from storage.uow import SqlUnitOfWork
from tests.integration.test_campaigns import create, load, plan

CLOCK = FixedClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
ROOT = Path(__file__).resolve().parents[2]


def fake_pdf(content: dict) -> bytes:
    return ("%PDF-1.7 fake " + svc.canonical(content)).encode()


@pytest.fixture
def campaign(uow_factory: Callable[[], SqlUnitOfWork], tmp_path_factory: pytest.TempPathFactory,
             tmp_path: Path) -> int:
    """A launched campaign with failed interviews: issues at several businesses."""
    from storage.synthetic import generate

    regs = tmp_path_factory.mktemp("regs")
    generate(regs, businesses=4000, seed=11)
    load(uow_factory, regs)
    cid = create(uow_factory, plan(total=30))
    csvc.launch(cid, uow_factory=uow_factory, clock=CLOCK)
    from domain.checklists import default_checklists

    checklists = default_checklists()
    items = [i.id for i in checklists.for_role("owner")][:2]
    with uow_factory() as uow:
        visits = uow.fieldwork.list_visits(cid, team=None, status=None)
    for v in visits[:12]:
        record_interview(v.id, "owner", "业主", [Answer(items[0], "fail"), Answer(items[1], "pass")],
                         team=None, actor="t", uow_factory=uow_factory, clock=CLOCK,
                         checklists=checklists, calendar=ChineseCalendarSource(tmp_path))
    return cid


def issue_all(uow_factory: Callable[[], SqlUnitOfWork], cid: int, kind: str) -> list[int]:
    ids = svc.record_notices(cid, kind, "zh", uow_factory=uow_factory, clock=CLOCK, actor="t")
    with uow_factory() as uow:
        rendered = [(i, fake_pdf(uow.notices.get(i).content)) for i in ids]  # type: ignore[union-attr]
    svc.store_issued(rendered, uow_factory=uow_factory, clock=CLOCK, actor="t")
    return ids


def numbers(engine: Engine, kind: str) -> list[int]:
    with engine.connect() as conn:
        return sorted(conn.execute(text("SELECT seq FROM notice WHERE kind = :k"), {"k": kind})
                      .scalars())


def test_rectification_orders_one_per_business_numbered_gaplessly(
        uow_factory: Callable[[], SqlUnitOfWork], engine: Engine, campaign: int) -> None:
    ids = issue_all(uow_factory, campaign, "rectification_order")
    assert len(ids) == 12
    assert numbers(engine, "rectification_order") == list(range(1, 13))
    with uow_factory() as uow:
        notices = uow.notices.list_notices(campaign, "rectification_order")
        assert {n.status for n in notices} == {"issued"}
        assert all(n.number.startswith("某市食品安全委员会办公室责改〔2026〕") for n in notices)
        # Issuing the order notified the issues it lists.
        issues = uow.issues.list(IssueQuery(campaign_id=campaign))
        assert {i.status for i in issues} == {IssueStatus.NOTIFIED}
    # Rerun: nothing new, no new number.
    again = issue_all(uow_factory, campaign, "rectification_order")
    assert again == []
    assert numbers(engine, "rectification_order") == list(range(1, 13))


def test_a_run_interrupted_between_numbering_and_rendering_issues_the_same_numbers(
        uow_factory: Callable[[], SqlUnitOfWork], engine: Engine, campaign: int) -> None:
    recorded = svc.record_notices(campaign, "rectification_order", "zh", uow_factory=uow_factory,
                                  clock=CLOCK, actor="t")
    # ... crash: nothing rendered. The rerun renders exactly the pending notices.
    again = svc.record_notices(campaign, "rectification_order", "zh", uow_factory=uow_factory,
                               clock=CLOCK, actor="t")
    assert again == recorded
    with uow_factory() as uow:
        half = [(i, fake_pdf(uow.notices.get(i).content)) for i in recorded[:5]]  # type: ignore[union-attr]
    svc.store_issued(half, uow_factory=uow_factory, clock=CLOCK, actor="t")
    rest = issue_all(uow_factory, campaign, "rectification_order")
    assert rest == recorded[5:]
    assert numbers(engine, "rectification_order") == list(range(1, 13))


def test_void_keeps_the_number_and_verify_reports_it(uow_factory: Callable[[], SqlUnitOfWork],
                                                     campaign: int) -> None:
    issue_all(uow_factory, campaign, "rectification_order")
    with uow_factory() as uow:
        n = uow.notices.list_notices(campaign, "rectification_order")[0]
        pdf = uow.notices.pdf(n.pdf_sha256)  # type: ignore[arg-type]
    assert pdf is not None

    def extract(data: bytes) -> dict | None:
        import json

        try:
            return json.loads(data.decode().split(" ", 2)[2])
        except (UnicodeDecodeError, ValueError, IndexError):
            return None

    ok = svc.verify_pdf(pdf, extract=extract, uow_factory=uow_factory)
    assert ok.ok and ok.status == "valid" and ok.notice is not None
    assert ok.notice.number == n.number
    altered = pdf.replace(b"%PDF-1.7", b"%PDF-1.6")
    bad = svc.verify_pdf(altered, extract=extract, uow_factory=uow_factory)
    assert not bad.ok and bad.status == "altered"
    assert not svc.verify_pdf(b"%PDF nothing", extract=extract, uow_factory=uow_factory).ok
    svc.void_notice(n.number, "送达地址错误", uow_factory=uow_factory, clock=CLOCK, actor="t")
    void = svc.verify_pdf(pdf, extract=extract, uow_factory=uow_factory)
    assert not void.ok and void.status == "void" and "送达地址错误" in void.zh
    with pytest.raises(Exception, match="already void"):
        svc.void_notice(n.number, "again", uow_factory=uow_factory, clock=CLOCK, actor="t")
    # The voided notice keeps its number: it is still in the register, marked void.
    with uow_factory() as uow:
        kept = {m.number: m.status for m in uow.notices.list_notices(campaign, None)}
    assert kept[n.number] == "void"


def _record_in_process(url: str, cid: int, kind: str, out: multiprocessing.Queue) -> None:
    from flows.wiring import uow_for

    try:
        ids = svc.record_notices(cid, kind, "zh", uow_factory=uow_for(url), clock=CLOCK,
                                 actor=f"p{os.getpid()}")
        out.put(("ok", ids))
    except BaseException as e:  # pragma: no cover - reported to the parent
        out.put(("error", repr(e)))


def test_two_processes_numbering_at_once_give_unique_gapless_numbers(
        uow_factory: Callable[[], SqlUnitOfWork], engine: Engine, campaign: int,
        db_url: str) -> None:
    # Two kinds at once in two processes each: a circular per process would be one target, so
    # use rectification orders and warning talks recorded concurrently, twice each.
    ctx = multiprocessing.get_context("spawn")
    q: multiprocessing.Queue = ctx.Queue()
    procs = [ctx.Process(target=_record_in_process, args=(db_url, campaign, k, q))
             for k in ("rectification_order", "rectification_order", "circular", "circular")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    results = [q.get(timeout=5) for _ in procs]
    assert all(r[0] == "ok" for r in results), results
    assert numbers(engine, "rectification_order") == list(range(1, 13))
    assert numbers(engine, "circular") == [1]
    with engine.connect() as conn:
        dupes = conn.execute(text(
            "SELECT number, COUNT(*) FROM notice GROUP BY number HAVING COUNT(*) > 1")).all()
    assert dupes == []


def _fail_look_backs(url: str, data_dir: Path, days: list[str]) -> None:
    """On each day: fire the due follow-ups and record every open look-back as not rectified
    (one step up the escalation ladder per day)."""
    from domain.followups import record_check, sweep
    from flows.wiring import uow_for

    factory = uow_for(url)
    calendar = ChineseCalendarSource(data_dir)
    for day in days:
        clock = FixedClock(datetime.fromisoformat(f"{day}T02:00:00+00:00"))
        sweep(uow_factory=factory, clock=clock, worker="test")
        with factory() as uow:
            open_ = uow.followups.list(status="open", kind="review", team=None, campaign_id=1,
                                       due_before=None, limit=100_000)
        for issue_id in sorted({f.issue_id for f in open_}):
            record_check(issue_id, outcome="not_rectified", note="仍未整改", evidence=[],
                         hard_measures=None, fixed=None, mechanism=None, team=None,
                         actor="test", uow_factory=factory, clock=clock, calendar=calendar)


@pytest.mark.skipif(bool(os.environ.get("LOOKBACK_TEST_DATABASE_URL")), reason="SQLite kill test")
def test_kill_9_mid_batch_then_rerun_issues_each_notice_once(tmp_path: Path) -> None:
    """The real CLI, real rendering: kill -9 while notices are being stored, then rerun."""
    pytest.importorskip("report_templates.render")
    db = tmp_path / "k.db"
    env = {**os.environ, "LOOKBACK_DATA_DIR": str(tmp_path / "data"),
           "PREFECT_LOGGING_LEVEL": "CRITICAL", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    demo = subprocess.run([sys.executable, "-m", "lookback.cli", "--lang", "en", "demo", "--dir",
                           str(tmp_path / "demo")], capture_output=True, text=True, env=env,
                          check=False, cwd=ROOT)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    src = tmp_path / "demo" / "lookback.db"
    import sqlite3

    with sqlite3.connect(src) as a, sqlite3.connect(db) as b:
        a.backup(b)
    # Warning talks go to businesses whose issues failed two look-backs (escalation level 2):
    # fail every open issue's look-back twice, then issue the talks in English (the demo may
    # have issued Chinese ones already), so that notices go to many businesses.
    _fail_look_backs(f"sqlite:///{db}", tmp_path, ["2027-06-01", "2027-09-01"])
    cmd = [sys.executable, "-m", "lookback.cli", "--db", str(db), "--now", "2027-09-02", "--json",
           "notices", "issue", "--campaign", "1", "--kind", "warning_talk", "--notice-lang", "en",
           "--workers", "2"]
    # Its own process group: once the command is killed, what it started (Prefect's temporary
    # server, the rendering workers) is cleaned up with the group instead of left running.
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT,
                             start_new_session=True)
    deadline = time.time() + 120
    issued = 0
    while time.time() < deadline and child.poll() is None:
        with sqlite3.connect(db) as conn:
            try:
                issued = conn.execute("SELECT COUNT(*) FROM notice WHERE status = 'issued' AND "
                                      "kind = 'warning_talk' AND lang = 'en'").fetchone()[0]
            except sqlite3.OperationalError:
                issued = 0
        if issued > 0:
            break
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)  # the command alone, as a crash would
    child.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)  # then its orphans
    assert issued > 0, "the batch finished before it could be killed"
    rerun = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT year, seq, status FROM notice WHERE kind = 'warning_talk' "
                            "ORDER BY year, seq").fetchall()
        orphans = conn.execute("SELECT COUNT(*) FROM notice_pdf WHERE sha256 NOT IN (SELECT "
                               "pdf_sha256 FROM notice WHERE pdf_sha256 IS NOT NULL)").fetchone()[0]
    by_year: dict[int, list[int]] = {}
    for year, seq, _ in rows:
        by_year.setdefault(year, []).append(seq)
    assert all(seqs == list(range(1, len(seqs) + 1)) for seqs in by_year.values()), by_year
    assert {r[2] for r in rows} == {"issued"}
    assert orphans == 0
