"""Look-back campaigns (回头看) against a real database: the frame is the source campaign's
businesses with issues in scope, a drawn sample verifies like any draw (in the engine and with the
standalone docs/verify_draw.py), a relaunch draws nothing new, bad sources are refused, and the
source-issue figures are checked by hand.

Source campaign set-up (five visited businesses, three issues each from one director interview):

    A  all three issues verified before the look-back          → out of an "unverified" frame
    B  one verified before, two open (one verified after launch)
    C  three open, one marked overdue
    D  three: one reported, then found not rectified (escalation 1, back to notified)
    E  three open
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from domain import campaigns as svc
from domain import fieldwork as fw
from domain import issues
from domain.clock import FixedClock
from domain.errors import BadArgumentError, ConflictError, InputError, NotFoundError
from domain.issues import Action
from domain.metrics import campaign_metrics
from domain.notices import targets
from domain.sampling import avoided_prefix, lowest
from lookback.cli_campaign import export_draw
from tests.integration.test_lifecycle import Campaign, launch_campaign, make_registers
from tests.plans import small_plan

ROOT = Path(__file__).resolve().parents[2]
FOUND = FixedClock(datetime(2026, 3, 10, 9, 0, tzinfo=UTC))
LATER = FixedClock(datetime(2026, 3, 20, 9, 0, tzinfo=UTC))
LB_CREATE = FixedClock(datetime(2026, 4, 1, 9, 0, tzinfo=UTC))
LB_LAUNCH = FixedClock(datetime(2026, 4, 2, 9, 0, tzinfo=UTC))
AFTER = FixedClock(datetime(2026, 4, 10, 9, 0, tzinfo=UTC))
FAILED = {"STAFF-04": "fail", "RISK-01": "fail", "TRAIN-03": "fail"}
ACTOR = "test:lookback"


def lookback_plan(*, sample: str = "all = true", issues: str = "unverified",
                  kind: str = "lookback", seed: int = 99) -> str:
    scope = f'issues = "{issues}"' if kind == "lookback" else ""
    return f"""
[campaign]
office = "某市食品安全委员会办公室"
title = "问题整改回头看"
kind = "{kind}"
starts_on = 2026-04-01
ends_on = 2026-04-30
seed = {seed}

[scope]
{scope}

[sample]
{sample}

[teams]
count = 2
members = 2
avoidance = "city"
"""


@pytest.fixture(scope="module")
def registers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_registers(tmp_path_factory.mktemp("registers"))


@pytest.fixture
def source(engine: Engine, registers: Path, tmp_path: Path) -> tuple[Campaign, dict[str, Any]]:
    """The launched source campaign with issues in the states of the module docstring; returns
    it and {letter: (uscc, [issue ids])}."""
    c = launch_campaign(engine, registers, tmp_path / "data")
    ids: dict[str, Any] = {}
    for letter, visit in zip("ABCDE", c.visits, strict=False):
        out = c.interview(visit, "director", FAILED, clock=FOUND)
        assert len(out.issues_registered) == 3
        ids[letter] = (visit.uscc, sorted(out.issues_registered))

    def act(issue_id: int, *actions: Action, escalation: int | None = None) -> None:
        for a in actions:
            if a is Action.REPORT:
                fw.rectify(issue_id, measures="已整改", evidence=[], actor=ACTOR,
                           uow_factory=c.uow_factory, clock=LATER)
            else:
                issues.transition(issue_id, a, actor=ACTOR, uow_factory=c.uow_factory, clock=LATER,
                              escalation=escalation if a is Action.NOT_RECTIFIED else None)

    for i in ids["A"][1]:
        act(i, Action.REPORT, Action.VERIFY)
    act(ids["B"][1][0], Action.REPORT, Action.VERIFY)
    act(ids["C"][1][0], Action.MARK_OVERDUE)
    act(ids["D"][1][0], Action.REPORT)
    act(ids["D"][1][0], Action.NOT_RECTIFIED, escalation=1)
    return c, ids


def create(c: Campaign, plan: str, source_id: int | None = None) -> int:
    return svc.create_lookback_campaign(
        c.campaign_id if source_id is None else source_id, plan, source="lookback.toml",
        uow_factory=c.uow_factory, clock=LB_CREATE, new_seed=lambda: "5")


def frame_usccs(c: Campaign, cid: int) -> set[str]:
    with c.read() as uow:
        frame = uow.campaigns.get_frame(cid)
    assert frame is not None
    return {ln.split(",")[1] for ln in frame.lines if ln.startswith("business,")}


def visits_of(engine: Engine, cid: int) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(text(
            "SELECT uscc, team_no, status, stratum FROM visit WHERE campaign_id = :c"),
            {"c": cid}))


def test_frame_is_the_businesses_with_unverified_issues(
        source: tuple[Campaign, dict[str, Any]]) -> None:
    c, ids = source
    cid = create(c, lookback_plan())
    looked = svc.get_campaign(cid, uow_factory=c.uow_factory)
    assert looked.kind == "lookback" and looked.source_campaign_id == c.campaign_id
    assert looked.status == "draft" and looked.plan["issues"] == "unverified"
    record = svc.launch(cid, uow_factory=c.uow_factory, clock=LB_LAUNCH)
    expected = {ids[x][0] for x in "BCDE"}
    assert frame_usccs(c, cid) == expected
    # all = true: every business in the frame is re-checked, with its own visit and team.
    assert record["total"] == 4 and record["params"]["fraction"] == 1.0
    visits = visits_of(c.engine, cid)
    assert {v[0] for v in visits} == expected and {v[2] for v in visits} == {"planned"}
    # 回避: no team visits a business in one of its members' home cities.
    with c.read() as uow:
        frame = uow.campaigns.get_frame(cid)
    assert frame is not None
    home = {ln.split(",")[1]: ln.split(",")[2] for ln in frame.lines
            if ln.startswith("inspector,")}
    region = {ln.split(",")[1]: ln.split(",")[2] for ln in frame.lines
              if ln.startswith("business,")}
    members = {t["team"]: [p["unit"] for p in t["inspectors"]] for t in record["teams"]}
    assert all(len(m) == 2 for m in members.values())
    for a in record["assignments"]:
        for inspector in members[a["team"]]:
            assert not region[a["uscc"]].startswith(avoided_prefix(home[inspector], "city"))
    assert svc.verify_campaign(cid, uow_factory=c.uow_factory).ok


def test_all_issues_mode_includes_verified_ones(source: tuple[Campaign, dict[str, Any]]) -> None:
    c, ids = source
    cid = create(c, lookback_plan(issues="all"))
    svc.launch(cid, uow_factory=c.uow_factory, clock=LB_LAUNCH)
    assert frame_usccs(c, cid) == {ids[x][0] for x in "ABCDE"}
    figures = svc.source_issue_figures(cid, uow_factory=c.uow_factory)
    assert figures is not None
    assert figures["scope"] == "all" and figures["issues"] == 15
    assert figures["verified"] == 4  # A's three and B's first


def test_drawn_sample_verifies_in_the_engine_and_standalone(
        source: tuple[Campaign, dict[str, Any]], tmp_path: Path) -> None:
    c, ids = source
    cid = create(c, lookback_plan(sample="total = 2"))
    record = svc.launch(cid, uow_factory=c.uow_factory, clock=LB_LAUNCH)
    chosen = {p["unit"] for p in record["stages"][-1]["chosen"]}
    assert record["total"] == 2 and len(chosen) == 2
    assert chosen <= {ids[x][0] for x in "BCDE"}
    assert record["frame"]["businesses"] == 4
    assert record["campaign"]["kind"] == "lookback"
    result = svc.verify_campaign(cid, uow_factory=c.uow_factory)
    assert result.ok and result.chosen == 2, result.difference
    with c.read() as uow:
        frame = uow.campaigns.get_frame(cid)
    assert frame is not None
    rec_path, frame_path = export_draw(record, frame.lines, tmp_path / "pub")
    ok = subprocess.run([sys.executable, str(ROOT / "docs" / "verify_draw.py"), str(rec_path),
                         str(frame_path)], capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # The chosen businesses are the two lowest HMAC keys of the frame, as for any draw.
    expected = lowest("99", "business", "all", [ids[x][0] for x in "BCDE"], 2)
    assert [p["unit"] for p in record["stages"][-1]["chosen"]] == [u for u, _ in expected]
    # A changed frame row is caught by the standalone script too.
    lines = frame_path.read_text(encoding="utf-8").splitlines()
    i = next(n for n, ln in enumerate(lines) if ln.startswith("business,"))
    parts = lines[i].split(",")
    parts[4] = "D" if parts[4] != "D" else "A"
    lines[i] = ",".join(parts)
    frame_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    bad = subprocess.run([sys.executable, str(ROOT / "docs" / "verify_draw.py"), str(rec_path),
                          str(frame_path)], capture_output=True, text=True, check=False)
    assert bad.returncode == 1


def test_relaunch_draws_nothing_new_even_after_the_source_changes(
        source: tuple[Campaign, dict[str, Any]]) -> None:
    c, ids = source
    cid = create(c, lookback_plan(sample="total = 3"))
    record = svc.launch(cid, uow_factory=c.uow_factory, clock=LB_LAUNCH)
    before = visits_of(c.engine, cid)
    with c.read() as uow:
        frame = uow.campaigns.get_frame(cid)
    # Every issue of E is verified after the launch: the frozen frame still holds E.
    for i in ids["E"][1]:
        fw.rectify(i, measures="已整改", evidence=[], actor=ACTOR, uow_factory=c.uow_factory,
                   clock=AFTER)
        issues.transition(i, Action.VERIFY, actor=ACTOR, uow_factory=c.uow_factory, clock=AFTER)
    again = svc.launch(cid, uow_factory=c.uow_factory, clock=AFTER)
    assert again == record
    assert visits_of(c.engine, cid) == before
    with c.read() as uow:
        assert uow.campaigns.get_frame(cid) == frame
        launched = [e for e in uow.events.for_entity(f"campaign:{cid}")
                    if e.kind == "campaign.launched"]
    assert len(launched) == 1


def test_source_issue_metrics_hand_checked(source: tuple[Campaign, dict[str, Any]]) -> None:
    c, ids = source
    cid = create(c, lookback_plan())
    svc.launch(cid, uow_factory=c.uow_factory, clock=LB_LAUNCH)
    # After the launch, B's second issue is verified and a look-back visit is done.
    b2 = ids["B"][1][1]
    fw.rectify(b2, measures="已整改", evidence=[], actor=ACTOR, uow_factory=c.uow_factory,
               clock=AFTER)
    issues.transition(b2, Action.VERIFY, actor=ACTOR, uow_factory=c.uow_factory, clock=AFTER)
    with c.read() as uow:
        visit = next(v for v in uow.fieldwork.list_visits(cid, team=None, status=None)
                     if v.uscc == ids["C"][0])
    fw.complete_visit(visit.id, team=None, actor=ACTOR, uow_factory=c.uow_factory, clock=AFTER)
    figures = svc.source_issue_figures(cid, uow_factory=c.uow_factory)
    # B: 2 (its first was verified before the frame was frozen), C: 3, D: 3, E: 3.
    assert figures == {
        "source_campaign_id": c.campaign_id, "scope": "unverified",
        "businesses": 4, "businesses_visited": 1,
        "issues": 11, "verified": 1, "open": 9, "overdue": 1, "escalated": 1,
        "by_status": {"notified": 1, "open": 8, "overdue": 1, "verified": 1},
        "rectification_rate": 1 / 11,
    }
    # The inspection campaign has none; the look-back's own metrics start from zero issues.
    assert svc.source_issue_figures(c.campaign_id, uow_factory=c.uow_factory) is None
    own = campaign_metrics(cid, today=AFTER.now().date(), uow_factory=c.uow_factory)
    assert own["visits"] == {"planned": 4, "done": 1, "completion_rate": 0.25}
    assert own["issues"]["registered"] == 0
    # The circular's content is computed for the look-back campaign like for any campaign.
    with c.read() as uow:
        [circular] = targets(uow, cid, "circular", AFTER.now().date())
    assert circular.body["summary"]["visits_planned"] == 4


def test_refusals(source: tuple[Campaign, dict[str, Any]]) -> None:
    c, ids = source
    with pytest.raises(NotFoundError) as nf:
        create(c, lookback_plan(), source_id=99)
    assert "SOURCE" in nf.value.en and "99" in nf.value.en and "SOURCE" in nf.value.zh
    with pytest.raises(BadArgumentError) as kind:
        create(c, lookback_plan(kind="inspection"))
    assert kind.value.code == "not_a_lookback_plan" and "--plan" in kind.value.zh
    # A look-back plan through `campaign create` (no source) is refused.
    with pytest.raises(InputError) as no_source:
        svc.create_campaign(lookback_plan(), source="x", uow_factory=c.uow_factory,
                            clock=LB_CREATE, new_seed=lambda: "1")
    assert no_source.value.code == "lookback_needs_source"
    # A draft source, and a launched source without issues.
    draft = svc.create_campaign(small_plan(title="草稿"), source="x", uow_factory=c.uow_factory,
                                clock=LB_CREATE, new_seed=lambda: "1")
    with pytest.raises(ConflictError) as not_launched:
        create(c, lookback_plan(), source_id=draft)
    assert not_launched.value.code == "source_not_launched"
    clean = svc.create_campaign(small_plan(title="无问题", seed=8), source="x",
                                uow_factory=c.uow_factory, clock=LB_CREATE, new_seed=lambda: "1")
    svc.launch(clean, uow_factory=c.uow_factory, clock=LB_CREATE)
    with pytest.raises(ConflictError) as none:
        create(c, lookback_plan(), source_id=clean)
    assert none.value.code == "no_issues_in_scope" and "SOURCE" in none.value.en
    # A look-back of a look-back's draft is refused as not launched.
    lb = create(c, lookback_plan())
    with pytest.raises(ConflictError):
        create(c, lookback_plan(), source_id=lb)
    # Every issue verified between creation and launch: the launch refuses, nothing is stored.
    for letter in "BCDE":
        for i in ids[letter][1]:
            issue = c.issue(i)
            if issue.status == "verified":
                continue
            if issue.status != "rectification_reported":
                fw.rectify(i, measures="已整改", evidence=[], actor=ACTOR,
                           uow_factory=c.uow_factory, clock=AFTER)
            issues.transition(i, Action.VERIFY, actor=ACTOR, uow_factory=c.uow_factory, clock=AFTER)
    with pytest.raises(ConflictError) as empty:
        svc.launch(lb, uow_factory=c.uow_factory, clock=AFTER)
    assert empty.value.code == "no_issues_in_scope"
    with c.read() as uow:
        assert uow.campaigns.get_frame(lb) is None
        stored = uow.campaigns.get(lb)
    assert stored is not None and stored.status == "draft"
    with pytest.raises(ConflictError):
        create(c, lookback_plan())
    # "all" still has something to look back on.
    assert create(c, lookback_plan(issues="all")) > lb
